"""The name check's sentence names the company as KVK knows it *now*, never by a former name."""

from __future__ import annotations

from kvkgate.domain.ports import Place, Registration, Registrations
from tests.unit.test_verify import KVK, FakeRegistry, check, found


def registration(name: str | None, expired: str | None) -> Registration:
    where = Place(street="Hizzaarderlaan", city="Lollum")
    return Registration(KVK, "000037178598", "main branch", name, active=True, place=where, expired_name=expired)


def registry_of(item: Registration) -> FakeRegistry:
    shown = found(Registrations((item,), 1))
    return FakeRegistry(registrations_=shown, active_=shown, named_=found(Registrations((), 0)), names_=found(()))


def test_a_mismatch_closest_to_a_former_name_says_the_current_one() -> None:
    result = check(registry_of(registration("Test BV Donald", "Bakkerij Kwik")), tradeName="Bakkerij De Hoek")
    reason = result.reasons[0]
    assert (result.verdict, reason.code) == ("invalid", "TRADE_NAME_MISMATCH")
    assert "'Test BV Donald'" in reason.message and "Kwik" not in reason.message


def test_a_former_name_without_a_current_one_is_not_presented_as_the_current_name() -> None:
    result = check(registry_of(registration(None, "Bakkerij Kwik")), tradeName="Bakkerij Kwik")
    reason = result.reasons[0]
    assert reason.code == "TRADE_NAME_EXPIRED"
    assert reason.message == "'Bakkerij Kwik' is a former name of KVK number 68750110."

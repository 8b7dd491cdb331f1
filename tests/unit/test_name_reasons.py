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
    assert "‘Test BV Donald’" in reason.message and "Kwik" not in reason.message


def test_a_former_name_without_a_current_one_is_not_presented_as_the_current_name() -> None:
    result = check(registry_of(registration(None, "Bakkerij Kwik")), tradeName="Bakkerij Kwik")
    reason = result.reasons[0]
    assert reason.code == "TRADE_NAME_EXPIRED"
    assert reason.message == "‘Bakkerij Kwik’ is a former name of KVK number 68750110."


def test_another_particle_before_the_same_surname_is_said_word_for_word() -> None:
    result = check(registry_of(registration("Van der Velden Bouw B.V.", None)), tradeName="Van den Velden Bouw")
    reason = result.reasons[0]
    assert (result.verdict, reason.code) == ("invalid", "TRADE_NAME_MISMATCH")
    assert reason.message == (
        "‘Van den Velden Bouw’ is not a name registered for KVK number 68750110. KVK knows this company as "
        "‘Van der Velden Bouw B.V.’: ‘Van der Velden’, not ‘Van den Velden’."
    )
    differences = [(item.typed, item.registered) for item in result.checks.trade_name.differences]
    assert differences == [("Van den Velden", "Van der Velden")]


def test_another_real_surname_is_said_word_for_word_and_a_left_out_particle_is_shorthand() -> None:
    result = check(registry_of(registration("Gerritse Bouw B.V.", None)), tradeName="Gerrits Bouw")
    assert result.reasons[0].message.endswith(
        "KVK knows this company as ‘Gerritse Bouw B.V.’: ‘Gerritse’, not ‘Gerrits’."
    )
    shorthand = check(registry_of(registration("Van der Velden Bouw B.V.", None)), tradeName="Velden Bouw")
    assert (shorthand.verdict, shorthand.reasons[0].code) == ("valid", "TRADE_NAME_PARTIAL")

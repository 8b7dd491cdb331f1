"""domain.verify with an in-memory registry: wherever KVK can fail the verdict is ``unverified``, never ``invalid``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate.clock import Deadline
from kvkgate.domain.contracts import ValidationRequest, ValidationResult
from kvkgate.domain.names import RegisteredName
from kvkgate.domain.outcomes import CallerBudgetExceeded, PaidLookupRefused, Unavailable
from kvkgate.domain.ports import Answer, Place, Registration, Registrations
from kvkgate.domain.verify import Policy, validate

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)
KVK = "68750110"
OUTAGES = {
    "KVK_UNAVAILABLE": lambda: Unavailable.kvk_down(30),
    "BUDGET_EXHAUSTED": Unavailable.budget_spent,
}


def branch(name: str = "Test BV Donald", active: bool | None = True, **place: Any) -> Registration:
    where = Place(street="Hizzaarderlaan", city="Lollum", **place)
    return Registration(KVK, "000037178598", "main branch", name, active=active, place=where)


def found[T](value: T, stale: bool = False) -> Answer[T]:
    return Answer(value, "kvk", stale)


@dataclass
class FakeRegistry:
    """Answers (or failures) per question; records what was asked."""

    registrations_: Answer[Any] | Exception = field(default_factory=lambda: found(Registrations((branch(),), 1)))
    active_: Answer[Any] | Exception = field(default_factory=lambda: found(Registrations((branch(),), 1)))
    at_: Answer[Any] | Exception = field(default_factory=lambda: found(Registrations((branch(),), 1)))
    named_: Answer[Any] | Exception = field(default_factory=lambda: found(None))
    names_: Answer[Any] | Exception = field(
        default_factory=lambda: found((RegisteredName("Test BV Donald", "statutoryName"),))
    )
    asked: list[str] = field(default_factory=list)

    def _give(self, question: str, answer: Answer[Any] | Exception) -> Answer[Any]:
        self.asked.append(question)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("registrations", self.registrations_)

    def active_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("active_registrations", self.active_)

    def registrations_at(self, kvk_number: str, postcode: str, house_number: int, deadline: Deadline) -> Answer[Any]:
        return self._give("registrations_at", self.at_)

    def registrations_named(self, kvk_number: str, words: str, deadline: Deadline) -> Answer[Any]:
        return self._give("registrations_named", self.named_)

    def names(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("names", self.names_)

    def profile(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("profile", AssertionError("verify never needs the paid profile"))


def check(registry: FakeRegistry, policy: Policy | None = None, **request: Any) -> ValidationResult:
    fields = {"kvkNumber": KVK, **request}
    return validate(ValidationRequest.model_validate(fields), registry, Deadline.after(10), NOW, policy)


def codes(result: ValidationResult) -> list[str]:
    return [reason.code for reason in result.reasons]


@pytest.mark.parametrize("code", sorted(OUTAGES))
def test_the_registration_search_failing_is_unverified(code: str) -> None:
    result = check(FakeRegistry(registrations_=OUTAGES[code]()), tradeName="Test BV Donald")
    assert (result.verdict, codes(result)) == ("unverified", [code])
    assert (result.checks.registered, result.checks.active) == ("unknown", "unknown")
    assert result.checks.trade_name.result == "unknown"
    assert result.company is None


@pytest.mark.parametrize("code", sorted(OUTAGES))
def test_the_activity_fallback_failing_is_unverified_not_inactive(code: str) -> None:
    silent = found(Registrations((branch(active=None),), 1))
    result = check(FakeRegistry(registrations_=silent, active_=OUTAGES[code]()))
    assert (result.verdict, codes(result)) == ("unverified", [code])
    assert (result.checks.registered, result.checks.active) == ("pass", "unknown")
    assert result.company is not None


@pytest.mark.parametrize("code", sorted(OUTAGES))
def test_the_free_name_search_failing_is_unverified_not_a_mismatch(code: str) -> None:
    registry = FakeRegistry(named_=OUTAGES[code]())
    result = check(registry, tradeName="Een Heel Andere Naam")
    assert (result.verdict, codes(result)) == ("unverified", [code])
    assert result.checks.trade_name.result == "unknown"
    assert registry.asked == ["registrations", "registrations_named"]


@pytest.mark.parametrize("code", sorted(OUTAGES))
def test_the_paid_name_check_failing_is_unverified_not_a_mismatch(code: str) -> None:
    registry = FakeRegistry(names_=OUTAGES[code]())
    result = check(registry, tradeName="Gebr. Andere & Zonen")  # KVK's search may spell these otherwise
    assert (result.verdict, codes(result)) == ("unverified", [code])
    assert result.checks.trade_name.result == "unknown"
    assert registry.asked == ["registrations", "registrations_named", "names"]


def test_a_refused_paid_name_lookup_is_name_check_limited_never_a_mismatch() -> None:
    registry = FakeRegistry(names_=PaidLookupRefused(3600))
    result = check(registry, tradeName="Gebr. Andere & Zonen")
    assert (result.verdict, codes(result), result.checks.trade_name.result) == (
        "unverified",
        ["NAME_CHECK_LIMITED"],
        "unknown",
    )


def test_a_partial_name_stands_when_kvk_cannot_be_asked_for_more() -> None:
    result = check(FakeRegistry(named_=Unavailable.kvk_down()), tradeName="Donald BV")
    assert (result.verdict, codes(result), result.checks.trade_name.result) == (
        "valid",
        ["TRADE_NAME_PARTIAL"],
        "partial",
    )


@pytest.mark.parametrize("code", sorted(OUTAGES))
def test_the_address_check_failing_is_unverified_not_a_mismatch(code: str) -> None:
    result = check(FakeRegistry(at_=OUTAGES[code]()), postcode="8823 SJ", houseNumber="3")
    assert (result.verdict, codes(result)) == ("unverified", [code])
    assert result.checks.address.result == "unknown"
    assert "ADDRESS_MISMATCH" not in codes(result)


def test_an_established_mismatch_stays_invalid_when_another_check_cannot_be_made() -> None:
    registry = FakeRegistry(
        names_=found((RegisteredName("Test BV Donald", "statutoryName"),)), at_=Unavailable.kvk_down()
    )
    result = check(registry, tradeName="Een Heel Andere Naam", postcode="8823 SJ", houseNumber="3")
    assert result.verdict == "invalid"
    assert codes(result) == ["TRADE_NAME_MISMATCH"]
    assert result.checks.address.result == "unknown"


def test_a_caller_over_its_budget_is_not_turned_into_a_verdict() -> None:
    refused = CallerBudgetExceeded("ip:198.51.100.7", 60, 12.0)
    with pytest.raises(CallerBudgetExceeded):
        check(FakeRegistry(registrations_=refused))
    with pytest.raises(CallerBudgetExceeded):
        check(FakeRegistry(named_=refused), tradeName="Een Heel Andere Naam")


def test_inactive_only_when_kvk_says_so() -> None:
    ended = found(Registrations((branch(active=False),), 1))
    registry = FakeRegistry(registrations_=ended)
    result = check(registry)
    assert (result.verdict, codes(result), result.checks.active) == ("invalid", ["INACTIVE"], "fail")
    assert registry.asked == ["registrations"]
    silent = FakeRegistry(registrations_=found(Registrations((branch(active=None),), 1)), active_=found(None))
    assert codes(check(silent)) == ["INACTIVE"]
    assert silent.asked == ["registrations", "active_registrations"]


def test_a_first_page_of_ended_branches_is_not_the_whole_company() -> None:
    """More registrations than one page, and the page holds only ended ones: the active ones decide."""
    ended = tuple(branch(f"Filiaal {number}", active=False) for number in range(100))
    page = found(Registrations(ended, 130))
    active_later = FakeRegistry(registrations_=page, active_=found(Registrations((branch(),), 5)))
    result = check(active_later)
    assert (result.verdict, result.checks.active) == ("valid", "pass")
    assert active_later.asked == ["registrations", "active_registrations"]
    all_ended = FakeRegistry(registrations_=page, active_=found(None))
    assert codes(check(all_ended)) == ["INACTIVE"]


def test_not_registered_only_when_kvk_knows_no_registration() -> None:
    for nothing in (found(None), found(Registrations((), 0))):
        result = check(FakeRegistry(registrations_=nothing))
        assert (result.verdict, codes(result), result.checks.registered) == ("invalid", ["NOT_REGISTERED"], "fail")


def test_a_malformed_number_asks_nothing() -> None:
    registry = FakeRegistry()
    result = validate(ValidationRequest(kvk_number="1234"), registry, Deadline.after(10), NOW)
    assert (result.verdict, codes(result), result.meta.source) == ("invalid", ["INVALID_FORMAT"], "none")
    assert registry.asked == []


def test_stale_answers_say_so_in_meta() -> None:
    stale = found(Registrations((branch(),), 1), stale=True)
    result = check(FakeRegistry(registrations_=stale))
    assert result.verdict == "valid"
    assert (result.meta.source, result.meta.stale) == ("kvk", True)
    fresh = check(FakeRegistry())
    assert fresh.meta.stale is False


def test_meta_source_is_cache_only_when_every_answer_was_cached() -> None:
    cached = Answer(Registrations((branch(),), 1), "cache")
    assert check(FakeRegistry(registrations_=cached)).meta.source == "cache"
    mixed = FakeRegistry(registrations_=cached, names_=found((RegisteredName("Test BV Donald Kwik", "tradeName"),)))
    assert check(mixed, tradeName="Test BV Donald Kwik").meta.source == "kvk"


def test_a_shielded_address_is_skipped_not_compared() -> None:
    shielded = Registration(
        KVK, "990000541921", "main branch", "Grand BV", True, place=Place(city="Sterksel", postal=True)
    )
    registry = FakeRegistry(registrations_=found(Registrations((shielded,), 1)))
    result = check(registry, postcode="8823 SJ", houseNumber="3")
    assert (result.verdict, codes(result), result.checks.address.result) == ("valid", ["ADDRESS_SHIELDED"], "skipped")
    assert "registrations_at" not in registry.asked


def named(*hits: tuple[str, str | None]) -> Answer[Registrations]:
    """What KVK's whole-word name search answers: per hit the name that matched and an expired name."""
    items = tuple(
        Registration(KVK, "000037178601", "branch", name, True, expired_name=expired) for name, expired in hits
    )
    return found(Registrations(items, len(items)))


def test_a_second_trade_name_is_found_by_the_free_search_not_the_paid_one() -> None:
    registry = FakeRegistry(named_=named(("Donald's Appelboomgaard", None)))
    result = check(registry, tradeName="Donald's Appelboomgaard")
    assert (result.verdict, result.checks.trade_name.result) == ("valid", "match")
    assert result.checks.trade_name.matched_name == "Donald's Appelboomgaard"
    assert "names" not in registry.asked


def test_a_name_no_registration_holds_is_a_mismatch_decided_for_free() -> None:
    registry = FakeRegistry()  # the free search finds nothing
    result = check(registry, tradeName="Bakkerij De Hoek")
    assert (result.verdict, codes(result)) == ("invalid", ["TRADE_NAME_MISMATCH"])
    assert "names" not in registry.asked
    name = result.checks.trade_name
    assert name.compared_with == "Test BV Donald"
    assert "KVK knows this company as 'Test BV Donald'" in result.reasons[0].message


def test_a_former_name_is_reported_as_such() -> None:
    registry = FakeRegistry(named_=named(("Test BV Donald", "Test BV Kwik")))
    result = check(registry, tradeName="Test BV Kwik")
    name = result.checks.trade_name
    assert (result.verdict, name.result, name.name_type, codes(result)) == (
        "valid",
        "partial",
        "expiredName",
        ["TRADE_NAME_EXPIRED"],
    )
    strict = check(registry, Policy(expired_name_result="mismatch"), tradeName="Test BV Kwik")
    assert (strict.verdict, strict.checks.trade_name.result) == ("invalid", "mismatch")


def test_a_look_alike_says_which_words_differ() -> None:
    registry = FakeRegistry(registrations_=found(Registrations((branch("Bakkerij 't Hoekje B.V."),), 1)))
    result = check(registry, tradeName="Bakkerij De Hoek B.V.")
    name = result.checks.trade_name
    assert (result.verdict, name.result, name.compared_with) == ("invalid", "mismatch", "Bakkerij 't Hoekje B.V.")
    assert [(item.typed, item.registered) for item in name.differences] == [("Hoek", "Hoekje")]

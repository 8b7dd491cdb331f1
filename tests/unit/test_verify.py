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
    rsin_: Answer[Any] | Exception = field(default_factory=lambda: AssertionError("no RSIN asked about"))
    asked: list[str] = field(default_factory=list)
    # Each question with what it was asked about: the number, the words, the address, the deadline.
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def _give(self, question: str, answer: Answer[Any] | Exception, *about: Any) -> Answer[Any]:
        self.asked.append(question)
        self.calls.append((question, *about))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("registrations", self.registrations_, kvk_number, deadline)

    def active_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("active_registrations", self.active_, kvk_number, deadline)

    def registrations_at(self, kvk_number: str, postcode: str, house_number: int, deadline: Deadline) -> Answer[Any]:
        return self._give("registrations_at", self.at_, kvk_number, postcode, house_number, deadline)

    def registrations_named(self, kvk_number: str, words: str, deadline: Deadline) -> Answer[Any]:
        return self._give("registrations_named", self.named_, kvk_number, words, deadline)

    def branch_registrations(self, branch_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("branch_registrations", AssertionError("no branch asked about"))

    def rsin_registrations(self, rsin: str, deadline: Deadline) -> Answer[Any]:
        return self._give("rsin_registrations", self.rsin_, rsin, deadline)

    def names(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("names", self.names_, kvk_number, deadline)

    def profile(self, kvk_number: str, deadline: Deadline) -> Answer[Any]:
        return self._give("profile", AssertionError("verify never needs the paid profile"))


def check(
    registry: FakeRegistry, policy: Policy | None = None, deadline: Deadline | None = None, **request: Any
) -> ValidationResult:
    fields = {"kvkNumber": KVK, **request}
    return validate(ValidationRequest.model_validate(fields), registry, deadline or Deadline.after(10), NOW, policy)


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
    assert "KVK knows this company as ‘Test BV Donald’" in result.reasons[0].message


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


def registered(*items: Registration) -> Answer[Registrations]:
    return found(Registrations(items, len(items)))


def test_every_question_is_about_the_normalised_number_and_within_the_callers_deadline() -> None:
    silent = registered(branch(active=None))
    paid = found((RegisteredName("Gebroeders Andere en Zonen", "tradeName"),))
    registry = FakeRegistry(registrations_=silent, names_=paid)
    deadline = Deadline.after(7)
    result = check(
        registry,
        deadline=deadline,
        kvkNumber="6875 0110",
        tradeName="Gebr. Andere & Zonen",
        postcode="8823sj",
        houseNumber="3 A",  # KVK's "toevoeging": only the number is asked for
    )
    assert (result.verdict, result.kvk_number) == ("valid", KVK)
    assert registry.calls == [
        ("registrations", KVK, deadline),
        ("active_registrations", KVK, deadline),
        ("registrations_named", KVK, "gebroeders andere zonen", deadline),
        ("names", KVK, deadline),
        ("registrations_at", KVK, "8823SJ", 3, deadline),
    ]


def test_a_name_the_paid_lookup_knows_matches() -> None:
    """The free search found nothing and the typed words may be spelt otherwise: Naamgeving decides."""
    paid = found((RegisteredName("Gebroeders Andere en Zonen", "tradeName"),))
    registry = FakeRegistry(names_=paid)
    result = check(registry, tradeName="Gebr. Andere & Zonen")
    name = result.checks.trade_name
    assert (result.verdict, codes(result)) == ("valid", [])
    assert (name.result, name.score, name.matched_name, name.name_type, name.compared_with) == (
        "match",
        1.0,
        "Gebroeders Andere en Zonen",
        "tradeName",
        "Gebroeders Andere en Zonen",
    )
    assert registry.asked == ["registrations", "registrations_named", "names"]
    assert result.company is not None and result.company.name == "Test BV Donald"


def test_a_name_neither_search_nor_naamgeving_knows_is_a_mismatch() -> None:
    for nothing in (found(None), found(())):
        registry = FakeRegistry(names_=nothing)
        result = check(registry, tradeName="Gebr. Andere & Zonen")
        assert (result.verdict, codes(result)) == ("invalid", ["TRADE_NAME_MISMATCH"])
        assert result.reasons[0].message == (
            "‘Gebr. Andere & Zonen’ is not a name registered for KVK number 68750110."
            " KVK knows this company as ‘Test BV Donald’."
        )
        assert result.checks.trade_name.compared_with == "Test BV Donald"
        assert registry.asked == ["registrations", "registrations_named", "names"]


def test_a_resemblance_found_by_the_free_search_is_final_without_the_paid_lookup() -> None:
    """The typed words may be spelt otherwise, but the free search found a close name: asking more would not help."""
    registry = FakeRegistry(named_=named(("Gebroeders Andere en Zonen", None)))
    result = check(registry, tradeName="Gebr. Andere")
    name = result.checks.trade_name
    assert (result.verdict, codes(result), name.result, name.matched_name) == (
        "valid",
        ["TRADE_NAME_PARTIAL"],
        "partial",
        "Gebroeders Andere en Zonen",
    )
    assert result.reasons[0].message == (
        "‘Gebr. Andere’ resembles the registered name ‘Gebroeders Andere en Zonen’ but is not the same."
    )
    assert registry.asked == ["registrations", "registrations_named"]


def test_a_conclusive_miss_of_the_free_search_names_the_typed_name_and_the_number() -> None:
    registry = FakeRegistry(named_=named(("Bakkerij Kwik", None)))
    result = check(registry, tradeName="Bakkerij De Hoek")
    assert result.reasons[0].message == (
        "‘Bakkerij De Hoek’ is not a name registered for KVK number 68750110."
        " KVK knows this company as ‘Bakkerij Kwik’."
    )
    assert registry.asked == ["registrations", "registrations_named"]


def test_an_exact_name_in_the_registration_asks_nothing_more() -> None:
    registry = FakeRegistry()
    result = check(registry, tradeName="Test BV Donald")
    name = result.checks.trade_name
    assert (result.verdict, codes(result)) == ("valid", [])
    assert (name.result, name.score, name.matched_name, name.name_type, name.compared_with) == (
        "match",
        1.0,
        "Test BV Donald",
        "tradeName",  # a branch shows a trade name
        "Test BV Donald",
    )
    assert registry.asked == ["registrations"]


def test_the_legal_entitys_name_is_its_statutory_name() -> None:
    entity = Registration(KVK, None, "legal entity", "Test BV Donald", True)
    result = check(FakeRegistry(registrations_=registered(entity)), tradeName="Test BV Donald")
    assert (result.checks.trade_name.result, result.checks.trade_name.name_type) == ("match", "statutoryName")


def test_a_name_of_only_filler_words_is_compared_but_not_searched_for() -> None:
    registry = FakeRegistry()
    result = check(registry, tradeName="De")
    assert (result.verdict, codes(result)) == ("invalid", ["TRADE_NAME_MISMATCH"])
    assert result.reasons[0].message == (
        "‘De’ is not a name registered for KVK number 68750110. KVK knows this company as ‘Test BV Donald’."
    )
    assert registry.asked == ["registrations"]


def test_a_former_name_in_the_registration_itself_is_reported_as_such() -> None:
    renamed = Registration(KVK, "000037178598", "main branch", "Test BV Donald", True, expired_name="Test BV Kwik")
    registry = FakeRegistry(registrations_=registered(renamed))
    result = check(registry, tradeName="Test BV Kwik")
    name = result.checks.trade_name
    assert (result.verdict, codes(result), name.result, name.matched_name, name.name_type) == (
        "valid",
        ["TRADE_NAME_EXPIRED"],
        "partial",
        "Test BV Kwik",
        "expiredName",
    )
    assert result.reasons[0].message == (
        "‘Test BV Kwik’ is a former name of KVK number 68750110. KVK knows this company as ‘Test BV Donald’."
    )
    assert registry.asked == ["registrations"]
    strict = check(
        FakeRegistry(registrations_=registered(renamed)),
        Policy(expired_name_result="mismatch"),
        tradeName="Test BV Kwik",
    )
    assert (strict.verdict, strict.checks.trade_name.result, codes(strict)) == (
        "invalid",
        "mismatch",
        ["TRADE_NAME_MISMATCH"],
    )


def test_a_former_name_found_by_the_free_search_names_the_current_one() -> None:
    registry = FakeRegistry(named_=named(("Test BV Donald", "Test BV Kwik")))
    result = check(registry, tradeName="Test BV Kwik")
    assert result.reasons[0].message == (
        "‘Test BV Kwik’ is a former name of KVK number 68750110. KVK knows this company as ‘Test BV Donald’."
    )


def test_a_former_name_with_no_current_one_is_called_a_former_name_only() -> None:
    nameless = Registration(KVK, "000037178598", "main branch", None, True, expired_name="Test BV Kwik")
    result = check(FakeRegistry(registrations_=registered(nameless)), tradeName="Test BV Kwik")
    assert codes(result) == ["TRADE_NAME_EXPIRED"]
    assert result.reasons[0].message == "‘Test BV Kwik’ is a former name of KVK number 68750110."


def test_a_different_name_closest_to_a_former_one_is_still_a_mismatch() -> None:
    renamed = Registration(KVK, "000037178598", "main branch", "Test BV Donald", True, expired_name="Bakkerij Kwik")
    registry = FakeRegistry(registrations_=registered(renamed))
    result = check(registry, tradeName="Bakkerij De Hoek")
    name = result.checks.trade_name
    assert (result.verdict, codes(result), name.result) == ("invalid", ["TRADE_NAME_MISMATCH"], "mismatch")
    assert (name.matched_name, name.name_type, name.compared_with) == (None, None, "Bakkerij Kwik")
    assert name.score is not None and 0 < name.score < 1


def test_a_name_with_nothing_registered_to_compare_says_so_without_a_known_name() -> None:
    nameless = Registration(KVK, "000037178598", "main branch", None, True)
    registry = FakeRegistry(registrations_=registered(nameless), names_=found(None))
    result = check(registry, tradeName="Bakkerij & De Hoek")
    name = result.checks.trade_name
    assert (result.verdict, codes(result)) == ("invalid", ["TRADE_NAME_MISMATCH"])
    assert result.reasons[0].message == "‘Bakkerij & De Hoek’ is not a name registered for KVK number 68750110."
    assert (name.result, name.score, name.compared_with, name.matched_name) == ("mismatch", 0.0, None, None)
    assert result.company is not None and result.company.name is None


def test_a_partial_name_is_valid_with_its_reason_or_invalid_by_policy() -> None:
    registry = FakeRegistry()
    result = check(registry, tradeName="Donald BV")
    name = result.checks.trade_name
    assert (result.verdict, codes(result), name.result, name.matched_name) == (
        "valid",
        ["TRADE_NAME_PARTIAL"],
        "partial",
        "Test BV Donald",
    )
    assert (
        result.reasons[0].message == "‘Donald BV’ resembles the registered name ‘Test BV Donald’ but is not the same."
    )
    assert [(item.typed, item.registered) for item in name.differences] == [(None, "Test")]
    strict = Policy(partial_name_verdict="invalid")
    refused = check(FakeRegistry(), strict, tradeName="Donald BV")
    assert (refused.verdict, codes(refused), refused.checks.trade_name.result) == (
        "invalid",
        ["TRADE_NAME_PARTIAL"],
        "partial",
    )
    assert check(FakeRegistry(), strict, tradeName="Test BV Donald").verdict == "valid"  # only partial is refused


def test_a_partial_name_and_an_outage_elsewhere_keep_both_reasons() -> None:
    strict = Policy(partial_name_verdict="invalid")
    outage = FakeRegistry(named_=Unavailable.kvk_down(), at_=Unavailable.kvk_down())
    result = check(outage, strict, tradeName="Donald BV", postcode="8823 SJ", houseNumber="3")
    assert (result.verdict, codes(result)) == ("invalid", ["TRADE_NAME_PARTIAL"])
    lenient = check(outage, tradeName="Donald BV", postcode="8823 SJ", houseNumber="3")
    assert (lenient.verdict, codes(lenient)) == ("unverified", ["TRADE_NAME_PARTIAL", "KVK_UNAVAILABLE"])
    assert lenient.checks.address.result == "unknown"


def test_a_refused_paid_lookup_says_which_name_and_number() -> None:
    result = check(FakeRegistry(names_=PaidLookupRefused(3600)), tradeName="Gebr. Andere & Zonen")
    assert result.reasons[0].message == (
        "Whether ‘Gebr. Andere & Zonen’ is a name of KVK number 68750110 could not be checked now;"
        " please try again later."
    )
    assert result.company is not None and result.company.name == "Test BV Donald"


def test_an_address_no_establishment_is_at_is_a_mismatch() -> None:
    for nothing in (found(None), found(Registrations((), 0))):
        registry = FakeRegistry(at_=nothing)
        result = check(registry, postcode="8823 SJ", houseNumber="3 A")
        assert (result.verdict, codes(result), result.checks.address.result) == (
            "invalid",
            ["ADDRESS_MISMATCH"],
            "mismatch",
        )
        assert result.reasons[0].message == "No establishment of KVK number 68750110 is registered at 8823SJ 3A."
        assert result.checks.trade_name.result == "skipped"
        assert result.company is not None


def test_an_address_an_establishment_is_at_matches() -> None:
    result = check(FakeRegistry(), postcode="8823 SJ", houseNumber="3")
    assert (result.verdict, codes(result), result.checks.address.result) == ("valid", [], "match")


def test_a_name_and_an_address_both_report_their_reasons() -> None:
    registry = FakeRegistry(at_=found(None))
    result = check(registry, tradeName="Donald BV", postcode="8823 SJ", houseNumber="3")
    assert (result.verdict, codes(result)) == ("invalid", ["TRADE_NAME_PARTIAL", "ADDRESS_MISMATCH"])
    assert (result.checks.trade_name.result, result.checks.address.result) == ("partial", "mismatch")


def test_a_postcode_without_a_house_number_is_not_compared() -> None:
    registry = FakeRegistry()
    result = check(registry, postcode="8823 SJ")
    assert (result.verdict, result.checks.address.result) == ("valid", "skipped")
    assert registry.asked == ["registrations"]
    gone = check(FakeRegistry(registrations_=found(None)), postcode="8823 SJ")
    assert gone.checks.address.result == "skipped"


def test_the_shielded_address_reason_names_the_number() -> None:
    shielded = Registration(
        KVK, "990000541921", "main branch", "Grand BV", True, place=Place(city="Sterksel", postal=True)
    )
    result = check(FakeRegistry(registrations_=registered(shielded)), postcode="8823 SJ", houseNumber="3")
    assert result.reasons[0].message == "The address of KVK number 68750110 is shielded; it was not compared."


@pytest.mark.parametrize(
    "places",
    [
        (None,),  # the search showed no place at all
        (Place(city="Brussel", postal=True, abroad=True),),  # only abroad
        (Place(street="Postbus", city="Sterksel", postal=True),),  # a postal address with a street
        (Place(city="Sterksel", postal=True), Place(street="Hizzaarderlaan", city="Lollum")),  # one not shielded
        (Place(city="Sterksel"),),  # no street, but not a postal place
    ],
)
def test_an_address_is_shielded_only_when_every_domestic_place_is_a_bare_postal_one(
    places: tuple[Place | None, ...],
) -> None:
    items = tuple(
        Registration(KVK, f"00000000000{i}", "branch", "Grand BV", True, place=p) for i, p in enumerate(places)
    )
    registry = FakeRegistry(registrations_=registered(*items))
    result = check(registry, postcode="8823 SJ", houseNumber="3")
    assert (codes(result), result.checks.address.result) == ([], "match")
    assert "registrations_at" in registry.asked


def test_a_shielded_place_beside_one_abroad_is_still_shielded() -> None:
    items = (
        Registration(KVK, "1", "branch", "Grand BV", True, place=Place(city="Sterksel", postal=True)),
        Registration(KVK, "2", "branch", "Grand BV", True, place=Place(city="Brussel", abroad=True)),
        Registration(KVK, "3", "branch", "Grand BV", True),
    )
    registry = FakeRegistry(registrations_=registered(*items))
    result = check(registry, postcode="8823 SJ", houseNumber="3")
    assert (codes(result), result.checks.address.result) == (["ADDRESS_SHIELDED"], "skipped")
    assert "registrations_at" not in registry.asked


def company_of(*items: Registration) -> tuple[str | None, str | None]:
    result = check(FakeRegistry(registrations_=registered(*items)))
    assert result.company is not None
    return result.company.name, result.company.city


def test_the_company_is_named_after_its_main_branch_then_its_legal_entity() -> None:
    def at(city: str) -> Place:
        return Place(street="Straat", city=city)

    main = Registration(KVK, "1", "main branch", "Hoofdvestiging", True, place=at("Lollum"))
    entity = Registration(KVK, None, "legal entity", "Holding BV", True, place=at("Sneek"))
    other = Registration(KVK, "2", "branch", "Filiaal", True, place=at("Bolsward"))
    unknown = Registration(KVK, "3", None, "Onbekend", True, place=at("Makkum"))
    assert company_of(other, entity, main) == ("Hoofdvestiging", "Lollum")
    assert company_of(entity, main) == ("Hoofdvestiging", "Lollum")
    assert company_of(other, entity) == ("Holding BV", "Sneek")
    assert company_of(unknown, other) == ("Filiaal", "Bolsward")
    assert company_of(unknown) == ("Onbekend", "Makkum")
    assert company_of(Registration(KVK, "4", "branch", "Zonder Plaats", True)) == ("Zonder Plaats", None)


def test_the_company_is_shown_whatever_the_verdict() -> None:
    ended = check(FakeRegistry(registrations_=registered(branch(active=False))))
    assert ended.company is not None and (ended.company.name, ended.company.city) == ("Test BV Donald", "Lollum")
    mismatch = check(FakeRegistry(), tradeName="Bakkerij De Hoek")
    assert mismatch.company is not None and mismatch.company.name == "Test BV Donald"


def test_the_verdict_reasons_say_which_number() -> None:
    ended = check(FakeRegistry(registrations_=registered(branch(active=False))))
    assert ended.reasons[0].message == "KVK number 68750110 is registered but no longer active."
    gone = check(FakeRegistry(registrations_=found(None)), kvkNumber="6875 0110")
    assert gone.reasons[0].message == "KVK number 68750110 is not registered with KVK."
    assert gone.company is None


@pytest.mark.parametrize(
    ("request_", "name", "address"),
    [
        ({}, "skipped", "skipped"),
        ({"tradeName": "Test BV Donald"}, "unknown", "skipped"),
        ({"postcode": "8823 SJ"}, "skipped", "skipped"),
        ({"postcode": "8823 SJ", "houseNumber": "3"}, "skipped", "unknown"),
        ({"tradeName": "Test BV Donald", "postcode": "8823 SJ", "houseNumber": "3"}, "unknown", "unknown"),
    ],
)
def test_checks_not_made_are_unknown_if_asked_for_and_skipped_if_not(
    request_: dict[str, Any], name: str, address: str
) -> None:
    outcomes = [
        check(FakeRegistry(registrations_=Unavailable.kvk_down()), **request_),
        check(FakeRegistry(registrations_=found(None)), **request_),
        check(FakeRegistry(registrations_=registered(branch(active=False))), **request_),
        validate(
            ValidationRequest.model_validate({**request_, "kvkNumber": "1234"}), FakeRegistry(), Deadline.after(10), NOW
        ),
    ]
    for result in outcomes:
        assert (result.checks.trade_name.result, result.checks.address.result) == (name, address)
    assert [(r.checks.format, r.checks.registered, r.checks.active) for r in outcomes] == [
        ("pass", "unknown", "unknown"),
        ("pass", "fail", "unknown"),
        ("pass", "pass", "fail"),
        ("fail", "unknown", "unknown"),
    ]


def test_a_resemblance_to_a_former_name_stands_when_kvk_cannot_be_asked_for_more() -> None:
    renamed = Registration(KVK, "000037178598", "main branch", "Test BV Donald", True, expired_name="Test BV Dagobert")
    registry = FakeRegistry(registrations_=registered(renamed), named_=Unavailable.kvk_down())
    result = check(registry, tradeName="Dagobert BV")
    assert (result.verdict, codes(result), result.checks.trade_name.result) == (
        "valid",
        ["TRADE_NAME_EXPIRED"],
        "partial",
    )
    assert result.reasons[0].message == (
        "‘Dagobert BV’ is a former name of KVK number 68750110. KVK knows this company as ‘Test BV Donald’."
    )
    strict = check(registry, Policy(expired_name_result="mismatch"), tradeName="Dagobert BV")
    assert (strict.verdict, codes(strict)) == ("invalid", ["TRADE_NAME_MISMATCH"])


def test_a_partial_name_that_stands_through_an_outage_says_what_it_resembles() -> None:
    result = check(FakeRegistry(named_=Unavailable.kvk_down()), tradeName="Donald BV")
    assert (
        result.reasons[0].message == "‘Donald BV’ resembles the registered name ‘Test BV Donald’ but is not the same."
    )


def test_a_former_name_only_naamgeving_knows_is_reported_as_such() -> None:
    paid = found(
        (RegisteredName("Test BV Donald", "statutoryName"), RegisteredName("Gebroeders Andere en Zonen", "expiredName"))
    )
    result = check(FakeRegistry(names_=paid), tradeName="Gebr. Andere & Zonen")
    assert (result.verdict, codes(result), result.checks.trade_name.result) == (
        "valid",
        ["TRADE_NAME_EXPIRED"],
        "partial",
    )
    assert result.reasons[0].message == (
        "‘Gebr. Andere & Zonen’ is a former name of KVK number 68750110. KVK knows this company as ‘Test BV Donald’."
    )
    strict = check(FakeRegistry(names_=paid), Policy(expired_name_result="mismatch"), tradeName="Gebr. Andere & Zonen")
    assert (strict.verdict, codes(strict)) == ("invalid", ["TRADE_NAME_MISMATCH"])

"""app.presignup with an in-memory registry and publisher: who is refused, with which sentence, and
what happens when KVK cannot be asked (fail open or closed, and the re-check for onboarding)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate import telemetry, texts
from kvkgate.app.presignup import SignUpRefused, Timing, check_sign_up, language_of
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError, Settings
from kvkgate.domain.outcomes import Busy, Unavailable
from kvkgate.domain.ports import Registrations
from kvkgate.domain.verify import Policy
from tests.conftest import FakeClock
from tests.unit.test_verify import FakeRegistry, branch, found

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)
USER = "4b0d6a5e-0000-4000-8000-000000000001"
AWS_CALL = 1.5  # the worst case of one AWS call, as the trigger's client timeouts allow


@dataclass
class Bus:
    """A publisher that records what was sent (or fails like EventBridge being down)."""

    sent: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    fail: bool = False

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        if self.fail:
            raise ConnectionError("EventBridge is down")
        self.sent.append((detail_type, detail, source))


@dataclass
class BusFactory:
    """``check_sign_up`` gets a factory: making the EventBridge client costs time, so only on need."""

    bus: Bus = field(default_factory=Bus)
    made: int = 0

    def __call__(self) -> Bus:
        self.made += 1
        return self.bus


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The metrics the trigger counts (operators alarm on them; design-notes.md lists them)."""
    names: list[str] = []
    monkeypatch.setattr(telemetry, "count", lambda name, value=1.0: names.append(name))
    return names


def event(
    attributes: dict[str, Any] | None = None, validation: dict[str, Any] | None = None, **request: Any
) -> dict[str, Any]:
    return {
        "userName": USER,
        "triggerSource": "PreSignUp_SignUp",
        "request": {
            "userAttributes": {"email": "owner@example.nl", **(attributes or {})},
            "validationData": validation,
            **request,
        },
    }


def settings(**values: Any) -> Settings:
    return Settings.model_validate(values)


def sign_up(
    cognito: dict[str, Any],
    registry: FakeRegistry | None = None,
    bus: BusFactory | None = None,
    clock: FakeClock | None = None,
    hard_seconds: float = 4.0,
    policy: Policy | None = None,
    **config: Any,
) -> None:
    clock = clock or FakeClock()
    timing = Timing(decision=Deadline.after(2.5, clock), hard=Deadline.after(hard_seconds, clock), aws_call=AWS_CALL)
    check_sign_up(
        cognito,
        registry or FakeRegistry(),
        bus or BusFactory(),
        timing,
        NOW,
        policy or Policy(),
        settings(**config),
    )


def refusal(cognito: dict[str, Any], registry: FakeRegistry | None = None, **kwargs: Any) -> SignUpRefused:
    with pytest.raises(SignUpRefused) as refused:
        sign_up(cognito, registry, **kwargs)
    return refused.value


KVK_ATTRIBUTE = "custom:kvk_number"
NAME_ATTRIBUTE = "custom:company_name"


# --- allowed --------------------------------------------------------------------------------------


def test_a_valid_number_and_name_sign_up_without_a_recheck(counted: list[str]) -> None:
    registry, bus = FakeRegistry(), BusFactory()
    sign_up(event({KVK_ATTRIBUTE: "6875 0110", NAME_ATTRIBUTE: "Test BV Donald"}), registry, bus)
    assert registry.asked == ["registrations"]
    assert bus.made == 0  # no EventBridge client made for a sign-up that needs no re-check
    assert counted == []


def test_a_partial_name_passes_unless_the_policy_is_strict() -> None:
    cognito = event({KVK_ATTRIBUTE: "68750110", NAME_ATTRIBUTE: "Donald BV"})
    sign_up(cognito, FakeRegistry(named_=Unavailable.kvk_down()))
    refused = refusal(
        cognito, FakeRegistry(named_=Unavailable.kvk_down()), policy=Policy(partial_name_verdict="invalid")
    )
    assert refused.code == "TRADE_NAME_PARTIAL"
    assert str(refused) == "‘Donald BV’ resembles the registered name ‘Test BV Donald’ but is not the same."


# --- refused: the verdict is invalid ---------------------------------------------------------------


def test_an_unregistered_number_is_refused_with_kvks_reason() -> None:
    refused = refusal(event({KVK_ATTRIBUTE: "68750110"}), FakeRegistry(registrations_=found(None)))
    assert refused.code == "NOT_REGISTERED"
    assert str(refused) == "KVK number 68750110 is not registered with KVK."


def test_an_inactive_number_is_refused() -> None:
    ended = FakeRegistry(registrations_=found(Registrations((branch(active=False),), 1)))
    refused = refusal(event({KVK_ATTRIBUTE: "68750110"}), ended)
    assert (refused.code, str(refused)) == ("INACTIVE", "KVK number 68750110 is registered but no longer active.")


def test_a_name_kvk_does_not_know_is_refused_and_the_number_is_not_rechecked() -> None:
    bus = BusFactory()
    refused = refusal(event({KVK_ATTRIBUTE: "68750110", NAME_ATTRIBUTE: "Bakkerij De Hoek"}), FakeRegistry(), bus=bus)
    assert refused.code == "TRADE_NAME_MISMATCH"
    assert str(refused) == (
        "‘Bakkerij De Hoek’ is not a name registered for KVK number 68750110."
        " KVK knows this company as ‘Test BV Donald’."
    )
    assert bus.made == 0


def test_a_malformed_number_is_refused_showing_what_was_typed() -> None:
    registry = FakeRegistry()
    refused = refusal(event({KVK_ATTRIBUTE: " 1234 "}), registry)
    assert (refused.code, str(refused)) == ("INVALID_FORMAT", "‘1234’ is not a KVK number: a KVK number has 8 digits.")
    assert registry.asked == []


def test_the_typed_number_is_shown_printable_and_at_most_twenty_characters() -> None:
    refused = refusal(event({KVK_ATTRIBUTE: "12\x0034-abcdefghijklmnopqrstuvwxyz"}))
    assert (refused.code, str(refused)) == (
        "INVALID_FORMAT",
        "‘1234-abcdefghijklmno’ is not a KVK number: a KVK number has 8 digits.",
    )


def test_a_number_too_long_to_be_a_request_is_refused_as_a_format_error() -> None:
    registry = FakeRegistry()
    refused = refusal(event({KVK_ATTRIBUTE: "9" * 65}), registry)
    assert (refused.code, str(refused)) == (
        "INVALID_FORMAT",
        f"‘{'9' * 20}’ is not a KVK number: a KVK number has 8 digits.",
    )
    assert registry.asked == []


def test_a_company_name_too_long_is_refused_in_plain_words() -> None:
    registry = FakeRegistry()
    refused = refusal(event({KVK_ATTRIBUTE: "68750110", NAME_ATTRIBUTE: "B" * 201}), registry)
    assert refused.code == "INVALID_COMPANY_NAME"
    assert str(refused) == "Please enter your company name as it is written, up to 200 characters."
    assert registry.asked == []


def test_a_blank_company_name_is_not_checked() -> None:
    registry = FakeRegistry(named_=AssertionError("no name to search for"))
    sign_up(event({KVK_ATTRIBUTE: "68750110", NAME_ATTRIBUTE: "   "}), registry)
    assert registry.asked == ["registrations"]


# --- which number (and name) is claimed -----------------------------------------------------------


@pytest.mark.parametrize(
    "cognito",
    [
        event(),
        event({KVK_ATTRIBUTE: ""}),
        event({KVK_ATTRIBUTE: "   "}),
        event({KVK_ATTRIBUTE: 68750110}),  # not a string: Cognito's maps hold strings only
        event(validation={KVK_ATTRIBUTE: ["68750110"]}),
        {"userName": USER, "request": None},
        {"userName": USER},
    ],
)
def test_no_number_is_refused_with_a_request_for_it(cognito: dict[str, Any]) -> None:
    registry = FakeRegistry()
    refused = refusal(cognito, registry)
    assert (refused.code, str(refused)) == ("KVK_NUMBER_MISSING", "Please enter the KVK number of your company.")
    assert registry.asked == []


def test_validation_data_is_read_when_the_attributes_hold_no_number() -> None:
    registry = FakeRegistry(registrations_=found(None))
    refused = refusal(event(validation={KVK_ATTRIBUTE: "68750110", NAME_ATTRIBUTE: "Test BV Donald"}), registry)
    assert refused.code == "NOT_REGISTERED"


def test_validation_data_comes_first_and_both_must_agree() -> None:
    cognito = event({KVK_ATTRIBUTE: "12345678"}, validation={KVK_ATTRIBUTE: "68750110"})
    refused = refusal(cognito)
    assert refused.code == "KVK_NUMBER_CONFLICT"
    assert str(refused) == "The KVK number was given twice, differently. Please enter it once."


def test_the_same_number_written_two_ways_is_no_conflict() -> None:
    registry = FakeRegistry(registrations_=found(None))
    cognito = event({KVK_ATTRIBUTE: "6875 0110"}, validation={KVK_ATTRIBUTE: "68750110"})
    refused = refusal(cognito, registry)
    assert str(refused) == "KVK number 68750110 is not registered with KVK."


def test_two_different_malformed_numbers_conflict() -> None:
    cognito = event({KVK_ATTRIBUTE: "1234"}, validation={KVK_ATTRIBUTE: " 12345 "})
    assert refusal(cognito).code == "KVK_NUMBER_CONFLICT"
    same = event({KVK_ATTRIBUTE: " 1234"}, validation={KVK_ATTRIBUTE: "1234 "})
    assert refusal(same).code == "INVALID_FORMAT"


def test_the_name_in_validation_data_is_checked_and_must_agree_with_the_attribute() -> None:
    only_there = event({KVK_ATTRIBUTE: "68750110"}, validation={NAME_ATTRIBUTE: "Bakkerij De Hoek"})
    assert refusal(only_there).code == "TRADE_NAME_MISMATCH"
    # Otherwise the checked one could differ from the one kept on the user.
    both = event({KVK_ATTRIBUTE: "68750110", NAME_ATTRIBUTE: "Test BV Donald"}, validation={NAME_ATTRIBUTE: "Other BV"})
    assert refusal(both).code == "COMPANY_NAME_CONFLICT"
    from_attributes = event({KVK_ATTRIBUTE: "68750110", NAME_ATTRIBUTE: "Bakkerij De Hoek"}, validation={})
    assert refusal(from_attributes).code == "TRADE_NAME_MISMATCH"


def test_the_attribute_names_are_the_configured_ones() -> None:
    registry = FakeRegistry(registrations_=found(None))
    cognito = event({"custom:kvk": "68750110", KVK_ATTRIBUTE: "12345678", "custom:name": "Bakkerij De Hoek"})
    refused = refusal(cognito, registry, KVK_NUMBER_ATTRIBUTE="custom:kvk", COMPANY_NAME_ATTRIBUTE="custom:name")
    assert str(refused) == "KVK number 68750110 is not registered with KVK."
    named = refusal(cognito, KVK_NUMBER_ATTRIBUTE="custom:kvk", COMPANY_NAME_ATTRIBUTE="custom:name")
    assert named.code == "TRADE_NAME_MISMATCH"


# --- KVK could not be asked ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outage", "code"), [(Unavailable.kvk_down, "KVK_UNAVAILABLE"), (Unavailable.budget_spent, "BUDGET_EXHAUSTED")]
)
def test_an_outage_fails_open_and_asks_onboarding_to_check_again(
    outage: Any, code: str, counted: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    bus = BusFactory()
    cognito = event({KVK_ATTRIBUTE: "6875 0110", NAME_ATTRIBUTE: "Test BV Donald"})
    sign_up(cognito, FakeRegistry(registrations_=outage()), bus)
    detail = {"customerId": USER, "kvkNumber": "6875 0110", "tradeName": "Test BV Donald"}
    assert bus.bus.sent == [("CustomerSignedUp", detail, "app.signup")]
    assert counted == ["SignUpFailOpen"]
    assert code in caplog.text


def test_the_recheck_uses_the_configured_event_source() -> None:
    bus = BusFactory()
    sign_up(
        event({KVK_ATTRIBUTE: "68750110"}),
        FakeRegistry(registrations_=Unavailable.kvk_down()),
        bus,
        SIGNUP_EVENT_SOURCE="shop.signup",
    )
    assert bus.bus.sent == [("CustomerSignedUp", {"customerId": USER, "kvkNumber": "68750110"}, "shop.signup")]


@pytest.mark.parametrize(
    ("registry", "code"),
    [
        (FakeRegistry(registrations_=Unavailable.kvk_down()), "KVK_UNAVAILABLE"),
        (FakeRegistry(registrations_=Unavailable.budget_spent()), "BUDGET_EXHAUSTED"),
        (FakeRegistry(registrations_=Busy(2.0)), "KVK_BUSY"),
    ],
)
def test_an_outage_refuses_when_fail_open_is_off_and_still_asks_for_a_recheck(
    registry: FakeRegistry, code: str, counted: list[str]
) -> None:
    bus = BusFactory()
    refused = refusal(event({KVK_ATTRIBUTE: "68750110"}), registry, bus=bus, PRESIGNUP_FAIL_OPEN=False)
    assert refused.code == code
    assert str(refused) == ("We could not check your KVK number with KVK just now. Please try again in a few minutes.")
    assert [detail for _, detail, _ in bus.bus.sent] == [{"customerId": USER, "kvkNumber": "68750110"}]
    assert counted == []


def test_a_busy_kvk_fails_open_like_an_outage(counted: list[str]) -> None:
    bus = BusFactory()
    sign_up(event({KVK_ATTRIBUTE: "68750110"}), FakeRegistry(registrations_=Busy(2.0)), bus)
    assert len(bus.bus.sent) == 1
    assert counted == ["SignUpFailOpen"]


def test_the_recheck_is_skipped_when_cognito_would_stop_waiting_first(counted: list[str]) -> None:
    bus, clock = BusFactory(), FakeClock()
    outage = FakeRegistry(registrations_=Unavailable.kvk_down())
    sign_up(event({KVK_ATTRIBUTE: "68750110"}), outage, bus, clock, hard_seconds=AWS_CALL)  # exactly one call: too late
    assert bus.made == 0
    assert counted == ["SignUpRecheckNotQueued", "SignUpFailOpen"]
    counted.clear()
    sign_up(event({KVK_ATTRIBUTE: "68750110"}), outage, bus, clock, hard_seconds=AWS_CALL + 0.01)
    assert len(bus.bus.sent) == 1
    assert counted == ["SignUpFailOpen"]


def test_eventbridge_down_does_not_fail_the_sign_up(counted: list[str], caplog: pytest.LogCaptureFixture) -> None:
    bus = BusFactory(Bus(fail=True))
    sign_up(event({KVK_ATTRIBUTE: "68750110"}), FakeRegistry(registrations_=Unavailable.kvk_down()), bus)
    assert counted == ["SignUpRecheckNotQueued", "SignUpFailOpen"]
    assert "ConnectionError: EventBridge is down" in caplog.text
    closed = refusal(
        event({KVK_ATTRIBUTE: "68750110"}),
        FakeRegistry(registrations_=Unavailable.kvk_down()),
        bus=bus,
        PRESIGNUP_FAIL_OPEN=False,
    )
    assert closed.code == "KVK_UNAVAILABLE"  # the outage is what the person is told about, not EventBridge


# --- texts --------------------------------------------------------------------------------------


def test_a_refusal_without_a_sentence_gets_the_one_for_its_code() -> None:
    refused = SignUpRefused("INTERNAL_ERROR")
    assert refused.code == "INTERNAL_ERROR"
    assert str(refused) == "Something went wrong on our side while checking your KVK number. Please try again."
    assert str(SignUpRefused("KVK_BUSY", "Later, please.")) == "Later, please."


def test_refusals_speak_the_language_chosen() -> None:
    with texts.speaking("nl"):
        refused = refusal(event({KVK_ATTRIBUTE: "68750110"}), FakeRegistry(registrations_=found(None)))
        missing = refusal(event())
    assert "68750110" in str(refused)
    assert str(refused) != "KVK number 68750110 is not registered with KVK."
    assert str(missing) != "Please enter the KVK number of your company."


@pytest.mark.parametrize(
    ("metadata", "language"),
    [
        ({"language": "en"}, "en"),
        ({"language": "EN-gb"}, "en"),
        ({"language": "nl"}, "nl"),
        ({"language": "de"}, "nl"),  # not one kvkgate speaks: the setting
        ({"language": 7}, "nl"),
        ({}, "nl"),
        (None, "nl"),
        ("en", "nl"),  # clientMetadata is a map or nothing
    ],
)
def test_the_language_is_the_apps_choice_else_the_setting(metadata: Any, language: str) -> None:
    assert language_of({"request": {"clientMetadata": metadata}}, settings()) == language


def test_the_language_setting_applies_without_client_metadata() -> None:
    english = settings(SIGNUP_MESSAGE_LANGUAGE="en")
    assert language_of({"request": {"clientMetadata": {"language": "xx"}}}, english) == "en"
    assert language_of({"request": None}, english) == "en"
    assert language_of({}, settings()) == "nl"
    assert (
        language_of({"request": {"clientMetadata": {"language": "en"}}}, settings(SIGNUP_MESSAGE_LANGUAGE="nl")) == "en"
    )


# --- misconfigured -----------------------------------------------------------------------------------


def test_a_misconfiguration_follows_the_outage_policy_and_says_why(
    counted: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    misconfigured = FakeRegistry(registrations_=ConfigError("invalid configuration: X: must be set", ("X",)))
    bus = BusFactory()
    sign_up(event({KVK_ATTRIBUTE: "68750110"}), misconfigured, bus)  # fail-open: let through
    assert counted == ["ConfigurationError", "SignUpFailOpen"]
    assert "fail-open): CONFIGURATION_ERROR" in caplog.text
    assert [kind for kind, _, _ in bus.bus.sent] == ["CustomerSignedUp"]  # decided once it is fixed
    refused = refusal(event({KVK_ATTRIBUTE: "68750110"}), misconfigured, presignup_fail_open=False)
    assert (refused.code, str(refused)) == ("CONFIGURATION_ERROR", texts.say("signup.UNVERIFIED"))


def test_a_function_not_ready_is_a_misconfiguration_before_any_kvk_call(counted: list[str]) -> None:
    registry = FakeRegistry()

    def not_ready() -> None:
        raise ConfigError("invalid configuration: TABLE_NAME: must be set", ("TABLE_NAME",))

    clock = FakeClock()
    timing = Timing(decision=Deadline.after(2.5, clock), hard=Deadline.after(4, clock), aws_call=AWS_CALL)
    with pytest.raises(SignUpRefused) as refused:
        check_sign_up(
            event({KVK_ATTRIBUTE: "68750110"}),
            registry,
            BusFactory(),
            timing,
            NOW,
            Policy(),
            settings(PRESIGNUP_FAIL_OPEN="false"),
            not_ready,
        )
    assert refused.value.code == "CONFIGURATION_ERROR"
    assert registry.asked == []
    assert counted == ["ConfigurationError"]


def test_a_bus_that_does_not_exist_is_reported_as_a_misconfiguration(counted: list[str]) -> None:
    class MissingBus(Bus):
        def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
            raise ConfigError("invalid configuration: EVENT_BUS_NAME: no such bus", ("EVENT_BUS_NAME",))

    sign_up(
        event({KVK_ATTRIBUTE: "68750110"}),
        FakeRegistry(registrations_=Unavailable.kvk_down()),
        BusFactory(MissingBus()),
    )
    assert counted == ["ConfigurationError", "SignUpRecheckNotQueued", "SignUpFailOpen"]


# --- issue #21: the optional branch number and RSIN attributes (free Zoeken, like the rest) -----------


def test_a_branch_number_of_the_company_signs_up_without_another_kvk_call() -> None:
    registry = FakeRegistry()
    sign_up(event({KVK_ATTRIBUTE: "68750110", "custom:branch_number": "0000 3717 8598"}), registry)
    assert registry.asked == ["registrations"]


def test_the_same_branch_number_in_both_attribute_maps_is_no_conflict_however_it_is_spaced() -> None:
    cognito = event(
        {KVK_ATTRIBUTE: "68750110", "custom:branch_number": "0000 3717 8598"},
        validation={"custom:branch_number": "000037178598"},
    )
    sign_up(cognito)  # allowed: one branch number, written two ways


def test_another_companys_branch_number_is_refused_with_a_sentence() -> None:
    refused = refusal(event({KVK_ATTRIBUTE: "68750110", "custom:branch_number": "990000541921"}))
    assert refused.code == "BRANCH_MISMATCH"
    assert str(refused) == "Branch number 990000541921 is not a branch of KVK number 68750110."


def test_a_malformed_rsin_is_refused_naming_the_rsin_not_the_kvk_number() -> None:
    refused = refusal(event({KVK_ATTRIBUTE: "68750110", "custom:rsin": "123456789"}))
    assert refused.code == "INVALID_FORMAT"
    assert str(refused) == "The RSIN 123456789 fails the 11-proef."


def test_the_companys_rsin_signs_up_and_another_is_refused() -> None:
    own = FakeRegistry(rsin_=found(Registrations((branch(),), 1)))
    sign_up(event({KVK_ATTRIBUTE: "68750110", "custom:rsin": "857587973"}), own)
    assert own.asked == ["registrations", "rsin_registrations"]
    refused = refusal(event({KVK_ATTRIBUTE: "68750110", "custom:rsin": "992760562"}), FakeRegistry(rsin_=found(None)))
    assert (refused.code, str(refused)) == ("RSIN_MISMATCH", "RSIN 992760562 does not belong to KVK number 68750110.")

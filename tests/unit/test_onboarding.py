"""app.onboarding with an in-memory registry and publisher: what is retried, when, and what is reported at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate.app.onboarding import (
    FairShare,
    Message,
    RetryLater,
    back_off,
    handle,
    idempotency_key,
    retry_delay,
    work_of,
)
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError
from kvkgate.domain.outcomes import Busy, Unavailable
from kvkgate.domain.verify import Policy
from kvkgate.texts import say
from tests.conftest import FakeClock
from tests.unit.test_verify import FakeRegistry, found

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


@dataclass
class Published:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        self.events.append((detail_type, detail))


@dataclass
class Delays:
    given: list[tuple[str, int]] = field(default_factory=list)
    fail: bool = False

    def later(self, receipt_handle: str, seconds: int) -> None:
        if self.fail:
            raise RuntimeError("SQS said no")
        self.given.append((receipt_handle, seconds))


def message(receive_count: int = 1, max_receives: int = 10) -> Message:
    body = json.dumps({"id": "e-1", "detail": {"customerId": "c-1", "kvkNumber": "68750110"}})
    return Message(body, receive_count, max_receives)


def run(registry: FakeRegistry, delivery: Message) -> tuple[str | None, Published]:
    published = Published()
    try:
        verdict: str | None = handle(delivery, registry, published, Deadline.after(10), lambda: NOW)
    except RetryLater:
        verdict = None
    return verdict, published


def test_retries_come_later_each_time_up_to_fifteen_minutes() -> None:
    assert [retry_delay(count) for count in range(1, 9)] == [30, 60, 120, 240, 480, 900, 900, 900]


def test_failed_records_get_their_delay_and_the_rest_are_left_alone() -> None:
    event = {
        "Records": [
            {"messageId": "a", "receiptHandle": "ra", "attributes": {"ApproximateReceiveCount": "1"}},
            {"messageId": "b", "receiptHandle": "rb", "attributes": {"ApproximateReceiveCount": "4"}},
            {"messageId": "c", "receiptHandle": "rc", "attributes": {"ApproximateReceiveCount": "2"}},
        ]
    }
    delays = Delays()
    back_off(event, {"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "c"}]}, delays)
    assert delays.given == [("rb", 240), ("rc", 60)]
    back_off(event, {"batchItemFailures": [{"itemIdentifier": "a"}]}, Delays(fail=True))  # never raises


def test_an_outage_is_retried_silently_until_the_last_delivery() -> None:
    outage = FakeRegistry(registrations_=Unavailable.kvk_down())
    verdict, published = run(outage, message(receive_count=3))
    assert (verdict, published.events) == (None, [])
    verdict, published = run(outage, message(receive_count=10))
    assert verdict is None
    assert [kind for kind, _ in published.events] == ["KvkVerificationFailed"]
    assert published.events[0][1]["deliveries"] == 10


def test_a_spent_budget_is_reported_at_once_and_not_retried() -> None:
    verdict, published = run(FakeRegistry(registrations_=Unavailable.budget_spent()), message(receive_count=1))
    assert verdict == "unverified"
    ((kind, detail),) = published.events
    assert kind == "KvkVerificationFailed"
    assert [reason["code"] for reason in detail["reasons"]] == ["BUDGET_EXHAUSTED"]
    assert detail["customerId"] == "c-1"


def test_a_busy_kvk_is_retried_like_an_outage() -> None:
    verdict, published = run(FakeRegistry(registrations_=Busy(2.0)), message())
    assert (verdict, published.events) == (None, [])
    with pytest.raises(RetryLater, match="KVK is answering slowly or is busy"):
        handle(message(), FakeRegistry(registrations_=Busy(2.0)), Published(), Deadline.after(10), lambda: NOW)


def test_a_misconfiguration_is_retried_and_reported_under_its_reason_on_the_last_delivery(
    caplog: pytest.LogCaptureFixture, fresh_metrics: None
) -> None:
    misconfigured = FakeRegistry(registrations_=ConfigError("invalid configuration: X: must be set", ("X",)))
    verdict, published = run(misconfigured, message(receive_count=9))
    assert (verdict, published.events) == (None, [])
    with pytest.raises(RetryLater, match="X: must be set"):
        handle(message(), misconfigured, Published(), Deadline.after(10), lambda: NOW)
    verdict, published = run(misconfigured, message(receive_count=10))
    assert verdict is None
    ((kind, detail),) = published.events
    assert kind == "KvkVerificationFailed"
    assert detail == {
        "customerId": "c-1",
        "kvkNumber": "68750110",
        "verdict": "unverified",
        "checks": None,
        "company": None,
        "reasons": [{"code": "CONFIGURATION_ERROR", "message": say("reason.CONFIGURATION_ERROR")}],
        "meta": {"checkedAt": "2026-11-29T10:00:00Z", "source": "none", "stale": False},
        "deliveries": 10,
    }
    assert "kvkgate is misconfigured (X)" in caplog.text


def test_each_record_gets_a_fair_share_of_the_invocation(clock: FakeClock) -> None:
    share = FairShare(Deadline.after(20, clock), records=4)
    first = share.next()
    assert first.remaining() == pytest.approx(5.0)
    clock.advance(1.0)  # the first record was quick: the others share what is left
    assert share.next().remaining() == pytest.approx(19.0 / 3)
    clock.advance(12.0)  # the second one used all of its share and more
    third = share.next()
    assert third.remaining() == pytest.approx(7.0 / 2)
    assert share.next().remaining() <= share.deadline.remaining()


def customer_signed_up(**detail: Any) -> str:
    return json.dumps({"id": "e-1", "source": "app.signup", "detail": {"customerId": "c-1", **detail}})


def test_a_retry_after_an_unknown_delivery_count_comes_as_soon_as_the_first() -> None:
    assert retry_delay(0) == 30
    assert retry_delay(-3) == 30


def test_records_without_a_delivery_count_get_the_first_delay() -> None:
    event = {
        "Records": [
            {"messageId": "a", "receiptHandle": "ra"},
            {"messageId": "b", "receiptHandle": "rb", "attributes": {}},
            {"messageId": "c", "receiptHandle": "rc", "attributes": {"ApproximateReceiveCount": None}},
        ]
    }
    delays = Delays()
    failed = {"batchItemFailures": [{"itemIdentifier": name} for name in "abc"]}
    back_off(event, failed, delays)
    assert delays.given == [("ra", 30), ("rb", 30), ("rc", 30)]


def test_nothing_is_delayed_when_nothing_failed_or_there_is_no_queue_to_ask() -> None:
    event = {"Records": [{"messageId": "a", "receiptHandle": "ra", "attributes": {"ApproximateReceiveCount": "2"}}]}
    delays = Delays()
    back_off(event, {}, delays)
    back_off(event, {"batchItemFailures": []}, delays)
    back_off({}, {"batchItemFailures": [{"itemIdentifier": "a"}]}, delays)
    back_off({"Records": None}, {"batchItemFailures": [{"itemIdentifier": "a"}]}, delays)
    assert delays.given == []
    back_off(event, {"batchItemFailures": [{"itemIdentifier": "a"}]}, None)  # no queue client: SQS's own timeout


@dataclass
class FlakyDelays(Delays):
    refuse: set[str] = field(default_factory=set)

    def later(self, receipt_handle: str, seconds: int) -> None:
        if receipt_handle in self.refuse:
            raise RuntimeError("SQS said no")
        super().later(receipt_handle, seconds)


def test_one_delay_refused_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    event = {
        "Records": [
            {"messageId": "a", "receiptHandle": "ra", "attributes": {"ApproximateReceiveCount": "1"}},
            {"messageId": "b", "receiptHandle": "rb", "attributes": {"ApproximateReceiveCount": "3"}},
        ]
    }
    delays = FlakyDelays(refuse={"ra"})
    back_off(event, {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}, delays)
    assert delays.given == [("rb", 120)]
    assert "could not delay the retry of a: SQS said no" in caplog.text


def test_records_beyond_the_count_get_all_that_is_left(clock: FakeClock) -> None:
    share = FairShare(Deadline.after(12, clock), records=2)
    assert share.next().remaining() == pytest.approx(6.0)
    assert share.next().remaining() == pytest.approx(12.0)
    assert share.next().remaining() == pytest.approx(12.0)  # a record the count did not include
    assert share.next().at == share.deadline.at
    lone = FairShare(Deadline.after(8, clock), records=1).next()
    assert lone.remaining() == pytest.approx(8.0)


def test_the_last_delivery_is_the_one_that_reaches_the_maximum() -> None:
    assert [Message("{}", count, 5).last_delivery for count in (1, 4, 5, 6)] == [False, False, True, True]


def test_the_work_of_a_record_is_keyed_by_its_event_and_counts_its_deliveries() -> None:
    body = customer_signed_up(kvkNumber="68750110")
    assert work_of(body, "3") == {"key": "event:e-1", "body": body, "receive_count": 3}
    assert work_of(body, 2)["receive_count"] == 2
    assert work_of(body, None)["receive_count"] == 1
    assert work_of(body, "")["receive_count"] == 1


def test_the_same_event_delivered_twice_has_one_key_and_other_events_another() -> None:
    first = json.dumps({"id": "e-1", "detail": {"kvkNumber": "68750110"}})
    again = json.dumps({"detail": {"kvkNumber": "68750110"}, "id": "e-1", "time": "later"})
    other = json.dumps({"id": "e-2", "detail": {"kvkNumber": "68750110"}})
    assert idempotency_key(first) == idempotency_key(again) == "event:e-1"
    assert idempotency_key(other) == "event:e-2"


@pytest.mark.parametrize(
    "body",
    [
        '{"detail": {"kvkNumber": "68750110"}}',
        '{"id": "", "detail": {}}',
        '{"id": 17, "detail": {}}',
        '["id", "e-1"]',
        "not json",
        "\ud800 broken",
    ],
)
def test_a_message_without_an_event_id_is_keyed_by_its_body(body: str) -> None:
    digest = hashlib.sha256(body.encode(errors="replace")).hexdigest()
    assert idempotency_key(body) == "body:" + digest
    assert idempotency_key(body + " ") != idempotency_key(body)


def test_a_valid_company_is_published_as_completed_with_the_customer() -> None:
    published = Published()
    body = customer_signed_up(kvkNumber="6875 0110", tradeName="Test BV Donald", extra="ignored")
    registry = FakeRegistry()
    verdict = handle(Message(body, 1, 10), registry, published, Deadline.after(10), lambda: NOW)
    assert verdict == "valid"
    ((kind, detail),) = published.events
    assert kind == "KvkVerificationCompleted"
    assert set(detail) == {"customerId", "kvkNumber", "verdict", "checks", "company", "reasons", "meta"}
    assert (detail["customerId"], detail["kvkNumber"], detail["verdict"], detail["reasons"]) == (
        "c-1",
        "68750110",
        "valid",
        [],
    )
    assert detail["checks"]["tradeName"]["result"] == "match"
    assert detail["company"] == {"name": "Test BV Donald", "city": "Lollum"}
    assert detail["meta"]["checkedAt"] == "2026-11-29T10:00:00Z"


def test_an_invalid_company_is_published_as_completed_at_once() -> None:
    body = customer_signed_up(kvkNumber="68750110", tradeName="Bakkerij De Hoek")
    published = Published()
    verdict = handle(Message(body, 1, 10), FakeRegistry(), published, Deadline.after(10), lambda: NOW)
    assert verdict == "invalid"
    ((kind, detail),) = published.events
    assert (kind, detail["verdict"]) == ("KvkVerificationCompleted", "invalid")
    assert [reason["code"] for reason in detail["reasons"]] == ["TRADE_NAME_MISMATCH"]


def test_the_policy_decides_a_partial_name() -> None:
    body = customer_signed_up(kvkNumber="68750110", tradeName="Donald BV")
    registry = FakeRegistry(named_=Unavailable.kvk_down())
    published = Published()
    strict = Policy(partial_name_verdict="invalid")
    assert handle(Message(body, 1, 10), registry, published, Deadline.after(10), lambda: NOW, strict) == "invalid"
    assert handle(Message(body, 1, 10), registry, published, Deadline.after(10), lambda: NOW) == "valid"


def test_the_address_in_the_message_is_checked() -> None:
    body = customer_signed_up(kvkNumber="68750110", postcode="8823 SJ", houseNumber="3")
    registry = FakeRegistry(at_=found(None))
    verdict, published = run(registry, Message(body, 1, 10))
    assert verdict == "invalid"
    assert [reason["code"] for reason in published.events[0][1]["reasons"]] == ["ADDRESS_MISMATCH"]
    assert registry.asked == ["registrations", "registrations_at"]


def test_the_company_is_verified_at_the_time_of_handling() -> None:
    times = iter([NOW, NOW + dt.timedelta(minutes=5)])
    published = Published()
    handle(
        Message(customer_signed_up(kvkNumber="68750110"), 1, 10),
        FakeRegistry(),
        published,
        Deadline.after(10),
        lambda: next(times),
    )
    assert published.events[0][1]["meta"]["checkedAt"] == "2026-11-29T10:00:00Z"


def invalid_request(body: str) -> tuple[str | None, dict[str, Any]]:
    registry = FakeRegistry()
    verdict, published = run(registry, Message(body, 1, 10))
    assert registry.asked == []  # nothing to ask KVK about
    ((kind, detail),) = published.events
    assert kind == "KvkVerificationCompleted"
    assert (detail["verdict"], detail["kvkNumber"], detail["checks"], detail["company"]) == (
        "invalid",
        None,
        None,
        None,
    )
    assert detail["meta"] == {"source": "none", "stale": False, "checkedAt": "2026-11-29T10:00:00Z"}
    ((reason),) = detail["reasons"]
    assert reason["code"] == "INVALID_REQUEST"
    return verdict, {"customerId": detail["customerId"], "message": reason["message"]}


@pytest.mark.parametrize(
    ("body", "customer", "problems"),
    [
        ("not json", None, "body: not JSON"),
        ('"a string"', None, "detail: The body must be a JSON object."),
        ('{"detail": [1, 2]}', None, "detail: The body must be a JSON object."),
        ('{"detail": {"customerId": "c-9"}}', "c-9", "detail.kvkNumber: "),
        ('{"detail": {"customerId": 9, "kvkNumber": 68750110}}', None, "detail.kvkNumber: "),
    ],
)
def test_a_malformed_message_is_answered_at_once_not_retried(body: str, customer: str | None, problems: str) -> None:
    verdict, seen = invalid_request(body)
    assert verdict == "invalid"
    assert seen["customerId"] == customer
    assert seen["message"].startswith("The CustomerSignedUp message is malformed: " + problems)


def test_a_message_without_an_envelope_is_read_as_the_detail() -> None:
    bare = json.dumps({"customerId": "c-2", "kvkNumber": "68750110"})
    verdict, published = run(FakeRegistry(), Message(bare, 1, 10))
    assert verdict == "valid"
    assert published.events[0][1]["customerId"] == "c-2"


def test_every_problem_of_a_malformed_detail_is_reported() -> None:
    _, seen = invalid_request(customer_signed_up(kvkNumber="68750110", postcode="XX", tradeName=""))
    message = seen["message"]
    assert "detail.tradeName: " in message
    assert "; detail.postcode: " in message
    assert seen["customerId"] == "c-1"


def test_null_fields_are_left_out_not_refused() -> None:
    body = customer_signed_up(kvkNumber="68750110", tradeName=None, postcode=None, houseNumber=None)
    verdict, published = run(FakeRegistry(), Message(body, 1, 10))
    assert verdict == "valid"
    assert published.events[0][1]["checks"]["tradeName"]["result"] == "skipped"


def test_a_message_too_large_is_refused_before_it_is_read() -> None:
    body = customer_signed_up(kvkNumber="68750110", padding="x" * (64 * 1024))
    _, seen = invalid_request(body)
    assert seen["message"] == "The CustomerSignedUp message is malformed: body: The body is larger than 65536 bytes."
    assert seen["customerId"] is None
    fits = customer_signed_up(kvkNumber="68750110")
    fits = fits[:-2] + ', "p": "' + "x" * (64 * 1024 - len(fits) - 9) + '"}}'
    assert len(fits.encode()) == 64 * 1024
    assert run(FakeRegistry(), Message(fits, 1, 10))[0] == "valid"


def test_an_outage_says_why_when_it_asks_to_be_retried() -> None:
    outage = FakeRegistry(registrations_=Unavailable.kvk_down())
    with pytest.raises(RetryLater) as retry:
        handle(message(), outage, Published(), Deadline.after(10), lambda: NOW)
    assert str(retry.value) == "KVK could not be reached just now; please try again later."


def test_the_last_delivery_reports_the_failure_with_its_reasons() -> None:
    verdict, published = run(
        FakeRegistry(registrations_=Unavailable.kvk_down()), message(receive_count=5, max_receives=5)
    )
    assert verdict is None  # still raised: the message goes to the dead-letter queue
    ((kind, detail),) = published.events
    assert kind == "KvkVerificationFailed"
    assert (detail["customerId"], detail["kvkNumber"], detail["verdict"], detail["deliveries"]) == (
        "c-1",
        "68750110",
        "unverified",
        5,
    )
    assert [reason["code"] for reason in detail["reasons"]] == ["KVK_UNAVAILABLE"]
    assert (
        run(FakeRegistry(registrations_=Unavailable.kvk_down()), message(receive_count=4, max_receives=5))[1].events
        == []
    )


def test_a_spent_budget_on_the_last_delivery_is_reported_once() -> None:
    verdict, published = run(FakeRegistry(registrations_=Unavailable.budget_spent()), message(receive_count=10))
    assert verdict == "unverified"
    assert [kind for kind, _ in published.events] == ["KvkVerificationFailed"]
    assert published.events[0][1]["deliveries"] == 10


def test_a_spent_budget_behind_another_reason_is_still_not_retried() -> None:
    body = customer_signed_up(kvkNumber="68750110", tradeName="Donald BV", postcode="8823 SJ", houseNumber="3")
    registry = FakeRegistry(named_=Unavailable.kvk_down(), at_=Unavailable.budget_spent())
    verdict, published = run(registry, Message(body, 2, 10))
    assert verdict == "unverified"
    ((kind, detail),) = published.events
    assert kind == "KvkVerificationFailed"
    assert [reason["code"] for reason in detail["reasons"]] == ["TRADE_NAME_PARTIAL", "BUDGET_EXHAUSTED"]
    assert detail["deliveries"] == 2


def test_kvk_is_asked_within_the_records_share_of_the_time() -> None:
    registry = FakeRegistry()
    share = Deadline.after(3)
    handle(message(), registry, Published(), share, lambda: NOW)
    assert registry.calls == [("registrations", "68750110", share)]


def test_a_retry_names_every_reason_it_could_not_finish() -> None:
    body = customer_signed_up(kvkNumber="68750110", tradeName="Donald BV", postcode="8823 SJ", houseNumber="3")
    registry = FakeRegistry(named_=Unavailable.kvk_down(), at_=Unavailable.kvk_down())
    with pytest.raises(RetryLater) as retry:
        handle(Message(body, 1, 10), registry, Published(), Deadline.after(10), lambda: NOW)
    assert str(retry.value) == (
        "‘Donald BV’ resembles the registered name ‘Test BV Donald’ but is not the same.;"
        " KVK could not be reached just now; please try again later."
    )


def test_a_body_that_is_not_text_is_malformed_not_a_crash() -> None:
    verdict, seen = invalid_request('{"detail": {"kvkNumber": "68750110"}, "x": "\ud800"')
    assert verdict == "invalid"
    assert seen["message"] == "The CustomerSignedUp message is malformed: body: not UTF-8"


def test_when_kvk_asks_for_minutes_of_patience_the_message_waits_that_long() -> None:
    """IPD1003 ("probeer het over 5 minuten"): not 30 s, and never an immediate retry."""
    event = {"Records": [{"messageId": "a", "receiptHandle": "ra", "attributes": {"ApproximateReceiveCount": "1"}}]}
    delays = Delays()
    back_off(event, {"batchItemFailures": [{"itemIdentifier": "a"}]}, delays, {"a": 300.0})
    assert delays.given == [("ra", 300)]
    outage = FakeRegistry(registrations_=Unavailable.kvk_down(300))
    with pytest.raises(RetryLater) as later:
        handle(message(), outage, Published(), Deadline.after(10), lambda: NOW)
    assert later.value.retry_after == 300

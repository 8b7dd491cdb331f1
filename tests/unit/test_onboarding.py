"""app.onboarding with an in-memory registry and publisher: what is retried, when, and what is reported at once."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate.app.onboarding import FairShare, Message, RetryLater, back_off, handle, retry_delay
from kvkgate.clock import Deadline
from kvkgate.domain.outcomes import Busy, Unavailable
from tests.conftest import FakeClock
from tests.unit.test_verify import FakeRegistry

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

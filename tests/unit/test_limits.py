"""The global rate limiter and the monthly budget on the template's table (moto)."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import logging
import threading
from typing import Any

import pytest

from kvkgate.aws.limits import Budget, BudgetStatus, GlobalRateLimiter, KvkGuard
from kvkgate.clock import Deadline
from kvkgate.kvk import BudgetExhausted, KvkApi, RateLimited
from kvkgate.kvk.throttle import TokenBucket
from tests.conftest import FakeClock, Table


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, start + 1.0) - index for index, start in enumerate(times))


def test_slots_are_spaced_evenly_and_callers_with_time_wait(table: Table, clock: FakeClock) -> None:
    limiter = GlobalRateLimiter(table.client, table.name, rate=10, clock=clock, margin=1.0)
    starts = []
    for _ in range(25):
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        starts.append(clock.time())
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.1] * 24, abs=1e-3)
    assert busiest_second(starts) <= 10


def test_short_deadline_gets_an_immediate_refusal(table: Table, clock: FakeClock) -> None:
    limiter = GlobalRateLimiter(table.client, table.name, rate=1, clock=clock, margin=1.0)
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(KvkApi.BASISPROFIEL, Deadline.after(0.5, clock))
    assert refused.value.retry_after == pytest.approx(1.0, abs=1e-3)
    assert clock.sleeps == []


def test_an_idle_schedule_restarts_without_a_burst(table: Table, clock: FakeClock) -> None:
    limiter = GlobalRateLimiter(table.client, table.name, rate=10, clock=clock, margin=1.0)
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    clock.advance(30)
    starts = []
    for _ in range(5):
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        starts.append(clock.time())
    assert starts[0] == pytest.approx(clock.wall + 1000 + 30, abs=1e-3)  # first one goes at once
    assert starts[-1] - starts[0] == pytest.approx(0.4, abs=1e-3)  # the rest are spaced, not burst


class RecordingLimiter(GlobalRateLimiter):
    """Records the start time the limiter grants each caller (what KVK would see, minus transit)."""

    granted: list[float]

    def _wait_until(self, start: float, now: float) -> None:
        self.granted.append(max(start, now))
        super()._wait_until(start, now)


class Atomic:
    """DynamoDB applies each request atomically; moto's in-process backend does not lock, so do it here."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def locked(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)

        return locked


def test_twelve_threads_together_stay_within_the_rate(table: Table) -> None:
    # Real time on purpose: this is about concurrent callers racing for the same item.
    limiter = RecordingLimiter(Atomic(table.client), table.name, rate=60)  # type: ignore[arg-type]
    limiter.granted = []

    def worker() -> None:
        for _ in range(8):
            limiter.acquire(KvkApi.ZOEKEN, Deadline.after(30))

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(limiter.granted) == 96
    assert busiest_second(limiter.granted) <= 60


def test_budget_stops_paid_calls_first_then_everything(table: Table, clock: FakeClock) -> None:
    limiter = GlobalRateLimiter(table.client, table.name, rate=1000, budget=Budget(10, 0.5), clock=clock)
    far = Deadline.after(60, clock)
    for _ in range(5):
        limiter.acquire(KvkApi.NAAMGEVING, far)
    with pytest.raises(BudgetExhausted, match="paid"):
        limiter.acquire(KvkApi.BASISPROFIEL, far)
    for _ in range(5):
        limiter.acquire(KvkApi.ZOEKEN, far)
    with pytest.raises(BudgetExhausted):
        limiter.acquire(KvkApi.ZOEKEN, far)
    status = limiter.usage()
    assert (status.calls, status.paid_calls) == (10, 5)


def test_a_refused_budget_uses_no_slot_and_a_refused_slot_counts_no_call(table: Table, clock: FakeClock) -> None:
    limiter = GlobalRateLimiter(table.client, table.name, rate=1, budget=Budget(1, 1.0), clock=clock, margin=1.0)
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    with pytest.raises(BudgetExhausted):
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert clock.sleeps == []  # refused before waiting for a slot
    roomy = GlobalRateLimiter(table.client, table.name, rate=1, budget=Budget(100, 1.0), clock=clock, margin=1.0)
    with pytest.raises(RateLimited):
        roomy.acquire(KvkApi.ZOEKEN, Deadline.after(0.5, clock))
    assert roomy.usage().calls == 1


def test_budget_starts_again_next_month(table: Table, clock: FakeClock) -> None:
    clock.wall = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC).timestamp() - clock.now
    limiter = GlobalRateLimiter(table.client, table.name, rate=10, budget=Budget(1, 1.0), clock=clock)
    limiter.acquire(KvkApi.BASISPROFIEL, Deadline.after(60, clock))
    with pytest.raises(BudgetExhausted):
        limiter.acquire(KvkApi.BASISPROFIEL, Deadline.after(60, clock))
    clock.advance(120)
    limiter.acquire(KvkApi.BASISPROFIEL, Deadline.after(60, clock))
    assert limiter.usage() == BudgetStatus("2026-12", 1, 1)


class Unreachable:
    """A DynamoDB client whose every call fails the way an unreachable endpoint does."""

    def __getattr__(self, name: str) -> Any:
        def fail(**kwargs: Any) -> Any:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")

        return fail


def test_guard_degrades_to_the_local_bucket_and_says_so(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    from kvkgate.telemetry import metrics

    metrics().clear_metrics()
    caplog.set_level(logging.WARNING)
    bucket = TokenBucket(rate=10, capacity=1, clock=clock)
    unreachable = GlobalRateLimiter(Unreachable(), "t", rate=10, budget=Budget(10), clock=clock)  # type: ignore[arg-type]
    guard = KvkGuard(unreachable, fallback=bucket)
    for _ in range(3):
        guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert clock.sleeps == pytest.approx([0.1, 0.1])  # the bucket paced them
    assert "using the per-process bucket" in caplog.text
    assert metrics().metric_set["LimiterDegraded"]["Value"] == [1.0, 1.0, 1.0]
    metrics().clear_metrics()


def test_caller_budget_counts_only_callers_and_fails_open(table: Table, clock: FakeClock) -> None:
    from kvkgate.aws.callers import CallerBudget, caller_scope
    from kvkgate.domain.outcomes import CallerBudgetExceeded
    from kvkgate.kvk.throttle import Unlimited

    budget = CallerBudget(table.client, table.name, per_minute=2, then=Unlimited(), clock=clock)
    far = Deadline.after(60, clock)
    budget.acquire(KvkApi.ZOEKEN, far)  # no caller in scope (a worker): never counted
    with caller_scope("ip:198.51.100.7"):
        budget.acquire(KvkApi.ZOEKEN, far)
        budget.acquire(KvkApi.ZOEKEN, far)
        with pytest.raises(CallerBudgetExceeded) as refused:
            budget.acquire(KvkApi.ZOEKEN, far)
    assert 0 < refused.value.retry_after <= 60
    items = table.client.scan(TableName=table.name)["Items"]
    assert all("198.51.100.7" not in item["pk"]["S"] for item in items), "callers are stored hashed"
    unreachable = CallerBudget(Unreachable(), "t", per_minute=1, then=Unlimited(), clock=clock)  # type: ignore[arg-type]
    with caller_scope("ip:203.0.113.1"):
        unreachable.acquire(KvkApi.ZOEKEN, far)
        unreachable.acquire(KvkApi.ZOEKEN, far)

"""The global rate limiter, admission control, the monthly budget and degradation, on the template's table (moto).

Time is a fake clock throughout. The guarantee is checked where KVK counts: the times calls are
*sent* and arrive, simulated for many callers that wake up late by random amounts.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate.aws.limits import Admission, AmbiguousUpdate, Budget, BudgetStatus, Door, GlobalRateLimiter, KvkGuard
from kvkgate.clock import Deadline
from kvkgate.kvk import BudgetExhausted, KvkApi, TemporarilyUnavailable
from kvkgate.kvk.errors import RateLimited, Shed
from tests.conftest import FakeClock, Table

EXACT = Door(grace=0.01, jitter=0.0, lead=0.0)


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, start + 1.0) - index for index, start in enumerate(times))


def limiter_on(table: Table, clock: FakeClock, rate: float, **kwargs: Any) -> GlobalRateLimiter:
    return GlobalRateLimiter(table.client, table.name, rate, clock=clock, **kwargs)


def test_slots_are_spaced_evenly_and_callers_with_time_wait(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    starts = []
    for _ in range(25):
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        starts.append(clock.time())
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == pytest.approx([limiter.interval] * 24, abs=1e-3)
    assert limiter.interval > 0.1  # a little below the rate: the margin the guarantee needs
    assert busiest_second(starts) <= 10


def test_an_idle_schedule_restarts_without_a_burst(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(table, clock, rate=10, door=EXACT)
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    clock.advance(30)
    starts = []
    for _ in range(5):
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        starts.append(clock.time())
    assert starts[0] == pytest.approx(clock.wall + 1000 + 30, abs=1e-3)  # the first one goes at once
    assert starts[-1] - starts[0] == pytest.approx(4 * limiter.interval, abs=1e-3)  # the rest spaced, not burst


def test_a_caller_without_time_for_the_call_is_refused_at_once_and_counts_nothing(
    table: Table, clock: FakeClock
) -> None:
    limiter = limiter_on(table, clock, rate=10, budget=Budget(100), admission=Admission(call_seconds=1.0))
    with pytest.raises(Shed):
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(0.9, clock))
    assert clock.sleeps == []
    assert limiter.usage().calls == 0
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(1.2, clock))
    assert limiter.usage().calls == 1


def test_nobody_queues_longer_than_the_bound(table: Table, clock: FakeClock) -> None:
    """Demand above the rate: the first callers get slots at most ``max_queue`` ahead, the rest are refused."""
    admission = Admission(call_seconds=1.0, max_queue_seconds=0.5)
    limiter = limiter_on(table, clock, rate=10, budget=Budget(1000), door=EXACT, admission=admission)
    granted, refused = [], []
    for _ in range(20):  # all arrive at the same moment, each with 5 s to go
        try:
            granted.append(limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock)).start - clock.time())
        except Shed as shed:
            refused.append(shed.retry_after)
    assert max(granted) <= 0.5
    assert len(granted) == 1 + int(0.5 / limiter.interval)
    assert len(refused) == 20 - len(granted)
    assert all(0.5 < wait < 0.7 for wait in refused)  # Retry-After: when a slot is likely
    assert clock.sleeps == []
    assert limiter.usage().calls == len(granted)  # refusals counted nothing


def test_a_late_caller_forfeits_its_slot_and_takes_another(table: Table, clock: FakeClock) -> None:
    @dataclass
    class LateSleeper(FakeClock):
        """Wakes 40 ms late the first time, on time afterwards."""

        late: list[float] = field(default_factory=lambda: [0.04])

        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + (self.late.pop() if self.late else 0.0))

    late = LateSleeper()
    door = Door(grace=0.02, jitter=0.0, lead=0.0)
    limiter = GlobalRateLimiter(table.client, table.name, 10, Budget(100), clock=late, door=door)
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, late))
    first_slot_start = late.time()
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, late))
    # The second caller's first slot came at +T; it woke at +T+40ms, gave it up and used the next.
    assert late.time() - first_slot_start == pytest.approx(2 * limiter.interval, abs=1e-3)
    assert limiter.usage().calls == 2  # the forfeited slot's call never happened: not counted


@dataclass(order=True)
class Wake:
    at: float
    caller: int = field(compare=False)
    use_by: float = field(compare=False, default=0.0)
    tries: int = field(compare=False, default=0)


def simulate(table: Table, clock: FakeClock, rate: int, door: Door, *, forfeit: bool, seed: int) -> list[float]:
    """Many callers through one limiter; each wakes late by a random amount (sometimes much), and its call
    reaches KVK after a random transit within the door's jitter. Returns the arrival times at KVK."""
    rng = random.Random(seed)
    limiter = limiter_on(table, clock, rate, door=door, admission=Admission(call_seconds=0.5, max_queue_seconds=30))
    pending = [Wake(clock.now + rng.uniform(0, 5), caller) for caller in range(6 * rate)]  # ~1.2x the rate
    heapq.heapify(pending)
    arrivals = []
    while pending:
        event = heapq.heappop(pending)
        clock.now = event.at
        if event.tries and (not forfeit or event.at <= event.use_by):
            arrivals.append(event.at + rng.uniform(0, door.jitter))  # sent now; KVK counts it a little later
            continue
        slot = limiter.reserve(KvkApi.ZOEKEN, Deadline.after(30, clock))
        # Most callers wake on time; some a little late, some descheduled for a while.
        lateness = rng.choice([0.0, 0.001, 0.005, rng.uniform(0, 0.06), rng.uniform(0, 0.3)])
        wake = max(slot.start - clock.wall, event.at) + lateness
        heapq.heappush(pending, Wake(wake, event.caller, slot.use_by - clock.wall, event.tries + 1))
    return arrivals


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_at_most_the_rate_arrives_in_any_second_whatever_the_callers_jitter(
    table: Table, clock: FakeClock, seed: int
) -> None:
    door = Door(grace=0.02, jitter=0.03)
    arrivals = simulate(table, clock, 20, door, forfeit=True, seed=seed)
    assert len(arrivals) == 120
    assert busiest_second(arrivals) <= 20


def test_without_forfeiting_late_slots_the_same_callers_would_bunch_at_kvk(table: Table, clock: FakeClock) -> None:
    """The simulation can fail: granted start times alone (the old check) do not hold KVK's limit."""
    arrivals = simulate(table, clock, 20, Door(grace=0.02, jitter=0.03), forfeit=False, seed=1)
    assert busiest_second(arrivals) > 20


def test_budget_stops_paid_calls_first_then_everything(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(table, clock, rate=100, budget=Budget(10, 0.5), admission=Admission(max_queue_seconds=60))
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


def test_a_refused_budget_uses_no_slot(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(
        table, clock, rate=1, budget=Budget(1, 1.0), door=EXACT, admission=Admission(max_queue_seconds=60)
    )
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    with pytest.raises(BudgetExhausted):
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert clock.sleeps == []  # refused before waiting for a slot


def test_budget_starts_again_next_month(table: Table, clock: FakeClock) -> None:
    clock.wall = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC).timestamp() - clock.now
    limiter = limiter_on(table, clock, rate=10, budget=Budget(1, 1.0))
    limiter.acquire(KvkApi.BASISPROFIEL, Deadline.after(60, clock))
    with pytest.raises(BudgetExhausted):
        limiter.acquire(KvkApi.BASISPROFIEL, Deadline.after(60, clock))
    clock.advance(120)
    limiter.acquire(KvkApi.BASISPROFIEL, Deadline.after(60, clock))
    assert limiter.usage() == BudgetStatus("2026-12", 1, 1)


class Unreachable:
    """A DynamoDB client whose every call fails the way an unreachable endpoint does."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        def fail(**kwargs: Any) -> Any:
            from botocore.exceptions import EndpointConnectionError

            self.calls += 1
            raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")

        return fail


class TimesOut:
    """A DynamoDB client whose updates time out after sending: DynamoDB may have applied them."""

    def update_item(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")


def test_degraded_each_environment_takes_its_share_free_calls_only(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from kvkgate.telemetry import metrics

    metrics().clear_metrics()
    caplog.set_level(logging.WARNING)
    table_client = Unreachable()
    unreachable = GlobalRateLimiter(table_client, "t", rate=20, budget=Budget(10), clock=clock)  # type: ignore[arg-type]
    guard = KvkGuard(unreachable, expected_environments=10, clock=clock)
    started = clock.time()
    for _ in range(5):
        guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert guard.degraded
    assert clock.time() - started == pytest.approx(4 / 2.0)  # 20/s shared by 10 environments: 2/s here
    with pytest.raises(TemporarilyUnavailable, match="paid"):
        guard.acquire(KvkApi.NAAMGEVING, Deadline.after(10, clock))
    assert "degraded" in caplog.text
    assert caplog.text.count("degraded") == 1  # one line per episode, not per call
    assert metrics().metric_set["LimiterDegraded"]["Value"] == [1.0] * 6
    assert table_client.calls == 1  # degraded: the table is not asked again for a while
    metrics().clear_metrics()


def test_degraded_mode_ends_when_the_table_is_back(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(table, clock, rate=20, budget=Budget(10))
    guard = KvkGuard(limiter, clock=clock)
    real_client = limiter._client
    limiter._client = Unreachable()  # type: ignore[assignment]
    guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert guard.degraded
    limiter._client = real_client
    clock.advance(10)
    guard.acquire(KvkApi.NAAMGEVING, Deadline.after(10, clock))  # paid works again: the table counts it
    assert not guard.degraded
    assert limiter.usage().paid_calls == 1


def test_a_timed_out_update_is_never_followed_by_a_second_grant(clock: FakeClock) -> None:
    class CountingBucket:
        grants = 0

        def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
            CountingBucket.grants += 1

    guard = KvkGuard(GlobalRateLimiter(TimesOut(), "t", rate=20, clock=clock), clock=clock)  # type: ignore[arg-type]
    guard._fallback = CountingBucket()  # type: ignore[assignment]
    with pytest.raises(TemporarilyUnavailable):
        guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert CountingBucket.grants == 0
    assert isinstance(AmbiguousUpdate("x"), Exception)


def test_the_local_bucket_alone_paces_and_refuses_past_the_deadline(clock: FakeClock) -> None:
    from kvkgate.kvk.throttle import TokenBucket

    bucket = TokenBucket(rate=10, capacity=1, clock=clock)
    for _ in range(3):
        bucket.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert clock.sleeps == pytest.approx([0.1, 0.1])
    with pytest.raises(RateLimited):
        bucket.acquire(KvkApi.ZOEKEN, Deadline.after(0.01, clock))


def test_the_api_stops_at_its_share_and_the_sign_up_gate_keeps_its_reserve(table: Table, clock: FakeClock) -> None:
    far = Deadline.after(60, clock)
    admission = Admission(max_queue_seconds=60)
    api = limiter_on(table, clock, rate=100, budget=Budget(10, 1.0, gate_share=0.3, pool="api"), admission=admission)
    gate = limiter_on(table, clock, rate=100, budget=Budget(10, 1.0, gate_share=0.3, pool="gate"), admission=admission)
    for _ in range(7):
        api.acquire(KvkApi.ZOEKEN, far)
    with pytest.raises(BudgetExhausted):
        api.acquire(KvkApi.ZOEKEN, far)  # the API's 70 % is spent ...
    for _ in range(3):
        gate.acquire(KvkApi.ZOEKEN, far)  # ... the gate's 30 % is still there
    with pytest.raises(BudgetExhausted):
        gate.acquire(KvkApi.ZOEKEN, far)
    assert api.usage().calls == 10  # one counter for both: KVK counts them together

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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate.aws.limits import (
    LIMITER_KEY,
    Admission,
    AmbiguousUpdate,
    Budget,
    BudgetStatus,
    Door,
    GlobalRateLimiter,
    KvkGuard,
)
from kvkgate.clock import Deadline
from kvkgate.kvk import BudgetExhausted, KvkApi, TemporarilyUnavailable
from kvkgate.kvk.errors import RateLimited, Shed
from tests.conftest import FakeClock, Table, metric

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


@dataclass
class LateOnce(FakeClock):
    """Wakes 50 ms late the first time (past any slot's window), on time afterwards."""

    late: list[float] = field(default_factory=lambda: [0.05])

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds + (self.late.pop() if self.late else 0.0))


def count_requests(table: Table, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` (``UpdateItem``, ``GetItem``) sent to the table from now on."""
    requests: list[dict[str, Any]] = []
    table.client.meta.events.register(
        f"provide-client-params.dynamodb.{operation}", lambda params, **_: requests.append(params)
    )
    return requests


def count_updates(table: Table) -> list[dict[str, Any]]:
    return count_requests(table, "UpdateItem")


def conditional_failure(item: dict[str, Any] | None = None) -> Exception:
    from botocore.exceptions import ClientError

    response: dict[str, Any] = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "refused"}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, "UpdateItem")  # type: ignore[arg-type]


def test_slots_are_spaced_by_the_rate_scaled_down_by_the_doors_timing() -> None:
    door = Door(grace=0.02, jitter=0.03, lead=0.02)
    limiter = GlobalRateLimiter(Unreachable(), "t", rate=20, door=door)  # type: ignore[arg-type]
    # A second of arrivals spans 1 + grace + jitter of slot starts: that span holds just under 20 slots.
    assert limiter.interval == pytest.approx(1.05 / (0.999 * 20))
    assert 1.05 / limiter.interval < 20
    assert door.busy_from == pytest.approx(0.0)


def test_budget_caps_per_pool_and_kind_of_call() -> None:
    gate = Budget(1000, paid_share=0.95, gate_share=0.3, pool="gate")
    api = Budget(1000, paid_share=0.95, gate_share=0.3, pool="api")
    assert (gate.cap(KvkApi.ZOEKEN), gate.cap(KvkApi.NAAMGEVING)) == (1000, 950)
    assert (api.cap(KvkApi.ZOEKEN), api.cap(KvkApi.BASISPROFIEL)) == (700, 665)
    assert Budget(10, paid_share=0.95).cap(KvkApi.VESTIGINGSPROFIEL) == 9  # never rounded up past the share
    assert Budget(10, gate_share=0.35, pool="api").cap(KvkApi.ZOEKEN) == 6


def test_admit_refuses_a_caller_without_time_for_the_call_asking_nothing(clock: FakeClock, fresh_metrics: None) -> None:
    client = Unreachable()
    limiter = GlobalRateLimiter(client, "t", rate=10, clock=clock, admission=Admission(call_seconds=1.0))  # type: ignore[arg-type]
    limiter.admit(KvkApi.ZOEKEN, Deadline.after(1.0, clock))  # just enough time for the call
    with pytest.raises(Shed) as shed:
        limiter.admit(KvkApi.ZOEKEN, Deadline.after(0.99, clock))
    assert shed.value.retry_after == limiter.interval
    assert client.calls == 0
    assert metric("LimiterShed") == [1.0]


def test_once_the_queue_is_seen_past_a_callers_bound_admit_refuses_without_asking(
    table: Table, clock: FakeClock
) -> None:
    admission = Admission(call_seconds=1.0, max_queue_seconds=0.5)
    limiter = limiter_on(table, clock, rate=10, door=EXACT, admission=admission)
    while True:  # fill the next half second
        try:
            limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
        except Shed as full:
            first_refusal = full.retry_after
            break
    updates = count_updates(table)
    next_slot = first_refusal
    with pytest.raises(Shed) as shed:
        limiter.admit(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert shed.value.retry_after == pytest.approx(next_slot)
    with pytest.raises(Shed):
        limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert updates == []  # known without a round trip
    clock.advance(next_slot - 0.5)  # now the next slot is exactly max_queue ahead: it may be had
    limiter.admit(KvkApi.ZOEKEN, Deadline.after(5, clock))
    slot = limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert slot.start - clock.time() == pytest.approx(0.5)


def test_a_refusal_for_a_full_queue_says_when_the_next_slot_starts(table: Table, clock: FakeClock) -> None:
    admission = Admission(call_seconds=1.0, max_queue_seconds=0.3)
    queued = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    for _ in range(10):  # another environment queued a second of calls
        queued.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    newcomer = limiter_on(table, clock, rate=10, door=EXACT, admission=admission)
    with pytest.raises(Shed) as shed:
        newcomer.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert shed.value.retry_after == pytest.approx(10 * queued.interval, abs=1e-3)
    updates = count_updates(table)
    with pytest.raises(Shed):  # the refusal taught it where the schedule is: no round trip now
        newcomer.admit(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert updates == []


def test_a_busy_schedule_costs_one_round_trip_per_slot(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    updates = count_updates(table)
    for _ in range(5):
        limiter.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert len(updates) == 5
    clock.advance(60)  # idle again: the guess from the last slot is right again
    limiter.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert len(updates) == 6


def test_slots_are_granted_ahead_by_the_limiters_own_round_trip(table: Table, clock: FakeClock) -> None:
    door = Door(grace=0.02, jitter=0.03, lead=0.02)
    limiter = limiter_on(table, clock, rate=10, door=door)
    now = clock.time()
    slot = limiter.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert slot.start - now == pytest.approx(0.02, abs=1e-6)
    assert slot.use_by - slot.start == pytest.approx(0.02, abs=1e-6)
    second = limiter.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert second.start - slot.start == pytest.approx(limiter.interval, abs=1e-6)
    other = limiter_on(table, clock, rate=10, door=door)  # another environment, knowing nothing yet
    third = other.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert third.start - second.start == pytest.approx(limiter.interval, abs=1e-6)


def test_a_schedule_inside_its_grace_is_still_busy_and_costs_one_round_trip(table: Table, clock: FakeClock) -> None:
    """A next slot still inside its window is taken, not restarted at ``now + lead``."""
    door = Door(grace=0.02, jitter=0.0, lead=0.0)
    limiter = limiter_on(table, clock, rate=10, door=door)
    first = limiter.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    clock.advance(limiter.interval + 0.015)  # the next slot started 15 ms ago
    updates = count_updates(table)
    second = limiter.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert second.start - first.start == pytest.approx(limiter.interval, abs=1e-6)
    assert len(updates) == 1  # the guess "busy" was right
    clock.advance(limiter.interval + 0.025)  # now it is more than a grace behind: restart at now
    third = limiter.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert third.start == pytest.approx(clock.time(), abs=1e-6)
    assert len(updates) == 2  # the guess "idle" was right too


def test_a_caller_waking_at_the_end_of_its_window_still_calls(table: Table) -> None:
    @dataclass
    class WakesAtTheEnd(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + 0.02)

    clock = WakesAtTheEnd()
    limiter = GlobalRateLimiter(
        table.client, table.name, 10, Budget(100), clock=clock, door=Door(grace=0.02, jitter=0.0, lead=0.0)
    )
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert clock.sleeps == [pytest.approx(limiter.interval + 0.02)]  # one wait: the slot was used, not forfeited
    assert limiter.usage().calls == 2


def test_a_forfeited_paid_slot_is_uncounted_from_both_counters(table: Table, clock: FakeClock) -> None:
    late = LateOnce()
    limiter = GlobalRateLimiter(table.client, table.name, 10, Budget(100), clock=late, door=EXACT)
    limiter.acquire(KvkApi.NAAMGEVING, Deadline.after(60, late))
    limiter.acquire(KvkApi.NAAMGEVING, Deadline.after(60, late))
    assert limiter.usage() == BudgetStatus(limiter.usage().month, 2, 2)


def test_without_a_budget_nothing_is_counted(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(table, clock, rate=10, door=EXACT)
    updates = count_updates(table)
    limiter.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    assert all("ADD" not in update["UpdateExpression"] for update in updates)
    assert limiter.usage().calls == 0


def test_a_failed_uncount_does_not_fail_the_call(table: Table) -> None:
    class UncountFails:
        def __getattr__(self, name: str) -> Any:
            return getattr(table.client, name)

        def update_item(self, **kwargs: Any) -> Any:
            if ":minus" in kwargs["ExpressionAttributeValues"]:
                from botocore.exceptions import EndpointConnectionError

                raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")
            return table.client.update_item(**kwargs)

    late = LateOnce()
    limiter = GlobalRateLimiter(UncountFails(), table.name, 10, Budget(100), clock=late, door=EXACT)  # type: ignore[arg-type]
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, late))
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, late))
    assert limiter.usage().calls == 3  # the forfeited call stays counted: safe side of the budget


def test_budget_refusals_say_what_is_spent_and_feed_the_alarm(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    clock.wall = dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC).timestamp() - clock.now
    limiter = limiter_on(table, clock, rate=100, budget=Budget(4, 0.5), admission=Admission(max_queue_seconds=60))
    far = Deadline.after(3, clock)
    limiter.acquire(KvkApi.NAAMGEVING, far)
    limiter.acquire(KvkApi.NAAMGEVING, far)
    with pytest.raises(BudgetExhausted, match=r"for paid calls is spent \(2 of 2 in 2026-05\)"):
        limiter.acquire(KvkApi.NAAMGEVING, far)
    limiter.acquire(KvkApi.ZOEKEN, far)
    limiter.acquire(KvkApi.ZOEKEN, far)
    with pytest.raises(BudgetExhausted, match=r"for all calls is spent \(4 of 4 in 2026-05\)"):
        limiter.acquire(KvkApi.ZOEKEN, far)
    assert metric("BudgetRefused") == [1.0, 1.0]
    assert metric("BudgetUsedCalls") == [1.0, 2.0, 3.0, 4.0]  # this month's calls so far, after each grant


@pytest.fixture
def amsterdam(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is Amsterdam's (a developer's laptop; Lambda runs in UTC)."""
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_month_is_utcs(table: Table, clock: FakeClock, amsterdam: None) -> None:
    clock.wall = dt.datetime(2026, 5, 31, 23, 30, tzinfo=dt.UTC).timestamp() - clock.now
    limiter = limiter_on(table, clock, rate=10, budget=Budget(100))
    limiter.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    assert limiter.usage() == BudgetStatus("2026-05", 1, 1)
    clock.advance(1800)
    assert limiter.usage() == BudgetStatus("2026-06", 0, 0)


def test_usage_fails_as_a_store_outage_when_the_table_is_unreachable(clock: FakeClock) -> None:
    from kvkgate.aws.dynamo import StoreUnavailable

    limiter = GlobalRateLimiter(Unreachable(), "t", rate=10, budget=Budget(10), clock=clock)  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        limiter.usage()


def test_a_contended_limiter_backs_off_after_a_few_rounds_then_sheds(clock: FakeClock) -> None:
    class AlwaysRaced:
        """Every update loses a race to another environment, which leaves a slot soon enough."""

        def __init__(self) -> None:
            self.updates = 0
            self.sleeps_before: list[int] = []

        def update_item(self, **kwargs: Any) -> Any:
            self.updates += 1
            raise conditional_failure({"nextSlot": {"N": f"{clock.time():.6f}"}})

    client = AlwaysRaced()
    limiter = GlobalRateLimiter(client, "t", rate=10, clock=clock, admission=Admission(call_seconds=1.0))  # type: ignore[arg-type]
    original_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        client.sleeps_before.append(client.updates)
        original_sleep(seconds)

    clock.sleep = sleep  # type: ignore[method-assign]
    with pytest.raises(Shed, match="contended") as shed:
        limiter.reserve(KvkApi.ZOEKEN, Deadline.after(3, clock))
    assert shed.value.retry_after == limiter.interval
    assert client.sleeps_before[0] == 2 * (3 + 1)  # three rounds at once, a pause from the fourth on
    assert all(0 < pause <= limiter.interval for pause in clock.sleeps)
    assert clock.now - 1000 < 2.0  # gave up while a call would still fit


def test_a_bug_in_the_limiter_update_is_not_mistaken_for_an_outage(clock: FakeClock) -> None:
    class Buggy:
        def update_item(self, **kwargs: Any) -> Any:
            raise KeyError("a bug, not DynamoDB")

    guard = KvkGuard(GlobalRateLimiter(Buggy(), "t", rate=10, clock=clock), clock=clock)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert not guard.degraded


def test_degraded_mode_lasts_five_seconds_then_the_table_is_tried_again(clock: FakeClock, fresh_metrics: None) -> None:
    client = Unreachable()
    guard = KvkGuard(GlobalRateLimiter(client, "t", rate=100, clock=clock), expected_environments=1, clock=clock)  # type: ignore[arg-type]
    guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    degraded_at = clock.monotonic()
    assert client.calls == 1
    clock.now = degraded_at + 4.99
    guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert (client.calls, guard.degraded) == (1, True)
    clock.now = degraded_at + 5.0
    assert not guard.degraded
    guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert client.calls == 2  # asked again, failed again: degraded for another five seconds
    clock.now += 4.99
    assert guard.degraded
    assert metric("LimiterDegraded") == [1.0, 1.0, 1.0]


def test_a_timed_out_update_degrades_the_guard_too(clock: FakeClock) -> None:
    class CountingTimeouts(TimesOut):
        calls = 0

        def update_item(self, **kwargs: Any) -> Any:
            CountingTimeouts.calls += 1
            return super().update_item(**kwargs)

    CountingTimeouts.calls = 0
    guard = KvkGuard(GlobalRateLimiter(CountingTimeouts(), "t", rate=20, clock=clock), clock=clock)  # type: ignore[arg-type]
    with pytest.raises(TemporarilyUnavailable, match="did not answer in time"):
        guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert guard.degraded
    guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))  # the local share, without the table
    assert CountingTimeouts.calls == 1


def test_degraded_admission_skips_the_tables_queue(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(table, clock, rate=10, admission=Admission(call_seconds=1.0))
    guard = KvkGuard(limiter, clock=clock)
    with pytest.raises(Shed):
        guard.admit(KvkApi.ZOEKEN, Deadline.after(0.5, clock))  # healthy: the limiter's admission holds
    limiter._client = Unreachable()  # type: ignore[assignment]
    guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert guard.degraded
    guard.admit(KvkApi.ZOEKEN, Deadline.after(0.5, clock))  # degraded: the local bucket decides at acquire


def test_a_single_environment_degrades_to_the_whole_rate(clock: FakeClock) -> None:
    limiter = GlobalRateLimiter(Unreachable(), "t", rate=20, clock=clock)  # type: ignore[arg-type]
    assert KvkGuard(limiter, expected_environments=0, clock=clock).degraded_rate == 20
    assert KvkGuard(limiter, expected_environments=4, clock=clock).degraded_rate == 5


def test_a_forfeited_free_slot_leaves_the_paid_count_alone(table: Table) -> None:
    late = LateOnce()
    limiter = GlobalRateLimiter(table.client, table.name, 10, Budget(100), clock=late, door=EXACT)
    limiter.acquire(KvkApi.NAAMGEVING, Deadline.after(60, late))
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60, late))  # forfeits one slot, then calls
    assert limiter.usage() == BudgetStatus(limiter.usage().month, 2, 1)


def test_the_degraded_share_allows_no_burst(clock: FakeClock) -> None:
    limiter = GlobalRateLimiter(Unreachable(), "t", rate=50, clock=clock)  # type: ignore[arg-type]
    guard = KvkGuard(limiter, expected_environments=1, clock=clock)
    started = clock.monotonic()
    for _ in range(5):
        guard.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))
    assert clock.monotonic() - started == pytest.approx(4 / 50)  # one at once, the rest at the rate


def test_a_full_queue_is_not_mistaken_for_a_spent_budget(table: Table, clock: FakeClock) -> None:
    clock.wall = dt.datetime(2026, 6, 1, 0, 0, 1, tzinfo=dt.UTC).timestamp() - clock.now  # nothing counted yet
    queued = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    for _ in range(10):  # an environment without a budget (nothing counted) queued a second of calls
        queued.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    tiny = limiter_on(
        table, clock, rate=10, budget=Budget(1, 1.0), door=EXACT, admission=Admission(max_queue_seconds=0.3)
    )
    with pytest.raises(Shed):
        tiny.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert tiny.usage().calls == 0


def test_an_environment_that_guesses_idle_still_takes_a_slot_inside_its_grace(table: Table, clock: FakeClock) -> None:
    """Restarting a schedule whose next slot is only just behind would put two calls closer than ``T``."""
    door = Door(grace=0.02, jitter=0.0, lead=0.0)
    first = limiter_on(table, clock, rate=10, door=door).reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    newcomer = limiter_on(table, clock, rate=10, door=door)  # has seen nothing: guesses idle
    clock.advance(newcomer.interval + 0.015)
    second = newcomer.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert second.start - first.start == pytest.approx(newcomer.interval, abs=1e-6)


def test_a_full_queue_is_refused_in_one_round_trip_whichever_way_the_environment_guessed(
    table: Table, clock: FakeClock
) -> None:
    impatient = Admission(call_seconds=1.0, max_queue_seconds=0.3)
    knows_busy = limiter_on(table, clock, rate=10, door=EXACT, admission=impatient)
    knows_busy.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))  # it has seen the schedule: busy
    queued = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    for _ in range(10):  # another environment queues a second of calls
        queued.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    knows_nothing = limiter_on(table, clock, rate=10, door=EXACT, admission=impatient)  # guesses idle
    for limiter in (knows_busy, knows_nothing):
        updates = count_updates(table)
        with pytest.raises(Shed):
            limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
        assert len(updates) == 1  # the refused update's old item says why: no second try
        assert clock.sleeps == []


def test_a_limiter_item_that_disappeared_restarts_the_schedule_and_the_count(table: Table, clock: FakeClock) -> None:
    """The table restored from an older backup, or the item deleted by hand: the busy guess fails, the restart works."""
    clock.wall = dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC).timestamp() - clock.now
    limiter = limiter_on(
        table, clock, rate=10, budget=Budget(100), door=EXACT, admission=Admission(max_queue_seconds=60)
    )
    limiter.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    table.client.delete_item(TableName=table.name, Key=LIMITER_KEY)
    limiter.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    assert limiter.usage() == BudgetStatus("2026-05", 1, 1)


def test_under_overload_admission_reads_the_schedule_so_a_refusal_writes_nothing(
    table: Table, clock: FakeClock
) -> None:
    impatient = Admission(call_seconds=1.0, max_queue_seconds=1.0)
    limiter = limiter_on(table, clock, rate=10, door=EXACT, admission=impatient)
    for _ in range(7):  # this environment saw the queue reach 0.7 s: past half its bound
        limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
    others = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    for _ in range(5):  # meanwhile other environments filled the rest of the second
        others.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    reads, updates = count_requests(table, "GetItem"), count_updates(table)
    with pytest.raises(Shed) as shed:
        limiter.admit(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert (len(reads), updates) == (1, [])
    assert shed.value.retry_after == pytest.approx(12 * limiter.interval, abs=1e-3)


def test_below_half_the_bound_admission_asks_nothing(table: Table, clock: FakeClock) -> None:
    limiter = limiter_on(
        table, clock, rate=10, door=EXACT, admission=Admission(call_seconds=1.0, max_queue_seconds=1.0)
    )
    for _ in range(4):  # the queue seen at 0.4 s
        limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
    reads = count_requests(table, "GetItem")
    limiter.admit(KvkApi.ZOEKEN, Deadline.after(5, clock))
    assert reads == []


def test_an_unreadable_schedule_leaves_the_decision_to_the_update(clock: FakeClock) -> None:
    from kvkgate.aws.dynamo import StoreUnavailable

    client = Unreachable()
    limiter = GlobalRateLimiter(client, "t", rate=10, clock=clock, door=EXACT)  # type: ignore[arg-type]
    limiter._last_seen_next = clock.time() + 0.9  # as if it had seen a long queue
    limiter.admit(KvkApi.ZOEKEN, Deadline.after(5, clock))  # no refusal on a guess
    with pytest.raises(StoreUnavailable):
        limiter.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))


def test_after_its_own_call_in_a_long_queue_an_environment_guesses_busy(table: Table, clock: FakeClock) -> None:
    """Many environments calling: the next request soon after this environment's own slot costs one round trip."""
    here = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    others = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    for _ in range(10):
        others.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    mine = here.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))  # a second deep in the queue
    for _ in range(10):  # the others keep calling meanwhile
        others.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    clock.advance(mine.start - clock.time() + 0.3)  # its call done, the next request comes
    updates = count_updates(table)
    here.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert len(updates) == 1


def test_when_everyone_stopped_the_busy_guess_expires(table: Table, clock: FakeClock) -> None:
    here = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    others = limiter_on(table, clock, rate=10, door=EXACT, admission=Admission(max_queue_seconds=60))
    for _ in range(10):
        others.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    mine = here.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    clock.advance(mine.start - clock.time() + 2.5)  # past the queue it saw, and as long again: idle
    updates = count_updates(table)
    slot = here.reserve(KvkApi.ZOEKEN, Deadline.after(60, clock))
    assert len(updates) == 1 and slot.start == pytest.approx(clock.time())

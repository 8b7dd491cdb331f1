"""An environment whose limiter round trips are slow (a cold connection, a loaded table) learns to
ask further ahead, instead of forfeiting every slot it is granted and refusing its callers."""

from __future__ import annotations

from typing import Any

import pytest

from kvkgate.aws.limits import MAX_LEAD_SECONDS, Budget, Door, GlobalRateLimiter
from kvkgate.clock import Deadline
from kvkgate.kvk import KvkApi
from tests.conftest import FakeClock, Table

DOOR = Door(grace=0.02, jitter=0.03, lead=0.02)


class SlowTable:
    """The table's client, each update answered ``delay`` seconds after it was sent."""

    def __init__(self, client: Any, clock: FakeClock, delay: float) -> None:
        self._client, self._clock, self.delay = client, clock, delay

    def update_item(self, **request: Any) -> Any:
        self._clock.advance(self.delay)
        return self._client.update_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def slow_limiter(table: Table, clock: FakeClock, delay: float) -> tuple[GlobalRateLimiter, SlowTable]:
    client = SlowTable(table.client, clock, delay)
    limiter = GlobalRateLimiter(client, table.name, 10, Budget(1000), clock=clock, door=DOOR)  # type: ignore[arg-type]
    return limiter, client


def test_a_slow_round_trip_costs_one_forfeit_not_the_call(table: Table, clock: FakeClock) -> None:
    limiter, _ = slow_limiter(table, clock, delay=0.08)  # answers arrive after the slot's window closed
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(5, clock))  # granted in the end, not shed
    assert limiter.usage().calls == 1  # the forfeited slot was uncounted
    called_at = clock.time()
    clock.advance(5)
    before = clock.time()
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(5, clock))
    # Learned: the next idle restart asks far enough ahead to be used at once, on the first try.
    assert clock.time() - before == pytest.approx(0.08, abs=0.03)
    assert limiter.usage().calls == 2 and called_at < before


def test_the_lead_is_bounded_and_shrinks_back_when_the_table_is_fast_again(table: Table, clock: FakeClock) -> None:
    limiter, client = slow_limiter(table, clock, delay=2.0)  # a table so slow no lead helps
    for _ in range(3):
        clock.advance(10)
        with pytest.raises(Exception):  # noqa: B017, PT011 - refused one way or another, never a late call
            limiter.acquire(KvkApi.ZOEKEN, Deadline.after(3, clock))
    client.delay = 0.0
    waits = []
    for _ in range(40):
        clock.advance(10)  # idle each time: every call restarts the schedule `lead` ahead
        before = clock.time()
        limiter.acquire(KvkApi.ZOEKEN, Deadline.after(5, clock))
        waits.append(clock.time() - before)
    assert max(waits) <= MAX_LEAD_SECONDS + 1e-6
    assert waits[-1] == pytest.approx(DOOR.lead, abs=1e-3)  # back to the configured lead

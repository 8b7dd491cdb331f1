"""Watching customers' companies after sign-up (issue #23): the watch list on the template's table (moto),
the sweep and the signal poller against an in-memory KVK, on a fake clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate.app import watch as watching
from kvkgate.app.watch import SWEEP_BATCH, Watcher
from kvkgate.aws.cache import CacheKey, CachePolicy, DynamoStore, Entry, KvkCache
from kvkgate.aws.watch import MAX_CUSTOMERS_PER_NUMBER, DynamoWatchList, bucket_of
from kvkgate.clock import Deadline
from kvkgate.domain.outcomes import Unavailable
from kvkgate.domain.ports import Answer, Registration, Registrations, Signal, SignalHeader, Watched
from kvkgate.domain.watch import DECIDED, EVENT_TYPES, SWEEP_BUCKETS, Change, event_detail
from tests.conftest import FakeClock, Table
from tests.unit.test_verify import KVK, check

DAY = 86_400.0


def registration(number: str, name: str, active: bool = True) -> Registration:
    return Registration(number, f"0000{number}", "main branch", name, active=active)


@dataclass
class Kvk:
    """An in-memory KVK: the register (number -> registrations), its signals, and what was asked."""

    register: dict[str, tuple[Registration, ...]] = field(default_factory=dict)
    signals: list[tuple[SignalHeader, Signal]] = field(default_factory=list)
    looked_at: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    windows: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    def current_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        if self.down:
            raise Unavailable.kvk_down()
        self.looked_at.append(kvk_number)
        items = self.register.get(kvk_number)
        return Answer(Registrations(items, len(items)) if items else None, "kvk")

    def forget(self, kvk_number: str) -> None:
        self.forgotten.append(kvk_number)

    def subscription(self, configured: str, deadline: Deadline) -> str | None:
        return "sub-1" if configured == "auto" else configured or None

    def signal_headers(self, subscription: str, since: str, until: str, deadline: Deadline) -> list[SignalHeader]:
        self.windows.append((since, until))
        return [header for header, _ in self.signals if since <= header.at < until]

    def signal(self, subscription: str, header: SignalHeader, deadline: Deadline) -> Signal:
        return next(signal for seen, signal in self.signals if seen.id == header.id)


@dataclass
class Bus:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_after: int | None = None

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            raise ConnectionError("EventBridge unreachable")
        self.events.append((detail_type, detail))


@dataclass
class MemoryWatchList:
    """The watch list in memory (the sweep's logic does not need DynamoDB; the adapter's own tests do)."""

    customers: dict[str, set[str]] = field(default_factory=dict)
    snapshots: dict[str, str] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    claims: dict[tuple[str, str], str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def watch(self, kvk_number: str, customer: str, snapshot: str) -> bool:
        self.customers.setdefault(kvk_number, set()).add(customer)
        self.snapshots.setdefault(kvk_number, snapshot)
        return True

    def forget_customer(self, customer: str) -> int:
        numbers = [number for number, watchers in self.customers.items() if customer in watchers]
        for number in numbers:
            self.customers[number].discard(customer)
        return len(numbers)

    def watched(self, kvk_number: str) -> Watched | None:
        watchers = tuple(sorted(self.customers.get(kvk_number, ())))
        return Watched(kvk_number, watchers, self.snapshots.get(kvk_number)) if watchers else None

    def remember(self, kvk_number: str, snapshot: str) -> None:
        self.snapshots[kvk_number] = snapshot

    def claim_event(self, change_id: str, customer: str) -> bool:
        if self.claims.get((change_id, customer)) == "sent":
            return False
        self.claims[(change_id, customer)] = "pending"
        return True

    def event_sent(self, change_id: str, customer: str) -> None:
        self.claims[(change_id, customer)] = "sent"

    def release_event(self, change_id: str, customer: str) -> None:
        self.claims.pop((change_id, customer), None)

    def numbers_in(self, bucket: int, after: str = "") -> list[str]:
        return sorted(number for number in self.customers if bucket_of(number) == bucket and number > after)

    def unschedule(self, kvk_number: str) -> None:
        self.customers.pop(kvk_number, None)

    def cursor(self, name: str) -> str | None:
        return self.cursors.get(name)

    def move_cursor(self, name: str, value: str) -> None:
        self.cursors[name] = value

    def first_sight(self, signal_id: str) -> bool:
        return signal_id not in self.seen

    def handled(self, signal_id: str) -> None:
        self.seen.add(signal_id)


@pytest.fixture
def watch_list() -> MemoryWatchList:
    return MemoryWatchList()


@pytest.fixture
def table_watch_list(table: Table, clock: FakeClock) -> DynamoWatchList:
    return DynamoWatchList(table.client, table.name, clock)


def numbers(count: int) -> list[str]:
    return [f"{60_000_000 + index:08d}" for index in range(count)]


def watched_world(watch_list: MemoryWatchList | DynamoWatchList, count: int, customers: int = 1) -> Kvk:
    kvk = Kvk()
    for number in numbers(count):
        kvk.register[number] = (registration(number, f"Bedrijf {number}"),)
        for customer in range(customers):
            watch_list.watch(number, f"c-{number}-{customer}", DECIDED.to_json())
    return kvk


def run_period(watcher: Watcher, clock: FakeClock, days: float = 30, every: float = 3600) -> None:
    """The sweep's schedule over ``days``: a run every ``every`` seconds."""
    for _ in range(int(days * DAY / every)):
        clock.advance(every)
        watcher.sweep(Deadline.after(240, clock))


# --- the watch list -----------------------------------------------------------------------------------


def test_a_decided_registration_is_watched_for_its_customer_and_forgotten_with_them(
    table_watch_list: DynamoWatchList,
) -> None:
    watch_list = table_watch_list
    valid = check(_registry())
    assert watching.record(watch_list, valid, "c-1")
    assert watching.record(watch_list, valid, "c-2")
    watched = watch_list.watched(KVK)
    assert watched is not None and watched.customers == ("c-1", "c-2")
    assert watching.forget(watch_list, "c-1") == 1
    assert watch_list.watched(KVK).customers == ("c-2",)  # type: ignore[union-attr]
    watching.forget(watch_list, "c-2")
    assert watch_list.watched(KVK) is None
    assert list(watch_list.numbers_in(_bucket(KVK))) == []  # the sweep forgets the number too


def test_an_unregistered_or_ended_number_is_not_watched(table_watch_list: DynamoWatchList) -> None:
    watch_list = table_watch_list
    from kvkgate.domain.ports import Registrations as Found
    from tests.unit.test_verify import FakeRegistry, branch, found

    ended = check(FakeRegistry(registrations_=found(Found((branch(active=False),), 1))))
    assert not watching.record(watch_list, ended, "c-1")
    assert not watching.record(watch_list, check(_registry()), None)
    assert watch_list.watched(KVK) is None


def test_the_watch_list_is_bounded_per_number(table_watch_list: DynamoWatchList) -> None:
    watch_list = table_watch_list
    for customer in range(MAX_CUSTOMERS_PER_NUMBER):
        assert watch_list.watch(KVK, f"c-{customer}", DECIDED.to_json())
    assert not watch_list.watch(KVK, "one-too-many", DECIDED.to_json())
    assert watch_list.watch(KVK, "c-0", DECIDED.to_json())  # already watching: still fine
    assert len(watch_list.watched(KVK).customers) == MAX_CUSTOMERS_PER_NUMBER  # type: ignore[union-attr]


# --- the free sweep -----------------------------------------------------------------------------------


def test_the_sweep_looks_at_every_watched_number_once_a_period_spread_evenly(
    watch_list: MemoryWatchList, clock: FakeClock
) -> None:
    kvk = watched_world(watch_list, 300)
    watcher = Watcher(kvk, watch_list, Bus(), clock, sweep_days=30)
    run_period(watcher, clock, days=30)
    looks = {number: kvk.looked_at.count(number) for number in numbers(300)}
    assert set(looks.values()) <= {1, 2}  # the period's edges may see a number twice
    assert sum(looks.values()) <= 300 * 1.02
    assert min(looks.values()) == 1  # nobody skipped


def test_the_sweep_tells_each_customer_once_when_a_company_ends_or_is_renamed(
    watch_list: MemoryWatchList, clock: FakeClock
) -> None:
    kvk = watched_world(watch_list, 20, customers=2)
    bus = Bus()
    watcher = Watcher(kvk, watch_list, bus, clock, sweep_days=1)
    run_period(watcher, clock, days=1)  # the first look is the baseline: no events
    assert bus.events == []
    ended, renamed = numbers(20)[3], numbers(20)[7]
    kvk.register[ended] = (registration(ended, f"Bedrijf {ended}", active=False),)
    kvk.register[renamed] = (registration(renamed, "Nieuwe Naam B.V."),)
    run_period(watcher, clock, days=2)  # two periods: the second must not repeat anything
    told = sorted((kind, detail["customerId"]) for kind, detail in bus.events)
    assert told == sorted(
        [("KvkRegistrationEnded", f"c-{ended}-{i}") for i in range(2)]
        + [("KvkRegistrationChanged", f"c-{renamed}-{i}") for i in range(2)]
    )
    changed = next(detail for kind, detail in bus.events if kind == "KvkRegistrationChanged")
    assert (changed["changed"], changed["names"], changed["previousNames"]) == (
        ["name"],
        ["Nieuwe Naam B.V."],
        [f"Bedrijf {renamed}"],
    )
    ended_event = next(detail for kind, detail in bus.events if kind == "KvkRegistrationEnded")
    assert ended_event["reason"]["code"] == "NOT_ACTIVE"


def test_a_kvk_outage_is_never_a_change_and_the_sweep_goes_on_from_where_it_stopped(
    watch_list: MemoryWatchList, clock: FakeClock
) -> None:
    kvk = watched_world(watch_list, 10)
    bus = Bus()
    watcher = Watcher(kvk, watch_list, bus, clock, sweep_days=1)
    run_period(watcher, clock, days=1)
    kvk.down = True
    looked = len(kvk.looked_at)
    run_period(watcher, clock, days=0.5)
    assert bus.events == [] and len(kvk.looked_at) == looked
    kvk.down = False
    run_period(watcher, clock, days=1)
    assert bus.events == []  # nothing changed, nothing told
    assert {kvk.looked_at.count(number) for number in numbers(10)} >= {2}  # every number looked at again


def test_a_crash_mid_sweep_repeats_no_event_and_loses_none(watch_list: MemoryWatchList, clock: FakeClock) -> None:
    count = SWEEP_BATCH * 3
    kvk = watched_world(watch_list, count)
    bus = Bus()
    watcher = Watcher(kvk, watch_list, bus, clock, sweep_days=1)
    run_period(watcher, clock, days=1)
    for number in numbers(count):
        kvk.register[number] = (registration(number, f"Bedrijf {number}", active=False),)
    bus.fail_after = 10  # EventBridge goes away in the middle of a run
    with pytest.raises(ConnectionError):
        run_period(watcher, clock, days=1)
    bus.fail_after = None
    run_period(watcher, clock, days=2)
    told = [detail["kvkNumber"] for _, detail in bus.events]
    assert sorted(told) == numbers(count)  # every end told exactly once


# --- KVK's Mutatieservice -----------------------------------------------------------------------------


def at(clock: FakeClock, seconds_ago: float = 0) -> str:
    return dt.datetime.fromtimestamp(clock.time() - seconds_ago, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_signals_are_told_once_each_and_every_signalled_answer_is_forgotten(
    watch_list: MemoryWatchList, clock: FakeClock
) -> None:
    kvk = watched_world(watch_list, 3, customers=2)
    first, second, third = numbers(3)
    bus = Bus()
    watcher = Watcher(kvk, watch_list, bus, clock, sweep_days=30)
    watcher.poll("auto", Deadline.after(60, clock))  # the cursor starts now
    clock.advance(300)
    ended = Signal("s-1", first, "ended", reason={"code": "OO", "description": "opgeheven"})
    moved = Signal(
        "s-2", second, "transferred", reason={"code": "OG", "description": "overgegaan"}, to_kvk_number="87654321"
    )
    kvk.signals += [
        (SignalHeader("s-1", at(clock, 200), first, "SignaalBeeindiging_2025_01"), ended),
        (SignalHeader("s-2", at(clock, 150), second, "SignaalVoortzettingEnOverdracht_2025_01"), moved),
        (
            SignalHeader("s-3", at(clock, 100), third, "SignaalGewijzigdeInschrijving"),
            Signal("s-3", third, "changed", parts=("specialLegalStatus",)),
        ),
        (
            SignalHeader("s-4", at(clock, 90), "99999999", "SignaalGewijzigdeInschrijving"),
            Signal("s-4", "99999999", "changed", parts=("name",)),
        ),
    ]
    watcher.poll("auto", Deadline.after(60, clock))
    clock.advance(300)
    watcher.poll("auto", Deadline.after(60, clock))  # the overlap lists some again: told once
    kinds = sorted((kind, detail["kvkNumber"]) for kind, detail in bus.events)
    assert kinds == sorted(
        [("KvkRegistrationEnded", first)] * 2
        + [("KvkRegistrationTransferred", second)] * 2
        + [("KvkRegistrationChanged", third)] * 2
    )
    transferred = next(detail for kind, detail in bus.events if kind == "KvkRegistrationTransferred")
    assert (transferred["toKvkNumber"], transferred["role"]["code"]) == ("87654321", "OG")
    told_ended = next(detail for kind, detail in bus.events if kind == "KvkRegistrationEnded")
    assert told_ended["reason"] == {"code": "OO", "description": "opgeheven"}
    assert set(kvk.forgotten) == {first, second, third, "99999999"}  # unwatched numbers too


def test_an_unknown_signal_type_means_look_again(watch_list: MemoryWatchList, clock: FakeClock) -> None:
    kvk = watched_world(watch_list, 1)
    (number,) = numbers(1)
    bus = Bus()
    watcher = Watcher(kvk, watch_list, bus, clock, sweep_days=30)
    watcher.look(number, Deadline.after(60, clock), watching.Report())  # the baseline
    watcher.poll("auto", Deadline.after(60, clock))
    clock.advance(300)
    kvk.register[number] = (registration(number, "Heel Andere Naam"),)
    kvk.signals.append(
        (SignalHeader("s-9", at(clock, 100), number, "SignaalIetsNieuws_2027_01"), Signal("s-9", number, "unknown"))
    )
    watcher.poll("auto", Deadline.after(60, clock))
    assert [(kind, detail["changed"]) for kind, detail in bus.events] == [("KvkRegistrationChanged", ["name"])]


def test_a_poller_behind_by_weeks_reads_windows_of_at_most_a_week(
    watch_list: MemoryWatchList, clock: FakeClock
) -> None:
    kvk = Kvk()
    watcher = Watcher(kvk, watch_list, Bus(), clock, sweep_days=30)
    watch_list.move_cursor("signals:sub-1", at(clock, 20 * DAY))
    watcher.poll("sub-1", Deadline.after(240, clock))
    spans = [_seconds(until) - _seconds(since) for since, until in kvk.windows]
    assert len(spans) == 3 and max(spans) <= 7 * DAY + 60  # a minute of overlap
    assert kvk.windows[-1][1] == at(clock, 60)  # the newest minute waits for the next poll


def test_without_a_subscription_nothing_is_polled(watch_list: MemoryWatchList, clock: FakeClock) -> None:
    kvk = Kvk()
    report = Watcher(kvk, watch_list, Bus(), clock, sweep_days=30).poll("", Deadline.after(60, clock))
    assert kvk.windows == [] and "no active" in report.stopped


# --- the cache after a signal --------------------------------------------------------------------------


def test_a_forgotten_number_is_never_served_from_the_cache_again_not_even_stale(table: Table, clock: FakeClock) -> None:
    store = DynamoStore(table.client, table.name)
    cache = KvkCache(store, CachePolicy(), clock=clock)
    now = clock.time()
    for sk in ("ZOEKEN", "ZOEKEN#abc", "NAAMGEVING"):
        store.put(CacheKey(f"KVK#{KVK}", sk), Entry(True, {"x": 1}, now, now + DAY, now + 8 * DAY))
    store.put(CacheKey("KVK#11111111", "ZOEKEN"), Entry(True, {"x": 1}, now, now + DAY, now + 8 * DAY))
    assert cache.forget(f"KVK#{KVK}") == 3
    for sk in ("ZOEKEN", "ZOEKEN#abc", "NAAMGEVING"):
        entry = store.get(CacheKey(f"KVK#{KVK}", sk)).entry
        assert entry is not None and not entry.is_fresh(now) and not entry.usable_stale(now)
    other = store.get(CacheKey("KVK#11111111", "ZOEKEN")).entry
    assert other is not None and other.is_fresh(now)  # only the signalled number


def _registry() -> Any:
    from tests.unit.test_verify import FakeRegistry

    return FakeRegistry()


def _bucket(number: str) -> int:
    from kvkgate.aws.watch import bucket_of

    assert 0 <= bucket_of(number) < SWEEP_BUCKETS
    return bucket_of(number)


def _seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_sweep_on_the_table_resumes_from_its_cursor_after_a_crash(
    table_watch_list: DynamoWatchList, clock: FakeClock
) -> None:
    """The same crash as above, on the template's table: cursors, claims and snapshots in DynamoDB."""
    count = SWEEP_BATCH + 5
    kvk = watched_world(table_watch_list, count)
    bus = Bus()
    watcher = Watcher(kvk, table_watch_list, bus, clock, sweep_days=1)
    watcher.sweep(Deadline.after(240, clock))  # the cursor starts here
    for number in numbers(count):
        kvk.register[number] = (registration(number, f"Bedrijf {number}", active=False),)
    clock.advance(DAY)  # a whole period later: every bucket is due in one run
    bus.fail_after = 7
    with pytest.raises(ConnectionError):
        watcher.sweep(Deadline.after(240, clock))
    bus.fail_after = None
    watcher.sweep(Deadline.after(240, clock))
    assert sorted(detail["kvkNumber"] for _, detail in bus.events) == numbers(count)
    assert len(kvk.looked_at) <= count + SWEEP_BATCH  # at most one batch looked at twice


def test_a_rename_before_the_first_sweep_is_told_too(watch_list: MemoryWatchList, clock: FakeClock) -> None:
    """The watch starts from the names the decision saw, not from the sweep's first look."""
    from tests.unit.test_verify import FakeRegistry, branch, found

    registry = FakeRegistry(registrations_=found(Registrations((branch("Test BV Donald"),), 1)))
    assert watching.record(watch_list, check(registry), "c-1", registry, Deadline.after(10, clock))
    kvk = Kvk(register={KVK: (registration(KVK, "Donald Holding B.V."),)})
    bus = Bus()
    watcher = Watcher(kvk, watch_list, bus, clock, sweep_days=1)
    watcher.look(KVK, Deadline.after(60, clock), watching.Report())  # the first look
    assert [(kind, detail["previousNames"]) for kind, detail in bus.events] == [
        ("KvkRegistrationChanged", ["Test BV Donald"])
    ]


REASON = {"code": "OO", "description": ""}
SAMPLES = [
    ("ended", Change(KVK, "ended", "s", "mutatieservice", "t", reason=REASON, names=("a",), previous_names=("a",))),
    ("changed", Change(KVK, "changed", "s", "sweep", "t", parts=("name",), names=("b",), previous_names=("a",))),
    ("transferred", Change(KVK, "transferred", "s", "mutatieservice", "t", to_kvk_number="69599084", reason=REASON)),
]


@pytest.mark.parametrize(("example", "change"), SAMPLES)
def test_the_sample_events_are_what_the_code_sends(example: str, change: Change) -> None:
    import json
    from pathlib import Path

    sample = json.loads(
        (Path(__file__).parents[2] / "events" / f"eventbridge-kvk-registration-{example}.json").read_text()
    )
    assert sample["detail-type"] == EVENT_TYPES[change.kind]
    assert set(sample["detail"]) == set(event_detail(change, "c-123"))

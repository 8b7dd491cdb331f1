"""Watching customers' companies after sign-up: two sources of change, one handler.

* :func:`record` puts a decided registration on the watch list for a customer (the worker, the
  pre-sign-up trigger, the API with ``watch: true``); :func:`forget` takes a customer off it
  (``CustomerDeleted``).
* :meth:`Watcher.sweep` (scheduled) looks at every watched number once per ``sweep_days`` with
  free Zoeken, in ``SWEEP_BUCKETS`` steps, resumable from a cursor moved after each batch of looks:
  a crash repeats at most one batch of looks and no event.
* :meth:`Watcher.poll` (scheduled, with a Mutatieservice subscription) reads signal headers from a
  cursor (windows of at most 7 days, overlapping by a minute), drops the ones already handled,
  forgets every cached answer about a signalled number, and for watched numbers reads the detail.
* :meth:`Watcher.tell` turns changes into one event per change per customer. Each is claimed in the
  table before it is published and marked sent after, so handling a change again tells nobody twice.

An outage of KVK is never a change: a look KVK could not answer (or answered from a stale cache)
stops the run where it is, and the next run goes on from there.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from kvkgate import telemetry
from kvkgate.clock import Clock, Deadline
from kvkgate.domain.contracts import ValidationResult
from kvkgate.domain.outcomes import Busy, TooManyRequests, Unavailable
from kvkgate.domain.ports import ChangeFeed, Publisher, Registry, SignalHeader, Watched, WatchList
from kvkgate.domain.watch import (
    DECIDED,
    EVENT_TYPES,
    SWEEP_BUCKETS,
    Change,
    Snapshot,
    changes_from_signal,
    compare,
    event_detail,
    snapshot_of,
    with_names,
)

logger = logging.getLogger(__name__)
SWEEP_CURSOR = "sweep"
SWEEP_BATCH = 25  # numbers looked at between two moves of the cursor
WINDOW_SECONDS = 7 * 86_400  # the longest period KVK hands out signals for at once
OVERLAP_SECONDS = 60  # each window starts a minute before the last one ended: late signals are not missed
SETTLE_SECONDS = 60  # the newest minute is left for the next poll (signals still being written)
FIRST_LOOK_SECONDS = 900  # a new subscription's cursor starts this far back, not at the start of time
ONE_LOOK_SECONDS = 5.0  # what one look (a KVK call and its bookkeeping) may take; no look starts without it


class StopHere(Exception):
    """KVK (or the table) could not answer a look: the run stops, and the next one goes on from here."""


def record(
    watch_list: WatchList,
    result: ValidationResult,
    customer: str | None,
    registry: Registry | None = None,
    deadline: Deadline | None = None,
) -> bool:
    """Watch the registration of a decided verification for ``customer``: registered and active only
    (an unregistered or ended number has nothing left to tell). The decision stands either way.

    What the register showed is the watch's starting point: its names from ``registry`` (the answer
    the decision was made from, cached: no KVK call), so a rename before the first sweep is told too.
    """
    if not customer or result.checks.registered != "pass" or result.checks.active != "pass":
        return False
    start = _as_decided(result.kvk_number, registry, deadline)
    try:
        recorded = watch_list.watch(result.kvk_number, customer, start.to_json())
    except Exception as error:  # the table is down: the decision stands, the watch is counted missing
        telemetry.count("WatchNotRecorded")
        logger.warning("could not watch %s for a customer: %s: %s", result.kvk_number, type(error).__name__, error)
        return False
    if not recorded:
        telemetry.count("WatchNotRecorded")
    return recorded


def _as_decided(number: str, registry: Registry | None, deadline: Deadline | None) -> Snapshot:
    """The registrations the decision saw (from the cache); registered and active if they cannot be had."""
    if registry is None or deadline is None:
        return DECIDED
    try:
        seen = snapshot_of(registry.registrations(number, deadline).value)
    except (Unavailable, TooManyRequests):
        return DECIDED
    return seen if seen.active else DECIDED


def forget(watch_list: WatchList, customer: str) -> int:
    """Stop watching anything for ``customer`` and forget them (their ``CustomerDeleted``)."""
    return watch_list.forget_customer(customer)


@dataclass
class Report:
    looked_at: int = 0
    changes: int = 0
    events: int = 0
    signals: int = 0
    stopped: str = ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class Watcher:
    def __init__(
        self, feed: ChangeFeed, watch_list: WatchList, publisher: Publisher, clock: Clock, sweep_days: float
    ) -> None:
        self.feed = feed
        self.watch_list = watch_list
        self.publisher = publisher
        self.clock = clock
        self.step = sweep_days * 86_400 / SWEEP_BUCKETS
        self._subscription: str | None = None  # found once per environment ("auto")

    # -- the free sweep ------------------------------------------------------------------------------

    def sweep(self, deadline: Deadline) -> Report:
        report = Report()
        due = math.floor(self.clock.time() / self.step)
        step, after = self._sweep_cursor(due)
        try:
            while step <= due:
                if not self._sweep_bucket(step, after, deadline, report):
                    return report
                step, after = step + 1, ""
        except StopHere as stop:
            report.stopped = str(stop)
            return report
        # Empty buckets move nothing on the way: a crash only makes the next run ask again for them.
        self.watch_list.move_cursor(SWEEP_CURSOR, f"{step}:")
        return report

    def _sweep_cursor(self, due: int) -> tuple[int, str]:
        """Where the last run got to: (step, last number done); a new sweep starts at the current step,
        one that fell behind by more than a period skips ahead (each number is looked at once a period)."""
        saved = self.watch_list.cursor(SWEEP_CURSOR)
        if not saved:
            return due, ""
        step_text, _, after = saved.partition(":")
        step = int(step_text) if step_text.isdigit() else due
        return (max(step, due - SWEEP_BUCKETS + 1), after) if step <= due else (due + 1, "")

    def _sweep_bucket(self, step: int, after: str, deadline: Deadline, report: Report) -> bool:
        """Look at one bucket's numbers, in batches; False when out of time (the cursor holds the place)."""
        batch: list[str] = []
        for number in self.watch_list.numbers_in(step % SWEEP_BUCKETS, after):
            batch.append(number)
            if len(batch) == SWEEP_BATCH:
                if not self._sweep_batch(step, batch, deadline, report):
                    return False
                batch = []
        return self._sweep_batch(step, batch, deadline, report) if batch else True

    def _sweep_batch(self, step: int, batch: list[str], deadline: Deadline, report: Report) -> bool:
        for number in batch:
            if not deadline.allows(ONE_LOOK_SECONDS):
                return False  # the batch is looked at again next run: looks, never events, repeat
            self.look(number, deadline, report)
        self.watch_list.move_cursor(SWEEP_CURSOR, f"{step}:{batch[-1]}")
        return True

    def look(self, number: str, deadline: Deadline, report: Report, signal_id: str | None = None) -> Snapshot:
        """Compare what KVK shows now with what it showed last time, and tell what changed."""
        watched = self.watch_list.watched(number)
        if watched is None:
            self.watch_list.unschedule(number)
            return Snapshot(registered=False, active=False)
        after = self._current(number, deadline)
        report.looked_at += 1
        changes = compare(number, Snapshot.from_json(watched.snapshot), after, self._now())
        self.tell(changes, watched, report)
        self.watch_list.remember(number, after.to_json())
        return after

    def _current(self, number: str, deadline: Deadline) -> Snapshot:
        try:
            answer = self.feed.current_registrations(number, deadline)
        except (Unavailable, Busy) as outage:
            raise StopHere(f"KVK could not be asked about {number}: {outage}") from None
        if answer.stale:
            raise StopHere(f"KVK failed for {number}; only a stale answer was at hand")
        return snapshot_of(answer.value)

    # -- KVK's Mutatieservice ------------------------------------------------------------------------

    def poll(self, configured: str, deadline: Deadline) -> Report:
        report = Report()
        try:
            subscription = self._subscription or self.feed.subscription(configured, deadline)
            self._subscription = subscription
            if subscription is None:
                report.stopped = "no active Mutatieservice subscription"
                return report
            self._poll(subscription, deadline, report)
        except (StopHere, Unavailable, Busy) as stop:
            report.stopped = str(stop)
        return report

    def _poll(self, subscription: str, deadline: Deadline, report: Report) -> None:
        name = f"signals:{subscription}"
        now = self.clock.time()
        since = _epoch(self.watch_list.cursor(name)) or now - FIRST_LOOK_SECONDS
        limit = now - SETTLE_SECONDS
        while since < limit and deadline.allows(ONE_LOOK_SECONDS):
            until = min(since + WINDOW_SECONDS, limit)
            headers = self.feed.signal_headers(subscription, _iso(since - OVERLAP_SECONDS), _iso(until), deadline)
            for header in sorted(headers, key=lambda item: item.at):
                if not deadline.allows(ONE_LOOK_SECONDS):
                    return  # the window is read again next time; what was handled is skipped then
                self._signal(subscription, header, deadline, report)
            self.watch_list.move_cursor(name, _iso(until))
            since = until

    def _signal(self, subscription: str, header: SignalHeader, deadline: Deadline, report: Report) -> None:
        if not self.watch_list.first_sight(header.id):
            return
        report.signals += 1
        self.feed.forget(header.kvk_number)  # no cached answer older than the signal is served again
        watched = self.watch_list.watched(header.kvk_number)
        if watched is not None:
            signal = self.feed.signal(subscription, header, deadline)
            changes = changes_from_signal(signal, self._now())
            before = Snapshot.from_json(watched.snapshot)
            if changes is None:  # a kind of signal not known here: something changed, look again
                self.look(header.kvk_number, deadline, report)
            else:
                after = self._current_or_none(header.kvk_number, deadline)
                self.tell([with_names(change, before, after) for change in changes], watched, report)
                if after is not None:
                    self.watch_list.remember(header.kvk_number, after.to_json())
        self.watch_list.handled(header.id)

    def _current_or_none(self, number: str, deadline: Deadline) -> Snapshot | None:
        """The names the register shows now, for the event; the signal is told without them if KVK fails."""
        try:
            return self._current(number, deadline)
        except StopHere as stop:
            logger.warning("told a signalled change without the current names: %s", stop)
            return None

    # -- one handler ---------------------------------------------------------------------------------

    def tell(self, changes: Iterable[Change], watched: Watched, report: Report) -> None:
        """One event per change per customer, each claimed before it is published and marked sent after."""
        for change in changes:
            report.changes += 1
            telemetry.count(EVENT_TYPES[change.kind])
            for customer in watched.customers:
                if not self.watch_list.claim_event(change.change_id, customer):
                    continue
                try:
                    self.publisher.publish(EVENT_TYPES[change.kind], event_detail(change, customer))
                except Exception:
                    self.watch_list.release_event(change.change_id, customer)
                    raise
                self.watch_list.event_sent(change.change_id, customer)
                report.events += 1

    def _now(self) -> str:
        return _iso(self.clock.time())


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None

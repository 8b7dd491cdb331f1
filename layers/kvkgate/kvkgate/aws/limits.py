"""KVK's limits, held where KVK counts them: at its door, for every function and execution environment.

:class:`GlobalRateLimiter` keeps one DynamoDB item (``pk`` ``LIMIT#kvk``, ``sk`` ``gcra``) holding

* ``nextSlot``: the start of the next free call slot (GCRA). Taking a slot advances it by the
  interval ``T`` in one conditional update, so slots are spaced at least ``T`` apart;
* ``calls#YYYY-MM`` / ``paidCalls#YYYY-MM``: this month's calls, counted by the same update, which
  refuses the slot when the budget is spent (paid calls stop at a share of the quota);
* ``nextSlot#signup``: the pre-sign-up trigger's own schedule. KVK's rate is split
  (:func:`rate_shares`) into whole calls a second for the trigger and for everyone else, each pool
  on its own schedule, so no amount of API or onboarding traffic can take the slots a sign-up
  needs. The argument below holds per schedule; the pools' rates add up to at most the rate.

**The guarantee.** At most ``rate`` calls *arrive* at KVK in any sliding second, whatever the
callers' scheduling jitter. The argument:

1. Slot starts ``s₁ < s₂ < …`` are at least ``T`` apart: a busy schedule advances by ``T``
   atomically; an idle one (next slot before ``now + lead - grace``) restarts at ``now + lead``,
   which is more than ``T + grace`` after the previous slot. ``lead`` is the limiter's own round
   trip: a slot granted for "now" would be late by the time DynamoDB's answer arrives. Each
   environment learns its own (it doubles after a forfeit, up to 0.25 s, and shrinks back while
   slots are used in time); the argument holds for any lead, since the condition is per update.
2. A slot is usable only inside its window ``[s, s + grace]``. A caller that wakes later (CPU,
   GC, a descheduled process) forfeits it and takes a new slot, so every call is *sent* in the
   window of its own slot. The KVK client takes the slot at the last moment before the request
   bytes go out (httpcore's ``send_request_headers`` trace event, after the connection and any
   TLS handshake are ready), so nothing slow sits between "granted" and "sent".
3. A call arrives ``d`` after it is sent, with ``d`` varying by at most ``jitter``. So the
   arrivals in any second ``[a, a + 1)`` come from slots that start in an interval of length
   ``L = 1 + grace + jitter``, which holds at most ``⌊L / T⌋ + 1`` slots.
4. ``T = 1 / (rate · margin)`` with ``margin < 1 / L`` gives ``L / T < rate``, hence at most
   ``rate`` arrivals in any second.

**Admission control.** A slot is granted only if it starts within ``max_queue_seconds`` and leaves
the caller at least ``call_seconds`` before its deadline. Otherwise the update's condition fails,
nothing is written (no slot, no budget) and the caller gets :class:`~kvkgate.kvk.errors.Shed` at
once: under overload, requests are refused early instead of queueing until they time out after
spending a slot. ``nextSlot`` never moves backwards, so once an environment has seen the queue
reach past a caller's bound it refuses without asking DynamoDB at all; once it has seen the queue
past half the bound, :meth:`GlobalRateLimiter.admit` reads the schedule (one read) before the
caller takes a cache lease, so a refusal costs no write.

Deciding slot and budget in one conditional update means no slot is used by a call the budget
refuses and no call is counted that the limiter refused. (design.md §7 sketches separate window
and quota items; docs/design-notes.md says why not.)

:class:`KvkGuard` puts the limiter in front of the client (the ``CallLimiter`` seam) and degrades
safely when DynamoDB cannot be used: each environment then allows ``rate / expected_environments``
from its own bucket, free calls only; paid calls are refused until the table is back, and an
update that timed out (it may have taken a slot) is never followed by a second grant.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvkgate import telemetry
from kvkgate.aws.dynamo import StoreUnavailable, is_conditional_failure, number, store_error
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.errors import BudgetExhausted, Shed, TemporarilyUnavailable
from kvkgate.kvk.throttle import TokenBucket

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

LIMITER_KEY = {"pk": {"S": "LIMIT#kvk"}, "sk": {"S": "gcra"}}
# After this many lost races for an idle schedule, pause a random fraction of a slot before the next.
QUIET_ROUNDS = 3
# How long an environment stays degraded (skipping DynamoDB) after the table failed.
DEGRADED_SECONDS = 5.0
# The furthest ahead an idle schedule grants when this environment's round trips are slow.
MAX_LEAD_SECONDS = 0.25


SHARED_SCHEDULE = "shared"
SIGNUP_SCHEDULE = "signup"


def rate_shares(rate: float, signup_share: float) -> tuple[float, float]:
    """KVK's rate split into (everyone else's, the sign-up trigger's), both whole calls a second.

    Whole numbers keep the guarantee exact per schedule (at most ``⌊L / T⌋ + 1 ≤ r`` arrivals in any
    second for a whole ``r``), so the two together stay within the rate. No split (the trigger then
    shares the one schedule) when the share is 0 or the rate is below 2 calls a second.
    """
    whole = math.floor(rate)
    if signup_share <= 0 or whole < 2:
        return rate, 0.0
    signup = min(max(1, round(whole * signup_share)), whole - 1)
    return float(whole - signup), float(signup)


@dataclass(frozen=True)
class Door:
    """The timing at KVK's door the guarantee is built on (see the module docstring)."""

    grace: float = 0.02  # a slot must be used this soon after its start, or it is forfeited
    jitter: float = 0.03  # how much the time from sending a call to KVK counting it may vary
    lead: float = 0.02  # how far ahead an idle schedule grants: the limiter update's round trip

    @property
    def busy_from(self) -> float:
        """A next slot at or after ``now + busy_from`` is taken as it is; an earlier one restarts the schedule."""
        return self.lead - self.grace

    @property
    def margin(self) -> float:
        """Schedule below the rate so that any second of arrivals holds at most ``rate`` calls."""
        return 0.999 / (1.0 + self.grace + self.jitter)


@dataclass(frozen=True)
class Admission:
    """Who may take a slot: only callers with time for the call, and nobody waits too long."""

    call_seconds: float = 1.0
    max_queue_seconds: float = 1.0


@dataclass(frozen=True)
class Budget:
    """``quota`` calls a month; paid calls only while fewer than ``paid_share`` of it are used.

    The sign-up gate (pre-sign-up trigger, onboarding) has a reserved ``gate_share`` of the quota:
    the API's calls stop at the rest, so anonymous traffic cannot drain what sign-ups need. One
    counter holds everyone's calls; each pool only has its own ceiling.
    """

    quota: int
    paid_share: float = 0.95
    gate_share: float = 0.0
    pool: str = "gate"

    def cap(self, api: KvkApi) -> int:
        ceiling = self.quota if self.pool == "gate" else self.quota * (1 - self.gate_share)
        return math.floor(ceiling * self.paid_share) if api.paid else math.floor(ceiling)


@dataclass(frozen=True)
class BudgetStatus:
    month: str
    calls: int
    paid_calls: int


@dataclass(frozen=True)
class Slot:
    """A granted call slot: start the call in ``[start, use_by]`` or give the slot up."""

    start: float
    use_by: float


class AmbiguousUpdate(StoreUnavailable):
    """A limiter update timed out on the client side: DynamoDB may have applied it (and granted a slot)."""


class GlobalRateLimiter:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        rate: float,
        budget: Budget | None = None,
        clock: Clock = SYSTEM_CLOCK,
        door: Door | None = None,
        admission: Admission | None = None,
        schedule: str = SHARED_SCHEDULE,
    ) -> None:
        self._client = client
        # Each pool's schedule is its own attribute of the one limiter item (the budget stays shared).
        self._slot = "nextSlot" if schedule == SHARED_SCHEDULE else f"nextSlot#{schedule}"
        self._table = table
        self.door = door or Door()
        self.admission = admission or Admission()
        self.rate = rate
        self.interval = 1.0 / (rate * self.door.margin)
        self.budget = budget
        self._clock = clock
        self._random = random.Random()  # noqa: S311 - jitter, not security
        self._last_seen_next = -math.inf  # a fact: the schedule never moves back
        self._busy_until = -math.inf  # a guess, for the busy/idle choice only
        self._lead = self.door.lead  # grows while this environment's slots arrive late (slow table, cold TLS)

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        """Return inside a slot's window (start the call now); raise Shed or BudgetExhausted if there is none."""
        while True:
            slot = self.reserve(api, deadline)
            wait = slot.start - self._clock.time()
            if wait > 0:
                telemetry.count("LimiterWaits")
                self._clock.sleep(wait)
            late = self._clock.time() - slot.start
            if late <= self.door.grace:
                self._lead = max(self.door.lead, self._lead * 0.9)
                return
            # Woke too late: a call sent now could arrive bunched with the calls of later slots.
            # Ask further ahead next time, so a slow round trip (cold connection, loaded table)
            # does not forfeit every slot it is granted.
            telemetry.count("LimiterForfeits")
            self._lead = min(MAX_LEAD_SECONDS, max(2 * self._lead, late + self.door.lead))
            self._uncount(api)

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        """Refuse at once what cannot get a slot in time, before the caller takes a cache lease.

        No I/O while this environment last saw the queue well inside the caller's bound. Once it
        saw it past half the bound (overload), one eventually consistent read of the schedule
        decides: a refused caller then costs that read instead of a lease, a refused update and
        the lease's release, which is what keeps refusals fast while the table is busiest.
        """
        now = self._clock.time()
        latest = self._latest(now, deadline)
        if self._last_seen_next - now <= (latest - now) / 2:
            return
        try:
            item = self._client.get_item(TableName=self._table, Key=LIMITER_KEY).get("Item")
        except Exception as error:  # the update that follows meets the same outage and degrades
            logger.warning("could not read the KVK call schedule: %s", store_error(error))
            return
        scheduled = number(item, self._slot)
        if scheduled is not None:
            self._saw(max(self._last_seen_next, scheduled), now)
        self._latest(now, deadline)

    def _latest(self, now: float, deadline: Deadline) -> float:
        """The latest start the caller may be given; Shed if there can be none."""
        room = min(self.admission.max_queue_seconds, deadline.remaining() - self.admission.call_seconds)
        if room < 0:
            telemetry.count("LimiterShed")
            raise Shed("not enough time left for a KVK call", retry_after=self.interval)
        latest = now + room
        if self._last_seen_next > latest:
            # The schedule only moves forward: there is no slot by ``latest`` now either. No need to ask.
            telemetry.count("LimiterShed")
            wait = self._last_seen_next - now
            raise Shed(f"no KVK call slot soon enough (next in {wait:.3f}s)", retry_after=wait)
        return latest

    def reserve(self, api: KvkApi, deadline: Deadline) -> Slot:
        """Take the next slot the caller may use, in one conditional update (two when the guess is wrong)."""
        rounds = 0
        while True:
            now = self._clock.time()
            latest = self._latest(now, deadline)
            # Guess from what we saw last whether the schedule is busy or idle: a right guess is
            # one round trip, a wrong one two. Busy first: that is where the traffic is.
            lead = max(0.0, min(self._lead, latest - now))
            if max(self._last_seen_next, self._busy_until) >= now + lead - self.door.grace:
                start = self._take_next_slot(api, now, latest, lead) or self._restart_idle_schedule(
                    api, now, latest, lead
                )
            else:
                start = self._restart_idle_schedule(api, now, latest, lead) or self._take_next_slot(
                    api, now, latest, lead
                )
            if start is not None:
                return Slot(start, start + self.door.grace)
            rounds += 1
            pause = self._random.uniform(0, self.interval) if rounds > QUIET_ROUNDS else 0.0
            if not deadline.allows(pause + self.admission.call_seconds):
                telemetry.count("LimiterShed")
                raise Shed("no KVK call slot (limiter contended)", retry_after=self.interval)
            if pause:
                self._clock.sleep(pause)

    def usage(self) -> BudgetStatus:
        month = self._month()
        try:
            item = self._client.get_item(TableName=self._table, Key=LIMITER_KEY, ConsistentRead=True).get("Item")
        except Exception as error:
            raise store_error(error) from error
        calls, paid = number(item, f"calls#{month}"), number(item, f"paidCalls#{month}")
        return BudgetStatus(month, int(calls or 0), int(paid or 0))

    # -- the two conditional updates --------------------------------------------------------------

    def _take_next_slot(self, api: KvkApi, now: float, latest: float, lead: float) -> float | None:
        """Advance a busy schedule by one slot (if it starts by ``latest``) and return its start.

        None when the schedule is idle (its next slot is before ``now + lead - grace``) or there is none.
        """
        done, item = self._update(
            api,
            "SET #slot = #slot + :interval",
            "#slot >= :oldest AND #slot <= :latest",
            {":interval": _n(self.interval), ":oldest": _n(now + lead - self.door.grace), ":latest": _n(latest)},
        )
        if not done:
            self._explain_refusal(api, item, now, latest)
            return None
        new_next = number(item, self._slot)
        assert new_next is not None  # noqa: S101 - ALL_NEW always holds the attribute just set
        self._saw(new_next, now)
        self._report_budget(item)
        return new_next - self.interval

    def _restart_idle_schedule(self, api: KvkApi, now: float, latest: float, lead: float) -> float | None:
        """Claim ``now + lead`` on an idle schedule; None if it is busy (or another caller won).

        Refused because the busy schedule's next slot is after ``latest``: Shed at once, without
        the second round trip the busy update would cost to learn the same.

        The condition keeps the new start more than ``grace`` after the last slot's end whatever
        ``lead`` this environment uses, so step 1 of the argument holds across environments.
        """
        start = now + lead
        done, item = self._update(
            api,
            "SET #slot = :next",
            "attribute_not_exists(#slot) OR #slot < :oldest",
            {":next": _n(start + self.interval), ":oldest": _n(now + lead - self.door.grace)},
        )
        if not done:
            self._explain_refusal(api, item, now, latest)
            return None
        self._saw(start + self.interval, now)
        self._report_budget(item)
        return start

    def _uncount(self, api: KvkApi) -> None:
        """A forfeited slot's call never happens: take it out of the month's count again."""
        if self.budget is None:
            return
        month = self._month()
        names = {"#calls": f"calls#{month}"} | ({"#paid": f"paidCalls#{month}"} if api.paid else {})
        try:
            self._client.update_item(
                TableName=self._table,
                Key=LIMITER_KEY,
                UpdateExpression="ADD " + ", ".join(f"{name} :minus" for name in names),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":minus": {"N": "-1"}},
            )
        except Exception as error:
            logger.warning("could not uncount a forfeited KVK call slot: %s", store_error(error))

    def _report_budget(self, item: dict[str, Any]) -> None:
        if self.budget is not None:
            telemetry.gauge("BudgetUsedCalls", number(item, f"calls#{self._month()}") or 0)

    def _update(self, api: KvkApi, setter: str, condition: str, values: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Run one slot update that also counts the call: (True, new item) or (False, the item as it was)."""
        names: dict[str, str] = {"#slot": self._slot}
        counting = ""
        if self.budget is not None:
            month = self._month()
            names["#calls"] = f"calls#{month}"
            counting = " ADD #calls :one"
            if api.paid:
                names["#paid"] = f"paidCalls#{month}"
                counting += ", #paid :one"
            condition = f"({condition}) AND (attribute_not_exists(#calls) OR #calls < :cap)"
            values = {**values, ":one": {"N": "1"}, ":cap": {"N": str(self.budget.cap(api))}}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": LIMITER_KEY,
            "UpdateExpression": setter + counting,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        arguments["ExpressionAttributeNames"] = names
        try:
            attributes: dict[str, Any] = self._client.update_item(**arguments).get("Attributes", {})
        except Exception as error:
            if is_conditional_failure(error):
                return False, getattr(error, "response", {}).get("Item") or {}
            if _timed_out_reading(error):
                raise AmbiguousUpdate(f"limiter update timed out: {type(error).__name__}") from error
            raise store_error(error) from error
        return True, attributes

    def _saw(self, next_slot: float, now: float) -> None:
        """Remember where the schedule was, and guess how long it stays busy.

        A queue deeper than this environment's own slot means other environments are calling too;
        they are expected to go on for about as long again, so a caller here soon after its own
        slot guesses busy (one round trip) instead of idle (two, when others kept it busy).
        """
        self._last_seen_next = next_slot
        others = next_slot - now - 2 * self.interval
        self._busy_until = next_slot + max(0.0, others)

    def _explain_refusal(self, api: KvkApi, item: dict[str, Any], now: float, latest: float) -> None:
        """Raise if a refused update means "budget spent" or "no slot in time"; else return None."""
        scheduled = number(item, self._slot)
        if scheduled is not None:
            self._saw(scheduled, now)
        if self.budget is not None:
            month = self._month()
            calls = number(item, f"calls#{month}") or 0
            if calls >= self.budget.cap(api):
                telemetry.count("BudgetRefused")
                kind = "paid" if api.paid else "all"
                cap = self.budget.cap(api)
                raise BudgetExhausted(
                    f"the monthly KVK budget for {kind} calls is spent ({int(calls)} of {cap} in {month})"
                )
        if scheduled is not None and scheduled > latest:
            telemetry.count("LimiterShed")
            raise Shed(f"no KVK call slot soon enough (next in {scheduled - now:.3f}s)", retry_after=scheduled - now)

    def _month(self) -> str:
        return dt.datetime.fromtimestamp(self._clock.time(), dt.UTC).strftime("%Y-%m")


def _timed_out_reading(error: Exception) -> bool:
    """A read timeout means the request was sent and may have been applied; a connect timeout means it was not."""
    from botocore.exceptions import ReadTimeoutError

    return isinstance(error, ReadTimeoutError)


class KvkGuard:
    """The global limiter (with the budget) in front of every KVK call, and what to do when DynamoDB is down."""

    def __init__(
        self, limiter: GlobalRateLimiter, expected_environments: int = 10, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._limiter = limiter
        self._clock = clock
        # Every environment may be degraded at once: together they must still stay inside the rate.
        self.degraded_rate = limiter.rate / max(expected_environments, 1)
        self._fallback = TokenBucket(self.degraded_rate, capacity=1.0, clock=clock)
        self._degraded_until = -math.inf

    @property
    def degraded(self) -> bool:
        return self._clock.monotonic() < self._degraded_until

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        if not self.degraded:
            self._limiter.admit(api, deadline)

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        if not self.degraded:
            try:
                self._limiter.acquire(api, deadline)
                return
            except AmbiguousUpdate as error:
                self._degrade(error)
                # The update may have taken a slot: a second grant from the bucket could exceed the rate.
                raise TemporarilyUnavailable("the KVK rate limiter did not answer in time") from None
            except StoreUnavailable as error:
                self._degrade(error)
        self._degraded_acquire(api, deadline)

    def _degrade(self, error: StoreUnavailable) -> None:
        if not self.degraded:
            logger.warning(
                "KVK rate limiter degraded for %.0fs (DynamoDB: %s): %.2f free calls/s from this environment,"
                " paid calls refused",
                DEGRADED_SECONDS,
                error,
                self.degraded_rate,
            )
        self._degraded_until = self._clock.monotonic() + DEGRADED_SECONDS

    def _degraded_acquire(self, api: KvkApi, deadline: Deadline) -> None:
        telemetry.count("LimiterDegraded")
        if api.paid:
            # Without the table nothing counts the budget: only free calls go on.
            raise TemporarilyUnavailable("paid KVK calls wait for the rate limiter's table to be reachable")
        self._fallback.acquire(api, deadline)


def _n(value: float) -> dict[str, Any]:
    return {"N": f"{value:.6f}"}

"""KVK's limits, shared by every function and execution environment through DynamoDB.

:class:`GlobalRateLimiter` keeps one item (``pk`` ``LIMIT#kvk``, ``sk`` ``gcra``) holding

* ``nextSlot``: the earliest start of the next KVK call (GCRA). Each call advances it by
  ``1 / rate`` in one conditional update, so calls are spaced evenly. Fixed one-second windows
  would let twice the rate through across a window boundary; even spacing never exceeds the
  rate in *any* one-second window.
* ``calls#YYYY-MM`` / ``paidCalls#YYYY-MM``: this month's calls. The same update counts the
  call and refuses it when the budget is spent: paid calls stop at a share of the quota, so free
  Zoeken keeps working until the quota itself is spent.

Deciding slot and budget in one conditional update means no slot is used by a call the budget
refuses and no call is counted that the limiter refused, at one DynamoDB round trip per call.
(design.md §7 sketches separate window and quota items; docs/design-notes.md says why not.)

:class:`KvkGuard` puts it in front of the client (the ``CallLimiter`` seam) and falls back to
the per-process token bucket when DynamoDB is unavailable.
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
from kvkgate.kvk.errors import BudgetExhausted, RateLimited
from kvkgate.kvk.throttle import CallLimiter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

LIMITER_KEY = {"pk": {"S": "LIMIT#kvk"}, "sk": {"S": "gcra"}}
# Schedule a little below the limit: the time between taking a slot and KVK receiving the call
# varies by a few milliseconds, and that jitter must not push any one-second window over.
SCHEDULING_MARGIN = 0.97
# Leave this much of the caller's deadline for the call itself.
CALL_RESERVE_SECONDS = 0.05
# After this many lost races for an idle schedule, pause a random fraction of a slot before the next.
QUIET_ROUNDS = 3


@dataclass(frozen=True)
class Budget:
    """``quota`` calls a month; paid calls only while fewer than ``paid_share`` of it are used."""

    quota: int
    paid_share: float = 0.95

    def cap(self, api: KvkApi) -> int:
        return math.floor(self.quota * self.paid_share) if api.paid else self.quota


@dataclass(frozen=True)
class BudgetStatus:
    month: str
    calls: int
    paid_calls: int


class GlobalRateLimiter:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        rate: float,
        budget: Budget | None = None,
        clock: Clock = SYSTEM_CLOCK,
        margin: float = SCHEDULING_MARGIN,
    ) -> None:
        self._client = client
        self._table = table
        self.interval = 1.0 / (rate * margin)
        # A slot this far in the past may still be taken (its call starts at once, a little late),
        # so a caller that lost the race to restart an idle schedule need not race again. Any one
        # second then grants at most rate * margin * (1 + lag) + 1 calls: still within the rate.
        self.lag = (1.0 / margin - 1.0) / 2
        self.budget = budget
        self._clock = clock
        self._random = random.Random()  # noqa: S311 - jitter, not security
        self._last_seen_next = -math.inf

    def acquire(self, api: KvkApi, deadline: Deadline) -> None:
        rounds = 0
        while True:
            now = self._clock.time()
            latest = now + max(deadline.remaining() - CALL_RESERVE_SECONDS, 0.0)
            # Guess from what we saw last whether the schedule is busy or idle: a right guess is
            # one round trip, a wrong one two.
            if self._last_seen_next >= now - self.lag:
                start = self._take_next_slot(api, now, latest) or self._restart_idle_schedule(api, now)
            else:
                start = self._restart_idle_schedule(api, now) or self._take_next_slot(api, now, latest)
            if start is not None:
                self._wait_until(start, now)
                return
            rounds += 1
            pause = self._random.uniform(0, self.interval) if rounds > QUIET_ROUNDS else 0.0
            if not deadline.allows(pause + CALL_RESERVE_SECONDS):
                telemetry.count("LimiterRefused")
                raise RateLimited("no KVK call slot within the deadline (limiter contended)", retry_after=self.interval)
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

    def _take_next_slot(self, api: KvkApi, now: float, latest: float) -> float | None:
        """Advance a busy schedule by one slot (if it is due before ``latest``) and return its start.

        None when the schedule is idle: its next slot lies more than ``lag`` in the past, or there is none.
        """
        done, item = self._update(
            api,
            "SET nextSlot = nextSlot + :interval",
            "nextSlot >= :oldest AND nextSlot <= :latest",
            {":interval": _n(self.interval), ":oldest": _n(now - self.lag), ":latest": _n(latest)},
        )
        if not done:
            self._explain_refusal(api, item, now, latest)
            return None
        new_next = number(item, "nextSlot")
        assert new_next is not None  # noqa: S101 - ALL_NEW always holds the attribute just set
        self._last_seen_next = new_next
        self._report_budget(item)
        return new_next - self.interval

    def _restart_idle_schedule(self, api: KvkApi, now: float) -> float | None:
        """Claim "now" on an idle schedule; None if it is busy (or another caller won)."""
        done, item = self._update(
            api,
            "SET nextSlot = :next",
            "attribute_not_exists(nextSlot) OR nextSlot < :oldest",
            {":next": _n(now + self.interval), ":oldest": _n(now - self.lag)},
        )
        if not done:
            self._explain_refusal(api, item, now, math.inf)
            return None
        self._last_seen_next = now + self.interval
        self._report_budget(item)
        return now

    def _report_budget(self, item: dict[str, Any]) -> None:
        if self.budget is not None:
            telemetry.gauge("BudgetUsedCalls", number(item, f"calls#{self._month()}") or 0)

    def _update(self, api: KvkApi, setter: str, condition: str, values: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Run one slot update that also counts the call: (True, new item) or (False, the item as it was)."""
        names: dict[str, str] = {}
        counting = ""
        if self.budget is not None:
            month = self._month()
            names = {"#calls": f"calls#{month}"}
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
        if names:
            arguments["ExpressionAttributeNames"] = names
        try:
            attributes: dict[str, Any] = self._client.update_item(**arguments).get("Attributes", {})
        except Exception as error:
            if not is_conditional_failure(error):
                raise store_error(error) from error
            return False, getattr(error, "response", {}).get("Item") or {}
        return True, attributes

    def _explain_refusal(self, api: KvkApi, item: dict[str, Any], now: float, latest: float) -> None:
        """Raise if a refused update means "budget spent" or "no slot in time"; else return None."""
        scheduled = number(item, "nextSlot")
        if scheduled is not None:
            self._last_seen_next = scheduled
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
            telemetry.count("LimiterRefused")
            raise RateLimited(
                f"no KVK call slot within the deadline (next in {scheduled - now:.3f}s)", retry_after=scheduled - now
            )

    def _wait_until(self, start: float, now: float) -> None:
        wait = start - now
        if wait > 0:
            telemetry.count("LimiterWaits")
            self._clock.sleep(wait)

    def _month(self) -> str:
        return dt.datetime.fromtimestamp(self._clock.time(), dt.UTC).strftime("%Y-%m")


class KvkGuard:
    """The global limiter (with the budget) in front of every KVK call; degrades when DynamoDB is unavailable."""

    def __init__(self, limiter: GlobalRateLimiter, fallback: CallLimiter) -> None:
        self._limiter = limiter
        self._fallback = fallback

    def acquire(self, api: KvkApi, deadline: Deadline) -> None:
        try:
            self._limiter.acquire(api, deadline)
        except StoreUnavailable as error:
            # Failing open on the budget: KVK enforces its own quota; refusing every sign-up would be worse.
            telemetry.count("LimiterDegraded")
            logger.warning("global KVK rate limiter unavailable, using the per-process bucket: %s", error)
            self._fallback.acquire(api, deadline)


def _n(value: float) -> dict[str, Any]:
    return {"N": f"{value:.6f}"}

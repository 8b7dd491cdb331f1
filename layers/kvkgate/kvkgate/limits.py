"""KVK's limits, shared by every function and execution environment through DynamoDB.

* :class:`GlobalRateLimiter` spaces all KVK calls evenly (GCRA: a "next free slot" time in one
  item, advanced by one conditional update per call). Fixed one-second windows would let twice
  the rate through across a window boundary; even spacing never exceeds the rate in *any*
  one-second window.
* :class:`MonthlyBudget` counts calls per month (all, and paid) and stops paid calls at a share
  of the quota, so free Zoeken keeps working until the quota itself is spent.
* :class:`KvkGuard` puts both in front of the client (the ``CallLimiter`` seam) and falls back to
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
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.dynamo import StoreUnavailable, is_aws_error, is_conditional_failure, number
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.errors import BudgetExhausted, RateLimited
from kvkgate.throttle import CallLimiter

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


class GlobalRateLimiter:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        rate: float,
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
        self._clock = clock
        self._random = random.Random()  # noqa: S311 - jitter, not security

    def acquire(self, api: KvkApi, deadline: Deadline) -> None:
        rounds = 0
        while True:
            now = self._clock.time()
            latest = now + max(deadline.remaining() - CALL_RESERVE_SECONDS, 0.0)
            start = self._take_next_slot(now, latest)
            if start is None:
                start = self._restart_idle_schedule(now)
            if start is not None:
                self._wait_until(start, now)
                return
            # Another caller restarted the idle schedule first; someone always wins a round.
            rounds += 1
            pause = self._random.uniform(0, self.interval) if rounds > QUIET_ROUNDS else 0.0
            if not deadline.allows(pause + CALL_RESERVE_SECONDS):
                telemetry.count("LimiterRefused")
                raise RateLimited("no KVK call slot within the deadline (limiter contended)", retry_after=self.interval)
            if pause:
                self._clock.sleep(pause)

    def _take_next_slot(self, now: float, latest: float) -> float | None:
        """Advance the schedule by one slot if it lies between ``now - lag`` and ``latest``; return it.

        None when the schedule is idle (its next slot lies further in the past, or there is none).
        """
        try:
            result = self._client.update_item(
                TableName=self._table,
                Key=LIMITER_KEY,
                UpdateExpression="SET nextSlot = nextSlot + :interval",
                ConditionExpression="nextSlot >= :oldest AND nextSlot <= :latest",
                ExpressionAttributeValues={
                    ":interval": _n(self.interval),
                    ":oldest": _n(now - self.lag),
                    ":latest": _n(latest),
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise _unavailable(error) from error
            scheduled = number(getattr(error, "response", {}).get("Item"), "nextSlot")
            if scheduled is not None and scheduled > latest:
                telemetry.count("LimiterRefused")
                raise RateLimited(
                    f"no KVK call slot within the deadline (next in {scheduled - now:.3f}s)",
                    retry_after=scheduled - now,
                ) from None
            return None
        new_next = number(result.get("Attributes"), "nextSlot")
        assert new_next is not None  # noqa: S101 - UPDATED_NEW always returns the attribute we set
        return new_next - self.interval

    def _restart_idle_schedule(self, now: float) -> float | None:
        """Claim "now" when the schedule has fallen behind the clock; None if another caller won."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=LIMITER_KEY,
                UpdateExpression="SET nextSlot = :next",
                ConditionExpression="attribute_not_exists(nextSlot) OR nextSlot < :oldest",
                ExpressionAttributeValues={":next": _n(now + self.interval), ":oldest": _n(now - self.lag)},
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise _unavailable(error) from error
            return None
        return now

    def _wait_until(self, start: float, now: float) -> None:
        wait = start - now
        if wait > 0:
            telemetry.count("LimiterWaits")
            self._clock.sleep(wait)


@dataclass(frozen=True)
class BudgetStatus:
    month: str
    calls: int
    paid_calls: int


class MonthlyBudget:
    def __init__(
        self, client: DynamoDBClient, table: str, quota: int, paid_share: float, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._client = client
        self._table = table
        self.quota = quota
        self.paid_cap = math.floor(quota * paid_share)
        self._clock = clock

    def _month(self) -> str:
        return dt.datetime.fromtimestamp(self._clock.time(), dt.UTC).strftime("%Y-%m")

    def take(self, api: KvkApi) -> BudgetStatus:
        """Count one call to ``api`` this month, or raise :class:`BudgetExhausted`."""
        month = self._month()
        cap = self.paid_cap if api.paid else self.quota
        increments = "calls :one, paidCalls :one" if api.paid else "calls :one"
        try:
            result = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": "QUOTA#kvk"}, "sk": {"S": month}},
                UpdateExpression=f"ADD {increments} SET expiresAt = if_not_exists(expiresAt, :expires)",
                ConditionExpression="attribute_not_exists(calls) OR calls < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(cap)},
                    ":expires": {"N": str(int(self._clock.time()) + 400 * 86_400)},
                },
                ReturnValues="ALL_NEW",
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise _unavailable(error) from error
            telemetry.count("BudgetRefused")
            kind = "paid" if api.paid else "all"
            raise BudgetExhausted(
                f"the monthly KVK budget for {kind} calls is spent ({cap} calls in {month})"
            ) from None
        item = result.get("Attributes", {})
        status = BudgetStatus(month, int(number(item, "calls") or 0), int(number(item, "paidCalls") or 0))
        telemetry.count("BudgetCallsCounted")
        return status

    def status(self) -> BudgetStatus:
        month = self._month()
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": "QUOTA#kvk"}, "sk": {"S": month}}, ConsistentRead=True
        ).get("Item")
        return BudgetStatus(month, int(number(item, "calls") or 0), int(number(item, "paidCalls") or 0))


class KvkGuard:
    """Rate limit, then budget, in front of every KVK call; degrades when DynamoDB is unavailable."""

    def __init__(self, limiter: GlobalRateLimiter, budget: MonthlyBudget | None, fallback: CallLimiter) -> None:
        self._limiter = limiter
        self._budget = budget
        self._fallback = fallback

    def acquire(self, api: KvkApi, deadline: Deadline) -> None:
        try:
            self._limiter.acquire(api, deadline)
        except StoreUnavailable as error:
            telemetry.count("LimiterDegraded")
            logger.warning("global KVK rate limiter unavailable, using the per-process bucket: %s", error)
            self._fallback.acquire(api, deadline)
        if self._budget is None:
            return
        try:
            self._budget.take(api)
        except StoreUnavailable as error:
            # Failing open: KVK enforces its own quota; refusing every sign-up would be worse.
            telemetry.count("BudgetUnavailable")
            logger.warning("monthly KVK budget could not be counted, allowing the call: %s", error)


def _n(value: float) -> dict[str, Any]:
    return {"N": f"{value:.6f}"}


def _unavailable(error: Exception) -> StoreUnavailable:
    """Wrap an AWS failure for the caller to degrade on; anything else is a bug and propagates."""
    if is_aws_error(error):
        return StoreUnavailable(f"DynamoDB: {type(error).__name__}: {error}")
    raise error

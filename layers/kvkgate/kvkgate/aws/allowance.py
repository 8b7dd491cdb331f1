"""The sign-up gate's daily allowance of paid KVK calls.

Cognito's ``SignUp`` is anonymous: whoever knows an app client id can start as many sign-ups as
Cognito allows, each with a made-up company name on a real KVK number. The pre-sign-up trigger
therefore never pays (its allowance is 0: refused without any I/O), and the onboarding worker,
which checks such names later, spends at most ``per_day`` paid calls per UTC day, counted in one
conditional update of one item (``pk`` ``LIMIT#gate-paid``, ``sk`` ``D#<date>``). Past it the name
stays unconfirmed (a final answer, ``NAME_CHECK_LIMITED``) and ``GatePaidAllowanceReached`` is
counted. A call the limits further on refuse is refunded. Free calls pass untouched; cached
answers never reach this seam.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import TYPE_CHECKING

from kvkgate import telemetry
from kvkgate.aws.dynamo import is_conditional_failure, store_error
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.errors import PaidCallRefused, TemporarilyUnavailable
from kvkgate.kvk.throttle import CallLimiter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)
DAY_SECONDS = 86_400
ALLOWANCE_KEY = "LIMIT#gate-paid"


class PaidAllowance:
    """At most ``per_day`` paid KVK calls a UTC day through this seam, for every environment together."""

    def __init__(
        self,
        client: DynamoDBClient | None,
        table: str | None,
        per_day: int,
        then: CallLimiter,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._client = client
        self._table = table
        self.per_day = per_day
        self._then = then
        self._clock = clock
        self._spent_until = -math.inf  # this environment saw today's allowance spent

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        if api.paid:
            self._refuse_if_spent()
        self._then.admit(api, deadline)

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        if not api.paid or not first:
            self._then.acquire(api, deadline, first=first)
            return
        day = self._charge()
        try:
            self._then.acquire(api, deadline, first=first)
        except BaseException:
            self._refund(day)  # refused further on: nothing reached KVK
            raise

    def _refuse_if_spent(self) -> None:
        now = self._clock.time()
        if self.per_day <= 0:
            raise PaidCallRefused("the sign-up gate makes no paid KVK calls here", retry_after=_to_midnight(now))
        if now < self._spent_until:
            raise PaidCallRefused(
                "the sign-up gate's paid KVK calls for today are spent", retry_after=self._spent_until - now
            )

    def _charge(self) -> str:
        self._refuse_if_spent()
        now = self._clock.time()
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        if self._client is None or self._table is None:  # no table (local runs): nothing counts the allowance
            raise TemporarilyUnavailable("the sign-up gate's paid allowance cannot be counted without its table")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(day),
                UpdateExpression="ADD calls :one SET expiresAt = if_not_exists(expiresAt, :expires)",
                ConditionExpression="attribute_not_exists(calls) OR calls < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(self.per_day)},
                    ":expires": {"N": str(int(now + _to_midnight(now) + DAY_SECONDS))},
                },
            )
        except Exception as error:
            if is_conditional_failure(error):
                self._spent_until = now + _to_midnight(now)
                telemetry.count("GatePaidAllowanceReached")
                logger.warning("the sign-up gate's %d paid KVK calls for %s are spent", self.per_day, day)
                raise PaidCallRefused(
                    "the sign-up gate's paid KVK calls for today are spent", retry_after=_to_midnight(now)
                ) from None
            # Money is not spent uncounted: a paid call waits until the table can count it.
            raise TemporarilyUnavailable(
                f"the sign-up gate's paid allowance cannot be counted: {store_error(error)}"
            ) from None
        return day

    def _refund(self, day: str) -> None:
        if self._client is None or self._table is None:
            return
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(day),
                UpdateExpression="ADD calls :minus",
                ExpressionAttributeValues={":minus": {"N": "-1"}},
            )
        except Exception as error:
            logger.warning("could not give back a paid call of the sign-up gate's allowance: %s", store_error(error))


def _key(day: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": ALLOWANCE_KEY}, "sk": {"S": f"D#{day}"}}


def _to_midnight(now: float) -> float:
    return DAY_SECONDS - now % DAY_SECONDS

"""Per-caller budgets: one client (source IP or API client id) cannot spend everyone's KVK budget.

Counted per KVK call in fixed one-minute windows (item ``pk`` ``CALLER#<caller>``, ``sk`` the
window), by one conditional update. Only calls that reach KVK count: cache answers are free. The
caller is set per request with :func:`caller_scope`; the check plugs into the client's
``CallLimiter`` seam in front of the global limiter.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kvkgate import telemetry
from kvkgate.aws.dynamo import is_conditional_failure, store_error
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.domain.outcomes import CallerBudgetExceeded
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.throttle import CallLimiter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60
_current_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar("kvkgate_caller", default=None)


@contextlib.contextmanager
def caller_scope(caller: str | None) -> Iterator[None]:
    """KVK calls made inside count against ``caller`` (None: not counted, e.g. internal workers)."""
    token = _current_caller.set(caller)
    try:
        yield
    finally:
        _current_caller.reset(token)


class CallerBudget:
    def __init__(
        self, client: DynamoDBClient, table: str, per_minute: int, then: CallLimiter, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._client = client
        self._table = table
        self.per_minute = per_minute
        self._then = then
        self._clock = clock

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        self._then.admit(api, deadline)

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        """Charge the caller once per lookup (not per retry), and only for a call that gets its slot."""
        caller = _current_caller.get() if first else None
        charged = caller is not None and self._charge(caller)
        try:
            self._then.acquire(api, deadline, first=first)
        except BaseException:
            if charged and caller is not None:
                self._refund(caller)  # refused further on: nothing reached KVK
            raise

    def _key(self, caller: str, window: int) -> dict[str, Any]:
        # Hash the caller: IP addresses are personal data and need not sit in the table readable.
        key = hashlib.sha256(caller.encode()).hexdigest()[:32]
        return {"pk": {"S": f"CALLER#{key}"}, "sk": {"S": str(window)}}

    def _refund(self, caller: str) -> None:
        window = int(self._clock.time() // WINDOW_SECONDS)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(caller, window),
                UpdateExpression="ADD calls :minus",
                ConditionExpression="calls > :zero",
                ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
            )
        except Exception as error:
            if not is_conditional_failure(error):
                logger.warning("caller budget refund failed: %s", store_error(error))

    def _charge(self, caller: str) -> bool:
        """Count one call for the caller; True if it was counted (False: the table is unavailable)."""
        now = self._clock.time()
        window = int(now // WINDOW_SECONDS)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(caller, window),
                UpdateExpression="ADD calls :one SET expiresAt = if_not_exists(expiresAt, :expires)",
                ConditionExpression="attribute_not_exists(calls) OR calls < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self.per_minute)},
                    ":expires": {"N": str((window + 2) * WINDOW_SECONDS)},
                },
            )
        except Exception as error:
            if is_conditional_failure(error):
                telemetry.count("CallerBudgetRefused")
                raise CallerBudgetExceeded(caller, self.per_minute, (window + 1) * WINDOW_SECONDS - now) from None
            failure = store_error(error)  # anything but an AWS failure is a bug and propagates
            # Fail open: a fairness limit must not take the service down with DynamoDB.
            telemetry.count("CallerBudgetUnavailable")
            logger.warning("caller budget could not be counted: %s", failure)
            return False
        return True

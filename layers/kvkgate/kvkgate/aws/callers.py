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
from typing import TYPE_CHECKING

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

    def acquire(self, api: KvkApi, deadline: Deadline) -> None:
        caller = _current_caller.get()
        if caller is not None:
            self._count(caller)
        self._then.acquire(api, deadline)

    def _count(self, caller: str) -> None:
        now = self._clock.time()
        window = int(now // WINDOW_SECONDS)
        # Hash the caller: IP addresses are personal data and need not sit in the table readable.
        key = hashlib.sha256(caller.encode()).hexdigest()[:32]
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"CALLER#{key}"}, "sk": {"S": str(window)}},
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

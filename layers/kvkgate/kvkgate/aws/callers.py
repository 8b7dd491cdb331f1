"""Per-caller budgets: one caller cannot spend everyone's KVK budget, and anonymous callers cannot spend money.

A caller is an API client or user (a JWT's subject within its app client, an IAM role or user) or,
anonymous, an IPv4 address or an IPv6 /64 (one household or office network owns a whole /64).
A caller's groups have budgets of their own, a multiple of one caller's, and every one applies:
the /56 and /48 around an IPv6 /64, the app client a JWT's users share. Its key in the table is an HMAC of that
identity under a secret the stack generates, not a bare hash anyone could reverse by trying every
IPv4 address.

Counted per KVK lookup (retries of the same lookup are not charged again), in one conditional
update of one item per caller and UTC day (``pk`` ``CALLER#<hmac>``, ``sk`` ``D#<date>``): the
day's ``calls``, this minute's ``m<minute>``, and for anonymous callers their paid calls
(``paid``). Anonymous paid calls (Naamgeving behind a validation's name check) also count against
one daily total for all anonymous callers together (``ANON#paid``). A call the limits further on
refuse is refunded: a caller pays only for calls that get their slot at KVK. Cache answers are free.

A refusal is remembered in memory until it expires: a flood from one caller (a whole IPv6 /64)
then costs no table write per request, only the first one.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvkgate import telemetry
from kvkgate.aws.dynamo import is_conditional_failure, number, store_error
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.config import ConfigError
from kvkgate.domain.outcomes import CallerBudgetExceeded
from kvkgate.domain.ports import Caller
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.errors import PaidCallRefused
from kvkgate.kvk.throttle import CallLimiter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)
DAY_SECONDS = 86_400
REMEMBERED_REFUSALS = 10_000
_current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("kvkgate_caller", default=None)


@contextlib.contextmanager
def caller_scope(caller: Caller | None) -> Iterator[None]:
    """KVK calls made inside count against ``caller`` (None: not counted, e.g. the sign-up gate's own workers)."""
    token = _current_caller.set(caller)
    try:
        yield
    finally:
        _current_caller.reset(token)


@dataclass(frozen=True)
class CallerLimits:
    per_minute: int = 60
    per_day: int = 200
    anonymous_paid_per_day: int = 3  # one anonymous caller's paid lookups a day
    anonymous_paid_total_per_day: int = 200  # all anonymous callers' paid lookups a day, together


@dataclass(frozen=True)
class _Charge:
    key: dict[str, Any]
    names: dict[str, str]


class CallerBudget:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        limits: CallerLimits,
        secret: Callable[[], bytes],
        then: CallLimiter,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._client = client
        self._table = table
        self.limits = limits
        self._secret = secret
        self._then = then
        self._clock = clock
        # (caller key or "*", "all" or "paid") -> (until, the refusal to raise until then)
        self._refusals: dict[tuple[str, str], tuple[float, Callable[[float], Exception]]] = {}

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        """Refuse a caller already known to be over its budget before anything is asked of the table."""
        caller = _current_caller.get()
        if caller is not None:
            self._raise_remembered(caller, caller.anonymous and api.paid)
        self._then.admit(api, deadline)

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        """Charge the caller once per lookup, and only for a call that gets its slot."""
        caller = _current_caller.get() if first else None
        if caller is not None:
            self._raise_remembered(caller, caller.anonymous and api.paid)
        charges = self._charge(caller, api) if caller is not None else []
        try:
            self._then.acquire(api, deadline, first=first)
        except BaseException:
            for charge in charges:
                self._refund(charge)  # refused further on: nothing reached KVK
            raise

    def _raise_remembered(self, caller: Caller, paid: bool) -> None:
        now = self._clock.time()
        scopes = [(key, "all") for key, _ in _budgets(caller)]
        for scope in [*scopes, *([(caller.key, "paid"), ("*", "paid")] if paid else [])]:
            remembered = self._refusals.get(scope)
            if remembered is not None and now < remembered[0]:
                raise remembered[1](remembered[0] - now)

    def _remember(self, scope: tuple[str, str], until: float, refusal: Callable[[float], Exception]) -> Exception:
        if len(self._refusals) >= REMEMBERED_REFUSALS:
            now = self._clock.time()
            self._refusals = {key: value for key, value in self._refusals.items() if value[0] > now}
            while len(self._refusals) >= REMEMBERED_REFUSALS:
                del self._refusals[next(iter(self._refusals))]
        self._refusals[scope] = (until, refusal)
        return refusal(until - self._clock.time())

    def key_of(self, caller: Caller) -> str:
        """The caller as stored: an HMAC under the stack's secret (IP addresses are personal data)."""
        return hmac.new(self._secret(), caller.key.encode(), hashlib.sha256).hexdigest()[:32]

    def _stored_key(self, caller: Caller, paid: bool) -> str | None:
        """None when the key's secret cannot be read: free lookups go on uncounted, anonymous paid ones stop."""
        try:
            return self.key_of(caller)
        except ConfigError:
            raise
        except Exception as error:  # Secrets Manager through Powertools: GetParameterError around anything
            telemetry.count("CallerBudgetUnavailable")
            logger.warning("caller key secret could not be read: %s: %s", type(error).__name__, error)
            if paid:
                raise PaidCallRefused(
                    "paid lookups for anonymous callers cannot be counted now", retry_after=60.0
                ) from None
            return None

    # -- the updates -------------------------------------------------------------------------------

    def _charge(self, caller: Caller, api: KvkApi) -> list[_Charge]:
        """One count under the caller's own budget and each of its groups'; refused by any, refunded in all."""
        now = self._clock.time()
        paid = caller.anonymous and api.paid
        charges: list[_Charge] = []
        try:
            for key, scale in _budgets(caller):
                charge = self._charge_one(caller, key, scale, paid and key == caller.key, now)
                if charge is None:  # the key's secret cannot be read: free lookups go on uncounted
                    return charges
                charges.append(charge)
            if paid:
                charges.append(self._charge_everyone(now))
        except BaseException:
            for charge in charges:
                self._refund(charge)
            raise
        return charges

    def _charge_one(self, caller: Caller, key: str, scale: int, paid: bool, now: float) -> _Charge | None:
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        minute = f"m{int(now % DAY_SECONDS // 60)}"
        names = {"#calls": "calls", "#minute": minute} | ({"#paid": "paid"} if paid else {})
        limits = {"#calls": self.limits.per_day * scale, "#minute": self.limits.per_minute * scale}
        if paid:
            limits["#paid"] = self.limits.anonymous_paid_per_day
        stored = self._stored_key(Caller(key, caller.anonymous), paid)
        if stored is None:
            return None
        charge = _Charge({"pk": {"S": f"CALLER#{stored}"}, "sk": {"S": f"D#{day}"}}, names)
        refused = self._add(charge, limits, now)
        if refused is not None:
            raise self._refusal(key, refused, limits, now)
        return charge

    def _charge_everyone(self, now: float) -> _Charge:
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        everyone = _Charge({"pk": {"S": "ANON#paid"}, "sk": {"S": f"D#{day}"}}, {"#calls": "calls"})
        if self._add(everyone, {"#calls": self.limits.anonymous_paid_total_per_day}, now) is not None:
            telemetry.count("AnonymousPaidCapReached")
            raise self._remember(
                ("*", "paid"),
                now + _to_midnight(now),
                lambda wait: PaidCallRefused(
                    "anonymous callers' paid KVK lookups for today are spent", retry_after=wait
                ),
            )
        return everyone

    def _add(self, charge: _Charge, limits: dict[str, int], now: float) -> dict[str, Any] | None:
        """Count one call under every name, if each stays under its limit; the item as it was when refused.

        Fails open (None, counted nothing) when DynamoDB cannot be used: a fairness limit must not
        take the service down with it.
        """
        condition = " AND ".join(f"(attribute_not_exists({name}) OR {name} < :{name[1:]})" for name in limits)
        values = {f":{name[1:]}": {"N": str(limit)} for name, limit in limits.items()}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=charge.key,
                UpdateExpression="ADD "
                + ", ".join(f"{name} :one" for name in charge.names)
                + " SET expiresAt = if_not_exists(expiresAt, :expires)",
                ConditionExpression=condition,
                ExpressionAttributeNames=charge.names,
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":expires": {"N": str(int(now + _to_midnight(now) + DAY_SECONDS))},
                    **values,
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if is_conditional_failure(error):
                return dict(getattr(error, "response", {}).get("Item") or {})
            failure = store_error(error)  # anything but an AWS failure is a bug and propagates
            telemetry.count("CallerBudgetUnavailable")
            logger.warning("caller budget could not be counted: %s", failure)
        return None

    def _refusal(self, key: str, item: dict[str, Any], limits: dict[str, int], now: float) -> Exception:
        """Which limit refused: the anonymous paid one, the day's or the minute's (remembered until it ends)."""
        if "#paid" in limits and (number(item, "paid") or 0) >= limits["#paid"]:
            telemetry.count("AnonymousPaidCapReached")
            return self._remember(
                (key, "paid"),
                now + _to_midnight(now),
                lambda wait: PaidCallRefused("this caller's paid KVK lookups for today are spent", retry_after=wait),
            )
        telemetry.count("CallerBudgetRefused")
        if (number(item, "calls") or 0) >= limits["#calls"]:
            per_day = limits["#calls"]
            return self._remember(
                (key, "all"),
                now + _to_midnight(now),
                lambda wait: CallerBudgetExceeded(key, per_day, wait, per="day"),
            )
        per_minute = limits["#minute"]
        return self._remember(
            (key, "all"),
            now + 60 - now % 60,
            lambda wait: CallerBudgetExceeded(key, per_minute, wait, per="minute"),
        )

    def _refund(self, charge: _Charge) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=charge.key,
                UpdateExpression="ADD " + ", ".join(f"{name} :minus" for name in charge.names),
                ExpressionAttributeNames=charge.names,
                ExpressionAttributeValues={":minus": {"N": "-1"}},
            )
        except Exception as error:
            logger.warning("caller budget refund failed: %s", store_error(error))


def _budgets(caller: Caller) -> list[tuple[str, int]]:
    """Every budget a lookup of ``caller`` counts against: its own, then its groups' (key, scale)."""
    return [(caller.key, 1), *((group.key, group.scale) for group in caller.groups)]


def _to_midnight(now: float) -> float:
    return DAY_SECONDS - now % DAY_SECONDS

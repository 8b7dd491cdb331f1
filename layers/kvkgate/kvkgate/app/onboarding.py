"""Onboarding (design §5): verify a ``CustomerSignedUp`` event and publish the result on the bus.

* A malformed message (not JSON, no ``kvkNumber``, ...) is not retried: it is answered at once
  with ``KvkVerificationCompleted`` / ``invalid`` / ``INVALID_REQUEST``.
* ``unverified`` (KVK could not be asked) is not a result: the message fails and SQS delivers it
  again, each time later (:func:`retry_delay`: 30 s doubling to 15 min). On its last delivery
  ``KvkVerificationFailed`` is published first, so nothing is lost silently; the message then goes
  to the dead-letter queue. A spent monthly budget does not come back within the deliveries: it is
  reported with ``KvkVerificationFailed`` / ``BUDGET_EXHAUSTED`` at once and not retried.
* KVK's rate taken for longer than the worker may queue (:class:`~kvkgate.domain.outcomes.Busy`):
  the message comes back later, like an outage.
* A configuration error (a setting missing, a secret that does not exist) is retried like an outage,
  and reported with ``KvkVerificationFailed`` / ``CONFIGURATION_ERROR`` on the last delivery.
* Anything else publishes ``KvkVerificationCompleted`` with the same verdict as POST /v1/validations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kvkgate.app import misconfiguration, strict_json
from kvkgate.app import watch as watching
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError
from kvkgate.domain.contracts import Meta, Reason, ValidationRequest, ValidationResult, field_errors
from kvkgate.domain.outcomes import BUDGET_EXHAUSTED, CONFIGURATION_ERROR, TooManyRequests, UserNotFound
from kvkgate.domain.ports import (
    COMPLETED,
    CUSTOMER_DELETED,
    FAILED,
    Publisher,
    Redelivery,
    Registry,
    UserPool,
    WatchList,
)
from kvkgate.domain.verify import Policy, validate
from kvkgate.texts import say

logger = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 64 * 1024


FIRST_RETRY_SECONDS = 30
LAST_RETRY_SECONDS = 15 * 60


class RetryLater(Exception):
    """KVK could not be asked; let SQS deliver the message again (not before ``retry_after`` when KVK
    asked for patience: IPD1003 "probeer het over 5 minuten")."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# SQS keeps a message invisible for at most 12 hours.
LONGEST_DELAY_SECONDS = 12 * 3600


def retry_delay(receive_count: int) -> int:
    """How long a failed message stays invisible after its ``receive_count``-th delivery: 30 s doubling to 15 min."""
    return int(min(FIRST_RETRY_SECONDS * 2 ** max(receive_count - 1, 0), LAST_RETRY_SECONDS))


def back_off(
    event: dict[str, Any],
    response: dict[str, Any],
    redelivery: Redelivery | None,
    asked: dict[str, float] | None = None,
) -> None:
    """Make each record the batch response reports failed come back after its :func:`retry_delay`,
    or later when KVK asked for more patience for it (``asked``: message id -> seconds)."""
    if redelivery is None:
        return
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    for record in event.get("Records") or []:
        if isinstance(record, dict) and record.get("messageId") in failed:
            try:
                count = receive_count(_object(record.get("attributes")).get("ApproximateReceiveCount"))
                patience = (asked or {}).get(str(record.get("messageId")), 0.0)
                delay = min(max(retry_delay(count), math.ceil(patience)), LONGEST_DELAY_SECONDS)
                redelivery.later(record["receiptHandle"], delay)
            except Exception as error:  # the queue's own visibility timeout still brings it back
                logger.warning("could not delay the retry of %s: %s", record.get("messageId"), error)


@dataclass
class FairShare:
    """Splits an invocation's time evenly over the records still to do, so one slow record cannot
    leave the rest of the batch without time (and burn their delivery)."""

    deadline: Deadline
    records: int
    started: int = 0

    def next(self) -> Deadline:
        left = max(self.records - self.started, 1)
        self.started += 1
        share = Deadline.after(self.deadline.remaining() / left, self.deadline.clock)
        return share if share.at < self.deadline.at else self.deadline


@dataclass(frozen=True)
class Message:
    body: str
    receive_count: int
    max_receives: int

    @property
    def last_delivery(self) -> bool:
        return self.receive_count >= self.max_receives


def receive_count(value: object) -> int:
    """SQS's ApproximateReceiveCount; a record whose count is not a number is malformed (that record fails)."""
    if value is None or value == "":
        return 1
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ValueError(f"ApproximateReceiveCount is not a count: {str(value)[:40]!r}")
    return max(int(value), 1)


def work_of(body: object, count: object) -> dict[str, Any]:
    """What the idempotent step of the worker sees of an SQS record: its key, body and delivery count."""
    if not isinstance(body, str):
        raise ValueError("the SQS record has no body")  # a malformed envelope: only this record fails
    return {"key": idempotency_key(body), "body": body, "receive_count": receive_count(count)}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _read(body: str) -> Any:
    """The message's JSON, strictly (bounded nesting and numbers): a hostile body is answered, never retried."""
    return strict_json.loads(body.encode("utf-8", "surrogatepass"), max_string_chars=MAX_MESSAGE_BYTES)


def idempotency_key(body: str) -> str:
    """EventBridge's event id when there is one (the same event delivered twice), else the body."""
    try:
        event = _read(body)
    except strict_json.NotJson:
        event = None
    if isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"]:
        return "event:" + str(event["id"])
    return "body:" + hashlib.sha256(body.encode(errors="replace")).hexdigest()


# The fields of a CustomerSignedUp detail that the verification reads; producers may add others.
_REQUEST_FIELDS = ("kvkNumber", "tradeName", "postcode", "houseNumber", "branchNumber", "rsin")


@dataclass(frozen=True)
class _Parsed:
    request: ValidationRequest | None
    customer: str | None
    problems: list[dict[str, str]]
    user_pool_id: str | None = None  # set by the sign-up gate: the decision is recorded on the user
    deleted: bool = False  # a CustomerDeleted: stop watching anything for the customer


def _parsed(body: str) -> _Parsed:
    """The validation request in the message, its customer id and user pool if readable, and what is wrong with it."""
    if len(body.encode(errors="replace")) > MAX_MESSAGE_BYTES:
        return _Parsed(None, None, [{"field": "body", "message": say("body.too_large", limit=MAX_MESSAGE_BYTES)}])
    try:
        event = _read(body)
    except strict_json.NotJson as refused:
        return _Parsed(None, None, [{"field": "body", "message": refused.why}])
    detail = event.get("detail", event) if isinstance(event, dict) else None
    if not isinstance(detail, dict):
        return _Parsed(None, None, [{"field": "detail", "message": say("body.not_object")}])
    customer = detail.get("customerId") if isinstance(detail.get("customerId"), str) else None
    if isinstance(event, dict) and event.get("detail-type") == CUSTOMER_DELETED:
        if customer:
            return _Parsed(None, customer, [], deleted=True)
        return _Parsed(None, None, [{"field": "detail.customerId", "message": say("field.missing")}])
    pool = detail.get("userPoolId") if isinstance(detail.get("userPoolId"), str) else None
    fields = {name: detail[name] for name in _REQUEST_FIELDS if detail.get(name) is not None}
    try:
        return _Parsed(ValidationRequest.model_validate(fields), customer, [], pool)
    except ValidationError as error:
        problems = [{"field": f"detail.{item['field']}", "message": item["message"]} for item in field_errors(error)]
        return _Parsed(None, customer, problems)


def _invalid_request(customer: str | None, problems: list[dict[str, str]], now: dt.datetime) -> dict[str, Any]:
    message = "; ".join(f"{problem['field']}: {problem['message']}" for problem in problems)
    return {
        "customerId": customer,
        "kvkNumber": None,
        "verdict": "invalid",
        "checks": None,
        "company": None,
        "reasons": [Reason(code="INVALID_REQUEST", message=say("reason.INVALID_REQUEST", problems=message)).to_json()],
        "meta": Meta.at(now, "none").to_json(),
    }


def _not_checked(customer: str | None, request: ValidationRequest, now: dt.datetime) -> dict[str, Any]:
    """A result that is no verdict: kvkgate's configuration kept KVK from being asked."""
    reason = Reason(code=CONFIGURATION_ERROR, message=say("reason.CONFIGURATION_ERROR"))
    return {
        "customerId": customer,
        "kvkNumber": request.kvk_number,
        "verdict": "unverified",
        "checks": None,
        "company": None,
        "reasons": [reason.to_json()],
        "meta": Meta.at(now, "none").to_json(),
    }


def _result_detail(customer: str | None, result: ValidationResult) -> dict[str, Any]:
    data = result.to_json()
    return {
        "customerId": customer,
        **{key: data[key] for key in ("kvkNumber", "verdict", "checks", "company", "reasons", "meta")},
    }


@dataclass(frozen=True)
class Keeping:
    """Where a decision is kept besides the bus: on the Cognito user, and on the watch list."""

    users: UserPool | None = None
    watch_list: WatchList | None = None
    watch: bool = False  # WATCH_CUSTOMERS: decided registrations are watched for their customer


def handle(
    message: Message,
    registry: Registry,
    publisher: Publisher,
    deadline: Deadline,
    now: Callable[[], dt.datetime],
    policy: Policy | None = None,
    keeping: Keeping | None = None,
) -> str:
    """Verify one message and publish its outcome. Returns the verdict; raises RetryLater to see it again.

    A message from the sign-up gate (it names the user pool) also gets the decision recorded on the
    user, before the result is published: a user not created yet is asked about again later. A
    decided registration is watched for the message's customer (``keeping.watch``); a
    ``CustomerDeleted`` takes the customer off the watch list.
    """
    keep = keeping or Keeping()
    parsed = _parsed(message.body)
    request, customer = parsed.request, parsed.customer
    if parsed.deleted and customer:
        return _forget(keep, customer)
    if request is None:
        publisher.publish(COMPLETED, _invalid_request(customer, parsed.problems, now()))
        return "invalid"
    try:
        result = validate(request, registry, deadline, now(), policy)
    except TooManyRequests as busy:
        raise RetryLater(str(busy)) from None
    except ConfigError as error:
        # The operator may fix it while the message comes back; the last delivery says why it was not checked.
        misconfiguration.report(error)
        if message.last_delivery:
            detail = {**_not_checked(customer, request, now()), "deliveries": message.receive_count}
            publisher.publish(FAILED, detail)
        raise RetryLater(str(error)) from None
    if result.verdict == "unverified":
        budget_spent = any(reason.code == BUDGET_EXHAUSTED for reason in result.reasons)
        if budget_spent or message.last_delivery:
            publisher.publish(FAILED, {**_result_detail(customer, result), "deliveries": message.receive_count})
        if budget_spent:
            return result.verdict
        raise RetryLater("; ".join(reason.message for reason in result.reasons), result.retry_after)
    if parsed.user_pool_id and customer and keep.users is not None:
        _record(keep.users, parsed.user_pool_id, customer, result, message)
    if keep.watch and keep.watch_list is not None:
        watching.record(keep.watch_list, result, customer, registry, deadline)
    publisher.publish(COMPLETED, _result_detail(customer, result))
    return result.verdict


def _forget(keep: Keeping, customer: str) -> str:
    """CustomerDeleted: nothing of the customer stays on the watch list (privacy), whatever WATCH_CUSTOMERS says."""
    if keep.watch_list is None:
        return "deleted"
    try:
        numbers = watching.forget(keep.watch_list, customer)
    except Exception as error:  # the table is down: the message comes back
        raise RetryLater(f"could not forget customer: {type(error).__name__}") from None
    logger.info("stopped watching %d number(s) for a deleted customer", numbers)
    return "deleted"


# A user the pool does not know after this many deliveries was never created (another trigger refused
# the sign-up, or the name was taken): the result is published without being recorded.
USER_CREATION_DELIVERIES = 3


def decision_of(result: ValidationResult) -> str:
    """What is written on the user: compact JSON that names the number it is about."""
    decision = {
        "verdict": result.verdict,
        "kvkNumber": result.kvk_number,
        "tradeName": result.checks.trade_name.result,
        "reasons": [reason.code for reason in result.reasons],
        "checkedAt": result.meta.checked_at,
    }
    return json.dumps(decision, separators=(",", ":"))


def _record(users: UserPool, pool: str, user: str, result: ValidationResult, message: Message) -> None:
    try:
        if not users.record_decision(pool, user, decision_of(result)):
            logger.warning("a decision for user pool %s, which this stack does not guard, is published only", pool)
    except UserNotFound:
        if message.receive_count < USER_CREATION_DELIVERIES:
            raise RetryLater(f"user {user} is not in the pool yet") from None
        logger.warning("user %s is not in pool %s: the decision is published, not recorded", user, pool)

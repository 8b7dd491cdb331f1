"""Onboarding (design §5): verify a ``CustomerSignedUp`` event and publish the result on the bus.

* A malformed message (not JSON, no ``kvkNumber``, ...) is not retried: it is answered at once
  with ``KvkVerificationCompleted`` / ``invalid`` / ``INVALID_REQUEST``.
* ``unverified`` (KVK could not be asked) is not a result: the message fails and SQS delivers it
  again with back-off. On its last delivery ``KvkVerificationFailed`` is published first, so
  nothing is lost silently; the message then goes to the dead-letter queue.
* Anything else publishes ``KvkVerificationCompleted`` with the same verdict as POST /v1/validations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kvkgate.clock import Deadline
from kvkgate.domain.contracts import Meta, Reason, ValidationRequest, ValidationResult, field_errors
from kvkgate.domain.ports import COMPLETED, FAILED, Publisher, Registry
from kvkgate.domain.verify import Policy, validate

MAX_MESSAGE_BYTES = 64 * 1024


class RetryLater(Exception):
    """KVK could not be asked; let SQS deliver the message again."""


@dataclass(frozen=True)
class Message:
    body: str
    receive_count: int
    max_receives: int

    @property
    def last_delivery(self) -> bool:
        return self.receive_count >= self.max_receives


def idempotency_key(body: str) -> str:
    """EventBridge's event id when there is one (the same event delivered twice), else the body."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"]:
        return "event:" + str(event["id"])
    return "body:" + hashlib.sha256(body.encode(errors="replace")).hexdigest()


# The fields of a CustomerSignedUp detail that the verification reads; producers may add others.
_REQUEST_FIELDS = ("kvkNumber", "tradeName", "postcode", "houseNumber")


def _request(body: str) -> tuple[ValidationRequest | None, str | None, list[dict[str, str]]]:
    """The validation request in the message, its customer id if readable, and what is wrong with it."""
    if len(body.encode(errors="replace")) > MAX_MESSAGE_BYTES:
        return None, None, [{"field": "body", "message": f"larger than {MAX_MESSAGE_BYTES} bytes"}]
    try:
        event = json.loads(body)
    except ValueError:
        return None, None, [{"field": "body", "message": "not JSON"}]
    detail = event.get("detail", event) if isinstance(event, dict) else None
    if not isinstance(detail, dict):
        return None, None, [{"field": "detail", "message": "must be a JSON object"}]
    customer = detail.get("customerId") if isinstance(detail.get("customerId"), str) else None
    fields = {name: detail[name] for name in _REQUEST_FIELDS if detail.get(name) is not None}
    try:
        return ValidationRequest.model_validate(fields), customer, []
    except ValidationError as error:
        problems = [{"field": f"detail.{item['field']}", "message": item["message"]} for item in field_errors(error)]
        return None, customer, problems


def _invalid_request(customer: str | None, problems: list[dict[str, str]], now: dt.datetime) -> dict[str, Any]:
    message = "; ".join(f"{problem['field']}: {problem['message']}" for problem in problems)
    return {
        "customerId": customer,
        "kvkNumber": None,
        "verdict": "invalid",
        "checks": None,
        "company": None,
        "reasons": [
            Reason(code="INVALID_REQUEST", message=f"The CustomerSignedUp message is malformed: {message}").to_json()
        ],
        "meta": Meta.at(now, "none").to_json(),
    }


def _result_detail(customer: str | None, result: ValidationResult) -> dict[str, Any]:
    data = result.to_json()
    return {
        "customerId": customer,
        **{key: data[key] for key in ("kvkNumber", "verdict", "checks", "company", "reasons", "meta")},
    }


def handle(
    message: Message,
    registry: Registry,
    publisher: Publisher,
    deadline: Deadline,
    now: Callable[[], dt.datetime],
    policy: Policy | None = None,
) -> str:
    """Verify one message and publish its outcome. Returns the verdict; raises RetryLater for ``unverified``."""
    request, customer, problems = _request(message.body)
    if request is None:
        publisher.publish(COMPLETED, _invalid_request(customer, problems, now()))
        return "invalid"
    result = validate(request, registry, deadline, now(), policy)
    if result.verdict == "unverified":
        if message.last_delivery:
            publisher.publish(FAILED, {**_result_detail(customer, result), "deliveries": message.receive_count})
        raise RetryLater("; ".join(reason.message for reason in result.reasons))
    publisher.publish(COMPLETED, _result_detail(customer, result))
    return result.verdict

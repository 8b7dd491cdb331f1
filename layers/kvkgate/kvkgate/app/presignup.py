"""The Cognito pre-sign-up decision: which sign-ups to refuse, and what to tell the person."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from kvkgate.clock import Deadline
from kvkgate.config import Settings
from kvkgate.domain.contracts import ValidationRequest
from kvkgate.domain.outcomes import TooManyRequests
from kvkgate.domain.ports import SIGNED_UP, Publisher, Registry
from kvkgate.domain.verify import Policy, validate

UNVERIFIED_MESSAGE = (
    "We could not check your KVK number with the Chamber of Commerce just now. Please try again in a few minutes."
)


class SignUpRefused(Exception):
    """Raised to make Cognito refuse the sign-up; the message is shown to the person signing up."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_sign_up(
    event: dict[str, Any],
    registry: Registry,
    publisher: Callable[[], Publisher],
    deadline: Deadline,
    now: dt.datetime,
    policy: Policy,
    settings: Settings,
) -> None:
    """Return to allow the sign-up; raise :class:`SignUpRefused` to refuse it."""
    attributes = (event.get("request") or {}).get("userAttributes") or {}
    kvk_number = attributes.get(settings.kvk_number_attribute)
    if not isinstance(kvk_number, str) or not kvk_number.strip():
        raise SignUpRefused("KVK_NUMBER_MISSING", "Please enter the KVK number of your company.")
    name = attributes.get(settings.company_name_attribute)
    fields: dict[str, Any] = {"kvkNumber": kvk_number[:64]}
    if isinstance(name, str) and name.strip():
        fields["tradeName"] = name[:200]
    try:
        result = validate(ValidationRequest.model_validate(fields), registry, deadline, now, policy)
    except TooManyRequests:
        unverified = "KVK_BUSY"  # KVK's rate is taken for longer than a person can wait
    else:
        if result.verdict == "invalid":
            reason = result.reasons[0]
            raise SignUpRefused(reason.code, _sentence(reason.code, reason.message, kvk_number))
        if result.verdict != "unverified":
            return
        unverified = result.reasons[0].code
    # Check again later, asynchronously, whatever we decide now.
    detail = {"customerId": event.get("userName"), **fields}
    publisher().publish(SIGNED_UP, detail, source=settings.signup_event_source)
    if not settings.presignup_fail_open:
        raise SignUpRefused(unverified, UNVERIFIED_MESSAGE)


def _sentence(code: str, message: str, kvk_number: str) -> str:
    """Reason messages are written for people already; only the format reason gets its context."""
    if code == "INVALID_FORMAT":
        return f"'{kvk_number.strip()}' is not a KVK number: a KVK number has 8 digits."
    return message

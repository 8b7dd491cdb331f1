"""The Cognito pre-sign-up decision: which sign-ups to refuse, and what to tell the person.

Cognito gives the trigger 5 s, cold start included, and shows the text of any error to the person
signing up. So: the decision (KVK and the table) has its own deadline; every AWS call is bounded
by short client timeouts; the re-check event is only sent while there is time for it; and every
refusal is a plain sentence, never a traceback or a validation dump.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kvkgate import telemetry
from kvkgate.app import misconfiguration
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError, Settings
from kvkgate.domain.contracts import ValidationRequest
from kvkgate.domain.numbers import NumberFormatError, parse_branch_number, parse_kvk_number, parse_rsin
from kvkgate.domain.outcomes import CONFIGURATION_ERROR, KVK_BUSY, TooManyRequests
from kvkgate.domain.ports import SIGNED_UP, Publisher, Registry
from kvkgate.domain.verify import Policy, validate
from kvkgate.texts import Language, say, supported

logger = logging.getLogger(__name__)
EXTERNAL_PROVIDER = "PreSignUp_ExternalProvider"


class SignUpRefused(Exception):
    """Raised to make Cognito refuse the sign-up; the message is shown to the person signing up."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or say(f"signup.{code}"))
        self.code = code


def language_of(event: object, settings: Settings) -> Language:
    """The language the person is told things in: ``clientMetadata.language`` if the app passed
    one kvkgate speaks, else ``SIGNUP_MESSAGE_LANGUAGE``."""
    metadata = _mapping(_mapping(event).get("request")).get("clientMetadata")
    chosen = supported(metadata.get("language")) if isinstance(metadata, Mapping) else None
    return chosen or settings.signup_message_language


def _mapping(value: object) -> Mapping[str, Any]:
    """Cognito sends objects; anything else in their place reads as empty, never as an AttributeError."""
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Timing:
    """``decision``: KVK and the table; ``hard``: the end of Cognito's wait (less a margin);
    ``aws_call``: how long one AWS call may take at most (the client's timeouts)."""

    decision: Deadline
    hard: Deadline
    aws_call: float


def check_sign_up(
    event: object,
    registry: Registry,
    publisher: Callable[[], Publisher],
    timing: Timing,
    now: dt.datetime,
    policy: Policy,
    settings: Settings,
    ready: Callable[[], None] | None = None,
) -> None:
    """Return to allow the sign-up; raise :class:`SignUpRefused` to refuse it.

    A configuration error (``ready`` raising, a secret that does not exist) is not a fact about the
    sign-up: it is reported, and the sign-up goes the way of an outage, under its own reason.

    The decision spends free KVK calls only (``policy.paid_name_check`` is ``never`` as deployed):
    a name the free search cannot confirm leaves the sign-up to the number and its activity, and
    the onboarding worker checks the name later, from the gate's daily paid allowance.
    """
    if not isinstance(event, Mapping):
        raise SignUpRefused("INVALID_REQUEST")
    if event.get("triggerSource") == EXTERNAL_PROVIDER and settings.federated_signups == "skip":
        telemetry.count("SignUpFederatedSkipped")
        logger.info("federated sign-up let through without the KVK gate (FEDERATED_SIGNUPS=skip)")
        return
    fields = _claimed(event, settings)
    try:
        if ready is not None:
            ready()
        result = validate(ValidationRequest.model_validate(fields), registry, timing.decision, now, policy)
    except TooManyRequests:
        unverified = KVK_BUSY  # KVK's rate is taken for longer than a person can wait
    except ConfigError as error:
        misconfiguration.report(error)
        unverified = CONFIGURATION_ERROR
    else:
        if result.verdict == "invalid":
            reason = result.reasons[0]
            if reason.code == "INVALID_FORMAT" and reason.field != "kvkNumber":
                raise SignUpRefused(reason.code, reason.message)  # a branch number or RSIN: its own sentence
            raise SignUpRefused(reason.code, _sentence(reason.code, reason.message, fields["kvkNumber"]))
        if result.verdict != "unverified":
            if result.checks.trade_name.result == "unconfirmed":
                _ask_for_recheck(event, fields, publisher, timing, settings)  # the name, from the paid allowance
            return
        unverified = result.reasons[-1].code  # the part KVK could not answer comes last
    # Check again later, asynchronously, whatever we decide now.
    _ask_for_recheck(event, fields, publisher, timing, settings)
    if not settings.presignup_fail_open:
        raise SignUpRefused(unverified, say("signup.UNVERIFIED"))
    telemetry.count("SignUpFailOpen")
    logger.warning("sign-up let through unverified (fail-open): %s", unverified)


def _claimed(event: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The number, name, branch number and RSIN the person claims. ValidationData first: pools that
    keep the KVK attributes out of the app client's write attributes pass them there. Given both
    ways, each must agree, or one could be checked and the other kept on the user."""
    request = _mapping(event.get("request"))
    sources = [_strings(request.get("validationData")), _strings(request.get("userAttributes"))]
    numbers = [found[settings.kvk_number_attribute] for found in sources if found.get(settings.kvk_number_attribute)]
    if not numbers or not numbers[0].strip():
        raise SignUpRefused("KVK_NUMBER_MISSING")
    if len({_digits(number) for number in numbers}) > 1:
        raise SignUpRefused("KVK_NUMBER_CONFLICT")
    fields: dict[str, Any] = {"kvkNumber": numbers[0]}
    attributes = (
        ("tradeName", settings.company_name_attribute, "COMPANY_NAME_CONFLICT", _same_name),
        ("branchNumber", settings.branch_number_attribute, "BRANCH_NUMBER_CONFLICT", _without_spaces),
        ("rsin", settings.rsin_attribute, "RSIN_CONFLICT", _without_spaces),
    )
    for field, attribute, conflict, same in attributes:
        # A blank value is no value: it must not hide the other, which would then be kept unchecked.
        given = [found[attribute] for found in sources if found.get(attribute, "").strip()]
        if len({same(value) for value in given}) > 1:
            raise SignUpRefused(conflict)
        if given:
            fields[field] = given[0]  # the name, and the optional checks: free Zoeken like the rest
    try:
        ValidationRequest.model_validate(fields)
    except ValidationError as error:
        raise _refusal_for(error, fields) from None
    return fields


def _strings(value: object) -> dict[str, str]:
    """Cognito's attribute maps hold strings; anything else in them is ignored."""
    if not isinstance(value, Mapping):
        return {}
    return {str(key): item for key, item in value.items() if isinstance(item, str)}


def _digits(number: str) -> str:
    try:
        return parse_kvk_number(number)
    except NumberFormatError:
        return number.strip()


def _same_name(name: str) -> str:
    return " ".join(name.casefold().split())


def _without_spaces(number: str) -> str:
    return "".join(number.split())


def _refusal_for(error: ValidationError, fields: dict[str, Any]) -> SignUpRefused:
    wrong = {str(item["loc"][0]) for item in error.errors(include_url=False) if item.get("loc")}
    if "kvkNumber" in wrong:  # the request is validated by alias
        return SignUpRefused("INVALID_FORMAT", _sentence("INVALID_FORMAT", "", fields["kvkNumber"]))
    for field, parse in (("branchNumber", parse_branch_number), ("rsin", parse_rsin)):
        if field in wrong:  # too long to be read at all: the number's own format sentence, at its field
            try:
                parse(fields[field])
            except NumberFormatError as malformed:
                return SignUpRefused("INVALID_FORMAT", malformed.message)
    return SignUpRefused("INVALID_COMPANY_NAME")


def _ask_for_recheck(
    event: Mapping[str, Any],
    fields: dict[str, Any],
    publisher: Callable[[], Publisher],
    timing: Timing,
    settings: Settings,
) -> None:
    """CustomerSignedUp for onboarding, if it can be sent before Cognito stops waiting."""
    if not timing.hard.allows(timing.aws_call):
        telemetry.count("SignUpRecheckNotQueued")
        logger.error("no time left to queue the re-check of an unverified sign-up")
        return
    detail = {"customerId": event.get("userName"), **fields}
    if isinstance(event.get("userPoolId"), str):
        detail["userPoolId"] = event["userPoolId"]  # the worker records its decision on the user
    try:
        publisher().publish(SIGNED_UP, detail, source=settings.signup_event_source)
    except Exception as error:  # EventBridge down must not turn into a failed sign-up
        if isinstance(error, ConfigError):
            misconfiguration.report(error)
        telemetry.count("SignUpRecheckNotQueued")
        logger.error("could not queue the re-check of an unverified sign-up: %s: %s", type(error).__name__, error)


def _sentence(code: str, message: str, kvk_number: str) -> str:
    """Reason messages are written for people already; only the format reason gets its context."""
    if code == "INVALID_FORMAT":
        shown = "".join(char for char in kvk_number.strip() if char.isprintable())[:20]
        return say("signup.INVALID_FORMAT", shown=shown)
    return message

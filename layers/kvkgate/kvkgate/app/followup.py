"""After the sign-up: every user the pre-sign-up trigger let in gets a KVK decision recorded on it.

The trigger may admit a sign-up without a decision (KVK down or busy, AWS unreachable, a name only
the paid lookup can confirm), and when AWS is unreachable it cannot even queue the re-check. Two
later paths close that gap, both feeding the onboarding worker, which decides and writes the
decision on the user (``KVK_DECISION_ATTRIBUTE``, which users cannot write):

* :func:`after_confirmation` (Cognito's PostConfirmation trigger): a user confirming their sign-up
  without a decision is queued at once. It never fails the confirmation; the sweep is its net.
* :func:`sweep` (scheduled): every user without a decision older than ``RECHECK_AFTER_SECONDS`` is
  queued again, and those older than an hour are counted (``UndecidedSignUps``, alarmed): a
  decision that should have been made long ago.

Users are found by the number they claimed, kept on the user (an attribute written at sign-up only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kvkgate import telemetry
from kvkgate.app import misconfiguration
from kvkgate.config import ConfigError, Settings
from kvkgate.domain.ports import SIGNED_UP, Publisher, SignedUpUser, UserPool

logger = logging.getLogger(__name__)
CONFIRMED = "PostConfirmation_ConfirmSignUp"
# A younger sign-up may still be on its way through the worker (the trigger or confirmation queued it).
RECHECK_AFTER_SECONDS = 300
# A user undecided for longer than this is a decision that should have been made long ago.
UNDECIDED_ALARM_SECONDS = 3600
# One sweep queues at most this many re-checks (an outage of days must not flood the queue at once).
MAX_RECHECKS_PER_SWEEP = 1000


def after_confirmation(event: object, publisher: Callable[[], Publisher], settings: Settings) -> None:
    """Queue the decision for a user who confirmed their sign-up without one. Never raises."""
    if not isinstance(event, Mapping) or event.get("triggerSource") != CONFIRMED:
        return
    request = event.get("request")
    attributes = request.get("userAttributes") if isinstance(request, Mapping) else None
    if not isinstance(attributes, Mapping) or attributes.get(settings.kvk_decision_attribute):
        return
    user = SignedUpUser(
        user_name=str(event.get("userName") or ""),
        kvk_number=_text(attributes.get(settings.kvk_number_attribute)),
        company_name=_text(attributes.get(settings.company_name_attribute)),
        created=0.0,
        decided=False,
    )
    pool = event.get("userPoolId")
    if not user.user_name or not isinstance(pool, str):
        return
    if user.kvk_number is None:
        telemetry.count("SignUpsWithoutKvkNumber")
        logger.warning(
            "confirmed user %s has no %s: no decision can be made", user.user_name, settings.kvk_number_attribute
        )
        return
    try:
        publisher().publish(SIGNED_UP, recheck(pool, user), source=settings.signup_event_source)
    except Exception as error:  # the confirmation must not fail for it: the sweep queues the user later
        if isinstance(error, ConfigError):
            misconfiguration.report(error)
        telemetry.count("SignUpRecheckNotQueued")
        logger.error(
            "could not queue the decision of confirmed user %s: %s: %s", user.user_name, type(error).__name__, error
        )


@dataclass
class SweepReport:
    users: int = 0
    decided: int = 0
    queued: int = 0
    undecided_over_an_hour: int = 0
    without_kvk_number: int = 0
    not_queued: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def sweep(pool: str, users: UserPool, publisher: Publisher, now: float, settings: Settings) -> SweepReport:
    """Queue a re-check for every user of ``pool`` left without a decision; count the overdue ones."""
    report = SweepReport()
    for user in users.users(pool):
        report.users += 1
        if user.decided:
            report.decided += 1
            continue
        age = now - user.created
        if age < RECHECK_AFTER_SECONDS:
            continue
        if user.kvk_number is None:
            report.without_kvk_number += 1
            continue
        report.undecided_over_an_hour += age > UNDECIDED_ALARM_SECONDS
        if report.queued >= MAX_RECHECKS_PER_SWEEP:
            report.not_queued += 1
            continue
        try:
            publisher.publish(SIGNED_UP, recheck(pool, user), source=settings.signup_event_source)
            report.queued += 1
        except ConfigError:  # the bus: every other user would fail the same way
            _report(report)
            raise
        except Exception as error:  # counted and alarmed; the next sweep tries again
            report.not_queued += 1
            logger.error("could not queue the decision of user %s: %s: %s", user.user_name, type(error).__name__, error)
    _report(report)
    return report


def recheck(pool: str, user: SignedUpUser) -> dict[str, Any]:
    """The CustomerSignedUp the worker decides and records on the user."""
    detail: dict[str, Any] = {"customerId": user.user_name, "userPoolId": pool, "kvkNumber": user.kvk_number}
    if user.company_name:
        detail["tradeName"] = user.company_name
    return detail


def _report(report: SweepReport) -> None:
    telemetry.gauge("UndecidedSignUps", report.undecided_over_an_hour)
    telemetry.count("SignUpRechecksQueued", report.queued)
    if report.not_queued:
        telemetry.count("SignUpRecheckNotQueued", report.not_queued)
    if report.without_kvk_number:
        telemetry.gauge("SignUpsWithoutKvkNumber", report.without_kvk_number)
    logger.info("sign-up sweep: %s", report.to_json())


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None

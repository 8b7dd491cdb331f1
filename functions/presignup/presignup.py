"""Cognito PreSignUp trigger: refuse a sign-up whose KVK number is invalid, in words a person understands.

``unverified`` (KVK could not be asked) lets the sign-up through or refuses it, per
PRESIGNUP_FAIL_OPEN, and puts CustomerSignedUp on the bus so onboarding checks again later.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry, texts
from kvkgate.app import misconfiguration
from kvkgate.app.presignup import SignUpRefused, Timing, check_sign_up, language_of
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError
from kvkgate.domain.outcomes import CONFIGURATION_ERROR

logger = Logger()
metrics = telemetry.metrics()
# What the trigger needs (template.yaml sets them); without one it answers as in an outage, saying why.
SETTINGS = ("TABLE_NAME", "KVK_API_KEY_SECRET_ID", "EVENT_BUS_NAME")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        env = root.environment()
    except ConfigError as error:  # a setting holds a value the layer cannot use: not even the policy is known
        misconfiguration.report(error)
        raise SignUpRefused(CONFIGURATION_ERROR, texts.say("signup.INTERNAL_ERROR")) from None
    timing = Timing(
        decision=Deadline.capped(context, env.settings.http_deadline_seconds, env.clock),
        hard=Deadline.from_lambda_context(context, reserve_seconds=0.3, clock=env.clock),
        aws_call=env.aws_timeouts.worst_case,
    )
    with texts.speaking(language_of(event, env.settings)):
        try:
            ready = functools.partial(env.require, *SETTINGS)
            check_sign_up(
                event,
                env.registry,
                lambda: env.publisher,
                timing,
                env.now(),
                env.policy,
                env.settings,
                ready,
            )
        except SignUpRefused as refusal:
            metrics.add_metric(name="SignUpRefused", unit="Count", value=1)
            logger.info("sign-up refused", extra={"reason": refusal.code})
            raise
        except Exception:
            # Cognito shows an error's text to the person: a bug gets a sentence, not a traceback, and
            # closes the gate rather than opening it to whoever found the input that triggers it.
            logger.exception("pre-sign-up failed")
            metrics.add_metric(name="SignUpErrors", unit="Count", value=1)
            raise SignUpRefused("INTERNAL_ERROR") from None
    metrics.add_metric(name="SignUpAllowed", unit="Count", value=1)
    return event

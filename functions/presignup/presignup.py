"""Cognito PreSignUp trigger: refuse a sign-up whose KVK number is invalid, in words a person understands.

``unverified`` (KVK could not be asked) lets the sign-up through or refuses it, per
PRESIGNUP_FAIL_OPEN, and puts CustomerSignedUp on the bus so onboarding checks again later.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry
from kvkgate.app.presignup import SignUpRefused, check_sign_up
from kvkgate.clock import Deadline

logger = Logger()
metrics = telemetry.metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    env = root.environment()
    deadline = Deadline.capped(context, env.settings.http_deadline_seconds)
    try:
        check_sign_up(event, env.registry, lambda: env.publisher, deadline, env.now(), env.policy, env.settings)
    except SignUpRefused as refusal:
        metrics.add_metric(name="SignUpRefused", unit="Count", value=1)
        logger.info("sign-up refused", extra={"reason": refusal.code})
        raise
    metrics.add_metric(name="SignUpAllowed", unit="Count", value=1)
    return event

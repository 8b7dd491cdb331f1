"""Cognito PostConfirmation trigger: a user who confirms a sign-up without a KVK decision is queued
for the onboarding worker, which decides and records the decision on the user. Never fails the
confirmation (the scheduled sweep is the net)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry
from kvkgate.app import misconfiguration
from kvkgate.app.followup import after_confirmation
from kvkgate.config import ConfigError

logger = Logger()
metrics = telemetry.metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> Any:
    try:
        env = root.environment()
        after_confirmation(event, lambda: env.publisher, env.settings)
    except ConfigError as error:
        misconfiguration.report(error)
        metrics.add_metric(name="SignUpRecheckNotQueued", unit="Count", value=1)
    except Exception:  # a confirmation never fails for the gate's bookkeeping: the sweep is the net
        logger.exception("could not queue the decision after confirmation")
        metrics.add_metric(name="SignUpRecheckNotQueued", unit="Count", value=1)
    return event  # Cognito wants its event back

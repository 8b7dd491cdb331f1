"""The scheduled sweep of sign-ups left without a KVK decision (the net under every other path).

Every user of the guarded pool without a decision is queued for the onboarding worker again, and
those undecided for more than an hour are counted (UndecidedSignUps, alarmed).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry
from kvkgate.app import misconfiguration
from kvkgate.app.followup import sweep
from kvkgate.config import ConfigError

logger = Logger()
metrics = telemetry.metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        env = root.environment()
        env.require("USER_POOL_ID", "EVENT_BUS_NAME")
        pool, users = env.settings.user_pool_id, env.user_pool
        if pool is None or users is None:
            raise ConfigError.missing("USER_POOL_ID")
        return sweep(pool, users, env.publisher, env.clock.time(), env.settings).to_json()
    except ConfigError as error:  # a pool or bus that is not set or does not exist: nothing to sweep
        misconfiguration.report(error)
        return {"swept": False, "error": "CONFIGURATION_ERROR"}

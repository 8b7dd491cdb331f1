"""Watching customers' companies after sign-up: the free sweep and the Mutatieservice poller.

One function, two schedules (their input says which): ``{"task": "sweep"}`` looks at the watched
numbers due now with free Zoeken; ``{"task": "signals"}`` reads KVK's change signals. Both hand
what changed to one handler that puts KvkRegistrationEnded / Changed / Transferred on the bus.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry
from kvkgate.app import misconfiguration
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError

logger = Logger()
metrics = telemetry.metrics()
RESERVE_SECONDS = 5.0  # left to save the cursor and flush the metrics
# What the watch function needs (template.yaml sets them); the secrets they name are checked on first use.
SETTINGS = ("TABLE_NAME", "KVK_API_KEY_SECRET_ID", "EVENT_BUS_NAME")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    task = event.get("task") if isinstance(event, dict) else None
    try:
        env = root.environment()
        env.require(*SETTINGS)
        deadline = Deadline.from_lambda_context(context, RESERVE_SECONDS, env.clock)
        if task == "signals":
            report = env.watcher.poll(env.settings.mutatieservice_subscription, deadline)
        else:
            report = env.watcher.sweep(deadline)
    except ConfigError as error:  # nothing is looked at; the cursors stay where they were
        misconfiguration.report(error)
        return {"task": task or "sweep", "error": "CONFIGURATION_ERROR"}
    logger.info("watch %s", task or "sweep", extra=report.to_json())
    return report.to_json()

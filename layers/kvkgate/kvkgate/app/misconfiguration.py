"""A configuration error is its own outcome (issue #22): a setting that is missing, or names a secret,
a bus or a pool that does not exist, is reported as that - an ERROR log naming the setting and the
``ConfigurationError`` metric, which raises an alarm on the first one - and never as a KVK outage.

Entry points call :func:`report` where they meet one, then answer in their own way: the API with
``500 CONFIGURATION_ERROR``, the pre-sign-up trigger under its outage policy with that reason, the
worker by retrying the message (and reporting ``KvkVerificationFailed`` on its last delivery).
"""

from __future__ import annotations

import logging

from kvkgate import telemetry
from kvkgate.config import ConfigError

logger = logging.getLogger(__name__)


def report(error: ConfigError) -> None:
    """Log and count one configuration error. The message names settings and secret ids, never a value."""
    telemetry.count("ConfigurationError")
    settings = ", ".join(error.settings) or "the settings"
    logger.error("kvkgate is misconfigured (%s): %s", settings, error)

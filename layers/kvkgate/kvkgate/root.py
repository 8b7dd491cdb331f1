"""What an execution environment builds once, on first use: settings, lookups, decision policy.

Entry points call these instead of wiring the layer themselves; nothing here runs at import.
"""

from __future__ import annotations

import datetime as dt
import functools

from kvkgate.config import ConfigError, settings
from kvkgate.lookups import KvkLookups, build_lookups
from kvkgate.names import Thresholds
from kvkgate.onboarding import EventBridgePublisher
from kvkgate.verify import Policy


@functools.cache
def lookups() -> KvkLookups:
    return build_lookups(settings())


@functools.cache
def policy() -> Policy:
    config = settings()
    thresholds = Thresholds(match=config.name_match_threshold, partial=config.name_partial_threshold)
    return Policy(thresholds=thresholds, partial_name_verdict=config.partial_name_verdict)


@functools.cache
def publisher() -> EventBridgePublisher:
    import boto3

    bus = settings().event_bus_name
    if not bus:
        raise ConfigError("invalid configuration: EVENT_BUS_NAME: must be set")
    return EventBridgePublisher(boto3.client("events"), bus)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def reset() -> None:
    """Forget everything built (tests, or a local runner that changes its environment)."""
    settings.cache_clear()
    lookups.cache_clear()
    policy.cache_clear()
    publisher.cache_clear()

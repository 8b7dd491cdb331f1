"""Metrics through Powertools (CloudWatch embedded metric format).

The layer adds to one shared metric set per execution environment; handlers publish it with
``@metrics().log_metrics``. Powertools is imported on first use, not at import time.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics


@functools.cache
def metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "kvkgate"))


def _disabled() -> bool:
    # Powertools checks this only when flushing; its automatic flush every 100 values still prints.
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in {"1", "true", "yes", "on"}


def count(name: str, value: float = 1.0) -> None:
    if _disabled():
        return
    from aws_lambda_powertools.metrics import MetricUnit

    metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def gauge(name: str, value: float) -> None:
    """A level rather than an event, e.g. how much of this month's KVK budget is used."""
    count(name, value)


def kvk_call(api: str, outcome: str) -> None:
    """One line per KVK call, dimensioned by API and outcome (ok, not_found, rate_limited, ...)."""
    if _disabled():
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "kvkgate")
    with single_metric(name="KvkCalls", unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
        metric.add_dimension(name="api", value=api)
        metric.add_dimension(name="outcome", value=outcome)

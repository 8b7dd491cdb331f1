"""Every alarm watches a metric the code emits, from a service the template runs: an alarm on a name
nothing emits would stay silent through the very failure it was written for."""

from __future__ import annotations

import re
from pathlib import Path

from local.aws_resources import load_template
from local.lambda_runtime import functions

ROOT = Path(__file__).resolve().parents[1]


def emitted_names() -> set[str]:
    """Metric names the layer and the handlers emit (telemetry.count/gauge, Powertools add_metric)."""
    sources = [*ROOT.joinpath("layers/kvkgate/kvkgate").rglob("*.py"), *ROOT.joinpath("functions").rglob("*.py")]
    pattern = re.compile(r"""(?:count|gauge)\(\s*"(\w+)"|name="(\w+)"|name=f"(\w+)\{""")
    names: set[str] = set()
    for source in sources:
        for found in pattern.finditer(source.read_text()):
            names.add(found.group(1) or found.group(2) or found.group(3))
    return names


def alarm_metrics() -> list[tuple[str, str, str]]:
    """(alarm, metric name, service) for every kvkgate metric an alarm reads."""
    found = []
    for name, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for query in resource["Properties"].get("Metrics", []):
            metric = (query.get("MetricStat") or {}).get("Metric") or {}
            if metric.get("Namespace") == "kvkgate":
                (service,) = [item["Value"] for item in metric["Dimensions"] if item["Name"] == "service"]
                found.append((name, metric["MetricName"], service))
    return found


def test_every_alarm_reads_a_metric_the_code_emits_from_a_service_that_runs() -> None:
    emitted = emitted_names()
    services = {str(spec.environment.get("POWERTOOLS_SERVICE_NAME")) for spec in functions().values()}
    watched = alarm_metrics()
    assert len(watched) >= 10
    for alarm, metric, service in watched:
        assert metric in emitted, f"{alarm} watches {metric}, which nothing emits"
        assert service in services, f"{alarm} watches service {service}, which no function runs as"


def test_the_sign_up_gate_is_watched() -> None:
    watched = {metric for _, metric, _ in alarm_metrics()}
    assert {"SignUpFailOpen", "SignUpRecheckNotQueued", "UndecidedSignUps", "GatePaidAllowanceReached"} <= watched

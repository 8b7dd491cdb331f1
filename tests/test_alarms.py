"""Every alarm and every dashboard graph watches a metric the code emits, from a service the template
runs: an alarm on a name nothing emits would stay silent through the very failure it was written for,
and a graph of one would stay flat. Every rollout is guarded by those alarms."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

from kvkgate.domain.contracts import Verdict
from kvkgate.domain.watch import EVENT_TYPES
from local.aws_resources import load_template
from local.lambda_runtime import functions

ROOT = Path(__file__).resolve().parents[1]


def emitted_names() -> set[str]:
    """Metric names the layer and the handlers emit (telemetry.count/gauge, Powertools add_metric)."""
    sources = [*ROOT.joinpath("layers/kvkgate/kvkgate").rglob("*.py"), *ROOT.joinpath("functions").rglob("*.py")]
    pattern = re.compile(r"""(?:count|gauge)\(\s*"(\w+)"|name="(\w+)"|name=f"(\w+)\{""")
    names: set[str] = set(EVENT_TYPES.values())  # the watch counts each change it tells by its event type
    verdicts = [verdict.capitalize() for verdict in typing.get_args(Verdict)]
    for source in sources:
        for found in pattern.finditer(source.read_text()):
            if found.group(3):  # f"Verdict{result.verdict.capitalize()}": one metric per verdict
                names |= {found.group(3) + verdict for verdict in verdicts}
            else:
                names.add(found.group(1) or found.group(2))
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


def dashboard() -> dict[str, Any]:
    """The dashboard's body as CloudWatch reads it (``${...}`` substituted by placeholders)."""
    (body,) = [
        resource["Properties"]["DashboardBody"]["Sub"]
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "1", body))
    return parsed


def dashboard_metrics() -> list[tuple[str, str, str | None]]:
    """(widget title, metric name, service or None) for every kvkgate metric a graph names, as a metric
    or inside a SEARCH expression."""
    found: list[tuple[str, str, str | None]] = []
    for widget in dashboard()["widgets"]:
        properties = widget["properties"]
        for row in properties.get("metrics", []):
            if isinstance(row[0], dict):
                expression = row[0]["expression"]
                if "{kvkgate" in expression:
                    found += [
                        (properties["title"], name, None) for name in re.findall(r'MetricName="(\w+)"', expression)
                    ]
            elif row[0] == "kvkgate":
                dimensions = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
                found.append((properties["title"], row[1], dimensions.get("service")))
    return found


def test_every_dashboard_graph_reads_a_metric_the_code_emits() -> None:
    emitted = emitted_names()
    services = {str(spec.environment.get("POWERTOOLS_SERVICE_NAME")) for spec in functions().values()}
    graphed = dashboard_metrics()
    assert len(graphed) >= 20
    for title, metric, service in graphed:
        assert metric in emitted, f"the dashboard's {title!r} graphs {metric}, which nothing emits"
        assert service is None or service in services, f"{title!r} graphs service {service}, which no function runs as"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    graphed = {metric for _, metric, _ in dashboard_metrics()}
    assert {"Requests", "VerdictValid", "VerdictInvalid", "VerdictUnverified"} <= graphed  # requests and verdicts
    assert "KvkCalls" in graphed  # by API and outcome (SEARCH over both dimensions)
    assert {"BudgetUsedCalls", "LimiterWaits", "LimiterShed"} <= graphed  # budget used, limiter waits and refusals
    assert {"SignUpAllowed", "SignUpRefused", "SignUpFailOpen"} <= graphed
    queues = [row for widget in dashboard()["widgets"] for row in widget["properties"].get("metrics", [])]
    assert ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"] in [row[:3] for row in queues]


def test_every_metric_the_code_emits_is_documented() -> None:
    notes = (ROOT / "docs" / "design-notes.md").read_text()
    section = notes[notes.index("## Metrics") :]
    section = section[: section.index("\n## ", 1)]
    documented = set(re.findall(r"`(\w+)`", section))
    missing = sorted(emitted_names() - documented)
    assert not missing, f"metrics emitted but not listed in docs/design-notes.md (Metrics): {missing}"


def test_every_function_rolls_out_through_an_alias_guarded_by_alarms() -> None:
    template = load_template()
    defaults = template["Globals"]["Function"]
    assert defaults["AutoPublishAlias"] == "live"
    assert defaults["DeploymentPreference"]["Type"] == {"Ref": "DeploymentStrategy"}
    alarms = {name for name, spec in template["Resources"].items() if spec["Type"] == "AWS::CloudWatch::Alarm"}
    for logical_id in functions():
        own = template["Resources"][logical_id]["Properties"].get("DeploymentPreference", {}).get("Alarms", [])
        guards = [alarm["Ref"] for alarm in [*defaults["DeploymentPreference"]["Alarms"], *own]]
        assert set(guards) <= alarms, logical_id
        assert f"{logical_id.removesuffix('Function')}ErrorsAlarm" in guards, f"{logical_id} has no errors alarm"


def test_cognito_invokes_the_alias_so_a_canary_covers_sign_ups() -> None:
    resources = load_template()["Resources"]
    config = resources["DemoUserPool"]["Properties"]["LambdaConfig"]
    assert config == {
        "PreSignUp": {"Ref": "PreSignUpFunction.Alias"},
        "PostConfirmation": {"Ref": "PostConfirmationFunction.Alias"},
    }
    for name in ("DemoUserPoolInvokesPreSignUp", "DemoUserPoolInvokesPostConfirmation"):
        assert resources[name]["Properties"]["FunctionName"]["Ref"].endswith(".Alias")

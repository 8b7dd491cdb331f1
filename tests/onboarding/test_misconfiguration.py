"""Misconfiguration is loud in the sign-up gate too (issue #22): the pre-sign-up trigger keeps its
outage policy but says why (CONFIGURATION_ERROR), the worker retries and reports it on the last
delivery, and a bus or pool that does not exist is a configuration error, not a passing failure."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from kvkgate import root
from kvkgate.app.presignup import SignUpRefused
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.conftest import MAX_RECEIVES, flushed
from tests.onboarding.conftest import Stack, signup_event
from tests.onboarding.test_presignup import cognito_event, sign_up

MISSING_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kvkgate-nothing-here-AbCdEf"


@pytest.fixture(autouse=True)
def _fresh_metrics(fresh_metrics: None) -> None:
    """Each test counts only its own metrics (other tests may leave some in the shared set unflushed)."""


def as_deployed(stack: Stack, logical_id: str, monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    assert stack.aws is not None
    stack.aws.as_deployed(logical_id, monkeypatch)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    root.reset()


def errors(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR)


def test_the_trigger_fails_open_saying_it_is_the_configuration(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    as_deployed(stack, "PreSignUpFunction", monkeypatch, KVK_API_KEY_SECRET_ID=MISSING_SECRET)
    event = cognito_event(**{"custom:kvk_number": "69599084"})
    assert sign_up(event) == event  # PreSignUpFailOpen (default true): the documented outage policy
    assert "fail-open): CONFIGURATION_ERROR" in caplog.text
    assert "KVK_API_KEY_SECRET_ID" in errors(caplog)
    output = capsys.readouterr().out
    assert flushed(output, "ConfigurationError") == [1.0]
    assert flushed(output, "SignUpFailOpen") == [1.0]
    queue = stack.resources["OnboardingQueue"]["QueueUrl"]
    (recheck,) = stack.sqs.receive_message(QueueUrl=queue).get("Messages", [])
    assert json.loads(recheck["Body"])["detail"]["kvkNumber"] == "69599084"  # decided once it is fixed


def test_the_trigger_fails_closed_when_so_configured_with_the_reason(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_deployed(
        stack, "PreSignUpFunction", monkeypatch, KVK_API_KEY_SECRET_ID=MISSING_SECRET, PRESIGNUP_FAIL_OPEN="false"
    )
    with pytest.raises(SignUpRefused, match="could not check your KVK number") as refused:
        sign_up(cognito_event(**{"custom:kvk_number": "69599084"}))
    assert refused.value.code == "CONFIGURATION_ERROR"


def test_the_trigger_without_its_table_setting_says_so_instead_of_running_degraded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    as_deployed(stack, "PreSignUpFunction", monkeypatch, PRESIGNUP_FAIL_OPEN="false")
    monkeypatch.delenv("TABLE_NAME")
    root.reset()
    with pytest.raises(SignUpRefused) as refused:
        sign_up(cognito_event(**{"custom:kvk_number": "69599084"}))
    assert refused.value.code == "CONFIGURATION_ERROR"
    assert "TABLE_NAME" in errors(caplog)
    assert stack.aws is not None and stack.aws.kvk_stats()["calls"] == {}


def test_the_worker_retries_and_reports_the_configuration_on_the_last_delivery(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_deployed(stack, "OnboardingFunction", monkeypatch, KVK_API_KEY_SECRET_ID=MISSING_SECRET)
    body = json.dumps(signup_event("69599084", "c-misconfigured"))
    first = stack.record(body, receive_count=1)
    assert stack.run_worker([first])["batchItemFailures"] == [{"itemIdentifier": first["messageId"]}]
    assert stack.results() == []  # it comes back: the operator may fix the setting meanwhile
    last = stack.record(body, receive_count=MAX_RECEIVES)
    assert stack.run_worker([last])["batchItemFailures"] == [{"itemIdentifier": last["messageId"]}]
    (failed,) = stack.results()
    assert failed["detail-type"] == "KvkVerificationFailed"
    detail = failed["detail"]
    assert (detail["customerId"], detail["kvkNumber"], detail["verdict"]) == (
        "c-misconfigured",
        "69599084",
        "unverified",
    )
    assert [reason["code"] for reason in detail["reasons"]] == ["CONFIGURATION_ERROR"]
    assert detail["deliveries"] == MAX_RECEIVES
    assert flushed(capsys.readouterr().out, "ConfigurationError") == [1.0, 1.0]


def test_a_bus_that_does_not_exist_is_a_configuration_error(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    as_deployed(stack, "OnboardingFunction", monkeypatch, EVENT_BUS_NAME="kvkgate-no-such-bus")
    record = stack.record(json.dumps(signup_event("69599084", "c-nobus")))
    assert stack.run_worker([record])["batchItemFailures"] == [{"itemIdentifier": record["messageId"]}]
    assert "EVENT_BUS_NAME" in errors(caplog) and "kvkgate-no-such-bus" in errors(caplog)
    assert flushed(capsys.readouterr().out, "ConfigurationError") == [1.0]


def test_the_sweep_of_a_pool_that_does_not_exist_says_so(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    as_deployed(stack, "UndecidedSweepFunction", monkeypatch, USER_POOL_ID="eu-west-1_nopool")
    spec = functions()["UndecidedSweepFunction"]
    answer: dict[str, Any] = load_handler(spec)({}, LambdaContext(spec))
    assert answer == {"swept": False, "error": "CONFIGURATION_ERROR"}
    assert "USER_POOL_ID" in errors(caplog) and "eu-west-1_nopool" in errors(caplog)

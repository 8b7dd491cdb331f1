"""A misconfigured API is loud (issue #22): through template.yaml's API function, a setting that is
missing or names a secret that does not exist is answered as a configuration problem - never as
`200 unverified / KVK_UNAVAILABLE`, which an operator reads as a KVK outage - with an ERROR log naming
the setting (never a secret's value) and the ConfigurationError metric the alarm watches."""

from __future__ import annotations

import logging

import boto3
import pytest

from kvkgate import root
from tests.api.conftest import Answer, Api
from tests.conftest import SECRET_KEY, flushed

MISSING_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kvkgate-nothing-here-AbCdEf"


@pytest.fixture(autouse=True)
def _fresh_metrics(fresh_metrics: None) -> None:
    """Each test counts only its own metrics (other tests may leave some in the shared set unflushed)."""


def validate(api: Api) -> Answer:
    return api.validate(kvkNumber="69599084", tradeName="Test EMZ Dagobert")


def assert_configuration_problem(answer: Answer, api: Api) -> None:
    assert answer.status == 500, answer.body
    assert "CONFIGURATION" in answer.body["code"]
    assert answer.body["code"] == "CONFIGURATION_ERROR"
    assert "Retry-After" not in answer.headers and "retry-after" not in answer.headers  # waiting changes nothing
    assert api.kvk_calls()["calls"] == {}  # nothing reached KVK, and nothing claims it was KVK


def errors_naming(caplog: pytest.LogCaptureFixture, setting: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.ERROR and setting in record.getMessage()
    ]


def test_a_missing_caller_key_setting_is_a_configuration_error(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CALLER_KEY_SECRET_ID")
    root.reset()
    answer = validate(api)
    assert_configuration_problem(answer, api)
    assert errors_naming(caplog, "CALLER_KEY_SECRET_ID")
    assert flushed(capsys.readouterr().out, "ConfigurationError") == [1.0]


def test_a_kvk_key_secret_that_does_not_exist_is_a_configuration_error(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KVK_API_KEY_SECRET_ID", MISSING_SECRET)
    root.reset()
    answer = validate(api)
    assert_configuration_problem(answer, api)
    (logged, *_) = errors_naming(caplog, "KVK_API_KEY_SECRET_ID")
    assert "kvkgate-nothing-here" in logged and "ResourceNotFoundException" in logged
    assert flushed(capsys.readouterr().out, "ConfigurationError") == [1.0]
    # Every search and profile says the same, and so does the next request (the failure is remembered).
    assert validate(api).body["code"] == "CONFIGURATION_ERROR"
    assert api.call("GET", "/v1/companies", query="q=bakkerij").body["code"] == "CONFIGURATION_ERROR"


def test_a_caller_key_secret_that_does_not_exist_is_a_configuration_error(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CALLER_KEY_SECRET_ID", MISSING_SECRET)
    root.reset()
    answer = validate(api)
    assert answer.status == 500
    assert answer.body["code"] == "CONFIGURATION_ERROR"
    assert errors_naming(caplog, "CALLER_KEY_SECRET_ID")


def test_the_placeholder_key_is_a_configuration_error_and_its_value_is_never_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What a fresh stack holds until the operator puts the KVK key in: not an outage to wait out."""
    secret = api.aws.resources["KvkApiKeySecret"]["Ref"]
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret, SecretString='{"apiKey": "REPLACE_WITH_YOUR_KVK_API_KEY"}'
    )
    root.reset()
    answer = validate(api)
    assert_configuration_problem(answer, api)
    (logged, *_) = errors_naming(caplog, "KVK_API_KEY_SECRET_ID")
    assert "placeholder" in logged


def test_a_key_that_is_not_the_placeholder_never_reaches_the_log(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A secret this function may read but that holds JSON without a key: the value stays out of every line."""
    secret = api.aws.resources["KvkApiKeySecret"]["Ref"]
    boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=f'{{"key": "{SECRET_KEY}"}}')
    root.reset()
    assert validate(api).body["code"] == "CONFIGURATION_ERROR"
    assert errors_naming(caplog, "KVK_API_KEY_SECRET_ID")
    assert SECRET_KEY not in caplog.text


def test_a_missing_table_setting_is_a_configuration_error_not_a_silent_degraded_mode(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("TABLE_NAME")
    root.reset()
    assert_configuration_problem(validate(api), api)
    assert errors_naming(caplog, "TABLE_NAME")


def test_a_setting_the_layer_cannot_read_is_a_configuration_error(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KVK_RATE_LIMIT_PER_SECOND", "fast")
    root.reset()
    answer = api.call("POST", "/v1/validations", {"kvkNumber": "69599084"}, headers={"accept-language": "nl"})
    assert (answer.status, answer.body["code"]) == (500, "CONFIGURATION_ERROR")
    assert answer.headers["content-language"] == "nl"
    assert errors_naming(caplog, "KVK_RATE_LIMIT_PER_SECOND")


def test_secrets_manager_unreachable_just_now_is_an_outage_not_a_configuration_error(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other side of the line: a read that failed for a passing reason is KVK not being askable."""
    from botocore.exceptions import EndpointConnectionError

    from kvkgate.kvk.keys import SecretsManagerApiKey

    def unreachable(self: SecretsManagerApiKey, refresh: bool) -> str:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.eu-west-1.amazonaws.com")

    monkeypatch.setattr(SecretsManagerApiKey, "_fetch", unreachable)
    root.reset()
    answer = validate(api)
    assert answer.status == 200
    assert (answer.body["verdict"], answer.body["reasons"][-1]["code"]) == ("unverified", "KVK_UNAVAILABLE")
    assert flushed(capsys.readouterr().out, "ConfigurationError") == []

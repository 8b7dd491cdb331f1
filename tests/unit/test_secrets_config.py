"""The API key from Secrets Manager (moto), and settings from the environment."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from kvkgate.config import ConfigError, load_settings
from kvkgate.kvk.keys import SecretError, SecretsManagerApiKey, parse_secret_value
from tests.conftest import SECRET_KEY, FakeClock


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@pytest.mark.parametrize("stored", [SECRET_KEY, f"  {SECRET_KEY}\n", json.dumps({"apiKey": SECRET_KEY})])
def test_secret_holds_the_raw_key_or_json(aws: None, stored: str) -> None:
    boto3.client("secretsmanager").create_secret(Name="kvk/api-key", SecretString=stored)
    assert SecretsManagerApiKey("kvk/api-key").get().reveal() == SECRET_KEY


def test_key_is_cached_until_a_refresh_after_rotation(aws: None) -> None:
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="kvk/api-key", SecretString="old-key")
    source = SecretsManagerApiKey("kvk/api-key")
    assert source.get().reveal() == "old-key"
    secrets.put_secret_value(SecretId="kvk/api-key", SecretString="new-key")
    assert source.get().reveal() == "old-key"
    assert source.get(refresh=True).reveal() == "new-key"


@pytest.mark.parametrize("first", ["placeholder", "missing"])
def test_an_unusable_secret_is_read_again_within_five_minutes_not_an_hour(
    aws: None, clock: FakeClock, first: str
) -> None:
    secrets = boto3.client("secretsmanager")
    if first == "placeholder":
        secrets.create_secret(Name="kvk/api-key", SecretString='{"apiKey": "REPLACE_WITH_YOUR_KVK_API_KEY"}')
    source = SecretsManagerApiKey("kvk/api-key", clock=clock)
    with pytest.raises(SecretError):
        source.get()
    if first == "placeholder":
        secrets.put_secret_value(SecretId="kvk/api-key", SecretString="the-real-key")
    else:
        secrets.create_secret(Name="kvk/api-key", SecretString="the-real-key")
    clock.advance(60)
    with pytest.raises(SecretError):
        source.get()  # not a Secrets Manager read per KVK lookup while it is broken
    clock.advance(241)
    assert source.get().reveal() == "the-real-key"


def test_missing_secret_names_the_secret_not_a_value(aws: None) -> None:
    with pytest.raises(SecretError, match="kvk/missing"):
        SecretsManagerApiKey("kvk/missing").get()


@pytest.mark.parametrize(
    "stored", ["", "   ", '{"apiKey": ""}', '{"key": "x"}', "{not json", '{"apiKey": "REPLACE_WITH_YOUR_KVK_API_KEY"}']
)
def test_unusable_secret_values_are_rejected_without_echoing_them(stored: str) -> None:
    with pytest.raises(SecretError) as caught:
        parse_secret_value(stored)
    if stored.strip():
        assert stored not in str(caught.value)


def test_settings_defaults() -> None:
    settings = load_settings({})
    assert settings.kvk_base_url == "https://api.kvk.nl/test/api"
    assert settings.kvk_rate_limit_per_second < 100
    assert settings.kvk_monthly_quota == 300_000
    assert (settings.cache_ttl_seconds, settings.negative_cache_ttl_seconds, settings.stale_if_error_seconds) == (
        86_400,
        3_600,
        604_800,
    )


def test_settings_from_environment(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    settings = load_settings(
        {
            "KVK_BASE_URL": "https://api.kvk.nl/api/",
            "KVK_RATE_LIMIT_PER_SECOND": "50",
            "TABLE_NAME": "kvkgate",
            "KVK_CA_BUNDLE": str(bundle),
            "KVK_TIMEOUT_SECONDS": "",  # empty counts as unset
        }
    )
    assert settings.kvk_base_url == "https://api.kvk.nl/api"
    assert settings.kvk_rate_limit_per_second == 50
    assert settings.kvk_ca_bundle == bundle
    assert settings.kvk_timeout_seconds == 3.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KVK_RATE_LIMIT_PER_SECOND", "150"),
        ("KVK_RATE_LIMIT_PER_SECOND", "fast"),
        ("KVK_MONTHLY_QUOTA", "-1"),
        ("CACHE_TTL_SECONDS", "a day"),
        ("KVK_BASE_URL", "api.kvk.nl"),
        ("KVK_BASE_URL", "https://api.kvk.nl/api/v1"),
        ("KVK_CA_BUNDLE", "/nonexistent/ca.pem"),
        ("TABLE_NAME", "t"),
    ],
)
def test_bad_settings_fail_with_the_variable_name(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({variable: value})


def test_botocore_debug_logs_never_show_the_key(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    boto3.client("secretsmanager").create_secret(Name="kvk/api-key", SecretString=json.dumps({"apiKey": SECRET_KEY}))
    caplog.set_level(logging.DEBUG)
    assert SecretsManagerApiKey("kvk/api-key").get().reveal() == SECRET_KEY
    assert "GetSecretValue" in caplog.text
    assert "SecretString" in caplog.text
    assert SECRET_KEY not in caplog.text

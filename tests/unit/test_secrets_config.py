"""The API key from Secrets Manager (moto), and settings from the environment."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kvkgate.config import ConfigError, load_settings
from kvkgate.kvk.keys import (
    ApiKey,
    SecretError,
    SecretsManagerApiKey,
    SecretUnreachable,
    StaticApiKey,
    parse_secret_value,
)
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


def test_a_passing_read_failure_is_tried_again_within_seconds_with_back_off(aws: None, clock: FakeClock) -> None:
    """A 0.35 s timeout must not make an environment admit every sign-up unasked for five minutes."""
    boto3.client("secretsmanager").create_secret(Name="kvk/api-key", SecretString="the-real-key")
    flaky = boto3.client("secretsmanager")
    reads: list[float] = []
    outage = {"on": True}

    def unreachable(**_: Any) -> None:
        reads.append(clock.now)
        if outage["on"]:
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url="https://secretsmanager.example")

    flaky.meta.events.register("before-call.secretsmanager.GetSecretValue", unreachable)
    source = SecretsManagerApiKey("kvk/api-key", clock=clock, aws_client=lambda: flaky)
    for _ in range(240):  # a lookup every 0.25 s for a minute, Secrets Manager timing out all along
        with pytest.raises(SecretUnreachable):
            source.get()
        clock.advance(0.25)
    gaps = [round(later - earlier, 2) for earlier, later in itertools.pairwise(reads)]
    assert gaps[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]  # tried again within seconds, backing off
    assert max(gaps) == 16.0
    outage["on"] = False
    clock.advance(16)
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


def test_a_binary_secret_holds_the_key_too(aws: None) -> None:
    boto3.client("secretsmanager").create_secret(Name="kvk/api-key", SecretBinary=f" {SECRET_KEY}\n".encode())
    assert SecretsManagerApiKey("kvk/api-key").get().reveal() == SECRET_KEY


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ('{"apiKey": 42}', '"apiKey"'),
        ('{"apiKey": "   "}', '"apiKey"'),
        ("{not json", "does not parse"),
        ("  \n", "empty"),
        ("REPLACE_WITH_YOUR_KVK_API_KEY", "placeholder"),
        (' {"apiKey": "REPLACE_WITH_YOUR_KVK_API_KEY"} ', "placeholder"),
    ],
)
def test_an_unusable_secret_says_what_the_operator_must_fix(stored: str, reason: str) -> None:
    with pytest.raises(SecretError, match=reason) as caught:
        parse_secret_value(stored)
    assert str(caught.value).startswith("the KVK API key secret ")  # names which secret, never its value


def test_the_key_in_json_is_trimmed() -> None:
    assert parse_secret_value('{"apiKey": "  the-key \\n"}').reveal() == "the-key"
    assert parse_secret_value(b'{"apiKey": "the-key"}').reveal() == "the-key"


def test_the_key_never_shows_in_repr_or_str_and_compares_by_value() -> None:
    key = ApiKey(SECRET_KEY)
    assert SECRET_KEY not in repr(key)
    assert SECRET_KEY not in str(key)
    assert SECRET_KEY not in f"{key!r} {[key]}"
    assert key == ApiKey(SECRET_KEY)
    assert hash(key) == hash(ApiKey(SECRET_KEY))
    assert key != ApiKey("another-key")
    assert key != SECRET_KEY  # a bare string is not a key
    assert len({key, ApiKey(SECRET_KEY), ApiKey("another-key")}) == 2


def test_a_static_key_is_the_same_key_refreshed_or_not() -> None:
    source = StaticApiKey(SECRET_KEY)
    assert source.get().reveal() == SECRET_KEY
    assert source.get(refresh=True) == ApiKey(SECRET_KEY)


def counted_client(region: str = "eu-west-1") -> tuple[Any, list[str]]:
    """A Secrets Manager client that records each GetSecretValue it sends."""
    client = boto3.client("secretsmanager", region_name=region)
    reads: list[str] = []
    client.meta.events.register(
        "provide-client-params.secrets-manager.GetSecretValue", lambda params, **_: reads.append(params["SecretId"])
    )
    return client, reads


def test_the_given_aws_client_is_the_one_used(aws: None) -> None:
    # The secret lives only where the given client points; the default client would not find it.
    client, reads = counted_client("eu-central-1")
    client.create_secret(Name="kvk/api-key", SecretString=SECRET_KEY)
    assert SecretsManagerApiKey("kvk/api-key", aws_client=lambda: client).get().reveal() == SECRET_KEY
    assert reads == ["kvk/api-key"]


@pytest.fixture
def powertools_clock(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Powertools' parameter cache reads datetime.now(): let the fake clock drive it as well."""
    from aws_lambda_powertools.utilities.parameters import base

    started = dt.datetime.now()
    origin = clock.now

    class FakeDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> FakeDatetime:
            moment = started + dt.timedelta(seconds=clock.now - origin)
            return cls.fromtimestamp(moment.timestamp(), tz)

    monkeypatch.setattr(base, "datetime", FakeDatetime)
    return clock


def test_the_key_is_read_again_after_an_hour_without_a_refresh(aws: None, powertools_clock: FakeClock) -> None:
    client, reads = counted_client()
    client.create_secret(Name="kvk/api-key", SecretString="old-key")
    source = SecretsManagerApiKey("kvk/api-key", clock=powertools_clock, aws_client=lambda: client)
    assert source.get().reveal() == "old-key"
    client.put_secret_value(SecretId="kvk/api-key", SecretString="new-key")
    powertools_clock.advance(3599)
    assert source.get().reveal() == "old-key"
    assert len(reads) == 1  # one read an hour, not one per lookup
    powertools_clock.advance(2)
    assert source.get().reveal() == "new-key"
    assert len(reads) == 2


def test_an_unusable_secret_stands_for_exactly_the_retry_interval(aws: None, clock: FakeClock) -> None:
    client, reads = counted_client()
    client.create_secret(Name="kvk/api-key", SecretString="REPLACE_WITH_YOUR_KVK_API_KEY")
    source = SecretsManagerApiKey("kvk/api-key", retry_after=120, clock=clock, aws_client=lambda: client)
    with pytest.raises(SecretError, match="placeholder"):
        source.get()
    client.put_secret_value(SecretId="kvk/api-key", SecretString="the-real-key")
    clock.advance(119.9)
    with pytest.raises(SecretError, match="placeholder"):
        source.get()  # the remembered failure, without asking Secrets Manager
    assert len(reads) == 1
    clock.advance(0.1)
    assert source.get().reveal() == "the-real-key"  # read past Powertools' cached placeholder
    assert len(reads) == 2
    for _ in range(3):
        assert source.get().reveal() == "the-real-key"
    assert len(reads) == 2  # once usable, the key is cached again: no read per lookup


def test_an_unreadable_secret_says_why_and_stands_for_five_minutes(aws: None, clock: FakeClock) -> None:
    client, reads = counted_client()
    source = SecretsManagerApiKey("kvk/absent", clock=clock, aws_client=lambda: client)
    with pytest.raises(SecretError, match=r"'kvk/absent': GetParameterError: .*ResourceNotFoundException"):
        source.get()
    client.create_secret(Name="kvk/absent", SecretString="the-real-key")
    clock.advance(299)
    with pytest.raises(SecretError):
        source.get()
    assert len(reads) == 1
    clock.advance(1)
    assert source.get().reveal() == "the-real-key"


def test_a_secret_without_a_string_value_is_unusable(
    aws: None, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    monkeypatch.setattr(SecretsProvider, "get", lambda self, *args, **kwargs: {"not": "a string"})
    source = SecretsManagerApiKey("kvk/api-key", clock=clock)
    with pytest.raises(SecretError, match=r"^the KVK API key secret has no string value$"):
        source.get()


def test_a_failure_names_the_setting_that_named_the_secret(aws: None, clock: FakeClock) -> None:
    source = SecretsManagerApiKey("kvk/absent", clock=clock, setting="CALLER_KEY_SECRET_ID", name="the caller key")
    with pytest.raises(SecretError, match="could not read the caller key 'kvk/absent'") as caught:
        source.get()
    assert caught.value.setting == "CALLER_KEY_SECRET_ID"


def test_a_bad_setting_names_every_variable_at_fault() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"KVK_RATE_LIMIT_PER_SECOND": "fast", "CACHE_TTL_SECONDS": "-1"})
    assert set(caught.value.settings) == {"KVK_RATE_LIMIT_PER_SECOND", "CACHE_TTL_SECONDS"}


def test_the_kvk_key_is_reported_under_its_own_setting_by_default(aws: None, clock: FakeClock) -> None:
    with pytest.raises(SecretError) as caught:
        SecretsManagerApiKey("kvk/absent", clock=clock).get()
    assert caught.value.setting == "KVK_API_KEY_SECRET_ID"

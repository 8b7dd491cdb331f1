"""Settings from the environment (design §6), parsed once per execution environment.

A bad value fails at cold start with the variable's name, not later with a confusing error.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kvkgate.texts import Language

KVK_TEST_BASE_URL = "https://api.kvk.nl/test/api"
KVK_PRODUCTION_BASE_URL = "https://api.kvk.nl/api"
# KVK allows 100 calls/s per key; stay a little below so clock skew between callers is absorbed.
DEFAULT_RATE_LIMIT_PER_SECOND = 90.0


class ConfigError(Exception):
    """A setting is missing, holds a value the layer cannot use, or names something that does not exist
    (a secret, a bus, a pool). ``settings`` names the environment variables at fault; the message never
    holds a secret's value.

    Not a ``ValueError`` on purpose: nothing on the way up may take it for an unreadable KVK answer or
    a KVK outage. Entry points answer it as its own outcome, ``CONFIGURATION_ERROR``, and alarm on it.
    """

    def __init__(self, message: str, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.settings = settings

    @classmethod
    def missing(cls, setting: str, why: str = "") -> ConfigError:
        return cls(f"invalid configuration: {setting}: must be set{why}", (setting,))


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kvk_base_url: str = Field(KVK_TEST_BASE_URL, alias="KVK_BASE_URL")
    kvk_api_key_secret_id: str | None = Field(None, alias="KVK_API_KEY_SECRET_ID", min_length=1)
    table_name: str | None = Field(None, alias="TABLE_NAME", min_length=3, max_length=255)
    event_bus_name: str | None = Field(None, alias="EVENT_BUS_NAME", min_length=1)
    kvk_rate_limit_per_second: float = Field(
        DEFAULT_RATE_LIMIT_PER_SECOND, alias="KVK_RATE_LIMIT_PER_SECOND", gt=0, le=100
    )
    kvk_monthly_quota: int = Field(300_000, alias="KVK_MONTHLY_QUOTA", gt=0)
    kvk_paid_quota_share: float = Field(0.95, alias="KVK_PAID_QUOTA_SHARE", gt=0, le=1)
    cache_ttl_seconds: int = Field(86_400, alias="CACHE_TTL_SECONDS", ge=0)
    negative_cache_ttl_seconds: int = Field(3_600, alias="NEGATIVE_CACHE_TTL_SECONDS", ge=0)
    stale_if_error_seconds: int = Field(7 * 86_400, alias="STALE_IF_ERROR_SECONDS", ge=0)
    kvk_timeout_seconds: float = Field(3.0, alias="KVK_TIMEOUT_SECONDS", gt=0, le=30)
    # Admission control: a call slot only for a caller with this much time left after it ...
    kvk_call_seconds: float = Field(1.0, alias="KVK_CALL_SECONDS", gt=0, le=30)
    # ... and never further ahead than this (longer queues are refused at once).
    kvk_max_queue_seconds: float = Field(1.0, alias="KVK_MAX_QUEUE_SECONDS", ge=0, le=60)
    # The door model behind the arrival guarantee (aws/limits.py).
    kvk_slot_grace_seconds: float = Field(0.02, alias="KVK_SLOT_GRACE_SECONDS", gt=0, le=0.5)
    kvk_arrival_jitter_seconds: float = Field(0.03, alias="KVK_ARRIVAL_JITTER_SECONDS", ge=0, le=0.5)
    kvk_limiter_lead_seconds: float = Field(0.02, alias="KVK_LIMITER_LEAD_SECONDS", ge=0, le=0.5)
    # Environments that may run degraded at once (DynamoDB down): each gets rate / this many.
    kvk_expected_environments: int = Field(10, alias="KVK_EXPECTED_ENVIRONMENTS", ge=1, le=10_000)
    kvk_ca_bundle: Path | None = Field(None, alias="KVK_CA_BUNDLE")
    # Per-caller budgets (0: unlimited) and anonymous callers' paid lookups (aws/callers.py).
    caller_lookups_per_minute: int = Field(60, alias="CALLER_KVK_LOOKUPS_PER_MINUTE", ge=0)
    caller_lookups_per_day: int = Field(200, alias="CALLER_KVK_LOOKUPS_PER_DAY", ge=0)
    anonymous_paid_calls_per_caller_per_day: int = Field(3, alias="ANONYMOUS_PAID_CALLS_PER_CALLER_PER_DAY", ge=0)
    anonymous_paid_calls_per_day: int = Field(200, alias="ANONYMOUS_PAID_CALLS_PER_DAY", ge=0)
    caller_key_secret_id: str | None = Field(None, alias="CALLER_KEY_SECRET_ID", min_length=1)
    # The template's PublicPaidRoutes: anonymous callers may use the routes that always pay KVK.
    public_paid_routes: bool = Field(False, alias="PUBLIC_PAID_ROUTES")
    # The template's CorsAllowOrigins: a browser request from any other origin is refused (empty: no check).
    cors_allow_origins: str = Field("", alias="CORS_ALLOW_ORIGINS", max_length=4096)
    # Whose share of the monthly quota this function spends: the API's, or the sign-up gate's reserve.
    kvk_budget_pool: Literal["api", "gate"] = Field("api", alias="KVK_BUDGET_POOL")
    kvk_gate_quota_share: float = Field(0.3, alias="KVK_GATE_QUOTA_SHARE", ge=0, lt=1)
    # Whose share of KVK's *rate* this function's calls take: the pre-sign-up trigger has its own
    # schedule (``signup``, KVK_SIGNUP_RATE_SHARE of the rate) that no other traffic can fill.
    kvk_rate_pool: Literal["shared", "signup"] = Field("shared", alias="KVK_RATE_POOL")
    kvk_signup_rate_share: float = Field(0.2, alias="KVK_SIGNUP_RATE_SHARE", ge=0, le=0.9)
    # Paid KVK calls the sign-up gate may make per UTC day (onboarding's name checks); unset: no allowance.
    gate_paid_calls_per_day: int | None = Field(None, alias="GATE_PAID_CALLS_PER_DAY", ge=0)
    paid_name_check: Literal["ask", "allowance", "never"] = Field("ask", alias="PAID_NAME_CHECK")
    partial_name_verdict: Literal["valid", "invalid"] = Field("valid", alias="PARTIAL_NAME_VERDICT")
    expired_name_result: Literal["partial", "mismatch"] = Field("partial", alias="EXPIRED_NAME_RESULT")
    http_deadline_seconds: float = Field(5.0, alias="HTTP_DEADLINE_SECONDS", gt=0, le=29)
    # Every AWS call (DynamoDB, Secrets Manager, EventBridge, SQS) ends within
    # (connect + read) x attempts; the pre-sign-up trigger sets these short (Cognito waits 5 s).
    aws_connect_timeout_seconds: float = Field(1.0, alias="AWS_CONNECT_TIMEOUT_SECONDS", gt=0, le=10)
    aws_read_timeout_seconds: float = Field(2.0, alias="AWS_READ_TIMEOUT_SECONDS", gt=0, le=30)
    aws_max_attempts: int = Field(2, alias="AWS_MAX_ATTEMPTS", ge=1, le=5)
    signup_event_source: str = Field("app.signup", alias="SIGNUP_EVENT_SOURCE", min_length=1)
    max_receive_count: int = Field(10, alias="MAX_RECEIVE_COUNT", ge=1)
    onboarding_queue_url: str | None = Field(None, alias="ONBOARDING_QUEUE_URL", min_length=1)
    kvk_number_attribute: str = Field("custom:kvk_number", alias="KVK_NUMBER_ATTRIBUTE", min_length=1)
    company_name_attribute: str = Field("custom:company_name", alias="COMPANY_NAME_ATTRIBUTE", min_length=1)
    # Issue #21: optional attributes the pre-sign-up trigger checks too when a sign-up carries them (free Zoeken).
    branch_number_attribute: str = Field("custom:branch_number", alias="BRANCH_NUMBER_ATTRIBUTE", min_length=1)
    rsin_attribute: str = Field("custom:rsin", alias="RSIN_ATTRIBUTE", min_length=1)
    presignup_fail_open: bool = Field(True, alias="PRESIGNUP_FAIL_OPEN")
    # The Cognito pool the trigger guards (the template's UserPoolId or demo pool): the worker records
    # each sign-up's decision on the user in KVK_DECISION_ATTRIBUTE, and the sweep re-checks users without one.
    user_pool_id: str | None = Field(None, alias="USER_POOL_ID", min_length=1, max_length=55)
    kvk_decision_attribute: str = Field("custom:kvk_decision", alias="KVK_DECISION_ATTRIBUTE", min_length=1)
    # Sign-ups through an external identity provider (Google, SAML...): ``require`` the KVK number
    # as for any sign-up (in validationData or a mapped attribute), or ``skip`` the gate for them.
    federated_signups: Literal["require", "skip"] = Field("require", alias="FEDERATED_SIGNUPS")
    # Texts: the API's language when Accept-Language names none kvkgate speaks; the pre-sign-up
    # trigger's unless the client passes clientMetadata.language; onboarding events'.
    default_language: Language = Field("en", alias="DEFAULT_LANGUAGE")
    signup_message_language: Language = Field("nl", alias="SIGNUP_MESSAGE_LANGUAGE")
    # Watching customers' companies after sign-up (issue #23): decided verifications with a customer id
    # go on the watch list; the sweep looks at each watched number once per WATCH_SWEEP_DAYS with free
    # Zoeken; with a Mutatieservice subscription (an id, or "auto" for the first active one) its
    # signals are polled too.
    watch_customers: bool = Field(False, alias="WATCH_CUSTOMERS")
    watch_sweep_days: float = Field(30.0, alias="WATCH_SWEEP_DAYS", ge=1, le=365)
    mutatieservice_subscription: str = Field("", alias="MUTATIESERVICE_SUBSCRIPTION", max_length=100)
    # Company search answers change little within minutes; many people type the same prefixes.
    search_cache_ttl_seconds: int = Field(600, alias="SEARCH_CACHE_TTL_SECONDS", ge=0, le=86_400)
    # Issue #21: likely whole words the company search considers for the word being typed (0: as before).
    search_completions: int = Field(4, alias="SEARCH_COMPLETIONS", ge=0, le=10)
    function_name: str = Field("kvkgate", alias="AWS_LAMBDA_FUNCTION_NAME", min_length=1)

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return tuple(
            origin.strip().rstrip("/").lower() for origin in self.cors_allow_origins.split(",") if origin.strip()
        )

    @field_validator("kvk_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as " + KVK_TEST_BASE_URL)
        if value.endswith(("/v1", "/v2")):
            raise ValueError("must be the root without the API version, such as " + KVK_TEST_BASE_URL)
        return value

    @field_validator("kvk_ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    """(variable, what is wrong) for each bad value."""
    return [(".".join(str(part) for part in item["loc"]), item["msg"]) for item in error.errors()]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse settings from ``environ`` (default: the process environment). Empty values count as unset."""
    source = os.environ if environ is None else environ
    values = {name: value for name, value in source.items() if value != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        problems = _problems(error)
        message = "invalid configuration: " + "; ".join(f"{name}: {why}" for name, why in problems)
        raise ConfigError(message, tuple(dict.fromkeys(name for name, _ in problems))) from None


@functools.cache
def settings() -> Settings:
    """The process-wide settings, parsed on first use (at cold start, not at import)."""
    return load_settings()

"""The composition root: everything an execution environment builds, once, from :class:`Settings`.

Handlers ask :func:`environment` for what they use; tests, benchmarks and the local stack build
an :class:`Environment` with :class:`Overrides` for what they swap. Nothing else in the tree
wires clients, limiters, caches or publishers, and nothing here runs at import.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvkgate.aws.cache import CachePolicy, DynamoStore, KvkCache
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.config import ConfigError, Settings, settings
from kvkgate.domain.ports import Caller, Publisher, Redelivery, UserPool, WatchList
from kvkgate.domain.verify import Policy
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.client import KvkClient
from kvkgate.kvk.keys import ApiKey, ApiKeySource
from kvkgate.kvk.throttle import CallLimiter, TokenBucket
from kvkgate.registry import KvkRegistry

if TYPE_CHECKING:
    import httpx
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from kvkgate.app.watch import Watcher
    from kvkgate.aws.clients import AwsTimeouts
    from kvkgate.domain.completions import Completions


_UNLIMITED = 10**12


@dataclass(frozen=True)
class Overrides:
    """What tests and benchmarks swap. ``None`` (the default) builds what production builds."""

    api_key: ApiKeySource | None = None
    clock: Clock | None = None
    dynamodb: DynamoDBClient | None = None
    table: str | None = None
    publisher: Publisher | None = None
    # Called once per KVK call with the API and its outcome (default: a CloudWatch metric).
    observe: Callable[[KvkApi, str], None] | None = None
    # Called when a KVK call is granted its rate-limit slot, with the caller's deadline.
    on_grant: Callable[[KvkApi, Deadline], None] | None = None
    transport: httpx.BaseTransport | None = None
    # False: only this process's token bucket, no global limiter (a benchmark's baseline).
    global_limiter: bool = True
    # The key callers are stored under (HMAC), instead of reading CALLER_KEY_SECRET_ID.
    caller_secret: bytes | None = None
    # The Cognito pool decisions are recorded in (default: USER_POOL_ID's, when set).
    user_pool: UserPool | None = None
    # The watch list (default: on the table, when there is one).
    watch_list: WatchList | None = None


class Environment:
    """One execution environment's objects, each built on first use and then kept."""

    def __init__(self, config: Settings, overrides: Overrides | None = None) -> None:
        self.settings = config
        self.overrides = overrides or Overrides()
        self.clock: Clock = self.overrides.clock or SYSTEM_CLOCK
        self._idempotent: dict[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]] = {}
        self._caller_secret_value: bytes | None = None

    @functools.cached_property
    def table(self) -> str | None:
        return self.overrides.table or self.settings.table_name

    @functools.cached_property
    def aws_timeouts(self) -> AwsTimeouts:
        from kvkgate.aws.clients import AwsTimeouts

        config = self.settings
        return AwsTimeouts(config.aws_connect_timeout_seconds, config.aws_read_timeout_seconds, config.aws_max_attempts)

    def aws_client(self, service: str) -> Any:
        from kvkgate.aws.clients import client

        return client(service, self.aws_timeouts)

    @functools.cached_property
    def dynamodb(self) -> DynamoDBClient:
        if self.overrides.dynamodb is not None:
            return self.overrides.dynamodb
        from kvkgate.aws.dynamo import dynamodb_client

        return dynamodb_client(self.aws_timeouts)

    def require(self, *names: str) -> None:
        """Raise :class:`ConfigError` naming every one of these settings (environment variables) that
        is not set. Checked when a handler starts its work: no I/O, so a cold start pays nothing for
        it; the secrets the settings name are checked where they are first read."""
        fields = {field.alias: name for name, field in Settings.model_fields.items()}
        missing = tuple(name for name in names if getattr(self.settings, fields[name]) is None)
        if missing:
            raise ConfigError(f"invalid configuration: {', '.join(missing)}: must be set", missing)

    @functools.cached_property
    def api_key(self) -> ApiKeySource:
        if self.overrides.api_key is not None:
            return self.overrides.api_key
        if not self.settings.kvk_api_key_secret_id:
            return _Missing("KVK_API_KEY_SECRET_ID")  # reported when a KVK call needs the key
        from kvkgate.kvk.keys import SecretsManagerApiKey

        return SecretsManagerApiKey(
            self.settings.kvk_api_key_secret_id, clock=self.clock, aws_client=lambda: self.aws_client("secretsmanager")
        )

    @functools.cached_property
    def limiter(self) -> CallLimiter:
        """The chain every KVK call passes: caller budget, the gate's paid allowance, global limiter +
        budget (this function's rate schedule), per-process bucket."""
        config = self.settings
        limiter: CallLimiter = TokenBucket(config.kvk_rate_limit_per_second, clock=self.clock)
        if self.table and self.overrides.global_limiter:
            limiter = self._global_limiter()
        if config.gate_paid_calls_per_day is not None:
            from kvkgate.aws.allowance import PaidAllowance

            dynamodb = self.dynamodb if self.table else None
            limiter = PaidAllowance(
                dynamodb, self.table, config.gate_paid_calls_per_day, then=limiter, clock=self.clock
            )
        if not self.table:
            return limiter
        from kvkgate.aws.callers import CallerBudget, CallerLimits

        limits = CallerLimits(
            per_minute=config.caller_lookups_per_minute or _UNLIMITED,
            per_day=config.caller_lookups_per_day or _UNLIMITED,
            anonymous_paid_per_day=config.anonymous_paid_calls_per_caller_per_day,
            anonymous_paid_total_per_day=config.anonymous_paid_calls_per_day,
        )
        return CallerBudget(self.dynamodb, self.table, limits, self.caller_secret, then=limiter, clock=self.clock)

    def _global_limiter(self) -> CallLimiter:
        from kvkgate.aws.limits import (
            SHARED_SCHEDULE,
            SIGNUP_SCHEDULE,
            Admission,
            Budget,
            Door,
            GlobalRateLimiter,
            KvkGuard,
            rate_shares,
        )

        config = self.settings
        budget = Budget(
            config.kvk_monthly_quota, config.kvk_paid_quota_share, config.kvk_gate_quota_share, config.kvk_budget_pool
        )
        shared_rate, signup_rate = rate_shares(config.kvk_rate_limit_per_second, config.kvk_signup_rate_share)
        rate, schedule = shared_rate, SHARED_SCHEDULE
        if config.kvk_rate_pool == SIGNUP_SCHEDULE and signup_rate:
            rate, schedule = signup_rate, SIGNUP_SCHEDULE
        shared = GlobalRateLimiter(
            self.dynamodb,
            self.table or "",
            rate,
            budget,
            clock=self.clock,
            door=Door(
                config.kvk_slot_grace_seconds, config.kvk_arrival_jitter_seconds, config.kvk_limiter_lead_seconds
            ),
            admission=Admission(config.kvk_call_seconds, config.kvk_max_queue_seconds),
            schedule=schedule,
        )
        return KvkGuard(shared, config.kvk_expected_environments, clock=self.clock)

    def caller_secret(self) -> bytes:
        """The key under which callers are stored (HMAC); generated by the stack, read once."""
        if self.overrides.caller_secret is not None:
            return self.overrides.caller_secret
        return self._caller_secret()

    def _caller_secret(self) -> bytes:
        """A secret that is missing or may not be read is a :class:`ConfigError`; one that cannot be
        read just now (``SecretUnreachable``) is for the caller budget to ride out."""
        from kvkgate.kvk.keys import SecretUnusable

        if self._caller_secret_value is None:
            try:
                self._caller_secret_value = self._caller_key.get().reveal().encode()
            except SecretUnusable as error:
                setting = "CALLER_KEY_SECRET_ID"
                raise ConfigError(f"invalid configuration: {setting}: {error}", (setting,)) from None
        return self._caller_secret_value

    @functools.cached_property
    def _caller_key(self) -> ApiKeySource:
        if not self.settings.caller_key_secret_id:
            return _Missing("CALLER_KEY_SECRET_ID", " to count callers")
        from kvkgate.kvk.keys import SecretsManagerApiKey

        # Read once a year at most: the stack generates it and nobody rotates it.
        return SecretsManagerApiKey(
            self.settings.caller_key_secret_id,
            max_age=365 * 86_400,
            clock=self.clock,
            aws_client=lambda: self.aws_client("secretsmanager"),
            setting="CALLER_KEY_SECRET_ID",
            name="the caller key secret",
        )

    @functools.cached_property
    def client(self) -> KvkClient:
        extra: dict[str, Any] = {}
        if self.overrides.observe is not None:
            extra["observe"] = self.overrides.observe
        return KvkClient(
            self.settings.kvk_base_url,
            self.api_key,
            timeout=self.settings.kvk_timeout_seconds,
            limiter=self.limiter,
            clock=self.clock,
            ca_file=self.settings.kvk_ca_bundle,
            transport=self.overrides.transport,
            on_grant=self.overrides.on_grant,
            **extra,
        )

    @functools.cached_property
    def cache(self) -> KvkCache:
        config = self.settings
        policy = CachePolicy(
            ttl=config.cache_ttl_seconds,
            negative_ttl=config.negative_cache_ttl_seconds,
            stale_if_error=config.stale_if_error_seconds,
        )
        store = DynamoStore(self.dynamodb, self.table) if self.table else None
        return KvkCache(store, policy, clock=self.clock)

    @functools.cached_property
    def registry(self) -> KvkRegistry:
        return KvkRegistry(self.client, self.cache, search_ttl=self.settings.search_cache_ttl_seconds)

    @functools.cached_property
    def completions(self) -> Completions:
        """The words a company search completes the typed letters to; learns from KVK's answers (issue #21)."""
        from kvkgate.domain.completions import Completions

        return Completions()

    @functools.cached_property
    def policy(self) -> Policy:
        config = self.settings
        return Policy(
            partial_name_verdict=config.partial_name_verdict,
            expired_name_result=config.expired_name_result,
            paid_name_check=config.paid_name_check,
        )

    @functools.cached_property
    def publisher(self) -> Publisher:
        if self.overrides.publisher is not None:
            return self.overrides.publisher
        if not self.settings.event_bus_name:
            raise ConfigError.missing("EVENT_BUS_NAME")
        from kvkgate.aws.events import EventBridgePublisher

        return EventBridgePublisher(self.aws_client("events"), self.settings.event_bus_name)

    @functools.cached_property
    def user_pool(self) -> UserPool | None:
        """The pool the sign-up gate records its decisions in (None where none is configured)."""
        if self.overrides.user_pool is not None:
            return self.overrides.user_pool
        config = self.settings
        if not config.user_pool_id:
            return None
        from kvkgate.aws.cognito import CognitoUserPool

        return CognitoUserPool(
            self.aws_client("cognito-idp"),
            [config.user_pool_id],
            config.kvk_decision_attribute,
            config.kvk_number_attribute,
            config.company_name_attribute,
        )

    @functools.cached_property
    def watch_list(self) -> WatchList | None:
        """Which customers watch which KVK numbers (None without a table)."""
        if self.overrides.watch_list is not None:
            return self.overrides.watch_list
        if not self.table:
            return None
        from kvkgate.aws.watch import DynamoWatchList

        return DynamoWatchList(self.dynamodb, self.table, self.clock)

    def watched_by(self, customer: str | None) -> WatchList | None:
        """The watch list to record a decision for ``customer`` on, when this function watches (WATCH_CUSTOMERS)."""
        return self.watch_list if customer and self.settings.watch_customers else None

    @functools.cached_property
    def watcher(self) -> Watcher:
        from kvkgate.app.watch import Watcher

        if self.watch_list is None:
            raise ConfigError("invalid configuration: TABLE_NAME: must be set to watch customers' companies")
        return Watcher(self.registry, self.watch_list, self.publisher, self.clock, self.settings.watch_sweep_days)

    @functools.cached_property
    def redelivery(self) -> Redelivery | None:
        """The onboarding queue's back-off (None where no queue is configured)."""
        if not self.settings.onboarding_queue_url:
            return None
        from kvkgate.aws.queue import SqsRedelivery

        return SqsRedelivery(self.aws_client("sqs"), self.settings.onboarding_queue_url)

    @functools.cached_property
    def idempotency_store(self) -> DynamoDBPersistenceLayer:
        """Powertools idempotency records on the same table, under this function's own keys."""
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(
            table_name=self.table or "",
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=f"IDEMPOTENCY#{self.settings.function_name}",
            expiry_attr="expiresAt",
            boto3_client=self.dynamodb,
        )

    def idempotent(
        self, function: Callable[..., dict[str, Any]], config: IdempotencyConfig
    ) -> Callable[..., dict[str, Any]]:
        """``function`` (called with ``work=…``) made idempotent on this environment's table; built once."""
        if function not in self._idempotent:
            from aws_lambda_powertools.utilities.idempotency import idempotent_function

            decorate = idempotent_function(
                data_keyword_argument="work", config=config, persistence_store=self.idempotency_store
            )
            self._idempotent[function] = decorate(function)
        return self._idempotent[function]

    def caller_scope(self, caller: Caller | None) -> AbstractContextManager[None]:
        """KVK calls made inside count against ``caller``'s budget."""
        from kvkgate.aws.callers import caller_scope

        return caller_scope(caller)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.time(), dt.UTC)


class _Missing:
    """The key source of a setting that is not set: every read is the configuration error it is."""

    def __init__(self, setting: str, why: str = "") -> None:
        self._error = ConfigError.missing(setting, why)

    def get(self, *, refresh: bool = False) -> ApiKey:
        raise ConfigError(str(self._error), self._error.settings)


_installed = Overrides()
# Set by a process that hosts several functions at once (a benchmark of the whole stack): each
# handler call then runs in its own function's environment, as it would in its own Lambda.
_hosted: contextvars.ContextVar[Environment | None] = contextvars.ContextVar("kvkgate_hosted", default=None)


def environment() -> Environment:
    """This execution environment's objects, built from the process environment on first use."""
    return _hosted.get() or _process_environment()


@functools.cache
def _process_environment() -> Environment:
    return Environment(settings(), _installed)


@contextlib.contextmanager
def hosting(hosted: Environment) -> Iterator[None]:
    """Handlers called inside use ``hosted`` instead of the process's environment."""
    token = _hosted.set(hosted)
    try:
        yield
    finally:
        _hosted.reset(token)


def install(overrides: Overrides) -> None:
    """Make :func:`environment` build with ``overrides`` from now on (benchmarks, tests)."""
    global _installed
    _installed = overrides
    _process_environment.cache_clear()


def reset() -> None:
    """Forget everything built and installed (tests, or a local runner that changes its environment)."""
    settings.cache_clear()
    install(Overrides())

"""The KVK adapter: typed client, response models, error taxonomy, TLS trust."""

from __future__ import annotations

import functools

from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.client import KvkClient, RetryPolicy, ZoekQuery
from kvkgate.kvk.errors import (
    Forbidden,
    InvalidRequest,
    KvkError,
    NotFound,
    RateLimited,
    TemporarilyUnavailable,
    Unauthorized,
    UnexpectedResponse,
)

__all__ = [
    "Forbidden",
    "InvalidRequest",
    "KvkApi",
    "KvkClient",
    "KvkError",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "TemporarilyUnavailable",
    "Unauthorized",
    "UnexpectedResponse",
    "ZoekQuery",
    "default_client",
]


@functools.cache
def default_client() -> KvkClient:
    """The execution environment's client, built from the settings on first use."""
    from kvkgate.config import ConfigError, settings
    from kvkgate.secrets import SecretsManagerApiKey
    from kvkgate.throttle import TokenBucket

    config = settings()
    if not config.kvk_api_key_secret_id:
        raise ConfigError("invalid configuration: KVK_API_KEY_SECRET_ID: must be set")
    return KvkClient(
        config.kvk_base_url,
        SecretsManagerApiKey(config.kvk_api_key_secret_id),
        timeout=config.kvk_timeout_seconds,
        limiter=TokenBucket(config.kvk_rate_limit_per_second),
        ca_file=config.kvk_ca_bundle,
    )

"""The KVK adapter: typed client, response models, error taxonomy, TLS trust."""

from __future__ import annotations

from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.client import KvkClient, KvkResponse, RetryPolicy
from kvkgate.kvk.errors import (
    BudgetExhausted,
    Forbidden,
    InvalidRequest,
    KvkError,
    NotFound,
    RateLimited,
    TemporarilyUnavailable,
    Unauthorized,
    UnexpectedResponse,
)
from kvkgate.kvk.requests import ZoekQuery

__all__ = [
    "BudgetExhausted",
    "Forbidden",
    "InvalidRequest",
    "KvkApi",
    "KvkClient",
    "KvkError",
    "KvkResponse",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "TemporarilyUnavailable",
    "Unauthorized",
    "UnexpectedResponse",
    "ZoekQuery",
]

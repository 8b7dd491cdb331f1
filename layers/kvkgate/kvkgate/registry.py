"""KVK lookups as the domain needs them: each answer cached, each call guarded by the limits.

This is the one place that decides cache keys. Past this module nothing knows whether an answer
came from memory, DynamoDB or KVK, except through :class:`~kvkgate.cache.Lookup`'s ``source``
and ``stale``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from kvkgate.cache import CacheKey, CachePolicy, DynamoStore, KvkCache, Lookup
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError, Settings
from kvkgate.kvk.client import (
    KvkClient,
    KvkRequest,
    ZoekQuery,
    basisprofiel_request,
    naamgeving_request,
    vestigingsprofiel_request,
    zoeken_request,
)
from kvkgate.kvk.models import Basisprofiel, Naamgeving, Vestiging, ZoekResultaat

# The one Zoeken per company the verification makes: every registration, active or not.
COMPANY_SEARCH_PAGE = 100


def company_query(kvk_number: str) -> ZoekQuery:
    return ZoekQuery(kvkNummer=kvk_number, inclusiefInactieveRegistraties=True, resultatenPerPagina=COMPANY_SEARCH_PAGE)


def cache_key(request: KvkRequest) -> CacheKey:
    """Design §7 keys: pk per company (or branch, or search), sk per API and query variant."""
    params = dict(request.params)
    if request.api.value == "zoeken":
        kvk = params.get("kvkNummer")
        digest = hashlib.sha256(repr(sorted(request.params)).encode()).hexdigest()[:20]
        if kvk is None:
            return CacheKey(f"ZOEKEN#{digest}", "ZOEKEN")
        is_company_search = request.params == zoeken_request(company_query(kvk)).params
        return CacheKey(f"KVK#{kvk}", "ZOEKEN" if is_company_search else f"ZOEKEN#{digest}")
    variant = "#GEO" if params.get("geoData") == "true" else ""
    if request.api.value == "vestigingsprofiel":
        return CacheKey(f"VESTIGING#{request.subject}", "VESTIGINGSPROFIEL" + variant)
    if request.api.value == "naamgeving":
        return CacheKey(f"KVK#{request.subject}", "NAAMGEVING")
    part = f"#{request.part.upper()}" if request.part else ""
    return CacheKey(f"KVK#{request.subject}", "BASISPROFIEL" + part + variant)


class KvkLookups:
    def __init__(self, client: KvkClient, cache: KvkCache) -> None:
        self.client = client
        self.cache = cache

    def company_search(self, kvk_number: str, deadline: Deadline) -> Lookup[ZoekResultaat]:
        """Every registration (vestigingen, legal entity) of one KVK number, active or not. Free."""
        return self.search(company_query(kvk_number), deadline)

    def search(self, query: ZoekQuery, deadline: Deadline) -> Lookup[ZoekResultaat]:
        return self._lookup(zoeken_request(query), ZoekResultaat.model_validate, deadline)

    def basisprofiel(self, kvk_number: str, deadline: Deadline) -> Lookup[Basisprofiel]:
        return self._lookup(basisprofiel_request(kvk_number), Basisprofiel.model_validate, deadline)

    def naamgeving(self, kvk_number: str, deadline: Deadline) -> Lookup[Naamgeving]:
        return self._lookup(naamgeving_request(kvk_number), Naamgeving.model_validate, deadline)

    def vestigingsprofiel(self, branch_number: str, deadline: Deadline) -> Lookup[Vestiging]:
        return self._lookup(vestigingsprofiel_request(branch_number), Vestiging.model_validate, deadline)

    def _lookup[T](self, request: KvkRequest, parse: Callable[[Any], T], deadline: Deadline) -> Lookup[T]:
        return self.cache.lookup(
            cache_key(request), lambda: self.client.fetch(request, deadline=deadline), parse, deadline
        )


def build_client(config: Settings) -> KvkClient:
    """The client with its limits: per-caller budget and the global limiter when a table is configured."""
    from kvkgate.callers import CallerBudget
    from kvkgate.dynamo import dynamodb_client
    from kvkgate.limits import Budget, GlobalRateLimiter, KvkGuard
    from kvkgate.secrets import SecretsManagerApiKey
    from kvkgate.throttle import CallLimiter, TokenBucket

    if not config.kvk_api_key_secret_id:
        raise ConfigError("invalid configuration: KVK_API_KEY_SECRET_ID: must be set")
    limiter: CallLimiter = TokenBucket(config.kvk_rate_limit_per_second)
    if config.table_name:
        client = dynamodb_client()
        budget = Budget(config.kvk_monthly_quota, config.kvk_paid_quota_share)
        global_limiter = GlobalRateLimiter(client, config.table_name, config.kvk_rate_limit_per_second, budget)
        limiter = KvkGuard(global_limiter, fallback=limiter)
        if config.caller_lookups_per_minute:
            limiter = CallerBudget(client, config.table_name, config.caller_lookups_per_minute, then=limiter)
    return KvkClient(
        config.kvk_base_url,
        SecretsManagerApiKey(config.kvk_api_key_secret_id),
        timeout=config.kvk_timeout_seconds,
        limiter=limiter,
        ca_file=config.kvk_ca_bundle,
    )


def build_lookups(config: Settings) -> KvkLookups:
    from kvkgate.dynamo import dynamodb_client

    policy = CachePolicy(
        ttl=config.cache_ttl_seconds,
        negative_ttl=config.negative_cache_ttl_seconds,
        stale_if_error=config.stale_if_error_seconds,
    )
    store = DynamoStore(dynamodb_client(), config.table_name) if config.table_name else None
    return KvkLookups(build_client(config), KvkCache(store, policy))

"""The layer end to end: lookups through the cache and limits to the KVK sandbox, table on a moto server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import httpx
import pytest

from kvkgate.cache import CachePolicy, DynamoStore, KvkCache
from kvkgate.clock import Deadline
from kvkgate.kvk import KvkClient
from kvkgate.limits import Budget, GlobalRateLimiter, KvkGuard
from kvkgate.lookups import KvkLookups
from kvkgate.secrets import StaticApiKey
from kvkgate.throttle import TokenBucket
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer
from tests.integration.conftest import MotoServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(Behaviour(rate_limit=100)) as server:
        yield server


def environment(sandbox: SandboxServer, moto_server: MotoServer) -> KvkLookups:
    """What one Lambda execution environment builds: its own client, L1 and limiter view."""
    dynamodb = boto3.client("dynamodb")
    guard = KvkGuard(GlobalRateLimiter(dynamodb, moto_server.table, 100, Budget(300_000)), fallback=TokenBucket(100))
    client = KvkClient(sandbox.test_url, StaticApiKey(PUBLIC_TEST_KEY), limiter=guard)
    return KvkLookups(client, KvkCache(DynamoStore(dynamodb, moto_server.table), CachePolicy()))


class Later:
    """The system clock, shifted: the cache sees its entries as this much older."""

    def __init__(self, seconds: float) -> None:
        self.offset = seconds

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def kvk_calls(sandbox: SandboxServer) -> int:
    total: int = httpx.get(sandbox.url + "/__sandbox/stats").json()["totalCalls"]
    return total


def test_a_repeated_lookup_within_ttl_makes_no_kvk_call(sandbox: SandboxServer, moto_server: MotoServer) -> None:
    first_environment, second_environment = environment(sandbox, moto_server), environment(sandbox, moto_server)
    deadline = Deadline.after(20)
    found = first_environment.company_search("69599084", deadline)
    assert found.source == "kvk"
    assert found.value is not None
    assert found.value.totaal == 2
    again = first_environment.company_search("69599084", deadline)
    shared = second_environment.company_search("69599084", deadline)
    assert (again.source, shared.source) == ("cache", "cache")
    assert kvk_calls(sandbox) == 1


def test_not_found_is_cached_and_paid_calls_are_counted(sandbox: SandboxServer, moto_server: MotoServer) -> None:
    lookups = environment(sandbox, moto_server)
    deadline = Deadline.after(20)
    assert lookups.company_search("12345678", deadline).value is None
    assert lookups.company_search("12345678", deadline).value is None
    naming = lookups.naamgeving("68750110", deadline)
    assert naming.value is not None
    assert naming.value.statutaireNaam == "Test BV Donald"
    assert kvk_calls(sandbox) == 2
    budget = GlobalRateLimiter(boto3.client("dynamodb"), moto_server.table, 100).usage()
    assert (budget.calls, budget.paid_calls) == (2, 1)


def test_outage_answers_stale_and_never_caches_the_failure(sandbox: SandboxServer, moto_server: MotoServer) -> None:
    lookups = environment(sandbox, moto_server)
    lookups.company_search("69599084", Deadline.after(20))
    httpx.put(sandbox.url + "/__sandbox/config", json={"outage": True})
    two_days_later = KvkCache(
        DynamoStore(boto3.client("dynamodb"), moto_server.table), CachePolicy(), Later(2 * 86_400)
    )
    expired = KvkLookups(lookups.client, two_days_later)
    answer = expired.company_search("69599084", Deadline.after(3))
    assert (answer.source, answer.stale) == ("cache", True)
    assert answer.value is not None
    assert answer.value.totaal == 2

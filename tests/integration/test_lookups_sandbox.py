"""The layer end to end: lookups through the cache and limits to the KVK sandbox, table on a moto server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import httpx
import pytest

from kvkgate.aws.limits import GlobalRateLimiter
from kvkgate.clock import Clock, Deadline
from kvkgate.config import load_settings
from kvkgate.kvk.keys import StaticApiKey
from kvkgate.registry import KvkRegistry
from kvkgate.root import Environment, Overrides
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer
from tests.integration.conftest import MotoServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(Behaviour(rate_limit=100)) as server:
        yield server


def environment(sandbox: SandboxServer, moto_server: MotoServer, clock: Clock | None = None) -> KvkRegistry:
    """What one Lambda execution environment builds: its own client, L1 and limiter view."""
    config = load_settings(
        {"KVK_BASE_URL": sandbox.test_url, "TABLE_NAME": moto_server.table, "KVK_RATE_LIMIT_PER_SECOND": "100"}
    )
    overrides = Overrides(api_key=StaticApiKey(PUBLIC_TEST_KEY), dynamodb=boto3.client("dynamodb"), clock=clock)
    return Environment(config, overrides).registry


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
    found = first_environment.registrations("69599084", deadline)
    assert found.source == "kvk"
    assert found.value is not None
    assert found.value.total == 2
    again = first_environment.registrations("69599084", deadline)
    shared = second_environment.registrations("69599084", deadline)
    assert (again.source, shared.source) == ("cache", "cache")
    assert kvk_calls(sandbox) == 1


def test_not_found_is_cached_and_paid_calls_are_counted(sandbox: SandboxServer, moto_server: MotoServer) -> None:
    registry = environment(sandbox, moto_server)
    deadline = Deadline.after(20)
    assert registry.registrations("12345678", deadline).value is None
    assert registry.registrations("12345678", deadline).value is None
    naming = registry.names("68750110", deadline)
    assert naming.value is not None
    assert ("Test BV Donald", "statutoryName") in {(name.name, name.name_type) for name in naming.value}
    assert kvk_calls(sandbox) == 2
    budget = GlobalRateLimiter(boto3.client("dynamodb"), moto_server.table, 100).usage()
    assert (budget.calls, budget.paid_calls) == (2, 1)


def test_outage_answers_stale_and_never_caches_the_failure(sandbox: SandboxServer, moto_server: MotoServer) -> None:
    environment(sandbox, moto_server).registrations("69599084", Deadline.after(20))
    httpx.put(sandbox.url + "/__sandbox/config", json={"outage": True})
    two_days_later = environment(sandbox, moto_server, Later(2 * 86_400))
    answer = two_days_later.registrations("69599084", Deadline.after(3))
    assert (answer.source, answer.stale) == ("cache", True)
    assert answer.value is not None
    assert answer.value.total == 2

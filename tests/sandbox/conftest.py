from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import httpx
import pytest

from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(Behaviour(rate_limit=None)) as server:
        yield server


@pytest.fixture
def fresh(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The module's sandbox with default behaviour and empty stats; restored afterwards."""
    defaults = asdict(Behaviour(rate_limit=None))
    sandbox.sandbox.faults.behaviour.update(defaults)
    sandbox.sandbox.faults.reset()
    yield sandbox
    sandbox.sandbox.faults.behaviour.update(defaults)


@pytest.fixture
def kvk_http(fresh: SandboxServer) -> Iterator[httpx.Client]:
    headers = {"apikey": PUBLIC_TEST_KEY, "Accept": "application/hal+json"}
    with httpx.Client(base_url=fresh.test_url, headers=headers) as client:
        yield client

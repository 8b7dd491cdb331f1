"""Several processes, each its own execution environment, calling KVK through one shared limiter.

Measured where KVK counts: the sandbox enforces the same rate and records when each call
arrived. A limiter that only scheduled start times (and let late wakers call anyway) or that let
callers skip the wait shows up here as arrivals above the rate and as 429s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer
from tests.integration.conftest import MotoServer
from tests.unit.test_limits import busiest_second

RATE = 20
WORKER = """
import sys
from kvkgate.clock import Deadline
from kvkgate.config import load_settings
from kvkgate.kvk.keys import StaticApiKey
from kvkgate.kvk.requests import ZoekQuery
from kvkgate.root import Environment, Overrides
from local.sandbox.app import PUBLIC_TEST_KEY

kvk_url, table, rate, numbers = sys.argv[1:5]
settings = load_settings({"KVK_BASE_URL": kvk_url, "TABLE_NAME": table, "KVK_RATE_LIMIT_PER_SECOND": rate,
                          "KVK_MAX_QUEUE_SECONDS": "30", "KVK_CALL_SECONDS": "1"})
client = Environment(settings, Overrides(api_key=StaticApiKey(PUBLIC_TEST_KEY), observe=lambda *_: None)).client
for number in numbers.split(","):
    client.zoeken(ZoekQuery(kvkNummer=number), deadline=Deadline.after(60))  # straight to KVK: no cache
"""


@pytest.fixture
def kvk_at_the_rate() -> Iterator[SandboxServer]:
    with SandboxServer(Behaviour(rate_limit=RATE)) as server:
        yield server


def test_processes_together_hold_the_rate_where_kvk_counts(
    moto_server: MotoServer, kvk_at_the_rate: SandboxServer
) -> None:
    processes, per_process = 4, 15
    numbers = ",".join(["69599084", "68750110", "90000749"] * (per_process // 3))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, kvk_at_the_rate.test_url, moto_server.table, str(RATE), numbers],
            env=os.environ.copy(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors[-2000:]
    stats = httpx.get(kvk_at_the_rate.url + "/__sandbox/stats").json()
    arrivals = httpx.get(kvk_at_the_rate.url + "/__sandbox/arrivals").json()["arrivals"]
    assert len(arrivals) == processes * per_process
    assert stats["rateLimited"] == 0
    assert busiest_second(arrivals) <= RATE
    # They really queued: together as long as one caller at the rate, not four times less.
    assert max(arrivals) - min(arrivals) >= (len(arrivals) - RATE) / RATE

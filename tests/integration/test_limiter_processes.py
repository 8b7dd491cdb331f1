"""Several processes, each its own limiter (like separate Lambda environments), one moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.integration.conftest import MotoServer
from tests.unit.test_limits import busiest_second

WORKER = """
import json, sys
import boto3
from kvkgate.clock import Deadline
from kvkgate.kvk import KvkApi
from kvkgate.aws.limits import GlobalRateLimiter

granted = []
class Recording(GlobalRateLimiter):
    def _wait_until(self, start, now):
        granted.append(max(start, now))
        super()._wait_until(start, now)

limiter = Recording(boto3.client("dynamodb"), sys.argv[1], rate=float(sys.argv[2]))
for _ in range(int(sys.argv[3])):
    limiter.acquire(KvkApi.ZOEKEN, Deadline.after(60))
print(json.dumps(granted))
"""


def test_processes_share_one_rate(moto_server: MotoServer) -> None:
    rate, per_process, processes = 40, 25, 4
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, moto_server.table, str(rate), str(per_process)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(processes)
    ]
    granted: list[float] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        granted.extend(json.loads(out))
    assert len(granted) == per_process * processes
    assert busiest_second(granted) <= rate
    # all four together took about as long as one caller would at the rate, not four times less
    assert max(granted) - min(granted) >= (len(granted) - rate) / rate

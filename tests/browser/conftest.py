"""`make run` as a user starts it: a separate process, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    url: str
    process: subprocess.Popen[str]
    ports: tuple[int, ...]


@pytest.fixture(scope="module")
def local_stack() -> Iterator[RunningStack]:
    ports = (free_port(), free_port(), free_port())
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "KVK_"))}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.stack",
            "--port",
            str(ports[0]),
            "--kvk-port",
            str(ports[1]),
            "--aws-port",
            str(ports[2]),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{ports[0]}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"make run exited: {process.stdout.read() if process.stdout else ''}") from None
            time.sleep(0.2)
    yield RunningStack(url, process, ports)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)

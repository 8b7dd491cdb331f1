"""`make run` as a user starts it: a separate process, stopped with Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    output: list[str] = field(default_factory=list)  # what make run printed so far, line by line

    def printed(self, text: str, within: float = 20) -> str:
        """The first line make run printed containing ``text``, waiting up to ``within`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = next((line for line in list(self.output) if text in line), None)
            if found is not None:
                return found
            time.sleep(0.1)
        raise AssertionError(f"make run printed no line with {text!r}:\n" + "".join(self.output))


@contextlib.contextmanager
def started(*parameters: str) -> Iterator[RunningStack]:
    """``make run`` as a process on free ports (``parameters``: template parameters, KEY=VALUE); stopped
    with Ctrl-C on exit."""
    ports = (free_port(), free_port(), free_port())
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "KVK_"))}
    command = [sys.executable, "-m", "local.stack", "--port", str(ports[0]), "--kvk-port", str(ports[1])]
    command += ["--aws-port", str(ports[2])]
    if parameters:
        command += ["--parameter-overrides", *parameters]
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    stack = RunningStack(f"http://127.0.0.1:{ports[0]}", process, ports)
    # Read as it comes: a full pipe would stop make run, and tests read what it printed.
    lines = process.stdout
    assert lines is not None
    reader = threading.Thread(target=lambda: stack.output.extend(iter(lines.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(stack.url + "/", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            if process.poll() is not None:
                reader.join(5)
                raise RuntimeError("make run exited: " + "".join(stack.output)) from None
            time.sleep(0.2)
    try:
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def local_stack() -> Iterator[RunningStack]:
    with started() as stack:
        yield stack

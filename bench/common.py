"""What every benchmark needs: a moto server process, the sandbox, tables from the template, tables of figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx

from local.aws_resources import create_tables
from local.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server in its own process (as the local stack runs it); yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def aws_environment(endpoint: str) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto accepts any credentials
        POWERTOOLS_METRICS_DISABLED="true",
    )


def fresh_table() -> str:
    """A new, empty copy of the template's table."""
    names = create_tables(boto3.client("dynamodb"), {"KvkgateTable": f"kvkgate-bench-{uuid.uuid4().hex[:8]}"})
    return names["KvkgateTable"]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so the output can be pasted into docs/benchmarks.md as it is."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |" for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)

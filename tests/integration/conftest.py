from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest


@dataclass
class MotoServer:
    url: str
    table: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def moto_server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server on loopback (like the local stack), with the template's table."""
    import boto3
    from moto.server import ThreadedMotoServer

    from local.aws_resources import create_tables

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        names = create_tables(boto3.client("dynamodb"), {"KvkgateTable": f"kvkgate-{uuid.uuid4().hex[:8]}"})
        yield MotoServer(url, names["KvkgateTable"])
    finally:
        # Moto's backends live in the process, not in the server: reset them for the next test.
        httpx.post(url + "/moto-api/reset")
        server.stop()

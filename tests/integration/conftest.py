from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest


@dataclass
class MotoServer:
    url: str
    table: str


@pytest.fixture
def moto_server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server on loopback (like the local stack), with the template's table."""
    import boto3

    from local.aws_resources import create_tables
    from local.moto_server import MotoServer as Server

    with Server() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        try:
            names = create_tables(boto3.client("dynamodb"), prefix=f"kvkgate-{uuid.uuid4().hex[:8]}")
            yield MotoServer(server.url, names["KvkgateTable"])
        finally:
            # Moto's backends live in the process, not in the server: reset them for the next test.
            httpx.post(server.url + "/moto-api/reset")

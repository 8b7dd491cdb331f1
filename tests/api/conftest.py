"""The HTTP API in-process: template routes -> real handler, moto for AWS, the sandbox for KVK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from kvkgate import runtime
from local.apigw import HttpApi
from local.aws_resources import create_tables
from local.lambda_runtime import functions
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Api:
    http: HttpApi
    sandbox: SandboxServer
    source_ip: str = "198.51.100.7"

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Answer:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        status, headers, content = self.http.handle(
            method, path, payload, {"content-type": "application/json"}, "", self.source_ip
        )
        return Answer(status, headers, json.loads(content) if content else None)

    def validate(self, **fields: Any) -> Answer:
        return self.call("POST", "/v1/validations", fields)

    def kvk_calls(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(self.sandbox.url + "/__sandbox/stats").json()
        return stats

    def kvk(self, **behaviour: Any) -> None:
        httpx.put(self.sandbox.url + "/__sandbox/config", json=behaviour)


@pytest.fixture
def api(kvk_sandbox: SandboxServer, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    kvk_sandbox.sandbox.faults.behaviour.update(asdict(Behaviour(rate_limit=None)))
    kvk_sandbox.sandbox.faults.reset()
    with mock_aws():
        tables = create_tables(boto3.client("dynamodb"), {"KvkgateTable": "kvkgate-api"})
        secret = boto3.client("secretsmanager").create_secret(Name="kvk/api-key", SecretString=PUBLIC_TEST_KEY)
        environment = {
            "KVK_BASE_URL": kvk_sandbox.test_url,
            "KVK_API_KEY_SECRET_ID": secret["ARN"],
            "TABLE_NAME": tables["KvkgateTable"],
            "POWERTOOLS_SERVICE_NAME": "kvkgate-test",
            "POWERTOOLS_METRICS_NAMESPACE": "kvkgate",
            "HTTP_DEADLINE_SECONDS": "3",
            "KVK_TIMEOUT_SECONDS": "2",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        runtime.reset()
        yield Api(HttpApi(functions().values()), kvk_sandbox)
        runtime.reset()
    kvk_sandbox.sandbox.faults.behaviour.update(asdict(Behaviour(rate_limit=None)))

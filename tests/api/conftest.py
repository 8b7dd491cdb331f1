"""The HTTP API in-process: template routes -> real handler, moto for AWS, the sandbox for KVK."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from local.apigw import HttpApi
from local.lambda_runtime import functions
from tests.conftest import LocalAws


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Api:
    http: HttpApi
    aws: LocalAws
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
        return self.aws.kvk_stats()

    def kvk(self, **behaviour: Any) -> None:
        self.aws.kvk(**behaviour)


@pytest.fixture
def api(local_aws: LocalAws) -> Api:
    return Api(HttpApi(functions().values()), local_aws)

"""The HTTP API in-process: template routes -> real handler, moto for AWS, the sandbox for KVK."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from local.apigw import HttpApi, sigv4_authorization
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

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> Answer:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        sent = {"content-type": "application/json", **(headers or {})}
        status, answered, content = self.http.handle(method, path, payload, sent, query, self.source_ip)
        return Answer(status, answered, json.loads(content) if content else None)

    def signed(self, method: str, path: str, body: Any = None) -> Answer:
        """A call from an authenticated (IAM-signed) client, as the paid routes need."""
        return self.call(method, path, body, headers={"authorization": sigv4_authorization()})

    def validate(self, **fields: Any) -> Answer:
        return self.call("POST", "/v1/validations", fields)

    def kvk_calls(self) -> dict[str, Any]:
        return self.aws.kvk_stats()

    def kvk(self, **behaviour: Any) -> None:
        self.aws.kvk(**behaviour)


@pytest.fixture
def api(local_aws: LocalAws) -> Api:
    return Api(HttpApi(functions().values()), local_aws)

"""Shared fixtures: recordings, a fake clock, a KVK transport double, and a network guard."""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import ipaddress
import json
import re
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.leakcheck import pytest_configure, pytest_runtest_makereport, pytest_sessionfinish  # noqa: F401 - hooks

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
RECORDINGS = FIXTURES / "kvk" / "recordings"
# A fake key used by the unit tests; tests/leakcheck.py fails the run if it (or any key) reaches any output.
SECRET_KEY = (FIXTURES / "never-logged-keys.txt").read_text().split()[0]


def pruned_modules() -> list[str]:
    """The modules the layer's build removes (layers/kvkgate/Makefile ``PRUNE``)."""
    found = re.search(r"^PRUNE := (.*?)\n\n", (ROOT / "layers/kvkgate/Makefile").read_text(), re.S | re.M)
    assert found is not None, "layers/kvkgate/Makefile has no PRUNE list"
    return [path.replace("/", ".") for path in found.group(1).replace("\\", " ").split()]


def _is_pruned(name: str, pruned: str) -> bool:
    """``pkg.module`` and what is inside it; ``pkg.module*`` is every module whose name starts so."""
    if pruned.endswith("*"):
        return name.startswith(pruned[:-1])
    return name == pruned or name.startswith(pruned + ".")


class _PrunedFromTheLayer(importlib.abc.MetaPathFinder):
    """What the layer does not ship cannot be imported in the tests either."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = modules

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if any(_is_pruned(name, pruned) for pruned in self.modules):
            raise ImportError(f"{name} is pruned from the layer (layers/kvkgate/Makefile PRUNE)")
        return None


sys.meta_path.insert(0, _PrunedFromTheLayer(pruned_modules()))


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


def recording_bytes(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


@dataclass
class FakeClock:
    """Monotonic and wall time that only move when someone sleeps or the test advances them."""

    now: float = 1_000.0
    wall: float = 1_764_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class ScriptedKvk:
    """An httpx transport that answers from a script of responses and records every request."""

    script: list[httpx.Response | Exception | Responder] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    default: Responder | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step: httpx.Response | Exception | Responder | None = self.script.pop(0) if self.script else self.default
        if step is None:
            raise AssertionError(f"unexpected request {request.url}")
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def kvk_json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content_type = "application/hal+json" if status < 400 else "application/json"
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"Content-Type": content_type, **(headers or {})}
    )


@pytest.fixture
def kvk() -> ScriptedKvk:
    return ScriptedKvk()


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like never leave the machine
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to servers they start on loopback, never to anything else."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            raise RuntimeError(f"test tried to resolve a network name: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@dataclass
class Table:
    client: Any
    name: str


@pytest.fixture
def table(aws_env: None) -> Iterator[Table]:
    """The template's DynamoDB table, created from template.yaml in moto."""
    from moto import mock_aws

    from local.aws_resources import create_tables

    with mock_aws():
        client = _boto3_session().client("dynamodb")
        names = create_tables(client, prefix="kvkgate-test")
        yield Table(client, names["KvkgateTable"])


@functools.cache
def _boto3_session() -> Any:
    """One boto3 session for the run: moto drops boto3's default session at each start, and a new
    session parses the service models again (most of a unit test's set-up time). Each test still
    gets its own client, so event hooks a test registers die with it."""
    import boto3

    return boto3.session.Session()


@pytest.fixture(scope="session")
def kvk_sandbox() -> Iterator[Any]:
    """One KVK sandbox for the whole run (no rate limit); tests reset its stats and faults."""
    from local.sandbox.faults import Behaviour
    from local.sandbox.server import SandboxServer

    with SandboxServer(Behaviour(rate_limit=None)) as server:
        yield server


MAX_RECEIVES = 3


@dataclass
class LocalAws:
    """The template's resources in moto, the sandbox as KVK, and the functions' environment set."""

    sandbox: Any
    resources: dict[str, dict[str, str]]
    environment: dict[str, str]
    stack: Any = None  # local.aws_resources.LocalStack

    def as_deployed(self, logical_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Give this process ``logical_id``'s own variables from template.yaml (resolved against the
        stack), where the shared test environment leaves out what the functions disagree on."""
        from kvkgate import root
        from local.aws_resources import load_template
        from local.lambda_runtime import function_environment, functions

        own = function_environment(functions()[logical_id], self.stack)
        declared = load_template()["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        for name in declared:  # the function's own, not the Globals the test environment points elsewhere
            if name != "POWERTOOLS_SERVICE_NAME":
                monkeypatch.setenv(name, own[name])
        root.reset()

    def kvk(self, **behaviour: Any) -> None:
        httpx.put(self.sandbox.url + "/__sandbox/config", json=behaviour)

    def kvk_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(self.sandbox.url + "/__sandbox/stats").json()
        return stats


@pytest.fixture
def local_aws(kvk_sandbox: Any, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """Every resource of the template in in-process moto, and the functions' environment from the template."""
    from moto import mock_aws

    from kvkgate import root
    from local.aws_resources import create_stack
    from local.lambda_runtime import stack_environment
    from local.sandbox.app import PUBLIC_TEST_KEY
    from local.sandbox.faults import Behaviour

    defaults = asdict(Behaviour(rate_limit=None))
    kvk_sandbox.sandbox.faults.behaviour.update(defaults)
    kvk_sandbox.sandbox.faults.reset()
    kvk_sandbox.sandbox.mutaties.reset()  # a test's ended or renamed companies are its own
    with mock_aws():
        # One prefix for every test: the onboarding handler builds its idempotency store once.
        stack = create_stack(
            {"MaxReceiveCount": str(MAX_RECEIVES)}, {"KvkApiKeySecret": PUBLIC_TEST_KEY}, prefix="kvkgate-test"
        )
        environment = stack_environment(
            stack,
            {
                "KVK_BASE_URL": kvk_sandbox.test_url,
                "AWS_LAMBDA_FUNCTION_NAME": "kvkgate-test",
                "POWERTOOLS_SERVICE_NAME": "kvkgate-test",
                "HTTP_DEADLINE_SECONDS": "6",
                "KVK_TIMEOUT_SECONDS": "2",
                # Real time on a busy test machine: a slot may be used a little later than KVK's
                # door model allows in production (the limiter's guarantee is tested on its own).
                "KVK_SLOT_GRACE_SECONDS": "0.25",
            },
        )
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        root.reset()
        yield LocalAws(kvk_sandbox, stack.physical, environment, stack)
        root.reset()
    kvk_sandbox.sandbox.faults.behaviour.update(defaults)


def metric(name: str) -> list[float]:
    """The values this process's Powertools metrics hold for ``name`` since the last flush."""
    from kvkgate.telemetry import metrics

    return list(metrics().metric_set.get(name, {}).get("Value", []))


@pytest.fixture
def fresh_metrics() -> Iterator[None]:
    from kvkgate.telemetry import metrics

    metrics().clear_metrics()
    yield
    metrics().clear_metrics()


def flushed(output: str, name: str) -> list[float]:
    """The values of metric ``name`` in the CloudWatch EMF lines a handler printed (``@log_metrics``)."""
    values: list[float] = []
    for line in output.splitlines():
        if line.startswith('{"_aws"') and f'"{name}"' in line:
            value = json.loads(line).get(name)
            values += value if isinstance(value, list) else [value]
    return values

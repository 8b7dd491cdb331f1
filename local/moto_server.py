"""moto's AWS emulation over HTTP, one request at a time.

DynamoDB applies each conditional write atomically; moto's backends do not lock, so two
concurrent requests can both pass the same condition (seen in the limiter tests under load). This
server runs moto's own WSGI application with DynamoDB requests behind one lock, which restores
DynamoDB's per-request atomicity at no cost in throughput (moto holds the GIL for most of a
request anyway). Other services are not serialised: an SQS long poll must not stall the table.
``python -m local.moto_server --port 5000``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from werkzeug.serving import make_server


class _OneAtATime:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        # Only DynamoDB needs it; an SQS long poll must not hold every other request up.
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return list(self._app(environ, start_response))
        with self._lock:
            return list(self._app(environ, start_response))


def application() -> _OneAtATime:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return _OneAtATime(DomainDispatcherApplication(create_backend_app))


class MotoServer:
    """``with MotoServer() as aws: boto3.client("dynamodb", endpoint_url=aws.url)``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(host, port, application(), threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def __enter__(self) -> MotoServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def client_environment(url: str) -> dict[str, str]:
    """What boto3 needs to talk to an emulator at ``url`` (and never to real AWS)."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }


@contextmanager
def moto_process(port: int = 0) -> Iterator[str]:
    """The same server in a process of its own (benchmarks: it must not share a GIL with the load); yields its URL."""
    from local.ports import free_port

    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "local.moto_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/moto-api/", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    args = parser.parse_args()
    make_server(args.host, args.port, application(), threaded=True).serve_forever()


if __name__ == "__main__":
    main()

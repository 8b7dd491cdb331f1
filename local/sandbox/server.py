"""Start the sandbox: in a background thread (tests, benchmarks) or in the foreground (make sandbox)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import uvicorn

from local.sandbox.app import Keys, Sandbox, create_app
from local.sandbox.dataset import Registry
from local.sandbox.faults import Behaviour

_REGISTRIES: dict[tuple[int, int], Registry] = {}


def registry(population: int = 5000, seed: int = 20261129) -> Registry:
    """Registries are read-only once built; share one per (population, seed) in a process."""
    key = (population, seed)
    if key not in _REGISTRIES:
        _REGISTRIES[key] = Registry.load(population, seed)
    return _REGISTRIES[key]


@dataclass
class SandboxServer:
    """``with SandboxServer() as sandbox: httpx.get(sandbox.test_url + "/v2/zoeken", ...)``."""

    behaviour: Behaviour = field(default_factory=Behaviour)
    population: int = 5000
    seed: int = 20261129
    host: str = "127.0.0.1"
    port: int = 0
    keys: Keys = field(default_factory=Keys)

    def __post_init__(self) -> None:
        self.sandbox = Sandbox(registry(self.population, self.seed), self.behaviour, self.keys, seed=self.seed)
        config = uvicorn.Config(
            create_app(self.sandbox),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="off",
            # Without a bound uvicorn waits for every open connection, and its worker threads (not
            # daemons) then keep the whole process from exiting: Ctrl-C on make run must stop it.
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="kvk-sandbox", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def test_url(self) -> str:
        """What ``KVK_BASE_URL`` should be for the test flavour."""
        return self.url + "/test/api"

    def start(self) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the KVK sandbox did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():  # still waiting on a connection: close them all now
            self._server.force_exit = True
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

"""Runs README.md's shell commands verbatim in a directory (a clean copy of the repository), in order,
and prints one JSON line per command: what ran, its exit status and the end of its output.

Commands that need an AWS account (``make deploy``, ``aws ...``) and ``make test`` itself (it is what
runs this) are listed as skipped with the reason. ``make run`` and ``make sandbox`` are servers: each
is started in the background, the commands after it run against it, and it is stopped (Ctrl-C, as a
person would) before the next server starts or at the end.

Run by tests/test_readme.py, inside a network namespace of its own where the machine allows one
(``--isolated``: only loopback, brought up here), so the README's fixed ports are always free and
nothing can reach the internet. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Servers the README starts, and the port that says each is ready.
SERVERS = {"make run": 3000, "make sandbox": 8089}
NEEDS_AWS = ("make deploy", "make kvk-key", "make delete", "aws ", "sam ")
ITSELF = ("make test",)
COMMAND_SECONDS = 240


@dataclass(frozen=True)
class Command:
    text: str
    block: int  # which fenced block of the README it is in

    @property
    def kind(self) -> str:
        if self.text.startswith(NEEDS_AWS):
            return "aws"
        if self.text.startswith(ITSELF):
            return "itself"
        if self.server is not None:
            return "server"
        return "command"

    @property
    def server(self) -> str | None:
        words = " ".join(self.text.split()[:2])
        return words if words in SERVERS else None


def commands(readme: str) -> list[Command]:
    """Every command of every ```bash block, continuation lines joined, comment-only lines left out."""
    found = []
    for number, block in enumerate(re.findall(r"^```bash\n(.*?)^```", readme, re.S | re.M)):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(Command(line.strip(), number))
    return found


def loopback_up() -> None:
    """In a new network namespace loopback is down: bring it up (SIOCSIFFLAGS, as `ip link set lo up`)."""
    import fcntl
    import struct

    get_flags, set_flags, up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(handle, get_flags, request))[1]
        fcntl.ioctl(handle, set_flags, struct.pack("16sh", b"lo", flags | up))


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Server:
    def __init__(self, command: Command, where: Path) -> None:
        self.command = command
        self.port = SERVERS[str(command.server)]
        self.log = where / f".readme-{self.port}.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen(  # noqa: S602 - the README's command, verbatim, is the point
                command.text, shell=True, cwd=where, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def ready(self, seconds: float = 180) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if listening(self.port):
                return True
            time.sleep(0.25)
        return False

    def stop(self) -> dict[str, object]:
        """Ctrl-C, as a person stops it: the whole process group gets SIGINT."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        time.sleep(0.5)
        return {"stopped": True, "port_free": not listening(self.port), "output": tail(self.log.read_text())}


def run(where: Path) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    server: Server | None = None
    for command in commands((where / "README.md").read_text()):
        result: dict[str, object] = {"command": command.text, "kind": command.kind}
        if command.kind in ("aws", "itself"):
            reason = "needs an AWS account" if command.kind == "aws" else "make test is what runs this"
            results.append({**result, "skipped": reason})
            continue
        if command.kind == "server":
            if server is not None:  # the next server may want the same ports (make run starts a sandbox)
                results.append({"command": server.command.text, "kind": "stop", **server.stop()})
            server = Server(command, where)
            results.append({**result, "ready": server.ready(), "output": tail(server.log.read_text())})
            continue
        completed = subprocess.run(  # noqa: S602 - the README's command, verbatim
            command.text, shell=True, cwd=where, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
        )
        results.append(
            {**result, "status": completed.returncode, "stdout": completed.stdout, "stderr": tail(completed.stderr)}
        )
    if server is not None:
        results.append({"command": server.command.text, "kind": "stop", **server.stop()})
    return results


def main() -> None:
    where = Path(sys.argv[-1]).resolve()
    if "--isolated" in sys.argv:
        loopback_up()
    for result in run(where):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

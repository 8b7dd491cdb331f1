"""Every README command that needs no AWS account runs, verbatim, on a clean copy of the repository:
the files git would check out (tracked, or new and not ignored), nothing built, no test artifacts.

The app's virtualenv is the one thing reused (`make test` has just installed exactly these
requirements; installing them again would take minutes), with the copy's own layer first on the
path. Where the machine allows it the commands run in a network namespace of their own: the
README's fixed ports are free there, and nothing can reach the internet, which the README promises.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import readme_commands
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def clean_copy(where: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    copy = where / "kvkgate"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is not in a clone of this tree
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)  # mtimes kept: make sees the venv as installed for them
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def isolation() -> list[str] | None:
    """A network namespace with only loopback, where this machine allows one; None otherwise."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return None
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
    return [unshare, "-rn"] if probe.returncode == 0 else None


def ports_free() -> bool:
    for port in (*readme_commands.SERVERS.values(), 5000):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


def run_readme(copy: Path) -> list[dict[str, Any]]:
    wrapper = isolation()
    if wrapper is None and not ports_free():
        pytest.skip("no network namespace here, and the README's ports (3000, 8089, 5000) are taken")
    python = str(ROOT / ".venv" / "bin" / "python")
    command = [*(wrapper or []), python, str(Path(readme_commands.__file__)), *(["--isolated"] if wrapper else [])]
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "KVK_", "PYTEST", "COV_"))
    }
    environment["PYTHONPATH"] = str(copy / "layers" / "kvkgate")  # the copy's layer, not the editable install's
    environment.pop("MAKEFLAGS", None)
    environment.pop("MAKELEVEL", None)
    finished = subprocess.run(
        [*command, str(copy)], cwd=copy, env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    assert finished.returncode == 0, finished.stderr
    return [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]


def test_the_readme_has_the_commands_this_test_expects() -> None:
    kinds: dict[str, list[str]] = {}
    for command in readme_commands.commands(README):
        kinds.setdefault(command.kind, []).append(command.text)
    assert [text.split()[1] for text in kinds["server"]] == ["run", "sandbox"]
    assert any(text.startswith("make deploy") for text in kinds["aws"])
    assert kinds["itself"] == [
        "make test    # installs what is missing, then lint, types, template checks and every test"
    ]
    assert len(kinds["command"]) >= 5


@pytest.mark.integration
def test_every_readme_command_without_aws_runs_verbatim_on_a_clean_copy(tmp_path: Path) -> None:
    copy = clean_copy(tmp_path)
    assert not (copy / ".aws-sam").exists() and not (copy / "test-artifacts").exists()
    results = run_readme(copy)
    expected = [command.text for command in readme_commands.commands(README)]
    ran = [result["command"] for result in results if result["kind"] != "stop"]
    assert ran == expected  # every command was reached, in order
    for result in results:
        if result["kind"] == "server":
            assert result["ready"], f"{result['command']} did not start:\n{result['output']}"
        elif result["kind"] == "stop":
            assert result["port_free"], f"{result['command']} still serves after Ctrl-C:\n{result['output']}"
        elif result["kind"] == "command":
            assert result["status"] == 0, f"{result['command']}:\n{result['stdout']}\n{result['stderr']}"

    def answer(fragment: str) -> Any:
        (found,) = [
            result["stdout"]
            for result in results
            if result["command"].startswith("curl") and fragment in result["command"]
        ]
        return json.loads(found)

    assert answer("/v1/validations")["verdict"] == "valid"
    assert answer("/v1/companies/68750110")["kvkNumber"] == "68750110"
    assert answer("/v2/zoeken?kvkNummer=69599084")["resultaten"]
    (stopped, _) = [result for result in results if result["kind"] == "stop"]
    assert "onboarding: KvkVerificationCompleted c-123 KVK 68750110: valid" in stopped["output"]  # make publish's
    skipped = {result["command"].split("#")[0].strip(): result["skipped"] for result in results if "skipped" in result}
    assert skipped["make deploy"] == "needs an AWS account"
    assert set(skipped.values()) == {"needs an AWS account", "make test is what runs this"}

"""Mutation testing: how many small bugs planted in the modules that carry the promises do the tests catch?

mutmut (pinned in requirements-dev.txt) changes one thing at a time inside a function of each
module in ``MODULES`` (``<`` for ``<=``, ``and`` for ``or``, ``None`` for an argument, a string
for another, a dropped keyword ...) and runs that module's tests against each such *mutant*. A
mutant is *killed* when a test fails, *survives* when every test still passes (or no mapped test
reaches the changed function), and *times out* when a test takes far longer than it did on the
real code (a mutant that makes a retry loop endless: the test is stopped at ``TEST_LIMIT_FACTOR``
times its clean time); timeouts count as caught in the score: ``score = (killed + timeout) / mutants``.

``make mutation``; not part of ``make test`` or CI (docs/benchmarks.md has the last run's time and
figures: about half an hour for all modules on 2 cores); one module takes 1-8 minutes
(``BENCH_ARGS='--modules aws/cache.py'``). Run it before
resolving an issue that touches one of these modules, and look at the survivors it lists.

How it runs, and why:

* In a scratch copy of the project (the working tree is never touched), with the layer package
  moved to the top (``kvkgate/``): mutmut copies it into ``mutants/`` and puts that folder first
  on ``sys.path``, so the tests import the mutated copy instead of the editable install
  (setuptools' editable finder comes after ``sys.path``). mutmut refuses to go on if forcing
  every mutated function to raise fails no test, and this runner fails when nothing is killed.
* ``MODULES`` maps each module to the tests that carry its promises. Their union is the suite
  mutmut runs (once to learn which tests reach which function, once clean); each mutant then runs
  only the tests of its own module that reach the mutated function, fastest first, stopping at
  the first failure. The narrowing is done by this file itself, loaded as a pytest plugin
  (``-p bench.mutation``) inside mutmut's runs.
* At most 2 mutants at a time (``--workers``), each in a process forked from the one that ran the
  clean suite (warm: boto3's service models, the sandbox's companies), with mutmut's wall-clock and
  CPU limits, so a mutant that hangs a test times out instead of stalling the run. No test keeps
  state between runs in its module (a counter on a class would leak from one mutant to the next).
* Functions run only at import (``redaction.install()``) cannot be mutated usefully: the module
  is imported once, before the mutants are forked; such mutants survive unless a test calls the
  function itself. Only function bodies are mutated, never module-level constants. mypy and ruff
  never see the mutants.

Prints a table per module and a ``RESULT`` line; writes every survivor (module, line, the diff)
to ``test-artifacts/mutation-survivors.txt``.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bench.common import ROOT, table

# The modules to mutate (under layers/kvkgate/kvkgate/) and the tests that hold each one's promises:
# a folder ("tests/onboarding/"), a file, or one test ("file.py::test_name"). Prefer fast unit tests.
MODULES: dict[str, tuple[str, ...]] = {
    # Branch and RSIN checks (#21), the gate's unconfirmed names (#19).
    "domain/verify.py": ("tests/unit/test_verify.py", "tests/unit/test_gate.py", "tests/api/test_branch_and_rsin.py"),
    "aws/cache.py": (
        "tests/unit/test_cache.py",
        "tests/unit/test_cache_writes_failing.py",
        "tests/unit/test_registry.py",
        "tests/unit/test_watch.py",  # a signal makes the cached answers about its number unusable (#23)
    ),
    # The gate's share of the rate (#19).
    "aws/limits.py": ("tests/unit/test_limits.py", "tests/unit/test_limiter_lead.py", "tests/unit/test_gate.py"),
    "aws/callers.py": ("tests/unit/test_callers.py",),
    # The worker's tests start a moto stack and the KVK sandbox (seconds each): the unit tests kill first.
    "app/onboarding.py": (
        "tests/unit/test_onboarding.py",
        "tests/unit/test_gate.py",
        "tests/onboarding/test_worker.py",
        "tests/onboarding/test_misconfiguration.py",
        "tests/onboarding/test_gate.py",
    ),
    "app/presignup.py": (
        "tests/unit/test_presignup.py",
        "tests/unit/test_gate.py",
        "tests/onboarding/test_presignup.py",
        "tests/onboarding/test_presignup_limits.py",
        "tests/onboarding/test_misconfiguration.py",
        "tests/onboarding/test_gate.py",
    ),
    "kvk/keys.py": ("tests/unit/test_secrets_config.py", "tests/unit/test_client.py"),
    # The log filters: botocore's (Secrets Manager bodies) and httpcore's (KVK's gateway echoes the key).
    "kvk/redaction.py": (
        "tests/unit/test_redaction.py",
        "tests/unit/test_secrets_config.py",
        "tests/sandbox/test_behaviour.py::test_key_echoed_by_the_gateway_stays_out_of_debug_logs",
    ),
}
LAYER = Path("layers/kvkgate/kvkgate")  # where the package lives in the repository
PACKAGE = "kvkgate"  # where it lives in the scratch copy
MAX_WORKERS = 2  # the machine has 2 cores, shared
# mutmut's limits per mutant: wall clock (estimate + constant) * multiplier, twice that in CPU time,
# where the estimate is the summed call time of the tests that reach the function on the real code.
TIMEOUT_CONSTANT_SECONDS = 10.0
TIMEOUT_MULTIPLIER = 4.0
# Inside a mutant's run each test gets its clean run's time x factor (at least the floor): a mutant
# that makes the limiter or a lease loop fails that one test within seconds, instead of running
# every test it reaches until mutmut's limit above. Such a mutant is reported as a timeout.
TEST_LIMIT_FACTOR = 5.0
TEST_LIMIT_FLOOR_SECONDS = 3.0
SURVIVORS = ROOT / "test-artifacts" / "mutation-survivors.txt"
KILLS_ENV = "KVKGATE_MUTATION_KILLS"  # where the plugin below keeps which test killed which mutant
# Log calls are not mutated: their wording is no promise (the key-leak check covers their arguments anyway).
NOT_MUTATED = [r"\blogger\.(debug|info|warning|error|exception|critical)\("]
# mutmut's statuses, folded into the three this report counts.
KILLED = {"killed", "caught by type check"}
TIMEOUT = {"timeout", "segfault"}  # "segfault" is mutmut's name for SIGKILL: the CPU limit's hard stop
SURVIVED = {"survived", "no tests", "suspicious"}


def dotted(module: str) -> str:
    """``aws/cache.py`` -> ``kvkgate.aws.cache``."""
    return PACKAGE + "." + module.removesuffix(".py").replace("/", ".")


def _module_of_mutant(name: str) -> str | None:
    """``kvkgate.aws.cache.xǁCacheǁget__mutmut_3`` -> ``kvkgate.aws.cache``; None outside a mutant's run."""
    if "__mutmut_" not in name:
        return None  # mutmut's own phases: "stats", "fail", "list_all_tests", ""
    parts = name.split(".")
    for index, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:index])
    return None


def _in_scope(nodeid: str, scope: tuple[str, ...]) -> bool:
    for entry in scope:
        if entry.endswith("/") and nodeid.startswith(entry):
            return True
        if "::" in entry and (nodeid == entry or nodeid.startswith(entry + "[")):
            return True
        if nodeid.startswith(entry + "::"):
            return True
    return False


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """As a pytest plugin inside mutmut's runs: a mutant of module M runs only M's tests from ``MODULES``,
    those that killed other mutants of the same function (then module) first, the rest in mutmut's order."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    module = _module_of_mutant(mutant)
    if module is None:
        return
    scope = {dotted(name): tests for name, tests in MODULES.items()}.get(module, ())
    kept = [item for item in items if _in_scope(item.nodeid, scope)]
    dropped = [item for item in items if not _in_scope(item.nodeid, scope)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    function = mutant.partition("__mutmut_")[0]
    by_function, by_module = Counter[str](), Counter[str]()
    for kill in _kills():
        if kill["function"] == function:
            by_function[kill["test"]] += 1
        if _module_of_mutant(kill["mutant"]) == module:
            by_module[kill["test"]] += 1
    items[:] = sorted(kept, key=lambda item: (-by_function[item.nodeid], -by_module[item.nodeid]))


class MutantTooSlow(Exception):
    """A test ran far longer under a mutant than on the real code."""


@cache
def _clean_durations() -> dict[str, float]:
    """Each test's time on the real code, from mutmut's stats run (the working directory is the scratch copy)."""
    try:
        with open(os.path.join("mutants", "mutmut-stats.json"), encoding="utf-8") as stats:
            durations: dict[str, float] = json.load(stats)["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return {}
    return durations


def _test_limit(nodeid: str) -> float:
    return max(TEST_LIMIT_FLOOR_SECONDS, TEST_LIMIT_FACTOR * _clean_durations().get(nodeid, 0.0))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: Any) -> Generator[None, object, object]:
    """Inside a mutant's run: fail a test that runs past its limit (SIGALRM; mutmut's own limits use SIGXCPU)."""
    if _module_of_mutant(os.environ.get("MUTANT_UNDER_TEST", "")) is None:
        return (yield)
    limit = _test_limit(item.nodeid)

    def expire(signum: int, frame: Any) -> None:
        raise MutantTooSlow(f"{item.nodeid} ran past {limit:.1f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_runtest_logreport(report: Any) -> None:
    """Inside mutmut's runs: remember which test killed which mutant, for the order above, and whether it
    was by running too long."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    history = os.environ.get(KILLS_ENV)
    if report.failed and history and _module_of_mutant(mutant) is not None:
        line = {"mutant": mutant, "function": mutant.partition("__mutmut_")[0], "test": report.nodeid}
        if MutantTooSlow.__name__ in str(report.longrepr):
            line["slow"] = "yes"
        with open(history, "a", encoding="utf-8") as kills:  # one short append: atomic between the workers
            kills.write(json.dumps(line) + "\n")


def pytest_collection_finish(session: Any) -> None:
    """In mutmut's fork server, which only collects: warm what every mutant's tests use (moto, boto3's
    service models, the KVK sandbox's companies) without running a test, so no mutant pays for it."""
    if not (session.config.option.collectonly and os.environ.get(KILLS_ENV)):
        return
    import boto3
    from moto import mock_aws

    from local.sandbox.server import registry

    with mock_aws():
        boto3.client("dynamodb", region_name="eu-west-1").list_tables()
        boto3.client("sqs", region_name="eu-west-1").list_queues()
        boto3.client("events", region_name="eu-west-1").list_event_buses()
        boto3.client("secretsmanager", region_name="eu-west-1").list_secrets()
    registry()


def _kills() -> list[dict[str, str]]:
    history = os.environ.get(KILLS_ENV)
    return _read_kills(Path(history)) if history else []


def _read_kills(history: Path) -> list[dict[str, str]]:
    if not history.exists():
        return []
    with history.open(encoding="utf-8") as kills:
        return [json.loads(line) for line in kills if line.endswith("\n")]


@dataclass
class Mutant:
    name: str
    module: str
    status: str
    path: str = ""
    line: int = 0
    diff: str = ""


@dataclass
class Tally:
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    timeout: int = 0
    unreached: int = 0
    survivors: list[Mutant] = field(default_factory=list)

    def add(self, mutant: Mutant) -> None:
        self.mutants += 1
        if mutant.status in KILLED:
            self.killed += 1
        elif mutant.status in TIMEOUT:
            self.timeout += 1
        else:
            self.survived += 1
            self.unreached += mutant.status == "no tests"
            self.survivors.append(mutant)

    @property
    def score(self) -> float:
        return round(100.0 * (self.killed + self.timeout) / self.mutants, 1) if self.mutants else 0.0


def project_files() -> list[Path]:
    """What a fresh clone plus the uncommitted work would hold: tracked and untracked-but-not-ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        return [Path(name) for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]
    skip = {".git", ".venv", ".venv-sam", ".aws-sam", "test-artifacts", "__pycache__", ".hypothesis", ".mypy_cache"}
    return [
        path.relative_to(ROOT)
        for path in ROOT.rglob("*")
        if path.is_file() and not skip & set(path.relative_to(ROOT).parts) and not path.name.endswith(".egg-info")
    ]


def scratch_copy(scratch: Path, modules: list[str]) -> None:
    """The project with the layer package at the top, and mutmut's configuration in its pyproject.toml."""
    for relative in project_files():
        target = (
            scratch / PACKAGE / relative.relative_to(LAYER) if relative.is_relative_to(LAYER) else scratch / relative
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    # Tests that read the layer's files by their repository path find them (unmutated) there too.
    (scratch / LAYER).parent.mkdir(parents=True, exist_ok=True)
    (scratch / LAYER).symlink_to(Path("../..") / PACKAGE, target_is_directory=True)
    tests = sorted({test for module in modules for test in MODULES[module]})
    also_copy = sorted(path.name for path in scratch.iterdir() if path.name not in {PACKAGE, "tests", "pyproject.toml"})
    settings = {
        "source_paths": [PACKAGE],
        "only_mutate": [f"{PACKAGE}/{module}" for module in modules],
        "also_copy": also_copy,
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "bench.mutation", "-p", "no:randomly"],
        "do_not_mutate_patterns": NOT_MUTATED,
        "timeout_constant": TIMEOUT_CONSTANT_SECONDS,
        "timeout_multiplier": TIMEOUT_MULTIPLIER,
        "use_git_change_detection": False,
        # Each mutant forks from the process that ran the clean suite, with its warm caches (boto3's
        # models, the sandbox's companies); no test keeps state between runs in its module.
        "process_isolation": "fork",
    }
    lines = ["", "[tool.mutmut]", *(f"{key} = {json.dumps(value)}" for key, value in settings.items())]
    with (scratch / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write("\n".join(lines) + "\n")
    # mutmut creates it too, but the interpreter must see it exist when it starts (sys.path caches misses).
    (scratch / "mutants").mkdir()


def run_mutmut(scratch: Path, workers: int, log: Path) -> int:
    """``mutmut run`` in the scratch copy; its spinner goes to ``log``, a progress line here each minute."""
    mutmut = Path(sys.executable).parent / "mutmut"
    if not mutmut.exists():
        raise SystemExit(f"{mutmut} is missing: mutmut comes with requirements-dev.txt (make install)")
    environment = {
        **os.environ,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "PYTHONDONTWRITEBYTECODE": "1",
        KILLS_ENV: str(scratch / "kills.jsonl"),
    }
    environment.pop("PYTHONPATH", None)
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(mutmut), "run", "--max-children", str(workers)],
            cwd=scratch,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        while process.poll() is None:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                print(f"  {time.monotonic() - started:5.0f} s  {_last_status(log)}", flush=True)
    return process.returncode


def _last_status(log: Path) -> str:
    tail = log.read_bytes()[-4000:].decode(errors="replace").replace("\r", "\n")
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@contextmanager
def _inside(directory: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def _def_line(source: Path, function: str, class_name: str | None) -> int:
    """Where ``def function`` (a method of ``class_name``, or a module-level function) is in ``source``."""
    body = ast.parse(source.read_text(encoding="utf-8")).body
    if class_name is not None:
        classes = [node for node in body if isinstance(node, ast.ClassDef) and node.name == class_name]
        body = classes[0].body if classes else []
    return next(
        (
            node.lineno
            for node in body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        ),
        0,
    )


def survivor_details(name: str, path: Path) -> tuple[int, str]:
    """The line of ``path`` the mutant changes, and mutmut's diff of the function."""
    import libcst
    from mutmut.mutation.diff_apply import (
        get_diff_for_mutant,
        read_functions_from_index,
        read_mutant_function,
        read_mutants_module,
        read_original_function,
    )
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    functions = read_functions_from_index(name, path)
    if functions is None:
        generated = read_mutants_module(path)
        functions = (read_original_function(generated, name), read_mutant_function(generated, name))
    original, mutated = (libcst.Module([function]).code.strip().splitlines() for function in functions)
    changed = next(
        (a for tag, a, _, _, _ in difflib.SequenceMatcher(a=original, b=mutated).get_opcodes() if tag != "equal"), 0
    )
    header = next((index for index, line in enumerate(original) if line.startswith(("def ", "async def "))), 0)
    function, class_name = orig_function_and_class_names_from_key(name)
    defined = _def_line(path, function, class_name)
    return (defined + changed - header if defined else 0), get_diff_for_mutant(name, path=path)


def collect(scratch: Path, modules: list[str]) -> dict[str, Tally]:
    """Every mutant's status from mutmut's files, with the diff and line of each survivor."""
    from mutmut.stats import status_by_exit_code

    tallies = {module: Tally() for module in modules}
    with _inside(scratch):
        too_slow = {kill["mutant"] for kill in _read_kills(Path("kills.jsonl")) if kill.get("slow")}
        for module in modules:
            path = Path(PACKAGE) / module
            meta = Path("mutants") / f"{path}.meta"
            if not meta.exists():
                continue
            exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
            for name, exit_code in sorted(exit_codes.items(), key=lambda item: _mutant_order(item[0])):
                if exit_code is None:
                    raise SystemExit(f"mutmut left {name} unchecked: the run did not finish (see the log)")
                status = status_by_exit_code[exit_code]
                if status in KILLED and name in too_slow:
                    status = "timeout"  # a test ran past its limit (pytest_runtest_call above)
                mutant = Mutant(name, module, status, str(LAYER / module))
                if mutant.status not in KILLED | TIMEOUT | SURVIVED:
                    raise SystemExit(f"mutmut says {name} is {mutant.status!r}: the run did not finish (see the log)")
                if mutant.status in SURVIVED:
                    mutant.line, mutant.diff = survivor_details(name, path)
                tallies[module].add(mutant)
    return tallies


def _mutant_order(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def write_survivors(tallies: dict[str, Tally], target: Path, header: str) -> None:
    blocks = [header]
    for tally in tallies.values():
        for mutant in sorted(tally.survivors, key=lambda mutant: (mutant.line, _mutant_order(mutant.name))):
            status = "survived" if mutant.status == "survived" else f"survived: {mutant.status}"
            blocks.append(f"## {mutant.path}:{mutant.line}  {mutant.name}  ({status})\n{mutant.diff}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def _chosen(names: list[str] | None) -> list[str]:
    if not names:
        return list(MODULES)
    known = {name.removesuffix(".py"): name for name in MODULES} | {dotted(name): name for name in MODULES}
    unknown = [name for name in names if name.removesuffix(".py") not in known]
    if unknown:
        raise SystemExit(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    return list(dict.fromkeys(known[name.removesuffix(".py")] for name in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--modules",
        nargs="+",
        metavar="MODULE",
        help=f"a subset of MODULES (e.g. aws/cache.py); default all of: {', '.join(MODULES)}",
    )
    parser.add_argument("--workers", type=int, default=MAX_WORKERS, choices=range(1, MAX_WORKERS + 1))
    parser.add_argument("--survivors", type=Path, default=SURVIVORS, help="where to list the surviving mutants")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy (mutmut show/browse work there)")
    args = parser.parse_args()
    modules = _chosen(args.modules)

    scratch = Path(tempfile.mkdtemp(prefix="kvkgate-mutation-"))
    log = scratch / "mutmut.log"
    started = time.monotonic()
    try:
        scratch_copy(scratch, modules)
        print(f"mutmut on {len(modules)} module(s) with {args.workers} worker(s) in {scratch} (log: {log})", flush=True)
        code = run_mutmut(scratch, args.workers, log)
        if code != 0:
            print(log.read_bytes()[-6000:].decode(errors="replace").replace("\r", "\n")[-3000:], file=sys.stderr)
            raise SystemExit(f"mutmut run failed with exit code {code}; log: {log}")
        tallies = collect(scratch, modules)
        seconds = time.monotonic() - started
        total = Tally()
        for tally in tallies.values():
            for kind in ("mutants", "killed", "survived", "timeout", "unreached"):
                setattr(total, kind, getattr(total, kind) + getattr(tally, kind))
        if total.mutants and not total.killed + total.timeout:
            raise SystemExit("no mutant was killed: the tests did not run the mutated code (see the log)")
        write_survivors(
            tallies,
            args.survivors,
            f"# Surviving mutants: mutmut on {', '.join(modules)}, {time.strftime('%Y-%m-%d %H:%M')}, {seconds:.0f} s\n"
            "# Each: the module and line, mutmut's name for the mutant (`mutmut show NAME` with --keep), the change.\n"
            "# 'no tests': no test mapped to the module in bench/mutation.py MODULES reaches the function.",
        )
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    rows = [
        [str(LAYER / module), tally.mutants, tally.killed, tally.survived, tally.timeout, f"{tally.score:.1f} %"]
        for module, tally in tallies.items()
    ]
    rows.append(["all", total.mutants, total.killed, total.survived, total.timeout, f"{total.score:.1f} %"])
    print(f"Mutation testing with mutmut, {args.workers} workers, {seconds / 60:.1f} min (timeouts count as killed):")
    print(table(["module", "mutants", "killed", "survived", "timeout", "score"], rows))
    print(f"{total.survived} survivors ({total.unreached} in functions no mapped test reaches): {args.survivors}")
    result = {
        "mutants": total.mutants,
        "killed": total.killed,
        "survived": total.survived,
        "timeout": total.timeout,
        "score": total.score,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

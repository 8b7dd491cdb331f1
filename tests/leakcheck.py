"""A pytest plugin that fails the run when any API key used by the tests reaches any output.

What it sees, whatever the code under test does to logging's configuration:

* every call to a logger (``debug`` … ``critical``, ``log``, ``exception``) and every record handled,
  at any level, enabled or not, after the logger's own filters (kvkgate's filters withhold
  httpcore's headers and botocore's secret bodies): ``Logger`` methods themselves are wrapped, so
  a ``dictConfig`` that closes handlers or disables loggers cannot blind it, and a DEBUG line that
  would leak in production with ``LOG_LEVEL=DEBUG`` is caught even when the test runs at INFO;
* everything printed during each test's setup, call and teardown (pytest's captured stdout and
  stderr, which also holds Powertools' JSON log lines) and each failure's report;
* text a test hands over from a process it started (:func:`scan`), e.g. ``make invoke``.

Loaded by tests/conftest.py for the suite, and with ``-p tests.leakcheck`` by its own self-test.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

KEYS_FILE = Path(__file__).parent / "fixtures" / "never-logged-keys.txt"
# The sandbox's keys (local/sandbox/app.py): the API, onboarding and stack tests send them.
SANDBOX_KEYS = ("l7xx1f2691f2520d487b902f4e0b57a0b197", "sandbox-production-key")
_found: list[str] = []  # where each leak was seen, in order
_reported = 0  # how many of them a test report already carries


@functools.cache
def watched_keys() -> tuple[str, ...]:
    """The unit tests' fake key, the sandbox's keys, and any in ``KVKGATE_WATCHED_KEYS`` (the self-test's)."""
    return (*KEYS_FILE.read_text().split(), *SANDBOX_KEYS, *os.environ.get("KVKGATE_WATCHED_KEYS", "").split())


def _where() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "outside a test").split(" (")[0]


def scan(text: str, where: str) -> None:
    """Record a leak if ``text`` holds any watched key."""
    for key in watched_keys():
        if key in text:
            _found.append(f"key {key[:4]}… in {where}")


def _scan_record(logger: logging.Logger, record: logging.LogRecord) -> None:
    """What this record would put in a log: after the logger's own filters (which may withhold parts)."""
    if not logger.filter(record):
        return
    try:
        text = record.getMessage()
    except (TypeError, ValueError, KeyError):
        text = f"{record.msg} {record.args!r}"
    if isinstance(record.exc_info, tuple) and record.exc_info[0] is not None:
        text += logging.Formatter().formatException(record.exc_info)
    scan(text + repr(vars(record)), f"{_where()} (logger {logger.name})")


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _wrap_method(name: str) -> None:
    original: Callable[..., Any] = getattr(logging.Logger, name)
    if getattr(original, "_leakcheck", False):
        return

    @functools.wraps(original)
    def scanning(self: logging.Logger, *args: Any, **kwargs: Any) -> Any:
        level, rest = (args[0], args[1:]) if name == "log" else (_LEVELS[name], args)
        if rest and isinstance(level, int):
            # Built and filtered whether or not the level is enabled: a DEBUG line that would leak
            # in production with LOG_LEVEL=DEBUG is caught even while the test runs at INFO.
            record = logging.LogRecord(self.name, level, __file__, 0, rest[0], rest[1:] or None, None)
            record.__dict__.update(kwargs.get("extra") or {})
            if kwargs.get("exc_info") or name == "exception":
                record.exc_text = repr(kwargs.get("exc_info"))
            _scan_record(self, record)
        # One frame more to skip, so records still name the real caller's file and line.
        return original(self, *args, **{**kwargs, "stacklevel": kwargs.get("stacklevel", 1) + 1})

    scanning._leakcheck = True  # type: ignore[attr-defined]
    setattr(logging.Logger, name, scanning)


def _wrap_handle() -> None:
    """Records made without the methods above (``logger.handle(record)``) are scanned on their way in."""
    original = logging.Logger.handle
    if getattr(original, "_leakcheck", False):
        return

    @functools.wraps(original)
    def scanning(self: logging.Logger, record: logging.LogRecord) -> Any:
        _scan_record(self, record)
        return original(self, record)

    scanning._leakcheck = True  # type: ignore[attr-defined]
    logging.Logger.handle = scanning  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    watched_keys()  # fixed now: a test that changes the environment later cannot change what is watched
    for name in _LEVELS | {"log": 0}:
        _wrap_method(name)
    _wrap_handle()
    if config.getoption("capture", "fd") == "no":
        raise pytest.UsageError("the key-leak check reads captured output: run without -s / --capture=no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A phase in which a key leaked fails, naming where: also under xdist, where only reports travel."""
    global _reported
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    for title, content in report.sections:
        if title.endswith(call.when):  # later phases' reports repeat the earlier phases' sections
            scan(content, f"{report.nodeid} ({title})")
    if report.failed:
        scan(report.longreprtext, f"{report.nodeid} (failure report)")
    new, _reported = _found[_reported:], len(_found)
    if new:
        # Keep what the test itself said (with the keys masked), then say where the key leaked.
        said = _masked(report.longreprtext) + "\n\n" if report.failed else ""
        report.outcome = "failed"
        report.longrepr = said + "API key leak:\n" + "\n".join(dict.fromkeys(new))


def _masked(text: str) -> str:
    for key in watched_keys():
        text = text.replace(key, key[:4] + "…(masked)")
    return text


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.section("API key leak", sep="=", red=True, bold=True)
        for line in dict.fromkeys(_found):
            reporter.line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

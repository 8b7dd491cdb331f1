"""The key-leak check (tests/leakcheck.py) fails a run in which a key reaches any output.

Each case runs a small test suite in a child pytest process whose fixture leaks the key one way;
the child run must fail and name the leak. A clean child run must pass.
"""

from __future__ import annotations

import pytest

from local.sandbox.app import PUBLIC_TEST_KEY
from tests.conftest import ROOT, SECRET_KEY
from tests.leakcheck import watched_keys

# The child runs watch a key of their own: the parent run must not see its own check fire.
CHILD_KEY = "child-run-key-0b1d"

LEAKS = {
    "powertools": "from aws_lambda_powertools import Logger\nLogger(service='leak').info('calling KVK with %s', KEY)",
    "print": "print('apikey', KEY)",
    "stderr": "import sys\nprint(KEY, file=sys.stderr)",
    "botocore": ("import logging\nlogging.getLogger('botocore.endpoint').debug('request: %s', {'apikey': KEY})"),
    "httpcore": (
        "import logging\nlogging.getLogger('httpcore.http11').debug('send_request_headers.started headers=%r', [KEY])"
    ),
    "extra": "import logging\nlogging.getLogger('kvkgate').info('called', extra={'apikey': KEY})",
    # What uvicorn's Config does: dictConfig closes and replaces handlers; the check must not go blind.
    "after dictConfig": (
        "import logging, logging.config\n"
        "logging.config.dictConfig({'version': 1, 'disable_existing_loggers': True})\n"
        "logging.getLogger('uvicorn.error').warning('key %s', KEY)"
    ),
}
CHILD = """
import pytest
KEY = {key!r}

@pytest.fixture
def child():
{body}
    yield

def test_something(child):
    assert True
"""


@pytest.fixture
def child_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("KVKGATE_WATCHED_KEYS", CHILD_KEY)
    return pytester


def run_child(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    indented = "\n".join("    " + line for line in body.splitlines())
    pytester.makepyfile(test_child=CHILD.format(key=CHILD_KEY, body=indented))
    return pytester.runpytest_subprocess("-p", "tests.leakcheck", "-p", "no:cacheprovider", "-q")


@pytest.mark.parametrize("way", sorted(LEAKS))
def test_a_leaked_key_fails_the_run(child_run: pytest.Pytester, way: str) -> None:
    result = run_child(child_run, LEAKS[way])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert any("API key leak" in line for line in result.outlines)
    assert any("test_child.py::test_something" in line for line in result.outlines)


def test_the_suite_watches_every_key_its_tests_use() -> None:
    assert SECRET_KEY in watched_keys()
    assert PUBLIC_TEST_KEY in watched_keys()


def test_a_clean_run_passes(child_run: pytest.Pytester) -> None:
    result = run_child(child_run, "import logging\nlogging.getLogger('botocore').debug('no secret here: %s', 'x')")
    assert result.ret == pytest.ExitCode.OK

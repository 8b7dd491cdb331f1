"""The log filters that keep the key out of httpcore's and botocore's DEBUG logs, one record at a time."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from kvkgate.kvk import redaction

KEY = "l7xx-the-key-itself"


def record(name: str, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.DEBUG, __file__, 1, message, args, None)


def test_httpcores_response_headers_are_withheld_and_the_event_kept() -> None:
    headers = record(
        "httpcore.http11", "receive_response_headers.complete return_value=%r", [(b"apiAuthzDetails", KEY)]
    )
    assert redaction.WithholdResponseHeaders().filter(headers)
    assert headers.getMessage() == "receive_response_headers.complete (headers withheld by kvkgate)"
    other = record("httpcore.http11", "connect_tcp.started host=%r", "api.kvk.nl")
    assert redaction.WithholdResponseHeaders().filter(other)
    assert other.getMessage() == "connect_tcp.started host='api.kvk.nl'"  # the rest of the trace stays useful


def test_botocore_bodies_are_cut_at_the_first_secret_string() -> None:
    body = f'Response body: {{"ARN": "arn:1", "SecretString": "{KEY}", "Next": {{"SecretString": "{KEY}2"}}}}'
    cut = record("botocore.parsers", "%s", body)
    assert redaction.RedactSecretStrings().filter(cut)
    assert cut.getMessage() == 'Response body: {"ARN": "arn:1", "SecretString ... (withheld by kvkgate)'
    assert KEY not in cut.getMessage()
    plain = record("botocore.endpoint", "Sending http request: %s", "<AWSPreparedRequest GetItem>")
    assert redaction.RedactSecretStrings().filter(plain)
    assert plain.getMessage() == "Sending http request: <AWSPreparedRequest GetItem>"


@pytest.fixture
def bare_loggers() -> Iterator[list[logging.Logger]]:
    """The four loggers without kvkgate's filters (as in a process that never imported it), restored after."""
    loggers = [logging.getLogger(name) for name in (*redaction.HEADER_LOGGERS, *redaction.BODY_LOGGERS)]
    saved = [list(logger.filters) for logger in loggers]
    for logger in loggers:
        logger.filters = []
    yield loggers
    for logger, filters in zip(loggers, saved, strict=True):
        logger.filters = filters


def test_install_puts_one_filter_of_the_right_kind_on_each_logger(bare_loggers: list[logging.Logger]) -> None:
    redaction.install()
    redaction.install()  # idempotent: the client and the key source both call it
    kinds = [[type(found) for found in logger.filters] for logger in bare_loggers]
    header, body = redaction.WithholdResponseHeaders, redaction.RedactSecretStrings
    assert kinds == [[header], [header], [body], [body]]

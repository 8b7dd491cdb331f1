"""KVK error bodies and statuses -> the layer's error taxonomy."""

from __future__ import annotations

import json

import pytest

from kvkgate.kvk.errors import (
    Forbidden,
    InvalidRequest,
    KvkError,
    NotFound,
    RateLimited,
    TemporarilyUnavailable,
    Unauthorized,
    UnexpectedResponse,
    error_for_response,
    parse_retry_after,
)
from tests.conftest import recording_bytes


def fout(code: str, text: str = "omschrijving") -> bytes:
    return json.dumps({"fout": [{"code": code, "omschrijving": text}]}).encode()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "IPD5200", NotFound),
        (404, "IPD0005", NotFound),
        (404, "IPD0007", NotFound),
        (400, "IPD0004", InvalidRequest),
        (400, "IPD0006", InvalidRequest),
        (400, "IPD0010", InvalidRequest),
        (400, "IPD1998", InvalidRequest),
        (400, "IPD1999", InvalidRequest),
        (400, "IPD5203", InvalidRequest),
        (404, "IPD5203", InvalidRequest),  # one third-party table says 404; still a caller error
        (404, "IPD1002", TemporarilyUnavailable),
        (404, "IPD1003", TemporarilyUnavailable),
        (500, "IPD9999", TemporarilyUnavailable),
        (
            404,
            "IPD0001",
            InvalidRequest,
        ),  # "product does not exist": our request is wrong, not the company; not retried
        (401, None, Unauthorized),
        (403, None, Forbidden),
        (429, None, RateLimited),
        (406, None, UnexpectedResponse),
        (502, None, TemporarilyUnavailable),
        (503, None, TemporarilyUnavailable),
    ],
)
def test_every_code_and_status_maps_to_one_class(status: int, code: str | None, expected: type[KvkError]) -> None:
    body = fout(code) if code else b""
    error = error_for_response(status, body, "/v1/basisprofielen/12345678")
    assert type(error) is expected
    assert error.status == status
    assert error.code == code


def test_transient_classes_are_exactly_the_retryable_ones() -> None:
    assert RateLimited("x").transient and TemporarilyUnavailable("x").transient
    for kind in (NotFound, InvalidRequest, Unauthorized, Forbidden, UnexpectedResponse):
        assert not kind("x").transient


@pytest.mark.parametrize(
    ("name", "status", "expected", "code"),
    [
        ("basisprofiel-12345678.404.json", 404, NotFound, "IPD0005"),
        ("vestigingsprofiel-12345678.400.json", 400, InvalidRequest, "IPD0006"),
        ("zoeken-kvkNummer-12345678.404.json", 404, NotFound, "IPD5200"),
        ("zoeken-rsin-123456782.404.json", 404, NotFound, "IPD5200"),
    ],
)
def test_recorded_error_bodies(name: str, status: int, expected: type[KvkError], code: str) -> None:
    error = error_for_response(status, recording_bytes(name), "/path")
    assert type(error) is expected
    assert error.code == code
    assert "/path" in str(error)


def test_html_500_is_temporarily_unavailable() -> None:
    error = error_for_response(500, b"<html><body>Internal Server Error</body></html>", "/v2/zoeken")
    assert isinstance(error, TemporarilyUnavailable)
    assert error.code is None


def test_gateway_404_page_is_not_a_missing_company() -> None:
    error = error_for_response(404, b"<html>Not Found</html>", "/v1/basisprofielen/69599084")
    assert isinstance(error, UnexpectedResponse)
    assert not isinstance(error, NotFound)


@pytest.mark.parametrize(
    "body",
    [
        b'{"message": "quota exceeded"}',
        b"[]",
        b'{"fout": "kapot"}',
        b'{"fout": [{"omschrijving": "geen code"}]}',
        b"\xff\xfe",
    ],
)
def test_bodies_without_a_fout_list_are_tolerated(body: bytes) -> None:
    error = error_for_response(404, body, "/v2/zoeken")
    assert isinstance(error, UnexpectedResponse)


def test_meldingen_wrapper_from_the_2021_release_note() -> None:
    body = json.dumps({"meldingen": {"fout": [{"code": "IPD5200", "omschrijving": "geen"}]}}).encode()
    assert isinstance(error_for_response(404, body, "/v2/zoeken"), NotFound)


def test_message_carries_code_and_dutch_text() -> None:
    error = error_for_response(400, fout("IPD0004", "Het KVK-nummer 1234 is niet valide."), "/v2/zoeken")
    assert str(error) == "KVK answered 400 IPD0004: Het KVK-nummer 1234 is niet valide. for /v2/zoeken"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1", 1.0), ("2.5", 2.5), ("0", 0.0), ("-4", 0.0), ("99999", 3600.0), ("soon", None), (None, None), ("nan", None)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=0.0) == seconds


def test_retry_after_http_date() -> None:
    now = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == pytest.approx(30.0)


def test_429_carries_retry_after() -> None:
    error = error_for_response(429, b"Too Many Requests", "/v2/zoeken", retry_after="3")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 3.0

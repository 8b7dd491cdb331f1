"""The sandbox answers every recorded request exactly as KVK's test environment did."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from local.sandbox.server import SandboxServer
from tests.conftest import RECORDINGS

RECORDED = sorted(path for path in RECORDINGS.glob("*.json") if path.name != "recorded-http-headers.json")
KVK_TEST_ROOT = "https://api.kvk.nl/test/api"


def request_for(recording: Path) -> tuple[str, int]:
    """``zoeken-kvkNummer-69599084.200.json`` -> (``/v2/zoeken?kvkNummer=69599084``, 200)."""
    stem, status, _ = recording.name.rsplit(".", 2)
    api, *rest = stem.split("-")
    if api == "zoeken":
        parameter, value = rest
        return f"/v2/zoeken?{parameter}={value}", int(status)
    collection = {"basisprofiel": "basisprofielen", "vestigingsprofiel": "vestigingsprofielen"}[api]
    return f"/v1/{collection}/{rest[0]}", int(status)


def test_every_recording_is_replayed() -> None:
    assert len(RECORDED) == 12


@pytest.mark.parametrize("recording", RECORDED, ids=lambda path: path.name)
def test_sandbox_answer_equals_the_recording(kvk_http: httpx.Client, fresh: SandboxServer, recording: Path) -> None:
    path, status = request_for(recording)
    expected = json.loads(recording.read_text(encoding="utf-8").replace(KVK_TEST_ROOT, fresh.test_url))
    response = kvk_http.get(path)
    assert response.status_code == status
    assert response.json() == expected
    if status == 200:
        assert response.headers["content-type"] == "application/hal+json"
        assert response.headers["api-version"] in {"2.1.0", "1.5.0"}
    else:
        assert response.headers["content-type"] == "application/json"
        assert "api-version" not in response.headers


def test_recorded_headers_are_reproduced(kvk_http: httpx.Client) -> None:
    recorded = json.loads((RECORDINGS / "recorded-http-headers.json").read_text())
    success = next(entry for entry in recorded if entry["response_status"] == 200)
    response = kvk_http.get("/v1/basisprofielen/69599084")
    for name in ("API-Version", "Cache-Control", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert response.headers[name] == success["response_headers"][name][0]

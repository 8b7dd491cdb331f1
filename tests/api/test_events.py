"""Every API event in events/ (the files `sam local invoke -e` takes) invokes the real handler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.apigw import HttpApi
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.api.conftest import Api

EVENTS = Path(__file__).resolve().parents[2] / "events"
EXPECTED = {
    "api-validations-valid": (200, "valid"),
    "api-validations-invalid-format": (200, "invalid"),
    "api-validations-not-registered": (200, "invalid"),
    "api-validations-inactive": (200, "invalid"),
    "api-validations-name-match": (200, "valid"),
    "api-validations-name-mismatch": (200, "invalid"),
    "api-validations-bad-request": (400, None),
    "api-companies-valid": (200, None),
    "api-companies-not-registered": (404, None),
    "api-companies-invalid-format": (400, None),
    "api-companies-anonymous": (403, None),
    "api-companies-search": (200, None),  # a paid route without an authenticated caller
    "api-trade-names-match": (200, None),
    "api-trade-names-mismatch": (200, None),
}


def test_every_api_event_has_an_expectation() -> None:
    assert {path.stem for path in EVENTS.glob("api-*.json")} == set(EXPECTED)
    assert {path.stem.split("-")[0] for path in EVENTS.glob("*.json")} == {
        "api",
        "onboarding",
        "presignup",
        "eventbridge",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_invokes_its_function(api: Api, name: str) -> None:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    matched = HttpApi(functions().values()).match(event["requestContext"]["http"]["method"], event["rawPath"])
    assert matched is not None, "the event's route is in template.yaml"
    spec, route_key, _ = matched
    assert route_key == event["routeKey"]
    response = load_handler(spec)(event, LambdaContext(spec))
    status, verdict = EXPECTED[name]
    assert response["statusCode"] == status
    body = json.loads(response["body"])
    if verdict is not None:
        assert body["verdict"] == verdict

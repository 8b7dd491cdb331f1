"""Every API event in events/ (the files `sam local invoke -e` takes) invokes the real handler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.apigw import HttpApi
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.api.conftest import Api

EVENTS = Path(__file__).resolve().parents[2] / "events"
# Each event's status, and what its body must say (a subset: a dotted path -> value).
EXPECTED: dict[str, tuple[int, dict[str, object]]] = {
    "api-validations-valid": (200, {"verdict": "valid", "checks.tradeName.result": "match"}),
    "api-validations-invalid-format": (200, {"verdict": "invalid", "reasons.0.code": "INVALID_FORMAT"}),
    "api-validations-not-registered": (200, {"verdict": "invalid", "reasons.0.code": "NOT_REGISTERED"}),
    "api-validations-inactive": (200, {"verdict": "invalid", "reasons.0.code": "INACTIVE"}),
    "api-validations-name-match": (
        200,
        {"verdict": "valid", "checks.tradeName.result": "match", "checks.address.result": "match"},
    ),
    "api-validations-name-mismatch": (200, {"verdict": "invalid", "reasons.0.code": "TRADE_NAME_MISMATCH"}),
    "api-validations-bad-request": (400, {"code": "INVALID_REQUEST", "errors.0.field": "companyName"}),
    "api-companies-valid": (200, {"kvkNumber": "68750110", "name": "Test BV Donald", "active": True}),
    "api-companies-not-registered": (404, {"code": "NOT_REGISTERED"}),
    "api-companies-invalid-format": (400, {"code": "INVALID_FORMAT", "errors.0.field": "kvkNumber"}),
    "api-companies-anonymous": (403, {"code": "AUTHENTICATION_REQUIRED"}),  # a paid route, no authenticated caller
    "api-companies-search": (200, {"meta.source": "kvk"}),
    "api-companies-typed-first-letters": (200, {"results.0.active": True, "meta.stale": False}),
    "api-validations-branch-and-rsin": (
        200,
        {"verdict": "valid", "checks.branchNumber.result": "match", "checks.rsin.result": "match"},
    ),
    "api-trade-names-match": (200, {"result": "match", "bestMatch.name": "Test EMZ Dagobert"}),
    "api-trade-names-mismatch": (200, {"result": "mismatch", "bestMatch": None}),
}


def at(body: object, path: str) -> object:
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]  # type: ignore[index]
    return body


def test_every_api_event_has_an_expectation() -> None:
    assert {path.stem for path in EVENTS.glob("api-*.json")} == set(EXPECTED)
    assert {path.stem.split("-")[0] for path in EVENTS.glob("*.json")} == {
        "api",
        "onboarding",
        "presignup",
        "postconfirmation",
        "sweep",
        "watch",
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
    status, expected = EXPECTED[name]
    assert response["statusCode"] == status
    body = json.loads(response["body"])
    assert {path: at(body, path) for path in expected} == expected

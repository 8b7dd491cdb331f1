"""docs/openapi.yaml describes the API that template.yaml routes and the handler answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from local.lambda_runtime import functions
from tests.api.conftest import Api

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    return loaded


def schema_of(document: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def test_document_routes_are_the_template_routes(document: dict[str, Any]) -> None:
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    routed = {(route.method, route.path) for spec in functions().values() for route in spec.routes}
    assert documented == routed


@pytest.mark.parametrize(
    ("method", "path", "body", "schema"),
    [
        ("POST", "/v1/validations", {"kvkNumber": "69599084", "tradeName": "Test EMZ Dagobert"}, "ValidationResult"),
        ("POST", "/v1/validations", {"kvkNumber": "1234"}, "ValidationResult"),
        ("POST", "/v1/validations", {"kvkNumber": "12345678"}, "ValidationResult"),
        (
            "POST",
            "/v1/validations",
            {"kvkNumber": "68750110", "tradeName": "Donald", "postcode": "8823SJ", "houseNumber": 3},
            "ValidationResult",
        ),
        ("POST", "/v1/validations", {"kvk": 1}, "Problem"),
        ("GET", "/v1/companies/69599084", None, "CompanySummary"),
        ("GET", "/v1/companies/90000749", None, "CompanySummary"),
        ("GET", "/v1/companies/55344526", None, "CompanySummary"),
        ("GET", "/v1/companies/12345678", None, "Problem"),
        (
            "POST",
            "/v1/trade-names/check",
            {"kvkNumber": "90006623", "tradeName": "Mijn 3e handelsnaam"},
            "TradeNameCheckResult",
        ),
        ("POST", "/v1/trade-names/check", {"kvkNumber": "68750110", "tradeName": "Zzz"}, "TradeNameCheckResult"),
    ],
)
def test_responses_fit_the_documented_schemas(
    api: Api, document: dict[str, Any], method: str, path: str, body: Any, schema: str
) -> None:
    answer = api.signed(method, path, body)
    errors = [error.message for error in schema_of(document, schema).iter_errors(answer.body)]
    assert errors == []
    documented = document["paths"][path if "companies" not in path else "/v1/companies/{kvkNumber}"][method.lower()]
    assert str(answer.status) in documented["responses"]

"""Who may call what: anonymous callers get the validations, paid routes need a JWT or an IAM
signature (at the gateway, and again in the function), and the template says so."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from kvkgate import root
from local.apigw import HttpApi, RouteAccess, unsigned_jwt
from local.aws_resources import load_template
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.api.conftest import Api
from tests.api.test_events import EVENTS

PAID = [
    ("GET", "/v1/companies/68750110", None),
    ("POST", "/v1/trade-names/check", {"kvkNumber": "68750110", "tradeName": "Test BV Donald"}),
]
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_demo"


def with_access(api: Api, **parameters: str) -> Api:
    return Api(HttpApi(functions().values(), RouteAccess.from_template(parameters)), api.aws)


@pytest.mark.parametrize(("method", "path", "body"), PAID)
def test_anonymous_callers_cannot_reach_the_paid_routes(api: Api, method: str, path: str, body: Any) -> None:
    refused = api.call(method, path, body)
    assert (refused.status, refused.body) == (403, {"message": "Forbidden"})
    assert api.kvk_calls()["totalCalls"] == 0
    assert api.call(method, path, body, headers={"authorization": "Bearer nonsense"}).status == 403
    assert api.signed(method, path, body).status == 200


def test_anonymous_callers_may_validate(api: Api) -> None:
    assert api.validate(kvkNumber="68750110").body["verdict"] == "valid"


def test_with_a_jwt_issuer_the_paid_routes_take_that_issuers_tokens(api: Api) -> None:
    jwt_api = with_access(api, JwtIssuer=ISSUER, JwtAudience="signup-app")
    now = int(time.time())
    good = unsigned_jwt({"iss": ISSUER, "client_id": "signup-app", "exp": now + 300, "token_use": "access"})
    answered = jwt_api.call("GET", "/v1/companies/68750110", headers={"authorization": f"Bearer {good}"})
    assert answered.status == 200
    for claims in (
        {"iss": "https://evil.example", "client_id": "signup-app", "exp": now + 300},
        {"iss": ISSUER, "client_id": "other-app", "exp": now + 300},
        {"iss": ISSUER, "client_id": "signup-app", "exp": now - 1},
    ):
        bad = unsigned_jwt(claims)
        refused = jwt_api.call("GET", "/v1/companies/68750110", headers={"authorization": f"Bearer {bad}"})
        assert (refused.status, refused.body) == (401, {"message": "Unauthorized"})
    assert jwt_api.call("GET", "/v1/companies/68750110").status == 401
    assert jwt_api.validate(kvkNumber="68750110").status == 200  # validations stay anonymous


def test_public_paid_routes_open_them_for_a_demo_under_the_anonymous_caps(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_PAID_ROUTES", "true")
    monkeypatch.setenv("ANONYMOUS_PAID_CALLS_PER_CALLER_PER_DAY", "1")
    root.reset()
    demo = with_access(api, PublicPaidRoutes="true")
    assert demo.call("GET", "/v1/companies/68750110").status == 200
    capped = demo.call("GET", "/v1/companies/69599084")
    assert (capped.status, capped.body["code"]) == (429, "PAID_LOOKUPS_LIMITED")
    assert api.kvk_calls()["calls"].get("basisprofiel") == 1


@pytest.mark.parametrize(("method", "path", "body"), PAID)
def test_the_function_refuses_an_anonymous_paid_call_the_gateway_let_through(
    api: Api, method: str, path: str, body: Any
) -> None:
    """Another route or API wired to the function without an authorizer is not an open door."""
    open_gateway = with_access(api, PublicPaidRoutes="true")  # gateway open, function not told so
    refused = open_gateway.call(method, path, body)
    assert (refused.status, refused.body["code"], refused.body["type"]) == (
        403,
        "AUTHENTICATION_REQUIRED",
        "about:blank",
    )
    assert api.kvk_calls()["totalCalls"] == 0


def test_the_paid_route_events_carry_an_authorizer_and_the_anonymous_one_is_refused(api: Api) -> None:
    spec = functions()["ApiFunction"]
    event = json.loads((EVENTS / "api-companies-anonymous.json").read_text())
    response = load_handler(spec)(event, LambdaContext(spec))
    assert (response["statusCode"], json.loads(response["body"])["code"]) == (403, "AUTHENTICATION_REQUIRED")


def test_the_template_protects_the_paid_routes_and_nothing_else() -> None:
    by_default = RouteAccess.from_template()
    assert by_default.security["GET /v1/companies/{kvkNumber}"] == ("sigv4",)
    assert by_default.security["POST /v1/trade-names/check"] == ("sigv4",)
    assert not by_default.security.get("POST /v1/validations")
    with_jwt = RouteAccess.from_template({"JwtIssuer": ISSUER, "JwtAudience": "signup-app"})
    assert with_jwt.security["GET /v1/companies/{kvkNumber}"] == ("jwt",)
    assert (with_jwt.jwt_issuer, with_jwt.jwt_audience) == (ISSUER, ("signup-app",))
    demo = RouteAccess.from_template({"PublicPaidRoutes": "true"})
    assert {route for route, schemes in demo.security.items() if schemes} == {"POST /v1/watches"}


def test_public_paid_routes_never_open_watches(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch costs a Zoeken call a month for as long as it lasts, and no anonymous cap counts it."""
    monkeypatch.setenv("PUBLIC_PAID_ROUTES", "true")
    root.reset()
    body = {"kvkNumber": "68750110", "customerId": "anon-1"}
    demo = with_access(api, PublicPaidRoutes="true")
    assert demo.call("POST", "/v1/watches", body).status == 403  # at the gateway
    no_authorizer = Api(HttpApi(functions().values(), RouteAccess(security={})), api.aws)
    refused = no_authorizer.call("POST", "/v1/watches", body)  # and in the function, told the routes are open
    assert (refused.status, refused.body["code"]) == (403, "AUTHENTICATION_REQUIRED")
    assert api.kvk_calls()["totalCalls"] == 0


def test_users_cannot_rewrite_their_kvk_attributes_in_the_demo_pool() -> None:
    """The claimed number is written once, at sign-up (immutable), and the decision only by the worker."""
    resources = load_template()["Resources"]
    client = resources["DemoUserPoolClient"]["Properties"]
    schema = {item["Name"]: item for item in resources["DemoUserPool"]["Properties"]["Schema"]}
    for claimed in ("kvk_number", "company_name"):
        writable = f"custom:{claimed}" in client["WriteAttributes"]
        assert not writable or schema[claimed]["Mutable"] is False, f"users could rewrite {claimed} after sign-up"
    assert "custom:kvk_decision" not in client["WriteAttributes"], "users must not write their own decision"
    assert {"custom:kvk_number", "custom:company_name", "custom:kvk_decision"} <= set(client["ReadAttributes"])
    assert resources["DemoUserPoolClient"]["Condition"] == resources["DemoUserPool"]["Condition"]


def test_anonymous_sign_up_callers_and_the_api_spend_separate_shares() -> None:
    spec = functions()
    assert spec["ApiFunction"].environment["KVK_BUDGET_POOL"] == "api"
    assert spec["PreSignUpFunction"].environment["KVK_BUDGET_POOL"] == "gate"
    assert spec["OnboardingFunction"].environment["KVK_BUDGET_POOL"] == "gate"
    assert "CALLER_KEY_SECRET_ID" in spec["ApiFunction"].environment

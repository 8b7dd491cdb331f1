"""The HTTP side of the gate (issue #19): what a foreign website, a slow KVK and shared identities can
no longer do. Through the template's routes and the real handler, KVK the sandbox."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kvkgate import root
from kvkgate.app.http import caller_of
from kvkgate.aws.callers import CallerBudget, CallerLimits, caller_scope
from kvkgate.clock import Deadline
from kvkgate.domain.outcomes import CallerBudgetExceeded
from kvkgate.domain.ports import Caller
from kvkgate.kvk import KvkApi
from kvkgate.kvk.throttle import Unlimited
from local.apigw import unsigned_jwt
from tests.api.conftest import Api
from tests.api.test_access import ISSUER, with_access
from tests.conftest import FakeClock, Table


@pytest.mark.parametrize(
    "content_type", ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_body_not_declared_as_json_is_refused_before_any_kvk_call(api: Api, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {"content-type": ""}
    refused = api.call("POST", "/v1/validations", {"kvkNumber": "68750110"}, headers=headers)
    assert (refused.status, refused.body["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert refused.body["errors"][0]["field"] == "Content-Type"
    assert api.kvk_calls()["totalCalls"] == 0


def test_json_with_a_charset_is_json(api: Api) -> None:
    answered = api.call(
        "POST",
        "/v1/validations",
        {"kvkNumber": "68750110"},
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert answered.status == 200


def test_with_an_allow_list_a_foreign_websites_browser_is_refused_before_any_kvk_call(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://signup.example.nl,https://www.example.nl/")
    root.reset()
    foreign = {"origin": "https://evil.example"}
    refused = api.call("POST", "/v1/validations", {"kvkNumber": "68750110"}, headers=foreign)
    assert (refused.status, refused.body["code"]) == (403, "ORIGIN_NOT_ALLOWED")
    search = api.call("GET", "/v1/companies", headers=foreign, query="q=bakkerij%20de")
    assert (search.status, search.body["code"]) == (403, "ORIGIN_NOT_ALLOWED")
    assert api.kvk_calls()["totalCalls"] == 0
    for origin in ({"origin": "https://signup.example.nl"}, {"origin": "https://WWW.example.nl"}, {}):
        assert api.call("POST", "/v1/validations", {"kvkNumber": "68750110"}, headers=origin).status == 200


def test_without_an_allow_list_origins_are_not_checked(api: Api) -> None:
    assert (
        api.call("POST", "/v1/validations", {"kvkNumber": "68750110"}, headers={"origin": "https://x.example"}).status
        == 200
    )


def test_a_slow_kvk_gives_an_unverified_verdict_with_retry_after_not_429(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_DEADLINE_SECONDS", "1.6")  # time for one slow call, not for the next
    root.reset()
    api.kvk(latency_ms=700)
    answered = api.validate(kvkNumber="69599084", tradeName="Zqx & Co")
    assert answered.status == 200
    assert answered.body["verdict"] == "unverified"
    assert [reason["code"] for reason in answered.body["reasons"]] == ["KVK_BUSY"]
    assert int(answered.headers["retry-after"]) >= 1


# --- who a caller is -------------------------------------------------------------------------------


def iam(user_arn: str, caller_id: str) -> dict[str, Any]:
    return {"requestContext": {"authorizer": {"iam": {"userArn": user_arn, "callerId": caller_id}}}}


def test_an_assumed_roles_sessions_are_one_caller() -> None:
    first = caller_of(iam("arn:aws:sts::123456789012:assumed-role/crm-backend/session-1", "AROAEXAMPLE:session-1"))
    other = caller_of(iam("arn:aws:sts::123456789012:assumed-role/crm-backend/session-2", "AROAEXAMPLE:session-2"))
    assert first == other and not first.anonymous
    assert first.key == "iam:arn:aws:sts::123456789012:assumed-role/crm-backend"
    user = caller_of(iam("arn:aws:iam::123456789012:user/crm", "AIDAEXAMPLE"))
    assert user.key == "iam:arn:aws:iam::123456789012:user/crm"


def jwt(**claims: str) -> dict[str, Any]:
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims}}}}


def test_a_jwt_user_counts_against_its_own_budget_and_its_app_clients(table: Table, clock: FakeClock) -> None:
    budget = CallerBudget(
        table.client, table.name, CallerLimits(per_minute=1000, per_day=2), lambda: b"s", then=Unlimited(), clock=clock
    )
    far = Deadline.after(60, clock)
    alice = caller_of(jwt(client_id="app", sub="alice"))
    assert alice.key == "user:app/alice" and [group.key for group in alice.groups] == ["client:app"]
    for _ in range(2):
        with caller_scope(alice):
            budget.acquire(KvkApi.ZOEKEN, far)
    with caller_scope(alice), pytest.raises(CallerBudgetExceeded):
        budget.acquire(KvkApi.ZOEKEN, far)  # alice's own budget
    bob = caller_of(jwt(client_id="app", sub="bob"))
    with caller_scope(bob):
        budget.acquire(KvkApi.ZOEKEN, far)  # one user's budget spent is not everyone's


def allowed_until_refused(table: Table, clock: FakeClock, callers: list[Caller]) -> tuple[int, str]:
    """How many callers, one lookup each (a day's budget of 1), get through before one is refused, and by whom."""
    budget = CallerBudget(
        table.client, table.name, CallerLimits(per_minute=1000, per_day=1), lambda: b"s", Unlimited(), clock
    )
    for allowed, caller in enumerate(callers):
        try:
            with caller_scope(caller):
                budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        except CallerBudgetExceeded as refused:
            return allowed, refused.caller
    return len(callers), ""


def test_an_app_clients_users_together_have_a_bounded_budget(table: Table, clock: FakeClock) -> None:
    users = [caller_of(jwt(client_id="app", sub=f"user-{user}")) for user in range(100)]
    assert allowed_until_refused(table, clock, users) == (50, "client:app")  # CLIENT_SCALE users' budgets


def test_an_id_token_is_an_authenticated_caller(api: Api) -> None:
    jwt_api = with_access(api, JwtIssuer=ISSUER, JwtAudience="signup-app")
    claims = {"iss": ISSUER, "aud": "signup-app", "sub": "u-1", "token_use": "id", "exp": int(time.time()) + 300}
    answered = jwt_api.call(
        "GET", "/v1/companies/68750110", headers={"authorization": f"Bearer {unsigned_jwt(claims)}"}
    )
    assert answered.status == 200  # not 403 AUTHENTICATION_REQUIRED from the function
    assert caller_of(jwt(aud="signup-app", sub="u-1")).key == "user:signup-app/u-1"


def from_ip(address: str) -> Caller:
    return caller_of({"requestContext": {"http": {"sourceIp": address}}})


def test_ipv6_budgets_nest_so_a_48_is_not_65536_callers(table: Table, clock: FakeClock) -> None:
    # A different /64 each time inside one /56: the /56 holds 4 callers' budgets.
    within_56 = [from_ip(f"2001:db8:7:{subnet:x}::1") for subnet in range(256)]
    assert allowed_until_refused(table, clock, within_56) == (4, "net:2001:db8:7::/56")
    # A different /56 each time inside one /48: the /48 holds 16.
    within_48 = [from_ip(f"2001:db8:8:{subnet * 256:x}::1") for subnet in range(256)]
    assert allowed_until_refused(table, clock, within_48) == (16, "net:2001:db8:8::/48")
    assert from_ip("198.51.100.7").groups == ()  # IPv4: one address, one caller


def test_kvk_asking_for_five_minutes_gets_five_minutes_not_a_retry(api: Api) -> None:
    api.kvk(error_rate=1.0, error_kind="IPD1003")
    answered = api.validate(kvkNumber="69599084")
    assert (answered.status, answered.body["verdict"]) == (200, "unverified")
    assert answered.headers["retry-after"] == "300"
    assert api.kvk_calls()["totalCalls"] == 1

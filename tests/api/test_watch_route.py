"""POST /v1/watches (issue #23): authenticated callers only, and only what was decided is watched."""

from __future__ import annotations

import boto3

from kvkgate import root
from tests.api.conftest import Api


def watched_by(api: Api, number: str) -> list[str]:
    table = api.aws.resources["KvkgateTable"]["Ref"]
    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"WATCH#{number}"}, "sk": {"S": "STATE"}}
    )
    return sorted(item.get("Item", {}).get("customers", {}).get("SS", []))


def test_an_authenticated_caller_may_watch_the_company_it_validated(api: Api) -> None:
    answered = api.signed("POST", "/v1/watches", {"kvkNumber": "69599084", "customerId": "crm-17"})
    assert (answered.status, answered.body["verdict"]) == (200, "valid")
    root.reset()
    assert watched_by(api, "69599084") == ["crm-17"]


def test_an_unregistered_number_is_answered_not_watched(api: Api) -> None:
    answered = api.signed("POST", "/v1/watches", {"kvkNumber": "12345678", "customerId": "crm-18"})
    assert (answered.status, answered.body["verdict"]) == (200, "invalid")
    assert watched_by(api, "12345678") == []


def test_an_anonymous_caller_may_not_watch_and_spends_nothing(api: Api) -> None:
    answered = api.call("POST", "/v1/watches", {"kvkNumber": "69599084", "customerId": "crm-17"})
    assert answered.status == 403
    assert api.kvk_calls()["totalCalls"] == 0
    assert watched_by(api, "69599084") == []


def test_a_watch_needs_a_customer(api: Api) -> None:
    answered = api.signed("POST", "/v1/watches", {"kvkNumber": "69599084"})
    assert (answered.status, answered.body["errors"][0]["field"]) == (400, "customerId")

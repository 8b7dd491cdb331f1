"""GET /v1/companies/{kvkNumber}, POST /v1/trade-names/check, and the per-caller budget."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


def test_company_summary_for_prefill(api: Api) -> None:
    answer = api.signed("GET", "/v1/companies/68750110")
    assert answer.status == 200
    body = answer.body
    assert body["kvkNumber"] == "68750110"
    assert body["name"] == "Test BV Donald"
    assert body["statutoryName"] == "Test BV Donald"
    assert body["legalForm"] == "Besloten Vennootschap met gewone structuur"
    assert body["active"] is True
    assert body["registrationDate"] == "2017-05-19"
    assert body["tradeNames"] == ["Test BV Donald", "Test BV Donald Nevenvestiging"]
    assert body["mainBranch"] == {
        "branchNumber": "000037178598",
        "address": {
            "street": "Hizzaarderlaan",
            "houseNumber": 3,
            "houseLetter": None,
            "houseNumberAddition": "A",
            "postcode": "8823SJ",
            "city": "Lollum",
            "country": "Nederland",
        },
    }
    assert body["sbiActivities"] == [{"code": "01241", "description": "Teelt van appels en peren", "main": True}]
    assert body["employees"] == 1
    assert body["meta"]["source"] == "kvk"


def test_company_without_vestigingen_uses_the_owners_address(api: Api) -> None:
    body = api.signed("GET", "/v1/companies/90000749").body
    assert body["mainBranch"]["branchNumber"] is None
    assert body["mainBranch"]["address"]["street"] == "Blaauwweg"
    assert body["tradeNames"] == []
    assert body["employees"] is None


def test_company_errors(api: Api) -> None:
    unknown = api.signed("GET", "/v1/companies/12345678")
    assert (unknown.status, unknown.body["code"], unknown.body["title"]) == (404, "NOT_REGISTERED", "Not Found")
    malformed = api.signed("GET", "/v1/companies/12-34")
    assert malformed.status == 400
    assert malformed.body["errors"] == [{"field": "kvkNumber", "message": malformed.body["detail"]}]
    assert api.kvk_calls()["totalCalls"] == 1
    api.kvk(outage=True)
    down = api.signed("GET", "/v1/companies/69599084")
    assert down.status == 503
    assert int(down.headers["retry-after"]) >= 1


def test_trade_name_check(api: Api) -> None:
    answer = api.signed(
        "POST", "/v1/trade-names/check", {"kvkNumber": "69599084", "tradeName": "Tweede Handelsnaam 1MZ"}
    )
    assert answer.status == 200
    body = answer.body
    assert (body["result"], body["score"]) == ("match", 1.0)
    assert body["bestMatch"] == {
        "name": "Tweede handelsnaam 1MZ",
        "nameType": "tradeName",
        "branchNumber": "000038509504",
    }
    assert {candidate["nameType"] for candidate in body["candidates"]} <= {
        "statutoryName",
        "name",
        "tradeName",
        "alsoKnownAs",
    }
    assert body["candidates"][0]["score"] >= body["candidates"][-1]["score"]
    assert api.kvk_calls()["calls"] == {"naamgeving": 1}


def test_trade_name_check_mismatch_and_errors(api: Api) -> None:
    mismatch = api.signed("POST", "/v1/trade-names/check", {"kvkNumber": "68750110", "tradeName": "Albert Heijn"}).body
    assert (mismatch["result"], mismatch["bestMatch"]) == ("mismatch", None)
    assert api.signed("POST", "/v1/trade-names/check", {"kvkNumber": "12345678", "tradeName": "X"}).status == 404
    missing = api.signed("POST", "/v1/trade-names/check", {"kvkNumber": "68750110"})
    assert missing.status == 400
    assert missing.body["errors"][0]["field"] == "tradeName"


def test_one_caller_cannot_spend_everyones_budget(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from kvkgate import root

    monkeypatch.setenv("CALLER_KVK_LOOKUPS_PER_MINUTE", "2")
    root.reset()
    assert api.validate(kvkNumber="69599084").body["verdict"] == "valid"
    assert api.validate(kvkNumber="68750110").body["verdict"] == "valid"
    refused = api.validate(kvkNumber="68727720")
    assert refused.status == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["content-type"] == "application/problem+json"
    assert api.kvk_calls()["totalCalls"] == 2
    # cached answers cost no KVK call and so count for nothing
    cached = api.validate(kvkNumber="69599084")
    assert (cached.status, cached.body["verdict"], cached.body["meta"]["source"]) == (200, "valid", "cache")
    assert api.kvk_calls()["totalCalls"] == 2
    # and another caller is not affected
    api.source_ip = "203.0.113.9"
    assert api.validate(kvkNumber="68727720").status == 200

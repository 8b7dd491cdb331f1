"""POST /v1/validations: every verdict, as a sign-up form would see it."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.conftest import FakeClock


def test_valid_company_and_name_and_the_second_answer_comes_from_the_cache(api: Api) -> None:
    first = api.validate(kvkNumber="69599084", tradeName="Test EMZ Dagobert")
    assert first.status == 200
    assert first.headers["content-type"] == "application/json"
    body = first.body
    assert body["verdict"] == "valid"
    assert body["reasons"] == []
    assert body["checks"]["tradeName"] == {
        "result": "match",
        "score": 1.0,
        "matchedName": "Test EMZ Dagobert",
        "nameType": "tradeName",
        "comparedWith": "Test EMZ Dagobert",
        "differences": [],
    }
    assert body["checks"]["address"] == {"result": "skipped"}
    assert body["company"] == {"name": "Test EMZ Dagobert", "city": "Amsterdam"}
    assert (body["meta"]["source"], body["meta"]["stale"]) == ("kvk", False)
    again = api.validate(kvkNumber="6959 9084", tradeName="test emz dagobert")
    assert again.body["verdict"] == "valid"
    assert again.body["meta"]["source"] == "cache"
    assert api.kvk_calls()["calls"] == {"zoeken": 1}


def test_a_part_of_the_name_is_a_partial_match_with_a_reason(api: Api) -> None:
    answer = api.validate(kvkNumber="68750110", tradeName="Donald BV")
    name = answer.body["checks"]["tradeName"]
    assert name["result"] == "partial"
    assert name["matchedName"] == "Test BV Donald"
    assert [reason["code"] for reason in answer.body["reasons"]] == ["TRADE_NAME_PARTIAL"]
    assert answer.body["verdict"] == "valid"


def test_another_companys_name_is_a_mismatch_decided_by_the_free_name_search(api: Api) -> None:
    answer = api.validate(kvkNumber="68750110", tradeName="Test NV Katrien")
    assert answer.body["verdict"] == "invalid"
    name = answer.body["checks"]["tradeName"]
    assert name["result"] == "mismatch"
    assert name["comparedWith"] == "Test BV Donald"
    assert {"typed": "Katrien", "registered": None} in name["differences"]
    assert [reason["code"] for reason in answer.body["reasons"]] == ["TRADE_NAME_MISMATCH"]
    assert api.kvk_calls()["calls"] == {"zoeken": 2}  # KVK's whole-word search of every name: no paid call


def test_a_former_name_is_valid_and_said_to_be_former(api: Api) -> None:
    """Sandbox 68750110 was "Test BV Kwik": KVK's name search still finds it, as vervallenNaam."""
    answer = api.validate(kvkNumber="68750110", tradeName="Test BV Kwik")
    name = answer.body["checks"]["tradeName"]
    assert (answer.body["verdict"], name["result"], name["nameType"]) == ("valid", "partial", "expiredName")
    assert [reason["code"] for reason in answer.body["reasons"]] == ["TRADE_NAME_EXPIRED"]
    assert api.kvk_calls()["paidCalls"] == 0


def test_a_trade_name_of_a_branch_matches_through_naamgeving(api: Api) -> None:
    answer = api.validate(kvkNumber="69599084", tradeName="Derde handelsnaam Vestiging2")
    assert answer.body["verdict"] == "valid"
    assert answer.body["checks"]["tradeName"]["matchedName"] == "Derde handelsnaam Vestiging2"
    assert api.kvk_calls()["paidCalls"] == 1


def test_inactive_registration(api: Api) -> None:
    answer = api.validate(kvkNumber="96354429")
    assert answer.body["verdict"] == "invalid"
    assert [reason["code"] for reason in answer.body["reasons"]] == ["INACTIVE"]
    assert answer.body["checks"]["active"] == "fail"


def test_unregistered_number(api: Api) -> None:
    answer = api.validate(kvkNumber="12345678", tradeName="Iets")
    assert answer.body["verdict"] == "invalid"
    assert [reason["code"] for reason in answer.body["reasons"]] == ["NOT_REGISTERED"]
    assert answer.body["checks"]["registered"] == "fail"


def test_malformed_number_costs_no_kvk_call(api: Api) -> None:
    answer = api.validate(kvkNumber="1234")
    assert answer.status == 200
    assert answer.body["verdict"] == "invalid"
    assert answer.body["reasons"][0]["code"] == "INVALID_FORMAT"
    assert "8 digits" in answer.body["reasons"][0]["message"]
    assert answer.body["checks"]["format"] == "fail"
    assert api.kvk_calls()["totalCalls"] == 0


def test_address_match_and_mismatch(api: Api) -> None:
    match = api.validate(kvkNumber="68750110", postcode="8823 sj", houseNumber="3A")
    assert match.body["checks"]["address"] == {"result": "match"}
    assert match.body["verdict"] == "valid"
    mismatch = api.validate(kvkNumber="68750110", postcode="1034WL", houseNumber=17)
    assert mismatch.body["checks"]["address"] == {"result": "mismatch"}
    assert mismatch.body["verdict"] == "invalid"
    assert [reason["code"] for reason in mismatch.body["reasons"]] == ["ADDRESS_MISMATCH"]


def test_shielded_address_is_not_compared(api: Api) -> None:
    answer = api.validate(kvkNumber="90001354", postcode="6029RE", houseNumber="12")
    assert answer.body["checks"]["address"] == {"result": "skipped"}
    assert answer.body["verdict"] == "valid"


@pytest.mark.parametrize("fault", [{"outage": True}, {"error_rate": 1.0}, {"error_rate": 1.0, "error_kind": "IPD1003"}])
def test_kvk_outage_is_unverified_never_invalid(api: Api, fault: dict[str, object]) -> None:
    api.kvk(**fault)
    answer = api.validate(kvkNumber="69599084", tradeName="Test EMZ Dagobert")
    assert answer.status == 200
    assert answer.body["verdict"] == "unverified"
    assert [reason["code"] for reason in answer.body["reasons"]] == ["KVK_UNAVAILABLE"]
    assert answer.body["checks"]["registered"] == "unknown"


def test_outage_while_checking_the_name_is_unverified(api: Api) -> None:
    api.validate(kvkNumber="68750110")
    api.kvk(outage=True)
    answer = api.validate(kvkNumber="68750110", tradeName="Iets Heel Anders")
    assert answer.body["verdict"] == "unverified"
    assert answer.body["checks"]["tradeName"]["result"] == "unknown"
    assert answer.body["checks"]["registered"] == "pass"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b"", "body"),
        (b'{"tradeName": "x"}', "kvkNumber"),
        (b'{"kvkNumber": 68750110}', "kvkNumber"),
        (b'{"kvkNumber": "68750110", "kvk": "x"}', "kvk"),
        (b'{"kvkNumber": "68750110", "houseNumber": "3"}', "postcode"),
        (b'{"kvkNumber": "68750110", "postcode": "0123AB", "houseNumber": "3"}', "postcode"),
        (b'{"kvkNumber": "68750110", "postcode": "1234AB", "houseNumber": "drie"}', "houseNumber"),
        (b'{"kvkNumber": "68750110", "tradeName": ""}', "tradeName"),
        (b'{"kvkNumber": "' + b"1" * 9000 + b'"}', "body"),
    ],
)
def test_bad_requests_are_problems_naming_the_field(api: Api, raw: bytes, field: str) -> None:
    answer = api.call("POST", "/v1/validations", raw=raw)
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["status"] == 400
    assert {"type", "title", "status", "detail", "errors"} <= set(answer.body)
    assert field in {error["field"] for error in answer.body["errors"]}
    assert api.kvk_calls()["totalCalls"] == 0


def test_wrong_method_and_unknown_route(api: Api) -> None:
    assert api.call("GET", "/v1/validations").status == 404  # API Gateway has no such route
    assert api.call("POST", "/v1/nothing", {}).status == 404


def test_a_company_whose_first_page_is_all_ended_branches_is_active(api: Api) -> None:
    """Sandbox 99100002: 130 registrations, the first 100 ended; one more free call finds the active ones."""
    answer = api.validate(kvkNumber="99100002")
    assert answer.body["verdict"] == "valid"
    assert answer.body["checks"]["active"] == "pass"
    assert api.kvk_calls()["calls"] == {"zoeken": 2}


def test_a_stale_answer_through_the_api_says_it_is_stale(api: Api, clock: FakeClock) -> None:
    from kvkgate import root

    root.install(root.Overrides(clock=clock))
    assert api.validate(kvkNumber="68750110").body["meta"]["stale"] is False
    clock.advance(root.environment().settings.cache_ttl_seconds + 60)
    root.environment().registry.cache.forget_memory()
    api.kvk(outage=True)
    stale = api.validate(kvkNumber="68750110").body
    assert (stale["verdict"], stale["meta"]["source"], stale["meta"]["stale"]) == ("valid", "cache", True)
    clock.advance(root.environment().settings.stale_if_error_seconds)
    root.environment().registry.cache.forget_memory()
    gone = api.validate(kvkNumber="68750110").body
    assert (gone["verdict"], gone["reasons"][0]["code"]) == ("unverified", "KVK_UNAVAILABLE")

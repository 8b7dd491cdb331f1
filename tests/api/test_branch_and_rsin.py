"""POST /v1/validations with a branch number and an RSIN (issue #21), through template.yaml's API against
the sandbox: a branch or RSIN of this company passes, another company's fails, each at its field, free."""

from __future__ import annotations

from typing import Any

import pytest

from local.sandbox.server import registry
from tests.api.conftest import Api

DONALD, DONALD_RSIN = "68750110", "857587973"
DONALD_MAIN, DONALD_BRANCH = "000037178598", "000037178601"
JOYFLEX, JOYFLEX_RSIN, JOYFLEX_MAIN = "90001354", "992760562", "990000541921"
ENDED_BRANCH_COMPANY, ENDED_BRANCH = "99000008", "980000080003"
HISTORY = "99100002"  # more registrations than one Zoeken page: the active branches come last


def paid_calls(api: Api) -> int:
    calls = api.kvk_calls()["calls"]
    return sum(int(count) for name, count in calls.items() if name != "zoeken")


def checked(api: Api, **fields: Any) -> dict[str, Any]:
    answer = api.validate(**fields)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


@pytest.mark.parametrize("branch", [DONALD_MAIN, DONALD_BRANCH, "0000 3717 8601"])
def test_a_branch_of_the_company_passes(api: Api, branch: str) -> None:
    body = checked(api, kvkNumber=DONALD, branchNumber=branch)
    assert (body["verdict"], body["checks"]["branchNumber"]["result"], body["reasons"]) == ("valid", "match", [])
    assert paid_calls(api) == 0


def test_another_companys_branch_fails_at_the_branch_field(api: Api) -> None:
    body = checked(api, kvkNumber=DONALD, branchNumber=JOYFLEX_MAIN)
    assert (body["verdict"], body["checks"]["branchNumber"]["result"]) == ("invalid", "mismatch")
    (reason,) = body["reasons"]
    assert (reason["code"], reason["field"]) == ("BRANCH_MISMATCH", "branchNumber")
    assert JOYFLEX_MAIN in reason["message"] and DONALD in reason["message"]
    assert paid_calls(api) == 0


def test_an_ended_branch_of_an_active_company_is_invalid(api: Api) -> None:
    body = checked(api, kvkNumber=ENDED_BRANCH_COMPANY, branchNumber=ENDED_BRANCH)
    assert (body["verdict"], body["checks"]["branchNumber"]["result"]) == ("invalid", "inactive")
    assert [(reason["code"], reason["field"]) for reason in body["reasons"]] == [("BRANCH_INACTIVE", "branchNumber")]


def test_a_branch_past_the_first_page_is_looked_up_by_its_number(api: Api) -> None:
    record = registry().companies[HISTORY]
    active = [branch["vestigingsnummer"] for branch in record["vestigingen"] if not branch.get("datumEinde")]
    assert checked(api, kvkNumber=HISTORY)["verdict"] == "valid"  # the company's own searches, cached now
    before = int(api.kvk_calls()["calls"].get("zoeken", 0))
    body = checked(api, kvkNumber=HISTORY, branchNumber=active[0])
    assert (body["verdict"], body["checks"]["branchNumber"]["result"]) == ("valid", "match")
    assert int(api.kvk_calls()["calls"]["zoeken"]) - before == 1  # the branch, by its number
    other = checked(api, kvkNumber=HISTORY, branchNumber=DONALD_MAIN)
    assert other["checks"]["branchNumber"]["result"] == "mismatch"


@pytest.mark.parametrize(("kvk", "rsin"), [(DONALD, DONALD_RSIN), (JOYFLEX, JOYFLEX_RSIN), (DONALD, "8575.87.973")])
def test_the_companys_rsin_passes(api: Api, kvk: str, rsin: str) -> None:
    body = checked(api, kvkNumber=kvk, rsin=rsin)
    assert (body["verdict"], body["checks"]["rsin"]["result"], body["reasons"]) == ("valid", "match", [])
    assert paid_calls(api) == 0


def test_another_companys_rsin_fails_at_the_rsin_field(api: Api) -> None:
    body = checked(api, kvkNumber=DONALD, rsin=JOYFLEX_RSIN)
    assert (body["verdict"], body["checks"]["rsin"]["result"]) == ("invalid", "mismatch")
    assert [(reason["code"], reason["field"]) for reason in body["reasons"]] == [("RSIN_MISMATCH", "rsin")]


def test_an_rsin_kvk_does_not_know_belongs_to_no_company(api: Api) -> None:
    body = checked(api, kvkNumber=DONALD, rsin="123456782")  # passes the 11-proef, registered to nobody
    assert (body["verdict"], body["checks"]["rsin"]["result"]) == ("invalid", "mismatch")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"branchNumber": "1234"}, "branchNumber", "branch number"),
        ({"rsin": "857587974"}, "rsin", "11-proef"),
        ({"rsin": "12345"}, "rsin", "RSIN"),
    ],
)
def test_a_malformed_branch_number_or_rsin_is_an_invalid_format_at_its_field_and_asks_kvk_nothing(
    api: Api, fields: dict[str, str], field: str, words: str
) -> None:
    body = checked(api, kvkNumber=DONALD, **fields)
    assert (body["verdict"], body["checks"]["format"]) == ("invalid", "fail")
    (reason,) = body["reasons"]
    assert (reason["code"], reason["field"]) == ("INVALID_FORMAT", field)
    assert words in reason["message"]
    assert api.kvk_calls()["calls"] == {} or sum(api.kvk_calls()["calls"].values()) == 0


def test_every_malformed_identifier_is_named_at_once(api: Api) -> None:
    body = checked(api, kvkNumber="12", branchNumber="x", rsin="1")
    assert [reason["field"] for reason in body["reasons"]] == ["kvkNumber", "branchNumber", "rsin"]


def test_branch_and_rsin_together_with_the_name(api: Api) -> None:
    body = checked(api, kvkNumber=DONALD, tradeName="Test BV Donald", branchNumber=DONALD_MAIN, rsin=DONALD_RSIN)
    assert body["verdict"] == "valid"
    assert {name: body["checks"][name]["result"] for name in ("tradeName", "branchNumber", "rsin")} == {
        "tradeName": "match",
        "branchNumber": "match",
        "rsin": "match",
    }


def test_kvk_down_during_the_rsin_check_is_unverified_not_invalid(api: Api) -> None:
    checked(api, kvkNumber=DONALD)  # the company's own search is cached now
    api.kvk(outage=True)
    body = checked(api, kvkNumber=DONALD, rsin=DONALD_RSIN)
    assert (body["verdict"], body["checks"]["rsin"]["result"]) == ("unverified", "unknown")
    assert body["reasons"][-1]["code"] == "KVK_UNAVAILABLE" and "field" not in body["reasons"][-1]

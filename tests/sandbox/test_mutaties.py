"""The sandbox's Mutatieservice: signals from its own registrations, listed as KVK lists them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.sandbox.mutaties import SUBSCRIPTION_ID
from local.sandbox.server import SandboxServer, registry

SIGNALS = f"/v1/abonnementen/{SUBSCRIPTION_ID}"


@pytest.fixture
def mutable(fresh: SandboxServer) -> Iterator[SandboxServer]:
    fresh.sandbox.mutaties.reset()
    fresh.sandbox.faults.behaviour.update({"signal_delay_seconds": 0.0})
    yield fresh
    fresh.sandbox.mutaties.reset()


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def company(index: int = 0) -> dict[str, Any]:
    found = [r for r in registry().companies.values() if r.get("evidence") == "generated" and not r.get("datumEinde")]
    return found[index]


def mutate(server: SandboxServer, **change: Any) -> dict[str, Any]:
    answer = httpx.post(server.url + "/__sandbox/mutations", json=change)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_the_key_has_one_active_subscription(kvk_http: httpx.Client) -> None:
    answer = kvk_http.get("/v1/abonnementen")
    assert answer.status_code == 200
    (subscription,) = answer.json()["abonnementen"]
    assert (subscription["id"], subscription["actief"]) == (SUBSCRIPTION_ID, True)


def test_an_ended_company_is_signalled_and_shows_inactive(mutable: SandboxServer, kvk_http: httpx.Client) -> None:
    record = company()
    started = time.time()
    signal = mutate(mutable, kvkNummer=record["kvkNummer"], kind="ended", at=started)["signal"]
    page = kvk_http.get(SIGNALS, params={"vanaf": iso(started - 60), "tot": iso(started + 60), "aantal": 500}).json()
    mine = [item for item in page["signalen"] if item["kvknummer"] == record["kvkNummer"]]
    assert mine == [signal] and signal["signaalType"] == "SignaalBeeindiging_2025_01"
    detail = kvk_http.get(f"{SIGNALS}/signalen/{signal['id']}").json()["signaal"]
    assert detail["aanleiding"]["code"] == "OO"
    assert detail["heeftBetrekkingOp"]["kvkNummer"] == record["kvkNummer"]
    found = kvk_http.get(
        "/v2/zoeken", params={"kvkNummer": record["kvkNummer"], "inclusiefInactieveRegistraties": "true"}
    )
    assert {item.get("actief") for item in found.json()["resultaten"]} == {"Nee"}  # KVK writes Ja/Nee


def test_a_renamed_company_is_found_by_its_new_name_and_its_old_one_as_expired(
    mutable: SandboxServer, kvk_http: httpx.Client
) -> None:
    record = company(1)
    mutate(mutable, kvkNummer=record["kvkNummer"], kind="renamed", name="Zonnebloem Tegelwerken B.V.")
    found = kvk_http.get("/v2/zoeken", params={"kvkNummer": record["kvkNummer"]}).json()["resultaten"]
    assert "Zonnebloem Tegelwerken B.V." in {item["naam"] for item in found}
    named = kvk_http.get("/v2/zoeken", params={"kvkNummer": record["kvkNummer"], "naam": "zonnebloem"})
    assert named.status_code == 200


def test_a_signal_is_listed_only_once_its_delay_has_passed(mutable: SandboxServer, kvk_http: httpx.Client) -> None:
    mutable.sandbox.faults.behaviour.update({"signal_delay_seconds": 600.0})
    record = company(2)
    now = time.time()
    mutate(mutable, kvkNummer=record["kvkNummer"], kind="special-legal-status", at=now)
    early = kvk_http.get(SIGNALS, params={"vanaf": iso(now - 60), "tot": iso(now + 300), "aantal": 500}).json()
    later = kvk_http.get(SIGNALS, params={"vanaf": iso(now + 300), "tot": iso(now + 900), "aantal": 500}).json()
    assert record["kvkNummer"] not in {item["kvknummer"] for item in early["signalen"]}
    assert record["kvkNummer"] in {item["kvknummer"] for item in later["signalen"]}


def test_the_test_environment_emits_ten_mock_signals_every_five_minutes(kvk_http: httpx.Client) -> None:
    start = 1_800_000_000  # a 5-minute boundary
    page = kvk_http.get(SIGNALS, params={"vanaf": iso(start), "tot": iso(start + 1800), "aantal": 500}).json()
    assert page["totaal"] == 60
    assert all(item["kvknummer"].startswith("9") for item in page["signalen"])
    pages = kvk_http.get(SIGNALS, params={"vanaf": iso(start), "tot": iso(start + 1800), "aantal": 25}).json()
    assert (pages["totaalPaginas"], len(pages["signalen"])) == (3, 25)


@pytest.mark.parametrize(
    ("params", "status"),
    [({"aantal": "5"}, 400), ({"aantal": "501"}, 400), ({"vanaf": "gisteren"}, 400), ({"pagina": "0"}, 400)],
)
def test_bad_parameters_are_problem_documents(kvk_http: httpx.Client, params: dict[str, str], status: int) -> None:
    answer = kvk_http.get(SIGNALS, params=params)
    assert answer.status_code == status
    assert answer.json()["status"] == status and "fout" not in answer.json()


def test_an_unknown_signal_or_subscription_is_refused(kvk_http: httpx.Client) -> None:
    assert kvk_http.get(f"{SIGNALS}/signalen/nope").status_code == 422
    assert kvk_http.get("/v1/abonnementen/someone-elses").status_code == 403


def test_mutations_stay_in_their_own_sandbox(mutable: SandboxServer) -> None:
    record = company(3)
    mutate(mutable, kvkNummer=record["kvkNummer"], kind="ended")
    assert not registry().companies[record["kvkNummer"]].get("datumEinde")  # the shared register is untouched
    assert httpx.delete(mutable.url + "/__sandbox/mutations").status_code == 200
    assert not mutable.sandbox.registry.companies[record["kvkNummer"]].get("datumEinde")

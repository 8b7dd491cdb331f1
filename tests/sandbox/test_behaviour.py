"""The sandbox behaves as KVK's test environment does (reference §2-§8, §10)."""

from __future__ import annotations

import logging

import httpx
import pytest

from kvkgate.clock import Deadline
from kvkgate.kvk import InvalidRequest, KvkApi, KvkClient, NotFound, ZoekQuery
from kvkgate.kvk.keys import StaticApiKey
from kvkgate.kvk.requests import KvkRequest
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.dataset import Registry
from local.sandbox.server import SandboxServer, registry


def fout_code(response: httpx.Response) -> str:
    code: str = response.json()["fout"][0]["code"]
    return code


def test_api_key_is_required_per_flavour(fresh: SandboxServer) -> None:
    path = "/v1/basisprofielen/69599084"
    assert httpx.get(fresh.test_url + path).status_code == 401
    assert httpx.get(fresh.test_url + path, headers={"apikey": "wrong"}).status_code == 401
    assert httpx.get(fresh.url + "/api" + path, headers={"apikey": PUBLIC_TEST_KEY}).status_code == 401
    production = httpx.get(fresh.url + "/api" + path, headers={"apikey": fresh.keys.production})
    assert production.status_code == 200
    assert production.json()["kvkNummer"] == "69599084"
    assert fresh.sandbox.faults.stats.unauthorized == 3


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v2/zoeken?kvkNummer=1234", 400, "IPD0004"),
        ("/v2/zoeken?vestigingsnummer=12345", 400, "IPD0006"),
        ("/v2/zoeken?rsin=12", 400, "IPD0010"),
        ("/v2/zoeken?kvkNummer=69599084&handelsnaam=x", 400, "IPD1999"),
        ("/v2/zoeken?kvkNummer=69599084&type=filiaal", 400, "IPD5203"),
        ("/v2/zoeken?postcode=8823SJ", 400, "IPD1998"),
        ("/v2/zoeken?huisnummer=3", 400, "IPD1998"),
        ("/v2/zoeken?naam=Donald&resultatenPerPagina=101", 400, "IPD1998"),
        ("/v2/zoeken?kvkNummer=12345678", 404, "IPD5200"),
        ("/v1/basisprofielen/1234", 400, "IPD0004"),
        ("/v1/basisprofielen/12345678", 404, "IPD0005"),
        ("/v1/basisprofielen/90000749/hoofdvestiging", 404, "IPD0005"),
        ("/v1/vestigingsprofielen/665544332211", 404, "IPD0007"),
        ("/v1/naamgevingen/kvknummer/12345678", 404, "IPD0005"),
        ("/v1/basisprofielen/90004973", 500, "IPD9999"),
        ("/v1/basisprofielen/90002903", 404, "IPD0005"),
        ("/v2/zoeken?kvkNummer=90004973", 404, "IPD5200"),
    ],
)
def test_error_codes(kvk_http: httpx.Client, path: str, status: int, code: str) -> None:
    response = kvk_http.get(path)
    assert response.status_code == status
    assert fout_code(response) == code
    assert response.headers["content-type"] == "application/json"


def test_parameter_names_are_case_insensitive(kvk_http: httpx.Client) -> None:
    assert kvk_http.get("/v2/zoeken?KVKNUMMER=69599084").json()["totaal"] == 2


def test_inactive_registrations_only_when_asked(kvk_http: httpx.Client) -> None:
    assert kvk_http.get("/v2/zoeken?kvkNummer=96354429").status_code == 404
    found = kvk_http.get("/v2/zoeken?kvkNummer=96354429&inclusiefInactieveRegistraties=true").json()
    assert {item["actief"] for item in found["resultaten"]} == {"Nee"}
    profile = kvk_http.get("/v1/basisprofielen/96354429").json()
    assert profile["materieleRegistratie"]["datumEinde"]


def test_legal_entity_item_and_type_filter(kvk_http: httpx.Client) -> None:
    everything = kvk_http.get("/v2/zoeken?kvkNummer=68750110").json()
    assert sorted(item["type"] for item in everything["resultaten"]) == [
        "hoofdvestiging",
        "nevenvestiging",
        "rechtspersoon",
    ]
    legal = next(item for item in everything["resultaten"] if item["type"] == "rechtspersoon")
    assert "vestigingsnummer" not in legal
    assert "vestigingsprofiel" not in legal["_links"]
    filtered = kvk_http.get("/v2/zoeken?kvkNummer=68750110&type=hoofdvestiging&type=rechtspersoon").json()
    assert sorted(item["type"] for item in filtered["resultaten"]) == ["hoofdvestiging", "rechtspersoon"]


def test_name_search_is_whole_word_and_shows_the_matched_name(kvk_http: httpx.Client) -> None:
    assert kvk_http.get("/v2/zoeken?naam=Donal").status_code == 404
    hits = kvk_http.get("/v2/zoeken?naam=donald").json()["resultaten"]
    assert {hit["kvkNummer"] for hit in hits} == {"68750110"}
    assert len(hits) == 3
    by_trade_name = kvk_http.get("/v2/zoeken?naam=Tweede handelsnaam 1MZ").json()["resultaten"]
    assert [hit["naam"] for hit in by_trade_name] == ["Tweede handelsnaam 1MZ"]


def test_postcode_and_house_number_show_the_searched_address(kvk_http: httpx.Client) -> None:
    hits = kvk_http.get("/v2/zoeken?postcode=8823sj&huisnummer=3").json()["resultaten"]
    assert [(hit["kvkNummer"], hit["type"]) for hit in hits] == [("68750110", "hoofdvestiging")]
    address = hits[0]["adres"]["binnenlandsAdres"]
    assert (address["postcode"], address["huisnummer"]) == ("8823SJ", 3)
    letter = kvk_http.get("/v2/zoeken?postcode=1034WL&huisnummer=17&huisletter=M").json()["resultaten"]
    assert [hit["vestigingsnummer"] for hit in letter] == ["000038509504"]
    assert kvk_http.get("/v2/zoeken?postcode=1034WL&huisnummer=17&huisletter=B").status_code == 404


def test_paging_links_and_the_result_window(kvk_http: httpx.Client) -> None:
    first = kvk_http.get("/v2/zoeken?naam=bakkerij&resultatenPerPagina=100").json()
    assert first["totaal"] > 100
    assert "vorige" not in first
    assert "pagina=2" in first["volgende"]
    second = kvk_http.get(first["volgende"]).json()
    assert "pagina=1" in second["vorige"]
    assert not {hit["kvkNummer"] + hit.get("vestigingsnummer", "") for hit in first["resultaten"]} & {
        hit["kvkNummer"] + hit.get("vestigingsnummer", "") for hit in second["resultaten"]
    }
    many = kvk_http.get("/v2/zoeken?kvkNummer=90006577").json()
    assert many["totaal"] == 1001
    last = kvk_http.get("/v2/zoeken?kvkNummer=90006577&pagina=10&resultatenPerPagina=100").json()
    assert "volgende" not in last
    assert kvk_http.get("/v2/zoeken?kvkNummer=90006577&pagina=11&resultatenPerPagina=100").status_code == 404


def test_link_shape_follows_accept_and_the_switch(fresh: SandboxServer) -> None:
    headers = {"apikey": PUBLIC_TEST_KEY}
    plain = httpx.get(fresh.test_url + "/v1/basisprofielen/69599084", headers={**headers, "Accept": "application/json"})
    assert isinstance(plain.json()["links"], list)
    assert plain.headers["content-type"] == "application/json"
    httpx.put(fresh.url + "/__sandbox/config", json={"link_shape": "links"})
    hal = httpx.get(
        fresh.test_url + "/v1/basisprofielen/69599084", headers={**headers, "Accept": "application/hal+json"}
    )
    assert "_links" not in hal.json()
    assert isinstance(hal.json()["_embedded"]["hoofdvestiging"]["links"], list)


def test_geo_data_only_when_asked(kvk_http: httpx.Client) -> None:
    plain = kvk_http.get("/v1/vestigingsprofielen/990064773193").json()
    assert "geoData" not in plain["adressen"][0]
    geo = kvk_http.get("/v1/vestigingsprofielen/990064773193?geoData=true").json()
    assert geo["adressen"][0]["geoData"]["gpsLatitude"] == pytest.approx(52.0961628)


def test_naamgeving_lists_names_per_vestiging(kvk_http: httpx.Client) -> None:
    naming = kvk_http.get("/v1/naamgevingen/kvknummer/68750110").json()
    assert naming["rsin"] == "857587973"
    assert naming["startdatum"] == "20170519"
    assert {branch["vestigingsnummer"] for branch in naming["vestigingen"]} == {"000037178598", "000037178601"}
    stichting = kvk_http.get("/v1/naamgevingen/kvknummer/90006623").json()
    non_commercial = next(branch for branch in stichting["vestigingen"] if "naam" in branch)
    assert "handelsnamen" not in non_commercial


def test_shielded_and_foreign_addresses(kvk_http: httpx.Client) -> None:
    shielded = kvk_http.get("/v1/vestigingsprofielen/990000541921").json()["adressen"][0]
    assert shielded["indAfgeschermd"] == "Ja"
    assert "straatnaam" not in shielded
    foreign = kvk_http.get("/v2/zoeken?kvkNummer=55344526&type=hoofdvestiging").json()["resultaten"][0]
    assert foreign["adres"]["buitenlandsAdres"]["land"] == "Frankrijk"


def test_empty_fields_are_omitted_not_null(kvk_http: httpx.Client) -> None:
    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                assert value is not None
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (
        "/v1/basisprofielen/90000749",
        "/v1/basisprofielen/69599084/vestigingen",
        "/v1/naamgevingen/kvknummer/90006623",
    ):
        walk(kvk_http.get(path).json())


def test_generated_population_is_large_varied_and_deterministic() -> None:
    first = registry()
    rebuilt = Registry.load()
    assert len(first.companies) >= 5000
    assert list(rebuilt.companies) == list(first.companies)
    generated = [record for record in first.companies.values() if record.get("evidence") == "generated"]
    assert len(generated) >= 5000
    assert sum(1 for record in generated if record.get("actief") is False) > 100
    assert any(len(record["vestigingen"]) >= 3 for record in generated)
    addresses = [address for record in generated for branch in record["vestigingen"] for address in branch["adressen"]]
    assert sum(1 for address in addresses if address.get("afgeschermd")) > 50
    assert sum(1 for address in addresses if address.get("straatHuisnummer")) > 20


def test_the_layer_client_round_trips_every_route(fresh: SandboxServer) -> None:
    client = KvkClient(fresh.test_url, StaticApiKey(PUBLIC_TEST_KEY))
    deadline = Deadline.after(30)
    search = client.zoeken(ZoekQuery(kvkNummer="69599084"), deadline=deadline)
    assert {item.vestigingsnummer for item in search.resultaten} == {"000038509504", "000038509520"}
    assert len(list(client.iter_zoeken(ZoekQuery(kvkNummer="90006577"), deadline=deadline))) == 1000
    profile = client.basisprofiel("68750110", geo_data=True, deadline=deadline)
    assert profile.hoofdvestiging is not None
    assert profile.hoofdvestiging.vestigingsnummer == "000037178598"
    assert client.eigenaar("68750110", deadline=deadline).rsin == "857587973"
    assert client.hoofdvestiging("68750110", deadline=deadline).handelsnamen[0].naam == "Test BV Donald"
    assert client.vestigingen("90006577", deadline=deadline).totaalAantalVestigingen == 1000
    branch = client.vestigingsprofiel("000037178598", deadline=deadline)
    assert branch.adressen[1].volledigAdres == "Hizzaarderlaan 3 A 8823SJ Lollum"
    naming = client.naamgeving("90006623", deadline=deadline)
    assert [branch.is_commercial for branch in naming.vestigingen] == [True, False]
    with pytest.raises(NotFound):
        client.basisprofiel("12345678", deadline=deadline)
    with pytest.raises(InvalidRequest):
        client.fetch(
            KvkRequest(KvkApi.ZOEKEN, "/v2/zoeken", (("kvkNummer", "69599084"), ("onbekend", "1"))), deadline=deadline
        )
    client.close()


def test_key_echoed_by_the_gateway_stays_out_of_debug_logs(
    fresh: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = KvkClient(fresh.test_url, StaticApiKey(PUBLIC_TEST_KEY))
    client.basisprofiel("69599084", deadline=Deadline.after(10))
    client.close()
    assert "receive_response_headers.complete" in caplog.text
    assert PUBLIC_TEST_KEY not in caplog.text

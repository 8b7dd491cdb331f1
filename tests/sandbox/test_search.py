"""Zoeken as KVK answers it: every name incl. expired ones, activity per registration, paging (§3, §7.3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.sandbox import population
from local.sandbox.server import registry

HISTORY = "99100002"  # 125 ended nevenvestigingen first, then 3 active ones, the hoofdvestiging, the rechtspersoon
ENDED_BRANCH_COMPANY, ENDED_BRANCH = "99000008", "980000080003"


def results(client: httpx.Client, query: str) -> list[dict[str, Any]]:
    response = client.get("/v2/zoeken?" + query)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["resultaten"]
    return items


def key(item: dict[str, Any]) -> tuple[str, str, str]:
    return item["kvkNummer"], item.get("vestigingsnummer", ""), item["type"]


# -- naam ----------------------------------------------------------------------------------------


def test_an_expired_name_is_found_and_shown_as_vervallen_naam(kvk_http: httpx.Client) -> None:
    for query in ("naam=kwik", "naam=Test BV Kwik", "naam=KWIK bv"):
        hits = results(kvk_http, query)
        assert sorted(key(hit) for hit in hits) == [
            ("68750110", "", "rechtspersoon"),
            ("68750110", "000037178598", "hoofdvestiging"),
        ]
        # The item keeps its current name; the expired one that matched comes beside it.
        assert {(hit["naam"], hit["vervallenNaam"]) for hit in hits} == {("Test BV Donald", "Test BV Kwik")}
    assert kvk_http.get("/v2/zoeken?naam=kwi").status_code == 404


def test_a_current_name_wins_over_an_expired_one(kvk_http: httpx.Client) -> None:
    hits = results(kvk_http, "naam=Test BV")
    donald = [hit for hit in hits if hit["kvkNummer"] == "68750110"]
    assert len(donald) == 3
    assert all("vervallenNaam" not in hit for hit in donald)


@pytest.mark.parametrize(
    ("query", "expected", "name", "expired"),
    [
        ("naam=Pannenkoekenhuis", ("69599076", "000038509490", "nevenvestiging"), "Guus Tweede Vestiging", True),
        ("naam=Vrienden van Bolderbast", ("69599068", "", "rechtspersoon"), "Test Stichting Bolderbast", True),
        ("naam=Bolderbast", ("69599068", "", "rechtspersoon"), "Test Stichting Bolderbast", False),
        ("naam=Guus Tweede Vestiging", ("69599076", "000038509490", "nevenvestiging"), "Guus Tweede Vestiging", False),
    ],
)
def test_every_kind_of_name_is_searched(
    kvk_http: httpx.Client, query: str, expected: tuple[str, str, str], name: str, expired: bool
) -> None:
    hits = results(kvk_http, query)
    assert [key(hit) for hit in hits] == [expected]
    assert hits[0]["naam"] == name
    assert ("vervallenNaam" in hits[0]) is expired


def test_naam_within_one_company_filters_its_registrations(kvk_http: httpx.Client) -> None:
    assert len(results(kvk_http, "kvkNummer=68750110&naam=donald")) == 3
    # A vestiging's trade name finds that vestiging, not the rechtspersoon (which has its own names).
    branch_only = results(kvk_http, "kvkNummer=68750110&naam=Nevenvestiging")
    assert [(hit["vestigingsnummer"], hit["naam"]) for hit in branch_only] == [
        ("000037178601", "Test BV Donald Nevenvestiging")
    ]
    expired = results(kvk_http, "vestigingsnummer=000037178598&naam=kwik")
    assert [hit["vervallenNaam"] for hit in expired] == ["Test BV Kwik"]
    for query in ("kvkNummer=68750110&naam=dagobert", "kvkNummer=69599084&naam=donald", "kvkNummer=68750110&naam=don"):
        response = kvk_http.get("/v2/zoeken?" + query)
        assert response.status_code == 404
        assert response.json()["fout"][0]["code"] == "IPD5200"


def test_about_five_percent_of_the_generated_population_has_an_expired_name() -> None:
    generated = [record for record in registry().companies.values() if record.get("evidence") == "generated"]
    former = [record for record in generated if record.get("vervallenNamen")]
    assert 0.03 * len(generated) < len(former) < 0.07 * len(generated)
    for record in former:
        assert record["vestigingen"][0]["vervallenNamen"] == record["vervallenNamen"]


def test_expired_names_do_not_change_the_rest_of_the_population(monkeypatch: pytest.MonkeyPatch) -> None:
    """Benchmarks sample generated companies by number; expired names use a random stream of their own."""

    def without_former_names(share: float) -> list[dict[str, Any]]:
        monkeypatch.setattr(population, "FORMER_SHARE", share)
        records = population.generate(200, 7, set())
        for record in records:
            record.pop("vervallenNamen", None)
            record["vestigingen"][0].pop("vervallenNamen", None)
        return records

    assert without_former_names(0.0) == without_former_names(1.0)


def test_generated_expired_names_are_found_as_expired(kvk_http: httpx.Client) -> None:
    generated = [record for record in registry().companies.values() if record.get("evidence") == "generated"]
    for record in [record for record in generated if record.get("vervallenNamen")][:5]:
        former = record["vervallenNamen"][0]
        hits = results(kvk_http, f"kvkNummer={record['kvkNummer']}&naam={former}")
        assert hits
        assert {hit["vervallenNaam"] for hit in hits} == {former}
        assert all(hit["naam"] != former for hit in hits)


# -- activity per registration ---------------------------------------------------------------------


def test_an_ended_vestiging_of_an_active_company(kvk_http: httpx.Client) -> None:
    active_only = results(kvk_http, f"kvkNummer={ENDED_BRANCH_COMPANY}")
    assert ENDED_BRANCH not in {hit.get("vestigingsnummer") for hit in active_only}
    assert all("actief" not in hit for hit in active_only)
    everything = results(kvk_http, f"kvkNummer={ENDED_BRANCH_COMPANY}&inclusiefInactieveRegistraties=true")
    assert {hit.get("vestigingsnummer", hit["type"]): hit["actief"] for hit in everything} == {
        "980000080001": "Ja",
        "980000080002": "Ja",
        ENDED_BRANCH: "Nee",
        "rechtspersoon": "Ja",
    }
    assert kvk_http.get(f"/v2/zoeken?vestigingsnummer={ENDED_BRANCH}").status_code == 404
    by_number = results(kvk_http, f"vestigingsnummer={ENDED_BRANCH}&inclusiefInactieveRegistraties=true")
    assert [hit["actief"] for hit in by_number] == ["Nee"]


def test_profiles_of_an_ended_vestiging_and_its_active_company(kvk_http: httpx.Client) -> None:
    branch = kvk_http.get(f"/v1/vestigingsprofielen/{ENDED_BRANCH}").json()
    assert branch["materieleRegistratie"] == {"datumAanvang": "20200115", "datumEinde": "20240331"}
    company = kvk_http.get(f"/v1/basisprofielen/{ENDED_BRANCH_COMPANY}").json()
    assert "datumEinde" not in company["materieleRegistratie"]
    listed = kvk_http.get(f"/v1/basisprofielen/{ENDED_BRANCH_COMPANY}/vestigingen").json()
    assert listed["totaalAantalVestigingen"] == 2
    assert ENDED_BRANCH not in {item["vestigingsnummer"] for item in listed["vestigingen"]}
    naming = kvk_http.get(f"/v1/naamgevingen/kvknummer/{ENDED_BRANCH_COMPANY}").json()
    assert ENDED_BRANCH not in {item["vestigingsnummer"] for item in naming["vestigingen"]}
    # An inactive company keeps the vestigingen that ended with it.
    inactive = kvk_http.get("/v1/basisprofielen/96354429/vestigingen").json()
    assert [item["vestigingsnummer"] for item in inactive["vestigingen"]] == ["990001987781"]


# -- a company whose first page is all inactive ---------------------------------------------------


def test_the_first_page_of_a_large_company_holds_only_inactive_registrations(kvk_http: httpx.Client) -> None:
    first = kvk_http.get(
        f"/v2/zoeken?kvkNummer={HISTORY}&inclusiefInactieveRegistraties=true&resultatenPerPagina=100"
    ).json()
    assert (first["pagina"], first["resultatenPerPagina"], first["totaal"]) == (1, 100, 130)
    assert "vorige" not in first
    assert {hit["actief"] for hit in first["resultaten"]} == {"Nee"}
    second = kvk_http.get(first["volgende"]).json()
    assert second["pagina"] == 2
    assert "volgende" not in second
    assert "pagina=1" in second["vorige"]
    assert len(second["resultaten"]) == 30
    active = [hit for hit in second["resultaten"] if hit["actief"] == "Ja"]
    assert sorted(hit["type"] for hit in active) == ["hoofdvestiging", *["nevenvestiging"] * 3, "rechtspersoon"]
    seen = {key(hit) for hit in first["resultaten"] + second["resultaten"]}
    assert len(seen) == 130
    beyond = kvk_http.get(
        f"/v2/zoeken?kvkNummer={HISTORY}&inclusiefInactieveRegistraties=true&resultatenPerPagina=100&pagina=3"
    )
    assert beyond.status_code == 404
    # Without inactive registrations only the five active ones are found.
    assert len(results(kvk_http, f"kvkNummer={HISTORY}&resultatenPerPagina=100")) == 5


def test_following_volgende_pages_through_every_registration(kvk_http: httpx.Client) -> None:
    url: str | None = f"/v2/zoeken?kvkNummer={HISTORY}&inclusiefInactieveRegistraties=true"
    pages: list[dict[str, Any]] = []
    while url:
        page = kvk_http.get(url).json()
        assert page["pagina"] == len(pages) + 1
        assert ("vorige" in page) is (len(pages) > 0)
        pages.append(page)
        url = page.get("volgende")
    assert len(pages) == 13
    assert all(page["totaal"] == 130 for page in pages)
    flags = [hit["actief"] for page in pages for hit in page["resultaten"]]
    assert len(flags) == 130
    assert flags.index("Ja") == 125  # twelve full pages of ended vestigingen before the first active one
    assert len({key(hit) for page in pages for hit in page["resultaten"]}) == 130


def test_the_large_company_does_not_collide_with_other_data() -> None:
    data = registry()
    history = data.companies[HISTORY]
    assert len(history["vestigingen"]) == 129
    assert all(data.branches[branch["vestigingsnummer"]][0] is history for branch in history["vestigingen"])
    assert data.by_rsin[history["rsin"]] is history


# -- address criteria ------------------------------------------------------------------------------


def test_the_item_shows_the_address_that_was_searched(kvk_http: httpx.Client) -> None:
    hits = results(kvk_http, "postcode=1000ae&postbusnummer=200")
    assert [key(hit) for hit in hits] == [("68750110", "000037178598", "hoofdvestiging")]
    assert hits[0]["adres"]["binnenlandsAdres"] == {
        "type": "postadres",
        "straatnaam": "Postbus",
        "postbusnummer": 200,
        "postcode": "1000AE",
        "plaats": "Rommeldam",
    }
    by_place = results(kvk_http, "plaats=Rommeldam&type=hoofdvestiging")
    assert by_place[0]["adres"]["binnenlandsAdres"] == {
        "type": "postadres",
        "straatnaam": "Postbus",
        "plaats": "Rommeldam",
    }


def test_a_name_without_words_finds_nothing(kvk_http: httpx.Client) -> None:
    for name in ("%26", "-", "%26 -"):
        response = kvk_http.get(f"/v2/zoeken?naam={name}")
        assert response.status_code == 404
        assert response.json()["fout"][0]["code"] == "IPD5200"


# -- rsin and vestigingsnummer (issue #21: the validation's branch and RSIN checks ask these) ---------


def test_an_rsin_finds_the_registrations_of_its_company_and_echoes_itself(kvk_http: httpx.Client) -> None:
    hits = results(kvk_http, "rsin=857587973&inclusiefInactieveRegistraties=true")
    assert {hit["kvkNummer"] for hit in hits} == {"68750110"}
    assert all(hit["rsin"] == "857587973" for hit in hits)  # KVK shows the RSIN only when searched by it
    assert "rsin" not in results(kvk_http, "kvkNummer=68750110")[0]
    assert kvk_http.get("/v2/zoeken?rsin=123456782").status_code == 404  # passes the 11-proef, nobody's
    assert kvk_http.get("/v2/zoeken?rsin=12345").json()["fout"][0]["code"] == "IPD0010"


def test_a_branch_number_finds_that_branch_only_and_an_ended_one_only_with_inactive(kvk_http: httpx.Client) -> None:
    (hit,) = results(kvk_http, "vestigingsnummer=000037178601")
    assert (hit["kvkNummer"], hit["vestigingsnummer"], hit["type"]) == ("68750110", "000037178601", "nevenvestiging")
    assert kvk_http.get("/v2/zoeken?vestigingsnummer=665544332211").status_code == 404


def test_the_real_names_are_registered_among_the_generated_population() -> None:
    data = registry()
    real = [record for record in data.companies.values() if str(record.get("evidence", "")).startswith("real name")]
    generated = [record for record in data.companies.values() if record.get("evidence") == "generated"]
    assert len(real) == 400 and len(generated) == 5000
    assert all(record["vestigingen"][0]["handelsnamen"] == [record["naam"]] for record in real)

"""KVK response models: every recording parses, in both link shapes, tolerating drift."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kvkgate.kvk.models import Basisprofiel, Naamgeving, PartialDate, Vestiging, VestigingList, ZoekResultaat
from tests.conftest import RECORDINGS, recording

MODEL_BY_API: dict[str, type[ZoekResultaat] | type[Basisprofiel] | type[Vestiging]] = {
    "zoeken": ZoekResultaat,
    "basisprofiel": Basisprofiel,
    "vestigingsprofiel": Vestiging,
}
SUCCESSES = sorted(path.name for path in RECORDINGS.glob("*.200.json"))


def as_link_arrays(node: Any) -> Any:
    """The 2025-12..2026-03 shape: ``"links": [{"rel", "href"}]`` instead of ``"_links": {rel: {href}}``."""
    if isinstance(node, list):
        return [as_link_arrays(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_link_arrays(value) for key, value in node.items() if key != "_links"}
    if "_links" in node:
        converted["links"] = [{"rel": rel, "href": link["href"]} for rel, link in node["_links"].items()]
    return converted


def model_for(name: str) -> type[ZoekResultaat] | type[Basisprofiel] | type[Vestiging]:
    return MODEL_BY_API[name.split("-")[0]]


def test_every_success_recording_is_covered() -> None:
    assert len(SUCCESSES) >= 6


@pytest.mark.parametrize("name", SUCCESSES)
@pytest.mark.parametrize("shape", ["_links", "links"])
def test_recordings_parse_in_both_link_shapes(name: str, shape: str) -> None:
    body = recording(name)
    if shape == "links":
        body = as_link_arrays(body)
    parsed = model_for(name).model_validate(body)
    assert parsed.links, "top-level links must be read in either shape"
    assert all(href.startswith("https://api.kvk.nl/test/api/") for href in parsed.links.values())


def test_zoeken_items_and_links() -> None:
    result = ZoekResultaat.model_validate(recording("zoeken-kvkNummer-69599084.200.json"))
    assert result.totaal == 2
    assert {item.vestigingsnummer for item in result.resultaten} == {"000038509504", "000038509520"}
    main = next(item for item in result.resultaten if item.type == "hoofdvestiging")
    assert main.naam == "Test EMZ Dagobert"
    assert main.adres is not None and main.adres.binnenlandsAdres is not None
    assert main.adres.binnenlandsAdres.plaats == "Amsterdam"
    assert main.links["vestigingsprofiel"].endswith("/000038509504")
    assert result.links["self"].endswith("kvknummer=69599084&pagina=1&resultatenperpagina=10")


def test_shielded_address_in_zoeken_is_only_a_place() -> None:
    result = ZoekResultaat.model_validate(recording("zoeken-rsin-992760562.200.json"))
    item = result.resultaten[0]
    assert item.rsin == "992760562"
    assert item.adres is not None and item.adres.binnenlandsAdres is not None
    assert item.adres.binnenlandsAdres.straatnaam is None
    assert item.adres.binnenlandsAdres.plaats == "Sterksel"


def test_basisprofiel_of_an_eenmanszaak() -> None:
    profile = Basisprofiel.model_validate(recording("basisprofiel-69599084.200.json"))
    assert profile.indNonMailing is True
    assert profile.formeleRegistratiedatum is not None
    assert profile.formeleRegistratiedatum.as_date() == dt.date(2017, 7, 10)
    assert [name.volgorde for name in profile.handelsnamen] == list(range(8))
    assert profile.eigenaar is not None and profile.eigenaar.rsin is None
    assert profile.eigenaar.rechtsvorm == "Eenmanszaak"
    main = profile.hoofdvestiging
    assert main is not None and main.vestigingsnummer == "000038509504"
    assert main.adressen[0].volledigAdres == "Abebe Bikilalaan 17 M 1034WL Amsterdam"
    assert main.adressen[0].huisletter == "M"
    assert [activity.indHoofdactiviteit for activity in profile.sbiActiviteiten] == [True, False, False]
    assert not profile.is_ended


def test_basisprofiel_without_vestigingen_keeps_addresses_on_the_owner() -> None:
    profile = Basisprofiel.model_validate(recording("basisprofiel-90000749.200.json"))
    assert profile.hoofdvestiging is None
    assert profile.handelsnamen == []
    assert profile.totaalWerkzamePersonen is None
    assert profile.eigenaar is not None
    assert profile.eigenaar.adressen[0].volledigAdres == "Blaauwweg 163 3328XD Dordrecht"


def test_vestigingsprofiel_recording() -> None:
    branch = Vestiging.model_validate(recording("vestigingsprofiel-000038509504.200.json"))
    assert branch.kvkNummer == "69599084"
    assert branch.indHoofdvestiging is True
    assert branch.deeltijdWerkzamePersonen == 0
    assert "  " not in (branch.adressen[0].volledigAdres or "")


def test_unknown_fields_are_ignored_and_missing_optionals_are_none() -> None:
    body = recording("basisprofiel-69599084.200.json")
    body["nieuwVeldUit2027"] = {"wat": "dan ook"}
    body["_embedded"]["eigenaar"]["datumUitschrijving"] = "20300101"
    del body["naam"], body["sbiActiviteiten"], body["materieleRegistratie"]
    profile = Basisprofiel.model_validate(body)
    assert profile.naam is None
    assert profile.sbiActiviteiten == []
    assert profile.materieleRegistratie is None
    assert profile.eigenaar is not None and profile.eigenaar.datumUitschrijving is not None


def test_nulls_are_treated_as_absent() -> None:
    profile = Basisprofiel.model_validate({"kvkNummer": "69599084", "handelsnamen": None, "naam": None, "_links": None})
    assert profile.handelsnamen == []
    assert profile.naam is None
    assert profile.links == {}


def test_identifier_is_required() -> None:
    with pytest.raises(ValueError, match="kvkNummer"):
        Basisprofiel.model_validate({"naam": "zonder nummer"})


def test_trade_names_are_ordered_by_volgorde_not_by_array_order() -> None:
    body = recording("vestigingsprofiel-000038509504.200.json")
    body["handelsnamen"].reverse()
    branch = Vestiging.model_validate(body)
    assert branch.handelsnamen[0].naam == "Test EMZ Dagobert"


@pytest.mark.parametrize(
    ("raw", "year", "month", "day", "full"),
    [
        ("20170519", 2017, 5, 19, dt.date(2017, 5, 19)),
        ("20150600", 2015, 6, None, None),
        ("20150012", 2015, None, 12, None),
        ("00000000", None, None, None, None),
        ("20150231", 2015, 2, 31, None),  # no such day: kept, never turned into a date
        ("2015-06", None, None, None, None),
    ],
)
def test_partial_dates_are_kept_without_inventing_parts(
    raw: str, year: int | None, month: int | None, day: int | None, full: dt.date | None
) -> None:
    date = PartialDate.model_validate(raw)
    assert (date.raw, date.year, date.month, date.day) == (raw, year, month, day)
    assert date.as_date() == full


def test_flags_tolerate_booleans_and_unknown_words() -> None:
    branch = Vestiging.model_validate(
        {"vestigingsnummer": "000038509504", "indHoofdvestiging": True, "indCommercieleVestiging": "Misschien"}
    )
    assert branch.indHoofdvestiging is True
    assert branch.indCommercieleVestiging is None


def test_vestiging_list_and_naamgeving_from_the_spec_shapes() -> None:
    listing = VestigingList.model_validate(
        {
            "kvkNummer": "68750110",
            "totaalAantalVestigingen": 2,
            "vestigingen": [
                {
                    "vestigingsnummer": "000037178598",
                    "eersteHandelsnaam": "Test BV Donald",
                    "indHoofdvestiging": "Ja",
                    "volledigAdres": "Hizzaarderlaan 3 A     8823SJ Lollum",
                    "links": [
                        {
                            "rel": "vestigingsprofiel",
                            "href": "https://api.kvk.nl/test/api/v1/vestigingsprofielen/000037178598",
                        }
                    ],
                },
            ],
        }
    )
    assert listing.vestigingen[0].volledigAdres == "Hizzaarderlaan 3 A 8823SJ Lollum"
    assert listing.vestigingen[0].links["vestigingsprofiel"].endswith("000037178598")
    naming = Naamgeving.model_validate(
        {
            "kvkNummer": "68750110",
            "statutaireNaam": "Test BV Donald",
            "startdatum": "20170519",
            "vestigingen": [
                {
                    "vestigingsnummer": "000037178598",
                    "eersteHandelsnaam": "Test BV Donald",
                    "handelsnamen": [{"naam": "B", "volgorde": 1}, {"naam": "Test BV Donald", "volgorde": 0}],
                },
                {"vestigingsnummer": "000037178601", "naam": "Stichting Iets", "ookGenoemd": "Iets"},
            ],
            "_links": {"self": {"href": "x"}, "basisprofiel": {"href": "y"}},
        }
    )
    assert naming.vestigingen[0].is_commercial
    assert naming.vestigingen[0].handelsnamen[0].naam == "Test BV Donald"
    assert not naming.vestigingen[1].is_commercial
    assert naming.links == {"self": "x", "basisprofiel": "y"}

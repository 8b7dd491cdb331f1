"""Pydantic models of KVK's responses. They speak KVK (Dutch field names) and tolerate drift.

Rules from the reference (§2, §11): every field is optional except the identifiers that were
asked for; unknown fields are ignored; both link shapes (``_links`` objects and ``links``
arrays) are read into one ``links`` mapping of rel -> href; ``"Ja"``/``"Nee"`` become booleans;
``YYYYMMDD`` dates with zeroed unknown parts are kept as :class:`PartialDate`; trade names are
ordered by ``volgorde``; whitespace in ``volledigAdres`` is collapsed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _links_to_mapping(value: Any) -> dict[str, str]:
    """``{"self": {"href": ...}}`` or ``[{"rel": "self", "href": ...}]`` -> ``{"self": ...}``."""
    links: dict[str, str] = {}
    if isinstance(value, dict):
        for rel, link in value.items():
            if isinstance(link, dict) and isinstance(link.get("href"), str):
                links[str(rel)] = link["href"]
            elif isinstance(link, list) and link and isinstance(link[0], dict):
                href = link[0].get("href")
                if isinstance(href, str):
                    links[str(rel)] = href
    elif isinstance(value, list):
        for link in value:
            if isinstance(link, dict) and isinstance(link.get("rel"), str) and isinstance(link.get("href"), str):
                links.setdefault(link["rel"], link["href"])
    return links


def _ja_nee(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"ja", "j", "true", "yes"}:
            return True
        if word in {"nee", "n", "false", "no"}:
            return False
    return None


def _collapse(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def _int_or_none(value: Any) -> Any:
    """KVK sends numbers; tolerate ``"17"`` and treat anything unreadable as unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isdigit() else None
    return value if isinstance(value, int | float) else None


JaNee = Annotated[bool | None, BeforeValidator(_ja_nee)]
Text = Annotated[str | None, BeforeValidator(_collapse)]
Count = Annotated[int | None, BeforeValidator(_int_or_none)]


class PartialDate(BaseModel):
    """A KVK date ``YYYYMMDD`` where zeros mean "unknown": ``20150600`` is June 2015, day unknown."""

    model_config = ConfigDict(frozen=True)

    raw: str
    year: int | None = None
    month: int | None = None
    day: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if len(text) != 8 or not text.isdigit():
            return {"raw": text}
        year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
        return {
            "raw": text,
            "year": year or None,
            "month": month if 1 <= month <= 12 else None,
            "day": day if 1 <= day <= 31 else None,
        }

    def as_date(self) -> dt.date | None:
        """The full date, or None when any part is unknown or the combination does not exist."""
        if self.year is None or self.month is None or self.day is None:
            return None
        try:
            return dt.date(self.year, self.month, self.day)
        except ValueError:
            return None


KvkDate = Annotated[PartialDate | None, BeforeValidator(lambda v: v if v not in ("", None) else None)]


class KvkModel(BaseModel):
    """Common behaviour: ignore unknown fields and nulls, read either link shape into ``links``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    links: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # null is treated as absent, the way KVK itself omits unknown fields.
        data = {key: value for key, value in data.items() if value is not None}
        if "_links" not in data and "links" not in data:
            return data
        merged = _links_to_mapping(data.pop("links", None))
        merged.update(_links_to_mapping(data.pop("_links", None)))
        data["links"] = merged
        return data


class Handelsnaam(KvkModel):
    naam: Text = None
    volgorde: Count = None


def _ordered(names: list[Handelsnaam]) -> list[Handelsnaam]:
    """Array order is not guaranteed by KVK; ``volgorde`` is. Names without one go last."""
    return sorted(names, key=lambda name: (name.volgorde is None, name.volgorde or 0))


TradeNames = Annotated[list[Handelsnaam], AfterValidator(_ordered)]


class MaterieleRegistratie(KvkModel):
    datumAanvang: KvkDate = None
    datumEinde: KvkDate = None


class SbiActiviteit(KvkModel):
    sbiCode: str | None = None
    sbiOmschrijving: str | None = None
    indHoofdactiviteit: JaNee = None


class GeoData(KvkModel):
    addresseerbaarObjectId: str | None = None
    nummerAanduidingId: str | None = None
    gpsLatitude: float | None = None
    gpsLongitude: float | None = None
    rijksdriehoekX: float | None = None
    rijksdriehoekY: float | None = None
    rijksdriehoekZ: float | None = None


class Adres(KvkModel):
    """A profile address (Basisprofiel, Vestigingsprofiel). Foreign ones use the last four fields."""

    type: str | None = None
    indAfgeschermd: JaNee = None
    volledigAdres: Text = None
    straatnaam: str | None = None
    huisnummer: Count = None
    huisletter: str | None = None
    huisnummerToevoeging: str | None = None
    aanduidingBijHuisnummer: str | None = None
    toevoegingAdres: str | None = None
    postcode: str | None = None
    postbusnummer: Count = None
    plaats: str | None = None
    straatHuisnummer: str | None = None
    postcodeWoonplaats: str | None = None
    regio: str | None = None
    land: str | None = None
    geoData: GeoData | None = None


class _Profile(KvkModel):
    """Fields a Basisprofiel and a Vestiging share."""

    kvkNummer: str | None = None
    indNonMailing: JaNee = None
    formeleRegistratiedatum: KvkDate = None
    materieleRegistratie: MaterieleRegistratie | None = None
    statutaireNaam: Text = None
    totaalWerkzamePersonen: Count = None
    handelsnamen: TradeNames = Field(default_factory=list)
    sbiActiviteiten: list[SbiActiviteit] = Field(default_factory=list)

    @property
    def is_ended(self) -> bool:
        """A registration with an end date has stopped (it may still be served with 200)."""
        return self.materieleRegistratie is not None and self.materieleRegistratie.datumEinde is not None


class Vestiging(_Profile):
    """Vestigingsprofiel, and Basisprofiel's ``_embedded.hoofdvestiging`` / ``/hoofdvestiging``."""

    vestigingsnummer: str
    rsin: str | None = None
    eersteHandelsnaam: Text = None
    indHoofdvestiging: JaNee = None
    indCommercieleVestiging: JaNee = None
    voltijdWerkzamePersonen: Count = None
    deeltijdWerkzamePersonen: Count = None
    adressen: list[Adres] = Field(default_factory=list)
    websites: list[str] = Field(default_factory=list)


class Eigenaar(KvkModel):
    rsin: str | None = None
    rechtsvorm: str | None = None
    uitgebreideRechtsvorm: str | None = None
    datumUitschrijving: KvkDate = None
    adressen: list[Adres] = Field(default_factory=list)
    websites: list[str] = Field(default_factory=list)


class BasisprofielEmbedded(KvkModel):
    hoofdvestiging: Vestiging | None = None
    eigenaar: Eigenaar | None = None


class Basisprofiel(_Profile):
    kvkNummer: str
    naam: Text = None
    embedded: BasisprofielEmbedded | None = Field(default=None, validation_alias=AliasChoices("_embedded", "embedded"))

    @property
    def hoofdvestiging(self) -> Vestiging | None:
        return self.embedded.hoofdvestiging if self.embedded else None

    @property
    def eigenaar(self) -> Eigenaar | None:
        return self.embedded.eigenaar if self.embedded else None


class VestigingBasis(KvkModel):
    vestigingsnummer: str
    kvkNummer: str | None = None
    eersteHandelsnaam: Text = None
    indHoofdvestiging: JaNee = None
    indAdresAfgeschermd: JaNee = None
    indCommercieleVestiging: JaNee = None
    volledigAdres: Text = None


class VestigingList(KvkModel):
    kvkNummer: str | None = None
    aantalCommercieleVestigingen: Count = None
    aantalNietCommercieleVestigingen: Count = None
    totaalAantalVestigingen: Count = None
    vestigingen: list[VestigingBasis] = Field(default_factory=list)


class BinnenlandsAdres(KvkModel):
    type: str | None = None
    straatnaam: str | None = None
    huisnummer: Count = None
    huisletter: str | None = None
    postbusnummer: Count = None
    postcode: str | None = None
    plaats: str | None = None


class BuitenlandsAdres(KvkModel):
    type: str | None = None
    straatHuisnummer: str | None = None
    postcodeWoonplaats: str | None = None
    land: str | None = None


class ZoekAdres(KvkModel):
    binnenlandsAdres: BinnenlandsAdres | None = None
    buitenlandsAdres: BuitenlandsAdres | None = None


class ZoekResultaatItem(KvkModel):
    kvkNummer: str
    rsin: str | None = None
    vestigingsnummer: str | None = None
    naam: Text = None
    adres: ZoekAdres | None = None
    type: str | None = None
    actief: JaNee = None
    vervallenNaam: Text = None


class ZoekResultaat(KvkModel):
    pagina: Count = None
    resultatenPerPagina: Count = None
    totaal: Count = None
    vorige: str | None = None
    volgende: str | None = None
    resultaten: list[ZoekResultaatItem] = Field(default_factory=list)


class NaamgevingVestiging(KvkModel):
    """Commercial vestigingen carry trade names; non-commercial ones a ``naam``/``ookGenoemd``."""

    vestigingsnummer: str
    eersteHandelsnaam: Text = None
    handelsnamen: TradeNames = Field(default_factory=list)
    naam: Text = None
    ookGenoemd: Text = None

    @property
    def is_commercial(self) -> bool:
        return bool(self.eersteHandelsnaam or self.handelsnamen)


class Naamgeving(KvkModel):
    kvkNummer: str
    rsin: str | None = None
    statutaireNaam: Text = None
    naam: Text = None
    ookGenoemd: Text = None
    startdatum: KvkDate = None
    einddatum: KvkDate = None
    vestigingen: list[NaamgevingVestiging] = Field(default_factory=list)


# -- the Mutatieservice (reference-next §6): signal headers and details ------------------------------


class Abonnement(KvkModel):
    id: str
    actief: bool | None = None
    startDatum: str | None = None
    eindDatum: str | None = None


class Abonnementen(KvkModel):
    klantId: str | None = None
    abonnementen: list[Abonnement] = Field(default_factory=list)


class SignaalInfo(KvkModel):
    """A signal header. KVK spells the number ``kvknummer`` here (lower-case n); both are read."""

    id: str
    timestamp: str
    kvknummer: str = Field(validation_alias=AliasChoices("kvknummer", "kvkNummer"))
    signaalType: str | None = None
    vestigingsnummer: str | None = None


class PagedSignalen(KvkModel):
    pagina: int = 1
    aantal: int | None = None
    totaal: float | None = None
    totaalPaginas: int = Field(1, ge=0)
    signalen: list[SignaalInfo] = Field(default_factory=list)


class Code(KvkModel):
    code: str | None = None
    omschrijving: str | None = None


class VoortzettingEnOverdracht(KvkModel):
    kvkNummer: str | None = None
    rolBijVoortzettingOverdracht: Code | None = None


class GewijzigdeVestiging(KvkModel):
    vestigingsnummer: str | None = None
    naamgeving: bool = False
    adresgegevens: bool = False
    activiteiten: bool = False
    algemeen: bool = False


class GewijzigdeVestigingen(KvkModel):
    gewijzigdevestigingen: list[GewijzigdeVestiging] = Field(
        default_factory=list, validation_alias=AliasChoices("gewijzigdevestigingen", "gewijzigdeVestigingen")
    )


class GewijzigdeEigenaar(KvkModel):
    bijzondererechtstoestand: bool = False
    ontbindingEnLiquidatie: bool = False
    rechtspersoonAdresgegevens: bool = False
    rechtspersoon: bool = False
    fusieEnSplitsing: bool = False


class GewijzigdeGegevens(KvkModel):
    eigenaar: GewijzigdeEigenaar | None = None
    vestigingen: GewijzigdeVestigingen | None = None
    maOnderneming: dict[str, Any] | None = None


class HeeftGewijzigdeVestiging(KvkModel):
    vestigingsnummer: str | None = None
    gewijzigdeGegevens: GewijzigdeVestiging | None = None


class Signaal(KvkModel):
    """One signal's detail: what kind of data changed (not the new values)."""

    signaalType: str | None = None
    registratieTijdstip: str | None = None
    aanleiding: Code | None = None
    startdatum: str | None = None
    persoonRechtsvormOud: str | None = None
    voortzettingEnOverdracht: VoortzettingEnOverdracht | None = None
    heeftGewijzigdeGegevens: GewijzigdeGegevens | None = None
    heeftGewijzigdeVestiging: HeeftGewijzigdeVestiging | None = None


class SignaalDetail(KvkModel):
    signaal: Signaal

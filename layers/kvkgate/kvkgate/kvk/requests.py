"""What kvkgate asks KVK: checked Zoeken queries and one value per GET (API, path, query, subject).

A query is checked before any call (or budget) is spent on it; a :class:`KvkRequest` says which
API it is for (limits and cost) and what it is about (caching).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.errors import InvalidRequest

MAX_PAGE_SIZE = 100
_KVK_NUMBER = re.compile(r"[0-9]{8}")
_BRANCH_NUMBER = re.compile(r"[0-9]{12}")

SearchType = Literal["hoofdvestiging", "nevenvestiging", "rechtspersoon"]


class ZoekQuery(BaseModel):
    """Zoeken v2 query parameters (reference §3.1), checked before any call is spent on them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kvkNummer: str | None = Field(None, pattern=r"^[0-9]{8}$")
    rsin: str | None = Field(None, pattern=r"^[0-9]{9}$")
    vestigingsnummer: str | None = Field(None, pattern=r"^[0-9]{12}$")
    naam: str | None = Field(None, min_length=1, max_length=500)
    straatnaam: str | None = Field(None, min_length=1, max_length=200)
    plaats: str | None = Field(None, min_length=1, max_length=200)
    postcode: str | None = Field(None, pattern=r"^[0-9]{4}[a-zA-Z]{2}$")
    huisnummer: int | None = Field(None, ge=0, le=99999)
    huisletter: str | None = Field(None, pattern=r"^[a-zA-Z]$")
    postbusnummer: int | None = Field(None, ge=0, le=99999)
    type: tuple[SearchType, ...] = ()
    inclusiefInactieveRegistraties: bool | None = None
    pagina: int | None = Field(None, ge=1, le=1000)
    resultatenPerPagina: int | None = Field(None, ge=1, le=MAX_PAGE_SIZE)

    @model_validator(mode="after")
    def _combinations(self) -> ZoekQuery:
        criteria = (
            self.kvkNummer,
            self.rsin,
            self.vestigingsnummer,
            self.naam,
            self.straatnaam,
            self.plaats,
            self.postcode,
        )
        if all(value is None for value in criteria):
            raise ValueError("Zoeken needs at least one search criterion")
        if self.postcode is not None and self.huisnummer is None and self.postbusnummer is None:
            raise ValueError("postcode needs huisnummer or postbusnummer")
        if (self.huisnummer is not None or self.postbusnummer is not None) and self.postcode is None:
            raise ValueError("huisnummer and postbusnummer need postcode")
        if self.huisletter is not None and self.huisnummer is None:
            raise ValueError("huisletter needs huisnummer")
        return self

    def params(self) -> tuple[tuple[str, str], ...]:
        """Query pairs in KVK's spelling; ``type`` repeats, booleans are ``true``/``false``."""
        pairs = [
            (name, str(value).lower() if isinstance(value, bool) else str(value))
            for name, value in self.model_dump(exclude_none=True, exclude={"type"}).items()
        ]
        pairs.extend(("type", kind) for kind in self.type)
        return tuple(pairs)


@dataclass(frozen=True)
class KvkRequest:
    """One GET to KVK: which API (for limits and cost), the path below the base URL, the query,
    and what it is about (the KVK number or vestigingsnummer, and the Basisprofiel part) for caching."""

    api: KvkApi
    path: str
    params: tuple[tuple[str, str], ...] = ()
    subject: str = ""
    part: str = ""


def _kvk(kvk_nummer: str) -> str:
    if not isinstance(kvk_nummer, str) or not _KVK_NUMBER.fullmatch(kvk_nummer):
        raise InvalidRequest("kvkNummer must be exactly 8 digits")
    return kvk_nummer


def _geo(geo_data: bool) -> tuple[tuple[str, str], ...]:
    return (("geoData", "true"),) if geo_data else ()


def zoeken_request(query: ZoekQuery) -> KvkRequest:
    return KvkRequest(KvkApi.ZOEKEN, "/v2/zoeken", query.params())


def basisprofiel_request(
    kvk_nummer: str, part: Literal["", "eigenaar", "hoofdvestiging", "vestigingen"] = "", *, geo_data: bool = False
) -> KvkRequest:
    path = f"/v1/basisprofielen/{_kvk(kvk_nummer)}" + (f"/{part}" if part else "")
    params = _geo(geo_data) if part != "vestigingen" else ()
    return KvkRequest(KvkApi.BASISPROFIEL, path, params, subject=kvk_nummer, part=part)


def vestigingsprofiel_request(vestigingsnummer: str, *, geo_data: bool = False) -> KvkRequest:
    if not isinstance(vestigingsnummer, str) or not _BRANCH_NUMBER.fullmatch(vestigingsnummer):
        raise InvalidRequest("vestigingsnummer must be exactly 12 digits")
    path = f"/v1/vestigingsprofielen/{vestigingsnummer}"
    return KvkRequest(KvkApi.VESTIGINGSPROFIEL, path, _geo(geo_data), subject=vestigingsnummer)


def naamgeving_request(kvk_nummer: str) -> KvkRequest:
    return KvkRequest(KvkApi.NAAMGEVING, f"/v1/naamgevingen/kvknummer/{_kvk(kvk_nummer)}", subject=kvk_nummer)


# -- the Mutatieservice (reference-next §6) ---------------------------------------------------------

SIGNAL_PAGE_SIZE = 500  # the most KVK allows (10 … 500)
_ID = re.compile(r"[A-Za-z0-9._~-]{1,100}")


def _identifier(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequest(f"{what} must be 1-100 letters, digits, dots, dashes or underscores")
    return value


def abonnementen_request() -> KvkRequest:
    return KvkRequest(KvkApi.MUTATIESERVICE, "/v1/abonnementen")


def signalen_request(abonnement_id: str, vanaf: str, tot: str, pagina: int = 1) -> KvkRequest:
    """One page of signal headers between ``vanaf`` and ``tot`` (ISO 8601, UTC), the largest page KVK allows."""
    params = (("vanaf", vanaf), ("tot", tot), ("pagina", str(pagina)), ("aantal", str(SIGNAL_PAGE_SIZE)))
    path = f"/v1/abonnementen/{_identifier(abonnement_id, 'abonnementId')}"
    return KvkRequest(KvkApi.MUTATIESERVICE, path, params)


def signaal_request(abonnement_id: str, signaal_id: str) -> KvkRequest:
    path = (
        f"/v1/abonnementen/{_identifier(abonnement_id, 'abonnementId')}/signalen/{_identifier(signaal_id, 'signaalId')}"
    )
    return KvkRequest(KvkApi.MUTATIESERVICE, path)

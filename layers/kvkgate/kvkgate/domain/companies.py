"""Company summary for prefill (Basisprofiel) and the trade-name check (Naamgeving). Pure mapping."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from kvkgate.cache import Lookup
from kvkgate.clock import Deadline
from kvkgate.contracts import (
    Address,
    BestMatch,
    CompanySummary,
    MainBranch,
    Meta,
    SbiActivity,
    ScoredName,
    TradeNameCheckRequest,
    TradeNameCheckResult,
)
from kvkgate.errors import NotRegistered, Unavailable
from kvkgate.kvk.errors import InvalidRequest, KvkError
from kvkgate.kvk.models import Adres, Basisprofiel, Naamgeving
from kvkgate.names import Thresholds, best_match
from kvkgate.numbers import parse_kvk_number
from kvkgate.verify import naamgeving_candidates

MAX_CANDIDATES = 20


class ProfileLookups(Protocol):
    def basisprofiel(self, kvk_number: str, deadline: Deadline) -> Lookup[Basisprofiel]: ...

    def naamgeving(self, kvk_number: str, deadline: Deadline) -> Lookup[Naamgeving]: ...


def _meta(lookup: Lookup[object], now: dt.datetime) -> Meta:
    return Meta.at(now, lookup.source, lookup.stale)


def _fetch[T](kvk: str, fetch: Fetch[T]) -> Lookup[T]:
    try:
        lookup = fetch()
    except InvalidRequest as error:
        if error.code == "IPD0004":
            raise NotRegistered(kvk) from None
        raise Unavailable.from_kvk(error) from None
    except KvkError as error:
        raise Unavailable.from_kvk(error) from None
    if lookup.value is None:
        raise NotRegistered(kvk)
    return lookup


class Fetch[T](Protocol):
    def __call__(self) -> Lookup[T]: ...


def company_summary(
    raw_kvk_number: str, lookups: ProfileLookups, deadline: Deadline, now: dt.datetime
) -> CompanySummary:
    """Raises NumberFormatError (malformed), NotRegistered, Unavailable."""
    kvk = parse_kvk_number(raw_kvk_number)
    lookup = _fetch(kvk, lambda: lookups.basisprofiel(kvk, deadline))
    profile = lookup.value
    assert profile is not None  # noqa: S101 - _fetch raised otherwise
    owner, main = profile.eigenaar, profile.hoofdvestiging
    registered = profile.formeleRegistratiedatum.as_date() if profile.formeleRegistratiedatum else None
    return CompanySummary(
        kvk_number=profile.kvkNummer,
        name=profile.naam,
        statutory_name=profile.statutaireNaam,
        legal_form=(owner.uitgebreideRechtsvorm or owner.rechtsvorm) if owner else None,
        active=not profile.is_ended and not (owner and owner.datumUitschrijving),
        registration_date=registered.isoformat() if registered else None,
        trade_names=[name.naam for name in profile.handelsnamen if name.naam],
        main_branch=_main_branch(
            main.vestigingsnummer if main else None, main.adressen if main else (owner.adressen if owner else [])
        ),
        sbi_activities=[
            SbiActivity(code=item.sbiCode, description=item.sbiOmschrijving, main=item.indHoofdactiviteit)
            for item in profile.sbiActiviteiten
        ],
        employees=profile.totaalWerkzamePersonen,
        meta=_meta(lookup, now),
    )


def _main_branch(branch_number: str | None, addresses: list[Adres]) -> MainBranch | None:
    visiting = next((address for address in addresses if address.type == "bezoekadres"), None)
    chosen = visiting or next(iter(addresses), None)
    if branch_number is None and chosen is None:
        return None
    return MainBranch(branch_number=branch_number, address=_address(chosen) if chosen else None)


def _address(address: Adres) -> Address:
    if address.indAfgeschermd:
        return Address(city=address.plaats, country=address.land)
    if address.straatHuisnummer:  # abroad: KVK gives street+number and postcode+place as lines
        return Address(street=address.straatHuisnummer, city=address.postcodeWoonplaats, country=address.land)
    return Address(
        street=address.straatnaam,
        house_number=address.huisnummer,
        house_letter=address.huisletter,
        house_number_addition=address.huisnummerToevoeging,
        postcode=address.postcode,
        city=address.plaats,
        country=address.land,
    )


def check_trade_name(
    request: TradeNameCheckRequest,
    lookups: ProfileLookups,
    deadline: Deadline,
    now: dt.datetime,
    thresholds: Thresholds | None = None,
) -> TradeNameCheckResult:
    """Raises NumberFormatError, NotRegistered, Unavailable."""
    kvk = parse_kvk_number(request.kvk_number)
    lookup = _fetch(kvk, lambda: lookups.naamgeving(kvk, deadline))
    assert lookup.value is not None  # noqa: S101 - _fetch raised otherwise
    found = best_match(request.trade_name, list(naamgeving_candidates(lookup.value)), thresholds)
    best = found.best
    return TradeNameCheckResult(
        kvk_number=kvk,
        trade_name=request.trade_name,
        result=found.result,
        score=found.score,
        best_match=BestMatch(
            name=best.candidate.name, name_type=best.candidate.name_type, branch_number=best.candidate.branch_number
        )
        if best and found.result != "mismatch"
        else None,
        candidates=[
            ScoredName(name=item.candidate.name, name_type=item.candidate.name_type, score=item.score)
            for item in found.ranked[:MAX_CANDIDATES]
        ],
        meta=_meta(lookup, now),
    )

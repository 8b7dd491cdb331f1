"""The sign-up decision (design §3): is this KVK number real and active, and do the claimed name
and address belong to it? One verdict: ``valid``, ``invalid`` or ``unverified``.

Cost-aware: the free Zoeken answers registration, activity and most names; the paid Naamgeving
is asked only when a claimed name is not confidently matched by Zoeken's names. An outage of KVK
(or a spent budget) is never reported as a fact about the company: it yields ``unverified``.

Pure orchestration: every KVK answer comes through the :class:`Lookups` port (cached lookups in
production, in-memory fakes in tests); nothing here does I/O itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from kvkgate.cache import Lookup
from kvkgate.clock import Deadline
from kvkgate.contracts import (
    AddressCheck,
    Checks,
    CompanyBrief,
    Meta,
    NameCheck,
    Reason,
    Source,
    ValidationRequest,
    ValidationResult,
)
from kvkgate.errors import Unavailable
from kvkgate.kvk.client import ZoekQuery
from kvkgate.kvk.errors import InvalidRequest, KvkError
from kvkgate.kvk.models import Naamgeving, ZoekResultaat, ZoekResultaatItem
from kvkgate.names import Candidate, NameMatch, Thresholds, best_match
from kvkgate.numbers import NumberFormatError, parse_house_number, parse_kvk_number

logger = logging.getLogger(__name__)


class Lookups(Protocol):
    def company_search(self, kvk_number: str, deadline: Deadline) -> Lookup[ZoekResultaat]: ...

    def search(self, query: ZoekQuery, deadline: Deadline) -> Lookup[ZoekResultaat]: ...

    def naamgeving(self, kvk_number: str, deadline: Deadline) -> Lookup[Naamgeving]: ...


@dataclass(frozen=True)
class Policy:
    thresholds: Thresholds = field(default_factory=Thresholds)
    # A partial name match cannot improve by asking again, so it is final: by default the sign-up
    # passes with a TRADE_NAME_PARTIAL reason; strict deployments make it invalid.
    partial_name_verdict: Literal["valid", "invalid"] = "valid"


class _Unreachable(Exception):
    """KVK could not be asked for part of the decision; carries the reason to report."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.message)
        self.reason = reason


def _unreachable(error: KvkError) -> _Unreachable:
    logger.warning("KVK could not be asked: %s: %s", type(error).__name__, error)
    outage = Unavailable.from_kvk(error)
    return _Unreachable(Reason(code=outage.code, message=outage.message))


@dataclass
class _Sources:
    """Where the answers came from, for ``meta``."""

    lookups: list[Lookup[object]] = field(default_factory=list)

    def add[T](self, lookup: Lookup[T]) -> Lookup[T]:
        self.lookups.append(lookup)
        return lookup

    def meta(self, now: dt.datetime) -> Meta:
        source: Source = "none"
        if self.lookups:
            source = "kvk" if any(lookup.source == "kvk" for lookup in self.lookups) else "cache"
        stale = any(lookup.stale for lookup in self.lookups)
        return Meta.at(now, source, stale)


def validate(
    request: ValidationRequest, lookups: Lookups, deadline: Deadline, now: dt.datetime, policy: Policy | None = None
) -> ValidationResult:
    rules = policy or Policy()
    sources = _Sources()
    try:
        kvk = parse_kvk_number(request.kvk_number)
    except NumberFormatError as error:
        return _result(
            request.kvk_number,
            "invalid",
            [Reason(code="INVALID_FORMAT", message=error.message)],
            _checks("fail", "unknown", "unknown", request),
            None,
            sources.meta(now),
        )
    try:
        registration = sources.add(lookups.company_search(kvk, deadline))
    except InvalidRequest as error:
        if error.code == "IPD0004":  # KVK itself calls the number invalid (seen in 2025 for 90004333)
            return _not_registered(kvk, request, sources, now)
        return _unverified(kvk, request, _unreachable(error), sources, now)
    except KvkError as error:
        return _unverified(kvk, request, _unreachable(error), sources, now)
    if registration.value is None or not registration.value.resultaten:
        return _not_registered(kvk, request, sources, now)
    items = registration.value.resultaten
    company = _brief(items)
    try:
        active = _is_active(kvk, items, lookups, deadline, sources)
    except _Unreachable as problem:
        return _unverified(kvk, request, problem, sources, now, company)
    if not active:
        reason = Reason(code="INACTIVE", message=f"KVK number {kvk} is registered but no longer active.")
        return _result(kvk, "invalid", [reason], _checks("pass", "pass", "fail", request), company, sources.meta(now))
    return _claims(kvk, request, items, company, lookups, deadline, sources, rules, now)


def _claims(
    kvk: str,
    request: ValidationRequest,
    items: list[ZoekResultaatItem],
    company: CompanyBrief,
    lookups: Lookups,
    deadline: Deadline,
    sources: _Sources,
    rules: Policy,
    now: dt.datetime,
) -> ValidationResult:
    """Registered and active: now the claimed name and address, then the verdict."""
    reasons: list[Reason] = []
    unreachable: Reason | None = None
    name_check = NameCheck(result="skipped")
    if request.trade_name is not None:
        try:
            name_check, name_reason = _check_name(kvk, request.trade_name, items, lookups, deadline, sources, rules)
            reasons += name_reason
        except _Unreachable as problem:
            name_check, unreachable = NameCheck(result="unknown"), problem.reason
    address_check = AddressCheck(result="skipped")
    if request.postcode is not None and request.house_number is not None:
        try:
            address_check, address_reason = _check_address(
                kvk, request.postcode, request.house_number, items, lookups, deadline, sources
            )
            reasons += address_reason
        except _Unreachable as problem:
            address_check, unreachable = AddressCheck(result="unknown"), problem.reason
    checks = Checks(format="pass", registered="pass", active="pass", trade_name=name_check, address=address_check)
    failed = name_check.result == "mismatch" or address_check.result == "mismatch"
    failed |= name_check.result == "partial" and rules.partial_name_verdict == "invalid"
    if failed:
        verdict: Literal["valid", "invalid", "unverified"] = "invalid"
    elif unreachable is not None:
        verdict, reasons = "unverified", [*reasons, unreachable]
    else:
        verdict = "valid"
    return _result(kvk, verdict, reasons, checks, company, sources.meta(now))


def _check_name(
    kvk: str,
    typed: str,
    items: list[ZoekResultaatItem],
    lookups: Lookups,
    deadline: Deadline,
    sources: _Sources,
    rules: Policy,
) -> tuple[NameCheck, list[Reason]]:
    free_names = list(_zoeken_candidates(items))
    free = best_match(typed, free_names, rules.thresholds)
    if free.result == "match":
        return _name_check(free), []
    try:
        naming = sources.add(lookups.naamgeving(kvk, deadline))
    except KvkError as error:
        raise _unreachable(error) from None
    candidates = free_names + (list(naamgeving_candidates(naming.value)) if naming.value else [])
    found = best_match(typed, candidates, rules.thresholds)
    best_name = found.best.candidate.name if found.best else None
    if found.result == "mismatch":
        return _name_check(found), [
            Reason(code="TRADE_NAME_MISMATCH", message=f"'{typed}' is not a name registered for KVK number {kvk}.")
        ]
    if found.result == "partial":
        return _name_check(found), [
            Reason(
                code="TRADE_NAME_PARTIAL",
                message=f"'{typed}' resembles the registered name '{best_name}' but is not the same.",
            )
        ]
    return _name_check(found), []


def _name_check(found: NameMatch) -> NameCheck:
    best = found.best
    return NameCheck(
        result=found.result,
        score=found.score,
        matched_name=best.candidate.name if best and found.result != "mismatch" else None,
        name_type=best.candidate.name_type if best and found.result != "mismatch" else None,
    )


def _zoeken_candidates(items: Iterable[ZoekResultaatItem]) -> Iterable[Candidate]:
    for item in items:
        if item.naam:
            kind = "statutoryName" if item.type == "rechtspersoon" else "tradeName"
            yield Candidate(item.naam, kind, item.vestigingsnummer)


def naamgeving_candidates(naming: Naamgeving) -> Iterable[Candidate]:
    """Every name Naamgeving lists, labelled with its kind (design §4 ``nameType``)."""
    for value, kind in (
        (naming.statutaireNaam, "statutoryName"),
        (naming.naam, "name"),
        (naming.ookGenoemd, "alsoKnownAs"),
    ):
        if value:
            yield Candidate(value, kind)
    for branch in naming.vestigingen:
        number = branch.vestigingsnummer
        if branch.eersteHandelsnaam:
            yield Candidate(branch.eersteHandelsnaam, "tradeName", number)
        for trade_name in branch.handelsnamen:
            if trade_name.naam:
                yield Candidate(trade_name.naam, "tradeName", number)
        if branch.naam:
            yield Candidate(branch.naam, "name", number)
        if branch.ookGenoemd:
            yield Candidate(branch.ookGenoemd, "alsoKnownAs", number)


def _check_address(
    kvk: str,
    postcode: str,
    house_number: str,
    items: list[ZoekResultaatItem],
    lookups: Lookups,
    deadline: Deadline,
    sources: _Sources,
) -> tuple[AddressCheck, list[Reason]]:
    if _address_shielded(items):
        reason = Reason(
            code="ADDRESS_SHIELDED", message=f"The address of KVK number {kvk} is shielded; it was not compared."
        )
        return AddressCheck(result="skipped"), [reason]
    # Only the number: people type KVK's "toevoeging" (3 A) as a letter (3A) and vice versa.
    number = parse_house_number(house_number).number
    query = ZoekQuery(kvkNummer=kvk, postcode=postcode, huisnummer=number, inclusiefInactieveRegistraties=True)
    try:
        found = sources.add(lookups.search(query, deadline))
    except KvkError as error:
        raise _unreachable(error) from None
    if found.value is None or not found.value.resultaten:
        reason = Reason(
            code="ADDRESS_MISMATCH",
            message=f"No establishment of KVK number {kvk} is registered at {postcode} {house_number}.",
        )
        return AddressCheck(result="mismatch"), [reason]
    return AddressCheck(result="match"), []


def _address_shielded(items: list[ZoekResultaatItem]) -> bool:
    """Zoeken shows a shielded address as a bare ``postadres`` with only a place."""
    domestic = [item.adres.binnenlandsAdres for item in items if item.adres and item.adres.binnenlandsAdres]
    return bool(domestic) and all(address.type == "postadres" and not address.straatnaam for address in domestic)


def _is_active(
    kvk: str, items: list[ZoekResultaatItem], lookups: Lookups, deadline: Deadline, sources: _Sources
) -> bool:
    flags = [item.actief for item in items]
    if any(flag is True for flag in flags):
        return True
    if flags and all(flag is False for flag in flags):
        return False
    # KVK did not say (the field drifted away): without inclusiefInactieveRegistraties only
    # active registrations are returned, which is one more free call.
    try:
        active_only = sources.add(lookups.search(ZoekQuery(kvkNummer=kvk), deadline))
    except KvkError as error:
        raise _unreachable(error) from None
    return active_only.value is not None and bool(active_only.value.resultaten)


def _brief(items: list[ZoekResultaatItem]) -> CompanyBrief:
    order = {"hoofdvestiging": 0, "rechtspersoon": 1, "nevenvestiging": 2}
    main = min(items, key=lambda item: order.get(item.type or "", 3))
    place = None
    if main.adres and main.adres.binnenlandsAdres:
        place = main.adres.binnenlandsAdres.plaats
    elif main.adres and main.adres.buitenlandsAdres:
        place = main.adres.buitenlandsAdres.postcodeWoonplaats
    return CompanyBrief(name=main.naam, city=place)


def _checks(format_: str, registered: str, active: str, request: ValidationRequest) -> Checks:
    name = "unknown" if request.trade_name is not None else "skipped"
    address = "unknown" if request.postcode is not None and request.house_number is not None else "skipped"
    return Checks.model_validate(
        {
            "format": format_,
            "registered": registered,
            "active": active,
            "tradeName": {"result": name},
            "address": {"result": address},
        }
    )


def _not_registered(kvk: str, request: ValidationRequest, sources: _Sources, now: dt.datetime) -> ValidationResult:
    reason = Reason(code="NOT_REGISTERED", message=f"KVK number {kvk} is not registered with the Chamber of Commerce.")
    return _result(kvk, "invalid", [reason], _checks("pass", "fail", "unknown", request), None, sources.meta(now))


def _unverified(
    kvk: str,
    request: ValidationRequest,
    problem: _Unreachable,
    sources: _Sources,
    now: dt.datetime,
    company: CompanyBrief | None = None,
) -> ValidationResult:
    registered = "pass" if company is not None else "unknown"
    checks = _checks("pass", registered, "unknown", request)
    return _result(kvk, "unverified", [problem.reason], checks, company, sources.meta(now))


def _result(
    kvk: str,
    verdict: Literal["valid", "invalid", "unverified"],
    reasons: list[Reason],
    checks: Checks,
    company: CompanyBrief | None,
    meta: Meta,
) -> ValidationResult:
    return ValidationResult(kvk_number=kvk, verdict=verdict, reasons=reasons, checks=checks, company=company, meta=meta)

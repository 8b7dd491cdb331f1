"""Zoeken v2 over the registry: exact identifiers, whole-word names, address filters, types."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from local.sandbox.dataset import Record, Registry, is_registration_active, search_names, words


@dataclass(frozen=True)
class Query:
    kvk: str | None = None
    rsin: str | None = None
    branch: str | None = None
    name: str | None = None
    street: str | None = None
    place: str | None = None
    postcode: str | None = None
    house_number: int | None = None
    house_letter: str | None = None
    po_box: int | None = None
    types: tuple[str, ...] = ()
    include_inactive: bool = False


@dataclass(frozen=True)
class Hit:
    record: Record
    branch: Record | None
    name: str | None  # the current name that matched ``naam``
    expired_name: str | None = None  # the expired name that matched, when no current one did
    address: Record | None = None  # the address that matched the address criteria


def _candidates(registry: Registry, query: Query) -> list[Record]:
    if query.kvk:
        record = registry.companies.get(query.kvk)
        return [record] if record else []
    if query.rsin:
        record = registry.by_rsin.get(query.rsin)
        return [record] if record else []
    if query.branch:
        pair = registry.branches.get(query.branch)
        return [pair[0]] if pair else []
    return list(registry.companies.values())


def _items(record: Record) -> Iterator[Record | None]:
    """Nevenvestigingen, then the hoofdvestiging, then the legal entity (KVK's 2026 order)."""
    branches = record.get("vestigingen", [])
    yield from (branch for branch in branches if not branch.get("hoofd"))
    yield from (branch for branch in branches if branch.get("hoofd"))
    if record.get("zoekenRechtspersoon"):
        yield None


def _address(record: Record, branch: Record | None) -> list[Record]:
    return list(branch.get("adressen", []) if branch is not None else record.get("eigenaarAdressen", []))


def _name_match(query_words: list[str], names: list[str]) -> str | None:
    wanted = set(query_words)
    return next((name for name in names if wanted <= set(words(name))), None)


def _names_match(query_words: list[str], record: Record, branch: Record | None) -> tuple[str | None, str | None]:
    """(current name, expired name) that matched; a current name wins over an expired one."""
    current, expired = search_names(record, branch)
    name = _name_match(query_words, current)
    return name, None if name else _name_match(query_words, expired)


def _address_match(query: Query, addresses: list[Record]) -> Record | None:
    for address in addresses:
        if query.street and not set(words(query.street)) <= set(words(address.get("straatnaam", ""))):
            continue
        if query.place and words(query.place) != words(address.get("plaats", "")):
            continue
        if query.postcode and address.get("postcode") != query.postcode:
            continue
        if query.house_number is not None and address.get("huisnummer") != query.house_number:
            continue
        if query.house_letter and (address.get("huisletter") or "").upper() != query.house_letter:
            continue
        if query.po_box is not None and address.get("postbusnummer") != query.po_box:
            continue
        return address
    return None


def search(registry: Registry, query: Query) -> list[Hit]:
    hits = []
    query_words = words(query.name) if query.name else []
    if query.name and not query_words:
        return []  # a name of punctuation only ("&", "-") matches no name, rather than every one
    needs_address = any(v is not None for v in (query.street, query.place, query.postcode))
    for record in _candidates(registry, query):
        if "scenario" in record:
            continue
        for branch in _items(record):
            # Activity is per registration: an active company can have ended vestigingen.
            if not query.include_inactive and not is_registration_active(record, branch):
                continue
            kind = (
                "rechtspersoon" if branch is None else ("hoofdvestiging" if branch.get("hoofd") else "nevenvestiging")
            )
            if query.types and kind not in query.types:
                continue
            if query.branch and (branch is None or branch["vestigingsnummer"] != query.branch):
                continue
            address = _address_match(query, _address(record, branch)) if needs_address else None
            if needs_address and address is None:
                continue
            name = expired = None
            if query_words:
                name, expired = _names_match(query_words, record, branch)
                if name is None and expired is None:
                    continue
            hits.append(Hit(record, branch, name, expired, address))
    return hits

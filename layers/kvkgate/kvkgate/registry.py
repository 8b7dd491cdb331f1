"""The domain's :class:`~kvkgate.domain.ports.Registry` over KVK: cached, limited, and in the project's words.

This module is where KVK's answers become the domain's types (registrations, names, profiles)
and KVK's errors become the domain's outcomes. It is also the one place that decides cache
keys. Past it nothing knows whether an answer came from memory, DynamoDB or KVK, except through
:class:`~kvkgate.domain.ports.Answer`'s ``source`` and ``stale``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kvkgate.aws.cache import CacheKey, KvkCache, Lookup
from kvkgate.aws.dynamo import StoreUnavailable
from kvkgate.clock import Deadline
from kvkgate.domain.contracts import Address, CompanyProfile, MainBranch, SbiActivity
from kvkgate.domain.names import RegisteredName
from kvkgate.domain.outcomes import Busy, PaidLookupRefused, Unavailable
from kvkgate.domain.ports import (
    Answer,
    Place,
    Registration,
    RegistrationKind,
    Registrations,
    SearchFilters,
    Signal,
    SignalHeader,
    SignalKind,
)
from kvkgate.kvk.client import KvkClient
from kvkgate.kvk.errors import BudgetExhausted, InvalidRequest, KvkError, PaidCallRefused, Shed
from kvkgate.kvk.models import Adres, Basisprofiel, Naamgeving, Signaal, ZoekResultaat, ZoekResultaatItem
from kvkgate.kvk.requests import (
    KvkRequest,
    ZoekQuery,
    basisprofiel_request,
    naamgeving_request,
    zoeken_request,
)

logger = logging.getLogger(__name__)

# The one Zoeken per company the verification makes: every registration, active or not.
COMPANY_SEARCH_PAGE = 100
# KVK's answer for a well-formed number it calls invalid (seen in 2025 for 90004333): a statement about the number.
INVALID_KVK_NUMBER = "IPD0004"
_KINDS: dict[str, RegistrationKind] = {
    "hoofdvestiging": "main branch",
    "nevenvestiging": "branch",
    "rechtspersoon": "legal entity",
}


def company_query(kvk_number: str) -> ZoekQuery:
    return ZoekQuery(kvkNummer=kvk_number, inclusiefInactieveRegistraties=True, resultatenPerPagina=COMPANY_SEARCH_PAGE)


def named_query(words: str, filters: SearchFilters) -> ZoekQuery:
    """A search by name for a person typing: active registrations unless asked, the page KVK allows."""
    return ZoekQuery(
        naam=words,
        plaats=filters.city,
        postcode=filters.postcode,
        huisnummer=filters.house_number,
        inclusiefInactieveRegistraties=True if filters.include_inactive else None,
        resultatenPerPagina=COMPANY_SEARCH_PAGE,
    )


def cache_key(request: KvkRequest) -> CacheKey:
    """Design §7 keys: pk per company (or branch, or search), sk per API and query variant."""
    params = dict(request.params)
    if request.api.value == "zoeken":
        kvk = params.get("kvkNummer")
        digest = hashlib.sha256(repr(sorted(request.params)).encode()).hexdigest()[:20]
        if kvk is None:
            return CacheKey(f"ZOEKEN#{digest}", "ZOEKEN")
        is_company_search = request.params == zoeken_request(company_query(kvk)).params
        return CacheKey(f"KVK#{kvk}", "ZOEKEN" if is_company_search else f"ZOEKEN#{digest}")
    variant = "#GEO" if params.get("geoData") == "true" else ""
    if request.api.value == "vestigingsprofiel":
        return CacheKey(f"VESTIGING#{request.subject}", "VESTIGINGSPROFIEL" + variant)
    if request.api.value == "naamgeving":
        return CacheKey(f"KVK#{request.subject}", "NAAMGEVING")
    part = f"#{request.part.upper()}" if request.part else ""
    return CacheKey(f"KVK#{request.subject}", "BASISPROFIEL" + part + variant)


class KvkRegistry:
    """Implements the domain's Registry port with the KVK client behind the cache."""

    def __init__(self, client: KvkClient, cache: KvkCache, search_ttl: float | None = None) -> None:
        self.client = client
        self.cache = cache
        self.search_ttl = search_ttl  # company searches by name: a short TTL of their own

    def registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        return self._search(company_query(kvk_number), deadline, about_number=True)

    def active_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        return self._search(ZoekQuery(kvkNummer=kvk_number), deadline)

    def registrations_at(
        self, kvk_number: str, postcode: str, house_number: int, deadline: Deadline
    ) -> Answer[Registrations | None]:
        query = ZoekQuery(
            kvkNummer=kvk_number, postcode=postcode, huisnummer=house_number, inclusiefInactieveRegistraties=True
        )
        return self._search(query, deadline)

    def registrations_named(self, kvk_number: str, words: str, deadline: Deadline) -> Answer[Registrations | None]:
        query = ZoekQuery(
            kvkNummer=kvk_number,
            naam=words,
            inclusiefInactieveRegistraties=True,
            resultatenPerPagina=COMPANY_SEARCH_PAGE,
        )
        return self._search(query, deadline)

    def branch_registrations(self, branch_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        query = ZoekQuery(vestigingsnummer=branch_number, inclusiefInactieveRegistraties=True)
        return self._search(query, deadline)

    def rsin_registrations(self, rsin: str, deadline: Deadline) -> Answer[Registrations | None]:
        query = ZoekQuery(rsin=rsin, inclusiefInactieveRegistraties=True)
        return self._search(query, deadline)

    def companies_named(self, words: str, filters: SearchFilters, deadline: Deadline) -> Answer[Registrations | None]:
        request = zoeken_request(named_query(words, filters))
        found = self._lookup(request, ZoekResultaat.model_validate, deadline, refused_is_none=True, ttl=self.search_ttl)
        return _answer(found, registrations)

    def known_companies_named(self, words: str, filters: SearchFilters) -> Answer[Registrations | None] | None:
        request = zoeken_request(named_query(words, filters))
        found = self.cache.peek(cache_key(request), ZoekResultaat.model_validate)
        return None if found is None else _answer(found, registrations)

    def names(self, kvk_number: str, deadline: Deadline) -> Answer[tuple[RegisteredName, ...] | None]:
        found = self._lookup(naamgeving_request(kvk_number), Naamgeving.model_validate, deadline, about_number=True)
        return _answer(found, lambda naming: tuple(registered_names(naming)))

    def profile(self, kvk_number: str, deadline: Deadline) -> Answer[CompanyProfile | None]:
        found = self._lookup(basisprofiel_request(kvk_number), Basisprofiel.model_validate, deadline, about_number=True)
        return _answer(found, company_profile)

    # -- the ChangeFeed port: watching customers' companies after sign-up -------------------------

    def current_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        try:
            self.cache.refresh(cache_key(zoeken_request(company_query(kvk_number))))
        except StoreUnavailable as error:  # the lookup below still asks the table, then KVK
            logger.warning("could not mark the cached answer for %s for refreshing: %s", kvk_number, error)
        return self.registrations(kvk_number, deadline)

    def forget(self, kvk_number: str) -> None:
        try:
            self.cache.forget(f"KVK#{kvk_number}")
        except StoreUnavailable as error:
            raise Unavailable("STORE_UNAVAILABLE", f"the cache could not forget {kvk_number}: {error}", 60.0) from None

    def subscription(self, configured: str, deadline: Deadline) -> str | None:
        if configured != "auto":
            return configured or None
        found = self._kvk(lambda: self.client.abonnementen(deadline=deadline))
        return next((item.id for item in found.abonnementen if item.actief is not False), None)

    def signal_headers(self, subscription: str, since: str, until: str, deadline: Deadline) -> list[SignalHeader]:
        headers: list[SignalHeader] = []
        page, pages = 1, 1
        while page <= pages:
            found = self._kvk(
                functools.partial(self.client.signalen, subscription, since, until, page, deadline=deadline)
            )
            headers += [
                SignalHeader(item.id, item.timestamp, item.kvknummer, item.signaalType or "") for item in found.signalen
            ]
            pages = found.totaalPaginas
            page += 1
        return headers

    def signal(self, subscription: str, header: SignalHeader, deadline: Deadline) -> Signal:
        detail = self._kvk(lambda: self.client.signaal(subscription, header.id, deadline=deadline)).signaal
        return signal_of(header, detail)

    def _kvk[T](self, call: Callable[[], T]) -> T:
        try:
            return call()
        except Shed as error:
            raise Busy(error.retry_after) from None
        except KvkError as error:
            raise _unavailable(error) from None

    def _search(self, query: ZoekQuery, deadline: Deadline, about_number: bool = False) -> Answer[Registrations | None]:
        found = self._lookup(zoeken_request(query), ZoekResultaat.model_validate, deadline, about_number)
        return _answer(found, registrations)

    def _lookup[T](
        self,
        request: KvkRequest,
        parse: Callable[[Any], T],
        deadline: Deadline,
        about_number: bool = False,
        refused_is_none: bool = False,
        ttl: float | None = None,
    ) -> Lookup[T]:
        """One cached lookup; KVK's failures as the domain's outcomes.

        ``about_number``: the question is whether the number exists, so KVK calling the number
        itself invalid answers it (not registered) rather than being a failure.
        ``refused_is_none``: a search KVK will not run (words it rejects) has no hits, not an outage.
        """
        try:
            return self.cache.lookup(
                cache_key(request),
                lambda: self.client.fetch(request, deadline=deadline),
                parse,
                deadline,
                admit=lambda: self.client.admit(request, deadline),
                ttl=ttl,
            )
        except InvalidRequest as error:
            if (about_number and error.code == INVALID_KVK_NUMBER) or refused_is_none:
                logger.info("KVK would not search that: %s", error.code)
                return Lookup(None, "kvk", False, 0.0)
            raise _unavailable(error) from None
        except Shed as error:
            raise Busy(error.retry_after) from None
        except PaidCallRefused as error:
            raise PaidLookupRefused(error.retry_after) from None
        except KvkError as error:
            raise _unavailable(error) from None


def _unavailable(error: KvkError) -> Unavailable:
    logger.warning("KVK could not answer: %s: %s", type(error).__name__, error)
    if isinstance(error, BudgetExhausted):
        return Unavailable.budget_spent()
    return Unavailable.kvk_down(getattr(error, "retry_after", None))


def _answer[T, V](found: Lookup[T], translate: Callable[[T], V]) -> Answer[V | None]:
    value = translate(found.value) if found.value is not None else None
    return Answer(value, found.source, found.stale)


def registrations(result: ZoekResultaat) -> Registrations:
    items = tuple(registration(item) for item in result.resultaten)
    return Registrations(items, max(result.totaal or 0, len(items)))


def registration(item: ZoekResultaatItem) -> Registration:
    place = None
    if item.adres and item.adres.binnenlandsAdres:
        domestic = item.adres.binnenlandsAdres
        place = Place(
            street=domestic.straatnaam,
            house_number=domestic.huisnummer,
            postcode=domestic.postcode,
            city=domestic.plaats,
            postal=domestic.type == "postadres",
        )
    elif item.adres and item.adres.buitenlandsAdres:
        abroad = item.adres.buitenlandsAdres
        place = Place(street=abroad.straatHuisnummer, city=abroad.postcodeWoonplaats, abroad=True)
    return Registration(
        kvk_number=item.kvkNummer,
        branch_number=item.vestigingsnummer,
        kind=_KINDS.get(item.type or ""),
        name=item.naam,
        active=item.actief,
        expired_name=item.vervallenNaam,
        place=place,
    )


def registered_names(naming: Naamgeving) -> Iterable[RegisteredName]:
    """Every name Naamgeving lists, labelled with its kind (design §4 ``nameType``)."""
    for value, kind in (
        (naming.statutaireNaam, "statutoryName"),
        (naming.naam, "name"),
        (naming.ookGenoemd, "alsoKnownAs"),
    ):
        if value:
            yield RegisteredName(value, kind)
    for branch in naming.vestigingen:
        number = branch.vestigingsnummer
        if branch.eersteHandelsnaam:
            yield RegisteredName(branch.eersteHandelsnaam, "tradeName", number)
        for trade_name in branch.handelsnamen:
            if trade_name.naam:
                yield RegisteredName(trade_name.naam, "tradeName", number)
        if branch.naam:
            yield RegisteredName(branch.naam, "name", number)
        if branch.ookGenoemd:
            yield RegisteredName(branch.ookGenoemd, "alsoKnownAs", number)


def company_profile(profile: Basisprofiel) -> CompanyProfile:
    owner, main = profile.eigenaar, profile.hoofdvestiging
    registered = profile.formeleRegistratiedatum.as_date() if profile.formeleRegistratiedatum else None
    addresses = main.adressen if main else (owner.adressen if owner else [])
    return CompanyProfile(
        kvk_number=profile.kvkNummer,
        name=profile.naam,
        statutory_name=profile.statutaireNaam,
        legal_form=(owner.uitgebreideRechtsvorm or owner.rechtsvorm) if owner else None,
        active=not profile.is_ended and not (owner and owner.datumUitschrijving),
        registration_date=registered.isoformat() if registered else None,
        trade_names=[name.naam for name in profile.handelsnamen if name.naam],
        main_branch=_main_branch(main.vestigingsnummer if main else None, addresses),
        sbi_activities=[
            SbiActivity(code=item.sbiCode, description=item.sbiOmschrijving, main=item.indHoofdactiviteit)
            for item in profile.sbiActiviteiten
        ],
        employees=profile.totaalWerkzamePersonen,
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


# KVK's signal types (reference-next §6.5) by what they say; a type not listed here is "something changed".
_SIGNAL_KINDS: dict[str, SignalKind] = {
    "SignaalBeeindiging": "ended",
    "SignaalVoortzettingEnOverdracht": "transferred",
    "SignaalRechtsvormwijziging": "changed",
    "SignaalGewijzigdeInschrijving": "changed",
    "SignaalGewijzigdeVestiging": "changed",
    "SignaalNieuweInschrijving": "new",
}


def signal_of(header: SignalHeader, detail: Signaal) -> Signal:
    """A signal in the project's words: versioned type names (``_2025_01``) read by their stem."""
    type_name = detail.signaalType or header.type_name
    unknown: SignalKind = "unknown"
    kind = next((kind for stem, kind in _SIGNAL_KINDS.items() if type_name.startswith(stem)), unknown)
    reason = detail.aanleiding
    moved = detail.voortzettingEnOverdracht
    if moved is not None:
        reason = moved.rolBijVoortzettingOverdracht
    parts = _changed_parts(detail)
    if type_name.startswith("SignaalRechtsvormwijziging"):
        parts = ("legalForm",)
    return Signal(
        id=header.id,
        kvk_number=header.kvk_number,
        kind=kind,
        parts=parts,
        reason={"code": reason.code, "description": reason.omschrijving or ""} if reason and reason.code else None,
        to_kvk_number=moved.kvkNummer if moved else None,
    )


def _changed_parts(detail: Signaal) -> tuple[str, ...]:
    """What the flags of a changed registration or branch say changed, of what a sign-up funnel follows."""
    found: set[str] = set()
    owner = detail.heeftGewijzigdeGegevens.eigenaar if detail.heeftGewijzigdeGegevens else None
    if owner is not None:
        found |= {"specialLegalStatus"} if owner.bijzondererechtstoestand else set()
        found |= {"dissolution"} if owner.ontbindingEnLiquidatie else set()
        found |= {"address"} if owner.rechtspersoonAdresgegevens else set()
    data = detail.heeftGewijzigdeGegevens
    branches = list(data.vestigingen.gewijzigdevestigingen) if data and data.vestigingen else []
    single = detail.heeftGewijzigdeVestiging.gewijzigdeGegevens if detail.heeftGewijzigdeVestiging else None
    for branch in [*branches, *([single] if single else [])]:
        found |= {"name"} if branch.naamgeving else set()
        found |= {"address"} if branch.adresgegevens else set()
    return tuple(sorted(found))

"""What the domain needs from outside, in the project's own words (the KVK adapter translates to these).

:class:`Registry` is the domain's view of the Handelsregister: registrations, names and profiles,
each wrapped in an :class:`Answer` that says whether it came from KVK or the cache and whether
it is stale. A registry answers ``None`` when KVK knows no such registration and raises
:class:`~kvkgate.domain.outcomes.Unavailable` when KVK could not be asked (never a statement
about the company), or :class:`~kvkgate.domain.outcomes.CallerBudgetExceeded` when one caller
used up its share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kvkgate.clock import Deadline
from kvkgate.domain.contracts import CompanyProfile
from kvkgate.domain.names import RegisteredName

Source = Literal["kvk", "cache"]
RegistrationKind = Literal["main branch", "branch", "legal entity"]

# Event names on the bus (design §5), shared by onboarding and the pre-sign-up trigger.
SIGNED_UP = "CustomerSignedUp"
CUSTOMER_DELETED = "CustomerDeleted"
COMPLETED = "KvkVerificationCompleted"
FAILED = "KvkVerificationFailed"


@dataclass(frozen=True)
class Group:
    """A wider group a caller belongs to, with a budget of ``scale`` times one caller's: the /56 and
    /48 an IPv6 /64 is in, the app client a signed-in user signs in through."""

    key: str
    scale: int


@dataclass(frozen=True)
class Caller:
    """Who a KVK lookup is charged to: an API client or user, or an anonymous network (IPv4 address,
    IPv6 /64). Every budget applies: the caller's own and each of its ``groups``'."""

    key: str
    anonymous: bool
    groups: tuple[Group, ...] = ()


@dataclass(frozen=True)
class Answer[T]:
    """A registry answer and where it came from."""

    value: T
    source: Source
    stale: bool = False


@dataclass(frozen=True)
class Place:
    """Where a registration is, as far as a search result shows it."""

    street: str | None = None
    house_number: int | None = None
    postcode: str | None = None
    city: str | None = None
    postal: bool = False  # a postal address; a shielded address shows only as a bare postal place
    abroad: bool = False


@dataclass(frozen=True)
class Registration:
    """One registration of a KVK number: a main branch, a branch or the legal entity."""

    kvk_number: str
    branch_number: str | None
    kind: RegistrationKind | None
    name: str | None
    active: bool | None = None  # None: KVK did not say
    expired_name: str | None = None
    place: Place | None = None


@dataclass(frozen=True)
class Registrations:
    """Registrations KVK returned for one question; ``total`` is how many it holds in all."""

    items: tuple[Registration, ...]
    total: int

    @property
    def complete(self) -> bool:
        return self.total <= len(self.items)


@dataclass(frozen=True)
class SearchFilters:
    """What narrows a company search besides the name."""

    city: str | None = None
    postcode: str | None = None
    house_number: int | None = None
    include_inactive: bool = False


class Registry(Protocol):
    def registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        """Registrations of the number, active or not (free)."""

    def active_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        """Only the active registrations of the number (free)."""

    def registrations_at(
        self, kvk_number: str, postcode: str, house_number: int, deadline: Deadline
    ) -> Answer[Registrations | None]:
        """Registrations of the number at an address (free)."""

    def registrations_named(self, kvk_number: str, words: str, deadline: Deadline) -> Answer[Registrations | None]:
        """Registrations of the number one of whose names (current or expired) holds all ``words`` (free).

        KVK matches whole words of every name a registration holds; each result shows the name
        that matched (``name``, or ``expired_name`` for an expired one)."""

    def branch_registrations(self, branch_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        """The registration with this vestigingsnummer, active or not (free)."""

    def rsin_registrations(self, rsin: str, deadline: Deadline) -> Answer[Registrations | None]:
        """Registrations of the legal entity with this RSIN, active or not (free)."""

    def names(self, kvk_number: str, deadline: Deadline) -> Answer[tuple[RegisteredName, ...] | None]:
        """Every name the registration holds, per branch (Naamgeving, paid)."""

    def profile(self, kvk_number: str, deadline: Deadline) -> Answer[CompanyProfile | None]:
        """The company profile (Basisprofiel, paid)."""


class CompanyIndex(Protocol):
    """Companies by name, for a person typing into a sign-up form (the free search only)."""

    def companies_named(self, words: str, filters: SearchFilters, deadline: Deadline) -> Answer[Registrations | None]:
        """Registrations one of whose names holds every one of ``words`` as a whole word (one page)."""

    def known_companies_named(self, words: str, filters: SearchFilters) -> Answer[Registrations | None] | None:
        """The same question's answer if it is at hand (cached and fresh); None, and no KVK call, otherwise."""


class Redelivery(Protocol):
    def later(self, receipt_handle: str, seconds: int) -> None:
        """Deliver this received message again, not before ``seconds`` from now."""


@dataclass(frozen=True)
class SignedUpUser:
    """A user of the Cognito pool the sign-up gate guards, as far as the gate is concerned."""

    user_name: str
    kvk_number: str | None  # the number claimed at sign-up (an attribute written at creation only)
    company_name: str | None
    created: float  # epoch seconds
    decided: bool  # a KVK decision is recorded on the user


class UserPool(Protocol):
    """The Cognito user pool(s) behind the pre-sign-up trigger: where sign-up decisions are recorded."""

    def record_decision(self, user_pool_id: str, user_name: str, decision: str) -> bool:
        """Write ``decision`` on the user, in an attribute users cannot write; False for a pool this
        stack does not guard. Raises :class:`~kvkgate.domain.outcomes.UserNotFound` when the pool has
        no such user (yet)."""

    def users(self, user_pool_id: str) -> Iterable[SignedUpUser]:
        """Every user of the pool, page by page."""


SignalKind = Literal["ended", "transferred", "changed", "new", "unknown"]


@dataclass(frozen=True)
class SignalHeader:
    """One change signal from KVK's Mutatieservice, as listed: which number, when, and its type's name."""

    id: str
    at: str  # ISO 8601
    kvk_number: str
    type_name: str


@dataclass(frozen=True)
class Signal:
    """A signal's detail in the project's words. ``parts``: of ``name``, ``address``, ``legalForm``,
    ``specialLegalStatus``, ``dissolution``; ``reason``: KVK's ``{code, description}``."""

    id: str
    kvk_number: str
    kind: SignalKind
    parts: tuple[str, ...] = ()
    reason: dict[str, str] | None = None
    to_kvk_number: str | None = None


class ChangeFeed(Protocol):
    """What KVK says changed, and fresh looks at the register, for watching customers' companies."""

    def current_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        """The number's registrations as KVK shows them now, even if a fresh answer is cached (free)."""

    def forget(self, kvk_number: str) -> None:
        """Every cached answer about the number is gone: KVK said it changed."""

    def subscription(self, configured: str, deadline: Deadline) -> str | None:
        """The Mutatieservice subscription to poll: ``configured``, or the first active one when it is ``auto``."""

    def signal_headers(self, subscription: str, since: str, until: str, deadline: Deadline) -> list[SignalHeader]:
        """Every signal header between ``since`` and ``until`` (all pages)."""

    def signal(self, subscription: str, header: SignalHeader, deadline: Deadline) -> Signal:
        """One signal's detail."""


@dataclass(frozen=True)
class Watched:
    """A watched registration: who watches it and what the register showed last time (JSON)."""

    kvk_number: str
    customers: tuple[str, ...]
    snapshot: str | None = None


class WatchList(Protocol):
    """Which customers watch which KVK numbers, what was last seen of each, and what was already said."""

    def watch(self, kvk_number: str, customer: str, snapshot: str) -> bool:
        """Record that ``customer`` watches ``kvk_number`` (``snapshot``: what is known of it, kept if
        something is known already); False when a bound (customers per number, numbers per customer)
        is reached and it was not recorded."""

    def forget_customer(self, customer: str) -> int:
        """Stop watching anything for ``customer`` and forget them; returns how many numbers they watched."""

    def watched(self, kvk_number: str) -> Watched | None:
        """The number's watchers and last snapshot, or None when nobody watches it."""

    def remember(self, kvk_number: str, snapshot: str) -> None:
        """Store what the register showed of the number now."""

    def claim_event(self, change_id: str, customer: str) -> bool:
        """True the first time a change is to be told to a customer (or when an earlier attempt stopped
        before it was sent); False when it was told already."""

    def event_sent(self, change_id: str, customer: str) -> None:
        """The change was told to the customer."""

    def release_event(self, change_id: str, customer: str) -> None:
        """Telling the customer failed: the next attempt may claim it again."""

    def numbers_in(self, bucket: int, after: str = "") -> Iterable[str]:
        """The watched numbers of one of the sweep's buckets, in order, from just after ``after``."""

    def unschedule(self, kvk_number: str) -> None:
        """A number nobody watches any more leaves the sweep."""

    def cursor(self, name: str) -> str | None:
        """Where the sweep or the signal poller got to."""

    def move_cursor(self, name: str, value: str) -> None: ...

    def first_sight(self, signal_id: str) -> bool:
        """True until the signal was handled."""

    def handled(self, signal_id: str) -> None: ...


class Publisher(Protocol):
    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        """Put one event on the bus; raise if it was not accepted."""

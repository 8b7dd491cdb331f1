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

    def record_decision(self, user_pool_id: str, user_name: str, decision: str) -> None:
        """Write ``decision`` on the user, in an attribute users cannot write.

        Raises :class:`~kvkgate.domain.outcomes.UserNotFound` when the pool has no such user (yet)."""

    def users(self, user_pool_id: str) -> Iterable[SignedUpUser]:
        """Every user of the pool, page by page."""


class Publisher(Protocol):
    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        """Put one event on the bus; raise if it was not accepted."""

"""The sign-up decision (design §3): is this KVK number real and active, and do the claimed name
and address belong to it? One verdict: ``valid``, ``invalid`` or ``unverified``.

Cost-aware: the free Zoeken answers registration, activity and the name check: first the names
the company search already showed, then KVK's own whole-word search of all the company's names
(statutory, trade, alternative and expired) for the typed words. The paid Naamgeving is asked
only when those free answers cannot decide: the typed name holds a word KVK's search may spell
otherwise (an abbreviation written out, a number word, ``&``, a hyphen, a letter beyond a–z), so
that "no registration holds these words" would not prove the name is not this company's. An
outage of KVK (or a spent budget) is never reported as a fact about the company: ``unverified``.

Pure orchestration: every KVK answer comes through the :class:`~kvkgate.domain.ports.Registry`
port (cached KVK lookups in production, in-memory fakes in tests); nothing here does I/O itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kvkgate.clock import Deadline
from kvkgate.domain.contracts import (
    AddressCheck,
    BranchCheck,
    Checks,
    CompanyBrief,
    Meta,
    NameCheck,
    Reason,
    RsinCheck,
    Source,
    ValidationRequest,
    ValidationResult,
    WordDifference,
)
from kvkgate.domain.names import NameMatch, RegisteredName, best_match, search_words
from kvkgate.domain.numbers import (
    NumberFormatError,
    parse_branch_number,
    parse_house_number,
    parse_kvk_number,
    parse_rsin,
)
from kvkgate.domain.outcomes import KVK_BUSY, Busy, PaidLookupRefused, Unavailable
from kvkgate.domain.ports import Answer, Registration, Registrations, Registry
from kvkgate.texts import say

logger = logging.getLogger(__name__)


# Whether a name the free search cannot settle is asked of the paid Naamgeving (design §3, §5):
# ``ask`` (the API; anonymous callers within their caps), ``allowance`` (the onboarding worker, from
# the sign-up gate's daily allowance: past it the name stays unconfirmed, a final answer), ``never``
# (the pre-sign-up trigger: Cognito's SignUp is anonymous, so it spends free calls only).
PaidNameCheck = Literal["ask", "allowance", "never"]


@dataclass(frozen=True)
class Policy:
    # A partial name match cannot improve by asking again, so it is final: by default the sign-up
    # passes with a TRADE_NAME_PARTIAL reason; strict deployments make it invalid. A name the free
    # evidence could not confirm (``unconfirmed``) follows the same rule.
    partial_name_verdict: Literal["valid", "invalid"] = "valid"
    # A name the company held before (KVK still finds it): by default the customer's shorthand.
    expired_name_result: Literal["partial", "mismatch"] = "partial"
    paid_name_check: PaidNameCheck = "ask"


class _Unreachable(Exception):
    """KVK could not be asked for part of the decision; carries the reason to report and when to ask again."""

    def __init__(self, reason: Reason, retry_after: float) -> None:
        super().__init__(reason.message)
        self.reason = reason
        self.retry_after = retry_after


# KVK could not be asked: down, the budget spent, or its rate taken for longer than this request may
# wait (a slow KVK leaves no time for the next call). Each is a verdict of ``unverified``, never 429.
_NOT_ASKED = (Unavailable, Busy)


def _unreachable(outage: Unavailable | Busy) -> _Unreachable:
    if isinstance(outage, Busy):
        logger.warning("KVK could not be asked in time: %s", outage)
        return _Unreachable(Reason(code=KVK_BUSY, message=say("reason.KVK_BUSY")), outage.retry_after)
    logger.warning("KVK could not be asked: %s: %s", outage.code, outage.message)
    return _Unreachable(Reason(code=outage.code, message=outage.message), outage.retry_after)


@dataclass
class _Sources:
    """Where the answers came from, for ``meta``."""

    lookups: list[Answer[object]] = field(default_factory=list)

    def add[T](self, answer: Answer[T]) -> Answer[T]:
        self.lookups.append(answer)
        return answer

    def meta(self, now: dt.datetime) -> Meta:
        source: Source = "none"
        if self.lookups:
            source = "kvk" if any(lookup.source == "kvk" for lookup in self.lookups) else "cache"
        stale = any(lookup.stale for lookup in self.lookups)
        return Meta.at(now, source, stale)


def validate(
    request: ValidationRequest, registry: Registry, deadline: Deadline, now: dt.datetime, policy: Policy | None = None
) -> ValidationResult:
    rules = policy or Policy()
    sources = _Sources()
    malformed = _format_errors(request)
    if malformed:
        return _result(
            request.kvk_number,
            "invalid",
            [Reason(code="INVALID_FORMAT", message=error.message, field=error.field) for error in malformed],
            _checks("fail", "unknown", "unknown", request),
            None,
            sources.meta(now),
        )
    kvk = parse_kvk_number(request.kvk_number)
    try:
        registration = sources.add(registry.registrations(kvk, deadline))
    except _NOT_ASKED as outage:
        return _unverified(kvk, request, _unreachable(outage), sources, now)
    if registration.value is None or not registration.value.items:
        return _not_registered(kvk, request, sources, now)
    items = registration.value.items
    company = _brief(items)
    try:
        active = _is_active(kvk, registration.value, registry, deadline, sources)
    except _Unreachable as problem:
        return _unverified(kvk, request, problem, sources, now, company)
    if not active:
        reason = Reason(code="INACTIVE", message=say("reason.INACTIVE", kvk=kvk))
        return _result(kvk, "invalid", [reason], _checks("pass", "pass", "fail", request), company, sources.meta(now))
    return _claims(kvk, request, registration.value, company, registry, deadline, sources, rules, now)


def _format_errors(request: ValidationRequest) -> list[NumberFormatError]:
    """Every identifier that is not well-formed, each at its own field; no KVK call is made for them."""
    errors = []
    for parse, value in (
        (parse_kvk_number, request.kvk_number),
        (parse_branch_number, request.branch_number),
        (parse_rsin, request.rsin),
    ):
        if value is None:
            continue
        try:
            parse(value)
        except NumberFormatError as error:
            errors.append(error)
    return errors


def _claims(
    kvk: str,
    request: ValidationRequest,
    found: Registrations,
    company: CompanyBrief,
    registry: Registry,
    deadline: Deadline,
    sources: _Sources,
    rules: Policy,
    now: dt.datetime,
) -> ValidationResult:
    """Registered and active: now the claimed name, address, branch and RSIN, then the verdict."""
    items = found.items
    reasons: list[Reason] = []
    unreachable: _Unreachable | None = None
    name_check = NameCheck(result="skipped")
    if request.trade_name is not None:
        try:
            name_check, name_reason = _check_name(kvk, request.trade_name, items, registry, deadline, sources, rules)
            reasons += name_reason
        except _Unreachable as problem:
            name_check, unreachable = NameCheck(result="unknown"), problem
    address_check = AddressCheck(result="skipped")
    if request.postcode is not None and request.house_number is not None:
        try:
            address_check, address_reason = _check_address(
                kvk, request.postcode, request.house_number, items, registry, deadline, sources
            )
            reasons += address_reason
        except _Unreachable as problem:
            address_check, unreachable = AddressCheck(result="unknown"), problem
    branch_check = BranchCheck(result="skipped")
    if request.branch_number is not None:
        try:
            branch_check, branch_reason = _check_branch(
                kvk, parse_branch_number(request.branch_number), found, registry, deadline, sources
            )
            reasons += branch_reason
        except _Unreachable as problem:
            branch_check, unreachable = BranchCheck(result="unknown"), problem
    rsin_check = RsinCheck(result="skipped")
    if request.rsin is not None:
        try:
            rsin_check, rsin_reason = _check_rsin(kvk, parse_rsin(request.rsin), registry, deadline, sources)
            reasons += rsin_reason
        except _Unreachable as problem:
            rsin_check, unreachable = RsinCheck(result="unknown"), problem
    checks = Checks(
        format="pass",
        registered="pass",
        active="pass",
        trade_name=name_check,
        address=address_check,
        branch_number=branch_check,
        rsin=rsin_check,
    )
    failed = name_check.result == "mismatch" or address_check.result == "mismatch"
    failed |= branch_check.result in ("mismatch", "inactive") or rsin_check.result == "mismatch"
    failed |= name_check.result in ("partial", "unconfirmed") and rules.partial_name_verdict == "invalid"
    if failed:
        verdict: Literal["valid", "invalid", "unverified"] = "invalid"
    elif unreachable is not None:
        verdict, reasons = "unverified", [*reasons, unreachable.reason]
        return _result(kvk, verdict, reasons, checks, company, sources.meta(now), unreachable.retry_after)
    else:
        verdict = "valid"
    return _result(kvk, verdict, reasons, checks, company, sources.meta(now))


def _check_name(
    kvk: str,
    typed: str,
    items: tuple[Registration, ...],
    registry: Registry,
    deadline: Deadline,
    sources: _Sources,
    rules: Policy,
) -> tuple[NameCheck, list[Reason]]:
    candidates = list(_search_names(items))
    found = best_match(typed, candidates)
    query = search_words(typed)
    if found.result == "match" or query is None:
        return _named(kvk, typed, found, rules)
    words, conclusive = query
    try:
        named = sources.add(registry.registrations_named(kvk, words, deadline))
        candidates += _search_names(named.value.items if named.value else ())
        found = best_match(typed, candidates)
        if found.result != "mismatch" or conclusive:
            return _named(kvk, typed, found, rules)
        if rules.paid_name_check == "never":
            return _unconfirmed(kvk, typed, "TRADE_NAME_UNCONFIRMED")
        naming = sources.add(registry.names(kvk, deadline))
    except PaidLookupRefused as refused:
        # Zoeken could not settle it and the paid lookup is not ours to spend today: say so, never guess.
        if rules.paid_name_check == "allowance":
            return _unconfirmed(kvk, typed, "NAME_CHECK_LIMITED")
        message = say("reason.NAME_CHECK_LIMITED", typed=typed, kvk=kvk)
        raise _Unreachable(Reason(code="NAME_CHECK_LIMITED", message=message), refused.retry_after) from None
    except _NOT_ASKED as outage:
        if found.result == "partial":  # what KVK already said stands; asking more would not change it
            return _named(kvk, typed, found, rules)
        raise _unreachable(outage) from None
    return _named(kvk, typed, best_match(typed, candidates + list(naming.value or ())), rules)


def _unconfirmed(kvk: str, typed: str, code: str) -> tuple[NameCheck, list[Reason]]:
    """Free evidence could not settle the name and no paid lookup is made for it here: a final answer
    (asking again would not change it), neither a match nor a mismatch."""
    return NameCheck(result="unconfirmed"), [Reason(code=code, message=say(f"reason.{code}", typed=typed, kvk=kvk))]


def _named(kvk: str, typed: str, found: NameMatch, rules: Policy) -> tuple[NameCheck, list[Reason]]:
    """The name check as answered, and its reason: which registered name, and how the words differed."""
    result = found.result
    if found.best is not None and found.best.candidate.name_type == "expiredName" and result != "mismatch":
        result = rules.expired_name_result
    best = found.best
    check = NameCheck(
        result=result,
        score=found.score,
        matched_name=best.candidate.name if best and result != "mismatch" else None,
        name_type=best.candidate.name_type if best and result != "mismatch" else None,
        compared_with=best.candidate.name if best else None,
        differences=[WordDifference(typed=item.typed, registered=item.registered) for item in found.differences],
    )
    # "KVK knows this company as ..." names a current name: a former one is not how KVK knows it now.
    current = next((item.candidate.name for item in found.ranked if item.candidate.name_type != "expiredName"), None)
    if result == "mismatch":
        # Another family name (van den Velden for van der Velden) is said word for word: the customer
        # may not see the difference in the whole name.
        family = next((item for item in found.differences if item.why and item.typed and item.registered), None)
        if current is None:
            message = say("reason.TRADE_NAME_MISMATCH", typed=typed, kvk=kvk)
        elif family is not None and best is not None and best.candidate.name == current:
            message = say(
                "reason.TRADE_NAME_MISMATCH.other_family_name",
                typed=typed,
                kvk=kvk,
                name=current,
                typed_word=family.typed,
                registered_word=family.registered,
            )
        else:
            message = say("reason.TRADE_NAME_MISMATCH.known_as", typed=typed, kvk=kvk, name=current)
        return check, [Reason(code="TRADE_NAME_MISMATCH", message=message)]
    if best is not None and best.candidate.name_type == "expiredName":
        if current is None:
            message = say("reason.TRADE_NAME_EXPIRED.only", typed=typed, kvk=kvk)
        else:
            message = say("reason.TRADE_NAME_EXPIRED", typed=typed, kvk=kvk, name=current)
        return check, [Reason(code="TRADE_NAME_EXPIRED", message=message)]
    if result == "partial":
        message = say("reason.TRADE_NAME_PARTIAL", typed=typed, name=best.candidate.name if best else "")
        return check, [Reason(code="TRADE_NAME_PARTIAL", message=message)]
    return check, []


def _search_names(items: Iterable[Registration]) -> Iterable[RegisteredName]:
    """The names a search shows: the statutory name of the legal entity, else a trade name; expired ones too."""
    for item in items:
        if item.name:
            kind = "statutoryName" if item.kind == "legal entity" else "tradeName"
            yield RegisteredName(item.name, kind, item.branch_number)
        if item.expired_name:
            yield RegisteredName(item.expired_name, "expiredName", item.branch_number)


def _check_address(
    kvk: str,
    postcode: str,
    house_number: str,
    items: tuple[Registration, ...],
    registry: Registry,
    deadline: Deadline,
    sources: _Sources,
) -> tuple[AddressCheck, list[Reason]]:
    if _address_shielded(items):
        reason = Reason(code="ADDRESS_SHIELDED", message=say("reason.ADDRESS_SHIELDED", kvk=kvk))
        return AddressCheck(result="skipped"), [reason]
    # Only the number: people type KVK's "toevoeging" (3 A) as a letter (3A) and vice versa.
    number = parse_house_number(house_number).number
    try:
        found = sources.add(registry.registrations_at(kvk, postcode, number, deadline))
    except _NOT_ASKED as outage:
        raise _unreachable(outage) from None
    if found.value is None or not found.value.items:
        reason = Reason(
            code="ADDRESS_MISMATCH",
            message=say("reason.ADDRESS_MISMATCH", kvk=kvk, postcode=postcode, house_number=house_number),
        )
        return AddressCheck(result="mismatch"), [reason]
    return AddressCheck(result="match"), []


def _check_branch(
    kvk: str, branch: str, found: Registrations, registry: Registry, deadline: Deadline, sources: _Sources
) -> tuple[BranchCheck, list[Reason]]:
    """Is ``branch`` a vestiging of this KVK number, and still active? The company's own search (every
    registration, active or not) usually answers it; only a company with more registrations than one
    page holds costs one more free Zoeken, by the branch number."""
    listed = next((item for item in found.items if item.branch_number == branch), None)
    if listed is None and not found.complete:
        try:
            by_number = sources.add(registry.branch_registrations(branch, deadline))
        except _NOT_ASKED as outage:
            raise _unreachable(outage) from None
        items = by_number.value.items if by_number.value else ()
        listed = next((item for item in items if item.kvk_number == kvk and item.branch_number == branch), None)
    if listed is None:
        message = say("reason.BRANCH_MISMATCH", branch=branch, kvk=kvk)
        return BranchCheck(result="mismatch"), [Reason(code="BRANCH_MISMATCH", message=message, field="branchNumber")]
    if listed.active is False:
        message = say("reason.BRANCH_INACTIVE", branch=branch, kvk=kvk)
        return BranchCheck(result="inactive"), [Reason(code="BRANCH_INACTIVE", message=message, field="branchNumber")]
    return BranchCheck(result="match"), []


def _check_rsin(
    kvk: str, rsin: str, registry: Registry, deadline: Deadline, sources: _Sources
) -> tuple[RsinCheck, list[Reason]]:
    """Does ``rsin`` belong to this KVK number? One free Zoeken by the RSIN (KVK's search results do
    not show a company's RSIN otherwise); an RSIN KVK does not know belongs to no number."""
    try:
        answer = sources.add(registry.rsin_registrations(rsin, deadline))
    except _NOT_ASKED as outage:
        raise _unreachable(outage) from None
    if answer.value is not None and any(item.kvk_number == kvk for item in answer.value.items):
        return RsinCheck(result="match"), []
    message = say("reason.RSIN_MISMATCH", rsin=rsin, kvk=kvk)
    return RsinCheck(result="mismatch"), [Reason(code="RSIN_MISMATCH", message=message, field="rsin")]


def _address_shielded(items: tuple[Registration, ...]) -> bool:
    """A search shows a shielded address as a bare postal place with no street."""
    domestic = [item.place for item in items if item.place is not None and not item.place.abroad]
    return bool(domestic) and all(place.postal and not place.street for place in domestic)


def _is_active(kvk: str, found: Registrations, registry: Registry, deadline: Deadline, sources: _Sources) -> bool:
    """Active if any registration is. "Inactive" only from all of them: KVK pages its answers, and a
    company with many ended branches can fill a whole page with inactive ones."""
    flags = [item.active for item in found.items]
    if any(flag is True for flag in flags):
        return True
    if found.complete and flags and all(flag is False for flag in flags):
        return False
    # Not all seen, or KVK did not say: ask for the active registrations only, one more free call.
    try:
        active_only = sources.add(registry.active_registrations(kvk, deadline))
    except _NOT_ASKED as outage:
        raise _unreachable(outage) from None
    return active_only.value is not None and bool(active_only.value.items)


def _brief(items: tuple[Registration, ...]) -> CompanyBrief:
    order = {"main branch": 0, "legal entity": 1, "branch": 2}
    main = min(items, key=lambda item: order.get(item.kind or "", 3))
    return CompanyBrief(name=main.name, city=main.place.city if main.place else None)


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
            "branchNumber": {"result": "unknown" if request.branch_number is not None else "skipped"},
            "rsin": {"result": "unknown" if request.rsin is not None else "skipped"},
        }
    )


# The request field each reason is about, so a form can show it there (INVALID_FORMAT, the branch and
# RSIN reasons name theirs when they are made). Outages and limits are about no field.
_REASON_FIELDS = {
    "NOT_REGISTERED": "kvkNumber",
    "INACTIVE": "kvkNumber",
    "TRADE_NAME_MISMATCH": "tradeName",
    "TRADE_NAME_PARTIAL": "tradeName",
    "TRADE_NAME_EXPIRED": "tradeName",
    "TRADE_NAME_UNCONFIRMED": "tradeName",
    "ADDRESS_MISMATCH": "postcode",
}


def _at_field(reason: Reason) -> Reason:
    field = reason.field or _REASON_FIELDS.get(reason.code)
    return reason if field == reason.field else reason.model_copy(update={"field": field})


def _not_registered(kvk: str, request: ValidationRequest, sources: _Sources, now: dt.datetime) -> ValidationResult:
    reason = Reason(code="NOT_REGISTERED", message=say("reason.NOT_REGISTERED", kvk=kvk))
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
    return _result(kvk, "unverified", [problem.reason], checks, company, sources.meta(now), problem.retry_after)


def _result(
    kvk: str,
    verdict: Literal["valid", "invalid", "unverified"],
    reasons: list[Reason],
    checks: Checks,
    company: CompanyBrief | None,
    meta: Meta,
    retry_after: float | None = None,
) -> ValidationResult:
    return ValidationResult(
        kvk_number=kvk,
        verdict=verdict,
        reasons=[_at_field(reason) for reason in reasons],
        checks=checks,
        company=company,
        meta=meta,
        retry_after=retry_after,
    )

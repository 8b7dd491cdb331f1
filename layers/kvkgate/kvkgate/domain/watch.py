"""The truth after sign-up: what changed about a watched registration, and the events that say so.

Two sources feed one handler (``kvkgate.app.watch``): the free sweep compares what KVK's company
search shows now with what it showed last time (:func:`compare`), and KVK's Mutatieservice says
what kind of data changed (:func:`changes_from_signal`). Either way the result is a list of
:class:`Change`, each turned into one event per watching customer (:func:`event_detail`):

* ``KvkRegistrationEnded`` — the registration ended (deregistered, dissolved, merged away), with
  KVK's reason code where a signal gave one;
* ``KvkRegistrationChanged`` — which parts changed: ``name``, ``address``, ``legalForm``,
  ``specialLegalStatus`` (bankruptcy, suspension of payments, debt rescheduling), ``dissolution``;
* ``KvkRegistrationTransferred`` — the business was continued by or transferred to another KVK number.

Pure: no I/O. A change's ``change_id`` is stable (the signal's id, or a digest of what the sweep
saw), so handling it twice names the same events.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from kvkgate.domain.ports import Registrations, Signal

ChangeKind = Literal["ended", "changed", "transferred"]
EVENT_TYPES: dict[ChangeKind, str] = {
    "ended": "KvkRegistrationEnded",
    "changed": "KvkRegistrationChanged",
    "transferred": "KvkRegistrationTransferred",
}
# The sweep visits each watched number once a period, in this many steps (a number's bucket is a
# hash of it, so any number of them spreads evenly); a 30-day period is a step of an hour.
SWEEP_BUCKETS = 720
# The parts of a registration a sign-up funnel cares about, in the order events list them.
PARTS = ("name", "address", "legalForm", "specialLegalStatus", "dissolution")


@dataclass(frozen=True)
class Snapshot:
    """What the free company search shows of a registration: enough to see it end or be renamed."""

    registered: bool
    active: bool
    names: tuple[str, ...] | None = ()  # the names of its active registrations, sorted; None: not seen yet

    def to_json(self) -> str:
        names = None if self.names is None else list(self.names)
        return json.dumps({"registered": self.registered, "active": self.active, "names": names})

    @classmethod
    def from_json(cls, text: str | None) -> Snapshot | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            names = None if data["names"] is None else tuple(str(name) for name in data["names"])
            return cls(bool(data["registered"]), bool(data["active"]), names)
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable snapshot is a first look, not a change


# What a decision at sign-up shows: registered and active; the names are the first look's.
DECIDED = Snapshot(registered=True, active=True, names=None)


def snapshot_of(found: Registrations | None) -> Snapshot:
    if found is None or not found.items:
        return Snapshot(registered=False, active=False)
    active = [item for item in found.items if item.active is not False]
    names = tuple(sorted({item.name for item in active if item.name}))
    return Snapshot(registered=True, active=bool(active), names=names)


@dataclass(frozen=True)
class Change:
    kvk_number: str
    kind: ChangeKind
    change_id: str
    detected_by: Literal["sweep", "mutatieservice"]
    detected_at: str  # ISO 8601, UTC
    parts: tuple[str, ...] = ()
    reason: dict[str, str] | None = None  # KVK's {code, description} where it gave one
    to_kvk_number: str | None = None
    names: tuple[str, ...] = ()
    previous_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def compare(kvk_number: str, before: Snapshot | None, after: Snapshot, detected_at: str) -> list[Change]:
    """What the sweep reports: an active registration that ended, or one whose names changed.

    A watch starts from the decision (registered, active: :data:`DECIDED`), so a company that ends
    before its first look is still told; names are compared from the first look on.
    """
    if before is None or not before.active:
        return []
    change_id = "sweep:" + _digest(kvk_number, before.to_json(), after.to_json())
    if not after.active:
        code = "NOT_ACTIVE" if after.registered else "NOT_REGISTERED"
        reason = {
            "code": code,
            "description": "no longer active in the register" if after.registered else "no longer in the register",
        }
        return [
            Change(
                kvk_number, "ended", change_id, "sweep", detected_at, reason=reason, previous_names=before.names or ()
            )
        ]
    if before.names is not None and after.names != before.names:
        return [
            Change(
                kvk_number,
                "changed",
                change_id,
                "sweep",
                detected_at,
                parts=("name",),
                names=after.names or (),
                previous_names=before.names or (),
            )
        ]
    return []


def changes_from_signal(signal: Signal, detected_at: str) -> list[Change] | None:
    """What a Mutatieservice signal says changed; None when its kind is unknown (something changed: re-check)."""
    number, signal_id = signal.kvk_number, signal.id
    if signal.kind == "ended":
        return [Change(number, "ended", signal_id, "mutatieservice", detected_at, reason=signal.reason)]
    if signal.kind == "transferred":
        moved = Change(
            number,
            "transferred",
            signal_id,
            "mutatieservice",
            detected_at,
            to_kvk_number=signal.to_kvk_number,
            reason=signal.reason,
        )
        return [moved]
    if signal.kind == "changed":
        parts = tuple(part for part in PARTS if part in signal.parts)
        return [Change(number, "changed", signal_id, "mutatieservice", detected_at, parts=parts)] if parts else []
    if signal.kind == "new":
        return []  # a new number: nobody watches it yet
    return None


def with_names(change: Change, before: Snapshot | None, after: Snapshot | None) -> Change:
    """A signalled change with the names the register shows now (a signal carries no names)."""
    if after is None:
        return change
    previous = before.names if before and before.names is not None else ()
    return Change(**{**change.__dict__, "names": after.names or (), "previous_names": previous})


def event_detail(change: Change, customer: str) -> dict[str, Any]:
    """The event for one customer. ``eventId`` is stable: a consumer can drop a repeat by it."""
    detail: dict[str, Any] = {
        "eventId": _digest(change.change_id, customer),
        "customerId": customer,
        "kvkNumber": change.kvk_number,
        "detectedBy": change.detected_by,
        "detectedAt": change.detected_at,
    }
    if change.kind == "ended":
        detail["reason"] = change.reason
    elif change.kind == "transferred":
        detail["toKvkNumber"] = change.to_kvk_number
        detail["role"] = change.reason
    else:
        detail["changed"] = list(change.parts)
    if change.names or change.previous_names:
        detail["names"] = list(change.names)
        detail["previousNames"] = list(change.previous_names)
    return detail


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]

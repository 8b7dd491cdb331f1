"""KVK's Mutatieservice in the sandbox (reference-next §6): change signals of one subscription.

Signals come from the sandbox's own registrations: ``POST /__sandbox/mutations`` ends, renames or
transfers a company (or gives it a special legal status) in the sandbox's register and records the
matching signal, stamped ``at + signal_delay_seconds`` (KVK: "within 15 minutes"). A signal is listed
by its stamp, so a poller that reads up to "a minute ago" sees it once that time has come, fake or
real. The test flavour also emits KVK's mock signals: 10 every 5 minutes, for numbers the register
does not hold. Errors are RFC 7807 problem documents, as KVK documents for this API.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from local.sandbox.dataset import Registry

SUBSCRIPTION_ID = "sandbox-abonnement-1"
MOCK_EVERY_SECONDS = 300
MOCK_PER_SLOT = 10
MOCK_TYPES = (
    "SignaalGewijzigdeInschrijving",
    "SignaalGewijzigdeVestiging",
    "SignaalNieuweInschrijving",
    "SignaalBeeindiging_2025_01",
)
KINDS = ("ended", "renamed", "transferred", "special-legal-status")


class ProblemAnswer(Exception):
    """Answer with an RFC 7807 problem document."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail

    def body(self) -> dict[str, Any]:
        return {"type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail}


@dataclass
class Signal:
    id: str
    stamp: float  # epoch seconds: when KVK lists it
    kvk: str
    type: str
    detail: dict[str, Any]
    branch: str | None = None

    def header(self) -> dict[str, Any]:
        header = {"id": self.id, "timestamp": _iso(self.stamp), "kvknummer": self.kvk, "signaalType": self.type}
        if self.branch:
            header["vestigingsnummer"] = self.branch
        return header


@dataclass
class Mutaties:
    registry: Registry
    original: Registry = field(init=False)
    signals: dict[str, Signal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.original = self.registry
        self.registry = _own_copy(self.registry)  # mutations never reach the registry other sandboxes share

    def reset(self) -> None:
        self.registry = _own_copy(self.original)
        self.signals.clear()

    # -- the admin side ---------------------------------------------------------------------------

    def mutate(self, change: dict[str, Any], delay: float, now: float) -> Signal:
        kvk = str(change.get("kvkNummer") or "")
        kind = change.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        record = self.registry.companies.get(kvk)
        if record is None:
            raise ValueError(f"the sandbox holds no company {kvk!r}")
        at = float(change.get("at") or now)
        record = copy.deepcopy(record)
        signal_type, detail = self._apply(record, str(kind), change, at)
        self.registry.add(record)
        stamp = at + delay
        signal_id = hashlib.sha256(f"{kvk}|{kind}|{at}|{len(self.signals)}".encode()).hexdigest()[:32]
        detail = {
            "berichtId": signal_id,
            "registratieId": signal_id[:16],
            "registratieTijdstip": _iso(at),
            "signaalType": signal_type,
            "heeftBetrekkingOp": _about(record),
            **detail,
        }
        signal = Signal(signal_id, stamp, kvk, signal_type, detail)
        self.signals[signal_id] = signal
        return signal

    @staticmethod
    def _apply(record: dict[str, Any], kind: str, change: dict[str, Any], at: float) -> tuple[str, dict[str, Any]]:
        day = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y%m%d")
        if kind in ("ended", "transferred"):
            record["datumEinde"] = day
            for branch in record.get("vestigingen", []):
                branch.setdefault("datumEinde", day)
            if kind == "ended":
                reason = {"code": change.get("reason") or "OO", "omschrijving": "Onderneming opgeheven"}
                return "SignaalBeeindiging_2025_01", {"startdatum": day, "aanleiding": reason}
            target = str(change.get("to") or "")
            moved = {
                "betrokkenVestigingen": {
                    "vestigingsnummers": [b["vestigingsnummer"] for b in record.get("vestigingen", [])]
                },
                "rolBijVoortzettingOverdracht": {"code": "OG", "omschrijving": "Overgegaan naar"},
                "kvkNummer": target,
            }
            return "SignaalVoortzettingEnOverdracht_2025_01", {"startdatum": day, "voortzettingEnOverdracht": moved}
        if kind == "renamed":
            new = str(change.get("name") or "").strip()
            if not new:
                raise ValueError("a rename needs a name")
            old = record.get("statutaireNaam") or record.get("naam")
            for key in ("statutaireNaam", "naam"):
                if record.get(key):
                    record[key] = new
            record["vervallenNamen"] = [*record.get("vervallenNamen", []), *([old] if old else [])]
            branches = []
            for branch in record.get("vestigingen", []):
                if branch.get("handelsnamen"):
                    branch["handelsnamen"] = [new, *branch["handelsnamen"][1:]]
                flags = dict.fromkeys(("adresgegevens", "activiteiten", "algemeen", "gevolmachtigden"), False)
                branches.append({"vestigingsnummer": branch["vestigingsnummer"], "naamgeving": True, **flags})
            changed = {"vestigingen": {"gewijzigdevestigingen": branches}}
            return "SignaalGewijzigdeInschrijving", {"heeftGewijzigdeGegevens": changed}
        flags = {"bijzondererechtstoestand": True, "ontbindingEnLiquidatie": False, "rechtspersoonAdresgegevens": False}
        return "SignaalGewijzigdeInschrijving", {"heeftGewijzigdeGegevens": {"eigenaar": flags}}

    # -- the API ----------------------------------------------------------------------------------

    def subscriptions(self) -> dict[str, Any]:
        return {
            "klantId": "sandbox-klant",
            "abonnementen": [
                {
                    "id": SUBSCRIPTION_ID,
                    "contract": {"id": "Sandbox Mutatieservice"},
                    "startDatum": "2026-01-01T00:00:00Z",
                    "actief": True,
                }
            ],
        }

    def page(self, subscription: str, params: dict[str, str], mock: bool) -> dict[str, Any]:
        self._subscription(subscription)
        since, until = _when(params.get("vanaf"), "vanaf"), _when(params.get("tot"), "tot")
        page = _integer(params.get("pagina"), "pagina", 1, 10**6, 1)
        size = _integer(params.get("aantal"), "aantal", 10, 500, 100)
        listed = [
            signal
            for signal in self.signals.values()
            if (since is None or signal.stamp >= since) and (until is None or signal.stamp < until)
        ]
        if mock and since is not None and until is not None:
            listed += _mock_signals(since, until)
        listed.sort(key=lambda signal: (signal.stamp, signal.id))
        start = (page - 1) * size
        return {
            "pagina": page,
            "aantal": size,
            "totaal": len(listed),
            "totaalPaginas": max(1, math.ceil(len(listed) / size)),
            "signalen": [signal.header() for signal in listed[start : start + size]],
        }

    def detail(self, subscription: str, signal_id: str) -> dict[str, Any]:
        self._subscription(subscription)
        signal = self.signals.get(signal_id) or _mock_signal(signal_id)
        if signal is None:
            raise ProblemAnswer(422, "Unprocessable Entity", f"no signal {signal_id}")
        return {"signaal": signal.detail}

    @staticmethod
    def _subscription(subscription: str) -> None:
        if subscription != SUBSCRIPTION_ID:
            raise ProblemAnswer(403, "Forbidden", "not a subscription of this key")


def _own_copy(registry: Registry) -> Registry:
    return Registry(dict(registry.companies), dict(registry.branches), dict(registry.by_rsin))


def _about(record: dict[str, Any]) -> dict[str, Any]:
    """``heeftBetrekkingOp``: the registration now, in the few fields a signal carries (no names)."""
    return {
        "kvkNummer": record["kvkNummer"],
        "nonMailing": record.get("indNonMailing") == "Ja",
        "wordtUitgeoefendIn": [
            {"vestigingsnummer": branch["vestigingsnummer"], "isHoofdvestiging": bool(branch.get("hoofd"))}
            for branch in record.get("vestigingen", [])
        ],
    }


def _mock_signals(since: float, until: float) -> list[Signal]:
    """KVK's test environment: 10 mock signals every 5 minutes, for numbers no register holds."""
    first = math.ceil(since / MOCK_EVERY_SECONDS)
    found = []
    for slot in range(first, math.ceil(until / MOCK_EVERY_SECONDS)):
        for index in range(MOCK_PER_SLOT):
            signal = _mock_signal(f"mock-{slot}-{index}")
            if signal is not None and since <= signal.stamp < until:
                found.append(signal)
    return found


def _mock_signal(signal_id: str) -> Signal | None:
    parts = signal_id.split("-")
    if len(parts) != 3 or parts[0] != "mock" or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    slot, index = int(parts[1]), int(parts[2])
    kvk = f"9{(slot * MOCK_PER_SLOT + index) % 10_000_000:07d}"
    kind = MOCK_TYPES[(slot + index) % len(MOCK_TYPES)]
    stamp = slot * MOCK_EVERY_SECONDS
    detail = {
        "berichtId": signal_id,
        "registratieTijdstip": _iso(stamp),
        "signaalType": kind,
        "heeftBetrekkingOp": {"kvkNummer": kvk, "nonMailing": False},
    }
    return Signal(signal_id, stamp, kvk, kind, detail)


def _when(value: str | None, name: str) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ProblemAnswer(400, "Bad Request", f"{name} is not a date-time") from None


def _integer(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ProblemAnswer(400, "Bad Request", f"{name} must be an integer from {low} to {high}")
    return int(value)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

"""Benchmark: does the name check accept a customer's own name and refuse a look-alike? (make bench-names)

The set is ``tests/data/trade_name_pairs.csv``: labelled pairs (per kind, with the kinds of issue #20 -- particles,
real surname variants, genitives -- also in the RESULT line) built from real Dutch company names
(sources in ``tests/data/SOURCES.md``): the customer's own variants (``legit``) and other companies'
names (``impostor``). Each pair goes through the sign-up decision itself (``domain.verify``) against
a KVK that holds the registered names: the company search shows the first, KVK's whole-word name
search finds any of them, Naamgeving lists them all. A claim is accepted when the verdict is
``valid``. Beside it, in the same run, the scorer kvkgate had before (one similarity ratio over
sorted words, thresholds 0.97 / 0.75, partial counted valid). Timing: one claim against 50
registered names, warm.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import re
import statistics
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from bench.common import ROOT, table
from kvkgate.clock import Deadline
from kvkgate.domain.contracts import ValidationRequest
from kvkgate.domain.names import RegisteredName, best_match
from kvkgate.domain.ports import Answer, Place, Registration, Registrations
from kvkgate.domain.verify import validate

PAIRS = ROOT / "tests" / "data" / "trade_name_pairs.csv"
# The kinds of issue #20, reported on their own in the RESULT line.
NEW_KINDS = {"particles": "particle", "surname_variants": "surname_known_variant", "genitives": "genitive"}
KVK = "68750110"
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Pair:
    id: str
    label: str
    kind: str
    typed: str
    registered: list[str]


def pairs(path: Path = PAIRS) -> list[Pair]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Pair(row["id"], row["label"], row["kind"], row["typed"], row["registered"].split(" | "))
            for row in csv.DictReader(handle)
        ]


def _kvk_words(text: str) -> set[str]:
    """Words as KVK's whole-word search is assumed to see them: case and diacritics folded."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return set(_WORDS.findall("".join(char for char in folded if not unicodedata.combining(char))))


class KvkHolding:
    """A KVK that knows one company with ``names`` (the first its statutory name, the rest trade names)."""

    def __init__(self, names: list[str]) -> None:
        self.held = names

    def _registration(self, name: str) -> Registration:
        return Registration(KVK, "000037178598", "main branch", name, True, place=Place(city="Amsterdam"))

    def registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        return Answer(Registrations((self._registration(self.held[0]),), 1), "kvk")

    def active_registrations(self, kvk_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        return self.registrations(kvk_number, deadline)

    def registrations_at(
        self, kvk_number: str, postcode: str, house_number: int, deadline: Deadline
    ) -> Answer[Registrations | None]:
        return Answer(None, "kvk")

    def registrations_named(self, kvk_number: str, words: str, deadline: Deadline) -> Answer[Registrations | None]:
        wanted = _kvk_words(words)
        hits = tuple(self._registration(name) for name in self.held if wanted <= _kvk_words(name))
        return Answer(Registrations(hits, len(hits)) if hits else None, "kvk")

    def branch_registrations(self, branch_number: str, deadline: Deadline) -> Answer[Registrations | None]:
        raise AssertionError("the name benchmark checks no branch")

    def rsin_registrations(self, rsin: str, deadline: Deadline) -> Answer[Registrations | None]:
        raise AssertionError("the name benchmark checks no RSIN")

    def names(self, kvk_number: str, deadline: Deadline) -> Answer[tuple[RegisteredName, ...] | None]:
        kinds = ["statutoryName"] + ["tradeName"] * (len(self.held) - 1)
        return Answer(tuple(RegisteredName(name, kind) for name, kind in zip(self.held, kinds, strict=True)), "kvk")

    def profile(self, kvk_number: str, deadline: Deadline) -> Any:
        raise AssertionError("the sign-up decision never asks for the paid profile")


def kvkgate_accepts(pair: Pair) -> bool:
    request = ValidationRequest(kvk_number=KVK, trade_name=pair.typed)
    result = validate(request, KvkHolding(pair.registered), Deadline.after(10), NOW)
    return result.verdict == "valid"


# -- the scorer kvkgate had before (names.py at commit 0c6faaa..b75f807), for comparison ------------

_OLD_FORMS = {"bv", "nv", "vof", "cv", "stichting", "vereniging", "cooperatie", "ua", "wa", "ba", "eenmanszaak"}


def _old_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    folded = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", folded.replace("&", " en ").replace("+", " en "))
    words = _WORDS.findall(folded.replace(".", " ").replace("'", ""))
    kept = [word for word in words if word not in _OLD_FORMS]
    return kept or words


def old_score(typed: str, registered: str) -> float:
    left, right = _old_words(typed), _old_words(registered)
    if not left or not right:
        return 0.0
    a, b = " ".join(sorted(left)), " ".join(sorted(right))
    if a == b:
        return 1.0
    value = max(
        SequenceMatcher(None, a, b, autojunk=False).ratio(), SequenceMatcher(None, b, a, autojunk=False).ratio()
    )
    if set(left) <= set(right) or set(right) <= set(left):
        value = max(value, 0.8)
    return value


def baseline_accepts(pair: Pair) -> bool:
    return max(old_score(pair.typed, name) for name in pair.registered) >= 0.75


# -- the run ------------------------------------------------------------------------------------


def rates(outcomes: list[tuple[Pair, bool]]) -> tuple[float, float]:
    legit = [accepted for pair, accepted in outcomes if pair.label == "legit"]
    impostor = [not accepted for pair, accepted in outcomes if pair.label == "impostor"]
    return 100 * sum(legit) / max(len(legit), 1), 100 * sum(impostor) / max(len(impostor), 1)


def kind_rates(outcomes: list[tuple[Pair, bool]], kind: str) -> dict[str, float | int]:
    """Right answers for one kind: legit accepted, look-alikes rejected, and both together."""
    mine = [(pair, accepted) for pair, accepted in outcomes if pair.kind == kind]
    right = [accepted == (pair.label == "legit") for pair, accepted in mine]
    legit, impostor = rates(mine)
    return {
        "right": round(100 * sum(right) / max(len(right), 1), 1),
        "legit_accepted": round(legit, 1),
        "impostor_rejected": round(impostor, 1),
        "n": len(mine),
    }


def claim_timing(all_pairs: list[Pair], claims: int, seed: int) -> float:
    """Median microseconds for one claim against 50 registered names, after a warm-up."""
    rng = random.Random(seed)
    pool = [name for pair in all_pairs for name in pair.registered]
    samples = []
    for index in range(claims + 20):
        candidates = [RegisteredName(name, "tradeName") for name in rng.sample(pool, 50)]
        typed = rng.choice(all_pairs).typed
        started = time.perf_counter()
        best_match(typed, candidates)
        if index >= 20:
            samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=500, help="timed claims against 50 names")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--failures", action="store_true", help="list every pair the name check gets wrong")
    args = parser.parse_args()

    data = pairs()
    ours = [(pair, kvkgate_accepts(pair)) for pair in data]
    before = [(pair, baseline_accepts(pair)) for pair in data]
    by_kind: dict[tuple[str, str], list[tuple[bool, bool]]] = defaultdict(list)
    for (pair, accepted), (_, was) in zip(ours, before, strict=True):
        by_kind[(pair.label, pair.kind)].append((accepted, was))
    rows = []
    for (label, kind), results in sorted(by_kind.items()):
        right = (lambda accepted: accepted) if label == "legit" else (lambda accepted: not accepted)
        now = 100 * sum(right(accepted) for accepted, _ in results) / len(results)
        then = 100 * sum(right(was) for _, was in results) / len(results)
        rows.append([label, kind, len(results), f"{now:.1f}", f"{then:.1f}"])
    print(table(["label", "kind", "pairs", "right % (kvkgate)", "right % (scorer before)"], rows))
    legit, impostor = rates(ours)
    old_legit, old_impostor = rates(before)
    print()
    print(table(
        ["scorer", "legit accepted %", "impostors rejected %"],
        [["kvkgate (word model, through verify)", f"{legit:.1f}", f"{impostor:.1f}"],
         ["before (similarity ratio)", f"{old_legit:.1f}", f"{old_impostor:.1f}"]],
    ))  # fmt: skip
    if args.failures:
        print()
        for pair, accepted in ours:
            if accepted != (pair.label == "legit"):
                print(f"{pair.id} {pair.label:8} {pair.kind:31} {pair.typed!r} vs {' | '.join(pair.registered)!r}")
    micros = claim_timing(data, args.claims, args.seed)
    print()
    result = {
        "legit_accepted": round(legit, 1),
        "impostor_rejected": round(impostor, 1),
        "n": len(data),
        "p50_us_per_claim": round(micros, 1),
        "baseline": {"legit_accepted": round(old_legit, 1), "impostor_rejected": round(old_impostor, 1)},
        "kinds": {name: kind_rates(ours, kind) for name, kind in NEW_KINDS.items()},
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

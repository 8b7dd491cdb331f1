"""Trade-name matching: does the name a customer typed belong to the registration? Pure functions.

Normalisation, in order: Unicode compatibility form, case folding, diacritics removed
(``Coöperatie`` = ``Cooperatie``), ``&``/``+``/``and``/``und`` read as ``en``, punctuation
removed (so ``B.V.`` = ``BV``), Dutch and English number words read as digits (``drie`` = ``3``,
``tweede`` = ``2e``; ``een`` is left alone: it is also the article), legal-form words set aside.

Legal forms (``BV``, ``Besloten Vennootschap``, ``NV``, ``VOF``, ``CV``, ``Stichting``,
``Vereniging``, ``Coöperatie``, ``UA``/``WA``/``BA``, ``Eenmanszaak``, ``Maatschap``, ...) are
not part of the name for comparison, because people add or drop them freely. When *both* names
state a legal form and the forms differ, the match is capped at ``partial``. ``Holding`` is
deliberately *not* a legal form: "Jansen Holding B.V." and "Jansen B.V." are usually two
different companies, so ``holding`` stays a significant word.

Scoring: identical normalised words (in any order) score 1.0. Otherwise the score is the
similarity of the sorted word strings (difflib), raised to at least ``SUBSET_SCORE`` when one
name's words are all contained in the other's. Results: ``match`` at or above the match
threshold (default 0.97, i.e. practically only identical names: a one-letter difference is
often another company, e.g. Jansen / Janssen), ``partial`` at or above the partial threshold
(default 0.75), ``mismatch`` below. Both thresholds are settings (``NAME_MATCH_THRESHOLD``,
``NAME_PARTIAL_THRESHOLD``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

MatchResult = Literal["match", "partial", "mismatch"]

SUBSET_SCORE = 0.8
LEGAL_FORM_CONFLICT_CAP = 0.9
MAX_NAME_LENGTH = 500

# Multi-word legal forms first, so "besloten vennootschap" is taken before "vennootschap".
_LEGAL_FORMS: list[tuple[tuple[str, ...], str]] = [
    (("besloten", "vennootschap", "met", "beperkte", "aansprakelijkheid"), "bv"),
    (("besloten", "vennootschap"), "bv"),
    (("naamloze", "vennootschap"), "nv"),
    (("vennootschap", "onder", "firma"), "vof"),
    (("commanditaire", "vennootschap"), "cv"),
    (("cooperatie", "ua"), "cooperatie"),
    (("cooperatieve", "vereniging"), "cooperatie"),
    (("onderlinge", "waarborgmaatschappij"), "owm"),
    (("vereniging", "van", "eigenaars"), "vve"),
    (("bv",), "bv"),
    (("nv",), "nv"),
    (("vof",), "vof"),
    (("cv",), "cv"),
    (("stichting",), "stichting"),
    (("vereniging",), "vereniging"),
    (("cooperatie",), "cooperatie"),
    (("ua",), "ua"),
    (("wa",), "wa"),
    (("ba",), "ba"),
    (("eenmanszaak",), "eenmanszaak"),
    (("maatschap",), "maatschap"),
    (("owm",), "owm"),
    (("vve",), "vve"),
    (("ltd",), "ltd"),
    (("gmbh",), "gmbh"),
    (("inc",), "inc"),
]
# Liability suffixes of a coöperatie or OWM say nothing about which company it is.
_NEUTRAL_FORMS = frozenset({"ua", "wa", "ba"})
_NUMBER_WORDS = {
    "twee": "2",
    "drie": "3",
    "vier": "4",
    "vijf": "5",
    "zes": "6",
    "zeven": "7",
    "acht": "8",
    "negen": "9",
    "tien": "10",
    "elf": "11",
    "twaalf": "12",
    "honderd": "100",
    "duizend": "1000",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eerste": "1e",
    "tweede": "2e",
    "derde": "3e",
    "vierde": "4e",
    "vijfde": "5e",
    "zesde": "6e",
    "zevende": "7e",
    "achtste": "8e",
    "negende": "9e",
    "tiende": "10e",
    "first": "1e",
    "second": "2e",
    "third": "3e",
}
_CONJUNCTIONS = {"and": "en", "und": "en", "et": "en"}
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(?:ste|de|e|st|nd|rd|th)$")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class NormalisedName:
    words: tuple[str, ...]
    legal_forms: frozenset[str]

    @property
    def key(self) -> str:
        return " ".join(sorted(self.words))


@dataclass(frozen=True)
class Thresholds:
    match: float = 0.97
    partial: float = 0.75

    def __post_init__(self) -> None:
        if not 0 < self.partial <= self.match <= 1:
            raise ValueError("name thresholds must satisfy 0 < partial <= match <= 1")

    def classify(self, score: float) -> MatchResult:
        if score >= self.match:
            return "match"
        return "partial" if score >= self.partial else "mismatch"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _words(text: str) -> list[str]:
    # "B.V." and "V.O.F." must become "bv" and "vof", not "b v" and "v o f".
    folded = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", _fold(text).replace("&", " en ").replace("+", " en "))
    words = []
    for word in _WORD.findall(folded.replace(".", " ").replace("'", "")):
        word = _CONJUNCTIONS.get(word, word)
        word = _NUMBER_WORDS.get(word, word)
        ordinal = _ORDINAL_SUFFIX.match(word)
        words.append(f"{ordinal.group(1)}e" if ordinal else word)
    return words


def normalise(name: str) -> NormalisedName:
    """Words of ``name`` for comparison, and the legal forms it stated."""
    words = _words(name[:MAX_NAME_LENGTH])
    kept: list[str] = []
    forms: set[str] = set()
    index = 0
    while index < len(words):
        for phrase, form in _LEGAL_FORMS:
            if tuple(words[index : index + len(phrase)]) == phrase:
                forms.add(form)
                index += len(phrase)
                break
        else:
            kept.append(words[index])
            index += 1
    # A name that is nothing but a legal form ("Stichting") keeps its words, or it would match anything.
    if not kept:
        kept = list(words)
    return NormalisedName(tuple(kept), frozenset(forms - _NEUTRAL_FORMS))


def score(typed: str, registered: str) -> float:
    """Similarity in 0..1 of a typed name and one registered name."""
    left, right = normalise(typed), normalise(registered)
    if not left.words or not right.words:
        return 0.0
    if left.key == right.key:
        value = 1.0
    else:
        # difflib's ratio depends on argument order; take both so score(a, b) == score(b, a).
        value = max(
            SequenceMatcher(None, left.key, right.key, autojunk=False).ratio(),
            SequenceMatcher(None, right.key, left.key, autojunk=False).ratio(),
        )
        if set(left.words) <= set(right.words) or set(right.words) <= set(left.words):
            value = max(value, SUBSET_SCORE)
    if left.legal_forms and right.legal_forms and not left.legal_forms & right.legal_forms:
        value = min(value, LEGAL_FORM_CONFLICT_CAP)
    return round(value, 4)


@dataclass(frozen=True)
class RegisteredName:
    """A registered name and where it comes from (``nameType``: statutoryName, name, tradeName, alsoKnownAs)."""

    name: str
    name_type: str
    branch_number: str | None = None


@dataclass(frozen=True)
class NameScore:
    candidate: RegisteredName
    score: float


@dataclass(frozen=True)
class NameMatch:
    result: MatchResult
    score: float
    best: NameScore | None
    ranked: tuple[NameScore, ...]


_TYPE_PREFERENCE = {"statutoryName": 0, "name": 1, "tradeName": 2, "alsoKnownAs": 3}


def best_match(typed: str, candidates: list[RegisteredName], thresholds: Thresholds | None = None) -> NameMatch:
    """Score ``typed`` against every candidate; best first (ties: statutory name before trade names)."""
    limits = thresholds or Thresholds()
    seen: set[tuple[str, str, str | None]] = set()
    ranked = []
    for candidate in candidates:
        identity = (candidate.name, candidate.name_type, candidate.branch_number)
        if candidate.name and identity not in seen:
            seen.add(identity)
            ranked.append(NameScore(candidate, score(typed, candidate.name)))
    ranked.sort(key=lambda item: (-item.score, _TYPE_PREFERENCE.get(item.candidate.name_type, 9)))
    if not ranked:
        return NameMatch("mismatch", 0.0, None, ())
    best = ranked[0]
    return NameMatch(limits.classify(best.score), best.score, best, tuple(ranked))

"""The whole words a person may be typing, from its first letters: KVK's search matches whole words
only, so a company search can ask KVK about ``bakkerij`` while the person has typed ``bakk``.

Two sources, one ranking:

* a shipped vocabulary of words of Dutch company names with an estimate of how often names hold
  them (``vocabulary/company_words.tsv``, whose header names its sources), loaded on first use;
* the words of KVK's own answers to company searches in this execution environment, counted once
  per answer KVK gave (a cached answer read again is not counted again).

What is learned comes only from KVK's answers, never from what people type, so nobody can teach the
search a word no registered name holds; a word's learned weight is capped, so a flood of searches
cannot lift a word above the common ones by much; and the learned words are bounded (the least-seen
are forgotten first), so memory stays flat however long the environment lives. An attacker's searches
are also charged to their caller budget like every search.
"""

from __future__ import annotations

import bisect
import functools
import threading
import unicodedata
from collections.abc import Iterable
from importlib import resources

MIN_LETTERS = 3  # shorter words (de, bv) are found everywhere: not worth a question to KVK
MIN_PREFIX = 4  # fewer typed letters begin too many words to guess from (make bench-search)
MAX_LETTERS = 40
LEARNED_CAPACITY = 20_000  # words; then the least-seen half is forgotten
LEARNED_WEIGHT = 40.0  # one KVK answer holding a word counts as much as this much shipped weight
LEARNED_CAP = 25  # answers: beyond this a word's learned weight does not grow


@functools.cache
def _shipped() -> tuple[list[str], dict[str, float]]:
    """The shipped vocabulary: its words in alphabetical order (for prefix search) and their weights."""
    text = resources.files("kvkgate.domain").joinpath("vocabulary", "company_words.tsv").read_text(encoding="utf-8")
    weights: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, _, weight = line.partition("\t")
            weights[word] = float(weight)
    return sorted(weights), weights


@functools.cache
def _never_asked() -> frozenset[str]:
    """Words every other name holds: fillers, legal forms and name particles (from the name vocabularies)."""
    from kvkgate.domain import vocabulary

    fillers = {word for word, kind in vocabulary.generic_words().items() if kind == "filler"}
    forms = {part for variant in vocabulary.legal_forms() for part in variant.replace(".", " ").split()}
    return frozenset(fillers | forms | {"van", "der", "den", "ter", "ten", "het", "and", "the", "voor", "met"})


def words_of(name: str) -> set[str]:
    """The words of a registered name as a completion: lower case, no accents, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(char if char.isalnum() else " " for char in decomposed if not unicodedata.combining(char))
    return {
        word
        for word in plain.split()
        if MIN_LETTERS <= len(word) <= MAX_LETTERS and not word.isdigit() and word not in _never_asked()
    }


class Completions:
    """Completes a word from its first letters; learns the words of KVK's answers (thread-safe)."""

    def __init__(self, capacity: int = LEARNED_CAPACITY) -> None:
        self.capacity = capacity
        self._learned: dict[str, int] = {}
        self._sorted: list[str] | None = []  # the learned words in order; None: to be sorted again
        self._lock = threading.Lock()

    def complete(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` whole words beginning with ``prefix`` (lower case, no accents), most likely first.
        ``prefix`` itself is one of them when it is a known word."""
        if len(prefix) < MIN_PREFIX or limit <= 0:
            return []
        shipped, weights = _shipped()
        candidates = dict.fromkeys(_starting(shipped, prefix))
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted(self._learned)
            candidates.update(dict.fromkeys(_starting(self._sorted, prefix)))
            learned = {word: self._learned.get(word, 0) for word in candidates}
        scored = sorted(
            candidates,
            key=lambda word: (-(weights.get(word, 0.0) + LEARNED_WEIGHT * min(learned[word], LEARNED_CAP)), word),
        )
        return scored[:limit]

    def weight(self, word: str) -> float:
        """How likely ``word`` is in a company name: its shipped weight plus what KVK's answers taught."""
        return _shipped()[1].get(word, 0.0) + LEARNED_WEIGHT * min(self._learned.get(word, 0), LEARNED_CAP)

    def learn(self, names: Iterable[str]) -> None:
        """The names of one answer KVK gave: each of their words is counted once."""
        words = set().union(*(words_of(name) for name in names))
        if not words:
            return
        with self._lock:
            for word in words:
                if word not in self._learned:
                    self._sorted = None
                # Counted up to the cap only: a flooded word is then forgotten like any word seen that often.
                self._learned[word] = min(self._learned.get(word, 0) + 1, LEARNED_CAP)
            if len(self._learned) > self.capacity:
                self._forget()

    def _forget(self) -> None:
        """Keep the most-seen half: one pass, so a full store costs nothing per word after it."""
        kept = sorted(self._learned.items(), key=lambda item: -item[1])[: self.capacity // 2]
        self._learned = dict(kept)
        self._sorted = None

    def seen(self, word: str) -> int:
        """In how many of KVK's answers ``word`` was learned, up to LEARNED_CAP."""
        return self._learned.get(word, 0)

    def __len__(self) -> int:
        return len(self._learned)


def _starting(ordered: list[str], prefix: str) -> Iterable[str]:
    start = bisect.bisect_left(ordered, prefix)
    for word in ordered[start:]:
        if not word.startswith(prefix):
            return
        yield word

"""The vocabularies the name matcher reads (``vocabulary/``), loaded on first use and then kept.

Each file says in its header where its entries came from. Loading costs a few milliseconds and
happens only when a name is compared, never at import (cold start).
"""

from __future__ import annotations

import functools
from importlib import resources


def _lines(name: str) -> list[list[str]]:
    text = resources.files("kvkgate.domain").joinpath("vocabulary", name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


@functools.cache
def legal_forms() -> dict[str, str]:
    """How legal forms are written (as raw text, e.g. ``b.v.``) -> a short canonical code (``bv``)."""
    return {variant: canonical for variant, canonical in _lines("legal_forms.tsv")}  # noqa: C416 - two columns


@functools.cache
def generic_words() -> dict[str, str]:
    """Word -> ``trade``, ``organisation`` or ``filler``; apostrophes dropped (``'t`` -> ``t``), as names are read."""
    return {word.replace("'", ""): kind for word, kind in _lines("generic_words.tsv")}


@functools.cache
def entity_words() -> frozenset[str]:
    return frozenset(line[0] for line in _lines("entity_words.txt"))


@functools.cache
def number_words() -> dict[str, str]:
    return {word: digits for word, digits in _lines("number_words.tsv")}  # noqa: C416 - two columns


@functools.cache
def abbreviations() -> dict[str, str]:
    """Abbreviation -> its first expansion (read through :func:`synonyms` like any other word)."""
    return {short: expansions.split("|")[0] for short, expansions in _lines("abbreviations.tsv")}


@functools.cache
def abbreviation_expansions() -> dict[str, tuple[str, ...]]:
    """Abbreviation -> every expansion it may stand for (``v.d.`` -> van de, van der, van den)."""
    return {short: tuple(expansions.split("|")) for short, expansions in _lines("abbreviations.tsv")}


@functools.cache
def synonyms() -> dict[str, str]:
    """Single words that one abbreviation stands for read as one word (netherlands, nederland -> one of them).

    The words an abbreviation's expansions list are grouped (joined across abbreviations that share
    a word) and each group is read as its alphabetically first word.
    """
    group: dict[str, str] = {}

    def root(word: str) -> str:
        while group.get(word, word) != word:
            word = group[word]
        return word

    for _, expansions in _lines("abbreviations.tsv"):
        words = [word for word in expansions.split("|") if " " not in word]
        for word in words[1:]:
            first, other = sorted((root(words[0]), root(word)))
            group[other] = first
    return {word: root(word) for word in group}


@functools.cache
def surnames() -> dict[str, int]:
    """Surname (particles kept: ``de vries``) -> its rank among Dutch surnames (1 = most common):
    the counted top 1,000 first, then the longer list that gives only the order."""
    names = [line[0] for line in _lines("surnames.tsv")] + [line[0] for line in _lines("surnames_more.txt")]
    ranks: dict[str, int] = {}
    for name in names:
        ranks.setdefault(name, len(ranks) + 1)
    return ranks


@functools.cache
def surname_words() -> dict[str, int]:
    """The last word of each surname (``vries``) -> the surname's rank."""
    ranks: dict[str, int] = {}
    for name, rank in surnames().items():
        ranks.setdefault(name.split()[-1], rank)
    return ranks


@functools.cache
def places() -> frozenset[str]:
    return frozenset(line[0] for line in _lines("places.txt"))


@functools.cache
def common_words() -> frozenset[str]:
    """Frequent words of any kind (names included): a typo must not turn one word into one of these."""
    return frozenset(line[0] for line in _lines("common_words.txt"))


@functools.cache
def dictionary_words() -> frozenset[str]:
    """Ordinary Dutch and English words that are not proper names ("test", "bank", "gouden")."""
    return frozenset(line[0] for line in _lines("dictionary_words.txt"))

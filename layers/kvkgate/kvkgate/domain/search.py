"""Company suggestions for a person typing a name into a sign-up form (``GET /v1/companies?q=``).

Only the free Zoeken is asked. KVK's ``naam`` matches whole words, never prefixes (``koophand``
finds nothing, ``koophandel`` does), so KVK is asked about the words the person has *finished*
(followed by a space), and the word still being typed is matched here, against the names KVK
returned: words it begins first, then words one typo away. A lone word is asked as a whole word
once it has 3 letters (it may be finished already); with fewer, nothing is asked.

Asking as little as possible: every answer is cached by its question (a short TTL, many people
type the same prefixes); a cached answer for the same words serves every unfinished last word;
and a cached answer that was *complete* (KVK had no more than the page) for fewer of the words
serves the longer question too, its extra words matched here. Only when the first page is not
the whole answer and the unfinished word may already be a word does a second question include
it, so names further down KVK's list are not missed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from kvkgate.clock import Deadline
from kvkgate.domain.contracts import Meta, SearchRequest, SearchResult, Source, Suggestion
from kvkgate.domain.names import fold
from kvkgate.domain.ports import Answer, CompanyIndex, Registration, Registrations, SearchFilters

MIN_WORD = 3  # a lone unfinished word shorter than this is not worth a question to KVK
MAX_SUGGESTIONS = 10
MAX_WORDS_ASKED = 6
_KIND_ORDER = {"main branch": 0, "legal entity": 1, "branch": 2}


@dataclass(frozen=True)
class Typed:
    """What a person has typed so far: the words they finished, and the one they are typing."""

    finished: tuple[str, ...]
    unfinished: str

    @classmethod
    def read(cls, text: str) -> Typed:
        words = text.split()
        if not words or text[-1].isspace():
            return cls(tuple(words), "")
        return cls(tuple(words[:-1]), words[-1])


def suggest(request: SearchRequest, index: CompanyIndex, deadline: Deadline, now: dt.datetime) -> SearchResult:
    typed = Typed.read(request.q)
    filters = SearchFilters(
        city=request.city,
        postcode=request.postcode,
        house_number=int(request.house_number) if request.house_number else None,
        include_inactive=request.include_inactive,
    )
    asked = _asked(typed)
    if not asked:
        return SearchResult(results=[], total=0, meta=Meta.at(now, "none"))
    answers, required = _answers(asked[:MAX_WORDS_ASKED], typed, filters, index, deadline)
    items = [item for answer in answers if answer.value is not None for item in answer.value.items]
    ranked = _ranked(_unique(items), (*required, *asked[MAX_WORDS_ASKED:]), typed.unfinished)
    return SearchResult(
        results=[_suggestion(item) for item in ranked[:MAX_SUGGESTIONS]],
        total=len(ranked),
        meta=_meta(answers, now),
    )


def _asked(typed: Typed) -> tuple[str, ...]:
    """The words to ask KVK about, as one cache key for everyone who typed them: lower case,
    without words that hold no letter or digit ("&", "-")."""
    words = [word.casefold() for word in typed.finished if any(char.isalnum() for char in word)]
    if words:
        return tuple(words)
    if len("".join(_tokens(typed.unfinished))) >= MIN_WORD:
        return (typed.unfinished.casefold(),)
    return ()


def _answers(
    asked: tuple[str, ...], typed: Typed, filters: SearchFilters, index: CompanyIndex, deadline: Deadline
) -> tuple[list[Answer[Registrations | None]], tuple[str, ...]]:
    """The answers to use, and the asked words they were not asked about (matched here)."""
    at_hand = index.known_companies_named(" ".join(asked), filters)
    if at_hand is None:
        for size in range(len(asked) - 1, 0, -1):
            wider = index.known_companies_named(" ".join(asked[:size]), filters)
            if wider is not None and (wider.value is None or wider.value.complete):
                return [wider], asked[size:]
    answer = at_hand or index.companies_named(" ".join(asked), filters, deadline)
    answers = [answer]
    unfinished = typed.unfinished
    if answer.value is not None and not answer.value.complete and typed.finished and len(unfinished) >= MIN_WORD:
        # KVK holds more than its first page: the names with the word being typed may be further down.
        answers.append(index.companies_named(" ".join((*asked, unfinished.casefold())), filters, deadline))
    return answers, ()


def _ranked(items: Iterable[Registration], required: tuple[str, ...], unfinished: str) -> list[Registration]:
    must = {token for word in required for token in _tokens(word)}
    prefix = "".join(_tokens(unfinished))
    scored = []
    for item in items:
        tokens = _tokens(" ".join(name for name in (item.name, item.expired_name) if name))
        if not must <= set(tokens):
            continue
        tier = _tier(tokens, prefix)
        if tier is None:
            continue
        first = next((index for index, token in enumerate(tokens) if token.startswith(prefix)), len(tokens))
        scored.append(
            (
                (tier, item.active is False, first, _KIND_ORDER.get(item.kind or "", 3), fold(item.name or "")),
                (item.kvk_number, item.branch_number or ""),
                item,
            )
        )
    scored.sort(key=lambda entry: (entry[0], entry[1]))  # KVK's own order is not stable
    return [item for _, _, item in scored]


def _tier(tokens: list[str], prefix: str) -> int | None:
    """0: a word begins with what is being typed; 1: one typo away from such a word; None: neither."""
    if not prefix or any(token.startswith(prefix) for token in tokens):
        return 0
    if len(prefix) >= 4:
        from rapidfuzz.distance import OSA

        for token in tokens:
            if any(
                OSA.distance(prefix, token[:length]) <= 1 for length in {len(prefix) - 1, len(prefix), len(prefix) + 1}
            ):
                return 1
    return None


def _unique(items: Iterable[Registration]) -> list[Registration]:
    """Each registration once; the legal entity left out where its main branch shows the same name."""
    seen: dict[tuple[str, str | None, str | None], Registration] = {}
    for item in items:
        seen.setdefault((item.kvk_number, item.branch_number, item.kind), item)
    shown = {(item.kvk_number, fold(item.name or "")) for item in seen.values() if item.kind == "main branch"}
    return [
        item
        for item in seen.values()
        if not (item.kind == "legal entity" and (item.kvk_number, fold(item.name or "")) in shown)
    ]


def _suggestion(item: Registration) -> Suggestion:
    place = item.place
    return Suggestion(
        kvk_number=item.kvk_number,
        branch_number=item.branch_number,
        name=item.name or item.expired_name or "",
        kind=item.kind,
        city=place.city if place else None,
        street=place.street if place else None,
        active=item.active is not False,
    )


def _meta(answers: list[Answer[Registrations | None]], now: dt.datetime) -> Meta:
    source: Source = "kvk" if any(answer.source == "kvk" for answer in answers) else "cache"
    return Meta.at(now, source, any(answer.stale for answer in answers))


@functools.lru_cache(maxsize=4096)
def _folded_words(text: str) -> tuple[str, ...]:
    return tuple("".join(char if char.isalnum() else " " for char in fold(text)).split())


def _tokens(text: str) -> list[str]:
    """Lower-case words without accents or punctuation: how a typed word is compared with a name."""
    return list(_folded_words(text))

"""Company suggestions for a person typing a name into a sign-up form (``GET /v1/companies?q=``).

Only the free Zoeken is asked. KVK's ``naam`` matches whole words, never prefixes (``koophand``
finds nothing, ``koophandel`` does), so KVK is asked about whole words: the words the person has
*finished* (followed by a space), and, for the word still being typed, the whole words it most
likely begins (:mod:`kvkgate.domain.completions`: a vocabulary of company-name words plus the words
of KVK's earlier answers). ``bakk`` asks about ``bakkerij``; the answers are matched here against
what was typed, and names with a word the typed letters begin come first, then names one typo away.

Asking as little as possible: every answer is cached by its question (a short TTL, shared by
everyone, so a common prefix costs one call per TTL); a request asks KVK at most
:data:`MAX_KVK_QUESTIONS` questions whatever was typed, and reads cached answers to further likely
completions for free; a cached answer for the finished words serves every unfinished last word; and
a cached answer that was *complete* (KVK had no more than the page) for fewer of the words serves
the longer question too, its extra words matched here. With completions off
(``SEARCH_COMPLETIONS=0``) the search behaves as before issue #21: a lone word is asked as a whole
word once it has 3 letters, and the unfinished word only when the finished words' answer is cut off.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kvkgate.clock import Deadline
from kvkgate.domain.completions import Completions, words_of
from kvkgate.domain.contracts import Meta, SearchRequest, SearchResult, Source, Suggestion
from kvkgate.domain.names import fold
from kvkgate.domain.ports import Answer, CompanyIndex, Registration, Registrations, SearchFilters

MIN_WORD = 3  # a lone unfinished word shorter than this is not worth a question to KVK (before issue #21)
# With completions: a lone word is asked about from this many letters (3 begin too many words to guess
# from, and asking about them cost more KVK calls than it saved keystrokes: make bench-search).
MIN_LONE_WORD = 4
MAX_SUGGESTIONS = 10
MAX_WORDS_ASKED = 6
# A request (one keystroke burst: the component waits for a pause in the typing) asks KVK at most
# this many questions; cached answers to further completions are read for free, up to MAX_READS.
MAX_KVK_QUESTIONS = 2
MAX_READS = 6
COMPLETIONS = 4  # likely whole words considered for the word being typed (SEARCH_COMPLETIONS)
CLOSE_SECOND = 0.3  # a completion at least this likely as the first is asked too, found something or not
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


def suggest(
    request: SearchRequest,
    index: CompanyIndex,
    deadline: Deadline,
    now: dt.datetime,
    completions: Completions | None = None,
    completion_count: int = COMPLETIONS,
) -> SearchResult:
    typed = Typed.read(request.q)
    filters = SearchFilters(
        city=request.city,
        postcode=request.postcode,
        house_number=int(request.house_number) if request.house_number else None,
        include_inactive=request.include_inactive,
    )
    asked = _asked(typed)
    prefix = "".join(_tokens(typed.unfinished))
    completing = completions is not None and completion_count > 0
    guesses = completions.complete(prefix, completion_count) if completions is not None else []
    minimum = MIN_LONE_WORD if completing else MIN_WORD
    # "Stichting", "B.V.", "De", "Van" hold for half the register: asked alone they find anyone, so while
    # completing they are matched here, and KVK is asked about the words that tell companies apart.
    matched_here = tuple(word for word in asked if completing and not words_of(word)) if prefix else ()
    asked = tuple(word for word in asked if word not in matched_here)
    if not asked and len(prefix) < minimum:
        return SearchResult(results=[], total=0, meta=Meta.at(now, "none"))
    plan = _Plan(index, filters, deadline)
    if asked:
        required = (*plan.finished(asked[:MAX_WORDS_ASKED], typed, guesses), *matched_here)
    else:
        required = matched_here
        plan.lone_word(typed, guesses, completions)
    if completions is not None:
        for answer in plan.fresh:
            completions.learn(item.name or item.expired_name or "" for item in answer.items)
    items = [item for answer in plan.answers if answer.value is not None for item in answer.value.items]
    ranked = _ranked(_unique(items), (*required, *asked[MAX_WORDS_ASKED:]), typed.unfinished, guesses)
    return SearchResult(
        results=[_suggestion(item) for item in ranked[:MAX_SUGGESTIONS]],
        total=len(ranked),
        meta=_meta(plan.answers, now),
    )


def _asked(typed: Typed) -> tuple[str, ...]:
    """The finished words to ask KVK about, as one cache key for everyone who typed them: lower case,
    without words that hold no letter or digit ("&", "-")."""
    return tuple(word.casefold() for word in typed.finished if any(char.isalnum() for char in word))


class _Plan:
    """The questions one request puts: cached answers first (free), KVK for at most MAX_KVK_QUESTIONS."""

    def __init__(self, index: CompanyIndex, filters: SearchFilters, deadline: Deadline) -> None:
        self.index, self.filters, self.deadline = index, filters, deadline
        self.answers: list[Answer[Registrations | None]] = []
        self.fresh: list[Registrations] = []  # KVK's own answers this request: their words are learned
        self.questions = 0
        self.reads = 0

    def known(self, words: tuple[str, ...]) -> Answer[Registrations | None] | None:
        self.reads += 1
        return self.index.known_companies_named(" ".join(words), self.filters)

    def ask(self, words: tuple[str, ...]) -> Answer[Registrations | None]:
        self.questions += 1
        answer = self.index.companies_named(" ".join(words), self.filters, self.deadline)
        if answer.source == "kvk" and answer.value is not None:
            self.fresh.append(answer.value)
        return answer

    def use(self, words: tuple[str, ...], may_ask: bool = True) -> Answer[Registrations | None] | None:
        """The answer to ``words`` if it is at hand or may still be asked for; None once the budget is spent."""
        if self.reads < MAX_READS:
            at_hand = self.known(words)
            if at_hand is not None:
                self.answers.append(at_hand)
                return at_hand
        if not may_ask or self.questions >= MAX_KVK_QUESTIONS:
            return None
        answer = self.ask(words)
        self.answers.append(answer)
        return answer

    def finished(self, asked: tuple[str, ...], typed: Typed, guesses: list[str]) -> tuple[str, ...]:
        """Finished words: their answer (or a wider complete one); the asked words it does not cover are returned."""
        at_hand = self.known(asked)
        if at_hand is None:
            for size in range(len(asked) - 1, 0, -1):
                wider = self.known(asked[:size])
                if wider is not None and (wider.value is None or wider.value.complete):
                    self.answers.append(wider)
                    return asked[size:]
        answer = at_hand or self.ask(asked)
        self.answers.append(answer)
        unfinished = typed.unfinished.casefold()
        if answer.value is not None and not answer.value.complete:
            # KVK holds more than its first page: the names with the word being typed may be further down.
            for word in _questions_for(unfinished, guesses):
                self.use((*asked, word))
        return ()

    def lone_word(self, typed: Typed, guesses: list[str], completions: Completions | None) -> None:
        """Nothing finished yet: the whole words the typed letters most likely begin. KVK is asked about
        the likeliest, and about another only when it is nearly as likely (``bakk``: bakker and
        bakkerij), so the typed letters themselves (a brand no vocabulary holds) are asked about once no
        known word begins with them; cached answers are read regardless. Asking on while nothing was
        found cost a call in every request of a long brand name and found no company sooner
        (make bench-search)."""
        questions = _questions_for(typed.unfinished.casefold(), guesses)
        first = completions.weight(questions[0]) if completions is not None and questions else 0.0
        for rank, word in enumerate(questions):
            close = completions is not None and completions.weight(word) >= first * CLOSE_SECOND
            self.use((word,), may_ask=rank == 0 or close)


def _questions_for(unfinished: str, guesses: list[str]) -> list[str]:
    """What to ask KVK about the word being typed, most likely first: its likely completions, then the
    typed letters themselves as a whole word (a word no vocabulary holds, a brand, may be finished)."""
    questions = list(guesses)
    if len("".join(_tokens(unfinished))) >= MIN_WORD and unfinished not in questions:
        questions.append(unfinished)
    return questions


def _ranked(
    items: Iterable[Registration], required: tuple[str, ...], unfinished: str, guesses: Sequence[str] = ()
) -> list[Registration]:
    must = {token for word in required for token in _tokens(word)}
    prefix = "".join(_tokens(unfinished))
    likely = {word: rank for rank, word in enumerate(guesses)}
    scored = []
    for item in items:
        tokens = _tokens(" ".join(name for name in (item.name, item.expired_name) if name))
        if not must <= set(tokens):
            continue
        tier = _tier(tokens, prefix)
        if tier is None:
            continue
        first = next((index for index, token in enumerate(tokens) if token.startswith(prefix)), len(tokens))
        guess = min((likely[token] for token in tokens if token in likely), default=len(likely))
        scored.append(
            (
                (
                    tier,
                    item.active is False,
                    first,
                    prefix not in tokens,  # the typed letters are a whole word of the name
                    guess,
                    len(tokens),  # fewer other words: closer to what was typed
                    _KIND_ORDER.get(item.kind or "", 3),
                    fold(item.name or ""),
                ),
                (item.kvk_number, item.branch_number or ""),
                item,
            )
        )
    scored.sort(key=lambda entry: (entry[0], entry[1]))  # KVK's own order is not stable
    # Names of different likely words take turns (``bakk``: a Bakker, a bakkerij, a Bakker, ...), so the
    # first suggestions are not all of the likeliest word.
    turns: dict[tuple[object, ...], int] = {}
    interleaved = []
    for key, number, item in scored:
        group = key[:5]
        turns[group] = turns.get(group, 0) + 1
        interleaved.append(((*key[:4], turns[group], *key[4:]), number, item))
    interleaved.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, item in interleaved]


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

"""Trade-name matching: is the name a customer typed this registration's name, the customer's own
shorthand of it, or another company's? Word by word, pure functions.

**Normalisation.** Case, diacritics and punctuation go (``B.V.`` = ``BV``, ``Coöperatie`` =
``Cooperatie``), ``&``/``+``/``and`` read as ``en``, number words as digits (``drie`` = ``3``,
``tweede`` = ``2e``), common abbreviations are written out (``Gebr.`` = ``Gebroeders``). A
genitive is one word however it is written: ``Jansen's``, ``Jansen’s``, ``Jansen s`` and
``Jansens`` (when the other side writes the apostrophe) are the same word; so are elisions
(``'t``, ``’t``, ``t``; ``L'Oreal``, ``LOreal``). Legal forms (``B.V.``, ``Besloten Vennootschap``, ``V.O.F.``,
``Stichting`` …) are set aside: people add, drop and rewrite them freely.

**What a word says about identity** (vocabularies in ``vocabulary/``, each with its source):

* *filler* — articles, prepositions (``de``, ``van``, ``en``): ignored, except as a surname's
  particles: ``van der`` before ``Velden``, ``de`` before ``Vries`` belong to the name (see below);
* *entity* — ``holding``, ``groep``, ``beheer``, ``vastgoed`` …: a different company of a group;
* *generic* — trade and descriptive words (``bakkerij``, ``bouw``, ``installatietechniek``,
  ``nederland``, ``services``) and places: little identity, a customer may drop them;
* *word* — ordinary dictionary words (``test``, ``gouden``, ``bank``): some identity;
* *name* — everything else: surnames, given names, brands, coined words. Most identity.

**The comparison.** Typed and registered words are paired: equal words, a word written as two
(``Van den Berg`` / ``Vandenberg``, ``Bouw Bedrijf`` / ``Bouwbedrijf``), an initialism of the
other side's words, or a single-edit typo inside a word of at least 7 letters that does not turn
it into another known word or name (``Heinekne``, not ``Jansen`` for ``Janssen``). Then:

* ``match`` — every word paired exactly (order free); legal forms the same or stated on one side;
* ``partial`` — the customer's shorthand: the typed words are a subset of the registered name
  that keeps at least one *name* word and drops only generic or ordinary words, or pairs by an
  initialism or a typo, or the legal forms differ;
* ``mismatch`` — a typed word the registration does not have (changed or added, e.g. ``Hoek`` for
  ``Hoekje``, ``Jansen`` for ``Janssen``), a dropped *name* or *entity* word (``X Holding`` is not
  ``X``), or nothing with identity in common.

**Particles.** A sequence of particles (``van``, ``de``, ``van der``, ``in 't``, ``ter`` …) belongs
to the word it precedes when that word is name-like: a *name* word, a known surname with those
particles (``de vries``), or — for sequences that are only ever particles (``van der``, ``ter``) —
any known surname. Then ``van den Velden`` and ``van der Velden`` are two names (``mismatch``,
the difference names both); particles left out by the customer (``Velden`` for ``Van der
Velden``) are shorthand (``partial``); written together (``Vandenberg``), capitalised otherwise or
abbreviated (``v.d.``: van de, van der or van den) they are the same. Articles elsewhere (``Bakkerij
De Hoek``, ``Huis van Eten``) stay fillers.

**Surnames.** A typed word that is another known word or surname is never a typo of the
registered one (``Gerrits``/``Gerritse``), and a few spelling changes make another name whether
listed or not: a trailing ``s`` or ``se``, a doubled final consonant, ``ck``/``k`` or ``c``/``k``,
a final ``d``/``t``.

Every comparison says which words differed, so an answer can say "KVK knows this company as …".
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kvkgate.domain import vocabulary

MatchResult = Literal["match", "partial", "mismatch"]
WordKind = Literal["filler", "entity", "generic", "word", "name"]
MAX_NAME_LENGTH = 500
TYPO_MIN_LENGTH = 7
INITIALISM_LENGTH = range(2, 7)
# A surname this common is a surname first, even where it is also a trade word (Bakker, Visser).
SURNAME_FIRST_RANK = 100
_RESULT_ORDER = {"match": 0, "partial": 1, "mismatch": 2}
_TYPE_PREFERENCE = {"statutoryName": 0, "name": 1, "tradeName": 2, "alsoKnownAs": 3, "expiredName": 4}
_WORD = re.compile(r"[a-z0-9]+")
_APOSTROPHES = "'’`´‘"
# Dotted initials (B.V., v.d.) first, then words (with apostrophes: 't), then & and +.
_TOKEN = re.compile(rf"(?:[^\W\d_]\.){{2,}}|[\w{_APOSTROPHES}]+|[&+]")
# A genitive (or a plural of a word ending in a vowel: piano's): X's, X’s; and X' after an s (Barends').
_GENITIVE = re.compile(rf"^(\w*[^\W\d_])(?:[{_APOSTROPHES}][sS]|(?<=[sS])[{_APOSTROPHES}])$")
# Surname particles (tussenvoegsels) as compared: 't is het, 's is des.
_SINGLE_PARTICLES = ("van", "de", "der", "den", "des", "het", "te", "ter", "ten", "in", "op", "onder", "uit", "aan")
_PARTICLES = frozenset(
    {
        *_SINGLE_PARTICLES,
        *("bij", "over", "voor", "von", "du", "la", "le"),
        *(f"van {word}" for word in ("de", "der", "den", "des", "het", "ter", "ten")),
        *(
            f"{word} {article}"
            for word in ("in", "op", "uit", "aan", "bij", "onder", "over", "voor")
            for article in ("de", "den", "der", "het")
        ),
        *("op ten", "voor in het", "von der", "de la", "de le"),
    }
)
# Particles that are hardly ever anything else (unlike de, van, het): before any known surname.
_ONLY_PARTICLES = frozenset({"ter", "ten", "der", "den", "von"})
_PARTICLE_SPELLING = {"t": "het", "s": "des"}
_ELIDED = re.compile(r"(\w+)-\s*(en|&|of|and|und|\+|/)\s*(\w{5,})", re.IGNORECASE)
# Quoted or bracketed parts of a registered name are names of the company too: Magazijn "De Bijenkorf".
_ALSO_CALLED = re.compile(r"\(([^()]+)\)|[\"“”]([^\"“”]+)[\"“”]")
_ORDINAL = re.compile(r"^(\d+)(?:ste|de|e|st|nd|rd|th)$")
# A coöperatie's liability suffix and "in oprichting" say nothing about which company it is.
_NO_IDENTITY_FORMS = frozenset({"ua", "wa", "ba", "io"})


@dataclass(frozen=True)
class Word:
    """One word of a name: as compared (``norm``), as written (``shown``) and what it says about identity."""

    norm: str
    shown: str
    kind: WordKind
    plain: bool = False  # written as KVK's whole-word search will see it (no rewriting, a-z and digits only)
    genitive: bool = False  # written with an apostrophe s (Jansen's): Jansens is the same word
    source: str = ""  # the abbreviation it was written out from (vd), if any
    particles: frozenset[str] = frozenset()  # the surname particles it may carry (v.d.: three)
    label: str = ""  # as written with its particles (van der Velden), for differences

    @property
    def written(self) -> str:
        return self.label or self.shown


@dataclass(frozen=True)
class ParsedName:
    words: tuple[Word, ...]  # fillers included, in order
    legal_forms: frozenset[str]
    legal_text: str  # the legal form as written, for differences

    @functools.cached_property
    def key(self) -> str:
        return " ".join(sorted(self.norms))

    @functools.cached_property
    def norms(self) -> frozenset[str]:
        return frozenset(word.norm for word in self.words if word.kind != "filler")

    @functools.cached_property
    def shapes(self) -> frozenset[str]:
        """What another name could pair with beyond its exact words: words written together, initials."""
        everything = [True] * len(self.words)
        joined = {
            "".join(word.norm for word in self.words[start : start + length])
            for length in (2, 3)
            for start in range(len(self.words) - length + 1)
        }
        genitives = {word.norm + "s" for word in self.words if word.genitive}
        initials = {initials for initials, run in _runs(list(self.words), everything) if len(run) > 1}
        return frozenset(joined | initials | genitives)

    def may_pair_with(self, other: ParsedName) -> bool:
        """False only when no rule could pair a word of the two names: then they are different names."""
        if self.norms & other.norms or self.norms & other.shapes or other.norms & self.shapes:
            return True
        long_words = other.long_words
        if not long_words:
            return False
        distance = _osa().distance
        return any(
            distance(mine, theirs, score_cutoff=1) <= 1
            for mine in self.norms
            for size in (len(mine) - 1, len(mine), len(mine) + 1)
            for theirs in long_words.get(size, ())
        )

    @functools.cached_property
    def long_words(self) -> dict[int, tuple[str, ...]]:
        """Words long enough that a typo in them is forgiven, by length."""
        found: dict[int, list[str]] = {}
        for norm in self.norms:
            if len(norm) >= TYPO_MIN_LENGTH:
                found.setdefault(len(norm), []).append(norm)
        return {size: tuple(words) for size, words in found.items()}


@dataclass(frozen=True)
class RegisteredName:
    """A registered name and where it comes from (``nameType``)."""

    name: str
    name_type: str
    branch_number: str | None = None


@dataclass(frozen=True)
class Difference:
    """A typed word and the registered word it differs from (None where one side has no counterpart)."""

    typed: str | None
    registered: str | None
    why: str = ""  # "particle" or "surname" where the two words are two different family names


@dataclass(frozen=True)
class Comparison:
    result: MatchResult
    score: float
    differences: tuple[Difference, ...] = ()
    why: str = ""


@dataclass(frozen=True)
class NameScore:
    candidate: RegisteredName
    score: float
    result: MatchResult = "mismatch"
    differences: tuple[Difference, ...] = ()


@dataclass(frozen=True)
class NameMatch:
    result: MatchResult
    score: float
    best: NameScore | None
    ranked: tuple[NameScore, ...]

    @property
    def differences(self) -> tuple[Difference, ...]:
        return self.best.differences if self.best else ()


# -- normalisation ------------------------------------------------------------------------------


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _known(word: str) -> bool:
    return (
        word in vocabulary.dictionary_words() or word in vocabulary.generic_words() or word in vocabulary.common_words()
    )


def _complete_elided(found: re.Match[str]) -> str:
    """Dutch writes "Turn- en Gymnastiekvereniging" for "Turnvereniging en Gymnastiekvereniging":
    give the first word the last one's tail (its longest ending that is a word of its own)."""
    head, joiner, last = found.group(1), found.group(2), found.group(3)
    folded = fold(last)
    tail = next((folded[start:] for start in range(1, len(folded) - 2) if _known(folded[start:])), None)
    return f"{head}{tail} {joiner} {last}" if tail else found.group()


def _tokens(text: str) -> list[tuple[str, str]]:
    """(word as compared, word as written); ``B.V.`` and ``v.d.`` stay one word, ``&`` reads ``en``."""
    return [(norm, shown) for norm, shown, _ in _marked_tokens(text)]


def _marked_tokens(text: str) -> list[tuple[str, str, bool]]:
    """As :func:`_tokens`, and whether the word is a genitive (``Jansen's`` reads ``jansen``)."""
    tokens = []
    for found in _TOKEN.finditer(_ELIDED.sub(_complete_elided, text[:MAX_NAME_LENGTH])):
        shown = found.group()
        if shown in ("&", "+"):
            tokens.append(("en", shown, False))
            continue
        genitive = _GENITIVE.match(shown)
        folded = fold(genitive.group(1) if genitive else shown)
        tokens += [(part, shown, bool(genitive)) for part in _WORD.findall(re.sub(rf"[.{_APOSTROPHES}]", "", folded))]
    return tokens


@functools.cache
def _legal_forms() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Legal forms as word sequences (written the way names are read), by first word, longest first."""
    forms: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for variant, canonical in vocabulary.legal_forms().items():
        words = tuple(word for word, _ in _tokens(variant))
        if words and all(words != known for known, _ in forms.get(words[0], [])):
            forms.setdefault(words[0], []).append((words, canonical))
    for entries in forms.values():
        entries.sort(key=lambda entry: -len(entry[0]))
    return forms


@functools.cache
def _place_words() -> frozenset[str]:
    fillers = {word for word, kind in vocabulary.generic_words().items() if kind == "filler"}
    return frozenset(word for place in vocabulary.places() for word in place.split() if word not in fillers)


def _canonical(word: str) -> list[str]:
    """A word as compared: number words as digits, abbreviations written out, ``and`` as ``en``."""
    if word in {"and", "und", "et"}:
        return ["en"]
    word = vocabulary.number_words().get(word, word)
    ordinal = _ORDINAL.match(word)
    if ordinal:
        return [f"{ordinal.group(1)}e"]
    expansion = vocabulary.abbreviations().get(word)
    parts = [part for part, _ in _tokens(expansion)] if expansion else [word]
    return [vocabulary.synonyms().get(part, part) for part in parts]


@functools.cache
def _osa() -> Any:
    """rapidfuzz's optimal-string-alignment distance; imported on first use (~25 ms of cold start)."""
    from rapidfuzz.distance import OSA

    return OSA


@functools.lru_cache(maxsize=65_536)
def kind_of(word: str) -> WordKind:
    generic = vocabulary.generic_words().get(word)
    if generic == "filler" or word == "en":
        return "filler"
    if word in vocabulary.entity_words():
        return "entity"
    surname_rank = vocabulary.surname_words().get(word)
    if surname_rank is not None and surname_rank <= SURNAME_FIRST_RANK:
        return "name"
    if generic is not None or word in _place_words():
        return "generic"
    if _dictionary_word(word):
        return "word"
    return "name"


def _dictionary_word(word: str) -> bool:
    """A dictionary word, or an inflected one (raadgevende, vrienden). Not -s: Bierens, Peters are names."""
    words = vocabulary.dictionary_words()
    return word in words or any(
        word.endswith(ending) and len(word) - len(ending) >= 4 and word[: -len(ending)] in words
        for ending in ("e", "en")
    )


@functools.lru_cache(maxsize=4096)
def parse(name: str) -> ParsedName:
    """The words of ``name`` (legal forms set aside) and the legal forms it states."""
    raw = _marked_tokens(name)
    forms_by_first = _legal_forms()
    words: list[Word] = []
    forms: set[str] = set()
    legal_text: list[str] = []
    index = 0
    while index < len(raw):
        for phrase, canonical in forms_by_first.get(raw[index][0], []):
            if tuple(word for word, _, _ in raw[index : index + len(phrase)]) == phrase:
                forms.add(canonical)
                legal_text.append(" ".join(dict.fromkeys(shown for _, shown, _ in raw[index : index + len(phrase)])))
                index += len(phrase)
                break
        else:
            norm, shown, genitive = raw[index]
            parts = _canonical(norm)
            plain = parts == [norm] == [fold(shown)] and shown.isascii()
            source = norm if len(parts) > 1 else ""
            words.extend(Word(part, shown, kind_of(part), plain, genitive, source) for part in parts)
            index += 1
    if not any(word.kind != "filler" for word in words) and forms:
        # A name that is nothing but a legal form ("Stichting") keeps it as its words.
        words = [Word(word, shown, kind_of(word)) for word, shown, _ in raw]
        forms = set()
    return ParsedName(_with_particles(words), frozenset(forms - _NO_IDENTITY_FORMS), " ".join(legal_text))


def _with_particles(words: list[Word]) -> tuple[Word, ...]:
    """Each name word with the particles written right before it (``van der`` + ``Velden``)."""
    result = list(words)
    start = 0
    while start < len(words):
        stop = start
        while stop < len(words) and words[stop].kind == "filler":
            stop += 1
        if start < stop < len(words):
            # The longest run of fillers right before the word that reads as its particles.
            for first in range(start, stop):
                options = _particle_readings(words[first:stop])
                if options and _name_like(options, words[stop]):
                    label = " ".join([*dict.fromkeys(word.shown for word in words[first:stop]), words[stop].shown])
                    result[stop] = dataclasses.replace(words[stop], particles=options, label=label)
                    break
        start = stop + 1
    return tuple(result)


def _particle_readings(run: Sequence[Word]) -> frozenset[str]:
    """What the particle words ``run`` may stand for: one reading, or each expansion of an
    abbreviation (``v.d.``); empty when they are not particles."""
    readings = [""]
    for position, word in enumerate(run):
        if word.source and position > 0 and run[position - 1].source == word.source:
            continue  # the rest of the same abbreviation, handled with its first word
        if word.source:
            spelled = [
                " ".join(_particle(part) for part in expansion.split()) for expansion in _expansions(word.source)
            ]
        else:
            spelled = [_particle(word.norm)]
        readings = [f"{reading} {option}".strip() for reading in readings for option in spelled]
    return frozenset(reading for reading in readings if reading in _PARTICLES)


def _particle(word: str) -> str:
    return _PARTICLE_SPELLING.get(word, word)


def _expansions(abbreviation: str) -> tuple[str, ...]:
    found = vocabulary.abbreviation_expansions()
    return found.get(abbreviation) or found.get(abbreviation + ".") or (abbreviation,)


@functools.cache
def _surnames_as_read() -> frozenset[str]:
    """Known surnames with their particles spelled as particles are compared (van 't hof: van het hof)."""
    return frozenset(
        " ".join(_particle(part) for part in name.replace("'", "").split()) for name in vocabulary.surnames()
    )


def _name_like(particles: frozenset[str], word: Word) -> bool:
    """Whether particles before ``word`` are a surname's rather than an article or a preposition."""
    if word.kind in ("filler", "entity") or not word.norm.isalpha():
        return False
    if word.kind == "name" or any(f"{reading} {word.norm}" in _surnames_as_read() for reading in particles):
        return True
    only_particles = all(" " in reading or reading in _ONLY_PARTICLES for reading in particles)
    return only_particles and word.norm in vocabulary.surname_words()


# -- comparison ---------------------------------------------------------------------------------


@dataclass
class _Pairing:
    typed: list[Word]
    registered: list[Word]
    typed_used: list[bool] = field(default_factory=list)
    registered_used: list[bool] = field(default_factory=list)
    typos: list[Difference] = field(default_factory=list)
    initialism: bool = False
    shorthand: bool = False  # a registered word's particles left out (Velden for Van der Velden)

    def __post_init__(self) -> None:
        self.typed_used = [word.kind == "filler" for word in self.typed]
        self.registered_used = [word.kind == "filler" for word in self.registered]

    def open_typed(self) -> list[int]:
        return [index for index, used in enumerate(self.typed_used) if not used]

    def open_registered(self) -> list[int]:
        return [index for index, used in enumerate(self.registered_used) if not used]


def _pair_equal(pairing: _Pairing) -> None:
    for index in pairing.open_typed():
        typed = pairing.typed[index]
        for other in pairing.open_registered():
            registered = pairing.registered[other]
            if _same_word(typed, registered) and _same_particles(typed, registered):
                pairing.typed_used[index] = pairing.registered_used[other] = True
                if registered.particles and not typed.particles:
                    pairing.shorthand = True
                    pairing.typos.append(Difference(typed.written, registered.written))
                break


def _same_word(typed: Word, registered: Word) -> bool:
    """Equal, or one a genitive with an apostrophe and the other the same without (Jansen's, Jansens)."""
    return (
        typed.norm == registered.norm
        or (registered.genitive and typed.norm == registered.norm + "s")
        or (typed.genitive and registered.norm == typed.norm + "s")
    )


def _same_particles(typed: Word, registered: Word) -> bool:
    """Particles the customer typed must be the registered ones (any reading of v.d. will do);
    particles left out are the customer's shorthand, particles added make another name."""
    if not typed.particles:
        return True
    return bool(typed.particles & registered.particles)


def _pair_compounds(words: list[Word], used: list[bool], others: list[Word], others_used: list[bool]) -> None:
    """A word on one side written as 2-3 consecutive words on the other (fillers included)."""
    for index, word in enumerate(words):
        if used[index]:
            continue
        for start in range(len(others)):
            for length in (2, 3):
                span = range(start, start + length)
                if span.stop > len(others) or any(
                    others_used[position] and others[position].kind != "filler" for position in span
                ):
                    continue
                if "".join(others[position].norm for position in span) == word.norm:
                    used[index] = True
                    for position in span:
                        others_used[position] = True
                    break
            if used[index]:
                break


def _runs(words: list[Word], open_: list[bool]) -> Iterable[tuple[str, list[int]]]:
    """Initials of each run of consecutive open words (starting and ending on a non-filler word),
    with the fillers' initials and without: "Kamer van Koophandel" gives kvk and kk."""
    for start in range(len(words)):
        if not open_[start] or words[start].kind == "filler":
            continue
        for stop in range(start + 1, len(words) + 1):
            if words[stop - 1].kind == "filler":
                continue  # fillers never stop a run: "Kamer van Koophandel"
            if not open_[stop - 1]:
                break
            run = list(range(start, stop))
            yield "".join(words[index].norm[0] for index in run), run
            yield "".join(words[index].norm[0] for index in run if words[index].kind != "filler"), run


def _explain(short: Word, words: list[Word], open_: list[bool]) -> list[int] | None:
    """The run of ``words`` whose initials ``short`` spells (``ANP``: Algemeen Nederlands Persbureau)."""
    if len(short.norm) not in INITIALISM_LENGTH:
        return None
    return next((run for initials, run in _runs(words, open_) if len(run) > 1 and initials == short.norm), None)


def _pair_initialisms(pairing: _Pairing) -> None:
    """An initialism on one side for a run of words on the other, or inside the registered name itself."""
    sides = ((pairing.typed, pairing.typed_used), (pairing.registered, pairing.registered_used))
    for (short_words, short_used), (long_words, long_used) in (sides, sides[::-1]):
        for index, word in enumerate(short_words):
            if short_used[index]:
                continue
            run = _explain(word, long_words, [not used for used in long_used])
            if run is not None:
                short_used[index] = True
                for position in run:
                    long_used[position] = True
                spelled = " ".join(long_words[position].shown for position in run)
                typed_side = short_words is pairing.typed
                pairing.typos.append(Difference(word.shown, spelled) if typed_side else Difference(spelled, word.shown))
                pairing.initialism = True
    # "Algemeen Nederlands Persbureau ANP", typed "ANP": the registered acronym explains its own words.
    for index, word in enumerate(pairing.registered):
        if pairing.registered_used[index] and word.kind != "filler":
            others = [not used for used in pairing.registered_used]
            run = _explain(word, pairing.registered, others)
            for position in run or ():
                pairing.registered_used[position] = True


def _is_known_word(word: str, company_words: frozenset[str]) -> bool:
    return (
        word in company_words
        or word in vocabulary.common_words()
        or word in vocabulary.dictionary_words()
        or word in vocabulary.surname_words()
        or word in _place_words()
        or word in vocabulary.generic_words()
    )


def _pair_typos(pairing: _Pairing, company_words: frozenset[str]) -> None:
    for index in pairing.open_typed():
        typed = pairing.typed[index]
        if _is_known_word(typed.norm, company_words):
            continue  # another real word or name is a different name, not a typo
        for other in pairing.open_registered():
            registered = pairing.registered[other]
            if (
                len(registered.norm) >= TYPO_MIN_LENGTH
                and _osa().distance(typed.norm, registered.norm) == 1
                and not _name_variant(typed.norm, registered.norm)
            ):
                pairing.typed_used[index] = pairing.registered_used[other] = True
                pairing.typos.append(Difference(typed.shown, registered.shown))
                break


def _name_variant(one: str, other: str) -> bool:
    """Spellings that make another Dutch family name rather than a misspelling, listed or not: a
    trailing s or se (Rademaker / Rademakers, Gerrits / Gerritse), a final d / t (Lensveld /
    Lensvelt), a doubled final consonant (Hartman / Hartmann), ck or c for k (Dekker / Decker)."""
    short, long_ = sorted((one, other), key=len)
    if long_ in (short + "s", short + "e") and (long_.endswith("s") or short.endswith("s")):
        return True
    if short[:-1] == long_[:-1] and {short[-1], long_[-1]} == {"d", "t"}:
        return True
    if long_ == short + short[-1] and short[-1] not in "aeiou":
        return True
    return one.replace("ck", "k").replace("c", "k") == other.replace("ck", "k").replace("c", "k")


def _differences(pairing: _Pairing) -> list[Difference]:
    """Typos, then changed words (an added word beside a similar dropped one), then the rest."""
    added = [pairing.typed[index] for index in pairing.open_typed()]
    dropped = [pairing.registered[index] for index in pairing.open_registered()]
    found = list(pairing.typos)
    for word in list(added):
        similar = max(dropped, key=lambda other: _osa().normalized_similarity(word.norm, other.norm), default=None)
        if similar is not None and _osa().normalized_similarity(word.norm, similar.norm) >= 0.5:
            found.append(Difference(word.written, similar.written, _why_different(word, similar)))
            added.remove(word)
            dropped.remove(similar)
    found += [Difference(word.written, None) for word in added] + [Difference(None, word.written) for word in dropped]
    return found


def _why_different(typed: Word, registered: Word) -> str:
    """ "particle" for the same surname after other particles, "surname" for two family names."""
    if typed.norm == registered.norm and typed.particles and registered.particles:
        return "particle"
    surnames = vocabulary.surname_words()
    if (typed.particles or typed.norm in surnames) and (registered.particles or registered.norm in surnames):
        return "surname"
    return ""


def compare(
    typed: str | ParsedName, registered: str | ParsedName, company_words: Callable[[], Iterable[str]] = tuple
) -> Comparison:
    """Compare a typed name with one registered name. ``company_words``: every word of the company's
    names (a typed word equal to one of them is not a typo of another), asked for only when needed."""
    left = parse(typed) if isinstance(typed, str) else typed
    right = parse(registered) if isinstance(registered, str) else registered
    if not left.may_pair_with(right):
        return Comparison("mismatch", _similarity(left, right), (), "nothing in common")
    known = frozenset(company_words()) | right.norms
    pairing = _Pairing(list(left.words), list(right.words))
    _pair_equal(pairing)
    _pair_compounds(pairing.typed, pairing.typed_used, pairing.registered, pairing.registered_used)
    _pair_compounds(pairing.registered, pairing.registered_used, pairing.typed, pairing.typed_used)
    _pair_initialisms(pairing)
    _pair_typos(pairing, known)
    differences = _differences(pairing)
    forms_differ = bool(left.legal_forms and right.legal_forms and not left.legal_forms & right.legal_forms)
    if forms_differ:
        differences.append(Difference(left.legal_text or None, right.legal_text or None))
    result, why = _judge(pairing, forms_differ)
    score = 1.0 if result == "match" else _similarity(left, right)
    return Comparison(result, score, tuple(differences), why)


def _similarity(left: ParsedName, right: ParsedName) -> float:
    """How alike the two names look, 0..1, for ordering and display (the result is decided by words)."""
    from rapidfuzz.fuzz import ratio

    return round(ratio(left.key, right.key) / 100, 4)  # keys are sorted words: a token-sort ratio


def _judge(pairing: _Pairing, forms_differ: bool) -> tuple[MatchResult, str]:
    added = [pairing.typed[index] for index in pairing.open_typed()]
    dropped = [pairing.registered[index] for index in pairing.open_registered()]
    kept = [
        word for word, used in zip(pairing.typed, pairing.typed_used, strict=True) if used and word.kind != "filler"
    ]
    if added:
        return "mismatch", "a word the registered name does not have (changed or added)"
    if not kept:
        return "mismatch", "nothing in common"
    if any(word.kind in ("name", "entity") for word in dropped):
        return "mismatch", "a distinctive word of the registered name is missing"
    if not pairing.initialism:
        # Dropping generic words keeps the name if anything else is kept; dropping an ordinary
        # word ("Test" of "Test BV Donald") only if a name is kept.
        needed = ("name",) if any(word.kind == "word" for word in dropped) else ("name", "word")
        if dropped and not any(word.kind in needed for word in kept):
            return "mismatch", "nothing distinctive left of the registered name"
    if dropped or pairing.typos or pairing.initialism or pairing.shorthand or forms_differ:
        return "partial", "the customer's shorthand"
    return "match", "the same words"


# -- many registered names ----------------------------------------------------------------------


def _rank(comparison: Comparison) -> tuple[int, float]:
    return _RESULT_ORDER[comparison.result], -comparison.score


@functools.lru_cache(maxsize=4096)
def also_called(name: str) -> tuple[str, ...]:
    """A registered name and the names it holds: the part in brackets or quotes, and the rest without it."""
    inside = [first or second for first, second in _ALSO_CALLED.findall(name)]
    if not inside:
        return (name,)
    outside = _ALSO_CALLED.sub(" ", name)
    return tuple(dict.fromkeys(part.strip() for part in [name, outside, *inside] if part.strip()))


def best_match(typed: str, candidates: Sequence[RegisteredName]) -> NameMatch:
    """Compare ``typed`` with every registered name; best first (match, then partial; then the score;
    ties: statutory name before trade names)."""
    seen: set[tuple[str, str, str | None]] = set()
    unique = []
    for candidate in candidates:
        identity = (candidate.name, candidate.name_type, candidate.branch_number)
        if candidate.name and identity not in seen:
            seen.add(identity)
            unique.append(candidate)
    if not unique:
        return NameMatch("mismatch", 0.0, None, ())
    left = parse(typed)
    forms = [[parse(name) for name in also_called(candidate.name)] for candidate in unique]

    @functools.cache
    def company_words() -> frozenset[str]:
        return frozenset(norm for names in forms for name in names for norm in name.norms)

    ranked = []
    for candidate, names in zip(unique, forms, strict=True):
        if len(names) == 1 and not left.may_pair_with(names[0]):  # the common case, kept cheap
            ranked.append(NameScore(candidate, _similarity(left, names[0])))
            continue
        comparisons = [compare(left, name, company_words) for name in names]
        found = comparisons[0] if len(comparisons) == 1 else min(comparisons, key=_rank)
        ranked.append(NameScore(candidate, found.score, found.result, found.differences))
    ranked.sort(
        key=lambda item: (
            _RESULT_ORDER[item.result],
            -item.score,
            _TYPE_PREFERENCE.get(item.candidate.name_type, 9),
        )
    )
    best = ranked[0]
    return NameMatch(best.result, best.score, best, tuple(ranked))


def search_words(typed: str) -> tuple[str, bool] | None:
    """The words to ask KVK's whole-word name search for, and whether its answer is conclusive.

    Legal forms and fillers (surname particles too) are left out (KVK may write them otherwise).
    Inconclusive: a word was rewritten (abbreviation, number word, ``&``), had letters beyond a–z or
    an apostrophe (Jansen's: KVK may have Jansens), or reads as a genitive without its apostrophe
    (KVK may have Jansen's), so KVK's own spelling may differ; a miss then does not prove the name
    is not registered. None: nothing to search on.
    """
    words = [word for word in parse(typed).words if word.kind != "filler"]
    if not words:
        return None
    # Joined or split words (Jansen-Verhoeven, A/B, &) may be one word or two in KVK's index.
    plain = all(word.plain for word in words) and not any(mark in typed for mark in "-/&+")
    plain = plain and not any(_genitive_without_apostrophe(word.norm) for word in words)
    return " ".join(dict.fromkeys(word.norm for word in words)), plain


def _genitive_without_apostrophe(word: str) -> bool:
    """A word that is no word or name of its own but a name with an s (Piets: Piet's). A word that is
    a name itself (Peters, Smits, Jansens) is taken as written, so ordinary names stay conclusive."""
    if len(word) < 4 or not word.endswith("s") or _is_known_word(word, frozenset()):
        return False
    stem = word[:-1]
    return stem in vocabulary.surname_words() or stem in vocabulary.common_words()

"""Build ``kvkgate/domain/vocabulary/company_words.tsv``: whole words of Dutch company names, each
with an estimate of how often company names hold it, for completing the word a person is typing.

No list of Dutch company names with word counts was at hand whose names are not also the
benchmark's (``make bench-search`` types names of the IND register: a vocabulary from that register
would measure itself), so the estimate combines the project's other vocabularies, each with its
own source (their headers say which):

* trade and organisation words (SBI 2008 activity titles, hand-read): names are made of them;
* Dutch surnames with their bearers (Meertens NFB 2007) and the longer ordered list after them:
  the commonest names of small businesses are a trade and a family name;
* Dutch places (CBS/BAG woonplaatsen);
* the 20,000 most frequent Dutch words (wordfreq 3.1.1), for everything else;
* the 20,000 most frequent English words (wordfreq 3.1.1, ``local/data/english_words.txt``): Dutch
  company names are full of English (solutions, services, access, advanced).

A word's weight is its Zipf estimate from its frequency rank, raised for the kinds above by
factors chosen so that trade, organisation and family words come before ordinary words of the same
frequency. Fillers (``de``, ``van``), legal forms and words shorter than 3 letters are left out:
asking KVK about them finds everyone. Run ``python -m local.build_company_words`` to rebuild.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

VOCABULARY = Path(__file__).resolve().parents[1] / "layers" / "kvkgate" / "kvkgate" / "domain" / "vocabulary"
OUT = VOCABULARY / "company_words.tsv"
ENGLISH = Path(__file__).resolve().parent / "data" / "english_words.txt"  # build input only, not shipped
MIN_LETTERS = 3
COMMON_WORDS = 12_000  # ordinary words past this rank are too rare to be worth a question to KVK
# How much more often a word of each kind appears in company names than in running text.
TRADE_FACTOR, ORGANISATION_FACTOR, SURNAME_FACTOR, PLACE_FACTOR, ORDINARY_FACTOR = 40.0, 30.0, 0.2, 3.0, 0.1
ENGLISH_FACTOR = 0.1  # an English word in a Dutch company name: as often as a Dutch word of the same rank
FUNCTION_WORDS = 400  # the most frequent words of running text, left out unless they are of a kind above


def _lines(name: str) -> list[list[str]]:
    return _read(VOCABULARY / name)


def _read(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _usable(word: str) -> bool:
    return len(word) >= MIN_LETTERS and word.isalpha() and word.isascii()


def weights() -> dict[str, float]:
    common = [line[0] for line in _lines("common_words.txt")]
    rank = {word: index + 1 for index, word in enumerate(common)}
    kinds = {word.replace("'", ""): kind for word, kind in _lines("generic_words.tsv")}
    skipped = {word for word, kind in kinds.items() if kind == "filler"}
    skipped |= {part for variant in (line[0] for line in _lines("legal_forms.tsv")) for part in variant.split()}
    skipped |= {"van", "der", "den", "ter", "ten", "het", "and", "the", "voor", "met"}

    def zipf(word: str) -> float:
        """Words per million of running text, by Zipf's law from the word's rank (unranked: rarer than all)."""
        return 1e5 / (rank.get(word, 2 * len(common)) + 10)

    weight: dict[str, float] = {}

    def add(word: str, value: float) -> None:
        if _usable(word) and word not in skipped:
            weight[word] = max(weight.get(word, 0.0), value)

    for position, word in enumerate(common[:COMMON_WORDS]):
        if position >= FUNCTION_WORDS:  # the most frequent words are function words (dat, niet, zijn)
            add(word, ORDINARY_FACTOR * zipf(word))
    english = [line[0] for line in _read(ENGLISH)]
    for position, word in enumerate(english[:COMMON_WORDS]):
        if position >= FUNCTION_WORDS:
            add(word, ENGLISH_FACTOR * 1e5 / (position + 10))
    for word, kind in kinds.items():
        if kind in ("trade", "organisation"):
            add(word, zipf(word) * (TRADE_FACTOR if kind == "trade" else ORGANISATION_FACTOR) + 1.0)
    surname_lines = _lines("surnames.tsv")
    total = sum(int(count) for _, count in surname_lines)
    for name, count in surname_lines:
        for part in name.split():
            # bearers per million people, as often as a business is named after them
            add(part, SURNAME_FACTOR * 1e6 * int(count) / total / 10 + zipf(part))
    for position, line in enumerate(_lines("surnames_more.txt")):
        for part in line[0].split():
            add(part, SURNAME_FACTOR * 30.0 / (1 + position / 500))
    for line in _lines("places.txt"):
        for part in line[0].replace("-", " ").split():
            add(part, PLACE_FACTOR * max(zipf(part), 1.0))
    return weight


def main() -> None:
    built = sorted(weights().items(), key=lambda item: (-item[1], item[0]))
    header = f"""# company_words.tsv -- whole words of Dutch company names, with how often names are estimated to
# hold them (a relative weight, larger is more often), for completing the word a person is typing
# into a sign-up form (kvkgate.domain.completions). Columns: word<TAB>weight. Lower-case, letters a-z
# only, at least {MIN_LETTERS} letters; fillers (de, van, en), legal forms and words KVK's search would find
# everywhere are left out. Most frequent first.
# Built {dt.date.today().isoformat()} for kvkgate (issue #21) by local/build_company_words.py from the vocabularies
# beside this file, whose headers name their sources: generic_words.tsv (trade and organisation words,
# from the SBI 2008 activity titles of CBS), surnames.tsv (Meertens Nederlandse Familienamenbank, 2007
# counts), surnames_more.txt (an ordered list of further Dutch surnames), places.txt (CBS/BAG
# woonplaatsen), common_words.txt (wordfreq 3.1.1, Dutch words {FUNCTION_WORDS} to {COMMON_WORDS}) and the English words
# {FUNCTION_WORDS} to {COMMON_WORDS} of wordfreq 3.1.1 (local/data/english_words.txt). A weight is the word's Zipf
# estimate from its frequency rank, {ORDINARY_FACTOR:g}x for an ordinary word, raised for trade
# ({TRADE_FACTOR:g}x), organisation ({ORGANISATION_FACTOR:g}x) and place ({PLACE_FACTOR:g}x) words, and for surnames by
# their bearers: an estimate, not a count of company names (no list of Dutch company names with counts was at
# hand that the benchmark does not also use).
# At run time the words of KVK's own answers are added (kvkgate.domain.completions.Completions).
"""
    rows = "".join(f"{word}\t{value:.1f}\n" for word, value in built)
    OUT.write_text(header + rows, encoding="utf-8")
    print(f"{OUT}: {len(built)} words")


if __name__ == "__main__":
    main()

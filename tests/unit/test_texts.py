"""Every text in English and Dutch: the same keys and placeholders, every key the code uses, every
outcome a person can meet, and Dutch that is Dutch (its words in a Dutch word list, no English)."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from kvkgate import texts
from kvkgate.app.http import AuthenticationRequired, BadRequest, NoRoute, outcome_to_http
from kvkgate.domain.numbers import NumberFormatError, parse_kvk_number, parse_postcode
from kvkgate.domain.outcomes import Busy, CallerBudgetExceeded, NotRegistered, PaidLookupRefused, Unavailable

LAYER = Path(texts.__file__).resolve().parents[1]
VOCABULARY = LAYER / "domain" / "vocabulary"
# Not Dutch or English but names the texts use as they are: field names, formats, products.
NAMES = {"kvk", "json", "utf", "base64", "jwt", "iam", "customersignedup", "enter", "true", "false", "null", "proef"}
# Common English words that are not also Dutch words ("was", "been", "later", "of" are Dutch too).
ENGLISH_ONLY = {
    "the", "please", "could", "not", "this", "has", "with", "should", "your", "you", "which", "must", "cannot",
    "field", "only", "registered", "try", "again", "name", "company", "number", "characters", "digits", "least",
    "most", "too", "many", "are", "to", "and", "but", "longer", "active", "found", "checked", "spent", "lookup",
    "lookups", "while", "there", "than", "from", "for", "it", "its", "be", "no", "yes", "what", "when", "where",
}  # fmt: skip
# Texts that are the same word in both languages, or hold nothing but placeholders.
SAME_IN_BOTH = {"demo.postcode.label", "label.postcode", "label.rsin", "demo.rsin.label", "field.labelled"}
# Keys whose Dutch text is deliberately not Dutch: the language switch names the other language.
NOT_DUTCH = {"demo.language"}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def dutch_words() -> set[str]:
    words: set[str] = set()
    for name in ("common_words.txt", "dictionary_words.txt"):
        lines = (VOCABULARY / name).read_text(encoding="utf-8").splitlines()
        words |= {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    return words


def test_both_languages_have_every_key_with_the_same_placeholders() -> None:
    english, dutch = texts.catalogue("en"), texts.catalogue("nl")
    assert english.keys() == dutch.keys()
    for key in english:
        assert placeholders(english[key]) == placeholders(dutch[key]), key
        assert english[key] != dutch[key] or key in SAME_IN_BOTH, f"{key} is not translated"


def test_every_key_the_code_says_exists() -> None:
    used = set()
    for path in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "say" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    used.add(first.value)
    assert len(used) > 40
    assert used <= texts.catalogue("en").keys(), used - texts.catalogue("en").keys()


OUTCOMES = [
    BadRequest("x"),
    AuthenticationRequired("GET /v1/companies/{kvkNumber}"),
    NotRegistered("12345678"),
    NoRoute("/v2"),
    CallerBudgetExceeded("ip:x", 60, 12.0),
    PaidLookupRefused(3600),
    Busy(1.0),
    RuntimeError("a bug"),
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda outcome: type(outcome).__name__)
def test_every_problem_reads_in_both_languages(outcome: Exception) -> None:
    rendered = {}
    for language in texts.LANGUAGES:
        with texts.speaking(language):
            _, body, _ = outcome_to_http(outcome)
            rendered[language] = (body["title"], body["detail"] if not isinstance(outcome, BadRequest) else "")
    assert rendered["en"][0] != rendered["nl"][0]
    assert rendered["en"][1] != rendered["nl"][1] or isinstance(outcome, BadRequest)


def test_outages_and_number_rules_read_in_both_languages() -> None:
    for make in (Unavailable.kvk_down, Unavailable.budget_spent):
        with texts.speaking("en"):
            english = make().message
        with texts.speaking("nl"):
            dutch = make().message
        assert english != dutch
    for parse, value in ((parse_kvk_number, "1234"), (parse_kvk_number, "12ab5678"), (parse_postcode, "0123AB")):
        messages = []
        for language in texts.LANGUAGES:
            with texts.speaking(language), pytest.raises(NumberFormatError) as error:
                parse(value)
            messages.append(error.value.message)
        assert messages[0] != messages[1]


def test_the_dutch_texts_are_dutch_sentences() -> None:
    known = dutch_words()
    for key, text in texts.catalogue("nl").items():
        if key in NOT_DUTCH:
            continue
        # What a placeholder fills in, quoted values and camelCase field names are not words to judge.
        bare = re.sub(r"‘[^’]*’|\{[^}]*\}|[0-9]+", " ", text)
        words = [word for word in re.findall(r"[^\W\d_]+", bare.lower()) if word not in NAMES]
        folded = [texts_fold(word) for word in words]
        assert not [word for word in words if word in ENGLISH_ONLY], f"{key} has English in it: {text!r}"
        unknown = [word for word in folded if word not in known and not _compound_of_known(word, known)]
        assert len(unknown) <= max(1, len(folded) // 5), f"{key}: {unknown} in {text!r}"
        sentence = ("reason.", "signup.", "problem.", "number.", "field.", "search.", "body.not", "body.too")
        if key.startswith(sentence) and not key.startswith("problem.title"):
            assert text.rstrip()[-1] in ".?!:" or text.endswith("}"), f"{key} is not a sentence: {text!r}"


def texts_fold(word: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _compound_of_known(word: str, known: set[str]) -> bool:
    """Dutch writes compounds as one word (KVK-opvragingen, elfproef): known parts make a known word."""
    return any(word[:cut] in known and (word[cut:] in known or word[cut:].rstrip("s") in known)
               for cut in range(3, len(word) - 2))  # fmt: skip


def test_the_issues_example_sentence() -> None:
    with texts.speaking("nl"):
        assert texts.say("reason.NOT_REGISTERED", kvk="12345678") == "KVK-nummer 12345678 is niet ingeschreven bij KVK."


# "de KVK", "the KVK" (but "het KVK-nummer", "the KVK number" are fine), and the long names KVK no longer uses.
ARTICLE_KVK = r"\b(de|het|the) KVK(?![-\w ]number)(?![-\w])|Kamer van Koophandel|Chamber of Commerce"
# The request's field names: machine-readable, English; a person reads "KVK-nummer", "huisnummer".
FIELD_NAMES = ("kvkNumber", "tradeName", "houseNumber", "branchNumber", "includeInactive", "postcode", "rsin", "city")
# Texts for developers (a body's media type, how to authenticate, an event's fields), not for a person filling a form.
FOR_DEVELOPERS = {"problem.UNSUPPORTED_MEDIA_TYPE", "problem.AUTHENTICATION_REQUIRED", "reason.INVALID_REQUEST"}


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_texts_a_person_reads_name_fields_in_words_kvk_without_article_and_quote_typographically(language: str) -> None:
    for key, text in texts.catalogue(language).items():
        if key in FOR_DEVELOPERS or key.startswith("label."):
            continue
        words = re.sub(r"\{[^}]*\}", " ", text)
        camel = [name for name in FIELD_NAMES if re.search(rf"\b{name}\b", words) and name not in ("postcode", "rsin")]
        assert not camel, f"{key} names a field by its machine name: {text!r}"
        assert "'" not in words.replace("’", ""), f"{key} quotes with straight quotes: {text!r}"
        assert not re.search(ARTICLE_KVK, words, re.I), f"{key}: KVK's style is 'KVK', without an article: {text!r}"


def test_no_cost_or_quota_internals_in_a_persons_text() -> None:
    """Operators read about paid lookups and quotas in logs and metrics; a person is told to try later."""
    for language in texts.LANGUAGES:
        for key, text in texts.catalogue(language).items():
            if key.startswith(("reason.", "signup.", "demo.", "problem.")) and key not in FOR_DEVELOPERS:
                assert not re.search(r"betaald|paid|quota|limiet|limit|budget", text, re.I), f"{key}: {text!r}"


def test_field_errors_name_the_field_in_the_readers_language() -> None:
    from pydantic import ValidationError

    from kvkgate.domain.contracts import ValidationRequest, field_errors

    cases: list[tuple[texts.Language, str, str]] = [("nl", "KVK-nummer", "verplicht"), ("en", "KVK number", "required")]
    for language, label, missing in cases:
        with texts.speaking(language):
            with pytest.raises(ValidationError) as error:
                ValidationRequest.model_validate({"tradeName": "x"})
            (problem,) = field_errors(error.value)
        assert problem["field"] == "kvkNumber"
        assert problem["message"].startswith(label + ":") and missing in problem["message"]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("nl-NL,nl;q=0.9", "nl"),
        ("NL", "nl"),
        ("en", "en"),
        ("", "en"),
        (None, "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("fr;q=1, nl;q=0.5, en;q=0.4", "nl"),
        ("en;q=0.2, nl;q=0.8", "nl"),
        ("nl;q=0, en", "en"),
        ("nl;q=abc, en;q=0.5", "en"),
        ("*", "en"),
        (",".join(["x"] * 25 + ["nl"]), "en"),  # a hostile header is not read to its end
    ],
)
def test_accept_language_picks_the_best_language_kvkgate_speaks(header: str | None, language: str) -> None:
    assert texts.from_accept_language(header, "en") == language


def test_docs_messages_lists_every_message_as_the_catalogues_say_it() -> None:
    from local import messages_doc

    assert messages_doc.PAGE.read_text(encoding="utf-8") == messages_doc.render(), "python -m local.messages_doc"
    page = messages_doc.PAGE.read_text(encoding="utf-8")
    assert all(f"`{key}`" in page for key in texts.catalogue("nl"))

"""domain.names: the customer's own shorthand is ``partial``, a look-alike company is ``mismatch``."""

from __future__ import annotations

import pytest

from kvkgate.domain.names import RegisteredName, best_match, compare, parse, search_words

# The table of issue #13: typed, registered, expected result.
ISSUE_TABLE = [
    ("Bakkerij De Hoek B.V.", "Bakkerij 't Hoekje B.V.", "mismatch"),  # another company
    ("Jansen BV", "Janssen BV", "mismatch"),  # another family
    ("De Vries Bouw", "Bouwbedrijf De Vries", "mismatch"),  # unclear without more words: not valid on the name alone
    ("ING", "ING Bank N.V.", "partial"),  # the customer's shorthand
    ("Donald BV", "Test BV Donald", "partial"),  # the customer's shorthand
]

CASES = [
    # the same words after normalisation
    ("test emz dagobert", "Test EMZ Dagobert", "match"),
    ("Coöperatie Rabobank U.A.", "Cooperatie Rabobank", "match"),
    ("Gebr. Jansen", "Gebroeders Jansen B.V.", "match"),
    ("Jansen & Zonen", "Jansen en Zonen B.V.", "match"),
    ("Drie Gebroeders", "3 Gebroeders B.V.", "match"),
    ("Van den Berg Transport", "Vandenberg Transport B.V.", "match"),
    ("Dagobert EMZ Test", "Test EMZ Dagobert", "match"),
    ("Heineken Besloten Vennootschap", "Heineken B.V.", "match"),
    ("Jansen's Bakkerij", "Jansen Bakkerij", "match"),
    # the customer's shorthand
    ("Heineken", "Heineken Nederland B.V.", "partial"),
    ("Heinekne", "Heineken N.V.", "partial"),  # one slip inside a long name
    ("AH", "Albert Heijn B.V.", "partial"),  # initialism
    ("Jansen B.V.", "Jansen V.O.F.", "partial"),  # another legal form stated
    # another company
    ("Jansen Holding B.V.", "Jansen B.V.", "mismatch"),
    ("Jansen B.V.", "Jansen Holding B.V.", "mismatch"),
    ("Jansen Vastgoed", "Jansen B.V.", "mismatch"),
    ("Bakkerij", "Bakkerij Jansen", "mismatch"),  # nothing distinctive left
    ("Albert", "Albert Heijn B.V.", "mismatch"),  # a distinctive word dropped
    ("Bouwbedrijf Van Dam", "Bouwbedrijf Van Dijk", "mismatch"),
    ("B.V.", "Jansen B.V.", "mismatch"),
]


@pytest.mark.parametrize(("typed", "registered", "expected"), ISSUE_TABLE + CASES)
def test_each_case_lands_where_a_person_would_put_it(typed: str, registered: str, expected: str) -> None:
    assert compare(typed, registered).result == expected


def test_differences_say_which_words_differ() -> None:
    found = compare("Bakkerij De Hoek B.V.", "Bakkerij 't Hoekje B.V.")
    assert [(item.typed, item.registered) for item in found.differences] == [("Hoek", "Hoekje")]
    dropped = compare("ING", "ING Bank N.V.")
    assert [(item.typed, item.registered) for item in dropped.differences] == [(None, "Bank")]
    typo = compare("Heinekne", "Heineken N.V.")
    assert [(item.typed, item.registered) for item in typo.differences] == [("Heinekne", "Heineken")]
    forms = compare("Jansen B.V.", "Jansen V.O.F.")
    assert [(item.typed, item.registered) for item in forms.differences] == [("B.V.", "V.O.F.")]


def test_a_slip_that_makes_another_known_name_is_not_a_typo() -> None:
    assert compare("Jansen", "Janssen").result == "mismatch"  # Jansen is a surname of its own
    assert compare("Jansn", "Jansen").result == "mismatch"  # under 7 letters: no typo tolerance
    company = ["Dagobert Holding", "Dagoberta Holding"]
    found = best_match("Dagoberta", [RegisteredName(name, "tradeName") for name in company])
    assert found.best is not None
    assert found.best.candidate.name == "Dagoberta Holding"


def test_the_best_registered_name_wins_and_statutory_names_break_ties() -> None:
    names = [
        RegisteredName("Test BV Donald", "tradeName", "000037178598"),
        RegisteredName("Test BV Donald", "statutoryName"),
        RegisteredName("Donald Duck Holding", "tradeName", "000037178601"),
    ]
    found = best_match("test bv donald", names)
    assert (found.result, found.score) == ("match", 1.0)
    assert found.best is not None
    assert found.best.candidate.name_type == "statutoryName"
    assert [item.result for item in found.ranked] == ["match", "match", "mismatch"]
    assert best_match("x", []).result == "mismatch"


def test_legal_forms_and_fillers_are_set_aside() -> None:
    parsed = parse("Stichting Vrienden van het Rijksmuseum")
    assert parsed.legal_forms == {"stichting"}
    assert [word.norm for word in parsed.words if word.kind != "filler"] == ["vrienden", "rijksmuseum"]
    alone = parse("Stichting")  # nothing but a legal form: that is the name
    assert [word.norm for word in alone.words] == ["stichting"]


def test_what_kvks_whole_word_search_is_asked_and_whether_a_miss_proves_anything() -> None:
    assert search_words("Bakkerij 't Hoekje B.V.") == ("bakkerij hoekje", True)
    assert search_words("Gebr. Jansen") == ("gebroeders jansen", False)  # KVK may have "Gebr."
    assert search_words("Jansen & Zonen") == ("jansen zonen", False)
    assert search_words("Café De Zon")[1] is False  # type: ignore[index]
    assert search_words("Hoogendoorn-Verhoeven")[1] is False  # type: ignore[index]
    assert search_words("de het 't") is None  # nothing to search on


def test_very_long_and_odd_input_is_bounded() -> None:
    long_name = "Jansen " * 1000
    assert len(parse(long_name).words) <= 100
    assert compare("\x00\x01", "Jansen").result == "mismatch"

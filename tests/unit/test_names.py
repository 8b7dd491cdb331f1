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
    # issue #20: particles belong to the surname
    ("Van der Velden Bouw", "van der velden bouw", "match"),  # capitalised otherwise
    ("v.d. Velden Bouw", "Van der Velden Bouw", "match"),  # abbreviated: van de, van der or van den
    ("vd Berg", "Van den Berg B.V.", "match"),
    ("Gebr. van het Hek", "Gebr. van 't Hek B.V.", "match"),  # 't is het
    ("Velden Bouw", "Van der Velden Bouw", "partial"),  # particles left out: shorthand
    ("Van den Velden Bouw", "Van der Velden Bouw", "mismatch"),  # another family
    ("Van de Ven Bouw", "Van der Ven Bouw", "mismatch"),
    ("De Vries Bouw", "Den Vries Bouw", "mismatch"),
    ("Vanderberg Transport", "Van den Berg Transport", "mismatch"),  # written together, another particle
    ("Van Dijk Bouw", "Dijk Bouw", "mismatch"),  # a particle the registration does not have
    # articles and prepositions that are no particles stay fillers
    ("Bakkerij Hoek", "Bakkerij De Hoek", "match"),
    ("Huis Eten", "Huis van Eten", "match"),
    ("Stichting Regenboog", "Stichting De Regenboog", "match"),
    # another real surname is another family; a slip that makes no name is a typo
    ("Gerrits Bouw", "Gerritse Bouw", "mismatch"),  # -s / -se
    ("Mol Installatie", "Moll Installatie", "mismatch"),  # doubled final consonant
    ("Decker Bouw", "Dekker Bouw", "mismatch"),  # ck / k, listed or not
    ("Backer Bouw", "Bakker Bouw", "mismatch"),
    ("Vermaat Servicekantoor", "Vermaas Servicekantoor", "mismatch"),  # both known surnames
    ("Kuijpres Beveiliging", "Kuijpers Beveiliging", "partial"),  # a typo makes no name
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


@pytest.mark.parametrize(
    "typed", ["Jansens Patisserie", "Jansen's Patisserie", "Jansen’s Patisserie", "Jansen s Patisserie"]
)
@pytest.mark.parametrize("registered", ["Jansen's Patisserie", "Jansens Patisserie", "Jansen’s Patisserie B.V."])
def test_a_genitive_is_one_word_however_it_is_written(typed: str, registered: str) -> None:
    assert compare(typed, registered).result == "match"


def test_elisions_are_one_word_however_they_are_written() -> None:
    for typed in ("LOreal Nederland", "L’Oréal Nederland", "L Oreal Nederland"):
        assert compare(typed, "L'Oreal Nederland B.V.").result == "match"
    for typed in ("’t Bikertje", "t Bikertje", "Het Bikertje"):
        assert compare(typed, "'T Bikertje").result == "match"
    assert compare("Piets", "Piet's").result == "match"  # short words too
    assert compare("Peters Bakkerij", "Piet's Bakkerij").result == "mismatch"


def test_the_difference_names_the_particles_and_the_surname() -> None:
    found = compare("Van den Velden Bouw", "Van der Velden Bouw B.V.")
    assert [(item.typed, item.registered, item.why) for item in found.differences] == [
        ("Van den Velden", "Van der Velden", "particle")
    ]
    dropped = compare("Velden Bouw", "Van der Velden Bouw")
    assert [(item.typed, item.registered) for item in dropped.differences] == [("Velden", "Van der Velden")]
    surname = compare("Gerrits Bouw", "Gerritse Bouw")
    assert [(item.typed, item.registered, item.why) for item in surname.differences] == [
        ("Gerrits", "Gerritse", "surname")
    ]


def test_particles_are_read_as_particles_only_before_a_name() -> None:
    def particles(name: str) -> dict[str, set[str]]:
        return {word.norm: set(word.particles) for word in parse(name).words if word.particles}

    assert particles("Bouwbedrijf Van der Velden & De Vries") == {"velden": {"van der"}, "vries": {"de"}}
    assert particles("Metaalbewerking v.d. Boogaert") == {"boogaert": {"van de", "van der", "van den"}}
    assert particles("Bakkerij De Hoek") == {}  # an article before an ordinary word
    assert particles("Kamer van Koophandel") == {}
    assert particles("Stichting De Regenboog") == {}


def test_a_plain_name_stays_conclusive_and_a_genitive_may_be_spelt_otherwise_by_kvk() -> None:
    assert search_words("Bakkerij Van der Velden") == ("bakkerij velden", True)  # particles are not searched
    assert search_words("Peters Bakkerij") == ("peters bakkerij", True)  # a surname of its own
    assert search_words("Jansen's Patisserie") == ("jansen patisserie", False)  # KVK may have Jansens
    assert search_words("Piets Patisserie") == ("piets patisserie", False)  # KVK may have Piet's


def test_very_long_and_odd_input_is_bounded() -> None:
    long_name = "Jansen " * 1000
    assert len(parse(long_name).words) <= 100
    assert compare("\x00\x01", "Jansen").result == "mismatch"

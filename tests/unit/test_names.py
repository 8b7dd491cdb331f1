"""Trade-name matching, table-driven: what a customer types against what KVK registered."""

from __future__ import annotations

import pytest

from kvkgate.domain.names import RegisteredName, Thresholds, best_match, normalise, score

CASES = [
    # (typed, registered, expected result, why)
    ("Test EMZ Dagobert", "Test EMZ Dagobert", "match", "identical"),
    ("test emz dagobert", "Test EMZ Dagobert", "match", "case"),
    ("  Test   EMZ\tDagobert ", "Test EMZ Dagobert", "match", "whitespace"),
    ("Dagobert Test EMZ", "Test EMZ Dagobert", "match", "word order"),
    ("Test BV Donald", "Test BV Donald", "match", "identical with legal form inside"),
    ("Test Donald B.V.", "Test BV Donald", "match", "legal form moved and dotted"),
    ("Test Donald", "Test BV Donald", "match", "legal form dropped"),
    ("Test Donald Besloten Vennootschap", "Test BV Donald", "match", "legal form spelled out"),
    ("Test NV Katrien", "Test N.V. Katrien", "match", "N.V. = NV"),
    ("Jansen & Zonen V.O.F.", "Jansen en Zonen VOF", "match", "& = en, V.O.F. = VOF"),
    ("Jansen and Zonen", "Jansen en Zonen", "match", "and = en"),
    ("Jansen + Zonen", "Jansen en Zonen", "match", "+ = en"),
    ("Bakker C.V.", "Bakker Commanditaire Vennootschap", "match", "C.V."),
    ("Stichting Vrienden van het Museum", "Vrienden van het Museum", "match", "Stichting is a legal form"),
    ("Vereniging De Vogelvriend", "De Vogelvriend", "match", "Vereniging is a legal form"),
    ("Coöperatie Zuivel U.A.", "Cooperatie Zuivel UA", "match", "diacritics, U.A."),
    ("Coöperatie Zuivel", "Coöperatie Zuivel U.A.", "match", "liability suffix dropped"),
    ("Café De Zwaan", "Cafe de Zwaan", "match", "accents"),
    ("Drie Gebroeders", "3 Gebroeders", "match", "number word"),
    ("De Tweede Kamer Bakkerij", "De 2e Kamer Bakkerij", "match", "ordinal word"),
    ("De 2de Kamer Bakkerij", "De 2e Kamer Bakkerij", "match", "ordinal suffix"),
    ("Mijn 2e handelsnaam 165225363539", "Mijn 2e handelsnaam 165225363539", "match", "digits kept"),
    ("Regional Qvolane - MA", "Regional Qvolane MA", "match", "punctuation"),
    ("'t Hoekje", "t Hoekje", "match", "apostrophe"),
    ("Grand Joyflex", "Grand Joyflex B.V.", "match", "recorded test company"),
    ("Donald BV", "Test BV Donald", "partial", "a part of the registered name"),
    ("Test Dagobert", "Test EMZ Dagobert", "partial", "a word left out"),
    ("Test EMZ Dagobrt", "Test EMZ Dagobert", "partial", "typo is not a confident match"),
    ("Jansen Holding B.V.", "Jansen B.V.", "partial", "Holding is significant, not a legal form"),
    ("Jansen B.V.", "Jansen N.V.", "partial", "both state a legal form and they differ"),
    ("Bakkerij Jansen B.V.", "Bakkerij Janssen B.V.", "partial", "near miss: another family, same legal form"),
    ("Jansen Bouw B.V.", "Jansens Bouw B.V.", "partial", "near miss: one letter"),
    ("De Vries Installatietechniek", "De Vries Installatie", "partial", "similar, not the same"),
    ("Test NV Katrien", "Test BV Donald", "mismatch", "another test company"),
    ("Albert Heijn B.V.", "Jumbo Supermarkten B.V.", "mismatch", "different company, same legal form"),
    ("Bakkerij De Graaf B.V.", "Slagerij Peters B.V.", "mismatch", "different company, same legal form"),
    ("Stichting Vrienden van het Museum", "Stichting Dierenasiel", "mismatch", "different stichting"),
    ("Kamer van Koophandel", "Test EMZ Dagobert", "mismatch", "unrelated"),
    ("Global Conron", "Grand Joyflex B.V.", "mismatch", "unrelated test companies"),
    ("B.V.", "Test BV Donald", "mismatch", "only a legal form"),
    ("Stichting", "Stichting Dierenasiel", "mismatch", "only a legal form word is no name"),
    ("", "Test BV Donald", "mismatch", "empty"),
    ("!!!", "Test BV Donald", "mismatch", "no letters"),
    ("Een Bakker", "1 Bakker", "mismatch", "een is an article, not a number"),
]


@pytest.mark.parametrize(("typed", "registered", "expected", "why"), CASES, ids=[case[3] for case in CASES])
def test_name_cases(typed: str, registered: str, expected: str, why: str) -> None:
    result = best_match(typed, [RegisteredName(registered, "statutoryName")])
    assert result.result == expected, f"{why}: score {result.score}"


def test_there_are_at_least_forty_cases_with_near_misses() -> None:
    assert len(CASES) >= 40
    assert sum(1 for case in CASES if "near miss" in case[3] or "same legal form" in case[3]) >= 4


def test_scores_are_symmetric_and_bounded() -> None:
    for typed, registered, _, _ in CASES:
        forward, backward = score(typed, registered), score(registered, typed)
        assert 0.0 <= forward <= 1.0
        assert forward == backward


def test_normalisation_sets_legal_forms_aside() -> None:
    name = normalise("Jansen & Zonen Besloten Vennootschap")
    assert name.words == ("jansen", "en", "zonen")
    assert name.legal_forms == frozenset({"bv"})


def test_best_candidate_and_ties_prefer_the_statutory_name() -> None:
    candidates = [
        RegisteredName("Test BV Donald", "tradeName", "000037178598"),
        RegisteredName("Test BV Donald", "statutoryName"),
        RegisteredName("Test BV Donald Nevenvestiging", "tradeName", "000037178601"),
    ]
    result = best_match("Test Donald BV", candidates)
    assert result.result == "match"
    assert result.best is not None
    assert result.best.candidate.name_type == "statutoryName"
    assert [item.candidate.name for item in result.ranked][-1] == "Test BV Donald Nevenvestiging"


def test_thresholds_are_configurable_and_checked() -> None:
    lenient = Thresholds(match=0.9, partial=0.5)
    assert best_match("Test EMZ Dagobrt", [RegisteredName("Test EMZ Dagobert", "name")], lenient).result == "match"
    with pytest.raises(ValueError, match="thresholds"):
        Thresholds(match=0.5, partial=0.9)


def test_no_candidates_is_a_mismatch() -> None:
    assert best_match("Anything", []).result == "mismatch"

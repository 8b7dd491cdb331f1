"""The words a company search completes typed letters to: the shipped vocabulary and what KVK's answers teach."""

from __future__ import annotations

from kvkgate.domain.completions import LEARNED_CAP, Completions, words_of


def test_the_first_letters_complete_to_whole_words_of_company_names() -> None:
    completions = Completions()
    assert "bakkerij" in completions.complete("bakk", 4)
    assert completions.complete("kaps", 2)[0] == "kapsalon"
    assert "installatie" in completions.complete("inst", 4)
    assert all(word.startswith("adva") for word in completions.complete("adva", 4))


def test_too_few_letters_complete_nothing() -> None:
    assert Completions().complete("ba", 4) == [] and Completions().complete("bak", 4) == []


def test_fillers_legal_forms_and_short_words_are_never_words_to_ask_about() -> None:
    assert words_of("Bakkerij van der Berg B.V. & Zn") == {"bakkerij", "berg"}
    assert words_of("De Vries Holding N.V.") == {"vries", "holding"}


def test_an_answer_teaches_its_words_once_and_the_ranking_follows() -> None:
    completions = Completions()
    assert "zwoppelbrood" not in completions.complete("zwop", 5)
    completions.learn(["Zwoppelbrood B.V.", "Zwoppelbrood Noord"])  # one answer: counted once
    assert completions.seen("zwoppelbrood") == 1
    assert completions.complete("zwop", 5)[0] == "zwoppelbrood"


def test_a_flood_of_answers_cannot_lift_a_word_past_its_cap() -> None:
    completions = Completions()
    for _ in range(LEARNED_CAP * 10):
        completions.learn(["Bakkerijnaam X"])
    capped = completions.weight("bakkerijnaam")
    for _ in range(LEARNED_CAP):
        completions.learn(["Bakkerijnaam X"])
    assert completions.weight("bakkerijnaam") == capped
    assert completions.seen("bakkerijnaam") == LEARNED_CAP  # so it is forgotten like any word seen that often
    assert completions.complete("bakk", 2)[0] in ("bakker", "bakkerij")  # the common words stay first


def test_what_is_learned_stays_bounded_and_keeps_the_most_seen() -> None:
    completions = Completions(capacity=100)
    for _ in range(5):
        completions.learn(["Kwaliteitsbakker Blijft"])
    for number in range(1000):
        completions.learn([f"Eenmalig{number:04d}woord"])
    assert len(completions) <= 100
    assert completions.seen("kwaliteitsbakker") == 5

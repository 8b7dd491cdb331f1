"""GET /v1/companies?q=: suggestions for a person typing a company name (the sandbox's KVK searches
whole words of every name, as KVK does; the word still being typed is matched by kvkgate)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from kvkgate import root
from kvkgate.domain import search as search_module
from kvkgate.domain.names import fold
from tests.api.conftest import Answer, Api
from tests.conftest import FakeClock


def search(api: Api, q: str, **filters: str) -> Answer:
    return api.call("GET", "/v1/companies", query=urlencode({"q": q, **filters}))


def searches(api: Api) -> int:
    return int(api.kvk_calls()["calls"].get("zoeken", 0))


def words_of(name: str) -> list[str]:
    return "".join(char if char.isalnum() else " " for char in fold(name)).split()


def test_a_finished_word_finds_the_companies_whose_names_hold_it(api: Api) -> None:
    answer = search(api, "bakkerij")
    assert answer.status == 200
    results = answer.body["results"]
    assert 0 < len(results) <= 10 and answer.body["total"] >= len(results)
    assert all(any(word.startswith("bakkerij") for word in words_of(item["name"])) for item in results)
    assert {item["kind"] for item in results} <= {"main branch", "branch", "legal entity"}
    assert all(item["active"] is True and len(item["kvkNumber"]) == 8 for item in results)
    assert answer.body["meta"]["source"] == "kvk"
    assert searches(api) == 1


def test_the_unfinished_last_word_narrows_the_list_without_asking_kvk_again(api: Api) -> None:
    everyone = search(api, "bakkerij").body
    narrowed = search(api, "bakkerij h").body
    assert searches(api) == 1
    assert narrowed["results"], "some bakeries' names have a word starting with h"
    assert all(any(word.startswith("h") for word in words_of(item["name"])) for item in narrowed["results"])
    assert narrowed["total"] < everyone["total"]
    assert narrowed["meta"]["source"] == "cache"


def test_prefix_hits_come_before_near_misses(api: Api) -> None:
    exact = search(api, "bakkerij hoekstra").body["results"]
    assert exact and fold(exact[0]["name"]).count("hoekstra")
    typo = search(api, "bakkerij hoeksrta").body["results"]  # two letters swapped
    assert any("hoekstra" in fold(item["name"]) for item in typo)


def test_too_little_to_ask_kvk_about_costs_nothing(api: Api) -> None:
    answer = search(api, "ba")
    assert (answer.status, answer.body["results"], answer.body["total"]) == (200, [], 0)
    assert answer.body["meta"]["source"] == "none"
    assert searches(api) == 0


@pytest.mark.parametrize("q", ["a", " ", "  b  ", "x" * 101])
def test_q_must_be_2_to_100_characters_after_trimming(api: Api, q: str) -> None:
    answer = search(api, q)
    assert (answer.status, answer.body["code"]) == (400, "INVALID_REQUEST")
    assert [error["field"] for error in answer.body["errors"]] == ["q"]
    assert searches(api) == 0


def test_q_is_required_and_unknown_parameters_are_named(api: Api) -> None:
    missing = api.call("GET", "/v1/companies")
    assert missing.status == 400 and missing.body["errors"][0]["field"] == "q"
    unknown = api.call("GET", "/v1/companies", query="q=bakkerij&naam=x")
    assert unknown.status == 400 and unknown.body["errors"][0]["field"] == "naam"


def test_a_complete_answer_serves_longer_questions_about_the_same_words(api: Api) -> None:
    wide = search(api, "stichting bakkerij ").body
    assert wide["results"] and searches(api) == 1
    narrower = search(api, "stichting bakkerij smit ").body
    assert searches(api) == 1, "KVK's answer for the two words was complete: the third is matched here"
    assert narrower["results"] and all("smit" in words_of(item["name"]) for item in narrower["results"])


def test_filters_and_inactive_registrations(api: Api) -> None:
    city = search(api, "bakkerij", city="Utrecht").body["results"]
    assert city and all(item["city"] == "Utrecht" for item in city)
    assert search(api, "bakkerij", postcode="1234AB").status == 400  # postcode needs houseNumber
    blank = search(api, "bakkerij", city=" ", postcode="", houseNumber="")  # a form's empty fields
    assert blank.status == 200 and blank.body["total"] == search(api, "bakkerij").body["total"]
    too_long = search(api, "bakkerij", postcode=" " * 65, houseNumber="")  # blank, but past the limit
    assert (too_long.status, too_long.body["errors"][0]["field"]) == (400, "postcode")
    control = search(api, "bakkerij", city="\x01")
    assert (control.status, control.body["errors"][0]["field"]) == (400, "city")
    inactive = search(api, "bakkerij", includeInactive="true").body
    assert inactive["total"] >= search(api, "bakkerij").body["total"]


def test_answers_are_cached_for_the_search_ttl(api: Api, clock: FakeClock) -> None:
    root.install(root.Overrides(clock=clock))
    search(api, "bakkerij")
    clock.advance(9 * 60)
    search(api, "bakkerij")
    assert searches(api) == 1
    clock.advance(2 * 60)
    search(api, "bakkerij")
    assert searches(api) == 2


def test_every_search_is_charged_to_its_caller(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLER_KVK_LOOKUPS_PER_MINUTE", "2")
    root.reset()
    statuses = [search(api, q).status for q in ("bakkerij", "drukkerij", "kapsalon", "hovenier")]
    assert statuses[0] == 200 and statuses[-1] == 429
    refused = search(api, "schoonmaak")
    assert (refused.status, refused.body["code"]) == (429, "CALLER_LIMIT_REACHED")
    assert searches(api) == 2  # the caller's two lookups; the refusals asked KVK nothing
    assert search(api, "bakkerij d").status == 200  # answered from the cache: free


def test_an_outage_is_a_503_not_an_empty_list(api: Api) -> None:
    api.kvk(outage=True)
    answer = search(api, "bakkerij")
    assert (answer.status, answer.body["code"]) == (503, "KVK_UNAVAILABLE")
    # Issue #21: no field "kvk" (the request has none) and no raw code where a person's text belongs.
    assert answer.body["errors"] == []
    assert answer.body["detail"] != "KVK_UNAVAILABLE" and "KVK" in answer.body["detail"]
    dutch = api.call("GET", "/v1/companies", query="q=drukkerij", headers={"accept-language": "nl"})
    assert (dutch.status, dutch.body["errors"]) == (503, [])
    assert dutch.body["detail"] == "KVK kon zojuist niet worden geraadpleegd; probeer het later opnieuw."


# -- issue #21: suggestions from the first letters --------------------------------------------------


def registered_active_bakeries() -> set[str]:
    """The KVK numbers of the sandbox's active companies with a trade name holding the word 'bakkerij'."""
    from local.sandbox.dataset import is_active
    from local.sandbox.server import registry

    return {
        record["kvkNummer"]
        for record in registry().companies.values()
        if is_active(record) and any("bakkerij" in words_of(name) for name in record.get("handelsnamen", []))
    }


def test_the_first_letters_suggest_the_registered_active_bakeries(api: Api) -> None:
    """Issue #21: q=bakk answered nothing (KVK's naam matches whole words); now it completes to 'bakkerij'."""
    answer = search(api, "bakk")
    assert answer.status == 200 and answer.body["meta"]["source"] == "kvk"
    results = answer.body["results"]
    assert len(results) == 10
    bakeries = [item for item in results if item["kvkNumber"] in registered_active_bakeries()]
    assert len(bakeries) >= 4, [item["name"] for item in results]  # beside companies of the Bakker family
    assert bakeries[0] in results[:2]
    assert all(item["active"] for item in results)
    assert all(any(word.startswith("bakk") for word in words_of(item["name"])) for item in results)
    assert searches(api) <= search_module.MAX_KVK_QUESTIONS


def test_before_issue_21_the_first_letters_found_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_COMPLETIONS", "0")
    root.reset()
    assert search(api, "bakk").body["results"] == []


def test_a_common_prefix_costs_one_call_per_ttl_for_everyone(api: Api) -> None:
    search(api, "bakk")
    calls = searches(api)
    for source_ip in ("203.0.113.1", "203.0.113.2", "2001:db8::1"):
        api.source_ip = source_ip  # other people, typing the same letters
        assert search(api, "bakk").body["results"]
        assert search(api, "bakke").body["results"]
    assert searches(api) == calls


def test_invisible_characters_cannot_turn_a_cached_question_into_a_new_kvk_call(api: Api) -> None:
    search(api, "bakkerij ")
    calls = searches(api)
    for pasted in ("bakkerij\u200b ", "\ufeffbakkerij ", "bakke\u2060rij ", "bakkerij\u00ad "):
        assert search(api, pasted).body["results"]
    assert searches(api) == calls


@pytest.mark.parametrize("q", ["\x00\x00\x00bakkerij ", "bakkerij\x01", "bak\x7fkerij"])
def test_control_characters_in_the_search_text_are_a_400_at_q_without_a_kvk_call(api: Api, q: str) -> None:
    refused = search(api, q)
    assert refused.status == 400 and [item["field"] for item in refused.body["errors"]] == ["q"]
    assert searches(api) == 0


def test_an_unfinished_word_asks_about_its_likeliest_completion_only(api: Api) -> None:
    """zwem: zwemschool, far likelier than zwemmen or zwembad, is the one question even when KVK holds none:
    asking on down the list cost a call a keystroke in long brand names and found no company sooner."""
    completions = root.environment().completions
    assert completions is not None and completions.complete("zwem", 4)[0] == "zwemschool"
    assert search(api, "zwem").body["results"] == []
    assert searches(api) == 1


@pytest.mark.parametrize("q", ["zzq", "qwerty", "xylofoonbouw", "aaab", "grondwerk"])
def test_no_request_asks_kvk_more_than_the_stated_number_of_questions(api: Api, q: str) -> None:
    search(api, q)
    assert searches(api) <= search_module.MAX_KVK_QUESTIONS


def test_prefix_hits_come_first_among_completions(api: Api) -> None:
    results = search(api, "kaps").body["results"]
    assert results and all(words_of(item["name"])[0].startswith("kaps") for item in results[:3])


def test_words_are_learned_from_kvks_answers_not_from_what_people_type(api: Api) -> None:
    completions = root.environment().completions
    search(api, "zzqxv")  # typed, unknown, and no registered name holds it
    assert completions.seen("zzqxv") == 0 and not completions.complete("zzqx", 5)
    names = [item["name"] for item in search(api, "transport").body["results"]]
    words = {word for name in names for word in words_of(name) if len(word) >= 4 and word != "transport"}
    assert words and all(completions.seen(word) == 1 for word in words)
    search(api, "transport")  # the same answer again, from the cache: not counted twice
    assert all(completions.seen(word) == 1 for word in words)


def test_a_real_company_is_found_from_its_first_letters(api: Api) -> None:
    """A name from the IND register that the sandbox holds among 5,000 others: 'Access Innovations B.V.'."""
    for typed in ("acc", "acce", "acces"):
        results = search(api, typed).body["results"][:5]
        if any(item["name"] == "Access Innovations B.V." for item in results):
            return
    pytest.fail("not among the first 5 before the word was finished")

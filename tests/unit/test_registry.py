"""registry.KvkRegistry: KVK's answers as the domain's types, KVK's failures as the domain's outcomes."""

from __future__ import annotations

import httpx
import pytest

from kvkgate.aws.cache import KvkCache
from kvkgate.clock import Deadline
from kvkgate.config import load_settings
from kvkgate.domain.outcomes import BUDGET_EXHAUSTED, KVK_UNAVAILABLE, Unavailable
from kvkgate.domain.ports import Place, Registration
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.errors import BudgetExhausted
from kvkgate.kvk.keys import StaticApiKey
from kvkgate.kvk.throttle import Unlimited
from kvkgate.registry import KvkRegistry
from kvkgate.root import Environment, Overrides
from tests.conftest import SECRET_KEY, FakeClock, ScriptedKvk, kvk_json, recording


def fout(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return kvk_json(status, {"fout": [{"code": code, "omschrijving": "..."}]}, headers)


def registry_on(kvk: ScriptedKvk, clock: FakeClock) -> KvkRegistry:
    """The production wiring (root), with the scripted KVK, no table and no waiting between retries."""
    overrides = Overrides(
        api_key=StaticApiKey(SECRET_KEY), clock=clock, transport=kvk.transport(), observe=lambda api, outcome: None
    )
    environment = Environment(load_settings({}), overrides)
    environment.client._draw = lambda: 0.0  # retries without backoff keep the test short
    return environment.registry


def ask(clock: FakeClock) -> Deadline:
    return Deadline.after(10, clock)


def test_zoeken_items_become_registrations(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script.append(kvk_json(200, recording("zoeken-kvkNummer-69599084.200.json")))
    answer = registry_on(kvk, clock).registrations("69599084", ask(clock))
    assert answer.source == "kvk"
    assert answer.value is not None
    assert answer.value.total == 2
    assert answer.value.complete
    main = next(item for item in answer.value.items if item.kind == "main branch")
    assert main == Registration(
        "69599084",
        "000038509504",
        "main branch",
        "Test EMZ Dagobert",
        place=Place(street="Abebe Bikilalaan", city="Amsterdam"),
    )
    assert {item.kind for item in answer.value.items} == {"main branch", "branch"}


def test_a_shielded_and_a_foreign_address(kvk: ScriptedKvk, clock: FakeClock) -> None:
    items = [
        {"kvkNummer": "90001354", "vestigingsnummer": "990000541921", "type": "hoofdvestiging", "naam": "Grand BV",
         "adres": {"binnenlandsAdres": {"type": "postadres", "plaats": "Sterksel"}}, "actief": "Ja"},
        {"kvkNummer": "90001354", "type": "rechtspersoon", "naam": "Grand BV", "actief": "Nee",
         "vervallenNaam": "Grand Kontex BV",
         "adres": {"buitenlandsAdres": {"straatHuisnummer": "53 Rue de Tilsitt", "postcodeWoonplaats": "Parijs"}}},
    ]  # fmt: skip
    kvk.script.append(kvk_json(200, {"totaal": 2, "resultaten": items}))
    answer = registry_on(kvk, clock).registrations("90001354", ask(clock))
    assert answer.value is not None
    shielded, foreign = answer.value.items
    assert shielded.place == Place(city="Sterksel", postal=True)
    assert (shielded.active, shielded.kind) == (True, "main branch")
    assert foreign.place == Place(street="53 Rue de Tilsitt", city="Parijs", abroad=True)
    assert (foreign.active, foreign.kind, foreign.expired_name) == (False, "legal entity", "Grand Kontex BV")


def test_a_page_that_is_not_all_of_them_is_not_complete(kvk: ScriptedKvk, clock: FakeClock) -> None:
    item = {"kvkNummer": "99100002", "vestigingsnummer": "981000020001", "type": "nevenvestiging", "actief": "Nee"}
    kvk.script.append(kvk_json(200, {"totaal": 130, "resultaten": [item] * 100}))
    answer = registry_on(kvk, clock).registrations("99100002", ask(clock))
    assert answer.value is not None
    assert (answer.value.total, answer.value.complete) == (130, False)


def test_not_found_is_none_and_kvk_calling_the_number_invalid_is_none_too(kvk: ScriptedKvk, clock: FakeClock) -> None:
    registry = registry_on(kvk, clock)
    kvk.script.append(fout(404, "IPD5200"))
    assert registry.registrations("12345678", ask(clock)).value is None
    kvk.script.append(fout(400, "IPD0004"))
    assert registry.registrations("90004333", ask(clock)).value is None
    kvk.script.append(fout(400, "IPD0004"))
    assert registry.profile("90004333", ask(clock)).value is None


@pytest.mark.parametrize("code", ["IPD1999", "IPD1998", "IPD5203"])
def test_kvk_refusing_the_question_is_unavailable_not_unregistered(
    kvk: ScriptedKvk, clock: FakeClock, code: str
) -> None:
    kvk.script.append(fout(400, code))
    with pytest.raises(Unavailable) as outage:
        registry_on(kvk, clock).registrations("68750110", ask(clock))
    assert outage.value.code == KVK_UNAVAILABLE


def test_an_invalid_number_on_a_follow_up_search_is_unavailable(kvk: ScriptedKvk, clock: FakeClock) -> None:
    """Only the question "does this number exist" is answered by IPD0004; an address search is not."""
    kvk.script.append(fout(400, "IPD0004"))
    with pytest.raises(Unavailable):
        registry_on(kvk, clock).registrations_at("68750110", "8823SJ", 3, ask(clock))


def test_outages_keep_kvks_retry_after(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: fout(503, "IPD9999", {"Retry-After": "7"})
    with pytest.raises(Unavailable) as outage:
        registry_on(kvk, clock).names("68750110", ask(clock))
    assert (outage.value.code, outage.value.retry_after) == (KVK_UNAVAILABLE, 7.0)


def test_a_spent_budget_says_so(clock: FakeClock) -> None:
    class Spent(Unlimited):
        def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
            raise BudgetExhausted("spent")

    registry = registry_on(ScriptedKvk(), clock)
    registry.client._limiter = Spent()
    registry.cache = KvkCache(None)
    with pytest.raises(Unavailable) as outage:
        registry.profile("68750110", ask(clock))
    assert outage.value.code == BUDGET_EXHAUSTED


def test_naamgeving_names_every_name_with_its_kind(kvk: ScriptedKvk, clock: FakeClock) -> None:
    naming = {
        "kvkNummer": "90006623",
        "statutaireNaam": "Stichting X",
        "naam": "X",
        "ookGenoemd": "De X",
        "vestigingen": [
            {"vestigingsnummer": "990064773193", "eersteHandelsnaam": "Mijn 1e",
             "handelsnamen": [{"naam": "Mijn 2e", "volgorde": 1}]},
            {"vestigingsnummer": "990064773207", "naam": "Buurthuis", "ookGenoemd": "Het Huis"},
        ],
    }  # fmt: skip
    kvk.script.append(kvk_json(200, naming))
    answer = registry_on(kvk, clock).names("90006623", ask(clock))
    assert answer.value is not None
    assert [(name.name, name.name_type, name.branch_number) for name in answer.value] == [
        ("Stichting X", "statutoryName", None),
        ("X", "name", None),
        ("De X", "alsoKnownAs", None),
        ("Mijn 1e", "tradeName", "990064773193"),
        ("Mijn 2e", "tradeName", "990064773193"),
        ("Buurthuis", "name", "990064773207"),
        ("Het Huis", "alsoKnownAs", "990064773207"),
    ]

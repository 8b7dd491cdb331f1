"""Cache-aside behaviour with the template's table in moto and a fake clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from kvkgate.aws.cache import MAX_PAYLOAD_BYTES, CacheKey, CachePolicy, DynamoStore, KvkCache, encode
from kvkgate.aws.dynamo import StoreUnavailable
from kvkgate.clock import Deadline
from kvkgate.kvk import (
    BudgetExhausted,
    InvalidRequest,
    KvkError,
    KvkResponse,
    NotFound,
    RateLimited,
    TemporarilyUnavailable,
)
from local.sandbox.render import Renderer
from local.sandbox.server import registry
from tests.conftest import FakeClock, Table, recording

KEY = CacheKey("KVK#69599084", "ZOEKEN")
POLICY = CachePolicy(ttl=100, negative_ttl=10, stale_if_error=1000, lease_seconds=5, poll_seconds=0.05)


class Kvk:
    """A fetch double: answers from a script, counts calls."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> KvkResponse:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return KvkResponse(answer, "2.1.0")


def identity(payload: Any) -> Any:
    return payload


@pytest.fixture
def cache(table: Table, clock: FakeClock) -> KvkCache:
    return KvkCache(DynamoStore(table.client, table.name), POLICY, clock)


def far(clock: FakeClock) -> Deadline:
    return Deadline.after(30, clock)


def test_fresh_answers_cost_no_kvk_call_from_memory_or_table(cache: KvkCache, clock: FakeClock) -> None:
    body = recording("zoeken-kvkNummer-69599084.200.json")
    kvk = Kvk(body)
    first = cache.lookup(KEY, kvk, identity, far(clock))
    assert (first.source, first.stale, first.value) == ("kvk", False, body)
    assert cache.lookup(KEY, kvk, identity, far(clock)).source == "cache"
    cache.forget_memory()  # a second execution environment: only DynamoDB is shared
    clock.advance(50)
    from_table = cache.lookup(KEY, kvk, identity, far(clock))
    assert (from_table.source, from_table.value) == ("cache", body)
    assert kvk.calls == 1


def test_memory_hit_touches_no_network(table: Table, clock: FakeClock) -> None:
    calls: list[str] = []

    class CountingClient:
        def __getattr__(self, name: str) -> Callable[..., Any]:
            calls.append(name)
            method: Callable[..., Any] = getattr(table.client, name)
            return method

    cache = KvkCache(DynamoStore(CountingClient(), table.name), POLICY, clock)  # type: ignore[arg-type]
    kvk = Kvk({"totaal": 1})
    cache.lookup(KEY, kvk, identity, far(clock))
    before = list(calls)
    cache.lookup(KEY, kvk, identity, far(clock))
    assert calls == before
    assert kvk.calls == 1


def test_found_answers_expire_after_the_ttl(cache: KvkCache, clock: FakeClock) -> None:
    kvk = Kvk({"v": 1}, {"v": 2})
    cache.lookup(KEY, kvk, identity, far(clock))
    cache.forget_memory()
    clock.advance(101)
    again = cache.lookup(KEY, kvk, identity, far(clock))
    assert (again.source, again.value) == ("kvk", {"v": 2})
    assert kvk.calls == 2


def test_memory_never_outlives_the_entry(table: Table, clock: FakeClock) -> None:
    cache = KvkCache(DynamoStore(table.client, table.name), CachePolicy(ttl=5, l1_seconds=60), clock)
    kvk = Kvk({"v": 1})
    cache.lookup(KEY, kvk, identity, far(clock))
    clock.advance(6)
    cache.lookup(KEY, kvk, identity, far(clock))
    assert kvk.calls == 2


def test_not_found_is_cached_for_the_negative_ttl(cache: KvkCache, clock: FakeClock) -> None:
    kvk = Kvk(NotFound("IPD5200"), {"v": 1})
    assert cache.lookup(KEY, kvk, identity, far(clock)).value is None
    cache.forget_memory()
    clock.advance(9)
    assert cache.lookup(KEY, kvk, identity, far(clock)).value is None
    assert kvk.calls == 1
    cache.forget_memory()
    clock.advance(2)
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"v": 1}
    assert kvk.calls == 2


@pytest.mark.parametrize(
    "failure",
    [TemporarilyUnavailable("500"), TemporarilyUnavailable("timeout"), RateLimited("429"), InvalidRequest("IPD0004")],
)
def test_failures_are_never_cached(cache: KvkCache, clock: FakeClock, failure: KvkError) -> None:
    kvk = Kvk(failure, {"v": 1})
    with pytest.raises(type(failure)):
        cache.lookup(KEY, kvk, identity, far(clock))
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"v": 1}
    assert kvk.calls == 2


@pytest.mark.parametrize("failure", [TemporarilyUnavailable("503"), RateLimited("429"), BudgetExhausted("spent")])
def test_stale_answer_when_kvk_fails(cache: KvkCache, clock: FakeClock, failure: KvkError) -> None:
    kvk = Kvk({"v": 1}, failure)
    cache.lookup(KEY, kvk, identity, far(clock))
    cache.forget_memory()
    clock.advance(500)
    stale = cache.lookup(KEY, kvk, identity, far(clock))
    assert (stale.value, stale.source, stale.stale) == ({"v": 1}, "cache", True)
    cache.forget_memory()
    clock.advance(700)  # past ttl + stale_if_error
    with pytest.raises(type(failure)):
        cache.lookup(KEY, kvk, identity, far(clock))


def test_not_found_is_never_served_stale(cache: KvkCache, clock: FakeClock) -> None:
    kvk = Kvk(NotFound("IPD5200"), TemporarilyUnavailable("down"))
    cache.lookup(KEY, kvk, identity, far(clock))
    cache.forget_memory()
    clock.advance(11)
    with pytest.raises(TemporarilyUnavailable):
        cache.lookup(KEY, kvk, identity, far(clock))


def test_a_concurrent_miss_waits_for_the_lease_holder(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    store = DynamoStore(table.client, table.name)
    token, _ = store.try_lease(KEY, clock.time(), clock.time() + 5)
    assert token is not None

    original_sleep = clock.sleep

    def sleep_then_other_writes(seconds: float) -> None:
        original_sleep(seconds)
        if len(clock.sleeps) == 3:
            other = KvkCache(store, POLICY, clock)
            other._write(KEY, other_entry(clock))

    clock.sleep = sleep_then_other_writes  # type: ignore[method-assign]
    kvk = Kvk({"mine": True})
    answer = cache.lookup(KEY, kvk, identity, far(clock))
    assert answer.value == {"theirs": True}
    assert answer.source == "cache"
    assert kvk.calls == 0


def other_entry(clock: FakeClock) -> Any:
    from kvkgate.aws.cache import Entry

    now = clock.time()
    return Entry(True, {"theirs": True}, now, now + 100, now + 1100)


def test_an_abandoned_lease_does_not_block_for_ever(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    DynamoStore(table.client, table.name).try_lease(KEY, clock.time(), clock.time() + 5)
    kvk = Kvk({"mine": True})
    answer = cache.lookup(KEY, kvk, identity, far(clock))
    assert answer.value == {"mine": True}
    assert kvk.calls == 1
    assert 4.9 <= sum(clock.sleeps) <= 5.1


def test_a_short_deadline_does_not_wait_for_a_lease(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    DynamoStore(table.client, table.name).try_lease(KEY, clock.time(), clock.time() + 5)
    kvk = Kvk({"mine": True})
    cache.lookup(KEY, kvk, identity, Deadline.after(1.0, clock))
    assert clock.sleeps == []
    assert kvk.calls == 1


def hold_lease(table: Table, clock: FakeClock) -> str:
    token, _ = DynamoStore(table.client, table.name).try_lease(KEY, clock.time(), clock.time() + 5)
    assert token is not None
    return token


def expired_entry_in_table(cache: KvkCache, clock: FakeClock) -> None:
    """A found answer whose TTL has passed but which may still be served stale."""
    cache.lookup(KEY, Kvk({"old": True}), identity, far(clock))
    cache.forget_memory()
    clock.advance(POLICY.ttl + 1)


def test_a_waiter_with_a_stale_answer_does_not_wait_for_a_slow_fetch(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    expired_entry_in_table(cache, clock)
    hold_lease(table, clock)  # another environment is fetching, slowly
    started = clock.now
    kvk = Kvk({"mine": True})
    answer = cache.lookup(KEY, kvk, identity, far(clock))
    assert (answer.value, answer.stale) == ({"old": True}, True)
    assert clock.now - started <= 0.1
    assert kvk.calls == 0


def test_a_waiter_with_a_stale_answer_answers_at_once_when_the_fetch_failed(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    expired_entry_in_table(cache, clock)
    store = DynamoStore(table.client, table.name)
    store.release(KEY, hold_lease(table, clock), failed_at=clock.time())  # the holder failed ...
    hold_lease(table, clock)  # ... and another one is trying again
    kvk = Kvk({"mine": True})
    answer = cache.lookup(KEY, kvk, identity, far(clock))
    assert (answer.value, answer.stale) == ({"old": True}, True)
    assert clock.sleeps == []
    assert kvk.calls == 0


def test_a_failed_fetch_gives_the_lease_back(cache: KvkCache, clock: FakeClock) -> None:
    kvk = Kvk(TemporarilyUnavailable("down"), {"v": 2})
    with pytest.raises(TemporarilyUnavailable):
        cache.lookup(KEY, kvk, identity, far(clock))
    answer = cache.lookup(KEY, kvk, identity, far(clock))  # no waiting out the failed caller's lease
    assert answer.value == {"v": 2}
    assert clock.sleeps == []


def test_waiters_without_an_answer_do_not_herd_after_the_holder_fails(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    store = DynamoStore(table.client, table.name)
    token = hold_lease(table, clock)
    original_sleep = clock.sleep

    def holder_fails_meanwhile(seconds: float) -> None:
        original_sleep(seconds)
        if len(clock.sleeps) == 2:
            store.release(KEY, token, failed_at=clock.time())

    clock.sleep = holder_fails_meanwhile  # type: ignore[method-assign]
    kvk = Kvk({"mine": True})
    with pytest.raises(TemporarilyUnavailable, match="a moment ago"):
        cache.lookup(KEY, kvk, identity, far(clock))
    assert kvk.calls == 0


def test_a_late_fetcher_never_overwrites_a_newer_answer(table: Table, clock: FakeClock) -> None:
    from kvkgate.aws.cache import Entry

    store = DynamoStore(table.client, table.name)
    now = clock.time()
    assert store.put(KEY, Entry(True, {"newer": True}, now, now + 100, now + 1100))
    assert not store.put(KEY, Entry(True, {"older": True}, now - 3, now + 97, now + 1097))
    assert store.get(KEY).entry is not None
    assert store.get(KEY).entry.payload == {"newer": True}  # type: ignore[union-attr]


def test_the_stale_window_runs_from_the_end_of_the_ttl(cache: KvkCache, clock: FakeClock) -> None:
    kvk = Kvk({"v": 1}, TemporarilyUnavailable("down"))
    cache.lookup(KEY, kvk, identity, far(clock))
    cache.forget_memory()
    clock.advance(POLICY.ttl + POLICY.stale_if_error - 1)  # past fetched + stale window, inside ttl + window
    assert cache.lookup(KEY, kvk, identity, far(clock)).stale
    cache.forget_memory()
    clock.advance(2)
    with pytest.raises(TemporarilyUnavailable):
        cache.lookup(KEY, kvk, identity, far(clock))


def test_a_1000_vestigingen_record_is_stored_compactly(cache: KvkCache, clock: FakeClock) -> None:
    big = registry().companies["90006577"]
    payload = Renderer("https://api.kvk.nl/test/api", "_links").vestigingen(big)
    assert len(payload["vestigingen"]) == 1000
    assert len(encode(payload)) < MAX_PAYLOAD_BYTES / 4
    kvk = Kvk(payload)
    cache.lookup(CacheKey("KVK#90006577", "BASISPROFIEL#VESTIGINGEN"), kvk, identity, far(clock))
    cache.forget_memory()
    again = cache.lookup(CacheKey("KVK#90006577", "BASISPROFIEL#VESTIGINGEN"), kvk, identity, far(clock))
    assert again.value == payload
    assert kvk.calls == 1


def test_unreachable_table_degrades_to_kvk(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStore(DynamoStore):
        def __init__(self) -> None:
            pass

        def get(self, key: CacheKey) -> Any:
            raise StoreUnavailable("DynamoDB: EndpointConnectionError")

        def try_lease(self, key: CacheKey, now: float, until: float) -> Any:
            raise StoreUnavailable("DynamoDB: EndpointConnectionError")

        def put(self, key: CacheKey, entry: Any) -> bool:
            raise StoreUnavailable("DynamoDB: EndpointConnectionError")

    caplog.set_level(logging.WARNING)
    cache = KvkCache(BrokenStore(), POLICY, clock)
    kvk = Kvk({"v": 1})
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"v": 1}
    assert "cache read failed" in caplog.text
    assert kvk.calls == 1


def test_cache_metrics_are_recorded(cache: KvkCache, clock: FakeClock) -> None:
    from kvkgate.telemetry import metrics

    metrics().clear_metrics()
    kvk = Kvk({"v": 1})
    cache.lookup(KEY, kvk, identity, far(clock))
    cache.lookup(KEY, kvk, identity, far(clock))
    recorded = metrics().metric_set
    assert recorded["CacheMiss"]["Value"] == [1.0]
    assert recorded["CacheHitMemory"]["Value"] == [1.0]
    metrics().clear_metrics()


def test_a_cached_answer_the_model_no_longer_reads_is_fetched_again(cache: KvkCache, clock: FakeClock) -> None:
    def strict(payload: Any) -> Any:
        if "v" not in payload:
            raise ValueError("an older shape")
        return payload

    old_shape = Kvk({"old": 1})
    cache.lookup(KEY, old_shape, identity, far(clock))
    cache.forget_memory()
    current = Kvk({"v": 2})
    answer = cache.lookup(KEY, current, strict, far(clock))
    assert (answer.source, answer.value) == ("kvk", {"v": 2})
    assert current.calls == 1


def test_cache_keys_follow_the_design() -> None:
    from kvkgate.kvk.requests import basisprofiel_request, naamgeving_request, vestigingsprofiel_request, zoeken_request
    from kvkgate.registry import cache_key, company_query

    assert cache_key(zoeken_request(company_query("69599084"))) == CacheKey("KVK#69599084", "ZOEKEN")
    by_address = cache_key(
        zoeken_request(company_query("69599084").model_copy(update={"postcode": "1034WL", "huisnummer": 17}))
    )
    assert by_address.pk == "KVK#69599084"
    assert by_address.sk.startswith("ZOEKEN#")
    assert cache_key(basisprofiel_request("68750110")) == CacheKey("KVK#68750110", "BASISPROFIEL")
    assert cache_key(basisprofiel_request("68750110", "eigenaar", geo_data=True)) == CacheKey(
        "KVK#68750110", "BASISPROFIEL#EIGENAAR#GEO"
    )
    assert cache_key(naamgeving_request("68750110")) == CacheKey("KVK#68750110", "NAAMGEVING")
    assert cache_key(vestigingsprofiel_request("000037178598")) == CacheKey(
        "VESTIGING#000037178598", "VESTIGINGSPROFIEL"
    )


def test_a_call_known_to_be_refused_takes_no_lease_and_answers_stale_if_it_can(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    from kvkgate.kvk.errors import Shed

    def refused() -> None:
        raise Shed("queue too long", retry_after=1.0)

    kvk = Kvk({"new": True})
    with pytest.raises(Shed):
        cache.lookup(KEY, kvk, identity, far(clock), admit=refused)
    assert DynamoStore(table.client, table.name).get(KEY).lease_until is None  # nobody waits for a refused caller
    expired_entry_in_table(cache, clock)
    answer = cache.lookup(KEY, kvk, identity, far(clock), admit=refused)
    assert (answer.value, answer.stale) == ({"old": True}, True)
    assert kvk.calls == 0

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
from tests.conftest import FakeClock, Table, metric, recording

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
    again = cache.lookup(KEY, kvk, identity, far(clock))
    assert (again.source, again.stale) == ("cache", False)
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

    meanwhile(clock, after_sleeps=3, action=lambda: KvkCache(store, POLICY, clock)._write(KEY, other_entry(clock)))
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


def meanwhile(clock: FakeClock, after_sleeps: int, action: Callable[[], object]) -> None:
    """Another environment acts while this one waits: ``action`` runs right after its ``after_sleeps``-th sleep."""
    original_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        original_sleep(seconds)
        if len(clock.sleeps) == after_sleeps:
            action()

    clock.sleep = sleep  # type: ignore[method-assign]


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
    meanwhile(clock, after_sleeps=2, action=lambda: store.release(KEY, token, failed_at=clock.time()))
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


def stored(table: Table, key: CacheKey = KEY) -> dict[str, Any]:
    found: dict[str, Any] = table.client.get_item(
        TableName=table.name, Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}}
    ).get("Item", {})
    return found


def n(item: dict[str, Any], name: str) -> float:
    return float(item[name]["N"])


def test_a_found_answer_is_stored_with_its_freshness_and_its_ttl(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    now = clock.time()
    cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock))
    item = stored(table)
    assert item["status"] == {"S": "found"}
    assert (n(item, "fetchedAt"), n(item, "freshUntil")) == (now, now + 100)
    assert n(item, "expiresAt") == int(now + 100 + 1000) + 1  # DynamoDB's TTL: after the stale window
    assert item["apiVersion"] == {"S": "2.1.0"}
    assert "leaseUntil" not in item and "leaseHolder" not in item  # the fetcher's lease is gone


def test_a_not_found_answer_is_stored_without_payload_and_expires_with_its_freshness(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    now = clock.time()
    cache.lookup(KEY, Kvk(NotFound("IPD5200")), identity, far(clock))
    item = stored(table)
    assert item["status"] == {"S": "not_found"}
    assert "payload" not in item
    assert (n(item, "freshUntil"), n(item, "expiresAt")) == (now + 10, int(now + 10) + 1)


def test_a_lookup_may_shorten_the_freshness_and_caps_the_negative_ttl_with_it(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    now = clock.time()
    cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock), ttl=30)
    item = stored(table)
    assert (n(item, "freshUntil"), n(item, "expiresAt")) == (now + 30, int(now + 30 + 1000) + 1)
    shorter = CacheKey("KVK#00000001", "ZOEKEN")
    cache.lookup(shorter, Kvk(NotFound("IPD5200")), identity, far(clock), ttl=5)
    assert n(stored(table, shorter), "freshUntil") == now + 5
    longer = CacheKey("KVK#00000002", "ZOEKEN")
    cache.lookup(longer, Kvk(NotFound("IPD5200")), identity, far(clock), ttl=50)
    assert n(stored(table, longer), "freshUntil") == now + 10  # never longer than the negative TTL


def test_an_answer_from_the_table_says_when_kvk_gave_it(cache: KvkCache, clock: FakeClock) -> None:
    fetched = clock.time()
    first = cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock))
    assert first.fetched_at == fetched
    clock.advance(50)
    assert cache.lookup(KEY, Kvk({"v": 2}), identity, far(clock)).fetched_at == fetched  # from memory
    cache.forget_memory()
    again = cache.lookup(KEY, Kvk({"v": 2}), identity, far(clock))
    assert (again.value, again.source, again.stale) == ({"v": 1}, "cache", False)
    assert again.fetched_at == fetched


def test_a_payload_too_large_for_an_item_is_answered_but_not_stored(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    import secrets

    huge = {"noise": secrets.token_hex(MAX_PAYLOAD_BYTES)}  # does not compress below the limit
    kvk = Kvk(huge)
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == huge
    assert "status" not in stored(table)
    cache.forget_memory()
    cache.lookup(KEY, kvk, identity, far(clock))
    assert kvk.calls == 2


def test_an_unreadable_stored_payload_is_a_miss(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock))
    table.client.update_item(
        TableName=table.name,
        Key={"pk": {"S": KEY.pk}, "sk": {"S": KEY.sk}},
        UpdateExpression="SET payload = :junk",
        ExpressionAttributeValues={":junk": {"B": b"not zlib"}},
    )
    cache.forget_memory()
    kvk = Kvk({"v": 2})
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"v": 2}
    assert kvk.calls == 1


def test_memory_keeps_an_answer_for_l1_seconds_then_asks_the_table(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    cache = KvkCache(DynamoStore(table.client, table.name), CachePolicy(ttl=1000, l1_seconds=60), clock)
    kvk = Kvk({"v": 1})
    cache.lookup(KEY, kvk, identity, far(clock))
    clock.advance(59.9)
    cache.lookup(KEY, kvk, identity, far(clock))
    assert (metric("CacheHitMemory"), metric("CacheHit")) == ([1.0], [])
    clock.advance(0.1)
    assert cache.lookup(KEY, kvk, identity, far(clock)).source == "cache"
    assert (metric("CacheHitMemory"), metric("CacheHit")) == ([1.0], [1.0])
    clock.advance(59.9)  # the table's answer is kept in memory for l1_seconds too
    cache.lookup(KEY, kvk, identity, far(clock))
    assert metric("CacheHitMemory") == [1.0, 1.0]
    assert kvk.calls == 1


def test_memory_ends_exactly_when_the_entry_stops_being_fresh(clock: FakeClock) -> None:
    cache = KvkCache(None, CachePolicy(ttl=5, l1_seconds=60), clock)
    kvk = Kvk({"v": 1})
    cache.lookup(KEY, kvk, identity, far(clock))
    clock.advance(4.9)
    cache.lookup(KEY, kvk, identity, far(clock))
    assert kvk.calls == 1
    clock.advance(0.1)
    cache.lookup(KEY, kvk, identity, far(clock))
    assert kvk.calls == 2


def test_memory_holds_the_most_recently_used_answers(clock: FakeClock) -> None:
    cache = KvkCache(None, CachePolicy(l1_size=2), clock)
    first, second, third = (CacheKey(f"KVK#0000000{i}", "ZOEKEN") for i in (1, 2, 3))
    kvk = Kvk({"v": 1})
    for key in (first, second, first, third):  # using the first again makes the second the oldest
        cache.lookup(key, kvk, identity, far(clock))
    assert kvk.calls == 3
    cache.lookup(first, kvk, identity, far(clock))
    cache.lookup(third, kvk, identity, far(clock))
    assert kvk.calls == 3
    cache.lookup(second, kvk, identity, far(clock))
    assert kvk.calls == 4


def test_without_memory_every_lookup_reads_the_table(table: Table, clock: FakeClock, fresh_metrics: None) -> None:
    cache = KvkCache(DynamoStore(table.client, table.name), CachePolicy(l1_size=0), clock)
    kvk = Kvk({"v": 1})
    for _ in range(3):
        cache.lookup(KEY, kvk, identity, far(clock))
    assert (metric("CacheHitMemory"), metric("CacheHit"), kvk.calls) == ([], [1.0, 1.0], 1)


def test_an_answer_in_memory_is_given_even_with_no_time_left(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    kvk = Kvk({"v": 1})
    cache.lookup(KEY, kvk, identity, far(clock))
    assert cache.lookup(KEY, kvk, identity, Deadline.after(0, clock)).value == {"v": 1}
    other = CacheKey("KVK#00000009", "ZOEKEN")
    reads: list[Any] = []
    table.client.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(1))
    with pytest.raises(TemporarilyUnavailable, match="no time left"):
        cache.lookup(other, kvk, identity, Deadline.after(0, clock))
    assert (reads, kvk.calls) == ([], 1)  # neither the table nor KVK is asked


def test_peek_answers_only_fresh_answers_and_never_asks_kvk(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    assert cache.peek(KEY, identity) is None
    cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock))
    assert cache.peek(KEY, identity) == cache.lookup(KEY, Kvk({"v": 2}), identity, far(clock))
    cache.forget_memory()
    clock.advance(99)
    from_table = cache.peek(KEY, identity)
    assert from_table is not None and (from_table.value, from_table.source) == ({"v": 1}, "cache")
    reads: list[Any] = []
    table.client.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(1))
    assert cache.peek(KEY, identity) is not None
    assert reads == []  # the table's answer was kept in memory
    cache.forget_memory()
    clock.advance(1)
    assert cache.peek(KEY, identity) is None  # stale: only lookup may use it, when KVK fails


def test_a_refused_call_is_answered_from_a_fresh_entry_without_asking_admission(
    cache: KvkCache, clock: FakeClock
) -> None:
    asked: list[int] = []

    def admit() -> None:
        asked.append(1)

    cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock), admit=admit)
    assert asked == [1]
    cache.forget_memory()
    cache.lookup(KEY, Kvk({"v": 2}), identity, far(clock), admit=admit)
    assert asked == [1]


def test_a_refused_call_with_no_stale_answer_raises_the_refusal(cache: KvkCache, clock: FakeClock) -> None:
    def refused() -> None:
        raise BudgetExhausted("spent")

    cache.lookup(KEY, Kvk(NotFound("IPD5200")), identity, far(clock))
    cache.forget_memory()
    clock.advance(11)  # a not-found answer is never used stale
    with pytest.raises(BudgetExhausted):
        cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock), admit=refused)


def test_a_request_kvk_rejects_is_never_answered_stale_and_leaves_no_failure_mark(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    expired_entry_in_table(cache, clock)
    with pytest.raises(InvalidRequest):
        cache.lookup(KEY, Kvk(InvalidRequest("IPD0004")), identity, far(clock))
    item = stored(table)
    assert "failedAt" not in item and "leaseUntil" not in item


def test_a_failed_fetch_marks_the_failure_time_for_waiters(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    with pytest.raises(TemporarilyUnavailable):
        cache.lookup(KEY, Kvk(TemporarilyUnavailable("down")), identity, far(clock))
    item = stored(table)
    assert n(item, "failedAt") == clock.time()
    assert "leaseUntil" not in item and "leaseHolder" not in item


def test_an_unreadable_kvk_answer_is_a_failure_answered_stale_if_possible(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    def strict(payload: Any) -> Any:
        if "v" not in payload:
            raise ValueError("KVK changed its shape")
        return payload

    with pytest.raises(TemporarilyUnavailable, match="could not be read"):
        cache.lookup(KEY, Kvk({"unexpected": 1}), strict, far(clock))
    assert "failedAt" in stored(table)
    cache.lookup(KEY, Kvk({"v": 1}), strict, far(clock))
    cache.forget_memory()
    clock.advance(POLICY.ttl + 1)
    stale = cache.lookup(KEY, Kvk({"unexpected": 2}), strict, far(clock))
    assert (stale.value, stale.stale) == ({"v": 1}, True)


def test_a_fetch_refused_before_kvk_gives_the_lease_back_without_a_failure(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    from kvkgate.domain.outcomes import CallerBudgetExceeded

    with pytest.raises(CallerBudgetExceeded):
        cache.lookup(KEY, Kvk(CallerBudgetExceeded("ip:x", 60, 30.0)), identity, far(clock))
    item = stored(table)
    assert "leaseUntil" not in item and "failedAt" not in item
    kvk = Kvk({"v": 1})
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"v": 1}  # nobody waits for it
    assert clock.sleeps == []


def test_an_answer_that_arrives_after_the_deadline_is_not_written(
    table: Table, cache: KvkCache, clock: FakeClock, fresh_metrics: None
) -> None:
    def slow() -> KvkResponse:
        clock.advance(2)
        return KvkResponse({"v": 1}, "2.1.0")

    answer = cache.lookup(KEY, slow, identity, Deadline.after(1, clock))
    assert (answer.value, answer.source) == ({"v": 1}, "kvk")
    assert "status" not in stored(table)
    assert metric("CacheWriteSkipped") == [1.0]
    assert cache.lookup(KEY, Kvk({"v": 2}), identity, far(clock)).value == {"v": 1}  # memory still has it


def test_a_lease_is_refused_while_the_entry_is_fresh_or_another_lease_is_live(table: Table, clock: FakeClock) -> None:
    from kvkgate.aws.cache import Entry

    store = DynamoStore(table.client, table.name)
    now = clock.time()
    token, _ = store.try_lease(KEY, now, now + 5)
    assert token is not None
    item = stored(table)
    assert n(item, "leaseUntil") == now + 5
    assert n(item, "expiresAt") == int(now + 5) + 60  # an abandoned lease's item is swept
    assert store.try_lease(KEY, now + 4.9, now + 9.9)[0] is None
    held = store.try_lease(KEY, now + 4.99, now + 10)[1]
    assert held.lease_until == now + 5 and held.entry is None
    assert store.try_lease(KEY, now + 5.001, now + 10)[0] is not None  # an expired lease is taken over
    assert store.put(KEY, Entry(True, {"v": 1}, now + 6, now + 16, now + 26))
    assert n(stored(table), "expiresAt") == int(now + 26) + 1
    refused, seen = store.try_lease(KEY, now + 15.9, now + 20)
    assert refused is None
    assert seen.entry is not None and seen.entry.payload == {"v": 1}
    assert store.try_lease(KEY, now + 16, now + 21)[0] is not None  # fresh until, not including, freshUntil
    assert n(stored(table), "expiresAt") == int(now + 26) + 1  # a lease keeps the answer's TTL


def test_only_the_lease_holder_gives_the_lease_back(table: Table, clock: FakeClock) -> None:
    store = DynamoStore(table.client, table.name)
    now = clock.time()
    first, _ = store.try_lease(KEY, now, now + 5)
    assert first is not None
    second, _ = store.try_lease(KEY, now + 6, now + 11)  # took the expired lease over
    assert second is not None
    store.release(KEY, first, failed_at=now + 6)
    assert n(stored(table), "leaseUntil") == now + 11  # not the first holder's to give back
    assert "failedAt" not in stored(table)
    store.release(KEY, second, failed_at=None)
    assert "leaseUntil" not in stored(table) and "failedAt" not in stored(table)


def test_the_store_reports_an_unreachable_table_as_unavailable(clock: FakeClock) -> None:
    from kvkgate.aws.cache import Entry
    from tests.unit.test_limits import Unreachable

    store = DynamoStore(Unreachable(), "t")  # type: ignore[arg-type]
    now = clock.time()
    with pytest.raises(StoreUnavailable):
        store.get(KEY)
    with pytest.raises(StoreUnavailable):
        store.put(KEY, Entry(True, {"v": 1}, now, now + 1, now + 2))
    with pytest.raises(StoreUnavailable):
        store.try_lease(KEY, now, now + 5)
    with pytest.raises(StoreUnavailable):
        store.release(KEY, "token", None)


def test_a_waiter_whose_holder_just_finished_answers_at_once(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    """The table had nothing when read; by the time of the lease, another caller has stored the answer."""

    class LateRead(DynamoStore):
        def get(self, key: CacheKey) -> Any:
            seen = super().get(key)
            KvkCache(DynamoStore(table.client, table.name), POLICY, clock)._write(key, other_entry(clock))
            return seen

    cache = KvkCache(LateRead(table.client, table.name), POLICY, clock)
    kvk = Kvk({"mine": True})
    answer = cache.lookup(KEY, kvk, identity, far(clock))
    assert (answer.value, answer.source) == ({"theirs": True}, "cache")
    assert (kvk.calls, clock.sleeps) == (0, [])
    assert metric("CacheHitAfterWait") == [1.0]
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"theirs": True}
    assert metric("CacheHitMemory") == [1.0]  # the waited-for answer is kept in memory too


def test_a_waiter_polls_every_poll_interval_and_takes_over_a_lease_given_back(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    store = DynamoStore(table.client, table.name)
    token = hold_lease(table, clock)
    # The holder gives up, e.g. refused by its caller's budget.
    meanwhile(clock, after_sleeps=3, action=lambda: store.release(KEY, token, failed_at=None))
    kvk = Kvk({"mine": True})
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"mine": True}
    assert clock.sleeps == [POLICY.poll_seconds] * 3
    assert kvk.calls == 1
    assert "leaseUntil" not in stored(table)  # it fetched under its own lease, and gave it back


def test_a_waiter_without_an_answer_waits_no_longer_than_its_deadline_allows(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    hold_lease(table, clock)  # for 5 s
    kvk = Kvk({"mine": True})
    assert cache.lookup(KEY, kvk, identity, Deadline.after(3, clock)).value == {"mine": True}
    assert sum(clock.sleeps) == pytest.approx(2.0, abs=POLICY.poll_seconds)  # a second left for its own call
    assert kvk.calls == 1


def test_a_waiter_with_a_stale_answer_waits_briefly_for_a_fresh_one(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    policy = CachePolicy(ttl=100, stale_if_error=1000, poll_seconds=0.05, stale_wait_seconds=0.2)
    cache = KvkCache(DynamoStore(table.client, table.name), policy, clock)
    cache.lookup(KEY, Kvk({"old": True}), identity, far(clock))
    cache.forget_memory()
    clock.advance(101)
    hold_lease(table, clock)
    answer = cache.lookup(KEY, Kvk({"mine": True}), identity, far(clock))
    assert (answer.value, answer.stale) == ({"old": True}, True)
    assert sum(clock.sleeps) == pytest.approx(0.2)
    assert metric("CacheStale") == [1.0]


def test_a_fetch_failed_longer_ago_than_a_lease_does_not_stop_a_stale_waiter_from_waiting(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    expired_entry_in_table(cache, clock)
    store = DynamoStore(table.client, table.name)
    store.release(KEY, hold_lease(table, clock), failed_at=clock.time() - POLICY.lease_seconds - 0.01)
    hold_lease(table, clock)
    answer = cache.lookup(KEY, Kvk({"mine": True}), identity, far(clock))
    assert answer.stale
    assert clock.sleeps != []  # it waited its short while for the new fetch


def test_a_table_that_fails_writes_is_reported_and_kvk_still_answers(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    class ReadOnly(DynamoStore):
        def put(self, key: CacheKey, entry: Any) -> bool:
            raise StoreUnavailable("DynamoDB: ProvisionedThroughputExceededException")

        def release(self, key: CacheKey, token: str, failed_at: float | None) -> None:
            raise StoreUnavailable("DynamoDB: ProvisionedThroughputExceededException")

    cache = KvkCache(ReadOnly(table.client, table.name), POLICY, clock)
    assert cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock)).value == {"v": 1}
    assert metric("CacheUnavailable") == [1.0]
    other = CacheKey("KVK#00000001", "ZOEKEN")
    with pytest.raises(TemporarilyUnavailable):  # the lease could not be given back: the failure still surfaces
        cache.lookup(other, Kvk(TemporarilyUnavailable("down")), identity, far(clock))


def test_an_unreadable_table_is_counted(clock: FakeClock, fresh_metrics: None) -> None:
    from tests.unit.test_limits import Unreachable

    cache = KvkCache(DynamoStore(Unreachable(), "t"), POLICY, clock)  # type: ignore[arg-type]
    kvk = Kvk({"v": 1})
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"v": 1}
    assert cache.peek(CacheKey("KVK#00000001", "ZOEKEN"), identity) is None
    assert metric("CacheUnavailable") == [1.0] * 4  # the read, the lease, the write, and the peek
    assert clock.sleeps == []


def test_a_stale_answer_is_usable_until_the_items_ttl_and_not_at_it(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock))
    ttl = n(stored(table), "expiresAt")
    down = Kvk(TemporarilyUnavailable("down"))
    cache.forget_memory()
    clock.advance(ttl - clock.time() - 0.5)
    assert cache.lookup(KEY, down, identity, far(clock)).stale
    cache.forget_memory()
    clock.advance(0.5)  # DynamoDB may still return the item until its sweep: it is not used
    with pytest.raises(TemporarilyUnavailable):
        cache.lookup(KEY, down, identity, far(clock))


def test_a_fetch_that_failed_exactly_a_lease_ago_still_counts_as_just_failed(
    table: Table, cache: KvkCache, clock: FakeClock
) -> None:
    expired_entry_in_table(cache, clock)
    store = DynamoStore(table.client, table.name)
    store.release(KEY, hold_lease(table, clock), failed_at=clock.time() - POLICY.lease_seconds)
    hold_lease(table, clock)
    answer = cache.lookup(KEY, Kvk({"mine": True}), identity, far(clock))
    assert answer.stale
    assert clock.sleeps == []


def test_a_lookup_with_under_a_second_left_still_reads_the_table(cache: KvkCache, clock: FakeClock) -> None:
    cache.lookup(KEY, Kvk({"v": 1}), identity, far(clock))
    cache.forget_memory()
    kvk = Kvk({"v": 2})
    assert cache.lookup(KEY, kvk, identity, Deadline.after(0.5, clock)).value == {"v": 1}
    assert kvk.calls == 0


def test_an_answer_with_a_little_time_left_is_still_written(table: Table, cache: KvkCache, clock: FakeClock) -> None:
    def slow() -> KvkResponse:
        clock.advance(1)
        return KvkResponse({"v": 1}, "2.1.0")

    cache.lookup(KEY, slow, identity, Deadline.after(1.5, clock))
    assert stored(table)["status"] == {"S": "found"}


def test_a_cached_not_found_answer_needs_no_parsing(cache: KvkCache, clock: FakeClock) -> None:
    def model(payload: Any) -> Any:
        if not isinstance(payload, dict):
            raise ValueError("not a KVK answer")
        return payload

    cache.lookup(KEY, Kvk(NotFound("IPD5200")), model, far(clock))
    cache.forget_memory()
    kvk = Kvk({"v": 1})
    assert cache.lookup(KEY, kvk, model, far(clock)).value is None
    assert kvk.calls == 0


def test_a_memory_of_one_keeps_the_last_answer(clock: FakeClock) -> None:
    cache = KvkCache(None, CachePolicy(l1_size=1), clock)
    kvk = Kvk({"v": 1})
    cache.lookup(KEY, kvk, identity, far(clock))
    cache.lookup(KEY, kvk, identity, far(clock))
    assert kvk.calls == 1


def test_an_answer_polled_from_the_table_is_kept_in_memory(
    table: Table, cache: KvkCache, clock: FakeClock, fresh_metrics: None
) -> None:
    store = DynamoStore(table.client, table.name)
    hold_lease(table, clock)
    meanwhile(clock, after_sleeps=2, action=lambda: KvkCache(store, POLICY, clock)._write(KEY, other_entry(clock)))
    kvk = Kvk({"mine": True})
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"theirs": True}
    assert metric("CacheHitAfterWait") == [1.0]
    assert cache.lookup(KEY, kvk, identity, far(clock)).value == {"theirs": True}
    assert (metric("CacheHitMemory"), kvk.calls) == ([1.0], 0)


def test_a_fetchs_lease_holds_other_environments_off_for_the_lease_length(
    cache: KvkCache, table: Table, clock: FakeClock
) -> None:
    other = KvkCache(DynamoStore(table.client, table.name), POLICY, clock)
    other_kvk = Kvk({"other": True})
    seen: dict[str, Any] = {}

    def slow_fetch() -> KvkResponse:  # while this environment's KVK call is under way, another asks
        began = clock.time()
        seen["answer"] = other.lookup(KEY, other_kvk, identity, far(clock))
        seen["waited"] = clock.time() - began
        return KvkResponse({"first": True}, "2.1.0")

    cache.lookup(KEY, slow_fetch, identity, far(clock))
    # It waited for the lease holder until the lease ran out (the holder looked stuck), then fetched itself.
    assert seen["waited"] == pytest.approx(POLICY.lease_seconds, abs=2 * POLICY.poll_seconds)
    assert other_kvk.calls == 1

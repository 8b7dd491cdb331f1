"""DynamoDB reading but refusing writes (throttled) is DynamoDB failing: the cache asks KVK, it does
not mistake the refused lease for another caller's fetch and answer stale."""

from __future__ import annotations

from typing import Any

from kvkgate.aws.cache import CacheKey, DynamoStore, KvkCache
from kvkgate.aws.dynamo import StoreUnavailable
from tests.conftest import FakeClock, Table
from tests.unit.test_cache import KEY, POLICY, Kvk, expired_entry_in_table, far, identity


class LeaseRefused(DynamoStore):
    def try_lease(self, key: CacheKey, now: float, until: float) -> Any:
        raise StoreUnavailable("DynamoDB: ProvisionedThroughputExceededException")


def test_a_refused_lease_asks_kvk_for_a_fresh_answer(table: Table, clock: FakeClock) -> None:
    expired_entry_in_table(KvkCache(DynamoStore(table.client, table.name), POLICY, clock), clock)
    cache = KvkCache(LeaseRefused(table.client, table.name), POLICY, clock)
    kvk = Kvk({"new": True})
    answer = cache.lookup(KEY, kvk, identity, far(clock))
    assert (answer.value, answer.stale, kvk.calls) == ({"new": True}, False, 1)
    assert clock.sleeps == []  # nobody to wait for

"""Cache-aside for KVK answers: a small in-memory L1 per execution environment, then DynamoDB.

One item per answer (design §7): ``pk`` ``KVK#<kvkNummer>`` (``VESTIGING#<nr>`` for a
Vestigingsprofiel, ``ZOEKEN#<hash>`` for a search without a KVK number), ``sk`` the API
(``ZOEKEN``, ``ZOEKEN#<hash>``, ``BASISPROFIEL``, ``NAAMGEVING``, ...). Attributes: ``status``
(``found``/``not_found``), ``payload`` (zlib-compressed JSON), ``fetchedAt``, ``freshUntil``,
``expiresAt`` (TTL), ``apiVersion``; ``leaseUntil``/``leaseHolder`` while one caller fetches.

Policy: found answers are fresh for ``CACHE_TTL_SECONDS`` and usable as stale, when KVK fails,
for ``STALE_IF_ERROR_SECONDS`` more; not-found answers are fresh for
``NEGATIVE_CACHE_TTL_SECONDS`` and never served stale (a company registered since must not be
rejected because KVK is down); failures are never cached. DynamoDB returns expired items until
its lazy sweep, so freshness is always checked on read. When DynamoDB fails, lookups go to KVK.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from kvkgate import telemetry
from kvkgate.aws.dynamo import StoreUnavailable, is_conditional_failure, number, store_error
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.kvk.client import KvkResponse
from kvkgate.kvk.errors import InvalidRequest, KvkError, NotFound, TemporarilyUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)
T = TypeVar("T")

# DynamoDB items may not exceed 400 KB; leave room for the other attributes.
MAX_PAYLOAD_BYTES = 350_000


@dataclass(frozen=True)
class CacheKey:
    pk: str
    sk: str


@dataclass(frozen=True)
class CachePolicy:
    ttl: float = 86_400
    negative_ttl: float = 3_600
    stale_if_error: float = 7 * 86_400
    lease_seconds: float = 5.0
    poll_seconds: float = 0.05
    l1_size: int = 512
    l1_seconds: float = 60.0


@dataclass(frozen=True)
class Entry:
    found: bool
    payload: Any
    fetched_at: float
    fresh_until: float
    expires_at: float
    api_version: str | None = None

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def usable_stale(self, now: float) -> bool:
        return self.found and now < self.expires_at


@dataclass(frozen=True)
class Lookup[T]:
    """An answer and where it came from. ``value`` None: KVK knows no such registration."""

    value: T | None
    source: Literal["kvk", "cache"]
    stale: bool
    fetched_at: float


def encode(payload: Any) -> bytes:
    return zlib.compress(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def decode(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


class DynamoStore:
    """The DynamoDB side of the cache. Every AWS failure surfaces as :class:`StoreUnavailable`."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, key: CacheKey) -> tuple[Entry | None, float | None]:
        """The entry (None if absent or payload-less) and the lease expiry, if one is held."""
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key(key)).get("Item")
        except Exception as error:
            raise store_error(error) from error
        return _entry(item), number(item, "leaseUntil")

    def put(self, key: CacheKey, entry: Entry) -> bool:
        """Store ``entry`` (which also clears any lease). False when the payload is too large to keep."""
        item: dict[str, Any] = {
            **self._key(key),
            "status": {"S": "found" if entry.found else "not_found"},
            "fetchedAt": {"N": f"{entry.fetched_at:.3f}"},
            "freshUntil": {"N": f"{entry.fresh_until:.3f}"},
            "expiresAt": {"N": str(int(entry.expires_at) + 1)},
        }
        if entry.found:
            blob = encode(entry.payload)
            if len(blob) > MAX_PAYLOAD_BYTES:
                logger.warning("not caching %s/%s: %d bytes compressed", key.pk, key.sk, len(blob))
                return False
            item["payload"] = {"B": blob}
        if entry.api_version:
            item["apiVersion"] = {"S": entry.api_version}
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except Exception as error:
            raise store_error(error) from error
        return True

    def try_lease(self, key: CacheKey, now: float, until: float) -> tuple[bool, Entry | None, float | None]:
        """Take the right to fetch ``key`` unless a fresh entry or a live lease exists.

        Returns (leased, entry seen, lease expiry seen). One conditional update: no read-then-write race.
        """
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(key),
                UpdateExpression=(
                    "SET leaseUntil = :until, leaseHolder = :me, expiresAt = if_not_exists(expiresAt, :ttl)"
                ),
                ConditionExpression=(
                    "(attribute_not_exists(freshUntil) OR freshUntil <= :now)"
                    " AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"
                ),
                ExpressionAttributeValues={
                    ":until": {"N": f"{until:.3f}"},
                    ":me": {"S": uuid.uuid4().hex},
                    ":now": {"N": f"{now:.3f}"},
                    ":ttl": {"N": str(int(until) + 60)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise store_error(error) from error
            item = getattr(error, "response", {}).get("Item")
            return False, _entry(item), number(item, "leaseUntil")
        return True, None, None

    @staticmethod
    def _key(key: CacheKey) -> dict[str, Any]:
        return {"pk": {"S": key.pk}, "sk": {"S": key.sk}}


def _entry(item: dict[str, Any] | None) -> Entry | None:
    if not item or "status" not in item:
        return None
    found = item["status"]["S"] == "found"
    try:
        payload = decode(item["payload"]["B"]) if found else None
    except (KeyError, ValueError, zlib.error):
        logger.warning("ignoring an unreadable cache payload")
        return None
    return Entry(
        found=found,
        payload=payload,
        fetched_at=number(item, "fetchedAt") or 0.0,
        fresh_until=number(item, "freshUntil") or 0.0,
        expires_at=number(item, "expiresAt") or 0.0,
        api_version=item.get("apiVersion", {}).get("S"),
    )


def _parsed[T](entry: Entry, parse: Callable[[Any], T], stale: bool = False) -> Lookup[T] | None:
    """The stored answer as today's model reads it; None if it cannot (KVK's shapes drift, cached ones too)."""
    try:
        value = parse(entry.payload) if entry.found else None
    except ValueError:
        logger.warning("ignoring a cached answer the current model cannot read")
        return None
    return Lookup(value, "cache", stale, entry.fetched_at)


class _MemoryCache:
    """L1: a small LRU of parsed answers, each kept no longer than its entry is fresh."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[CacheKey, tuple[float, Lookup[Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey, now: float) -> Lookup[Any] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            until, lookup = hit
            if now >= until:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return lookup

    def put(self, key: CacheKey, until: float, lookup: Lookup[Any]) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._items[key] = (until, lookup)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class KvkCache:
    def __init__(
        self, store: DynamoStore | None, policy: CachePolicy | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._store = store
        self.policy = policy or CachePolicy()
        self._clock = clock
        self._memory = _MemoryCache(self.policy.l1_size)

    def lookup(
        self,
        key: CacheKey,
        fetch: Callable[[], KvkResponse],
        parse: Callable[[Any], T],
        deadline: Deadline,
    ) -> Lookup[T]:
        """The answer for ``key``: from L1, from DynamoDB if fresh, else from KVK via ``fetch``.

        Raises KVK's error when KVK fails and no stale answer may be used.
        """
        now = self._clock.time()
        remembered = self._memory.get(key, now)
        if remembered is not None:
            telemetry.count("CacheHitMemory")
            return remembered
        stored, _ = self._read(key)
        if stored is not None and stored.is_fresh(now):
            hit = self._remember(key, stored, parse)
            if hit is not None:
                telemetry.count("CacheHit")
                return hit
        waited = self._wait_for_other_fetcher(key, now, deadline)
        if waited is not None:
            hit = self._remember(key, waited, parse)
            if hit is not None:
                telemetry.count("CacheHitAfterWait")
                return hit
        telemetry.count("CacheMiss")
        return self._fetch(key, fetch, parse, stale=stored)

    def forget_memory(self) -> None:
        """Drop L1 (a new execution environment starts without it)."""
        self._memory.clear()

    def _read(self, key: CacheKey) -> tuple[Entry | None, float | None]:
        if self._store is None:
            return None, None
        try:
            return self._store.get(key)
        except StoreUnavailable as error:
            telemetry.count("CacheUnavailable")
            logger.warning("cache read failed, asking KVK: %s", error)
            return None, None

    def _wait_for_other_fetcher(self, key: CacheKey, now: float, deadline: Deadline) -> Entry | None:
        """Take the lease, or wait (bounded) for whoever holds it to store the answer."""
        if self._store is None:
            return None
        try:
            leased, seen, lease_until = self._store.try_lease(key, now, now + self.policy.lease_seconds)
        except StoreUnavailable:
            return None
        if leased:
            return None
        if seen is not None and seen.is_fresh(now):
            return seen
        give_up = min(lease_until or now, now + max(deadline.remaining() - 1.0, 0.0))
        while self._clock.time() < give_up:
            self._clock.sleep(self.policy.poll_seconds)
            entry, _ = self._read(key)
            if entry is not None and entry.is_fresh(self._clock.time()):
                return entry
        return None

    def _fetch(
        self, key: CacheKey, fetch: Callable[[], KvkResponse], parse: Callable[[Any], T], stale: Entry | None
    ) -> Lookup[T]:
        now = self._clock.time()
        try:
            response = fetch()
            value = parse(response.body)
            entry = Entry(
                True,
                response.body,
                now,
                now + self.policy.ttl,
                now + self.policy.ttl + self.policy.stale_if_error,
                response.api_version,
            )
        except NotFound:
            entry = Entry(False, None, now, now + self.policy.negative_ttl, now + self.policy.negative_ttl)
            value = None
        except InvalidRequest:
            raise
        except (KvkError, ValueError) as error:
            fallback = _parsed(stale, parse, stale=True) if stale is not None and stale.usable_stale(now) else None
            if fallback is not None:
                telemetry.count("CacheStale")
                logger.warning(
                    "KVK failed (%s); answering %s/%s from a stale entry", type(error).__name__, key.pk, key.sk
                )
                return fallback
            if isinstance(error, ValueError):
                raise TemporarilyUnavailable(f"KVK's answer for {key.pk}/{key.sk} could not be read") from None
            raise
        self._write(key, entry)
        # Later hits from memory are cache answers, not KVK's.
        self._memory.put(key, min(entry.fresh_until, now + self.policy.l1_seconds), Lookup(value, "cache", False, now))
        return Lookup(value, "kvk", False, now)

    def _remember(self, key: CacheKey, entry: Entry, parse: Callable[[Any], T]) -> Lookup[T] | None:
        lookup = _parsed(entry, parse)
        if lookup is not None:
            self._memory.put(key, min(entry.fresh_until, self._clock.time() + self.policy.l1_seconds), lookup)
        return lookup

    def _write(self, key: CacheKey, entry: Entry) -> None:
        if self._store is None:
            return
        try:
            self._store.put(key, entry)
        except StoreUnavailable as error:
            telemetry.count("CacheUnavailable")
            logger.warning("cache write failed: %s", error)

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
    # How long a caller holding a stale answer waits for another caller's fetch before answering stale.
    stale_wait_seconds: float = 0.05
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


@dataclass(frozen=True)
class Seen:
    """What the table holds for a key: the entry, a live lease's expiry, and when a fetch last failed."""

    entry: Entry | None = None
    lease_until: float | None = None
    failed_at: float | None = None


# What _lease reports when the table refused the lease: nobody is known to fetch, so ask KVK.
_TABLE_FAILED = Seen()


def _seen(item: dict[str, Any] | None) -> Seen:
    return Seen(_entry(item), number(item, "leaseUntil"), number(item, "failedAt"))


class DynamoStore:
    """The DynamoDB side of the cache. Every AWS failure surfaces as :class:`StoreUnavailable`."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, key: CacheKey) -> Seen:
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key(key)).get("Item")
        except Exception as error:
            raise store_error(error) from error
        return _seen(item)

    def put(self, key: CacheKey, entry: Entry) -> bool:
        """Store ``entry`` (which also clears any lease), unless the table holds a newer answer already.

        False when it was not stored: too large to keep, or another fetcher stored a newer one.
        """
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
            self._client.put_item(
                TableName=self._table,
                Item=item,
                # A fetcher whose lease ran out may finish after a newer answer was stored: keep the newer one.
                ConditionExpression="attribute_not_exists(fetchedAt) OR fetchedAt < :mine",
                ExpressionAttributeValues={":mine": item["fetchedAt"]},
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise store_error(error) from error
        return True

    def try_lease(self, key: CacheKey, now: float, until: float) -> tuple[str | None, Seen]:
        """Take the right to fetch ``key`` unless a fresh entry or a live lease exists.

        Returns (the lease's token or None, what the table held). One conditional update: no race.
        """
        token = uuid.uuid4().hex
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
                    ":me": {"S": token},
                    ":now": {"N": f"{now:.3f}"},
                    ":ttl": {"N": str(int(until) + 60)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise store_error(error) from error
            return None, _seen(getattr(error, "response", {}).get("Item"))
        return token, Seen()

    def release(self, key: CacheKey, token: str, failed_at: float | None) -> None:
        """Give the lease back (``failed_at``: KVK failed, so waiters stop waiting for this fetch)."""
        values = {":me": {"S": token}}
        update = "REMOVE leaseUntil, leaseHolder"
        if failed_at is not None:
            values[":now"] = {"N": f"{failed_at:.3f}"}
            update = "REMOVE leaseUntil, leaseHolder SET failedAt = :now"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(key),
                UpdateExpression=update,
                ConditionExpression="leaseHolder = :me",
                ExpressionAttributeValues=values,
            )
        except Exception as error:
            if not is_conditional_failure(error):  # someone took the expired lease over: theirs now
                raise store_error(error) from error

    def expire(self, key: CacheKey, now: float, keep_stale: bool) -> None:
        """Make a stored answer no longer fresh (and, unless ``keep_stale``, no longer usable at all)."""
        # Not "now": a stored time is rounded, and a rounded-up "now" would still be fresh a moment longer.
        update = "SET freshUntil = :never" + ("" if keep_stale else ", expiresAt = :gone")
        values = {":never": {"N": "0"}} | ({} if keep_stale else {":gone": {"N": str(int(now))}})
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(key),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",  # nothing stored: nothing to expire, nothing created
                ExpressionAttributeValues=values,
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise store_error(error) from error

    def keys_of(self, pk: str) -> list[CacheKey]:
        """Every answer stored about one subject (a KVK number): its searches, profiles and names."""
        keys: list[CacheKey] = []
        start: dict[str, Any] | None = None
        while True:
            arguments: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": pk}},
                "ProjectionExpression": "sk",
            }
            if start:
                arguments["ExclusiveStartKey"] = start
            try:
                page = self._client.query(**arguments)
            except Exception as error:
                raise store_error(error) from error
            keys += [CacheKey(pk, item["sk"]["S"]) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return keys

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


def _failed_since(seen: Seen, since: float) -> bool:
    return seen.failed_at is not None and seen.failed_at >= since


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

    def drop(self, pk: str, sk: str | None = None) -> None:
        with self._lock:
            for key in [key for key in self._items if key.pk == pk and sk in (None, key.sk)]:
                del self._items[key]


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
        admit: Callable[[], None] | None = None,
        ttl: float | None = None,
    ) -> Lookup[T]:
        """The answer for ``key``: from L1, from DynamoDB if fresh, else from KVK via ``fetch``.

        ``ttl`` replaces the policy's freshness for this answer (and caps its negative TTL).

        ``admit`` raises when the call to KVK is already known to be refused: then nothing more is
        asked of the table (no lease), and a stale answer is used if there is one.

        Concurrent misses for one key make one KVK call: the caller that takes the lease fetches,
        the others wait for its answer. A waiter that holds a stale answer does not wait long, and
        not at all once the fetch is known to have failed. Raises KVK's error when KVK fails and
        no stale answer may be used.
        """
        now = self._clock.time()
        remembered = self._memory.get(key, now)
        if remembered is not None:
            telemetry.count("CacheHitMemory")
            return remembered
        if not deadline.allows(0.0):
            # Out of time: not even the table is asked (a sign-up's deadline bounds every call).
            raise TemporarilyUnavailable(f"no time left to look up {key.pk}/{key.sk}")
        stored = self._read(key).entry
        if stored is not None and stored.is_fresh(now):
            hit = self._remember(key, stored, parse)
            if hit is not None:
                telemetry.count("CacheHit")
                return hit
        if admit is not None:
            try:
                admit()
            except KvkError:
                fallback = (
                    _parsed(stored, parse, stale=True) if stored is not None and stored.usable_stale(now) else None
                )
                if fallback is None:
                    raise
                telemetry.count("CacheStale")
                return fallback
        token, seen = self._lease(key, now)
        waiting_is_useful = seen is not _TABLE_FAILED and self._store is not None
        if token is None and waiting_is_useful and deadline.allows(self.policy.poll_seconds):
            waited = self._wait_for_other_fetcher(key, seen, stored, parse, deadline)
            if waited is not None:
                return waited
            token, seen = self._lease(key, self._clock.time())
        telemetry.count("CacheMiss")
        return self._fetch(key, fetch, parse, stale=seen.entry or stored, token=token, deadline=deadline, ttl=ttl)

    def peek(self, key: CacheKey, parse: Callable[[Any], T]) -> Lookup[T] | None:
        """The fresh answer for ``key`` if memory or the table holds one; never asks KVK."""
        now = self._clock.time()
        remembered = self._memory.get(key, now)
        if remembered is not None:
            return remembered
        stored = self._read(key).entry
        if stored is None or not stored.is_fresh(now):
            return None
        return self._remember(key, stored, parse)

    def forget_memory(self) -> None:
        """Drop L1 (a new execution environment starts without it)."""
        self._memory.clear()

    def refresh(self, key: CacheKey) -> None:
        """The next lookup of ``key`` asks KVK; the old answer stays usable if KVK fails (the sweep)."""
        self._memory.drop(key.pk, key.sk)
        if self._store is not None:
            self._store.expire(key, self._clock.time(), keep_stale=True)

    def forget(self, pk: str) -> int:
        """Every stored answer about ``pk`` is gone, not even usable as stale: KVK said it changed.

        Other environments' memory (L1) keeps an answer at most ``l1_seconds`` more. Returns how many
        stored answers were forgotten."""
        self._memory.drop(pk)
        if self._store is None:
            return 0
        now = self._clock.time()
        keys = self._store.keys_of(pk)
        for key in keys:
            self._store.expire(key, now, keep_stale=False)
        return len(keys)

    def _read(self, key: CacheKey) -> Seen:
        if self._store is None:
            return Seen()
        try:
            return self._store.get(key)
        except StoreUnavailable as error:
            telemetry.count("CacheUnavailable")
            logger.warning("cache read failed, asking KVK: %s", error)
            return Seen()

    def _lease(self, key: CacheKey, now: float) -> tuple[str | None, Seen]:
        """(token, what the table held); token None when another caller fetches (or there is no table)."""
        if self._store is None:
            return None, Seen()
        try:
            return self._store.try_lease(key, now, now + self.policy.lease_seconds)
        except StoreUnavailable as error:
            # Reads may work while writes are throttled: that is DynamoDB failing, not another fetcher.
            telemetry.count("CacheUnavailable")
            logger.warning("cache lease failed, asking KVK: %s", error)
            return None, _TABLE_FAILED

    def _wait_for_other_fetcher(
        self, key: CacheKey, seen: Seen, stored: Entry | None, parse: Callable[[Any], T], deadline: Deadline
    ) -> Lookup[T] | None:
        """Wait (bounded) for the lease holder's answer; None when this caller should fetch itself.

        A caller holding a stale answer waits at most ``stale_wait_seconds``, and not at all when a
        fetch failed a moment ago. One without waits for the holder; if the holder fails meanwhile,
        it fails too rather than calling KVK right after it (waiters must not become a herd).
        """
        began = self._clock.time()
        if seen.entry is not None and seen.entry.is_fresh(began):
            return self._answer_after_wait(key, seen.entry, parse)
        stale = next((entry for entry in (seen.entry, stored) if entry is not None and entry.usable_stale(began)), None)
        if stale is not None and _failed_since(seen, began - self.policy.lease_seconds):
            return self._stale(key, stale, parse)
        patience = self.policy.stale_wait_seconds if stale is not None else max(deadline.remaining() - 1.0, 0.0)
        give_up = min(seen.lease_until or began, began + patience)
        while self._clock.time() < give_up:
            self._clock.sleep(self.policy.poll_seconds)
            seen = self._read(key)
            if seen.entry is not None and seen.entry.is_fresh(self._clock.time()):
                return self._answer_after_wait(key, seen.entry, parse)
            if seen.lease_until is None or _failed_since(seen, began):
                break
        if stale is not None:
            return self._stale(key, stale, parse)
        if _failed_since(seen, began):
            raise TemporarilyUnavailable(f"KVK failed for {key.pk}/{key.sk} a moment ago")
        return None

    def _stale(self, key: CacheKey, entry: Entry, parse: Callable[[Any], T]) -> Lookup[T] | None:
        answer = _parsed(entry, parse, stale=True)
        if answer is not None:
            telemetry.count("CacheStale")
            logger.warning("another caller's KVK fetch for %s/%s is slow or failed; answering stale", key.pk, key.sk)
        return answer

    def _answer_after_wait(self, key: CacheKey, entry: Entry, parse: Callable[[Any], T]) -> Lookup[T] | None:
        hit = self._remember(key, entry, parse)
        if hit is not None:
            telemetry.count("CacheHitAfterWait")
        return hit

    def _fetch(
        self,
        key: CacheKey,
        fetch: Callable[[], KvkResponse],
        parse: Callable[[Any], T],
        stale: Entry | None,
        token: str | None,
        deadline: Deadline,
        ttl: float | None,
    ) -> Lookup[T]:
        now = self._clock.time()
        fresh = self.policy.ttl if ttl is None else ttl
        negative = self.policy.negative_ttl if ttl is None else min(ttl, self.policy.negative_ttl)
        try:
            response = fetch()
            value = parse(response.body)
            entry = Entry(
                True, response.body, now, now + fresh, now + fresh + self.policy.stale_if_error, response.api_version
            )
        except NotFound:
            entry = Entry(False, None, now, now + negative, now + negative)
            value = None
        except (KvkError, ValueError) as error:
            self._release(key, token, failed=not isinstance(error, InvalidRequest))
            if isinstance(error, InvalidRequest):
                raise
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
        except BaseException:  # refused before KVK was asked (e.g. the caller's budget): nothing failed
            self._release(key, token, failed=False)
            raise
        if deadline.allows(0.0):
            self._write(key, entry)
        else:  # the caller's time is up: answer now, leave the lease to expire
            telemetry.count("CacheWriteSkipped")
        # Later hits from memory are cache answers, not KVK's.
        self._memory.put(key, min(entry.fresh_until, now + self.policy.l1_seconds), Lookup(value, "cache", False, now))
        return Lookup(value, "kvk", False, now)

    def _release(self, key: CacheKey, token: str | None, failed: bool) -> None:
        if self._store is None or token is None:
            return
        try:
            self._store.release(key, token, self._clock.time() if failed else None)
        except StoreUnavailable as error:
            logger.warning("could not give the cache lease back: %s", error)

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

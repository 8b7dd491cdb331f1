"""The watch list on the project's table: which customers watch which KVK numbers, and the bookkeeping
that makes the sweep and the signal poller resumable and their events idempotent.

Items (every key starts with ``WATCH``, the prefix the functions' IAM policies grant):

* a watched number: ``WATCH#<kvk>`` / ``STATE`` with ``customers`` (a string set, at most
  ``MAX_CUSTOMERS_PER_NUMBER``), ``snapshot`` and ``bucket``;
* a customer's numbers: ``WATCHER#<customer>`` / ``NUMBERS`` with ``numbers`` (at most
  ``MAX_NUMBERS_PER_CUSTOMER``), so ``CustomerDeleted`` finds them all;
* the sweep's schedule: ``WATCHSWEEP#<bucket>`` / ``<kvk>`` (a Query per bucket lists its numbers in order);
* a cursor: ``WATCHCURSOR#<name>`` / ``CURSOR`` with ``value``;
* a change told to a customer: ``WATCHEVENT#<change id>`` / ``<customer>`` with ``state``
  (``pending``, ``sent``), ``at``, ``expiresAt``;
* a signal handled: ``WATCHSIGNAL#<signal id>`` / ``SEEN`` with ``expiresAt``.

A number's bucket (one of ``SWEEP_BUCKETS``, by a hash of the number) spreads the watched numbers
evenly over the sweep's period whatever their count.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kvkgate.aws.dynamo import is_conditional_failure, store_error
from kvkgate.clock import SYSTEM_CLOCK, Clock
from kvkgate.domain.ports import Watched
from kvkgate.domain.watch import SWEEP_BUCKETS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)
MAX_CUSTOMERS_PER_NUMBER = 100
MAX_NUMBERS_PER_CUSTOMER = 100
MAX_CUSTOMER_ID = 128
EVENT_MEMORY_SECONDS = 35 * 86_400  # longer than any sweep period: a change is never told twice


def bucket_of(kvk_number: str) -> int:
    return int(hashlib.sha256(kvk_number.encode()).hexdigest()[:8], 16) % SWEEP_BUCKETS


class DynamoWatchList:
    def __init__(self, client: DynamoDBClient, table: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    # -- who watches what ---------------------------------------------------------------------------

    def watch(self, kvk_number: str, customer: str, snapshot: str) -> bool:
        if not customer or len(customer) > MAX_CUSTOMER_ID:
            return False
        bucket = bucket_of(kvk_number)
        start = {"bucket": {"N": str(bucket)}, "snapshot": {"S": snapshot}}
        added = self._add_to_set(f"WATCH#{kvk_number}", "STATE", "customers", customer, MAX_CUSTOMERS_PER_NUMBER, start)
        if not added:
            logger.warning(
                "not watching %s for one more customer: %d watch it already", kvk_number, MAX_CUSTOMERS_PER_NUMBER
            )
            return False
        if not self._add_to_set(f"WATCHER#{customer}", "NUMBERS", "numbers", kvk_number, MAX_NUMBERS_PER_CUSTOMER):
            self._remove_from_set(f"WATCH#{kvk_number}", "STATE", "customers", customer)
            logger.warning("not watching another number for a customer who watches %d", MAX_NUMBERS_PER_CUSTOMER)
            return False
        self._call("put_item", Item={**_key(f"WATCHSWEEP#{bucket}", kvk_number)})
        return True

    def forget_customer(self, customer: str) -> int:
        item = self._get(f"WATCHER#{customer}", "NUMBERS")
        numbers = sorted(item.get("numbers", {}).get("SS", [])) if item else []
        for kvk_number in numbers:
            left = self._remove_from_set(f"WATCH#{kvk_number}", "STATE", "customers", customer)
            if not left:
                self._drop_number(kvk_number)
        self._call("delete_item", Key=_key(f"WATCHER#{customer}", "NUMBERS"))
        return len(numbers)

    def watched(self, kvk_number: str) -> Watched | None:
        item = self._get(f"WATCH#{kvk_number}", "STATE")
        customers = tuple(sorted(item.get("customers", {}).get("SS", []))) if item else ()
        if not customers:
            return None
        return Watched(kvk_number, customers, (item or {}).get("snapshot", {}).get("S"))

    def remember(self, kvk_number: str, snapshot: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(f"WATCH#{kvk_number}", "STATE"),
                UpdateExpression="SET #snapshot = :snapshot, checkedAt = :now",
                ConditionExpression="attribute_exists(pk)",  # a number nobody watches any more stays gone
                ExpressionAttributeNames={"#snapshot": "snapshot"},
                ExpressionAttributeValues={":snapshot": {"S": snapshot}, ":now": {"N": str(int(self._clock.time()))}},
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise store_error(error) from error

    def numbers_in(self, bucket: int, after: str = "") -> Iterator[str]:
        """The numbers of one sweep bucket in order, from just after ``after``."""
        start: dict[str, Any] | None = _key(f"WATCHSWEEP#{bucket}", after) if after else None
        while True:
            arguments: dict[str, Any] = {
                "KeyConditionExpression": "pk = :bucket",
                "ExpressionAttributeValues": {":bucket": {"S": f"WATCHSWEEP#{bucket}"}},
                "ProjectionExpression": "sk",
            }
            if start:
                arguments["ExclusiveStartKey"] = start
            page = self._call("query", **arguments)
            yield from (item["sk"]["S"] for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def is_watched(self, kvk_number: str) -> bool:
        return self.watched(kvk_number) is not None

    def unschedule(self, kvk_number: str) -> None:
        """A number the sweep found nobody watching any more leaves the schedule."""
        self._drop_number(kvk_number)

    # -- cursors -------------------------------------------------------------------------------------

    def cursor(self, name: str) -> str | None:
        item = self._get(f"WATCHCURSOR#{name}", "CURSOR")
        return item.get("value", {}).get("S") if item else None

    def move_cursor(self, name: str, value: str) -> None:
        self._call("put_item", Item={**_key(f"WATCHCURSOR#{name}", "CURSOR"), "value": {"S": value}})

    # -- what was already done -----------------------------------------------------------------------

    def claim_event(self, change_id: str, customer: str) -> bool:
        now = self._clock.time()
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **_key(f"WATCHEVENT#{change_id}", customer),
                    "state": {"S": "pending"},
                    "at": {"N": f"{now:.3f}"},
                    "expiresAt": {"N": str(int(now + EVENT_MEMORY_SECONDS))},
                },
                # A pending claim is an attempt that stopped before it was sent: the watch function runs
                # one at a time (reserved concurrency 1), so nobody else holds it.
                ConditionExpression="attribute_not_exists(pk) OR #state = :pending",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":pending": {"S": "pending"}},
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise store_error(error) from error
        return True

    def event_sent(self, change_id: str, customer: str) -> None:
        self._call(
            "update_item",
            Key=_key(f"WATCHEVENT#{change_id}", customer),
            UpdateExpression="SET #state = :sent",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":sent": {"S": "sent"}},
        )

    def release_event(self, change_id: str, customer: str) -> None:
        try:
            self._call("delete_item", Key=_key(f"WATCHEVENT#{change_id}", customer))
        except Exception as error:  # a pending claim is taken again by the next attempt anyway
            logger.warning("could not release the claim on %s for a customer: %s", change_id, error)

    def first_sight(self, signal_id: str) -> bool:
        """True the first time a signal is seen (handled signals are remembered for a while)."""
        return self._get(f"WATCHSIGNAL#{signal_id}", "SEEN") is None

    def handled(self, signal_id: str) -> None:
        expires = int(self._clock.time() + EVENT_MEMORY_SECONDS)
        self._call("put_item", Item={**_key(f"WATCHSIGNAL#{signal_id}", "SEEN"), "expiresAt": {"N": str(expires)}})

    # -- plumbing ------------------------------------------------------------------------------------

    def _add_to_set(
        self, pk: str, sk: str, attribute: str, value: str, bound: int, start: dict[str, Any] | None = None
    ) -> bool:
        """Add ``value`` to a bounded string set; ``start``: attributes set only if not there yet."""
        setting = "".join(f", #{name} = if_not_exists(#{name}, :{name})" for name in start or {})
        names = {"#set": attribute, **{f"#{name}": name for name in start or {}}}
        values: dict[str, Any] = {":value": {"SS": [value]}, ":one": {"S": value}, ":bound": {"N": str(bound)}}
        values |= {f":{name}": typed for name, typed in (start or {}).items()}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(pk, sk),
                UpdateExpression="ADD #set :value" + (" SET " + setting[2:] if setting else ""),
                ConditionExpression="attribute_not_exists(#set) OR contains(#set, :one) OR size(#set) < :bound",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise store_error(error) from error
        return True

    def _remove_from_set(self, pk: str, sk: str, attribute: str, value: str) -> bool:
        """Remove ``value``; True when others are left in the set."""
        answer = self._call(
            "update_item",
            Key=_key(pk, sk),
            UpdateExpression="DELETE #set :value",
            ExpressionAttributeNames={"#set": attribute},
            ExpressionAttributeValues={":value": {"SS": [value]}},
            ReturnValues="ALL_NEW",
        )
        return bool(answer.get("Attributes", {}).get(attribute, {}).get("SS"))

    def _drop_number(self, kvk_number: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(f"WATCH#{kvk_number}", "STATE"),
                ConditionExpression="attribute_not_exists(customers)",  # nobody started watching it meanwhile
            )
        except Exception as error:
            if is_conditional_failure(error):
                return
            raise store_error(error) from error
        self._call("delete_item", Key=_key(f"WATCHSWEEP#{bucket_of(kvk_number)}", kvk_number))

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._call("get_item", Key=_key(pk, sk), ConsistentRead=True).get("Item")
        return item

    def _call(self, operation: str, **arguments: Any) -> Any:
        try:
            return getattr(self._client, operation)(TableName=self._table, **arguments)
        except Exception as error:
            raise store_error(error) from error


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}

"""Per-caller budgets: who a request is charged to, and what they may spend (moto, fake clock)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from kvkgate.app.http import caller_of
from kvkgate.aws.callers import CallerBudget, CallerLimits, caller_scope
from kvkgate.clock import Deadline
from kvkgate.domain.outcomes import CallerBudgetExceeded
from kvkgate.domain.ports import Caller
from kvkgate.kvk import KvkApi
from kvkgate.kvk.errors import PaidCallRefused, Shed
from kvkgate.kvk.throttle import Unlimited
from tests.conftest import FakeClock, Table

SECRET = b"stack-generated-secret"


def budget_on(table: Table, clock: FakeClock, then: Any = None, **limits: int) -> CallerBudget:
    return CallerBudget(
        table.client, table.name, CallerLimits(**limits), lambda: SECRET, then=then or Unlimited(), clock=clock
    )


def from_ip(address: str) -> Caller:
    return caller_of({"requestContext": {"http": {"sourceIp": address}}})


def stored_items(table: Table) -> list[dict[str, Any]]:
    return list(table.client.scan(TableName=table.name)["Items"])


def test_every_address_in_one_ipv6_64_is_one_caller() -> None:
    first = from_ip("2001:db8:1:2:aaaa::1")
    other = from_ip("2001:db8:1:2:ffff:ffff:ffff:fffe")
    neighbour = from_ip("2001:db8:1:3::1")
    assert first == other and first.anonymous
    assert neighbour != first
    assert from_ip("::ffff:198.51.100.7") == from_ip("198.51.100.7")  # an IPv4 address seen over IPv6
    assert from_ip("198.51.100.7") != from_ip("198.51.100.8")


def test_authenticated_clients_are_callers_by_their_client_id_not_their_address() -> None:
    jwt = {"http": {"sourceIp": "198.51.100.7"}, "authorizer": {"jwt": {"claims": {"client_id": "crm"}}}}
    iam = {"http": {"sourceIp": "198.51.100.7"}, "authorizer": {"iam": {"userArn": "arn:aws:iam::1:user/crm"}}}
    assert caller_of({"requestContext": jwt}) == Caller("client:crm", anonymous=False)
    assert caller_of({"requestContext": iam}) == Caller("iam:arn:aws:iam::1:user/crm", anonymous=False)
    assert caller_of({}).anonymous  # no address at all is still anonymous, never unlimited


def test_one_ipv6_64_shares_one_budget(table: Table, clock: FakeClock) -> None:
    budget = budget_on(table, clock, per_minute=1000, per_day=3)
    far = Deadline.after(60, clock)
    for host in range(3):
        with caller_scope(from_ip(f"2001:db8:0:7::{host + 1}")):
            budget.acquire(KvkApi.ZOEKEN, far)
    with caller_scope(from_ip("2001:db8:0:7:dead:beef:0:1")), pytest.raises(CallerBudgetExceeded) as refused:
        budget.acquire(KvkApi.ZOEKEN, far)
    assert refused.value.per == "day"
    with caller_scope(from_ip("2001:db8:0:8::1")):
        budget.acquire(KvkApi.ZOEKEN, far)  # another network has its own


def test_callers_are_stored_under_an_hmac_of_the_stacks_secret_not_a_bare_hash(table: Table, clock: FakeClock) -> None:
    budget = budget_on(table, clock)
    with caller_scope(from_ip("198.51.100.7")):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
    keys = [item["pk"]["S"] for item in stored_items(table) if item["pk"]["S"].startswith("CALLER#")]
    assert keys == [f"CALLER#{budget.key_of(Caller('ip:198.51.100.7', anonymous=True))}"]
    bare = hashlib.sha256(b"ip:198.51.100.7").hexdigest()
    assert bare[:32] not in keys[0] and "198.51.100.7" not in keys[0]
    other_stack = CallerBudget(table.client, table.name, CallerLimits(), lambda: b"other", then=Unlimited())
    assert other_stack.key_of(Caller("ip:198.51.100.7", anonymous=True)) not in keys[0]


def test_minute_and_day_limits_both_hold_and_a_retry_is_not_charged(table: Table, clock: FakeClock) -> None:
    budget = budget_on(table, clock, per_minute=2, per_day=3)
    far = Deadline.after(600, clock)
    budget.acquire(KvkApi.ZOEKEN, far)  # no caller in scope (the gate's own workers): never counted
    with caller_scope(from_ip("198.51.100.7")):
        budget.acquire(KvkApi.ZOEKEN, far)
        budget.acquire(KvkApi.ZOEKEN, far, first=False)  # a retry of the same lookup
        budget.acquire(KvkApi.ZOEKEN, far)
        with pytest.raises(CallerBudgetExceeded) as minute:
            budget.acquire(KvkApi.ZOEKEN, far)
        assert minute.value.per == "minute" and 0 < minute.value.retry_after <= 60
        clock.advance(60)
        budget.acquire(KvkApi.ZOEKEN, far)
        with pytest.raises(CallerBudgetExceeded) as day:
            budget.acquire(KvkApi.ZOEKEN, far)
        assert day.value.per == "day" and day.value.retry_after > 60


def test_a_caller_is_charged_only_for_calls_that_get_their_slot(table: Table, clock: FakeClock) -> None:
    class Refusing(Unlimited):
        def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
            raise Shed("overloaded", retry_after=1.0)

    refusing = budget_on(table, clock, then=Refusing(), per_minute=1)
    with caller_scope(from_ip("198.51.100.8")):
        for _ in range(3):
            with pytest.raises(Shed):  # never CallerBudgetExceeded: the refused calls were refunded
                refusing.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
        budget_on(table, clock, per_minute=1).acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))


def test_anonymous_paid_lookups_are_capped_per_caller_and_in_total(table: Table, clock: FakeClock) -> None:
    budget = budget_on(table, clock, anonymous_paid_per_day=2, anonymous_paid_total_per_day=3)
    far = Deadline.after(60, clock)
    with caller_scope(from_ip("198.51.100.1")):
        budget.acquire(KvkApi.NAAMGEVING, far)
        budget.acquire(KvkApi.NAAMGEVING, far)
        with pytest.raises(PaidCallRefused):
            budget.acquire(KvkApi.NAAMGEVING, far)
        budget.acquire(KvkApi.ZOEKEN, far)  # free lookups go on
    with caller_scope(from_ip("198.51.100.2")):
        budget.acquire(KvkApi.NAAMGEVING, far)
        with pytest.raises(PaidCallRefused):
            budget.acquire(KvkApi.NAAMGEVING, far)  # all anonymous callers' 3 for today are spent
    with caller_scope(Caller("client:crm", anonymous=False)):
        budget.acquire(KvkApi.NAAMGEVING, far)  # an authenticated client is not anonymous
    clock.advance(86_400)
    with caller_scope(from_ip("198.51.100.2")):
        budget.acquire(KvkApi.NAAMGEVING, far)  # a new day


def test_a_caller_budget_that_cannot_be_counted_fails_open(clock: FakeClock) -> None:
    from tests.unit.test_limits import Unreachable

    budget = CallerBudget(Unreachable(), "t", CallerLimits(per_minute=1), lambda: SECRET, then=Unlimited())  # type: ignore[arg-type]
    with caller_scope(from_ip("203.0.113.1")):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))


def test_without_its_secret_a_caller_is_not_counted_and_anonymous_paid_lookups_stop(
    table: Table, clock: FakeClock
) -> None:
    def unreadable() -> bytes:
        raise RuntimeError("GetParameterError: Secrets Manager could not be reached")

    budget = CallerBudget(
        table.client, table.name, CallerLimits(per_minute=1), unreadable, then=Unlimited(), clock=clock
    )
    far = Deadline.after(60, clock)
    with caller_scope(from_ip("198.51.100.9")):
        budget.acquire(KvkApi.ZOEKEN, far)
        budget.acquire(KvkApi.ZOEKEN, far)  # uncounted: a fairness limit does not take the service down
        with pytest.raises(PaidCallRefused):
            budget.acquire(KvkApi.NAAMGEVING, far)  # but money is not spent blind
    with caller_scope(Caller("client:crm", anonymous=False)):
        budget.acquire(KvkApi.NAAMGEVING, far)


def test_a_refused_callers_flood_costs_no_more_table_writes(table: Table, clock: FakeClock) -> None:
    writes = []
    table.client.meta.events.register("provide-client-params.dynamodb.UpdateItem", lambda **_: writes.append(1))
    budget = budget_on(table, clock, per_day=2)
    far = Deadline.after(60, clock)
    with caller_scope(from_ip("2001:db8:9::1")):
        budget.acquire(KvkApi.ZOEKEN, far)
        budget.acquire(KvkApi.ZOEKEN, far)
    before = len(writes)
    for host in range(50):  # the rest of the /64, all refused
        with caller_scope(from_ip(f"2001:db8:9::{host + 2:x}")), pytest.raises(CallerBudgetExceeded) as refused:
            budget.acquire(KvkApi.ZOEKEN, far)
        assert refused.value.per == "day" and refused.value.retry_after > 0
    assert len(writes) - before == 1  # only the first refusal asked the table
    clock.advance(86_400)
    with caller_scope(from_ip("2001:db8:9::1")):
        budget.acquire(KvkApi.ZOEKEN, far)  # remembered only until the day ends

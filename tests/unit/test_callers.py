"""Per-caller budgets: who a request is charged to, and what they may spend (moto, fake clock)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from kvkgate.app.http import caller_of
from kvkgate.aws.callers import CallerBudget, CallerLimits, caller_scope
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError
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


def at(clock: FakeClock, when: dt.datetime) -> None:
    clock.wall = when.timestamp() - clock.now


def item(table: Table, pk: str, sk: str) -> dict[str, Any]:
    found: dict[str, Any] = table.client.get_item(TableName=table.name, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return {name: float(value["N"]) for name, value in found.get("Item", {}).items() if "N" in value}


def count_writes(table: Table) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = []
    table.client.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem", lambda params, **_: writes.append(params)
    )
    return writes


def metric(name: str) -> float:
    from kvkgate.telemetry import metrics

    return float(sum(metrics().metric_set.get(name, {}).get("Value", [])))


@pytest.fixture
def fresh_metrics() -> Iterator[None]:
    from kvkgate.telemetry import metrics

    metrics().clear_metrics()
    yield
    metrics().clear_metrics()


ANON = from_ip("198.51.100.7")
DAY = dt.datetime(2026, 3, 14, 10, 20, 30, tzinfo=dt.UTC)
DAY_END = dt.datetime(2026, 3, 15, tzinfo=dt.UTC).timestamp()
NEXT_DAY_BUT_ONE = dt.datetime(2026, 3, 16, tzinfo=dt.UTC).timestamp()


def test_a_callers_day_item_counts_the_day_this_minute_and_paid_calls_and_expires_a_day_after(
    table: Table, clock: FakeClock
) -> None:
    at(clock, DAY)
    budget = budget_on(table, clock)
    far = Deadline.after(60, clock)
    with caller_scope(ANON):
        budget.acquire(KvkApi.ZOEKEN, far)
        budget.acquire(KvkApi.NAAMGEVING, far)
        clock.advance(30)  # the next minute
        budget.acquire(KvkApi.BASISPROFIEL, far)
    stored = hmac.new(SECRET, ANON.key.encode(), hashlib.sha256).hexdigest()[:32]
    assert budget.key_of(ANON) == stored  # every environment computes the same key from the stack's secret
    mine = item(table, f"CALLER#{stored}", "D#2026-03-14")
    assert mine == {"calls": 3, "m620": 2, "m621": 1, "paid": 2, "expiresAt": NEXT_DAY_BUT_ONE}
    everyone = item(table, "ANON#paid", "D#2026-03-14")
    assert everyone == {"calls": 2, "expiresAt": NEXT_DAY_BUT_ONE}


def test_an_authenticated_clients_paid_calls_are_not_counted_as_anonymous(table: Table, clock: FakeClock) -> None:
    at(clock, DAY)
    budget = budget_on(table, clock, anonymous_paid_per_day=1)
    client = Caller("client:crm", anonymous=False)
    with caller_scope(client):
        for _ in range(3):
            budget.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    assert item(table, f"CALLER#{budget.key_of(client)}", "D#2026-03-14") == {
        "calls": 3,
        "m620": 3,
        "expiresAt": NEXT_DAY_BUT_ONE,
    }
    assert item(table, "ANON#paid", "D#2026-03-14") == {}


def test_a_minute_refusal_lasts_to_the_end_of_the_minute(table: Table, clock: FakeClock) -> None:
    at(clock, DAY)  # 30 s into the minute
    writes = count_writes(table)
    budget = budget_on(table, clock, per_minute=2)
    far = Deadline.after(600, clock)
    with caller_scope(ANON):
        budget.acquire(KvkApi.ZOEKEN, far)
        budget.acquire(KvkApi.ZOEKEN, far)
        with pytest.raises(CallerBudgetExceeded) as refused:
            budget.acquire(KvkApi.ZOEKEN, far)
        assert (refused.value.per, refused.value.limit, refused.value.retry_after) == ("minute", 2, 30)
        clock.advance(29.5)
        before = len(writes)
        with pytest.raises(CallerBudgetExceeded) as remembered:
            budget.acquire(KvkApi.ZOEKEN, far)
        assert remembered.value.retry_after == pytest.approx(0.5, abs=1e-6)
        assert len(writes) == before  # remembered: the table is not asked
        clock.advance(0.5)
        budget.acquire(KvkApi.ZOEKEN, far)  # a new minute
    assert item(table, f"CALLER#{budget.key_of(ANON)}", "D#2026-03-14")["m621"] == 1


def test_a_day_refusal_lasts_to_midnight_utc(table: Table, clock: FakeClock) -> None:
    at(clock, dt.datetime(2026, 3, 14, 23, 58, 30, tzinfo=dt.UTC))
    budget = budget_on(table, clock, per_day=1)
    far = Deadline.after(600, clock)
    with caller_scope(ANON):
        budget.acquire(KvkApi.ZOEKEN, far)
        with pytest.raises(CallerBudgetExceeded) as refused:
            budget.acquire(KvkApi.ZOEKEN, far)
        assert (refused.value.per, refused.value.limit, refused.value.retry_after) == ("day", 1, 90)
        clock.advance(89)
        with pytest.raises(CallerBudgetExceeded):
            budget.acquire(KvkApi.ZOEKEN, far)
        clock.advance(1)
        budget.acquire(KvkApi.ZOEKEN, far)
    key = budget.key_of(ANON)
    assert item(table, f"CALLER#{key}", "D#2026-03-14")["calls"] == 1
    assert item(table, f"CALLER#{key}", "D#2026-03-15") == {
        "calls": 1,
        "m0": 1,
        "expiresAt": dt.datetime(2026, 3, 17, tzinfo=dt.UTC).timestamp(),
    }


class Recording(Unlimited):
    def __init__(self, refuse: BaseException | None = None) -> None:
        self.admitted: list[KvkApi] = []
        self.acquired: list[tuple[KvkApi, bool]] = []
        self.deadlines: list[Deadline] = []
        self.refuse = refuse

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        self.admitted.append(api)
        self.deadlines.append(deadline)

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        self.acquired.append((api, first))
        self.deadlines.append(deadline)
        if self.refuse is not None:
            raise self.refuse


def test_admit_refuses_a_caller_known_to_be_over_budget_without_asking_the_table(
    table: Table, clock: FakeClock
) -> None:
    at(clock, DAY)
    then = Recording()
    budget = budget_on(table, clock, then=then, per_minute=1, anonymous_paid_per_day=1)
    far = Deadline.after(60, clock)
    writes = count_writes(table)
    with caller_scope(ANON):
        budget.admit(KvkApi.ZOEKEN, far)
        assert then.admitted == [KvkApi.ZOEKEN]  # the limits further on are asked too
        assert writes == []  # admitting costs no table write
        budget.acquire(KvkApi.NAAMGEVING, far)
        assert then.acquired == [(KvkApi.NAAMGEVING, True)]
        with pytest.raises(CallerBudgetExceeded):
            budget.acquire(KvkApi.ZOEKEN, far)
        before = len(writes)
        with pytest.raises(CallerBudgetExceeded) as refused:
            budget.admit(KvkApi.ZOEKEN, far)
        assert refused.value.retry_after == 30
        assert len(writes) == before
    with caller_scope(from_ip("198.51.100.8")):
        budget.admit(KvkApi.ZOEKEN, far)  # another caller is not refused
    budget.admit(KvkApi.ZOEKEN, far)  # nor is the gate's own work
    assert then.admitted == [KvkApi.ZOEKEN] * 3


def test_a_remembered_paid_refusal_stops_only_paid_lookups(table: Table, clock: FakeClock) -> None:
    at(clock, DAY)
    budget = budget_on(table, clock, then=Recording(), anonymous_paid_per_day=1)
    far = Deadline.after(60, clock)
    writes = count_writes(table)
    with caller_scope(ANON):
        budget.acquire(KvkApi.NAAMGEVING, far)
        with pytest.raises(PaidCallRefused) as refused:
            budget.acquire(KvkApi.NAAMGEVING, far)
        assert refused.value.retry_after == pytest.approx(DAY_END - DAY.timestamp(), abs=1e-6)
        before = len(writes)
        with pytest.raises(PaidCallRefused):
            budget.admit(KvkApi.BASISPROFIEL, far)
        with pytest.raises(PaidCallRefused):
            budget.acquire(KvkApi.VESTIGINGSPROFIEL, far)
        assert len(writes) == before
        budget.admit(KvkApi.ZOEKEN, far)  # free lookups go on
        budget.acquire(KvkApi.ZOEKEN, far)
    with caller_scope(from_ip("198.51.100.8")):
        budget.admit(KvkApi.NAAMGEVING, far)  # another anonymous caller has its own paid lookups
        budget.acquire(KvkApi.NAAMGEVING, far)


def test_when_anonymous_paid_lookups_are_spent_for_today_every_anonymous_caller_waits_for_midnight(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    at(clock, DAY)
    budget = budget_on(table, clock, anonymous_paid_total_per_day=2)
    far = Deadline.after(60, clock)
    for host in (1, 2):
        with caller_scope(from_ip(f"198.51.100.{host}")):
            budget.acquire(KvkApi.NAAMGEVING, far)
    assert metric("AnonymousPaidCapReached") == 0
    third = from_ip("198.51.100.3")
    with caller_scope(third), pytest.raises(PaidCallRefused) as refused:
        budget.acquire(KvkApi.NAAMGEVING, far)
    assert refused.value.retry_after == pytest.approx(DAY_END - DAY.timestamp(), abs=1e-6)
    assert metric("AnonymousPaidCapReached") == 1  # the alarm's metric
    # The refused call was not charged to the caller either.
    assert item(table, f"CALLER#{budget.key_of(third)}", "D#2026-03-14") == {
        "calls": 0,
        "m620": 0,
        "paid": 0,
        "expiresAt": NEXT_DAY_BUT_ONE,
    }
    assert item(table, "ANON#paid", "D#2026-03-14")["calls"] == 2
    writes = count_writes(table)
    clock.advance(3600)
    with caller_scope(from_ip("198.51.100.4")):
        with pytest.raises(PaidCallRefused) as remembered:
            budget.admit(KvkApi.NAAMGEVING, far)
        assert remembered.value.retry_after == pytest.approx(DAY_END - DAY.timestamp() - 3600, abs=1e-6)
        budget.acquire(KvkApi.ZOEKEN, far)
    assert len(writes) == 1  # only the free lookup was counted
    with caller_scope(Caller("client:crm", anonymous=False)):
        budget.acquire(KvkApi.NAAMGEVING, far)


def test_a_callers_own_paid_cap_is_reported_for_the_alarm(table: Table, clock: FakeClock, fresh_metrics: None) -> None:
    budget = budget_on(table, clock, anonymous_paid_per_day=1)
    with caller_scope(ANON):
        budget.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
        with pytest.raises(PaidCallRefused):
            budget.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    assert metric("AnonymousPaidCapReached") == 1
    assert metric("CallerBudgetRefused") == 0


def test_a_call_refused_further_on_is_refunded_to_the_caller_and_to_the_anonymous_total(
    table: Table, clock: FakeClock
) -> None:
    at(clock, DAY)
    then = Recording(refuse=Shed("overloaded", retry_after=1.0))
    budget = budget_on(table, clock, then=then)
    with caller_scope(ANON), pytest.raises(Shed):
        budget.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    assert item(table, f"CALLER#{budget.key_of(ANON)}", "D#2026-03-14") == {
        "calls": 0,
        "m620": 0,
        "paid": 0,
        "expiresAt": NEXT_DAY_BUT_ONE,
    }
    assert item(table, "ANON#paid", "D#2026-03-14") == {"calls": 0, "expiresAt": NEXT_DAY_BUT_ONE}


def test_a_failed_refund_does_not_hide_the_refusal(table: Table, clock: FakeClock) -> None:
    class RefundsFail:
        def update_item(self, **kwargs: Any) -> Any:
            if "SET" not in kwargs["UpdateExpression"]:
                from botocore.exceptions import EndpointConnectionError

                raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")
            return table.client.update_item(**kwargs)

    budget = CallerBudget(
        RefundsFail(),  # type: ignore[arg-type]
        table.name,
        CallerLimits(),
        lambda: SECRET,
        then=Recording(refuse=Shed("overloaded", retry_after=1.0)),
        clock=clock,
    )
    with caller_scope(ANON), pytest.raises(Shed):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))


def test_a_misconfigured_secret_is_an_error_not_an_uncounted_caller(table: Table, clock: FakeClock) -> None:
    def misconfigured() -> bytes:
        raise ConfigError("CALLER_KEY_SECRET_ARN is not set")

    budget = CallerBudget(table.client, table.name, CallerLimits(), misconfigured, then=Unlimited(), clock=clock)
    with caller_scope(ANON), pytest.raises(ConfigError):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))


def test_anonymous_paid_lookups_wait_a_minute_while_the_secret_is_unreadable(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    def unreadable() -> bytes:
        raise RuntimeError("GetParameterError")

    budget = CallerBudget(table.client, table.name, CallerLimits(), unreadable, then=Unlimited(), clock=clock)
    with caller_scope(ANON), pytest.raises(PaidCallRefused) as refused:
        budget.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))
    assert refused.value.retry_after == 60
    assert stored_items(table) == []
    assert metric("CallerBudgetUnavailable") == 1


def test_a_bug_in_the_budget_update_is_not_mistaken_for_an_outage(table: Table, clock: FakeClock) -> None:
    class Buggy:
        def update_item(self, **kwargs: Any) -> Any:
            raise KeyError("a bug, not DynamoDB")

    budget = CallerBudget(Buggy(), table.name, CallerLimits(), lambda: SECRET, then=Unlimited(), clock=clock)  # type: ignore[arg-type]
    with caller_scope(ANON), pytest.raises(KeyError):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))


def refused_again(budget: CallerBudget, caller: Caller, clock: FakeClock) -> None:
    with caller_scope(caller), pytest.raises(CallerBudgetExceeded):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(600, clock))


def use_up(budget: CallerBudget, caller: Caller, clock: FakeClock, calls: int) -> None:
    with caller_scope(caller):
        for _ in range(calls):
            budget.acquire(KvkApi.ZOEKEN, Deadline.after(600, clock))
    refused_again(budget, caller, clock)


def test_remembered_refusals_are_bounded_forgetting_the_oldest(
    table: Table, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kvkgate.aws import callers

    monkeypatch.setattr(callers, "REMEMBERED_REFUSALS", 2)
    at(clock, DAY)
    budget = budget_on(table, clock, per_minute=1)
    first, second, third = (from_ip(f"198.51.100.{host}") for host in (1, 2, 3))
    for caller in (first, second, third):
        use_up(budget, caller, clock, 1)
    writes = count_writes(table)
    refused_again(budget, second, clock)
    refused_again(budget, third, clock)
    assert writes == []  # still remembered
    refused_again(budget, first, clock)
    assert len(writes) == 1  # forgotten to make room: the table was asked again


def test_remembered_refusals_make_room_by_dropping_expired_ones_first(
    table: Table, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kvkgate.aws import callers

    monkeypatch.setattr(callers, "REMEMBERED_REFUSALS", 2)
    at(clock, DAY)  # 10:20:30
    budget = budget_on(table, clock, per_minute=2, per_day=3)
    for_the_day, for_the_minute, newcomer = (from_ip(f"198.51.100.{host}") for host in (1, 2, 3))
    with caller_scope(for_the_day):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(600, clock))
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(600, clock))
    clock.advance(30)  # 10:21:00
    use_up(budget, for_the_day, clock, 1)  # refused until midnight
    use_up(budget, for_the_minute, clock, 2)  # refused until 10:22:00
    clock.advance(60)  # 10:22:00: the minute's refusal has just ended
    use_up(budget, newcomer, clock, 2)
    writes = count_writes(table)
    refused_again(budget, for_the_day, clock)
    assert writes == []  # kept: only the expired refusal made room


def test_a_paid_lookup_over_the_minutes_limit_is_refused_for_the_minute_not_the_day(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    at(clock, DAY)
    budget = budget_on(table, clock, per_minute=1, anonymous_paid_per_day=1)
    with caller_scope(ANON):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        with pytest.raises(CallerBudgetExceeded) as refused:
            budget.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))  # no paid lookup made yet today
    assert (refused.value.per, refused.value.retry_after) == ("minute", 30)
    assert metric("CallerBudgetRefused") == 1
    assert metric("AnonymousPaidCapReached") == 0


def test_a_budget_the_table_cannot_count_is_reported(clock: FakeClock, fresh_metrics: None) -> None:
    from tests.unit.test_limits import Unreachable

    budget = CallerBudget(Unreachable(), "t", CallerLimits(), lambda: SECRET, then=Unlimited(), clock=clock)  # type: ignore[arg-type]
    with caller_scope(ANON):
        budget.acquire(KvkApi.ZOEKEN, Deadline.after(60, clock))
        budget.acquire(KvkApi.NAAMGEVING, Deadline.after(60, clock))  # uncounted, so not refused either
    assert metric("CallerBudgetUnavailable") == 3  # the caller's item twice, the anonymous total once


def test_the_limits_further_on_get_the_callers_deadline_and_whether_it_is_a_retry(
    table: Table, clock: FakeClock
) -> None:
    then = Recording()
    budget = budget_on(table, clock, then=then)
    deadline = Deadline.after(7, clock)
    with caller_scope(ANON):
        budget.admit(KvkApi.ZOEKEN, deadline)
        budget.acquire(KvkApi.ZOEKEN, deadline)
        budget.acquire(KvkApi.ZOEKEN, deadline, first=False)
    assert then.deadlines == [deadline] * 3
    assert then.acquired == [(KvkApi.ZOEKEN, True), (KvkApi.ZOEKEN, False)]

"""The sign-up gate holds (issue #19): free calls only in the trigger, a daily paid allowance for the
worker, a reserved share of KVK's rate, and a later decision for every sign-up admitted without one."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from kvkgate.app.followup import RECHECK_AFTER_SECONDS, after_confirmation, sweep
from kvkgate.aws.allowance import PaidAllowance
from kvkgate.aws.limits import Admission, Budget, GlobalRateLimiter, rate_shares
from kvkgate.clock import Deadline
from kvkgate.config import Settings
from kvkgate.domain.outcomes import PaidLookupRefused
from kvkgate.domain.ports import SignedUpUser
from kvkgate.domain.verify import Policy
from kvkgate.kvk import KvkApi
from kvkgate.kvk.errors import PaidCallRefused, Shed, TemporarilyUnavailable
from kvkgate.kvk.throttle import Unlimited
from tests.conftest import FakeClock, Table, metric
from tests.unit.test_verify import FakeRegistry, check, codes

MADE_UP = "Zqx7 & Co"  # "&": KVK's whole-word search cannot rule it out, only the paid Naamgeving can


# --- the decision: who may pay for a name -----------------------------------------------------------


def test_the_trigger_never_pays_for_a_name_the_free_search_cannot_confirm() -> None:
    registry = FakeRegistry()
    result = check(registry, Policy(paid_name_check="never"), tradeName=MADE_UP)
    assert "names" not in registry.asked  # no Naamgeving
    assert registry.asked == ["registrations", "registrations_named"]  # both free
    assert result.verdict == "valid"  # decided on the number and its activity
    assert result.checks.trade_name.result == "unconfirmed"
    assert codes(result) == ["TRADE_NAME_UNCONFIRMED"]


def test_an_unconfirmed_name_follows_the_partial_name_policy() -> None:
    strict = Policy(paid_name_check="never", partial_name_verdict="invalid")
    result = check(FakeRegistry(), strict, tradeName=MADE_UP)
    assert (result.verdict, codes(result)) == ("invalid", ["TRADE_NAME_UNCONFIRMED"])


def test_a_name_the_free_search_settles_is_decided_in_the_trigger_as_anywhere() -> None:
    mismatch = check(FakeRegistry(), Policy(paid_name_check="never"), tradeName="Een Heel Andere Naam")
    assert (mismatch.verdict, mismatch.checks.trade_name.result) == ("invalid", "mismatch")
    match = check(FakeRegistry(), Policy(paid_name_check="never"), tradeName="Test BV Donald")
    assert (match.verdict, match.checks.trade_name.result) == ("valid", "match")


def test_past_the_workers_allowance_a_name_stays_unconfirmed_a_final_answer() -> None:
    registry = FakeRegistry(names_=PaidLookupRefused(retry_after=3600))
    result = check(registry, Policy(paid_name_check="allowance"), tradeName=MADE_UP)
    assert registry.asked[-1] == "names"
    assert (result.verdict, result.checks.trade_name.result, codes(result)) == (
        "valid",
        "unconfirmed",
        ["NAME_CHECK_LIMITED"],
    )


def test_the_api_still_says_unverified_when_its_paid_cap_refuses() -> None:
    result = check(FakeRegistry(names_=PaidLookupRefused(retry_after=3600)), tradeName=MADE_UP)
    assert (result.verdict, codes(result), result.retry_after) == ("unverified", ["NAME_CHECK_LIMITED"], 3600)


# --- the worker's daily paid allowance --------------------------------------------------------------


@dataclass
class Counting:
    """The next link of the chain: counts what passed, refuses when told to."""

    passed: list[KvkApi] = field(default_factory=list)
    refuse: Exception | None = None

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        return None

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.passed.append(api)


def test_the_allowance_counts_paid_calls_for_every_environment_together(
    table: Table, clock: FakeClock, fresh_metrics: None
) -> None:
    deadline = Deadline.after(10, clock)
    first = PaidAllowance(table.client, table.name, 2, then=Counting(), clock=clock)
    other = PaidAllowance(table.client, table.name, 2, then=Counting(), clock=clock)
    first.acquire(KvkApi.NAAMGEVING, deadline)
    other.acquire(KvkApi.NAAMGEVING, deadline)
    with pytest.raises(PaidCallRefused):
        first.acquire(KvkApi.NAAMGEVING, deadline)
    assert metric("GatePaidAllowanceReached") == [1.0]
    for _ in range(5):
        first.acquire(KvkApi.ZOEKEN, deadline)  # free calls are not the allowance's business
    with pytest.raises(PaidCallRefused):
        first.admit(KvkApi.NAAMGEVING, deadline)  # remembered: refused before any I/O
    clock.advance(86_400)
    first.acquire(KvkApi.NAAMGEVING, Deadline.after(10, clock))  # a new UTC day


def test_a_paid_call_refused_further_on_gives_its_allowance_back(table: Table, clock: FakeClock) -> None:
    busy = Counting(refuse=Shed("no slot", retry_after=1.0))
    allowance = PaidAllowance(table.client, table.name, 1, then=busy, clock=clock)
    with pytest.raises(Shed):
        allowance.acquire(KvkApi.NAAMGEVING, Deadline.after(10, clock))
    busy.refuse = None
    allowance.acquire(KvkApi.NAAMGEVING, Deadline.after(10, clock))
    assert busy.passed == [KvkApi.NAAMGEVING]


def test_an_allowance_of_zero_refuses_without_asking_the_table(clock: FakeClock) -> None:
    allowance = PaidAllowance(None, None, 0, then=Unlimited(), clock=clock)
    with pytest.raises(PaidCallRefused):
        allowance.acquire(KvkApi.NAAMGEVING, Deadline.after(10, clock))
    allowance.acquire(KvkApi.ZOEKEN, Deadline.after(10, clock))


def test_money_is_not_spent_uncounted_when_the_table_fails(table: Table, clock: FakeClock) -> None:
    table.client.meta.events.register("before-call.dynamodb.UpdateItem", _table_down)
    allowance = PaidAllowance(table.client, table.name, 5, then=Counting(), clock=clock)
    with pytest.raises(TemporarilyUnavailable):  # an outage (asked again later), not "the allowance is spent"
        allowance.acquire(KvkApi.NAAMGEVING, Deadline.after(10, clock))


def _table_down(**_: Any) -> None:
    from botocore.exceptions import EndpointConnectionError

    raise EndpointConnectionError(endpoint_url="https://dynamodb.example")


# --- a reserved share of KVK's rate ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "share", "expected"),
    [
        (90, 0.2, (72.0, 18.0)),
        (5, 0.2, (4.0, 1.0)),
        (10, 0.5, (5.0, 5.0)),
        (90, 0.0, (90, 0.0)),
        (1.5, 0.2, (1.5, 0.0)),
    ],
)
def test_the_rate_is_split_in_whole_calls_a_second(rate: float, share: float, expected: tuple[float, float]) -> None:
    assert rate_shares(rate, share) == expected
    shared, signup = rate_shares(rate, share)
    assert shared + signup <= rate


def test_no_amount_of_api_traffic_takes_the_slots_a_sign_up_needs(table: Table, clock: FakeClock) -> None:
    shared_rate, signup_rate = rate_shares(10, 0.2)
    queue = Admission(call_seconds=1.0, max_queue_seconds=1.0)
    api = GlobalRateLimiter(table.client, table.name, shared_rate, Budget(10_000, pool="api"), clock, admission=queue)
    gate = GlobalRateLimiter(
        table.client, table.name, signup_rate, Budget(10_000), clock, admission=queue, schedule="signup"
    )
    refused = 0
    for _ in range(40):  # a flood: the shared schedule fills up to its queue bound, then refuses
        try:
            api.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
        except Shed:
            refused += 1
    assert refused > 20
    slot = gate.reserve(KvkApi.ZOEKEN, Deadline.after(2.5, clock))  # the sign-up's own schedule is free
    assert slot.start - clock.time() < 0.1
    assert api.usage().calls + 0 == 40 - refused + 1  # one budget counter for both schedules


def test_without_a_reservation_the_flood_takes_the_sign_ups_slot(table: Table, clock: FakeClock) -> None:
    queue = Admission(call_seconds=1.0, max_queue_seconds=1.0)
    api = GlobalRateLimiter(table.client, table.name, 10, clock=clock, admission=queue)
    gate = GlobalRateLimiter(table.client, table.name, 10, clock=clock, admission=queue)  # one schedule
    for _ in range(40):
        with contextlib.suppress(Shed):
            api.reserve(KvkApi.ZOEKEN, Deadline.after(5, clock))
    with pytest.raises(Shed):
        gate.reserve(KvkApi.ZOEKEN, Deadline.after(1.5, clock))


# --- every sign-up admitted without a decision gets one later ----------------------------------------


@dataclass
class Bus:
    sent: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        if self.down:
            raise ConnectionError("EventBridge unreachable")
        assert (detail_type, source) == ("CustomerSignedUp", "app.signup")
        self.sent.append(detail)


@dataclass
class Pool:
    members: list[SignedUpUser]

    def users(self, user_pool_id: str) -> list[SignedUpUser]:
        assert user_pool_id == "eu-west-1_pool"
        return self.members

    def record_decision(self, user_pool_id: str, user_name: str, decision: str) -> bool:
        raise AssertionError("the sweep only queues")


SETTINGS = Settings()
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC).timestamp()


def confirmed(**attributes: str) -> dict[str, Any]:
    return {
        "triggerSource": "PostConfirmation_ConfirmSignUp",
        "userPoolId": "eu-west-1_pool",
        "userName": "u-1",
        "request": {"userAttributes": {"email": "owner@example.nl", **attributes}},
    }


def test_a_user_confirmed_without_a_decision_is_queued_for_one() -> None:
    bus = Bus()
    after_confirmation(
        confirmed(**{"custom:kvk_number": "68750110", "custom:company_name": "X"}), lambda: bus, SETTINGS
    )
    assert bus.sent == [
        {"customerId": "u-1", "userPoolId": "eu-west-1_pool", "kvkNumber": "68750110", "tradeName": "X"}
    ]
    decided = confirmed(**{"custom:kvk_number": "68750110", "custom:kvk_decision": '{"verdict":"valid"}'})
    after_confirmation(decided, lambda: bus, SETTINGS)
    assert len(bus.sent) == 1  # already decided: nothing to queue


def test_a_confirmation_never_fails_for_the_gates_bookkeeping(fresh_metrics: None) -> None:
    after_confirmation(confirmed(**{"custom:kvk_number": "68750110"}), lambda: Bus(down=True), SETTINGS)
    assert metric("SignUpRecheckNotQueued") == [1.0]
    after_confirmation("not an event", lambda: Bus(), SETTINGS)  # nor for a malformed event


def user(name: str, age: float, decided: bool = False, number: str | None = "68750110") -> SignedUpUser:
    return SignedUpUser(name, number, None, NOW - age, decided)


def test_the_sweep_queues_every_undecided_user_and_counts_the_overdue(fresh_metrics: None) -> None:
    pool = Pool(
        [
            user("decided", 7200, decided=True),
            user("young", RECHECK_AFTER_SECONDS - 1),  # may still be on its way through the worker
            user("waiting", 1800),
            user("overdue", 7200),
            user("no-number", 7200, number=None),
        ]
    )
    bus = Bus()
    report = sweep("eu-west-1_pool", pool, bus, NOW, SETTINGS)
    assert [detail["customerId"] for detail in bus.sent] == ["waiting", "overdue"]
    assert bus.sent[0] == {"customerId": "waiting", "userPoolId": "eu-west-1_pool", "kvkNumber": "68750110"}
    assert (report.queued, report.undecided_over_an_hour, report.without_kvk_number) == (2, 1, 1)
    assert metric("UndecidedSignUps") == [1.0]


def test_a_sweep_that_cannot_queue_says_so(fresh_metrics: None) -> None:
    report = sweep("eu-west-1_pool", Pool([user("overdue", 7200)]), Bus(down=True), NOW, SETTINGS)
    assert (report.queued, report.not_queued) == (0, 1)
    assert metric("SignUpRecheckNotQueued") == [1.0]

"""Benchmark: watching customers' companies for a simulated month (make bench-watch).

On a fake clock, with the template's table in moto (in-process), the KVK sandbox in its own process
(production flavour: no mock signals) and the watch function's own environment from template.yaml:
``--customers`` watched customers on ``--numbers`` real numbers of the sandbox, decided as sign-ups
are (the worker's ``watching.record``); then ``--mutations`` of them end, are renamed or are
transferred at random times in the first 30 days (the sandbox's admin call, which also records the
Mutatieservice signal ``--signal-delay`` later). KVK fails 2 % of calls and is down for 3 hours
once. Each scheduled function crashes once in the middle of a run (an exception between two looks,
or between two signals), as a Lambda timing out would.

Two deployments, each its own run:

* **sweep** (the default, no Mutatieservice contract): the sweep every hour for 60 days; how long
  after each change its event came (``sweep_detection_p95_days``), and the sweep's Zoeken calls per
  watched customer per month (the first 30 days; every number is looked at once a period).
* **mutatieservice** (a subscription configured): the poller every 5 minutes for 31 days, the
  sweep beside it; how long after its signal each event came (``signal_to_event_p95_s``).

moto's Query lists and sorts the whole table on every call, where DynamoDB reads one partition:
with tens of thousands of items that is most of the run. The bench lets moto's base-table Query read
the partition alone (:func:`partition_queries`); everything else of moto is as it is.

In both, every (change, customer) must be told exactly once: ``events_lost`` and
``events_duplicated`` count the misses and repeats; ``cursor_lost_signals`` the signals never
handled, ``cursor_duplicate_events`` events told twice for one signal.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import quiet_offline_aws, table

DAY = 86_400.0
START = 1_796_256_000.0  # 2026-12-01T00:00:00Z: a month's first day


@dataclass
class Clock:
    now: float = START

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def reach(self, moment: float) -> None:
        self.now = max(self.now, moment)


@dataclass
class Told:
    """What came out on the bus, stamped with the fake time it was published."""

    clock: Clock
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        self.events.append((self.clock.now, detail_type, detail))


class Crash(Exception):
    """The function died here (a timeout, an out-of-memory): nothing after this line ran."""


class CrashingFeed:
    """The registry, crashing once: on the ``at``-th call of ``method``."""

    def __init__(self, inner: Any, method: str, at: int) -> None:
        self.inner, self.method, self.at, self.calls, self.crashed = inner, method, at, 0, False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name != self.method or self.crashed:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self.at:
                self.crashed = True
                raise Crash(f"crashed in {name}")
            return target(*args, **kwargs)

        return call


@dataclass
class Mutation:
    kvk: str
    kind: str  # ended, renamed, transferred
    at: float
    stamp: float = 0.0  # when KVK lists its signal
    signal: str = ""


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """moto's base-table Query over one partition instead of a sorted copy of the whole table."""
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("index_name") or not self.range_key_attr or hash_key is None:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # the instance's own, for this call only
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]


@contextlib.contextmanager
def sandbox_process() -> Iterator[str]:
    from bench.abuse import sandbox_process as start

    with start() as url:
        yield url


def run(args: argparse.Namespace, source: str, sandbox: str) -> dict[str, Any]:
    from moto import mock_aws

    from kvkgate import root
    from kvkgate.app.watch import Watcher
    from kvkgate.config import load_settings
    from kvkgate.domain.contracts import ValidationRequest
    from kvkgate.domain.verify import validate
    from local.aws_resources import create_stack
    from local.lambda_runtime import function_environment, functions
    from local.sandbox.app import Keys
    from local.sandbox.server import registry

    rng = random.Random(args.seed)
    clock = Clock()
    told = Told(clock)
    kvk_calls: collections.Counter[str] = collections.Counter()
    httpx.delete(sandbox + "/__sandbox/mutations")
    httpx.put(
        sandbox + "/__sandbox/config",
        json={"signal_delay_seconds": args.signal_delay, "error_rate": 0.0, "outage": False},
    )
    pool = [r for r in registry().companies.values() if r.get("evidence") == "generated" and not r.get("datumEinde")]
    numbers = [record["kvkNummer"] for record in rng.sample(pool, args.numbers)]
    customers = {number: [] for number in numbers}  # type: dict[str, list[str]]
    for index in range(args.customers):
        customers[numbers[index % len(numbers)] if index < len(numbers) else rng.choice(numbers)].append(f"c-{index}")
    parameters = {"MutatieserviceSubscription": "sandbox-abonnement-1" if source == "mutatieservice" else ""}
    with mock_aws(), partition_queries():
        stack = create_stack(parameters, {"KvkApiKeySecret": Keys().production}, prefix=f"watch-{source}")
        variables = function_environment(functions()["WatchFunction"], stack, {"KVK_BASE_URL": sandbox + "/api"})
        overrides = root.Overrides(
            clock=clock, publisher=told, observe=lambda api, outcome: kvk_calls.update([api.value])
        )
        env = root.Environment(load_settings(variables), overrides)
        started = time.perf_counter()
        # The sign-ups: each decided, then watched for its customer (what the worker does).
        for number, watchers in customers.items():
            result = validate(ValidationRequest(kvk_number=number), env.registry, _far(clock), env.now())
            for customer in watchers:
                assert env.watch_list is not None
                from kvkgate.app import watch as watching

                watching.record(env.watch_list, result, customer, env.registry, _far(clock))
        setup_calls = sum(kvk_calls.values())
        kvk_calls.clear()
        mutations = plan_mutations(args, rng, numbers)
        sweep_feed = CrashingFeed(env.registry, "current_registrations", at=args.numbers // 3)
        poll_feed = CrashingFeed(env.registry, "signal", at=max(2, args.mutations // 4))
        assert env.watch_list is not None
        sweeper = Watcher(sweep_feed, env.watch_list, told, clock, float(variables["WATCH_SWEEP_DAYS"]))
        poller = Watcher(poll_feed, env.watch_list, told, clock, float(variables["WATCH_SWEEP_DAYS"]))
        days = 60 if source == "sweep" else 31
        crashes = simulate(args, sandbox, clock, mutations, sweeper, poller, source, days)
        seconds = time.perf_counter() - started
        sweep_calls_first_month = sweeper_calls(kvk_calls)
    return score(
        source, customers, mutations, told, kvk_calls, setup_calls, crashes, seconds, args, sweep_calls_first_month
    )


def _far(clock: Clock) -> Any:
    from kvkgate.clock import Deadline

    return Deadline.after(60, clock)


def plan_mutations(args: argparse.Namespace, rng: random.Random, numbers: list[str]) -> list[Mutation]:
    chosen = rng.sample(numbers, args.mutations)
    kinds = ["ended", "renamed", "transferred"]
    mutations = [
        Mutation(number, kinds[index % 3] if index % 5 else "transferred", START + rng.uniform(0.2, 30) * DAY)
        for index, number in enumerate(chosen)
    ]
    return sorted(mutations, key=lambda mutation: mutation.at)


def simulate(
    args: argparse.Namespace,
    sandbox: str,
    clock: Clock,
    mutations: list[Mutation],
    sweeper: Any,
    poller: Any,
    source: str,
    days: int,
) -> dict[str, int]:
    from kvkgate.clock import Deadline

    outage = (START + 9.3 * DAY, START + 9.3 * DAY + 3 * 3600)
    pending = collections.deque(mutations)
    crashes = collections.Counter[str]()
    poll_every, sweep_every = 300.0, 3600.0
    next_poll, next_sweep = START + poll_every, START + sweep_every
    faults: bool | None = None
    while clock.now < START + days * DAY:
        moment = min(next_sweep, next_poll if source == "mutatieservice" else next_sweep)
        while pending and pending[0].at <= moment:
            mutate(sandbox, pending.popleft(), args.signal_delay)
        clock.reach(moment)
        down = outage[0] <= clock.now < outage[1]
        if faults != down:  # KVK fails 2 % of calls throughout, and is down for the outage's 3 hours
            httpx.put(sandbox + "/__sandbox/config", json={"outage": down, "error_rate": 0.02})
            faults = down
        if moment == next_sweep:
            next_sweep += sweep_every
            crashes["sweep"] += _survive(lambda: sweeper.sweep(Deadline.after(280, clock)))
        if source == "mutatieservice" and moment >= next_poll:
            next_poll += poll_every
            crashes["signals"] += _survive(lambda: poller.poll("sandbox-abonnement-1", Deadline.after(280, clock)))
        clock.reach(moment)
    return dict(crashes)


def _survive(run_once: Any) -> int:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            run_once()
    except Crash:
        return 1
    return 0


def mutate(sandbox: str, mutation: Mutation, delay: float) -> None:
    change: dict[str, Any] = {"kvkNummer": mutation.kvk, "kind": mutation.kind, "at": mutation.at}
    if mutation.kind == "renamed":
        change["name"] = f"Hernoemd {mutation.kvk} B.V."
    if mutation.kind == "transferred":
        change["to"] = "12345678"
    answer = httpx.post(sandbox + "/__sandbox/mutations", json=change).json()
    mutation.signal = answer["signal"]["id"]
    mutation.stamp = mutation.at + delay


def sweeper_calls(calls: collections.Counter[str]) -> int:
    return calls["zoeken"]


def score(
    source: str,
    customers: dict[str, list[str]],
    mutations: list[Mutation],
    told: Told,
    kvk_calls: collections.Counter[str],
    setup_calls: int,
    crashes: dict[str, int],
    seconds: float,
    args: argparse.Namespace,
    sweep_calls: int,
) -> dict[str, Any]:
    expected_kind = {
        "ended": "KvkRegistrationEnded",
        "renamed": "KvkRegistrationChanged",
        "transferred": "KvkRegistrationTransferred" if source == "mutatieservice" else "KvkRegistrationEnded",
    }
    by_pair: dict[tuple[str, str], list[tuple[float, str, dict[str, Any]]]] = collections.defaultdict(list)
    for when, kind, detail in told.events:
        by_pair[(detail["kvkNumber"], detail["customerId"])].append((when, kind, detail))
    lost = duplicated = wrong = 0
    delays, signal_delays = [], []
    for mutation in mutations:
        for customer in customers[mutation.kvk]:
            events = by_pair.get((mutation.kvk, customer), [])
            lost += not events
            duplicated += max(len(events) - 1, 0)
            if events:
                when, kind, _ = events[0]
                wrong += kind != expected_kind[mutation.kind]
                delays.append(when - mutation.at)
                signal_delays.append(when - mutation.stamp)
    unexpected = sum(len(events) for pair, events in by_pair.items() if pair[0] not in {m.kvk for m in mutations})
    watched = sum(len(watchers) for watchers in customers.values())
    signals_told = {detail["eventId"] for _, _, detail in told.events if detail["detectedBy"] == "mutatieservice"}
    months = 60 / 30 if source == "sweep" else 31 / 30
    return {
        "source": source,
        "watched_customers": watched,
        "watched_numbers": len(customers),
        "ended": sum(m.kind in ("ended", "transferred") for m in mutations),
        "changed": sum(m.kind == "renamed" for m in mutations),
        "events": len(told.events),
        "events_lost": lost,
        "events_duplicated": duplicated,
        "events_of_the_wrong_kind": wrong,
        "events_for_unchanged_companies": unexpected,
        "signal_to_event_p95_s": _p95(signal_delays) if source == "mutatieservice" else None,
        "change_to_event_p95_s": _p95(delays),
        "sweep_detection_p95_days": round(_p95(delays) / DAY, 2) if source == "sweep" else None,
        "sweep_kvk_calls_per_customer_month": round(sweep_calls / watched / months, 3) if source == "sweep" else None,
        "sweep_paid_calls": sum(count for api, count in kvk_calls.items() if api not in ("zoeken", "mutatieservice")),
        "kvk_calls": dict(kvk_calls),
        "sign_up_calls": setup_calls,
        "crashes": crashes,
        "cursor_lost_signals": lost if source == "mutatieservice" else None,
        "cursor_duplicate_events": len([e for e in told.events if e[2]["detectedBy"] == "mutatieservice"])
        - len(signals_told)
        if source == "mutatieservice"
        else None,
        "seconds": round(seconds, 1),
    }


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    return round(statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--numbers", type=int, default=4_000)
    parser.add_argument("--mutations", type=int, default=300)
    parser.add_argument("--signal-delay", type=float, default=600.0, help="seconds from a change to its signal")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--sources", default="sweep,mutatieservice")
    args = parser.parse_args()
    quiet_offline_aws()
    runs = []
    with sandbox_process() as sandbox:
        for source in args.sources.split(","):
            runs.append(run(args, source, sandbox))
    keys = [key for key in runs[0] if key != "source"]
    print(
        table(["", *[run["source"] for run in runs]], [[key, *[json.dumps(run[key]) for run in runs]] for key in keys])
    )
    sweep = next((run for run in runs if run["source"] == "sweep"), {})
    signals = next((run for run in runs if run["source"] == "mutatieservice"), {})
    result = {
        "watched_customers": runs[0]["watched_customers"],
        "ended": runs[0]["ended"],
        "changed": runs[0]["changed"],
        "events_lost": sum(run["events_lost"] for run in runs),
        "events_duplicated": sum(run["events_duplicated"] for run in runs),
        "signal_to_event_p95_s": signals.get("signal_to_event_p95_s"),
        "sweep_detection_p95_days": sweep.get("sweep_detection_p95_days"),
        "sweep_kvk_calls_per_customer_month": sweep.get("sweep_kvk_calls_per_customer_month"),
        "sweep_paid_calls": sweep.get("sweep_paid_calls"),
        "cursor_lost_signals": signals.get("cursor_lost_signals"),
        "cursor_duplicate_events": signals.get("cursor_duplicate_events"),
        "crashes": {run["source"]: run["crashes"] for run in runs},
        "seconds": round(sum(run["seconds"] for run in runs), 1),
    }
    print("\nRESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

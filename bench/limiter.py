"""Benchmark: do concurrent execution environments together hold KVK's limit at KVK's door? (make bench-limiter)

Worker processes, each its own execution environment as the composition root builds it (client,
L1, limiter view), look KVK numbers up through the layer's cache against the KVK sandbox, which
enforces the *same* rate the layer is configured for (sliding one-second window, 429 beyond) and
records every keyed request that arrives, 429s included: "max calls in any 1 s" and "KVK 429s"
are the sandbox's arrivals, not the layer's schedule. The table lives on a moto server in its own
process. The default rate, 10/s, is one the emulated DynamoDB keeps up with on two cores beside
20 worker processes: a KVK lookup costs about 7 table calls (cache read, lease, limiter, store,
release, the repeated lookup's read), and moto's server answered 60-120 calls/s here (measured
2026-11-30; at 20/s the baseline without a limiter is already bound by the table). The slot
interval (100 ms) against moto's 10-50 ms per call is then what real DynamoDB's ~5 ms is at 100/s.

1. **Steady load**, two configurations interleaved (global limiter, own bucket only, global,
   own bucket; a fresh table each round): totals, arrivals, 429s, DynamoDB calls (all, and the
   limiter's own updates), time against the ideal ``unique / rate``.
2. **Overload**: requests for uncached numbers at twice the rate for 30 s, with the HTTP API's
   deadline and admission settings. Counted: offered, granted (slots), completed, granted without
   the call time left, refused (and how fast), 429s at KVK.
3. **Cache latency** in one process, with the KVK calls each kind of lookup made (from the sandbox).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import httpx

from bench.common import fresh_table, table
from local.moto_server import client_environment, moto_process
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer, registry

DEADLINE_SECONDS = 10.0  # the onboarding path's budget per lookup
API_DEADLINE_SECONDS = 5.0  # the HTTP API's
OVERLOAD_SECONDS = 30.0


@dataclass(frozen=True)
class Job:
    worker: int
    numbers: list[str]
    sandbox_url: str
    endpoint: str
    table: str
    rate: float
    global_limiter: bool
    settings: tuple[tuple[str, str], ...] = ()


def build(job: Job, on_grant: Any = None) -> Any:
    """One execution environment, as the composition root builds it, with the benchmark's key and table."""
    from kvkgate.config import load_settings
    from kvkgate.kvk.keys import StaticApiKey
    from kvkgate.root import Environment, Overrides

    config = load_settings(
        {
            "KVK_BASE_URL": job.sandbox_url,
            "TABLE_NAME": job.table,
            "KVK_RATE_LIMIT_PER_SECOND": str(job.rate),
            "KVK_MAX_QUEUE_SECONDS": str(DEADLINE_SECONDS),
            # The whole rate on one schedule: this measures the limiter, not how it is shared out
            # (the sign-up trigger's own share is bench-gate's and tests/unit/test_gate.py's).
            "KVK_SIGNUP_RATE_SHARE": "0",
            **dict(job.settings),
        }
    )
    overrides = Overrides(
        api_key=StaticApiKey(PUBLIC_TEST_KEY),
        observe=lambda api, outcome: None,
        global_limiter=job.global_limiter,
        on_grant=on_grant,
    )
    return Environment(config, overrides)


def count_dynamodb_calls() -> dict[str, int]:
    """Counts this process's DynamoDB calls: all, and the limiter's own (its item is ``LIMIT#kvk``)."""
    from kvkgate.aws.dynamo import dynamodb_client

    counts = {"all": 0, "limiter": 0}

    def count(params: dict[str, Any], **_: Any) -> None:
        counts["all"] += 1
        if params.get("Key", {}).get("pk", {}).get("S") == "LIMIT#kvk":
            counts["limiter"] += 1

    dynamodb_client().meta.events.register("provide-client-params.dynamodb", count)
    return counts


def steady_worker(job: Job, ready: Any, start: Any, results: Any) -> None:
    os.environ.update(client_environment(job.endpoint), POWERTOOLS_METRICS_DISABLED="true")
    from kvkgate.clock import Deadline
    from kvkgate.domain.outcomes import TooManyRequests, Unavailable

    environment = build(job)
    calls = count_dynamodb_calls()
    ready.put(job.worker)
    start.wait()
    errors: dict[str, int] = {}
    for number in job.numbers:
        try:
            environment.registry.registrations(number, Deadline.after(DEADLINE_SECONDS))
        except (Unavailable, TooManyRequests) as error:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
    results.put({"worker": job.worker, "errors": errors, "done": time.time(), "dynamodb": dict(calls)})


def run_processes(target: Any, jobs: list[Job]) -> tuple[float, list[dict[str, Any]]]:
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    processes = [context.Process(target=target, args=(job, ready, start, results)) for job in jobs]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    began = time.time()
    start.set()
    outcomes = [results.get(timeout=900) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    return began, outcomes


def sandbox_figures(sandbox: SandboxServer) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(sandbox.url + "/__sandbox/stats").json()
    return stats


def steady(
    label: str, numbers: list[str], workers: int, sandbox: SandboxServer, endpoint: str, rate: float, limited: bool
) -> dict[str, Any]:
    httpx.post(sandbox.url + "/__sandbox/reset")
    table_name = fresh_table()
    shares = [numbers[index::workers] for index in range(workers)]
    jobs = [
        Job(index, share, sandbox.test_url, endpoint, table_name, rate, limited) for index, share in enumerate(shares)
    ]
    began, outcomes = run_processes(steady_worker, jobs)
    stats = sandbox_figures(sandbox)
    errors: dict[str, int] = {}
    for outcome in outcomes:
        for name, count in outcome["errors"].items():
            errors[name] = errors.get(name, 0) + count
    return {
        "run": label,
        "lookups": len(numbers),
        "unique": len(set(numbers)),
        "kvk_calls": stats["arrivals"],
        "max_kvk_calls_per_second": stats["maxArrivalsInAnySecond"],
        "kvk_429": stats["rateLimited"],
        "failed": sum(errors.values()),
        "errors": errors,
        "dynamodb_calls": sum(outcome["dynamodb"]["all"] for outcome in outcomes),
        "limiter_updates": sum(outcome["dynamodb"]["limiter"] for outcome in outcomes),
        "total_s": max(outcome["done"] for outcome in outcomes) - began,
    }


def combine(rounds: list[dict[str, Any]], workers: int, rate: float) -> dict[str, Any]:
    """The rounds of one configuration as one run: sums, and the worst second of any round."""
    unique = sum(item["unique"] for item in rounds)
    errors: dict[str, int] = {}
    for item in rounds:
        for name, count in item["errors"].items():
            errors[name] = errors.get(name, 0) + count
    return {
        "run": rounds[0]["run"],
        "lookups": sum(item["lookups"] for item in rounds),
        "unique": unique,
        "workers": workers,
        "kvk_calls": sum(item["kvk_calls"] for item in rounds),
        "max_kvk_calls_per_second": max(item["max_kvk_calls_per_second"] for item in rounds),
        "limit": rate,
        "kvk_429": sum(item["kvk_429"] for item in rounds),
        "failed": sum(item["failed"] for item in rounds),
        "errors": errors,
        "dynamodb_calls": sum(item["dynamodb_calls"] for item in rounds),
        "limiter_updates": sum(item["limiter_updates"] for item in rounds),
        "total_s": round(sum(item["total_s"] for item in rounds), 2),
        "ideal_s": round(unique / rate, 2),
    }


def overload_worker(job: Job, ready: Any, start: Any, results: Any) -> None:
    """Offers ``len(job.numbers)`` requests evenly over the overload phase, each in its own thread."""
    os.environ.update(client_environment(job.endpoint), POWERTOOLS_METRICS_DISABLED="true")
    from kvkgate.clock import Deadline
    from kvkgate.domain.outcomes import TooManyRequests, Unavailable

    call_seconds = float(dict(job.settings)["KVK_CALL_SECONDS"])
    lock = threading.Lock()
    tally: dict[str, Any] = {"granted": 0, "granted_without_time": 0, "completed": 0, "failed": 0, "refused_ms": []}

    def granted(api: Any, deadline: Deadline) -> None:
        with lock:
            tally["granted"] += 1
            tally["granted_without_time"] += int(deadline.remaining() < call_seconds)

    environment = build(job, on_grant=granted)
    environment.registry  # noqa: B018 - built before the clock starts, as a warm environment would be
    ready.put(job.worker)
    start.wait()
    began = time.monotonic()
    spacing = OVERLOAD_SECONDS / max(len(job.numbers), 1)
    offset = random.Random(job.worker).uniform(0, spacing)

    def request(number: str) -> None:
        asked = time.monotonic()
        try:
            environment.registry.registrations(number, Deadline.after(API_DEADLINE_SECONDS))
            outcome = "completed"
        except TooManyRequests:
            outcome = "refused"
        except Unavailable:
            outcome = "failed"
        with lock:
            if outcome == "refused":
                tally["refused_ms"].append((time.monotonic() - asked) * 1000)
            else:
                tally[outcome] += 1

    with ThreadPoolExecutor(max_workers=16) as pool:
        for index, number in enumerate(job.numbers):
            delay = began + offset + index * spacing - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(request, number)
    results.put(tally)


def overload(numbers: list[str], workers: int, sandbox: SandboxServer, endpoint: str, rate: float) -> dict[str, Any]:
    httpx.post(sandbox.url + "/__sandbox/reset")
    table_name = fresh_table()
    api_settings = (("KVK_MAX_QUEUE_SECONDS", "1"), ("KVK_CALL_SECONDS", "1"))
    jobs = [
        Job(index, numbers[index::workers], sandbox.test_url, endpoint, table_name, rate, True, api_settings)
        for index in range(workers)
    ]
    _, outcomes = run_processes(overload_worker, jobs)
    stats = sandbox_figures(sandbox)
    refused = sorted(ms for outcome in outcomes for ms in outcome["refused_ms"])
    return {
        "seconds": OVERLOAD_SECONDS,
        "offered": len(numbers),
        "granted": sum(outcome["granted"] for outcome in outcomes),
        "completed": sum(outcome["completed"] for outcome in outcomes),
        "granted_without_time": sum(outcome["granted_without_time"] for outcome in outcomes),
        "refused": len(refused),
        "refused_p95_ms": round(refused[math.ceil(0.95 * len(refused)) - 1], 1) if refused else 0.0,
        "failed": sum(outcome["failed"] for outcome in outcomes),
        "kvk_429": stats["rateLimited"],
        "max_kvk_calls_per_second": stats["maxArrivalsInAnySecond"],
    }


def cache_latencies(sandbox: SandboxServer, endpoint: str, numbers: list[str], rate: float) -> list[list[object]]:
    """Median latency of a miss, an L1 hit and a DynamoDB hit in this process, and the KVK calls each made."""
    from kvkgate.clock import Deadline

    environment = build(Job(0, [], sandbox.test_url, endpoint, fresh_table(), rate, True))
    lookups = environment.registry

    def timed(before: Any = None) -> tuple[list[float], int]:
        httpx.post(sandbox.url + "/__sandbox/reset")
        samples = []
        for number in numbers:
            if before:
                before()
            started = time.perf_counter()
            lookups.registrations(number, Deadline.after(DEADLINE_SECONDS))
            samples.append(time.perf_counter() - started)
        return samples, int(sandbox_figures(sandbox)["arrivals"])

    misses, miss_calls = timed()
    memory_hits, memory_calls = timed()  # each is in this environment's memory now
    table_hits, table_calls = timed(lookups.cache.forget_memory)  # as a new execution environment would start

    def ms(samples: list[float]) -> str:
        return f"{statistics.median(samples) * 1000:.3f}"

    return [
        ["L1 (memory) hit", len(memory_hits), ms(memory_hits), memory_calls],
        ["DynamoDB hit", len(table_hits), ms(table_hits), table_calls],
        ["miss (limiter + budget + KVK + store)", len(misses), ms(misses), miss_calls],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lookups", type=int, default=600, help="per configuration, split over two rounds")
    parser.add_argument("--unique", type=int, default=300)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="KVK_RATE_LIMIT_PER_SECOND, and the sandbox's limit")
    parser.add_argument("--overload-factor", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    pool = [number for number, record in registry().companies.items() if record.get("evidence") == "generated"]
    rng = random.Random(args.seed)
    rng.shuffle(pool)
    unique, rest = pool[: args.unique], pool[args.unique :]
    halves = [unique[: args.unique // 2], unique[args.unique // 2 :]]
    offered = int(args.overload_factor * args.rate * OVERLOAD_SECONDS)
    overload_numbers, latency_numbers = rest[:offered], rest[offered : offered + 100]

    def load(numbers: list[str]) -> list[str]:
        repeated = [numbers[index % len(numbers)] for index in range(args.lookups // 2)]
        rng.shuffle(repeated)
        return repeated

    with moto_process() as endpoint, SandboxServer(Behaviour(rate_limit=math.floor(args.rate))) as sandbox:
        os.environ.update(client_environment(endpoint), POWERTOOLS_METRICS_DISABLED="true")
        boto3.setup_default_session()
        rounds: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for half in halves:  # interleaved, so drift in the machine's load hits both alike
            numbers = load(half)
            for limited in (True, False):
                label = "global limiter" if limited else "per-process bucket only"
                rounds[limited].append(steady(label, numbers, args.workers, sandbox, endpoint, args.rate, limited))
        limited_run, baseline = (combine(rounds[flag], args.workers, args.rate) for flag in (True, False))
        pressure = overload(overload_numbers, args.workers, sandbox, endpoint, args.rate)
        latencies = cache_latencies(sandbox, endpoint, latency_numbers, args.rate)

    headers = ["run", "lookups", "unique", "workers", "KVK calls", "max calls in any 1 s", "limit", "KVK 429s"]
    headers += ["failed", "DynamoDB calls", "limiter updates", "total s", "ideal s", "total/ideal"]
    keys = ["run", "lookups", "unique", "workers", "kvk_calls", "max_kvk_calls_per_second", "limit", "kvk_429"]
    keys += ["failed", "dynamodb_calls", "limiter_updates", "total_s", "ideal_s"]
    rows = [[run[key] for key in keys] + [f"{run['total_s'] / run['ideal_s']:.2f}"] for run in (limited_run, baseline)]
    print(table(headers, rows))
    print()
    print(f"Overload: {pressure['offered']} requests for uncached numbers over {OVERLOAD_SECONDS:.0f} s")
    print(f"({args.overload_factor:g}× the rate), HTTP API deadline {API_DEADLINE_SECONDS:.0f} s, max queue 1 s:")
    print(table(list(pressure), [list(pressure.values())]))
    print()
    print(table(["lookup", "samples", "median ms", "KVK calls"], latencies))
    print()
    extra = limited_run["dynamodb_calls"] - baseline["dynamodb_calls"]
    result = {
        **{key: value for key, value in limited_run.items() if key != "run"},
        "limiter_dynamodb_calls_per_kvk_call": round(extra / max(limited_run["kvk_calls"], 1), 3),
        "limiter_updates_per_kvk_call": round(limited_run["limiter_updates"] / max(limited_run["kvk_calls"], 1), 3),
        "total_over_ideal": round(limited_run["total_s"] / limited_run["ideal_s"], 3),
        "baseline": baseline,
        "overload": pressure,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

"""Benchmark: do concurrent execution environments together stay inside KVK's rate? (make bench-limiter)

N lookups of U unique KVK numbers from M worker processes, each with its own client, L1 and
limiter view (like separate Lambda environments), against the KVK sandbox enforcing 100
requests/s (sliding window) and a table on a moto server. The same load runs twice, side by
side: with the global DynamoDB limiter, and with only each process's own token bucket.
Ground truth for "how hard did we hit KVK" is the sandbox's own statistics.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

import boto3
import httpx

from bench.common import fresh_table, table
from local.moto_server import client_environment, moto_process
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer, registry

KVK_LIMIT = 100  # what the sandbox enforces, like KVK
DEADLINE_SECONDS = 10.0  # the onboarding path's budget per lookup


@dataclass(frozen=True)
class Job:
    worker: int
    numbers: list[str]
    sandbox_url: str
    endpoint: str
    table: str
    rate: float
    global_limiter: bool


def build_registry(job: Job) -> Any:
    """One execution environment, as the composition root builds it, with the benchmark's key and table."""
    from kvkgate.config import load_settings
    from kvkgate.kvk.keys import StaticApiKey
    from kvkgate.root import Environment, Overrides

    config = load_settings(
        {"KVK_BASE_URL": job.sandbox_url, "TABLE_NAME": job.table, "KVK_RATE_LIMIT_PER_SECOND": str(job.rate)}
    )
    overrides = Overrides(
        api_key=StaticApiKey(PUBLIC_TEST_KEY), observe=lambda api, outcome: None, global_limiter=job.global_limiter
    )
    return Environment(config, overrides).registry


def run_worker(job: Job, ready: Any, start: Any, results: Any) -> None:
    os.environ.update(client_environment(job.endpoint), POWERTOOLS_METRICS_DISABLED="true")
    from kvkgate.aws.dynamo import dynamodb_client
    from kvkgate.clock import Deadline
    from kvkgate.domain.outcomes import Unavailable

    registry = build_registry(job)
    dynamodb_calls = [0]
    dynamodb_client().meta.events.register(
        "before-call.dynamodb", lambda **kwargs: dynamodb_calls.__setitem__(0, dynamodb_calls[0] + 1)
    )
    ready.put(job.worker)
    start.wait()
    failed, errors = 0, dict[str, int]()
    for number in job.numbers:
        try:
            registry.registrations(number, Deadline.after(DEADLINE_SECONDS))
        except Unavailable as error:
            failed += 1
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
    results.put(
        {"worker": job.worker, "failed": failed, "errors": errors, "done": time.time(), "dynamodb": dynamodb_calls[0]}
    )


def run(
    label: str,
    numbers: list[str],
    workers: int,
    sandbox: SandboxServer,
    endpoint: str,
    rate: float,
    global_limiter: bool,
) -> dict[str, Any]:
    httpx.post(sandbox.url + "/__sandbox/reset")
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    table_name = fresh_table()
    shares = [numbers[index::workers] for index in range(workers)]
    processes = [
        context.Process(
            target=run_worker,
            args=(
                Job(index, share, sandbox.test_url, endpoint, table_name, rate, global_limiter),
                ready,
                start,
                results,
            ),
        )
        for index, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    began = time.time()
    start.set()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    stats = httpx.get(sandbox.url + "/__sandbox/stats").json()
    unique = len(set(numbers))
    errors: dict[str, int] = {}
    for outcome in outcomes:
        for name, count in outcome["errors"].items():
            errors[name] = errors.get(name, 0) + count
    return {
        "run": label,
        "lookups": len(numbers),
        "unique": unique,
        "workers": workers,
        "kvk_calls": stats["served"],
        "max_kvk_calls_per_second": stats["maxCallsInAnySecond"],
        "limit": rate,
        "kvk_429": stats["rateLimited"],
        "failed": sum(outcome["failed"] for outcome in outcomes),
        "errors": errors,
        "dynamodb_calls": sum(outcome["dynamodb"] for outcome in outcomes),
        "total_s": round(max(outcome["done"] for outcome in outcomes) - began, 2),
        "ideal_s": round(unique / rate, 2),
    }


def cache_latencies(sandbox: SandboxServer, endpoint: str, numbers: list[str], rate: float) -> list[list[object]]:
    """Median latency of an L1 hit, a DynamoDB hit and a miss, in this process."""
    from kvkgate.clock import Deadline

    job = Job(0, [], sandbox.test_url, endpoint, fresh_table(), rate, True)
    registry = build_registry(job)
    misses, dynamo_hits, memory_hits = [], [], []
    for number in numbers:
        started = time.perf_counter()
        registry.registrations(number, Deadline.after(DEADLINE_SECONDS))
        misses.append(time.perf_counter() - started)
    for number in numbers:  # each is in this environment's memory now
        started = time.perf_counter()
        registry.registrations(number, Deadline.after(DEADLINE_SECONDS))
        memory_hits.append(time.perf_counter() - started)
    for number in numbers:
        registry.cache.forget_memory()  # as a new execution environment would start
        started = time.perf_counter()
        registry.registrations(number, Deadline.after(DEADLINE_SECONDS))
        dynamo_hits.append(time.perf_counter() - started)

    def ms(samples: list[float]) -> str:
        return f"{statistics.median(samples) * 1000:.3f}"

    return [
        ["L1 (memory) hit", len(memory_hits), ms(memory_hits), "0"],
        ["DynamoDB hit", len(dynamo_hits), ms(dynamo_hits), "0"],
        ["miss (limiter + budget + KVK + store)", len(misses), ms(misses), str(len(misses))],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--unique", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="KVK_RATE_LIMIT_PER_SECOND given to the layer")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data = registry()
    rng = random.Random(args.seed)
    pool = [number for number, record in data.companies.items() if record.get("evidence") == "generated"]
    unique = rng.sample(pool, args.unique)
    numbers = [unique[index % args.unique] for index in range(args.lookups)]
    rng.shuffle(numbers)

    with moto_process() as endpoint, SandboxServer(Behaviour(rate_limit=KVK_LIMIT)) as sandbox:
        os.environ.update(client_environment(endpoint), POWERTOOLS_METRICS_DISABLED="true")
        boto3.setup_default_session()
        limited = run("global limiter", numbers, args.workers, sandbox, endpoint, args.rate, True)
        baseline = run("per-process bucket only", numbers, args.workers, sandbox, endpoint, args.rate, False)
        latencies = cache_latencies(sandbox, endpoint, rng.sample([n for n in pool if n not in unique], 100), args.rate)

    headers = [
        "run",
        "lookups",
        "unique",
        "workers",
        "KVK calls",
        "max calls in any 1 s",
        "limit",
        "KVK 429s",
        "failed",
        "DynamoDB calls",
        "total s",
        "ideal s",
        "total/ideal",
    ]
    rows = [
        [
            r["run"],
            r["lookups"],
            r["unique"],
            r["workers"],
            r["kvk_calls"],
            r["max_kvk_calls_per_second"],
            r["limit"],
            r["kvk_429"],
            r["failed"],
            r["dynamodb_calls"],
            r["total_s"],
            r["ideal_s"],
            f"{r['total_s'] / r['ideal_s']:.2f}",
        ]
        for r in (limited, baseline)
    ]
    print(table(headers, rows))
    print()
    print(table(["lookup", "samples", "median ms", "KVK calls"], latencies))
    print()
    print("RESULT " + json.dumps({**{k: v for k, v in limited.items() if k not in ("run",)}, "baseline": baseline}))


if __name__ == "__main__":
    main()

"""Benchmark: the HTTP API's cold start, warm latency and KVK cost (make bench-api).

1. Cold import of each handler module in a fresh interpreter, on the built artifact, beside
   ``import boto3; boto3.client('dynamodb')`` in the same run. The artifact is built with the
   layer's own build recipe (layers/kvkgate/Makefile, as ``sam build`` runs it) but for this
   machine's platform (x86_64 wheels instead of arm64, which cannot be imported here), with .pyc
   compiled at build time and the tree made read-only, like /opt and /var/task. boto3 comes from
   a separate directory, as Lambda's runtime provides it. Interpreters run with ``-S`` so nothing
   else on this machine is importable.
2. Warm invocation latency of the API handler: an L1 hit, a DynamoDB hit and a miss.
3. Paid KVK calls per validation on 10,000 validations over 2,000 unique numbers (Zipf), 30 %
   with a claimed name of which half mismatch, beside a naive client that calls Basisprofiel and
   Naamgeving for every validation.
4. Company search (``GET /v1/companies?q=``): KVK calls per typing session - a person typing a
   name one key at a time, 150 ms between keys, the demo page's 300 ms debounce deciding which
   texts are sent - beside the same sessions without the debounce and a naive client that sends
   every keystroke's whole text to KVK; and suggestion latency on a warm cache.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, table

HANDLERS = {"ApiFunction": ("functions/api", "api")}


def _python312() -> str:
    candidates = [*sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12")), Path(sys.executable)]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    return sys.executable


def build_artifact(where: Path) -> Path:
    python = _python312()
    layer = where / "layer"
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT / "layers/kvkgate"),
            "build-KvkgateLayer",
            f"ARTIFACTS_DIR={layer}",
            "PLATFORM=manylinux2014_x86_64",
            f"PYTHON={python}",
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    runtime = where / "runtime"
    requirements = (ROOT / "requirements-dev.txt").read_text().splitlines()
    boto = [line for line in requirements if line.startswith(("boto3==", "botocore=="))]
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-compile", "--target", str(runtime), *boto],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    for logical_id, (code_uri, _) in HANDLERS.items():
        shutil.copytree(ROOT / code_uri, where / logical_id)
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash", str(where)], check=True
    )
    subprocess.run(["chmod", "-R", "a-w", str(where)], check=True)
    return where


def cold_imports(artifact: Path, rounds: int) -> tuple[list[list[object]], float]:
    python = _python312()
    environment = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_SERVICE_NAME": "kvkgate"}
    commands = {
        "baseline: import boto3; boto3.client('dynamodb')": (
            [python, "-S", "-c", "import boto3; boto3.client('dynamodb')"],
            str(artifact / "runtime"),
        )
    }
    for logical_id, (_, module) in HANDLERS.items():
        path = os.pathsep.join(str(artifact / part) for part in (logical_id, "layer/python", "runtime"))
        commands[f"{logical_id}: import {module}"] = ([python, "-S", "-c", f"import {module}"], path)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (command, path) in commands.items():  # interleaved, so drift hits all alike
            started = time.perf_counter()
            subprocess.run(command, env={**environment, "PYTHONPATH": path}, check=True)
            samples[name].append(time.perf_counter() - started)
    baseline = statistics.median(next(iter(samples.values())))
    rows: list[list[object]] = []
    ratio = 0.0
    for name, values in samples.items():
        median = statistics.median(values)
        if name.startswith("ApiFunction"):
            ratio = median / baseline
        rows.append(
            [name, len(values), f"{median * 1000:.0f}", f"{min(values) * 1000:.0f}", f"{median / baseline:.2f}"]
        )
    return rows, ratio


def warm_latencies(samples: int) -> list[list[object]]:
    """Invoke the API handler in-process with moto (table from the template) and the sandbox."""
    from moto import mock_aws

    from kvkgate import root
    from local.apigw import http_event
    from local.aws_resources import create_stack
    from local.lambda_runtime import LambdaContext, function_environment, functions, load_handler
    from local.sandbox.app import PUBLIC_TEST_KEY
    from local.sandbox.faults import Behaviour
    from local.sandbox.server import SandboxServer, registry

    spec = functions()["ApiFunction"]
    numbers = [n for n, record in registry().companies.items() if record.get("evidence") == "generated"][: samples * 2]
    with mock_aws(), SandboxServer(Behaviour(rate_limit=None)) as sandbox:
        stack = create_stack(secret_values={"KvkApiKeySecret": PUBLIC_TEST_KEY}, prefix="bench")
        # One client sends every sample: budgets high enough to stay counted (part of a miss) but never refuse.
        overrides = {
            "KVK_BASE_URL": sandbox.test_url,
            "CALLER_KVK_LOOKUPS_PER_MINUTE": "100000",
            "CALLER_KVK_LOOKUPS_PER_DAY": "100000",
        }
        os.environ.update(function_environment(spec, stack, overrides))
        root.reset()
        handler = load_handler(spec)

        def call(number: str) -> float:
            event = http_event("POST", "/v1/validations", {"kvkNumber": number}, route_key="POST /v1/validations")
            started = time.perf_counter()
            response = handler(event, LambdaContext(spec))
            elapsed = time.perf_counter() - started
            assert response["statusCode"] == 200, response
            return elapsed

        call(numbers[-1])  # first invocation builds clients: a cold start, not measured here
        misses = [call(number) for number in numbers[:samples]]
        memory = [call(number) for number in numbers[:samples]]
        table_hits = []
        for number in numbers[:samples]:
            root.environment().registry.cache.forget_memory()
            table_hits.append(call(number))
        root.reset()

    def row(name: str, values: list[float]) -> list[object]:
        return [
            name,
            len(values),
            f"{statistics.median(values) * 1000:.2f}",
            f"{sorted(values)[int(len(values) * 0.95)] * 1000:.2f}",
        ]

    return [row("L1 (memory) hit", memory), row("DynamoDB hit", table_hits), row("miss (Zoeken via sandbox)", misses)]


KEY_GAP = 0.150  # seconds between keys
DEBOUNCE = 0.300  # the demo page waits this long after the last key before it asks


def sent_texts(name: str, debounced: bool) -> list[str]:
    """The texts a search box sends while ``name`` is typed one key at a time."""
    typed = [name[:end] for end in range(1, len(name) + 1)]
    if debounced:  # a request only when no key follows within the debounce: with even typing, the last
        typed = [text for index, text in enumerate(typed) if index == len(typed) - 1 or KEY_GAP >= DEBOUNCE]
    return [text for text in typed if len(text.strip()) >= 2]


def search_figures(sessions: list[str], samples: int) -> tuple[list[list[object]], dict[str, Any]]:
    """KVK calls per typing session (three clients) and warm-cache suggestion latency."""
    import httpx
    from moto import mock_aws

    from kvkgate import root
    from local.apigw import http_event
    from local.aws_resources import create_stack
    from local.lambda_runtime import LambdaContext, function_environment, functions, load_handler
    from local.sandbox.app import PUBLIC_TEST_KEY
    from local.sandbox.faults import Behaviour
    from local.sandbox.server import SandboxServer

    spec = functions()["ApiFunction"]
    with mock_aws(), SandboxServer(Behaviour(rate_limit=None)) as sandbox:
        stack = create_stack(secret_values={"KvkApiKeySecret": PUBLIC_TEST_KEY}, prefix="bench-search")
        overrides = {"KVK_BASE_URL": sandbox.test_url, "CALLER_KVK_LOOKUPS_PER_MINUTE": "0"}
        os.environ.update(function_environment(spec, stack, overrides | {"CALLER_KVK_LOOKUPS_PER_DAY": "0"}))
        handler = load_handler(spec)

        def ask(text: str) -> float:
            query = "q=" + httpx.QueryParams({"q": text})["q"]
            event = http_event("GET", "/v1/companies", query=query, route_key="GET /v1/companies")
            started = time.perf_counter()
            response = handler(event, LambdaContext(spec))
            elapsed = time.perf_counter() - started
            assert response["statusCode"] == 200, response
            return elapsed

        def kvk_calls() -> int:
            return int(httpx.get(sandbox.url + "/__sandbox/stats").json()["calls"].get("zoeken", 0))

        def session_calls(name: str, debounced: bool) -> int:
            root.reset()  # a fresh environment and an empty cache: every session pays its own way
            httpx.post(sandbox.url + "/__sandbox/reset")
            for text in sent_texts(name, debounced):
                ask(text)
            return kvk_calls()

        debounced = [session_calls(name, True) for name in sessions]
        every_key = [session_calls(name, False) for name in sessions]
        naive = [len(sent_texts(name, False)) for name in sessions]  # one KVK call per keystroke's text
        root.reset()
        first = ask(sessions[0])
        memory = [ask(sessions[0]) for _ in range(samples)]
        table_hits = []
        for _ in range(samples):
            root.environment().registry.cache.forget_memory()
            table_hits.append(ask(sessions[0]))
        root.reset()

    def calls_row(label: str, counts: list[int]) -> list[object]:
        return [label, len(counts), max(counts), f"{statistics.mean(counts):.2f}", counts[0]]

    rows = [
        calls_row("kvkgate, demo page (300 ms debounce)", debounced),
        calls_row("kvkgate, a request per keystroke", every_key),
        calls_row("naive: every keystroke's text to KVK", naive),
    ]
    latency = {
        "first (KVK via sandbox)": round(first * 1000, 2),
        "L1 hit p50": round(statistics.median(memory) * 1000, 2),
        "L1 hit p95": round(sorted(memory)[int(len(memory) * 0.95)] * 1000, 2),
        "DynamoDB hit p50": round(statistics.median(table_hits) * 1000, 2),
        "DynamoDB hit p95": round(sorted(table_hits)[int(len(table_hits) * 0.95)] * 1000, 2),
    }
    figures = {
        "kvk_calls_per_typing_session": debounced[0],
        "kvk_calls_per_typing_session_max": max(debounced),
        "kvk_calls_per_session_without_debounce_max": max(every_key),
        "naive_kvk_calls_per_session_mean": round(statistics.mean(naive), 2),
        "suggestion_ms": latency,
    }
    return rows, figures


def typing_sessions(count: int, seed: int) -> list[str]:
    """What people type: the issue's "bakkerij de hoek" first, then the first words of real sandbox names."""
    from local.sandbox.server import registry

    rng = random.Random(seed)
    names = sorted(record["naam"] for record in registry().companies.values() if record.get("evidence") == "generated")
    picked = [" ".join(name.split()[:3]).lower() for name in rng.sample(names, count - 1)]
    return ["bakkerij de hoek", *picked]


def workload(validations: int, unique: int, seed: int) -> list[dict[str, str]]:
    """Zipf-distributed numbers; 30 % claim a name, half of those another company's name."""
    from local.sandbox.server import registry

    rng = random.Random(seed)
    companies = [record for record in registry().companies.values() if record.get("evidence") == "generated"]
    chosen = rng.sample(companies, unique)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(unique)]
    requests = []
    for record in rng.choices(chosen, weights=weights, k=validations):
        request = {"kvkNumber": record["kvkNummer"]}
        if rng.random() < 0.30:
            if rng.random() < 0.5:
                names = record.get("handelsnamen") or [record["naam"]]
                request["tradeName"] = rng.choice(names)
            else:
                request["tradeName"] = rng.choice(companies)["naam"]
        requests.append(request)
    return requests


def paid_calls(requests: list[dict[str, str]], naive_sample: int) -> tuple[list[list[object]], dict[str, Any]]:
    import boto3
    import httpx
    from moto import mock_aws

    from kvkgate.app.http import network_caller
    from kvkgate.clock import Deadline
    from kvkgate.config import load_settings
    from kvkgate.domain.contracts import ValidationRequest
    from kvkgate.domain.verify import validate
    from kvkgate.kvk.errors import KvkError
    from kvkgate.kvk.keys import StaticApiKey
    from kvkgate.root import Environment, Overrides
    from local.aws_resources import create_tables
    from local.sandbox.app import PUBLIC_TEST_KEY
    from local.sandbox.faults import Behaviour
    from local.sandbox.server import SandboxServer

    with mock_aws(), SandboxServer(Behaviour(rate_limit=None)) as sandbox:
        table = create_tables(boto3.client("dynamodb"), prefix="bench-cost")["KvkgateTable"]
        config = load_settings(
            {"KVK_BASE_URL": sandbox.test_url, "TABLE_NAME": table, "KVK_RATE_LIMIT_PER_SECOND": "100"}
        )
        environment = Environment(
            config,
            Overrides(api_key=StaticApiKey(PUBLIC_TEST_KEY), observe=lambda api, outcome: None, caller_secret=b"bench"),
        )
        table_use = TableUse()
        environment.dynamodb.meta.events.register("provide-client-params.dynamodb.*", table_use.count)
        verdicts: dict[str, int] = {}
        rng = random.Random(7)
        for request in requests:
            # Each validation from a browser of its own, as a sign-up form's are: its caller budget is charged.
            with environment.caller_scope(network_caller(f"198.{rng.randrange(256)}.{rng.randrange(256)}.7")):
                result = validate(
                    ValidationRequest.model_validate(request), environment.registry, Deadline.after(10), dt_now()
                )
            verdicts[result.verdict] = verdicts.get(result.verdict, 0) + 1
        environment.dynamodb.meta.events.unregister("provide-client-params.dynamodb.*", table_use.count)
        stats = httpx.get(sandbox.url + "/__sandbox/stats").json()
        httpx.post(sandbox.url + "/__sandbox/reset")
        naive_failures = 0
        for request in requests[:naive_sample]:
            for call in (environment.client.basisprofiel, environment.client.naamgeving):
                try:
                    call(request["kvkNumber"], deadline=Deadline.after(10))
                except KvkError:  # a naive client pays for calls KVK answers with an error too
                    naive_failures += 1
        naive = httpx.get(sandbox.url + "/__sandbox/stats").json()
    kvkgate_rate = stats["paidCalls"] / len(requests)
    naive_rate = naive["paidCalls"] / naive_sample
    rows: list[list[object]] = [
        [
            "kvkgate (Zoeken first, cached)",
            len(requests),
            stats["calls"].get("zoeken", 0),
            stats["paidCalls"],
            f"{kvkgate_rate:.4f}",
        ],
        [
            "naive (Basisprofiel + Naamgeving each time)",
            naive_sample,
            naive["calls"].get("zoeken", 0),
            naive["paidCalls"],
            f"{naive_rate:.4f}",
        ],
    ]
    return rows, {
        "paid_calls_per_validation": round(kvkgate_rate, 4),
        "naive_paid_calls_per_validation": round(naive_rate, 4),
        "naive_failed_calls": naive_failures,
        "verdicts": verdicts,
        "free_calls": stats["calls"].get("zoeken", 0),
        "paid_calls": stats["paidCalls"],
        "dynamodb_per_validation": table_use.per(len(requests)),
    }


def _item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (strings in UTF-8, binary as is)."""
    size = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        size += len(name.encode()) + (len(data) if kind == "B" else len(str(data).encode()))
    return size


@dataclass
class TableUse:
    """DynamoDB requests by operation, and the write units the stored items take (1 KB each)."""

    operations: dict[str, int] = field(default_factory=dict)
    put_units: int = 0

    def count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.operations[model.name] = self.operations.get(model.name, 0) + 1
        if model.name == "PutItem":
            self.put_units += max(1, math.ceil(_item_bytes(params["Item"]) / 1024))

    def per(self, validations: int) -> dict[str, float]:
        reads = self.operations.get("GetItem", 0)
        updates = self.operations.get("UpdateItem", 0)
        return {
            "reads": round(reads / validations, 3),
            "writes": round((updates + self.operations.get("PutItem", 0)) / validations, 3),
            "write_units": round((updates + self.put_units) / validations, 3),
            **{name: round(count / validations, 3) for name, count in sorted(self.operations.items())},
        }


def dt_now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="cold imports per command")
    parser.add_argument("--samples", type=int, default=200, help="warm invocations per kind")
    parser.add_argument("--validations", type=int, default=10_000)
    parser.add_argument("--unique", type=int, default=2_000)
    parser.add_argument("--naive-sample", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sessions", type=int, default=30, help="typing sessions for the search figures")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.update(AWS_DEFAULT_REGION="eu-west-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")  # noqa: S106

    workdir = Path(tempfile.mkdtemp(prefix="kvkgate-artifact-"))
    try:
        artifact = build_artifact(workdir / "artifact")
        cold_rows, ratio = cold_imports(artifact, args.rounds)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(workdir)], check=False)
        shutil.rmtree(workdir, ignore_errors=True)
    print("Cold import on the built artifact (x86_64 build of the same recipe, .pyc compiled, read-only):")
    print(table(["command", "runs", "median ms", "min ms", "÷ baseline"], cold_rows))
    print()
    warm = warm_latencies(args.samples)
    print("Warm invocations of the API handler (moto in-process, sandbox KVK):")
    print(table(["lookup", "invocations", "median ms", "p95 ms"], warm))
    print()
    cost_rows, cost = paid_calls(workload(args.validations, args.unique, args.seed), args.naive_sample)
    workload_text = f"{args.validations} validations over {args.unique} numbers (Zipf s=1.1, 30 % named, half wrongly)"
    print(f"KVK calls for {workload_text}:")
    print(table(["client", "validations", "free Zoeken calls", "paid calls", "paid calls / validation"], cost_rows))
    print()
    search_rows, search = search_figures(typing_sessions(args.sessions, args.seed), args.samples)
    print(
        f"KVK calls per typing session ({args.sessions} names typed one key at a time, {KEY_GAP * 1000:.0f} ms apart):"
    )
    print(table(["client", "sessions", "max calls", "mean calls", '"bakkerij de hoek"'], search_rows))
    print("Suggestion latency (ms):", json.dumps(search["suggestion_ms"]))
    print()
    print(
        "RESULT "
        + json.dumps(
            {
                "cold_import_ratio": round(ratio, 3),
                **cost,
                "warm_ms": {row[0]: float(str(row[2])) for row in warm},
                **search,
            }
        )
    )


if __name__ == "__main__":
    main()

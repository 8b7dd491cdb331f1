"""Benchmark: one day of abuse against the whole stack (make bench-abuse).

A simulated day on a fake clock (moto in-process for AWS, the sandbox as KVK in its own process,
each function in its own environment from template.yaml): an attacker sprays random KVK numbers
and mismatching names at every route, anonymously, from 1,000 IPv4 addresses and from 100,000
IPv6 addresses inside one /64, while 1,000 genuine sign-ups go through the pre-sign-up trigger.
Requests reach the functions through the API Gateway emulator, which applies the template's
access rules.

The same day runs twice: with kvkgate's protections as deployed, and as a baseline with them off
(no daily caller budget, no anonymous paid cap, no reserve for the sign-up gate, paid routes
open) - what main had before. Once the baseline's quota is spent its remaining attack requests
are not replayed (each would only be refused; the sign-ups still are).

The monthly quota is scaled down (``--quota``, default 5,000, and the callers' daily budget with
it) so that one day of attack can exhaust the API's share, which at KVK's 300,000 would take the
same attack about 60 days; the shares are the template's defaults.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bench.common import quiet_offline_aws, table

DAY = 86_400.0
START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()  # a month's first day: the budget starts empty
V6_NETWORK = "2001:db8:5ca1:ab1e"


@dataclass
class DayClock:
    """Fake time: moves when the day's schedule moves it, or when something sleeps (the limiter)."""

    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return START + self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def reach(self, moment: float) -> None:
        self.now = max(self.now, moment)


@dataclass
class Counts:
    kvk_calls: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    rechecks: int = 0
    signups: int = 0
    refused: int = 0
    allowed: int = 0
    errors: int = 0

    def observe(self, api: Any, outcome: str) -> None:
        self.kvk_calls[api.value] += 1

    @property
    def paid(self) -> int:
        return sum(count for api, count in self.kvk_calls.items() if api != "zoeken")


class RecheckCounter:
    """The trigger's publisher: every re-check it asks for is a sign-up let through unverified."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        self.counts.rechecks += 1


def schedule(
    args: argparse.Namespace, rng: random.Random, companies: list[dict[str, Any]]
) -> list[tuple[float, str, Any]]:
    """Everything that happens in the day, in time order: (second, who, what)."""
    events: list[tuple[float, str, Any]] = []
    for host in range(args.ipv4):
        address = f"203.0.{host // 250}.{host % 250 + 1}"
        for _ in range(args.ipv4_requests):
            events.append((rng.uniform(0, DAY), "attack", (address, attack(rng, companies))))
    for _ in range(args.ipv6):
        address = V6_NETWORK + "".join(f":{rng.getrandbits(16):x}" for _ in range(4))
        events.append((rng.uniform(0, DAY), "attack", (address, attack(rng, companies))))
    genuine = rng.sample(companies, args.signups)
    for record in genuine:
        events.append((rng.uniform(0, DAY), "signup", record))
    events.sort(key=lambda event: event[0])
    return events


ANONYMOUS_ROUTES = {"POST /v1/validations": "POST /v1/validations", "GET /v1/companies": "GET /v1/companies?q="}


def attack(rng: random.Random, companies: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any] | None]:
    """One anonymous request: random numbers, or real ones with a look-alike name KVK's search cannot settle."""
    number = f"{rng.randrange(10**8):08d}"
    real = rng.choice(companies)["kvkNummer"]
    lookalike = f"Gebr. {rng.choice(['Jansen', 'de Vries', 'Bakker', 'Visser', 'Smit', 'Mulder'])} & Zn"
    roll = rng.random()
    if roll < 0.25:
        return "POST", "/v1/validations", {"kvkNumber": number}
    if roll < 0.5:
        return "POST", "/v1/validations", {"kvkNumber": real, "tradeName": lookalike}
    if roll < 0.65:  # the company search with a new finished word each time: no two share a cache entry
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7))
        return "GET", "/v1/companies?" + urlencode({"q": f"bakkerij {word} "}), None
    if roll < 0.82:
        return "GET", f"/v1/companies/{number}", None
    return "POST", "/v1/trade-names/check", {"kvkNumber": real, "tradeName": lookalike}


@contextlib.contextmanager
def sandbox_process() -> Iterator[str]:
    """The KVK sandbox in its own process (in a thread it would share this one's GIL with moto)."""
    import httpx

    from local.ports import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "local.sandbox", "--port", str(port), "--rate-limit", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/__sandbox/health").is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def run_day(args: argparse.Namespace, protected: bool) -> dict[str, Any]:
    from moto import mock_aws

    from kvkgate import root
    from kvkgate.app.presignup import SignUpRefused
    from kvkgate.aws.limits import Budget, GlobalRateLimiter
    from kvkgate.config import load_settings
    from local.apigw import HttpApi, RouteAccess
    from local.aws_resources import create_stack
    from local.lambda_runtime import LambdaContext, function_environment, functions, load_handler
    from local.sandbox.app import PUBLIC_TEST_KEY
    from local.sandbox.server import registry

    rng = random.Random(args.seed)
    companies = [record for record in registry().companies.values() if record.get("evidence") == "generated"]
    day = schedule(args, rng, companies)
    parameters = {
        "KvkMonthlyQuota": str(args.quota),
        "CallerLookupsPerDay": str(args.caller_per_day if protected else 0),
        "SignupGateQuotaShare": "0.3" if protected else "0",
        "PublicPaidRoutes": "false" if protected else "true",
        "AnonymousPaidCallsPerDay": "200" if protected else str(10**9),
        "AnonymousPaidCallsPerCallerPerDay": "3" if protected else str(10**9),
    }
    api_counts, gate_counts = Counts(), Counts()
    clock = DayClock()
    with mock_aws(), sandbox_process() as sandbox:
        stack = create_stack(parameters, secret_values={"KvkApiKeySecret": PUBLIC_TEST_KEY}, prefix="abuse")
        specs = functions()

        def environment(logical_id: str, counts: Counts, **overrides: Any) -> Any:
            variables = function_environment(specs[logical_id], stack, {"KVK_BASE_URL": sandbox + "/test/api"})
            if not protected and logical_id == "ApiFunction":
                variables["PUBLIC_PAID_ROUTES"] = "true"
            return root.Environment(
                load_settings(variables), root.Overrides(clock=clock, observe=counts.observe, **overrides)
            )

        api_env = environment("ApiFunction", api_counts)
        gate_env = environment("PreSignUpFunction", gate_counts, publisher=RecheckCounter(gate_counts))
        gateway = HttpApi(specs.values(), RouteAccess.from_template(parameters))
        presignup = load_handler(specs["PreSignUpFunction"])
        limiter = GlobalRateLimiter(api_env.dynamodb, api_env.table, 1, Budget(args.quota), clock=clock)
        started = time.perf_counter()
        spent, skipped = False, 0
        for index, (moment, who, what) in enumerate(day):
            clock.reach(moment)
            if not protected and index % 200 == 0:
                spent = limiter.usage().calls >= args.quota
            if who == "attack" and spent:
                skipped += 1  # the quota is gone: every further attack request is refused and changes nothing
                continue
            if who == "attack":
                address, (method, target, body) = what
                path, _, query = target.partition("?")
                payload = json.dumps(body).encode() if body is not None else b""
                with root.hosting(api_env):
                    status, _, content = gateway.handle(
                        method, path, payload, {"content-type": "application/json"}, query, address
                    )
                route = ANONYMOUS_ROUTES.get(f"{method} {path}", "paid " + method)
                api_counts.statuses[route][status] += 1
                if status == 200 and path == "/v1/validations":
                    result = json.loads(content)
                    api_counts.codes.update(reason["code"] for reason in result["reasons"])
                elif status >= 400 and content:
                    api_counts.codes[json.loads(content).get("code", str(status))] += 1
            else:
                gate_counts.signups += 1
                event = cognito(what, gate_counts.signups)
                try:
                    with root.hosting(gate_env):
                        presignup(event, LambdaContext(specs["PreSignUpFunction"]))
                    gate_counts.allowed += 1
                except SignUpRefused as refused:
                    gate_counts.refused += 1
                    gate_counts.errors += refused.code == "INTERNAL_ERROR"
        elapsed = time.perf_counter() - started
        usage = limiter.usage()  # the one counter all functions share
    gateway_paid: collections.Counter[int] = collections.Counter()
    for route, statuses in api_counts.statuses.items():
        if route.startswith("paid"):
            gateway_paid.update(statuses)
    gate_decided = gate_counts.signups - gate_counts.rechecks - gate_counts.errors
    return {
        "protections": "on" if protected else "off (baseline)",
        "anonymous_requests": sum(sum(statuses.values()) for statuses in api_counts.statuses.values()),
        "attack_requests_not_replayed": skipped,
        "anonymous_kvk_calls": sum(api_counts.kvk_calls.values()),
        "anonymous_paid_calls": api_counts.paid,
        "anonymous_paid_cap": int(parameters["AnonymousPaidCallsPerDay"]),
        "paid_routes_anonymous_status": sorted(gateway_paid),
        "validation_statuses": dict(api_counts.statuses["POST /v1/validations"]),
        "search_statuses": dict(api_counts.statuses["GET /v1/companies?q="]),
        "refusal_codes": dict(api_counts.codes.most_common(8)),
        "gate_signups": gate_counts.signups,
        "gate_decided_by_kvk": gate_decided,
        "gate_fail_open": gate_counts.rechecks,
        "gate_kvk_calls": sum(gate_counts.kvk_calls.values()),
        "quota": args.quota,
        "quota_used": usage.calls,
        "gate_reserve_left": args.quota - usage.calls,
        "seconds": round(elapsed, 1),
    }


def cognito(record: dict[str, Any], serial: int) -> dict[str, Any]:
    names = record.get("handelsnamen") or [record["naam"]]
    return {
        "version": "1",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_bench",
        "userName": f"genuine-{serial}",
        "callerContext": {"awsSdkVersion": "bench", "clientId": "signup-app"},
        "triggerSource": "PreSignUp_SignUp",
        "request": {
            "userAttributes": {"email": f"owner{serial}@example.nl"},
            "validationData": {"custom:kvk_number": record["kvkNummer"], "custom:company_name": names[0]},
        },
        "response": {"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipv4", type=int, default=1_000, help="attacking IPv4 addresses")
    parser.add_argument("--ipv4-requests", type=int, default=8, help="requests from each IPv4 address")
    parser.add_argument("--ipv6", type=int, default=100_000, help="attacking IPv6 addresses, one request each, one /64")
    parser.add_argument("--signups", type=int, default=1_000)
    parser.add_argument("--quota", type=int, default=5_000, help="KvkMonthlyQuota for the day")
    parser.add_argument("--caller-per-day", type=int, default=5, help="CallerLookupsPerDay (scaled with the quota)")
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    quiet_offline_aws()

    runs = [run_day(args, protected=True)]
    if not args.no_baseline:
        runs.append(run_day(args, protected=False))
    keys = [key for key in runs[0] if key != "protections"]
    print(
        f"One simulated day: {args.ipv4} IPv4 x {args.ipv4_requests} + {args.ipv6} IPv6 (one /64) anonymous requests,"
    )
    print(f"{args.signups} genuine sign-ups; KvkMonthlyQuota {args.quota}, CallerLookupsPerDay {args.caller_per_day}.")
    print(table(["", *[run["protections"] for run in runs]], [[key, *[run[key] for run in runs]] for key in keys]))
    print()
    print("RESULT " + json.dumps({**runs[0], "baseline": runs[1] if len(runs) > 1 else None}))


if __name__ == "__main__":
    main()

"""Benchmark: the sign-up gate at its real door (make bench-gate).

Three phases, each on fresh moto resources created from template.yaml (in-process), the KVK sandbox
in its own process, every function in its own environment from template.yaml (its own deadlines,
budget pool, rate schedule, paid-call policy), on a fake clock. Each phase runs twice in the same
run: as deployed, and as a baseline that reproduces the behaviour before issue #19 by configuration
(the trigger may pay for names and has no paid allowance, no rate share of its own, a failed secret
read is remembered for 300 s, and nobody sweeps for undecided users).

(a) made-up names: 1,000 sign-up attempts, each a real KVK number (200 of them) with a made-up name
    KVK's free search cannot rule out (``Zqx<i> & Co``); the worker then handles what the trigger
    queued. Paid calls are counted in the trigger (``sync``) and in all (``total``).
(b) flood: anonymous validations of random numbers at 3x the API's share of KVK's rate, from
    10,000 addresses, while 200 genuine sign-ups (real number, real name) arrive. The clock does not
    move while a call waits for its slot: every request is in flight at once, as on Lambda, so the
    schedule fills up to its queue bound the way concurrent callers fill it.
(c) outage: DynamoDB, Secrets Manager, EventBridge and SQS unreachable for 60 s while 200 genuine
    sign-ups arrive (Cognito itself up: the users are created), then recovered: 20 more sign-ups
    in the next 30 s, the sweep 10 minutes later, and the worker on whatever was queued.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.abuse import sandbox_process
from bench.common import quiet_offline_aws, table

SIGNUP_SOURCE = "app.signup"


@dataclass
class Clock:
    """Fake time from a real starting point (moto stamps users with real time). ``sleep`` moves it
    unless ``frozen``: then every caller waiting for a slot is in flight at once."""

    start: float = field(default_factory=time.time)
    now: float = 0.0
    frozen: bool = False

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.start + self.now

    def sleep(self, seconds: float) -> None:
        if not self.frozen:
            self.now += max(seconds, 0.0)

    def reach(self, moment: float) -> None:
        self.now = max(self.now, moment)


@dataclass
class Counts:
    kvk_calls: collections.Counter[str] = field(default_factory=collections.Counter)
    metrics: collections.Counter[str] = field(default_factory=collections.Counter)

    def observe(self, api: Any, outcome: str) -> None:
        self.kvk_calls[api.value] += 1

    @property
    def paid(self) -> int:
        return sum(count for api, count in self.kvk_calls.items() if api != "zoeken")


class AwsOutage:
    """Makes every AWS call of the functions fail as if the endpoint did not answer (Cognito excepted)."""

    SERVICES = ("dynamodb", "secretsmanager", "events", "sqs")

    def __init__(self) -> None:
        self.on = False

    def install(self) -> None:
        import boto3

        from kvkgate.aws.clients import client

        client.cache_clear()  # the functions' clients are made anew, from a session that knows the outage
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        for service in self.SERVICES:
            boto3.DEFAULT_SESSION.events.register(f"before-call.{service}", self._refuse)

    def _refuse(self, **_: Any) -> None:
        if self.on:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://unreachable.amazonaws.com")


@dataclass
class Stack:
    """The template's resources in moto and each function's own environment."""

    resources: Any
    sandbox: str
    clock: Clock
    counts: dict[str, Counts] = field(default_factory=lambda: collections.defaultdict(Counts))
    pool: str = ""

    def environment(self, logical_id: str, **variables: str) -> Any:
        from kvkgate import root
        from kvkgate.config import load_settings
        from local.lambda_runtime import function_environment, functions

        values = function_environment(
            functions()[logical_id], self.resources, {"KVK_BASE_URL": self.sandbox + "/test/api"}
        )
        values.update(variables)
        overrides = root.Overrides(clock=self.clock, observe=self.counts[logical_id].observe)
        if values.pop("BASELINE_SECRET_MEMORY", None):
            from kvkgate.kvk.keys import SecretsManagerApiKey

            env = root.Environment(load_settings(values), overrides)
            source = SecretsManagerApiKey(
                values["KVK_API_KEY_SECRET_ID"],
                clock=self.clock,
                aws_client=lambda: env.aws_client("secretsmanager"),
                transient_retry=(300.0, 300.0),  # before #19: any failed read stood for 5 minutes
            )
            overrides = root.Overrides(clock=self.clock, observe=self.counts[logical_id].observe, api_key=source)
        return root.Environment(load_settings(values), overrides)

    def invoke(self, logical_id: str, environment: Any, event: Any) -> Any:
        from kvkgate import root
        from local.lambda_runtime import LambdaContext, functions, load_handler

        spec = functions()[logical_id]
        # Powertools prints its metric lines at every flush, disabled or not: not this bench's output.
        with root.hosting(environment), contextlib.redirect_stdout(io.StringIO()):
            return load_handler(spec)(event, LambdaContext(spec))


@contextlib.contextmanager
def counting_metrics(into: collections.Counter[str]) -> Iterator[None]:
    """What the code counts (SignUpFailOpen, SignUpRecheckNotQueued, ...), whatever Powertools does."""
    from kvkgate import telemetry

    real = telemetry.count

    def count(name: str, value: float = 1.0) -> None:
        into[name] += int(value)

    telemetry.count = count
    try:
        yield
    finally:
        telemetry.count = real


@contextlib.contextmanager
def stack(sandbox: str, clock: Clock, parameters: dict[str, str] | None = None) -> Iterator[Stack]:
    import boto3
    from moto import mock_aws

    from local.aws_resources import create_stack, load_template
    from local.sandbox.app import PUBLIC_TEST_KEY

    with mock_aws():
        cognito = boto3.client("cognito-idp")
        schema = load_template()["Resources"]["DemoUserPool"]["Properties"]["Schema"]
        pool = cognito.create_user_pool(PoolName="bench", Schema=schema)["UserPool"]["Id"]
        resources = create_stack(
            {"UserPoolId": pool, **(parameters or {})}, {"KvkApiKeySecret": PUBLIC_TEST_KEY}, prefix="gate"
        )
        yield Stack(resources, sandbox, clock, pool=pool)


def companies(count: int, seed: int) -> list[dict[str, Any]]:
    from local.sandbox.server import registry

    found = [
        record
        for record in registry().companies.values()
        if record.get("evidence") == "generated" and not record.get("datumEinde") and record.get("handelsnamen")
    ]
    return random.Random(seed).sample(found, count)


def sign_up(serial: int, number: str, name: str, pool: str) -> dict[str, Any]:
    return {
        "version": "1",
        "region": "eu-west-1",
        "userPoolId": pool,
        "userName": f"user-{serial}",
        "callerContext": {"awsSdkVersion": "bench", "clientId": "signup-app"},
        "triggerSource": "PreSignUp_SignUp",
        "request": {
            "userAttributes": {
                "email": f"owner{serial}@example.nl",
                "custom:kvk_number": number,
                "custom:company_name": name,
            },
            "validationData": None,
            "clientMetadata": {"language": "en"},
        },
        "response": {"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False},
    }


def attempt(run: Stack, environment: Any, event: dict[str, Any]) -> str:
    """allowed / refused / error, as Cognito would see the trigger's answer."""
    from kvkgate.app.presignup import SignUpRefused

    try:
        run.invoke("PreSignUpFunction", environment, event)
    except SignUpRefused as refused:
        return "error" if refused.code == "INTERNAL_ERROR" else "refused"
    return "allowed"


def drain_queue(run: Stack) -> list[dict[str, Any]]:
    import boto3

    from local.lambda_runtime import sqs_records

    sqs = boto3.client("sqs")
    queue = run.resources.ref("OnboardingQueue")
    records: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        records += sqs_records(batch)
        sqs.delete_message_batch(
            QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return records


def work_through(run: Stack, environment: Any, records: list[dict[str, Any]]) -> int:
    failed = 0
    for start in range(0, len(records), 10):
        response = run.invoke("OnboardingFunction", environment, {"Records": records[start : start + 10]})
        failed += len(response["batchItemFailures"])
    return failed


# -- the phases --------------------------------------------------------------------------------------


def made_up_names(args: argparse.Namespace, sandbox: str, baseline: bool) -> dict[str, Any]:
    numbers = [record["kvkNummer"] for record in companies(args.numbers, args.seed)]
    metrics: collections.Counter[str] = collections.Counter()
    trigger_variables = {"PAID_NAME_CHECK": "ask", "GATE_PAID_CALLS_PER_DAY": ""} if baseline else {}
    parameters = {"GatePaidNameChecksPerDay": str(args.allowance)}
    with stack(sandbox, Clock(), parameters) as run, counting_metrics(metrics):
        trigger = run.environment("PreSignUpFunction", **trigger_variables)
        outcomes = collections.Counter(
            attempt(run, trigger, sign_up(serial, numbers[serial % len(numbers)], f"Zqx{serial} & Co", run.pool))
            for serial in range(args.attempts)
        )
        queued = drain_queue(run)
        worker = run.environment("OnboardingFunction", USER_POOL_ID="")
        failed = work_through(run, worker, queued)
        sync, later = run.counts["PreSignUpFunction"].paid, run.counts["OnboardingFunction"].paid
    return {
        "attempts": args.attempts,
        "numbers": len(numbers),
        "outcomes": dict(outcomes),
        "gate_paid_calls_sync": sync,
        "gate_free_calls_sync": run.counts["PreSignUpFunction"].kvk_calls["zoeken"],
        "gate_paid_calls_total": sync + later,
        "gate_paid_allowance": None if baseline else args.allowance,
        "name_checks_queued": len(queued),
        "worker_failures": failed,
        "allowance_reached": metrics["GatePaidAllowanceReached"] > 0,
    }


def flood(args: argparse.Namespace, sandbox: str, baseline: bool) -> dict[str, Any]:
    from kvkgate.aws.limits import rate_shares
    from local.apigw import HttpApi, RouteAccess
    from local.lambda_runtime import functions

    rng = random.Random(args.seed)
    genuine = companies(args.signups, args.seed + 1)
    share = "0" if baseline else "0.2"
    api_rate, _ = rate_shares(90, float(share))
    duration = args.signups / args.signup_rate
    events: list[tuple[float, str, Any]] = [
        (index / args.signup_rate + rng.uniform(0, 0.2), "signup", record) for index, record in enumerate(genuine)
    ]
    flood_requests = int(3 * api_rate * duration)
    events += [(rng.uniform(0, duration), "flood", None) for _ in range(flood_requests)]
    events.sort(key=lambda event: event[0])
    metrics: collections.Counter[str] = collections.Counter()
    clock = Clock(frozen=True)
    outcomes: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[str] = collections.Counter()
    with stack(sandbox, clock, {"SignupGateRateShare": share}) as run, counting_metrics(metrics):
        trigger, api = run.environment("PreSignUpFunction"), run.environment("ApiFunction")
        gateway = HttpApi(functions().values(), RouteAccess.from_template())
        from kvkgate import root

        for serial, (moment, who, record) in enumerate(events):
            clock.reach(moment)
            if who == "signup":
                event = sign_up(serial, record["kvkNummer"], record["handelsnamen"][0], run.pool)
                outcomes[attempt(run, trigger, event)] += 1
                continue
            body = json.dumps({"kvkNumber": f"{rng.randrange(10**8):08d}"}).encode()
            address = f"203.{rng.randrange(40)}.{rng.randrange(250)}.{rng.randrange(1, 250)}"
            with root.hosting(api), contextlib.redirect_stdout(io.StringIO()):
                status, _, content = gateway.handle(
                    "POST", "/v1/validations", body, {"content-type": "application/json"}, "", address
                )
            verdict = json.loads(content).get("verdict") if status == 200 else None
            statuses[f"{status} {verdict}" if verdict else str(status)] += 1
    fail_open = metrics["SignUpFailOpen"]
    return {
        "signups": args.signups,
        "seconds": round(duration, 1),
        "api_share_per_second": api_rate,
        "flood_requests": flood_requests,
        "flood_answers": dict(statuses.most_common()),
        "flood_kvk_calls": sum(run.counts["ApiFunction"].kvk_calls.values()),
        "outcomes": dict(outcomes),
        "flood_gate_fail_open": fail_open,
        "flood_gate_decided_by_kvk": args.signups - fail_open - outcomes["error"],
    }


def outage(args: argparse.Namespace, sandbox: str, baseline: bool) -> dict[str, Any]:
    import boto3

    genuine = companies(args.signups + 20, args.seed + 2)
    metrics: collections.Counter[str] = collections.Counter()
    clock = Clock()
    aws = AwsOutage()
    trigger_variables = {"BASELINE_SECRET_MEMORY": "1"} if baseline else {}
    with stack(sandbox, clock) as run, counting_metrics(metrics):
        aws.install()
        cognito = boto3.client("cognito-idp")
        trigger = run.environment("PreSignUpFunction", **trigger_variables)

        def sign_ups(records: list[dict[str, Any]], first: int, start: float, seconds: float) -> Callable[[], int]:
            admitted_before = metrics["SignUpFailOpen"]
            for index, record in enumerate(records):
                clock.reach(start + seconds * index / len(records))
                event = sign_up(first + index, record["kvkNummer"], record["handelsnamen"][0], run.pool)
                if attempt(run, trigger, event) == "allowed":
                    attributes = [{"Name": n, "Value": v} for n, v in event["request"]["userAttributes"].items()]
                    cognito.admin_create_user(
                        UserPoolId=run.pool, Username=event["userName"], UserAttributes=attributes
                    )
            return lambda: metrics["SignUpFailOpen"] - admitted_before

        aws.on = True
        admitted = sign_ups(genuine[: args.signups], 0, 0.0, 60.0)()
        aws.on = False
        queued_at_sign_up = len(drain_queue(run))  # what the outage's sign-ups managed to queue
        after = sign_ups(genuine[args.signups :], args.signups, 61.0, 30.0)()
        if not baseline:
            clock.reach(61.0 + 600)  # the next sweep after recovery
            sweeper = run.environment("UndecidedSweepFunction")
            report = run.invoke("UndecidedSweepFunction", sweeper, {"source": "aws.events"})
            worker = run.environment("OnboardingFunction")
            work_through(run, worker, drain_queue(run))
            undecided = sum(not _decided(user) for user in _users(cognito, run.pool))
        else:
            report = {}
            undecided = admitted - queued_at_sign_up  # before #19 nothing else asked again for these
    return {
        "signups_during_outage": args.signups,
        "outage_admitted": admitted,
        "rechecks_queued_at_sign_up": queued_at_sign_up,
        "after_recovery_admitted_undecided": after,
        "sweep": report,
        "outage_admitted_undecided_after_recovery": undecided,
    }


def _users(cognito: Any, pool: str) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = cognito.list_users(UserPoolId=pool, **({"PaginationToken": token} if token else {}))
        yield from page["Users"]
        token = page.get("PaginationToken")
        if not token:
            return


def _decided(user: dict[str, Any]) -> bool:
    return any(item["Name"] == "custom:kvk_decision" for item in user.get("Attributes", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=1_000, help="(a) sign-up attempts with made-up names")
    parser.add_argument("--numbers", type=int, default=200, help="(a) the real numbers they use")
    parser.add_argument("--allowance", type=int, default=50, help="GatePaidNameChecksPerDay (the template's default)")
    parser.add_argument("--signups", type=int, default=200, help="(b), (c) genuine sign-ups")
    parser.add_argument("--signup-rate", type=float, default=5.0, help="(b) genuine sign-ups a second")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--phases", default="abc")
    args = parser.parse_args()
    quiet_offline_aws()
    phases = {"a": made_up_names, "b": flood, "c": outage}
    started = time.perf_counter()
    now: dict[str, Any] = {}
    before: dict[str, Any] = {}
    with sandbox_process() as sandbox:
        for key in args.phases:
            now[key] = phases[key](args, sandbox, baseline=False)
            before[key] = phases[key](args, sandbox, baseline=True)
    for key in args.phases:
        rows = [[name, json.dumps(now[key][name]), json.dumps(before[key].get(name))] for name in now[key]]
        print(f"\n({key}) {phases[key].__name__.replace('_', ' ')}")
        print(table(["", "as deployed", "baseline (before #19)"], rows))
    keys = {
        "a": ["gate_paid_calls_sync", "gate_paid_calls_total", "gate_paid_allowance"],
        "b": ["flood_gate_fail_open", "flood_gate_decided_by_kvk"],
        "c": ["outage_admitted", "outage_admitted_undecided_after_recovery"],
    }
    result = {name: now[key][name] for key in args.phases for name in keys[key]}
    result["baseline"] = {name: before[key][name] for key in args.phases for name in keys[key]}
    result["seconds"] = round(time.perf_counter() - started, 1)
    print("\nRESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

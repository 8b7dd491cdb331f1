"""Benchmark: onboarding under KVK's rate limit and injected failures (make bench-onboarding).

5,000 CustomerSignedUp events (5,000 customers, 1,000 unique KVK numbers) are put on the bus
created from template.yaml; its rule routes them to the onboarding queue (with the template's
dead-letter redrive). Worker processes poll the queue and run the real onboarding handler, the
way Lambda's SQS event source would: batches of 10, partial batch failures, failed messages back
on the queue. KVK is the sandbox at 100 requests/s with 10 % of calls answered 500; AWS is a
moto server. Results are read from the bus by a subscriber queue.

Lambda would make a failed message visible again after the queue's visibility timeout (180 s);
the benchmark sets 2 s on each failed message so retries happen within the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import httpx

from bench.common import aws_environment, fresh_table, moto_server, table
from local.aws_resources import create_messaging
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer, registry

RETRY_AFTER_SECONDS = 2


def worker(index: int, environment: dict[str, str], queue_url: str, stop: Any, counts: Any) -> None:
    import os

    os.environ.update(environment)
    from local.lambda_runtime import LambdaContext, functions, load_handler

    spec = functions()["OnboardingFunction"]
    handler = load_handler(spec)
    sqs = boto3.client("sqs")
    while not stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            continue
        records = [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:onboarding",
                "awsRegion": "eu-west-1",
            }
            for message in messages
        ]
        response = handler({"Records": records}, LambdaContext(spec))
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=RETRY_AFTER_SECONDS
                )
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        with counts.get_lock():
            counts.value += len(messages)


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--unique", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="like the event source's MaximumConcurrency")
    parser.add_argument("--error-rate", type=float, default=0.10)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--max-receives", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pool = [number for number, record in registry().companies.items() if record.get("evidence") == "generated"]
    numbers = rng.sample(pool, args.unique)
    signups = [
        {"customerId": f"c-{index:05d}", "kvkNumber": numbers[index % args.unique]} for index in range(args.messages)
    ]
    rng.shuffle(signups)

    with moto_server() as endpoint, SandboxServer(Behaviour(rate_limit=100, error_rate=args.error_rate)) as sandbox:
        aws_environment(endpoint)
        boto3.setup_default_session()
        sqs, events = boto3.client("sqs"), boto3.client("events")
        table_name = fresh_table()
        resources = create_messaging(
            sqs, events, {"MaxReceiveCount": str(args.max_receives)}, prefix=f"bench-{uuid.uuid4().hex[:6]}"
        )
        bus = resources["KvkgateBus"]["Ref"]
        queue_url = resources["OnboardingQueue"]["QueueUrl"]
        results_url = sqs.create_queue(QueueName=f"results-{uuid.uuid4().hex[:6]}")["QueueUrl"]
        results_arn = sqs.get_queue_attributes(QueueUrl=results_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="bench-results", EventBusName=bus, EventPattern=json.dumps({"source": ["kvkgate"]}))
        events.put_targets(Rule="bench-results", EventBusName=bus, Targets=[{"Id": "results", "Arn": results_arn}])
        secret = boto3.client("secretsmanager").create_secret(
            Name=f"kvk-{uuid.uuid4().hex[:6]}", SecretString=PUBLIC_TEST_KEY
        )["ARN"]
        environment = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "KVK_BASE_URL": sandbox.test_url,
            "KVK_API_KEY_SECRET_ID": secret,
            "TABLE_NAME": table_name,
            "EVENT_BUS_NAME": bus,
            "MAX_RECEIVE_COUNT": str(args.max_receives),
            "KVK_RATE_LIMIT_PER_SECOND": str(args.rate),
            "AWS_LAMBDA_FUNCTION_NAME": "onboarding-bench",
        }
        httpx.post(sandbox.url + "/__sandbox/reset")
        began = time.time()
        for start in range(0, len(signups), 10):
            entries = [
                {
                    "EventBusName": bus,
                    "Source": "app.signup",
                    "DetailType": "CustomerSignedUp",
                    "Detail": json.dumps(signup),
                }
                for signup in signups[start : start + 10]
            ]
            assert events.put_events(Entries=entries)["FailedEntryCount"] == 0  # type: ignore[arg-type]
        context = multiprocessing.get_context("spawn")
        stop, counts = context.Event(), context.Value("i", 0)
        processes = [
            context.Process(target=worker, args=(index, environment, queue_url, stop, counts))
            for index in range(args.workers)
        ]
        for process in processes:
            process.start()
        results: list[dict[str, Any]] = []
        finished: set[str] = set()
        while time.time() - began < args.timeout:
            time.sleep(2)
            results.extend(drain(sqs, results_url))
            finished = {result["detail"]["customerId"] for result in results}
            if len(finished) >= len(signups):
                break
        total = time.time() - began
        stop.set()
        for process in processes:
            process.join(timeout=30)
        results.extend(drain(sqs, results_url))
        stats = httpx.get(sandbox.url + "/__sandbox/stats").json()
        dead = int(
            sqs.get_queue_attributes(
                QueueUrl=resources["OnboardingDeadLetterQueue"]["QueueUrl"],
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]["ApproximateNumberOfMessages"]
        )

    per_customer = Counter(result["detail"]["customerId"] for result in results)
    kinds = Counter(result["detail-type"] for result in results)
    completed = {
        result["detail"]["customerId"] for result in results if result["detail-type"] == "KvkVerificationCompleted"
    }
    failed = {result["detail"]["customerId"] for result in results if result["detail-type"] == "KvkVerificationFailed"}
    lost = len({signup["customerId"] for signup in signups} - completed - failed)
    duplicates = sum(count - 1 for count in per_customer.values() if count > 1)
    figures = {
        "messages": len(signups),
        "unique": args.unique,
        "workers": args.workers,
        "completed": len(completed),
        "failed_published": len(failed),
        "dead_lettered": dead,
        "lost": lost,
        "duplicates": duplicates,
        "deliveries": counts.value,
        "kvk_calls": stats["served"],
        "kvk_429": stats["rateLimited"],
        "kvk_injected_500": stats["injectedErrors"],
        "max_kvk_calls_per_second": stats["maxCallsInAnySecond"],
        "total_s": round(total, 1),
        "ideal_s": round(args.unique / args.rate, 1),
        "verdicts": dict(Counter(result["detail"]["verdict"] for result in results)),
        "events": dict(kinds),
    }
    headers = [
        "messages",
        "unique",
        "completed",
        "failed (published)",
        "lost",
        "duplicates",
        "deliveries",
        "KVK calls",
        "KVK 500s injected",
        "KVK 429s",
        "max calls in any 1 s",
        "total s",
        "ideal s",
    ]
    row = [
        figures[key]
        for key in (
            "messages",
            "unique",
            "completed",
            "failed_published",
            "lost",
            "duplicates",
            "deliveries",
            "kvk_calls",
            "kvk_injected_500",
            "kvk_429",
            "max_kvk_calls_per_second",
            "total_s",
            "ideal_s",
        )
    ]
    print(table(headers, [row]))
    print()
    print("RESULT " + json.dumps(figures))


if __name__ == "__main__":
    main()

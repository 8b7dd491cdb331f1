"""Benchmark: onboarding under KVK's rate limit and injected failures (make bench-onboarding).

5,000 CustomerSignedUp events (5,000 customers, 1,000 unique KVK numbers) go through the real
onboarding handler in worker processes (like Lambda execution environments, at most
``--workers`` at a time as the event source's MaximumConcurrency): batches of 10, partial batch
failures, failed messages back on the queue, dead-lettered after the template's MaxReceiveCount.
KVK is the sandbox at 100 requests/s with 10 % of calls answered 500; DynamoDB (cache, limiter,
idempotency) and Secrets Manager are a moto server.

At-least-once delivery is exercised, not assumed: 5 % of the events are sent twice (EventBridge
may deliver an event twice: same event id), 5 % of receives see their visibility expire while the
first worker is still verifying (a second worker receives the same message in flight), and 5 % of
publishes are refused (EventBridge's FailedEntryCount: the message must come back and publish
later). The result must still be exactly one result event per customer: 0 lost, 0 duplicated.

Two parts of AWS are stood in for, because moto's SQS scans every message on each receive and
stalls at thousands of messages: the queue is an in-memory SQS with the same semantics
(visibility timeout, receive counts, redrive to a dead-letter list, at-least-once: a message can
be received again while in flight), served to the workers by a manager process; and the results
are counted by a publisher in place of EventBridge. The bus -> rule -> queue wiring itself is
covered by the end-to-end test. A failed message becomes visible again after 2 s, not the
queue's 180 s, so retries happen within the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.managers import BaseManager
from typing import Any

import boto3
import httpx

from bench.common import table
from local.aws_resources import create_stack
from local.lambda_runtime import function_environment, functions
from local.moto_server import client_environment, moto_process
from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour
from local.sandbox.server import SandboxServer, registry

RETRY_AFTER_SECONDS = 2.0
VISIBILITY_SECONDS = 30.0
EXPIRED_VISIBILITY_SECONDS = 0.05  # visible again while the first worker still holds it


@dataclass
class _Message:
    message_id: str
    body: str
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str = ""


@dataclass
class Queue:
    """SQS semantics the event source relies on, in memory."""

    max_receives: int
    messages: dict[str, _Message] = field(default_factory=dict)
    dead: list[str] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    expire_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    counts: Counter[str] = field(default_factory=Counter)

    def send(self, body: str) -> None:
        with self.lock:
            message_id = str(uuid.uuid4())
            self.messages[message_id] = _Message(message_id, body)

    def receive(self, limit: int) -> list[dict[str, Any]]:
        now = time.monotonic()
        batch: list[dict[str, Any]] = []
        with self.lock:
            for message in list(self.messages.values()):
                if len(batch) == limit:
                    break
                if message.visible_at > now:
                    continue
                if message.receive_count >= self.max_receives:  # redrive, as SQS does on the next receive
                    self.dead.append(message.body)
                    del self.messages[message.message_id]
                    continue
                message.receive_count += 1
                message.visible_at = now + VISIBILITY_SECONDS
                if self.rng.random() < self.expire_rate:  # a slow batch outlives its visibility timeout
                    message.visible_at = now + EXPIRED_VISIBILITY_SECONDS
                    self.counts["visibility_expired"] += 1
                message.receipt = uuid.uuid4().hex
                batch.append(
                    {
                        "MessageId": message.message_id,
                        "ReceiptHandle": message.receipt,
                        "Body": message.body,
                        "ReceiveCount": message.receive_count,
                    }
                )
        return batch

    def delete(self, message_id: str, receipt: str) -> None:
        with self.lock:
            message = self.messages.get(message_id)
            if message is not None and message.receipt == receipt:
                del self.messages[message_id]

    def retry_later(self, message_id: str, receipt: str) -> None:
        with self.lock:
            message = self.messages.get(message_id)
            if message is not None and message.receipt == receipt:
                message.visible_at = time.monotonic() + RETRY_AFTER_SECONDS

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        with self.lock:
            self.published.append({"detail-type": detail_type, "detail": detail})

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "waiting": len(self.messages),
                "dead": len(self.dead),
                "published": list(self.published),
                "counts": dict(self.counts),
            }


class QueueManager(BaseManager):
    """Serves the one queue to the worker processes."""


class CountingPublisher:
    """Stands in for EventBridge: hands result events to the shared queue service, refusing some.

    A refusal raises as ``EventBridgePublisher`` does on a FailedEntryCount, so the message must
    come back and publish on a later delivery.
    """

    def __init__(self, queue: Any, failure_rate: float, rng: random.Random) -> None:
        self._queue = queue
        self._failure_rate = failure_rate
        self._rng = rng

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        if self._rng.random() < self._failure_rate:
            self._queue.count("publish_refused")
            raise RuntimeError(f"EventBridge refused the {detail_type} event: InternalFailure")
        self._queue.publish(detail_type, detail)


def worker(
    environment: dict[str, str], address: Any, authkey: bytes, stop: Any, publish_failure_rate: float, seed: int
) -> None:

    os.environ.update(environment)
    from kvkgate import root
    from local.lambda_runtime import LambdaContext, load_handler

    QueueManager.register("shared")
    manager = QueueManager(address=address, authkey=authkey)
    manager.connect()
    queue = manager.shared()  # type: ignore[attr-defined]  # a proxy to the queue in the main process
    spec = functions()["OnboardingFunction"]
    handler = load_handler(spec)
    publisher = CountingPublisher(queue, publish_failure_rate, random.Random(seed))
    root.install(root.Overrides(publisher=publisher))
    while not stop.is_set():
        messages = queue.receive(10)
        if not messages:
            time.sleep(0.2)
            continue
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": str(m["ReceiveCount"])},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:onboarding",
                "awsRegion": "eu-west-1",
            }
            for m in messages
        ]
        failed = {
            item["itemIdentifier"] for item in handler({"Records": records}, LambdaContext(spec))["batchItemFailures"]
        }
        for message in messages:
            if message["MessageId"] in failed:
                queue.retry_later(message["MessageId"], message["ReceiptHandle"])
            else:
                queue.delete(message["MessageId"], message["ReceiptHandle"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--unique", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="like the event source's MaximumConcurrency")
    parser.add_argument("--error-rate", type=float, default=0.10)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--max-receives", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--duplicate-rate", type=float, default=0.05, help="events sent twice (same event id)")
    parser.add_argument("--expire-rate", type=float, default=0.05, help="receives whose visibility expires in flight")
    parser.add_argument("--publish-failure-rate", type=float, default=0.05, help="result events EventBridge refuses")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pool = [number for number, record in registry().companies.items() if record.get("evidence") == "generated"]
    numbers = rng.sample(pool, args.unique)
    signups = [
        {"customerId": f"c-{index:05d}", "kvkNumber": numbers[index % args.unique]} for index in range(args.messages)
    ]
    rng.shuffle(signups)

    queue = Queue(args.max_receives, expire_rate=args.expire_rate, rng=random.Random(args.seed + 1))
    QueueManager.register("shared", callable=lambda: queue)
    authkey = uuid.uuid4().bytes
    manager = QueueManager(address=("127.0.0.1", 0), authkey=authkey)
    server = manager.get_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for signup in signups:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "source": "app.signup",
            "detail-type": "CustomerSignedUp",
            "detail": signup,
        }
        queue.send(json.dumps(event))
        if rng.random() < args.duplicate_rate:
            queue.send(json.dumps(event))
            queue.count("duplicate_sends")

    with moto_process() as endpoint, SandboxServer(Behaviour(rate_limit=100, error_rate=args.error_rate)) as sandbox:
        os.environ.update(client_environment(endpoint))
        boto3.setup_default_session()
        stack = create_stack(
            {"MaxReceiveCount": str(args.max_receives), "KvkRateLimitPerSecond": str(args.rate)},
            {"KvkApiKeySecret": PUBLIC_TEST_KEY},
            prefix=f"bench-{uuid.uuid4().hex[:6]}",
        )
        environment = function_environment(
            functions()["OnboardingFunction"],
            stack,
            {
                **client_environment(endpoint),
                "KVK_BASE_URL": sandbox.test_url,
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            },
        )
        # The stand-in queue brings failed messages back itself (after 2 s): no SQS to delay them on.
        environment.pop("ONBOARDING_QUEUE_URL", None)
        httpx.post(sandbox.url + "/__sandbox/reset")
        context = multiprocessing.get_context("spawn")
        stop = context.Event()
        processes = [
            context.Process(
                target=worker,
                args=(environment, server.address, authkey, stop, args.publish_failure_rate, args.seed + 100 + index),
            )
            for index in range(args.workers)
        ]
        began = time.time()
        for process in processes:
            process.start()
        while time.time() - began < args.timeout:
            time.sleep(1)
            state = queue.state()
            if state["waiting"] == 0:
                break
        total = time.time() - began
        stop.set()
        for process in processes:
            process.join(timeout=60)
        stats = httpx.get(sandbox.url + "/__sandbox/stats").json()

    state = queue.state()
    results = state["published"]
    per_customer = Counter(result["detail"].get("customerId") for result in results)
    completed = {r["detail"]["customerId"] for r in results if r["detail-type"] == "KvkVerificationCompleted"}
    failed = {r["detail"]["customerId"] for r in results if r["detail-type"] == "KvkVerificationFailed"}
    customers = {signup["customerId"] for signup in signups}
    figures = {
        "messages": len(signups),
        "unique": args.unique,
        "workers": args.workers,
        "completed": len(completed & customers),
        "failed_published": len(failed),
        "dead_lettered": state["dead"],
        "lost": len(customers - completed - failed),
        "duplicates": sum(count - 1 for count in per_customer.values() if count > 1),
        "kvk_calls": stats["served"],
        "kvk_429": stats["rateLimited"],
        "kvk_injected_500": stats["injectedErrors"],
        "max_kvk_calls_per_second": stats["maxCallsInAnySecond"],
        "total_s": round(total, 1),
        "ideal_s": round(args.unique / args.rate, 1),
        "verdicts": dict(Counter(result["detail"]["verdict"] for result in results)),
        "duplicate_sends": state["counts"].get("duplicate_sends", 0),
        "visibility_expired": state["counts"].get("visibility_expired", 0),
        "publish_refused": state["counts"].get("publish_refused", 0),
    }
    headers = [
        "messages",
        "unique",
        "workers",
        "completed",
        "failed (published)",
        "lost",
        "duplicates",
        "KVK calls",
        "KVK 500s injected",
        "KVK 429s",
        "max calls in any 1 s",
        "total s",
        "ideal s",
        "sent twice",
        "visibility expired",
        "publishes refused",
    ]
    keys = [
        "messages",
        "unique",
        "workers",
        "completed",
        "failed_published",
        "lost",
        "duplicates",
        "kvk_calls",
        "kvk_injected_500",
        "kvk_429",
        "max_kvk_calls_per_second",
        "total_s",
        "ideal_s",
        "duplicate_sends",
        "visibility_expired",
        "publish_refused",
    ]
    print(table(headers, [[figures[key] for key in keys]]))
    print()
    print("RESULT " + json.dumps(figures))


if __name__ == "__main__":
    main()

"""The asynchronous path in-process: moto SQS/EventBridge/DynamoDB created from the template, sandbox KVK."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest

from local.lambda_runtime import LambdaContext, functions, load_handler, sqs_records
from local.sandbox.server import SandboxServer
from tests.conftest import LocalAws


def signup_event(kvk_number: Any, customer: str = "c-1", **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": "app.signup",
        "detail-type": "CustomerSignedUp",
        "account": "123456789012",
        "time": "2026-11-29T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {"customerId": customer, "kvkNumber": kvk_number, **detail},
    }


@dataclass
class Stack:
    sandbox: SandboxServer
    resources: dict[str, dict[str, str]]
    results_queue: str
    sqs: Any
    events: Any
    receive_counts: dict[str, int] = field(default_factory=dict)
    aws: LocalAws | None = None

    def record(self, body: str, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
        return {
            "messageId": message_id or str(uuid.uuid4()),
            "receiptHandle": "handle",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": str(receive_count),
                "SentTimestamp": "1795946400000",
                "SenderId": "events",
                "ApproximateFirstReceiveTimestamp": "1795946400000",
            },
            "messageAttributes": {},
            "md5OfBody": "x",
            "eventSource": "aws:sqs",
            "eventSourceARN": self.resources["OnboardingQueue"]["Arn"],
            "awsRegion": "eu-west-1",
        }

    def put_on_bus(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Put a CustomerSignedUp on the template's bus; return the records the rule routed to the queue."""
        bus = self.resources["KvkgateBus"]["Ref"]
        entry = {
            "EventBusName": bus,
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
        }
        self.events.put_events(Entries=[entry])
        queue = self.resources["OnboardingQueue"]["QueueUrl"]
        messages = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])
        return sqs_records(messages.get("Messages", []), self.resources["OnboardingQueue"]["Arn"])

    def run_worker(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        spec = functions()["OnboardingFunction"]
        result: dict[str, Any] = load_handler(spec)({"Records": records}, LambdaContext(spec))
        return result

    def results(self) -> list[dict[str, Any]]:
        """Every event kvkgate published so far, in order."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.results_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.results_queue, ReceiptHandle=message["ReceiptHandle"])

    def kvk(self, **behaviour: Any) -> None:
        httpx.put(self.sandbox.url + "/__sandbox/config", json=behaviour)


@pytest.fixture
def stack(local_aws: LocalAws) -> Stack:

    sqs, events = boto3.client("sqs"), boto3.client("events")
    bus = local_aws.resources["KvkgateBus"]["Ref"]
    # What a subscriber to the results would do: a rule on kvkgate's events, into a queue to read.
    results_queue = sqs.create_queue(QueueName="results")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=results_queue, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="results", EventBusName=bus, EventPattern=json.dumps({"source": ["kvkgate"]}))
    events.put_targets(Rule="results", EventBusName=bus, Targets=[{"Id": "results", "Arn": attributes["QueueArn"]}])
    return Stack(local_aws.sandbox, local_aws.resources, results_queue, sqs, events, aws=local_aws)

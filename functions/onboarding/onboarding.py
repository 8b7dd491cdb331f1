"""Onboarding worker: SQS batches of CustomerSignedUp events -> KvkVerificationCompleted on the bus.

Partial batch responses: only the messages that could not be verified (KVK unavailable) are
reported as failed and come back; idempotent per event, so a redelivered message publishes once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import runtime, telemetry
from kvkgate.clock import Deadline
from kvkgate.config import settings
from kvkgate.dynamo import dynamodb_client
from kvkgate.onboarding import Message, handle, idempotency_key

logger = Logger()
metrics = telemetry.metrics()
# A batch in which every message waits for KVK is reported item by item, like any other: a
# raised error would look like a bug in the logs and alarms, and SQS retries both the same way.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# Results are remembered for a day: longer than SQS keeps retrying one message.
idempotency = IdempotencyConfig(
    event_key_jmespath="key", expires_after_seconds=86_400, raise_on_no_idempotency_key=True
)
# Leave this much of the invocation for reporting the batch back to SQS.
RESERVE_SECONDS = 2.0


def _verify(work: dict[str, Any]) -> dict[str, str]:
    message = Message(work["body"], work["receive_count"], settings().max_receive_count)
    deadline = Deadline.from_lambda_context(processor.lambda_context, reserve_seconds=RESERVE_SECONDS)
    verdict = handle(message, runtime.lookups(), runtime.publisher(), deadline, runtime.now, runtime.policy())
    metrics.add_metric(name=f"Onboarding{verdict.capitalize()}", unit="Count", value=1)
    return {"verdict": verdict}


@functools.cache
def verify_once() -> Callable[..., dict[str, str]]:
    """``_verify`` made idempotent on the same table; built on first use (boto3 is not needed at import)."""
    persistence = DynamoDBPersistenceLayer(
        table_name=settings().table_name or "",
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=f"IDEMPOTENCY#{os.environ.get('AWS_LAMBDA_FUNCTION_NAME', 'onboarding')}",
        expiry_attr="expiresAt",
        boto3_client=dynamodb_client(),
    )
    decorate = idempotent_function(data_keyword_argument="work", config=idempotency, persistence_store=persistence)
    verified: Callable[..., dict[str, str]] = decorate(_verify)
    return verified


def record_handler(record: SQSRecord) -> dict[str, str]:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    work = {"key": idempotency_key(record.body), "body": record.body, "receive_count": receive_count}
    return verify_once()(work=work)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)

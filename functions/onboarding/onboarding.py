"""Onboarding worker: SQS batches of CustomerSignedUp events -> KvkVerificationCompleted on the bus.

Partial batch responses: only the messages that could not be verified (KVK unavailable) are
reported as failed and come back; idempotent per event, so a redelivered message publishes once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry
from kvkgate.app.onboarding import Message, handle, idempotency_key
from kvkgate.clock import Deadline

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
    env = root.environment()
    message = Message(work["body"], work["receive_count"], env.settings.max_receive_count)
    deadline = Deadline.from_lambda_context(processor.lambda_context, reserve_seconds=RESERVE_SECONDS)
    verdict = handle(message, env.registry, env.publisher, deadline, env.now, env.policy)
    metrics.add_metric(name=f"Onboarding{verdict.capitalize()}", unit="Count", value=1)
    return {"verdict": verdict}


@functools.cache
def verify_once() -> Callable[..., dict[str, str]]:
    """``_verify`` made idempotent; built on first use (boto3 is not needed at import)."""
    store = root.environment().idempotency_store
    decorate = idempotent_function(data_keyword_argument="work", config=idempotency, persistence_store=store)
    return decorate(_verify)  # type: ignore[no-any-return]


def record_handler(record: SQSRecord) -> dict[str, str]:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    work = {"key": idempotency_key(record.body), "body": record.body, "receive_count": receive_count}
    return verify_once()(work=work)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )

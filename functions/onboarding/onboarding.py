"""Onboarding worker: SQS batches of CustomerSignedUp events -> KvkVerificationCompleted on the bus.

Partial batch responses: only messages that could not be verified come back, later each time;
each record gets a fair share of the invocation's time; idempotent per event, so a redelivered
message publishes once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry, texts
from kvkgate.app import misconfiguration
from kvkgate.app.onboarding import FairShare, Keeping, Message, RetryLater, back_off, handle, work_of
from kvkgate.clock import Deadline
from kvkgate.config import ConfigError

logger = Logger()
metrics = telemetry.metrics()
# Every message waiting for KVK is reported item by item: a raised error would look like a bug.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# Results are remembered for a day: longer than SQS keeps retrying one message.
idempotency = IdempotencyConfig(
    event_key_jmespath="key", expires_after_seconds=86_400, raise_on_no_idempotency_key=True
)
RESERVE_SECONDS = 2.0  # left for reporting the batch back to SQS
# What the worker needs (template.yaml sets them); the secrets they name are checked on first use.
SETTINGS = ("TABLE_NAME", "KVK_API_KEY_SECRET_ID", "EVENT_BUS_NAME")
share = FairShare(Deadline.after(0), 0)  # this invocation's time, split over its records
asked: dict[str, float] = {}  # message id -> how long KVK asked us to wait, this invocation


def _verify(work: dict[str, Any]) -> dict[str, str]:
    env = root.environment()
    message = Message(work["body"], work["receive_count"], env.settings.max_receive_count)
    keeping = Keeping(env.user_pool, env.watch_list, env.settings.watch_customers)
    verdict = handle(message, env.registry, env.publisher, share.next(), env.now, env.policy, keeping)
    metrics.add_metric(name=f"Onboarding{verdict.capitalize()}", unit="Count", value=1)
    return {"verdict": verdict}


def record_handler(record: SQSRecord) -> dict[str, Any]:
    work = work_of(record.get("body"), (record.get("attributes") or {}).get("ApproximateReceiveCount"))
    env = root.environment()
    try:
        env.require(*SETTINGS)  # before the idempotency record, which needs the table
        return env.idempotent(_verify, idempotency)(work=work)
    except ConfigError as error:  # this record comes back, as in an outage, while the operator fixes it
        misconfiguration.report(error)
        raise
    except RetryLater as later:
        if later.retry_after:
            asked[str(record.get("messageId"))] = later.retry_after  # KVK asked for patience: back off longer
        raise


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global share
    asked.clear()
    idempotency.register_lambda_context(context)
    share = FairShare(Deadline.from_lambda_context(context, RESERVE_SECONDS), len(event.get("Records") or []))
    with texts.speaking(root.environment().settings.default_language):  # the result events' messages
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    back_off(event, dict(response), root.environment().redelivery, asked)
    return dict(response)

"""The shared DynamoDB client and the few helpers every table adapter needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from kvkgate.aws.clients import AwsTimeouts


class StoreUnavailable(RuntimeError):
    """DynamoDB could not be used (throttled, unreachable, misconfigured). Callers degrade."""


def dynamodb_client(timeouts: AwsTimeouts | None = None) -> DynamoDBClient:
    from kvkgate.aws.clients import AwsTimeouts, client

    dynamodb: DynamoDBClient = client("dynamodb", timeouts or AwsTimeouts())
    return dynamodb


def is_conditional_failure(error: Exception) -> bool:
    response = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def is_aws_error(error: Exception) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(error, BotoCoreError | ClientError)


def store_error(error: Exception) -> StoreUnavailable:
    """Wrap an AWS failure for the caller to degrade on; anything else is a bug and propagates."""
    if is_aws_error(error):
        return StoreUnavailable(f"DynamoDB: {type(error).__name__}: {error}")
    raise error


def number(item: dict[str, Any] | None, name: str) -> float | None:
    if not item or name not in item:
        return None
    return float(item[name]["N"])

"""The onboarding queue: how long a message that failed stays invisible before SQS delivers it again."""

from __future__ import annotations

from typing import Any


class SqsRedelivery:
    """Changes a received message's visibility: the retry back-off of the onboarding worker."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def later(self, receipt_handle: str, seconds: int) -> None:
        self._client.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

"""The event bus: kvkgate's results go out as EventBridge events."""

from __future__ import annotations

import json
from typing import Any

RESULT_SOURCE = "kvkgate"


class EventBridgePublisher:
    """Puts result events on the bus; a failed entry raises, so the message is retried, not lost."""

    def __init__(self, client: Any, bus: str, source: str = RESULT_SOURCE) -> None:
        self._client = client
        self._bus = bus
        self._source = source

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        entry = {
            "EventBusName": self._bus,
            "Source": source or self._source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
        }
        response = self._client.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise RuntimeError(
                f"EventBridge refused the {detail_type} event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
            )

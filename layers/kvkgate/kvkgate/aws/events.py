"""The event bus: kvkgate's results go out as EventBridge events."""

from __future__ import annotations

import json
from typing import Any

from kvkgate.config import ConfigError

RESULT_SOURCE = "kvkgate"
# EventBridge's answers for a bus that does not exist, or that this function may not put events on.
MISCONFIGURED = frozenset({"ResourceNotFoundException", "AccessDeniedException"})


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
        try:
            response = self._client.put_events(Entries=[entry])
        except Exception as error:
            if _code(error) in MISCONFIGURED:
                message = f"invalid configuration: EVENT_BUS_NAME: cannot put events on bus {self._bus!r}: {error}"
                raise ConfigError(message, ("EVENT_BUS_NAME",)) from None
            raise
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise RuntimeError(
                f"EventBridge refused the {detail_type} event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
            )


def _code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None

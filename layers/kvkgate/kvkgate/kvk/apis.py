"""The four KVK APIs kvkgate calls, and which of them KVK charges for."""

from __future__ import annotations

from enum import StrEnum


class KvkApi(StrEnum):
    ZOEKEN = "zoeken"
    BASISPROFIEL = "basisprofiel"
    VESTIGINGSPROFIEL = "vestigingsprofiel"
    NAAMGEVING = "naamgeving"

    @property
    def paid(self) -> bool:
        """Zoeken is free; every profile and Naamgeving call costs about two cents."""
        return self is not KvkApi.ZOEKEN

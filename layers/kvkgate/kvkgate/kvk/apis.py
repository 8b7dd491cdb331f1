"""The four KVK APIs kvkgate calls, and which of them KVK charges for."""

from __future__ import annotations

from enum import StrEnum


class KvkApi(StrEnum):
    ZOEKEN = "zoeken"
    BASISPROFIEL = "basisprofiel"
    VESTIGINGSPROFIEL = "vestigingsprofiel"
    NAAMGEVING = "naamgeving"
    # KVK's Mutatieservice: change signals of a subscription (a contract of its own, not per call).
    MUTATIESERVICE = "mutatieservice"

    @property
    def paid(self) -> bool:
        """Zoeken is free; every profile and Naamgeving call costs about two cents. The Mutatieservice
        is paid by its subscription, not per call."""
        return self not in (KvkApi.ZOEKEN, KvkApi.MUTATIESERVICE)


# The API versions kvkgate was built and tested against (major.minor; reference.md §1.4). An answer
# with another version, or with a ``warning`` header (how KVK announces a version's retirement), is
# KVK announcing a change: counted (``KvkAnnouncedChange``) and alarmed, so someone reads the notes.
KNOWN_VERSIONS = {
    KvkApi.ZOEKEN: "2.1",
    KvkApi.BASISPROFIEL: "1.5",
    KvkApi.VESTIGINGSPROFIEL: "1.5",
    KvkApi.NAAMGEVING: "1.1",
    KvkApi.MUTATIESERVICE: "1.0",
}


def announced_change(api: KvkApi, version: str | None, warning: str | None) -> str | None:
    """What KVK announced with an answer, or None: a ``warning`` header, or a version not known here."""
    if warning:
        return f"warning: {warning[:200]}"
    if version and not (version == KNOWN_VERSIONS[api] or version.startswith(KNOWN_VERSIONS[api] + ".")):
        return f"API-Version {version[:20]} (known: {KNOWN_VERSIONS[api]})"
    return None

"""TLS trust for KVK: the normal CA store plus KVK's PKIoverheid Private G1 chain.

KVK's servers use the "Staat der Nederlanden Private Root CA - G1" hierarchy, which is not in
the Mozilla/OS stores (reference §1.3). Verification stays on; we only add trust anchors.
"""

from __future__ import annotations

import ssl
from importlib import resources
from pathlib import Path

import certifi

SHIPPED_CHAIN = "pkioverheid-private-g1-chain.pem"


def shipped_chain() -> str:
    """The PEM chain shipped inside the package, as text."""
    return resources.files("kvkgate.kvk").joinpath(SHIPPED_CHAIN).read_text(encoding="ascii")


def ssl_context(extra_ca_file: Path | None = None) -> ssl.SSLContext:
    """Default-verifying context trusting certifi's roots and KVK's chain (or ``extra_ca_file``)."""
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=str(extra_ca_file))
    else:
        context.load_verify_locations(cadata=shipped_chain())
    return context

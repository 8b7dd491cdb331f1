"""AWS clients, one per service per execution environment, with short timeouts and bounded retries.

boto3 comes with the Lambda runtime and costs ~270 ms to import and build, so clients are built on
first use. A slow AWS service must degrade an answer, never stall a sign-up past Cognito's 5 s:
at most two attempts of one second to connect and two to read.
"""

from __future__ import annotations

import functools
from typing import Any

CONNECT_SECONDS = 1.0
READ_SECONDS = 2.0
ATTEMPTS = 2


@functools.cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_SECONDS,
        read_timeout=READ_SECONDS,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
    )
    return boto3.client(service, config=config)  # type: ignore[call-overload]

"""AWS clients, one per service per execution environment, with short timeouts and bounded retries.

boto3 comes with the Lambda runtime and costs ~270 ms to import and build, so clients are built on
first use. A slow AWS service must degrade an answer, never stall a sign-up past Cognito's 5 s:
every call ends within ``AwsTimeouts.worst_case`` (the pre-sign-up trigger sets them shorter).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AwsTimeouts:
    connect: float = 1.0
    read: float = 2.0
    attempts: int = 2

    @property
    def worst_case(self) -> float:
        """How long one call may take at most, every attempt timing out."""
        return (self.connect + self.read) * self.attempts


@functools.cache
def client(service: str, timeouts: AwsTimeouts = AwsTimeouts()) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
    )
    return boto3.client(service, config=config)  # type: ignore[call-overload]

"""Time as a dependency, so retries, throttling and cache freshness are testable without sleeping."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    """A point in monotonic time after which no more work may start."""

    at: float
    clock: Clock = SYSTEM_CLOCK

    @classmethod
    def after(cls, seconds: float, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        return cls(clock.monotonic() + seconds, clock)

    @classmethod
    def from_lambda_context(
        cls, context: LambdaContext, reserve_seconds: float = 0.5, clock: Clock = SYSTEM_CLOCK
    ) -> Deadline:
        """Leave ``reserve_seconds`` to turn a failure into a response before Lambda kills us."""
        remaining = context.get_remaining_time_in_millis() / 1000 - reserve_seconds
        return cls.after(max(remaining, 0.0), clock)

    @classmethod
    def capped(cls, context: LambdaContext | None, cap_seconds: float, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        """A short deadline (an HTTP request, a Cognito trigger) that also ends inside the Lambda's time."""
        capped = cls.after(cap_seconds, clock)
        if context is None:
            return capped
        allowed = cls.from_lambda_context(context, clock=clock)
        return allowed if allowed.at < capped.at else capped

    def remaining(self) -> float:
        return max(self.at - self.clock.monotonic(), 0.0)

    def allows(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` would still end before the deadline."""
        return self.clock.monotonic() + seconds < self.at

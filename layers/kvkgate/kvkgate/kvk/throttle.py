"""The seam every KVK call passes before it is sent (:class:`CallLimiter`), and a per-process token bucket.

The bucket alone limits an environment without a table (local runs, tests) and is the global
limiter's fallback while DynamoDB is unavailable (``aws.limits.KvkGuard``). The global limiter and
the per-caller budget implement the same seam, so the client does not care which chain it is given.
"""

from __future__ import annotations

import threading
from typing import Protocol

from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.kvk.apis import KvkApi
from kvkgate.kvk.errors import RateLimited


class CallLimiter(Protocol):
    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        """Return when a call to ``api`` may start now; raise a :class:`~kvkgate.kvk.errors.KvkError` if it may not.

        ``first``: the first attempt of a lookup (retries of the same lookup pass False).
        """

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        """Raise at once, without any I/O, if this process already knows the call would be refused."""


class Unlimited:
    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        return None

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        return None


class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity``.

    In any one-second window it admits at most ``capacity + rate`` calls, so the default capacity
    of a tenth of the rate keeps a 90/s bucket under KVK's 100/s even when it starts full.
    """

    def __init__(self, rate: float, capacity: float | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate / 10)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock.monotonic()
        self._lock = threading.Lock()

    def _reserve(self, deadline: Deadline) -> float:
        """Take a token now or book the next one; return how long to wait for it."""
        with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if wait and not deadline.allows(wait):
                raise RateLimited(f"no KVK call slot within the deadline (next in {wait:.3f}s)", retry_after=wait)
            self._tokens -= 1
            return wait

    def admit(self, api: KvkApi, deadline: Deadline) -> None:
        return None

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        wait = self._reserve(deadline)
        if wait:
            self._clock.sleep(wait)

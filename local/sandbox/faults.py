"""Run-time behaviour of the sandbox: KVK's rate limit, faults, quota, and the call statistics."""

from __future__ import annotations

import bisect
import math
import random
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

ErrorKind = Literal["500", "IPD1003"]
LinkShape = Literal["auto", "_links", "links"]


@dataclass
class Behaviour:
    """Everything an operator can change at start (CLI/env) or at run time (PUT /__sandbox/config)."""

    rate_limit: int | None = 100
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_kind: ErrorKind = "500"
    outage: bool = False
    monthly_quota: int | None = None
    link_shape: LinkShape = "auto"
    # How long after a mutation its Mutatieservice signal is listed (KVK: within 15 minutes).
    signal_delay_seconds: float = 60.0

    def update(self, changes: dict[str, Any]) -> None:
        known = {item.name for item in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        candidate = Behaviour(**{**asdict(self), **changes})
        candidate.check()
        for name, value in changes.items():
            setattr(self, name, value)

    def check(self) -> None:
        if self.rate_limit is not None and (not isinstance(self.rate_limit, int) or self.rate_limit < 1):
            raise ValueError("rate_limit must be a positive integer or null")
        if not 0 <= float(self.error_rate) <= 1:
            raise ValueError("error_rate must be between 0 and 1")
        if self.error_kind not in ("500", "IPD1003"):
            raise ValueError('error_kind must be "500" or "IPD1003"')
        if self.link_shape not in ("auto", "_links", "links"):
            raise ValueError('link_shape must be "auto", "_links" or "links"')
        if float(self.latency_ms) < 0 or float(self.jitter_ms) < 0:
            raise ValueError("latency_ms and jitter_ms must not be negative")
        if self.monthly_quota is not None and (not isinstance(self.monthly_quota, int) or self.monthly_quota < 0):
            raise ValueError("monthly_quota must be a non-negative integer or null")


def max_in_any_second(times: list[float]) -> int:
    """The most events in any one-second window (sliding, half-open: [t, t + 1))."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, start + 1.0) - index for index, start in enumerate(ordered)), default=0)


class SlidingWindow:
    """Admits at most ``limit`` events in any window of one second (no burst allowance)."""

    def __init__(self) -> None:
        self._admitted: deque[float] = deque()

    def admit(self, now: float, limit: int) -> float | None:
        """Record and return None when admitted; otherwise the seconds until a slot frees up."""
        while self._admitted and self._admitted[0] <= now - 1.0:
            self._admitted.popleft()
        if len(self._admitted) >= limit:
            return self._admitted[len(self._admitted) - limit] + 1.0 - now
        self._admitted.append(now)
        return None


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    unauthorized: int = 0
    injected_errors: int = 0
    served_times: list[float] = field(default_factory=list)
    # Every keyed API request as it reached the door (served, refused with 429, or failed):
    # what a client really sent, which served_times cannot show once the limit refuses calls.
    arrival_times: list[float] = field(default_factory=list)
    month_calls: int = 0

    def max_in_any_second(self) -> int:
        """The most served calls whose arrival falls in any one-second window (sliding)."""
        return max_in_any_second(self.served_times)

    def per_second(self) -> dict[str, int]:
        counts: Counter[int] = Counter(math.floor(t) for t in self.served_times)
        return {str(second): counts[second] for second in sorted(counts)}

    def as_json(self) -> dict[str, Any]:
        paid = sum(count for api, count in self.calls.items() if api != "zoeken")
        return {
            "since": self.started,
            "calls": dict(self.calls),
            "totalCalls": sum(self.calls.values()),
            "paidCalls": paid,
            "served": len(self.served_times),
            "statuses": dict(self.statuses),
            "rateLimited": self.rate_limited,
            "unauthorized": self.unauthorized,
            "injectedErrors": self.injected_errors,
            "maxCallsInAnySecond": self.max_in_any_second(),
            "perSecond": self.per_second(),
            "monthCalls": self.month_calls,
            "arrivals": len(self.arrival_times),
            "maxArrivalsInAnySecond": max_in_any_second(self.arrival_times),
        }


class Faults:
    """Decides, per arriving call, whether KVK would refuse it, and records what was served."""

    def __init__(self, behaviour: Behaviour, seed: int = 0) -> None:
        self.behaviour = behaviour
        self.stats = Stats()
        self.window = SlidingWindow()
        self.random = random.Random(seed)

    def reset(self) -> None:
        self.stats = Stats()
        self.window = SlidingWindow()

    def arrived(self, wall: float) -> None:
        self.stats.arrival_times.append(wall)

    def throttle(self, now: float) -> float | None:
        """None when the call may be served; otherwise the Retry-After in seconds."""
        limit = self.behaviour.rate_limit
        if limit is None:
            return None
        wait = self.window.admit(now, limit)
        if wait is not None:
            self.stats.rate_limited += 1
        return wait

    def quota_spent(self) -> bool:
        quota = self.behaviour.monthly_quota
        return quota is not None and self.stats.month_calls >= quota

    def inject_error(self) -> bool:
        hit = self.behaviour.error_rate > 0 and self.random.random() < self.behaviour.error_rate
        if hit:
            self.stats.injected_errors += 1
        return hit

    def delay_seconds(self) -> float:
        jitter = self.random.uniform(0, self.behaviour.jitter_ms) if self.behaviour.jitter_ms else 0.0
        return (self.behaviour.latency_ms + jitter) / 1000

    def served(self, api: str, status: int, wall: float) -> None:
        self.stats.calls[api] += 1
        self.stats.statuses[str(status)] += 1
        self.stats.served_times.append(wall)
        self.stats.month_calls += 1

"""Outcomes that entry points turn into responses (an HTTP status, a Cognito refusal, an SQS retry)."""

from __future__ import annotations

KVK_UNAVAILABLE = "KVK_UNAVAILABLE"
BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"


class NotRegistered(Exception):
    """KVK knows no registration for this number."""

    def __init__(self, kvk_number: str) -> None:
        super().__init__(f"KVK number {kvk_number} is not registered with the Chamber of Commerce.")
        self.kvk_number = kvk_number


class Unavailable(Exception):
    """KVK could not be asked and nothing usable is cached. Never a statement about the company."""

    def __init__(self, code: str, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def budget_spent(cls) -> Unavailable:
        return cls(BUDGET_EXHAUSTED, "This month's KVK lookup budget is spent; try again later.", 3600)

    @classmethod
    def kvk_down(cls, retry_after: float | None = None) -> Unavailable:
        message = "The KVK register could not be asked just now; try again later."
        return cls(KVK_UNAVAILABLE, message, retry_after or 30.0)


class TooManyRequests(Exception):
    """Come back later: ``retry_after`` seconds. Not a statement about the company, and not ``unverified``."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CallerBudgetExceeded(TooManyRequests):
    """One caller used its share of KVK lookups for now. No stale answer hides it."""

    def __init__(self, caller: str, limit: int, retry_after: float) -> None:
        super().__init__(
            f"more than {limit} KVK lookups a minute from one caller; retry in {retry_after:.0f}s", retry_after
        )
        self.caller = caller
        self.limit = limit


class Busy(TooManyRequests):
    """KVK's rate is taken for longer than a caller may queue: refused at once, nothing spent."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"KVK's call rate is taken for now; retry in {retry_after:.1f}s", retry_after)

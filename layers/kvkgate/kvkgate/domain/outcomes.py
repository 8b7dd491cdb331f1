"""Outcomes past the KVK adapter that entry points turn into responses (HTTP status, Cognito error, SQS retry)."""

from __future__ import annotations

from kvkgate.kvk.errors import BudgetExhausted, KvkError


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
    def from_kvk(cls, error: KvkError) -> Unavailable:
        if isinstance(error, BudgetExhausted):
            return cls("BUDGET_EXHAUSTED", "This month's KVK lookup budget is spent; try again later.", 3600)
        retry_after = getattr(error, "retry_after", None) or 30.0
        return cls("KVK_UNAVAILABLE", "The KVK register could not be asked just now; try again later.", retry_after)


class CallerBudgetExceeded(Exception):
    """One caller used its share of KVK lookups for now. Deliberately not a KvkError: no stale answer hides it."""

    def __init__(self, caller: str, limit: int, retry_after: float) -> None:
        super().__init__(f"more than {limit} KVK lookups a minute from one caller; retry in {retry_after:.0f}s")
        self.caller = caller
        self.limit = limit
        self.retry_after = retry_after

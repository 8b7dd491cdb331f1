"""Outcomes that entry points turn into responses (an HTTP status, a Cognito refusal, an SQS retry)."""

from __future__ import annotations

from kvkgate.texts import say

KVK_UNAVAILABLE = "KVK_UNAVAILABLE"
KVK_BUSY = "KVK_BUSY"
BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
# A setting is missing or names something that does not exist (kvkgate.config.ConfigError): not an
# outage and not a fact about the company; nothing changes until the operator fixes the setting.
CONFIGURATION_ERROR = "CONFIGURATION_ERROR"


class NotRegistered(Exception):
    """KVK knows no registration for this number."""

    def __init__(self, kvk_number: str) -> None:
        super().__init__(say("reason.NOT_REGISTERED", kvk=kvk_number))
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
        return cls(BUDGET_EXHAUSTED, say("reason.BUDGET_EXHAUSTED"), 3600)

    @classmethod
    def kvk_down(cls, retry_after: float | None = None) -> Unavailable:
        return cls(KVK_UNAVAILABLE, say("reason.KVK_UNAVAILABLE"), retry_after or 30.0)


class TooManyRequests(Exception):
    """Come back later: ``retry_after`` seconds. Not a statement about the company, and not ``unverified``."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CallerBudgetExceeded(TooManyRequests):
    """One caller used its share of KVK lookups for now (this minute or today). No stale answer hides it."""

    def __init__(self, caller: str, limit: int, retry_after: float, per: str = "minute") -> None:
        message = f"more than {limit} KVK lookups a {per} from one caller; retry in {retry_after:.0f}s"
        super().__init__(message, retry_after)
        self.caller = caller
        self.limit = limit
        self.per = per


class PaidLookupRefused(TooManyRequests):
    """Anonymous callers may not spend more on paid KVK lookups today; free answers still come."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("today's paid KVK lookups for anonymous callers are spent", retry_after)


class Busy(TooManyRequests):
    """KVK's rate is taken for longer than a caller may queue: refused at once, nothing spent."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"KVK's call rate is taken for now; retry in {retry_after:.1f}s", retry_after)


class UserNotFound(Exception):
    """The user pool has no such user: not created yet (the pre-sign-up trigger runs first), or not at all."""

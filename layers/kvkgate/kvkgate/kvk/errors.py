"""The layer's KVK error taxonomy, and the one function that maps a KVK response onto it.

Messages carry the HTTP status, KVK's IPD code and its Dutch text, and the request path; never
headers (KVK's gateway echoes the API key in ``apiAuthzDetails``) and never the key itself.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any

NOT_FOUND_CODES = frozenset({"IPD5200", "IPD0005", "IPD0007"})
# IPD0001: "the requested product does not exist" — a request for something KVK does not offer, not
# a fact about a company and not worth repeating.
INVALID_REQUEST_CODES = frozenset({"IPD0001", "IPD0004", "IPD0006", "IPD0010", "IPD1998", "IPD1999", "IPD5203"})
TEMPORARY_CODES = frozenset({"IPD1002", "IPD1003", "IPD9999"})
# KVK asks for patience in words: IPD1003 "probeer het over 5 minuten", IPD1002 "in behandeling,
# probeer het later". Asking again within the request would only spend calls; these are the waits.
PATIENCE_SECONDS = {"IPD1003": 300.0, "IPD1002": 900.0}
MAX_RETRY_AFTER_SECONDS = 3600.0


class KvkError(Exception):
    """Base class. ``transient`` errors may be retried and must never be cached."""

    transient = False

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, path: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.path = path


class NotFound(KvkError):
    """KVK knows no registration (or no product) for the identifier. Safe to cache briefly."""


class InvalidRequest(KvkError):
    """KVK rejected a parameter (IPD0004, IPD1999, ...): a caller error, not a fact about a company."""


class Unauthorized(KvkError):
    """401: the API key is missing, wrong, or rotated away."""


class Forbidden(KvkError):
    """403: the key has no access to this API."""


class RateLimited(KvkError):
    """429 from KVK, or no rate-limit token could be had in time. ``retry_after`` in seconds, if known."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TemporarilyUnavailable(KvkError):
    """KVK could not answer now: IPD1002/IPD1003, 5xx, timeouts, connection errors.

    ``retry_after``: seconds from a ``Retry-After`` header KVK sent with it (a 503 may carry one).
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class BudgetExhausted(KvkError):
    """kvkgate's own monthly budget refuses the call (paid calls stop before KVK's quota is spent).

    Not retried: the budget does not come back within a request. Caches may answer stale.
    """


class Shed(KvkError):
    """kvkgate's admission control refused the call before it was counted anywhere: no slot within
    the queue bound, or not enough of the caller's time left for a KVK call after it. Not retried
    within the request (waiting is what was refused); ``retry_after`` says when a slot is likely."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PaidCallRefused(KvkError):
    """kvkgate refused a paid call for an anonymous caller: its, or all anonymous callers', daily paid
    lookups are spent. Not retried; free calls go on."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UnexpectedResponse(KvkError):
    """A response that fits nothing KVK documents (e.g. a gateway 404 page, a 406). Not cached."""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _first_fout(body: bytes) -> tuple[str | None, str | None]:
    """KVK's ``{"fout": [{"code", "omschrijving"}]}``, also the older ``{"meldingen": {"fout": [...]}}``;
    the Mutatieservice's RFC 7807 problem document gives no code, only its title and detail."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if isinstance(data, dict) and "fout" not in data and isinstance(data.get("status"), int):
        words = [str(data[name])[:200] for name in ("title", "detail") if isinstance(data.get(name), str)]
        return None, ": ".join(words) or None
    if isinstance(data, dict) and isinstance(data.get("meldingen"), dict):
        data = data["meldingen"]
    fouten = data.get("fout") if isinstance(data, dict) else None
    if isinstance(fouten, list):
        for fout in fouten:
            if isinstance(fout, dict) and isinstance(fout.get("code"), str):
                text = fout.get("omschrijving")
                return fout["code"], text if isinstance(text, str) else None
    return None, None


def error_for_response(
    status: int, body: bytes, path: str, retry_after: str | None = None, now: float = 0.0
) -> KvkError:
    """Classify a non-2xx KVK response. The caller decides retrying and caching by the class."""
    code, text = _first_fout(body)
    detail = f"KVK answered {status}" + (f" {code}" if code else "") + (f": {text}" if text else "")
    detail += f" for {path}"
    fields: dict[str, Any] = {"status": status, "code": code, "path": path}
    if status == 429:
        return RateLimited(detail, retry_after=parse_retry_after(retry_after, now), **fields)
    if status == 401:
        return Unauthorized(detail, **fields)
    if status == 403:
        return Forbidden(detail, **fields)
    if code in TEMPORARY_CODES or status >= 500:
        wait = parse_retry_after(retry_after, now)
        return TemporarilyUnavailable(
            detail, retry_after=PATIENCE_SECONDS.get(code or "", wait) if wait is None else wait, **fields
        )
    if code in NOT_FOUND_CODES:
        return NotFound(detail, **fields)
    if code in INVALID_REQUEST_CODES or status in (400, 422):
        return InvalidRequest(detail, **fields)
    # A 404 without a known IPD code is a wrong URL or a gateway page, not a fact about a company.
    return UnexpectedResponse(detail, **fields)

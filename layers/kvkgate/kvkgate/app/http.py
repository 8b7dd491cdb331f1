"""The HTTP API's plumbing: dispatch by route key, JSON bodies with limits, the caller, the deadline,
and the one map from outcomes to HTTP statuses and RFC 9457 problems.

Routes are declared once, in template.yaml; API Gateway puts the matched route in the event's
``routeKey`` and answers unknown paths itself, so a handler only binds route keys to use cases.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from kvkgate.clock import Deadline, LambdaContext
from kvkgate.domain.contracts import MAX_BODY_BYTES, Contract, field_errors
from kvkgate.domain.numbers import NumberFormatError
from kvkgate.domain.outcomes import CallerBudgetExceeded, NotRegistered, TooManyRequests, Unavailable

logger = logging.getLogger(__name__)
PROBLEM_TYPE = "https://github.com/kvkgate/kvkgate/blob/main/docs/problems.md#"


class BadRequest(Exception):
    """The request is not well-formed; ``errors`` name each field and why."""

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NoRoute(Exception):
    """The event names a route this function does not serve."""


def read_json[Model: BaseModel](body: str | None, is_base64: bool, model: type[Model]) -> Model:
    """Parse and validate a JSON object body; anything else is a :class:`BadRequest`."""
    raw = (body or "").encode()
    if is_base64:
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("The body is not valid base64.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(
            f"The body is larger than {MAX_BODY_BYTES} bytes.", [{"field": "body", "message": "too large"}]
        )
    try:
        data = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body is not JSON.", [{"field": "body", "message": "not JSON"}]) from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.", [{"field": "body", "message": "must be a JSON object"}])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BadRequest("Some fields are missing or invalid.", field_errors(error)) from None


def problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    slug = title.lower().replace(" ", "-")
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail}
    body["errors"] = errors or []
    return body


def caller_of(event: Mapping[str, Any]) -> str | None:
    """The API client id when an authorizer set one, else the source IP."""
    context = event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    client_id = claims.get("client_id") or claims.get("azp")
    if isinstance(client_id, str) and client_id:
        return f"client:{client_id}"
    source = (context.get("http") or {}).get("sourceIp")
    return f"ip:{source}" if isinstance(source, str) and source else None


@dataclass(frozen=True)
class Call:
    """One API request as a use case sees it."""

    event: Mapping[str, Any]
    deadline: Deadline

    def body[Model: BaseModel](self, model: type[Model]) -> Model:
        return read_json(self.event.get("body"), bool(self.event.get("isBase64Encoded")), model)

    def path(self, name: str) -> str:
        return str((self.event.get("pathParameters") or {}).get(name, ""))

    @property
    def caller(self) -> str | None:
        return caller_of(self.event)


Route = Callable[[Call], Contract]
CallerScope = Callable[[str | None], AbstractContextManager[None]]


def serve(
    event: Mapping[str, Any],
    context: LambdaContext | None,
    routes: Mapping[str, Route],
    *,
    deadline_seconds: float,
    caller_scope: CallerScope,
) -> dict[str, Any]:
    """Run the use case bound to the event's route key and answer as API Gateway expects."""
    correlation = str((event.get("requestContext") or {}).get("requestId") or "")
    try:
        route = routes.get(str(event.get("routeKey")))
        if route is None:
            raise NoRoute(str(event.get("rawPath") or event.get("routeKey")))
        call = Call(event, Deadline.capped(context, deadline_seconds))
        with caller_scope(call.caller):
            result = route(call)
        return _response(200, result.to_json(), {}, correlation)
    except Exception as error:  # every outcome, expected or not, becomes a problem document
        status, body, headers = outcome_to_http(error)
        return _response(status, body, headers, correlation)


def outcome_to_http(error: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The one place that decides HTTP statuses: (status, problem body, extra headers)."""
    if isinstance(error, BadRequest):
        return 400, problem(400, "Bad request", error.detail, error.errors), {}
    if isinstance(error, NumberFormatError):
        return 400, problem(400, "Bad request", error.message, [{"field": error.field, "message": error.message}]), {}
    if isinstance(error, NotRegistered):
        return 404, problem(404, "Not registered", str(error)), {}
    if isinstance(error, NoRoute):
        return 404, problem(404, "Not found", f"There is no route {error}."), {}
    if isinstance(error, TooManyRequests):
        retry = str(max(1, math.ceil(error.retry_after)))
        who = "from this client" if isinstance(error, CallerBudgetExceeded) else "for KVK just now"
        detail = f"Too many KVK lookups {who}; retry in {retry} seconds."
        return 429, problem(429, "Too many requests", detail), {"Retry-After": retry}
    if isinstance(error, Unavailable):
        retry = str(max(1, round(error.retry_after)))
        body = problem(503, "KVK unavailable", error.message, [{"field": "kvk", "message": error.code}])
        return 503, body, {"Retry-After": retry}
    logger.exception("unhandled error")
    return 500, problem(500, "Internal error", "Something went wrong on our side; it has been logged."), {}


def _response(status: int, body: dict[str, Any], headers: dict[str, str], correlation: str) -> dict[str, Any]:
    media = "application/json" if status < 400 else "application/problem+json"
    return {
        "statusCode": status,
        "headers": {"Content-Type": media, "X-Correlation-Id": correlation, **headers},
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }

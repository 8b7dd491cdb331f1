"""The HTTP API's plumbing: dispatch by route key, JSON bodies with limits, the caller, the deadline,
and the one map from outcomes to HTTP statuses and RFC 9457 problems.

Routes are declared once, in template.yaml; API Gateway puts the matched route in the event's
``routeKey`` and answers unknown paths itself, so a handler only binds route keys to use cases.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import math
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline, LambdaContext
from kvkgate.domain.contracts import MAX_BODY_BYTES, Contract, field_errors
from kvkgate.domain.numbers import NumberFormatError
from kvkgate.domain.outcomes import (
    CallerBudgetExceeded,
    NotRegistered,
    PaidLookupRefused,
    TooManyRequests,
    Unavailable,
)
from kvkgate.domain.ports import Caller
from kvkgate.texts import Language, from_accept_language, say, speaking

logger = logging.getLogger(__name__)
# RFC 9457: the problem's kind is its HTTP status (and ``code``); no documentation host is invented.
PROBLEM_TYPE = "about:blank"
# Bodies are flat objects; anything deeper, longer or bigger than this is not a request of ours.
MAX_NESTING = 8
MAX_NUMBER_DIGITS = 20
MAX_STRING_CHARS = 1024


class BadRequest(Exception):
    """The request is not well-formed; ``errors`` name each field and why."""

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NoRoute(Exception):
    """The event names a route this function does not serve."""


class AuthenticationRequired(Exception):
    """A paid route was called anonymously (the gateway should have refused it; this is the second lock)."""


def read_json[Model: BaseModel](body: str | None, is_base64: bool, model: type[Model]) -> Model:
    """Parse and validate a JSON object body; anything else is a :class:`BadRequest`."""
    raw = (body or "").encode("utf-8", "surrogatepass")
    if is_base64:
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _body_error(say("body.not_base64")) from None
    if len(raw) > MAX_BODY_BYTES:
        raise _body_error(say("body.too_large", limit=MAX_BODY_BYTES))
    data = _parse(raw)
    if not isinstance(data, dict):
        raise _body_error(say("body.not_object"))
    return _validated(model, data)


def _validated[Model: BaseModel](model: type[Model], data: Mapping[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BadRequest(say("problem.INVALID_REQUEST"), field_errors(error)) from None


def _body_error(detail: str) -> BadRequest:
    return BadRequest(detail, [{"field": "body", "message": detail}])


def _parse(raw: bytes) -> Any:
    """Strict JSON: bounded nesting (checked before parsing, so no recursion limit is ever hit),
    bounded numbers and strings, no duplicate keys, no NaN, valid Unicode only."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_json(say("body.why.not_utf8")) from None
    if not text.strip():
        raise _not_json(say("body.why.empty"))
    if _nesting(text) > MAX_NESTING:
        raise _not_json(say("body.why.nested", limit=MAX_NESTING))
    try:
        data = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
            parse_constant=_no_constant,
        )
        _check_strings(data)
        return data
    except _Refused as refused:
        raise _not_json(str(refused)) from None
    except ValueError:  # JSONDecodeError, and int()'s own digit limit
        raise _not_json(say("body.why.syntax")) from None


class _Refused(ValueError):
    pass


def _not_json(why: str) -> BadRequest:
    return BadRequest(say("body.not_json", why=why), [{"field": "body", "message": why}])


def _nesting(text: str) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Two readers of one body must not see two different requests.
            raise _Refused(say("body.why.twice"))
        result[key] = value
    return result


def _check_strings(value: Any) -> None:
    """Every key and string is Unicode text of a bounded length (the nesting is bounded already)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)
    elif isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise _Refused(say("body.why.long_string", limit=MAX_STRING_CHARS))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused(say("body.why.surrogate")) from None


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _Refused(say("body.why.long_number", limit=MAX_NUMBER_DIGITS))
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS + 8:
        raise _Refused(say("body.why.long_number", limit=MAX_NUMBER_DIGITS))
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(say("body.why.number_range"))
    return number


def _no_constant(name: str) -> Any:
    raise _Refused(say("body.why.constant", name=name))


def problem(status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """An RFC 9457 problem document; ``code`` is the stable, machine-readable kind, the title the
    status phrase in the caller's language."""
    return {
        "type": PROBLEM_TYPE,
        "title": say(f"problem.title.{status}"),
        "status": status,
        "code": code,
        "detail": detail,
        "errors": errors or [],
    }


def caller_of(event: Mapping[str, Any]) -> Caller:
    """Who pays for this request's KVK lookups: the authenticated client (JWT client id, IAM
    identity), else the network it came from: an IPv4 address, or the /64 an IPv6 address is in
    (one subscriber owns at least a whole /64, so a budget per address would not bind them)."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    client = claims.get("client_id") or claims.get("azp")
    if isinstance(client, str) and client:
        return Caller(f"client:{client}", anonymous=False)
    iam = authorizer.get("iam") or {}
    identity = iam.get("userArn") or iam.get("callerId")
    if isinstance(identity, str) and identity:
        return Caller(f"iam:{identity}", anonymous=False)
    return Caller(network_of((context.get("http") or {}).get("sourceIp")), anonymous=True)


def network_of(source: object) -> str:
    try:
        address = ipaddress.ip_address(str(source))
    except ValueError:
        return "ip:unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"net:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


@dataclass(frozen=True)
class Call:
    """One API request as a use case sees it."""

    event: Mapping[str, Any]
    deadline: Deadline

    def body[Model: BaseModel](self, model: type[Model]) -> Model:
        return read_json(self.event.get("body"), bool(self.event.get("isBase64Encoded")), model)

    def query[Model: BaseModel](self, model: type[Model]) -> Model:
        """The query string's parameters as ``model`` (API Gateway joins a repeated one with commas)."""
        parameters = self.event.get("queryStringParameters") or {}
        return _validated(model, {str(name): str(value) for name, value in parameters.items()})

    def path(self, name: str) -> str:
        return str((self.event.get("pathParameters") or {}).get(name, ""))

    @property
    def caller(self) -> Caller:
        return caller_of(self.event)


Route = Callable[[Call], Contract]
CallerScope = Callable[[Caller | None], AbstractContextManager[None]]


def serve(
    event: Mapping[str, Any],
    context: LambdaContext | None,
    routes: Mapping[str, Route],
    *,
    deadline_seconds: float,
    caller_scope: CallerScope,
    authenticated_routes: Collection[str] = (),
    default_language: Language = "en",
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """Run the use case bound to the event's route key and answer as API Gateway expects.

    ``authenticated_routes`` refuse anonymous callers here too: the gateway's authorizer is the
    first lock, this the second (another route or API wired to this function without one).
    Texts are in the language ``Accept-Language`` prefers (``nl`` or ``en``), else the default.
    """
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    language = from_accept_language(headers.get("accept-language"), default_language)
    with speaking(language):
        response = _serve(event, context, routes, deadline_seconds, caller_scope, authenticated_routes, clock)
    response["headers"]["Content-Language"] = language
    return response


def _serve(
    event: Mapping[str, Any],
    context: LambdaContext | None,
    routes: Mapping[str, Route],
    deadline_seconds: float,
    caller_scope: CallerScope,
    authenticated_routes: Collection[str],
    clock: Clock,
) -> dict[str, Any]:
    correlation = str((event.get("requestContext") or {}).get("requestId") or "")
    try:
        route_key = str(event.get("routeKey"))
        route = routes.get(route_key)
        if route is None:
            raise NoRoute(str(event.get("rawPath") or route_key))
        call = Call(event, Deadline.capped(context, deadline_seconds, clock))
        caller = call.caller
        if route_key in authenticated_routes and caller.anonymous:
            raise AuthenticationRequired(route_key)
        with caller_scope(caller):
            result = route(call)
        return _response(200, result.to_json(), {}, correlation)
    except Exception as error:  # every outcome, expected or not, becomes a problem document
        status, body, headers = outcome_to_http(error)
        return _response(status, body, headers, correlation)


def outcome_to_http(error: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The one place that decides HTTP statuses: (status, problem body, extra headers)."""
    if isinstance(error, BadRequest):
        return 400, problem(400, "INVALID_REQUEST", error.detail, error.errors), {}
    if isinstance(error, NumberFormatError):
        errors = [{"field": error.field, "message": error.message}]
        return 400, problem(400, "INVALID_FORMAT", error.message, errors), {}
    if isinstance(error, AuthenticationRequired):
        return 403, problem(403, "AUTHENTICATION_REQUIRED", say("problem.AUTHENTICATION_REQUIRED")), {}
    if isinstance(error, NotRegistered):
        return 404, problem(404, "NOT_REGISTERED", say("reason.NOT_REGISTERED", kvk=error.kvk_number)), {}
    if isinstance(error, NoRoute):
        return 404, problem(404, "NO_SUCH_ROUTE", say("problem.NO_SUCH_ROUTE", route=str(error)[:200])), {}
    if isinstance(error, TooManyRequests):
        return _too_many(error)
    if isinstance(error, Unavailable):
        retry = str(max(1, round(error.retry_after)))
        body = problem(503, error.code, error.message, [{"field": "kvk", "message": error.code}])
        return 503, body, {"Retry-After": retry}
    logger.exception("unhandled error")
    return 500, problem(500, "INTERNAL_ERROR", say("problem.INTERNAL_ERROR")), {}


def _too_many(error: TooManyRequests) -> tuple[int, dict[str, Any], dict[str, str]]:
    retry = str(max(1, math.ceil(error.retry_after)))
    if isinstance(error, CallerBudgetExceeded):
        code = "CALLER_LIMIT_REACHED"
    elif isinstance(error, PaidLookupRefused):
        code = "PAID_LOOKUPS_LIMITED"
    else:
        code = "KVK_BUSY"
    return 429, problem(429, code, say(f"problem.{code}", retry=retry)), {"Retry-After": retry}


def _response(status: int, body: dict[str, Any], headers: dict[str, str], correlation: str) -> dict[str, Any]:
    media = "application/json" if status < 400 else "application/problem+json"
    return {
        "statusCode": status,
        "headers": {"Content-Type": media, "X-Correlation-Id": correlation, **headers},
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }

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

from kvkgate import telemetry
from kvkgate.app import misconfiguration, strict_json
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline, LambdaContext
from kvkgate.config import ConfigError
from kvkgate.domain.contracts import MAX_BODY_BYTES, Contract, field_errors
from kvkgate.domain.numbers import NumberFormatError
from kvkgate.domain.outcomes import (
    CONFIGURATION_ERROR,
    CallerBudgetExceeded,
    NotRegistered,
    PaidLookupRefused,
    TooManyRequests,
    Unavailable,
)
from kvkgate.domain.ports import Caller, Group
from kvkgate.texts import Language, from_accept_language, say, speaking

logger = logging.getLogger(__name__)
# RFC 9457: the problem's kind is its HTTP status (and ``code``); no documentation host is invented.
PROBLEM_TYPE = "about:blank"


class BadRequest(Exception):
    """The request is not well-formed; ``errors`` name each field and why."""

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NoRoute(Exception):
    """The event names a route this function does not serve."""


class UnsupportedMediaType(Exception):
    """A body that is not declared as JSON. A browser sends such a "simple" request cross-site without
    asking first (no CORS preflight), so accepting it would let any website spend its visitors' budgets."""


class OriginNotAllowed(Exception):
    """A browser request from an origin outside CorsAllowOrigins."""


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
    try:
        return strict_json.loads(raw)
    except strict_json.NotJson as refused:
        raise BadRequest(say("body.not_json", why=refused.why), [{"field": "body", "message": refused.why}]) from None


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


# An IPv6 subscriber gets a /64 at least, often a /56 or a /48: a /64 is one caller, and the /56 and
# /48 around it share budgets of 4 and 16 callers, so a /48 is not 65,536 callers.
IPV6_GROUPS = ((56, 4), (48, 16))
# All signed-in users of one app client together: this many users' budgets.
CLIENT_SCALE = 50


def _headers(event: Mapping[str, Any]) -> dict[str, Any]:
    return {str(name).lower(): value for name, value in _object(event.get("headers")).items()}


def _declares_json(content_type: object) -> bool:
    """``application/json``, with parameters (``; charset=utf-8``) or not, in any case."""
    if not isinstance(content_type, str):
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def _origin_allowed(origin: object, allowed: Collection[str]) -> bool:
    """No Origin (a server, curl) or no allow-list: nothing to check. Otherwise the origin must be listed."""
    if not allowed or not isinstance(origin, str) or "*" in allowed:
        return True
    return origin.strip().rstrip("/").lower() in allowed


def caller_of(event: Mapping[str, Any]) -> Caller:
    """Who pays for this request's KVK lookups: a JWT's user within its app client (both budgets),
    an IAM role or user (an assumed role's session name does not make a new caller), else the network
    it came from: an IPv4 address, or the /64 an IPv6 address is in, within its /56 and /48."""
    context = _object(event.get("requestContext"))
    authorizer = _object(context.get("authorizer"))
    claims = _object(_object(authorizer.get("jwt")).get("claims"))
    client = _jwt_client(claims)
    if client:
        subject = claims.get("sub")
        if isinstance(subject, str) and subject and subject != client:
            return Caller(
                f"user:{client}/{subject}", anonymous=False, groups=(Group(f"client:{client}", CLIENT_SCALE),)
            )
        return Caller(f"client:{client}", anonymous=False)
    iam = _object(authorizer.get("iam"))
    identity = _iam_identity(iam.get("userArn")) or _iam_identity(iam.get("callerId"))
    if identity:
        return Caller(f"iam:{identity}", anonymous=False)
    return network_caller(_object(context.get("http")).get("sourceIp"))


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _jwt_client(claims: Mapping[str, Any]) -> str | None:
    """The app client a token was issued to: ``client_id`` (access tokens), ``azp``, or ``aud`` (ID
    tokens, which API Gateway's JWT authorizer checks against the configured audience)."""
    for claim in ("client_id", "azp", "aud"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip("[] "):
            return value.strip("[] ").split()[0]  # API Gateway writes a list claim as "[a b]"
    return None


def _iam_identity(value: object) -> str | None:
    """The role, not the session: ``…:assumed-role/Role/session`` and ``AROA…:session`` name one role."""
    if not isinstance(value, str) or not value:
        return None
    if ":assumed-role/" in value:
        return value.rsplit("/", 1)[0] if value.count("/") >= 2 else value
    if value.startswith("AROA") and ":" in value:
        return value.split(":", 1)[0]
    return value


def network_caller(source: object) -> Caller:
    key = network_of(source)
    groups: tuple[Group, ...] = ()
    if key.startswith("net:"):
        address = ipaddress.ip_address(str(source))
        groups = tuple(
            Group(f"net:{ipaddress.ip_network(f'{address}/{prefix}', strict=False)}", scale)
            for prefix, scale in IPV6_GROUPS
        )
    return Caller(key, anonymous=True, groups=groups)


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
        if not _declares_json(_headers(self.event).get("content-type")):
            raise UnsupportedMediaType
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
    allowed_origins: Collection[str] = (),
    default_language: Language = "en",
    clock: Clock = SYSTEM_CLOCK,
    ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the use case bound to the event's route key and answer as API Gateway expects.

    ``authenticated_routes`` refuse anonymous callers here too: the gateway's authorizer is the
    first lock, this the second (another route or API wired to this function without one).
    ``allowed_origins`` (CorsAllowOrigins) refuse a browser request from any other origin before
    anything is spent. Texts are in the language ``Accept-Language`` prefers (``nl`` or ``en``), else the default.
    ``ready`` raises when the function cannot serve at all (a setting it needs is missing).
    """
    headers = _headers(event)
    language = from_accept_language(headers.get("accept-language"), default_language)
    with speaking(language):
        if _origin_allowed(headers.get("origin"), allowed_origins):
            response = _serve(
                event, context, routes, deadline_seconds, caller_scope, authenticated_routes, clock, ready
            )
        else:
            status, body, extra = outcome_to_http(OriginNotAllowed())
            response = _response(status, body, extra, str(_object(event.get("requestContext")).get("requestId") or ""))
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
    ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    correlation = str((event.get("requestContext") or {}).get("requestId") or "")
    try:
        if ready is not None:
            ready()
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
        return _response(200, result.to_json(), result.response_headers(), correlation)
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
    if isinstance(error, UnsupportedMediaType):
        detail = say("problem.UNSUPPORTED_MEDIA_TYPE")
        return 415, problem(415, "UNSUPPORTED_MEDIA_TYPE", detail, [{"field": "Content-Type", "message": detail}]), {}
    if isinstance(error, OriginNotAllowed):
        return 403, problem(403, "ORIGIN_NOT_ALLOWED", say("problem.ORIGIN_NOT_ALLOWED")), {}
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
        body = problem(503, error.code, error.message)  # about no field of the request: ``errors`` stays empty
        return 503, body, {"Retry-After": retry}
    if isinstance(error, ConfigError):
        # Not an outage (no Retry-After: waiting changes nothing) and no setting named to the caller;
        # the log and the alarm tell the operator which one.
        misconfiguration.report(error)
        return 500, problem(500, CONFIGURATION_ERROR, say("problem.CONFIGURATION_ERROR")), {}
    logger.exception("unhandled error")
    telemetry.count("InternalErrors")
    return 500, problem(500, "INTERNAL_ERROR", say("problem.INTERNAL_ERROR")), {}


def misconfigured(event: Mapping[str, Any], error: ConfigError, default_language: Language = "en") -> dict[str, Any]:
    """The answer when the function's own settings cannot be read, before anything can be served."""
    headers = _headers(event)
    language = from_accept_language(headers.get("accept-language"), default_language)
    with speaking(language):
        status, body, extra = outcome_to_http(error)
        response = _response(status, body, extra, str(_object(event.get("requestContext")).get("requestId") or ""))
    response["headers"]["Content-Language"] = language
    return response


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

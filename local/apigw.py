"""API Gateway HTTP API (payload format 2.0) without AWS: events, route matching, a WSGI front.

``http_event`` builds the event API Gateway would send; :class:`HttpApi` matches a request to
the template's HttpApi routes, applies the template's access rules (:class:`RouteAccess`) and
invokes the function in-process; ``HttpApi.wsgi`` serves it over HTTP (schemathesis, the local
stack).

Access is checked as API Gateway decides it, but offline: an IAM route needs a SigV4
``Authorization`` header (its signature is not verified: there are no credentials to verify it
against), a JWT route a bearer token whose issuer, audience and expiry match the template's
parameters (its signature is not verified: there is no key set offline). What the function sees
(``requestContext.authorizer``) is what API Gateway would pass.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from local.lambda_runtime import FunctionSpec, LambdaContext, load_handler

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def http_event(
    method: str,
    path: str,
    body: str | bytes | dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    query: str = "",
    route_key: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "198.51.100.7",
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as ``sam local invoke -e`` would take it."""
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    encoded = False
    text: str | None = None
    if isinstance(body, dict):
        text = json.dumps(body)
        headers.setdefault("content-type", "application/json")
    elif isinstance(body, bytes):
        try:
            text = body.decode()
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
    else:
        text = body
    now = dt.datetime.now(dt.UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "localhost", "user-agent": "kvkgate-local", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", "kvkgate-local"),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if text is not None:
        event["body"] = text
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if authorizer:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


# Not an AWS key (no AKIA prefix): the emulator only checks the header's shape.
LOCAL_ACCESS_KEY = "LOCALKVKGATEDEMO0001"


def sigv4_authorization(access_key: str = LOCAL_ACCESS_KEY, when: dt.datetime | None = None) -> str:
    """An ``Authorization`` header shaped like a SigV4 signature (the emulator does not verify it)."""
    day = (when or dt.datetime.now(dt.UTC)).strftime("%Y%m%d")
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{day}/eu-west-1/execute-api/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )


def unsigned_jwt(claims: Mapping[str, Any]) -> str:
    """A JWT with these claims and no signature: enough for the emulator, useless against AWS."""

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class Refused(Exception):
    """What API Gateway answers itself, without invoking the function."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RouteAccess:
    """Who may call which route: the template's HttpApi OpenAPI ``security``, for given parameters."""

    security: Mapping[str, tuple[str, ...]]  # route key -> schemes ("jwt", "sigv4"); absent or empty: anyone
    jwt_issuer: str = ""
    jwt_audience: tuple[str, ...] = ()

    @classmethod
    def from_template(cls, parameters: Mapping[str, str] | None = None) -> RouteAccess:
        from local.aws_resources import Resolver, load_template

        template = load_template()
        resolver = Resolver(template, dict(parameters or {}), {})
        api = template["Resources"]["HttpApi"]["Properties"]
        body = resolver.value(api.get("DefinitionBody") or {})
        security = {
            f"{method.upper()} {path}": tuple(
                name for requirement in operation.get("security") or [] for name in requirement
            )
            for path, operations in (body.get("paths") or {}).items()
            for method, operation in operations.items()
        }
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        jwt = ((schemes.get("jwt") or {}).get("x-amazon-apigateway-authorizer") or {}).get("jwtConfiguration") or {}
        audience = tuple(str(item) for item in jwt.get("audience") or [] if item)
        return cls(security, str(jwt.get("issuer") or ""), audience)

    def authorize(self, route_key: str, headers: Mapping[str, str], now: float) -> dict[str, Any] | None:
        """The authorizer context for the function, None for an open route; :class:`Refused` otherwise."""
        schemes = self.security.get(route_key) or ()
        if not schemes:
            return None
        authorization = headers.get("authorization", "")
        if "jwt" in schemes:
            return {"jwt": {"claims": self._claims(authorization, now), "scopes": None}}
        access_key = re.match(r"AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})/", authorization)
        if access_key is None:
            raise Refused(403, "Forbidden")
        key = access_key.group(1)
        return {
            "iam": {
                "accessKey": key,
                "accountId": "123456789012",
                "callerId": key,
                "userArn": f"arn:aws:iam::123456789012:user/{key.lower()}",
                "userId": key,
            }
        }

    def _claims(self, authorization: str, now: float) -> dict[str, Any]:
        token = authorization.removeprefix("Bearer ").strip()
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            raise Refused(401, "Unauthorized") from None
        if not isinstance(claims, dict) or claims.get("iss") != self.jwt_issuer:
            raise Refused(401, "Unauthorized")
        audience = claims.get("aud")
        audiences: list[Any] = audience if isinstance(audience, list) else [audience]
        if not {*audiences, claims.get("client_id")} & set(self.jwt_audience):
            raise Refused(401, "Unauthorized")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
            raise Refused(401, "Unauthorized")
        return {name: str(value) for name, value in claims.items()}


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    regex = "".join(
        f"(?P<{part[1:-1].rstrip('+')}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


class HttpApi:
    """The template's HttpApi routes, dispatched to the real handlers in this process."""

    def __init__(
        self,
        specs: Iterable[FunctionSpec],
        access: RouteAccess | None = None,
        host: Callable[[FunctionSpec], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.routes = [(route, _pattern(route.path), spec) for spec in specs for route in spec.routes]
        self.access = access or RouteAccess.from_template()
        # Each call inside its function's own environment (make run); by default the process's.
        self.host = host or (lambda spec: contextlib.nullcontext())

    def match(self, method: str, path: str) -> tuple[FunctionSpec, str, dict[str, str]] | None:
        for route, pattern, spec in self.routes:
            found = pattern.match(path)
            if found and route.method == method:
                return spec, f"{route.method} {route.path}", found.groupdict()
        return None

    def handle(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str], query: str, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        matched = self.match(method, path)
        if matched is None:
            # What API Gateway itself answers for a route it does not have.
            return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
        spec, route_key, parameters = matched
        headers = {name.lower(): value for name, value in headers.items()}
        try:
            authorizer = self.access.authorize(route_key, headers, time.time())
        except Refused as refused:
            return (
                refused.status,
                {"content-type": "application/json"},
                json.dumps({"message": refused.message}).encode(),
            )
        event = http_event(method, path, body or None, headers, query, route_key, parameters, source_ip, authorizer)
        with self.host(spec):
            result = load_handler(spec)(event, LambdaContext(spec))
        return _from_result(result)

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        status, response_headers, payload = self.handle(
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", "/"),
            body,
            headers,
            environ.get("QUERY_STRING", ""),
            environ.get("REMOTE_ADDR", "127.0.0.1"),
        )
        start_response(
            f"{status} {_REASONS.get(status, 'Status')}",
            [*response_headers.items(), ("content-length", str(len(payload)))],
        )
        return [payload]


def _from_result(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Payload 2.0 response rules: a dict with statusCode, or any JSON value as a 200."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(str(value) for value in values)
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, payload


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

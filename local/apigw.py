"""API Gateway HTTP API (payload format 2.0) without AWS: events, route matching, a WSGI front.

``http_event`` builds the event API Gateway would send; :class:`HttpApi` matches a request to
the template's HttpApi routes and invokes the function in-process; ``HttpApi.wsgi`` serves it
over HTTP (schemathesis, the local stack).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
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
    return event


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    regex = "".join(
        f"(?P<{part[1:-1].rstrip('+')}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


class HttpApi:
    """The template's HttpApi routes, dispatched to the real handlers in this process."""

    def __init__(self, specs: Iterable[FunctionSpec]) -> None:
        self.routes = [(route, _pattern(route.path), spec) for spec in specs for route in spec.routes]

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
        event = http_event(method, path, body or None, headers, query, route_key, parameters, source_ip)
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
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

"""HTTP plumbing shared by API handlers: JSON bodies with a size limit, RFC 9457 problems, caller, deadline."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from kvkgate.clock import Deadline, LambdaContext
from kvkgate.contracts import MAX_BODY_BYTES

PROBLEM_TYPE = "https://github.com/kvkgate/kvkgate/blob/main/docs/problems.md#"


class BadRequest(Exception):
    """The request is not well-formed; ``errors`` name each field and why."""

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``{"field", "message"}``, field names as the client sent them."""
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append({"field": field, "message": message})
    return problems


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


def caller_of(event: dict[str, Any]) -> str | None:
    """The API client id when an authorizer set one, else the source IP."""
    context = event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    client_id = claims.get("client_id") or claims.get("azp")
    if isinstance(client_id, str) and client_id:
        return f"client:{client_id}"
    source = (context.get("http") or {}).get("sourceIp")
    return f"ip:{source}" if isinstance(source, str) and source else None


def request_deadline(context: LambdaContext | None, cap_seconds: float) -> Deadline:
    """The HTTP path's deadline: short, and inside the Lambda's remaining time."""
    if context is None:
        return Deadline.after(cap_seconds)
    allowed = Deadline.from_lambda_context(context)
    capped = Deadline.after(cap_seconds)
    return allowed if allowed.at < capped.at else capped

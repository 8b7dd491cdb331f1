"""HTTP API (design §4): POST /v1/validations, GET /v1/companies/{kvkNumber}, POST /v1/trade-names/check.

Thin: parse the request, call the layer, shape the response. Every HTTP status is decided here,
in the exception handlers below, and nowhere else.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import companies, runtime, telemetry, verify
from kvkgate.callers import caller_scope
from kvkgate.clock import Deadline
from kvkgate.config import settings
from kvkgate.contracts import Contract, TradeNameCheckRequest, ValidationRequest
from kvkgate.errors import CallerBudgetExceeded, NotRegistered, Unavailable
from kvkgate.numbers import NumberFormatError
from kvkgate.web import BadRequest, caller_of, problem, read_json, request_deadline

logger = Logger()
app = APIGatewayHttpResolver()
metrics = telemetry.metrics()
ALLOWED = {
    re.compile(r"^/v1/validations/?$"): "POST",
    re.compile(r"^/v1/trade-names/check/?$"): "POST",
    re.compile(r"^/v1/companies/[^/]+/?$"): "GET",
}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    media = "application/json" if status < 400 else "application/problem+json"
    correlation = {"X-Correlation-Id": logger.get_correlation_id() or ""}
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(status_code=status, content_type=media, body=content, headers={**correlation, **(headers or {})})


def _ok(result: Contract) -> Response[Any]:
    return _json(200, result.to_json())


def _body[T: Contract](model: type[T]) -> T:
    event = app.current_event
    return read_json(event.body, bool(event.is_base64_encoded), model)


def _deadline() -> Deadline:
    return request_deadline(app.lambda_context, settings().http_deadline_seconds)


@app.post("/v1/validations")
def validations() -> Response[Any]:
    request = _body(ValidationRequest)
    with caller_scope(caller_of(app.current_event.raw_event)):
        result = verify.validate(request, runtime.lookups(), _deadline(), runtime.now(), runtime.policy())
    metrics.add_metric(name=f"Verdict{result.verdict.capitalize()}", unit="Count", value=1)
    return _ok(result)


@app.get("/v1/companies/<kvk_number>")
def company(kvk_number: str) -> Response[Any]:
    with caller_scope(caller_of(app.current_event.raw_event)):
        return _ok(companies.company_summary(kvk_number, runtime.lookups(), _deadline(), runtime.now()))


@app.post("/v1/trade-names/check")
def trade_name_check() -> Response[Any]:
    request = _body(TradeNameCheckRequest)
    with caller_scope(caller_of(app.current_event.raw_event)):
        result = companies.check_trade_name(
            request, runtime.lookups(), _deadline(), runtime.now(), runtime.policy().thresholds
        )
    return _ok(result)


# -- the one place that maps outcomes to HTTP ---------------------------------------------------


@app.exception_handler(BadRequest)
def bad_request(error: BadRequest) -> Response[Any]:
    return _json(400, problem(400, "Bad request", error.detail, error.errors))


@app.exception_handler(NumberFormatError)
def malformed_number(error: NumberFormatError) -> Response[Any]:
    return _json(400, problem(400, "Bad request", error.message, [{"field": error.field, "message": error.message}]))


@app.exception_handler(NotRegistered)
def not_registered(error: NotRegistered) -> Response[Any]:
    return _json(404, problem(404, "Not registered", str(error)))


@app.exception_handler(CallerBudgetExceeded)
def caller_budget(error: CallerBudgetExceeded) -> Response[Any]:
    retry = str(max(1, round(error.retry_after)))
    detail = f"Too many KVK lookups from this client; retry in {retry} seconds."
    return _json(429, problem(429, "Too many requests", detail), {"Retry-After": retry})


@app.exception_handler(Unavailable)
def unavailable(error: Unavailable) -> Response[Any]:
    retry = str(max(1, round(error.retry_after)))
    return _json(
        503,
        problem(503, "KVK unavailable", error.message, [{"field": "kvk", "message": error.code}]),
        {"Retry-After": retry},
    )


@app.not_found
def not_found(error: Exception) -> Response[Any]:
    path = app.current_event.path
    allowed = next((method for pattern, method in ALLOWED.items() if pattern.match(path)), None)
    if allowed == app.current_event.http_method:
        # The route exists but its parameter has characters no KVK number has.
        detail = "kvkNumber must be 8 digits"
        return _json(400, problem(400, "Bad request", detail, [{"field": "kvkNumber", "message": detail}]))
    if allowed:
        detail = f"{app.current_event.http_method} is not allowed here; use {allowed}."
        return _json(405, problem(405, "Method not allowed", detail), {"Allow": allowed})
    return _json(404, problem(404, "Not found", f"There is no route {path}."))


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    return _json(500, problem(500, "Internal error", "Something went wrong on our side; it has been logged."))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="Requests", unit="Count", value=1)
    return app.resolve(event, context)

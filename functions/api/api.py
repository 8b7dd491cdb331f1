"""HTTP API (design §4): template.yaml declares the routes; this binds each route key to its use case."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry
from kvkgate.app import watch as watching
from kvkgate.app.http import Call, misconfigured, serve
from kvkgate.config import ConfigError
from kvkgate.domain import companies, search, verify
from kvkgate.domain.contracts import Contract, SearchRequest, TradeNameCheckRequest, ValidationRequest, WatchRequest

logger = Logger()
metrics = telemetry.metrics()


def validations(call: Call) -> Contract:
    env = root.environment()
    result = verify.validate(call.body(ValidationRequest), env.registry, call.deadline, env.now(), env.policy)
    metrics.add_metric(name=f"Verdict{result.verdict.capitalize()}", unit="Count", value=1)
    return result


def watches(call: Call) -> Contract:
    """A validation whose company is then watched for the customer (authenticated: it costs a call a month)."""
    env = root.environment()
    request = call.body(WatchRequest)
    result = verify.validate(request, env.registry, call.deadline, env.now(), env.policy)
    metrics.add_metric(name=f"Verdict{result.verdict.capitalize()}", unit="Count", value=1)
    if env.watch_list is not None:
        watching.record(env.watch_list, result, request.customer_id, env.registry, call.deadline)
    return result


def company_search(call: Call) -> Contract:
    env = root.environment()
    request = call.query(SearchRequest)
    count = env.settings.search_completions
    return search.suggest(request, env.registry, call.deadline, env.now(), env.completions, count)


def company(call: Call) -> Contract:
    env = root.environment()
    return companies.company_summary(call.path("kvkNumber"), env.registry, call.deadline, env.now())


def trade_name_check(call: Call) -> Contract:
    env = root.environment()
    request = call.body(TradeNameCheckRequest)
    return companies.check_trade_name(request, env.registry, call.deadline, env.now())


ROUTES = {
    "POST /v1/validations": validations,
    "GET /v1/companies": company_search,
    "GET /v1/companies/{kvkNumber}": company,
    "POST /v1/trade-names/check": trade_name_check,
    "POST /v1/watches": watches,
}
# Every call of these pays KVK: authenticated callers only, unless PUBLIC_PAID_ROUTES opens them.
PAID_ROUTES = ("GET /v1/companies/{kvkNumber}", "POST /v1/trade-names/check")
# A watch costs a call a month for as long as it lasts, and no anonymous cap counts it: never opened.
ALWAYS_AUTHENTICATED = ("POST /v1/watches",)


# What this function cannot serve without (template.yaml sets them): checked before each request's
# work, without I/O; the secrets they name are checked where they are first read.
SETTINGS = ("TABLE_NAME", "KVK_API_KEY_SECRET_ID", "CALLER_KEY_SECRET_ID")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="Requests", unit="Count", value=1)
    try:
        env = root.environment()
    except ConfigError as error:  # a setting holds a value the layer cannot use
        return misconfigured(event, error)
    return serve(
        event,
        context,
        ROUTES,
        deadline_seconds=env.settings.http_deadline_seconds,
        caller_scope=env.caller_scope,
        authenticated_routes=ALWAYS_AUTHENTICATED + (() if env.settings.public_paid_routes else PAID_ROUTES),
        allowed_origins=env.settings.allowed_origins,
        default_language=env.settings.default_language,
        clock=env.clock,
        ready=lambda: env.require(*SETTINGS),
    )

"""HTTP API (design §4): template.yaml declares the routes; this binds each route key to its use case."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from kvkgate import root, telemetry
from kvkgate.app.http import Call, serve
from kvkgate.domain import companies, search, verify
from kvkgate.domain.contracts import Contract, SearchRequest, TradeNameCheckRequest, ValidationRequest

logger = Logger()
metrics = telemetry.metrics()


def validations(call: Call) -> Contract:
    env = root.environment()
    result = verify.validate(call.body(ValidationRequest), env.registry, call.deadline, env.now(), env.policy)
    metrics.add_metric(name=f"Verdict{result.verdict.capitalize()}", unit="Count", value=1)
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
}
# Every call of these pays KVK: authenticated callers only, unless PUBLIC_PAID_ROUTES opens them.
PAID_ROUTES = ("GET /v1/companies/{kvkNumber}", "POST /v1/trade-names/check")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="Requests", unit="Count", value=1)
    env = root.environment()
    return serve(
        event,
        context,
        ROUTES,
        deadline_seconds=env.settings.http_deadline_seconds,
        caller_scope=env.caller_scope,
        authenticated_routes=() if env.settings.public_paid_routes else PAID_ROUTES,
        allowed_origins=env.settings.allowed_origins,
        default_language=env.settings.default_language,
        clock=env.clock,
    )

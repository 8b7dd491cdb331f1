"""Company summary for prefill and the trade-name check: the paid profile and names, as responses."""

from __future__ import annotations

import datetime as dt

from kvkgate.clock import Deadline
from kvkgate.domain.contracts import (
    BestMatch,
    CompanySummary,
    Meta,
    ScoredName,
    TradeNameCheckRequest,
    TradeNameCheckResult,
    WordDifference,
)
from kvkgate.domain.names import best_match
from kvkgate.domain.numbers import parse_kvk_number
from kvkgate.domain.outcomes import NotRegistered
from kvkgate.domain.ports import Answer, Registry

MAX_CANDIDATES = 20


def _meta(answer: Answer[object], now: dt.datetime) -> Meta:
    return Meta.at(now, answer.source, answer.stale)


def company_summary(raw_kvk_number: str, registry: Registry, deadline: Deadline, now: dt.datetime) -> CompanySummary:
    """Raises NumberFormatError (malformed), NotRegistered, Unavailable."""
    kvk = parse_kvk_number(raw_kvk_number)
    answer = registry.profile(kvk, deadline)
    if answer.value is None:
        raise NotRegistered(kvk)
    return CompanySummary.model_validate({**dict(answer.value), "meta": _meta(answer, now)})


def check_trade_name(
    request: TradeNameCheckRequest,
    registry: Registry,
    deadline: Deadline,
    now: dt.datetime,
) -> TradeNameCheckResult:
    """Raises NumberFormatError, NotRegistered, Unavailable."""
    kvk = parse_kvk_number(request.kvk_number)
    answer = registry.names(kvk, deadline)
    if answer.value is None:
        raise NotRegistered(kvk)
    found = best_match(request.trade_name, list(answer.value))
    best = found.best
    return TradeNameCheckResult(
        kvk_number=kvk,
        trade_name=request.trade_name,
        result=found.result,
        score=found.score,
        best_match=BestMatch(
            name=best.candidate.name, name_type=best.candidate.name_type, branch_number=best.candidate.branch_number
        )
        if best and found.result != "mismatch"
        else None,
        compared_with=best.candidate.name if best else None,
        differences=[WordDifference(typed=item.typed, registered=item.registered) for item in found.differences],
        candidates=[
            ScoredName(
                name=item.candidate.name, name_type=item.candidate.name_type, score=item.score, result=item.result
            )
            for item in found.ranked[:MAX_CANDIDATES]
        ],
        meta=_meta(answer, now),
    )

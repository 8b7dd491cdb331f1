"""Hostile bodies and paths at every route: 400 (or an ordinary answer), never a 500.

Property-based (hypothesis): nesting far past any real request, numbers with thousands of digits,
odd and broken Unicode, duplicate keys, and garbage; plus the reproductions from the issue.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvkgate import root
from local.apigw import sigv4_authorization
from tests.api.conftest import Api

ACCEPTED = {200, 400, 404, 429, 503}
SIGNED = {"authorization": sigv4_authorization()}  # the paid routes too: past the gateway, into the function
BODY_ROUTES = [("POST", "/v1/validations"), ("POST", "/v1/trade-names/check")]
ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\u200b", "\u202e", "\ufeff", "\x00", "\x7f", "\U0001f600", "é", "ﬀ", "İ"]),
    ),
    max_size=40,
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ODD_TEXT)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4), max_leaves=20
)
FIELDS = st.sampled_from(["kvkNumber", "tradeName", "postcode", "houseNumber", "q", "x"])


def nested(depth: int, opener: str) -> str:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return opener * depth + "1" + closer * depth


def twice(field: tuple[str, str, str]) -> str:
    name, first, second = field
    return f'{{"{name}": {json.dumps(first)}, "{name}": {json.dumps(second)}}}'


RAW_BODIES = st.one_of(
    st.integers(min_value=1, max_value=4000).map(lambda depth: nested(depth, "[")),
    st.integers(min_value=1, max_value=1300).map(lambda depth: nested(depth, '{"a":')),
    st.integers(min_value=1, max_value=7000).map(lambda digits: '{"kvkNumber": ' + "9" * digits + "}"),
    st.sampled_from(['{"kvkNumber": 1e999999}', '{"kvkNumber": NaN}', '{"kvkNumber": -Infinity}', "[" * 3000]),
    st.sampled_from(['{"kvkNumber": "\\ud800"}', '{"tradeName": "\\udfff\\ud800", "kvkNumber": "68750110"}']),
    st.tuples(FIELDS, ODD_TEXT, ODD_TEXT).map(
        lambda f: f'{{"{f[0]}": {json.dumps(f[1])}, "{f[0]}": {json.dumps(f[2])}}}'
    ),
    JSON_VALUES.map(json.dumps),
    st.dictionaries(FIELDS, JSON_VALUES, max_size=4).map(json.dumps),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
)


@pytest.fixture
def hostile_api(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("CALLER_KVK_LOOKUPS_PER_MINUTE", "0")
    monkeypatch.setenv("CALLER_KVK_LOOKUPS_PER_DAY", "0")
    root.reset()
    return api


def assert_handled(answer: Any) -> None:
    assert answer.status in ACCEPTED, (answer.status, answer.body)
    assert isinstance(answer.body, dict)
    if answer.status >= 400:
        assert answer.body["type"] == "about:blank" and answer.body["code"] and answer.body["detail"]


@given(route=st.sampled_from(BODY_ROUTES), body=RAW_BODIES)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_hostile_bodies_are_answered_never_a_500(hostile_api: Api, route: tuple[str, str], body: str) -> None:
    raw = body.encode("utf-8", "surrogatepass")
    assert_handled(hostile_api.signed(route[0], route[1], None) if False else _send(hostile_api, route, raw))


def _send(api: Api, route: tuple[str, str], raw: bytes) -> Any:
    from local.apigw import sigv4_authorization

    return api.call(route[0], route[1], raw=raw, headers={"authorization": sigv4_authorization()})


@given(number=st.one_of(ODD_TEXT.filter(lambda text: text and "/" not in text), st.text(max_size=2000)))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_hostile_path_parameters_are_answered_never_a_500(hostile_api: Api, number: str) -> None:

    from local.apigw import sigv4_authorization

    if not number or "/" in number:
        return
    answer = hostile_api.call("GET", "/v1/companies/" + number, headers={"authorization": sigv4_authorization()})
    assert_handled(answer)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("[" * 3000, "nested"),
        ('{"kvkNumber": "68750110", "kvkNumber": "69599084"}', "twice"),
        ('{"kvkNumber": ' + "9" * 5000 + "}", "digits"),
        ('{"kvkNumber": "\\ud800"}', "surrogate"),
        ('{"kvkNumber": NaN}', "NaN"),
        ('{"tradeName": "' + "a" * 2000 + '", "kvkNumber": "68750110"}', "longer"),
    ],
)
def test_the_reproduced_attacks_are_400s_that_say_why(hostile_api: Api, body: str, why: str) -> None:
    answer = hostile_api.call("POST", "/v1/validations", raw=body.encode())
    assert (answer.status, answer.body["code"]) == (400, "INVALID_REQUEST")
    assert why in answer.body["detail"]
    assert answer.body["errors"][0]["field"] == "body"
    assert hostile_api.kvk_calls()["totalCalls"] == 0

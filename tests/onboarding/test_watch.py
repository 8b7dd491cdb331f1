"""Watching customers' companies through template.yaml's functions against the sandbox (issue #23):
a watched company deregistered in the sandbox yields exactly one KvkRegistrationEnded per customer,
and CustomerDeleted stops it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from kvkgate import root
from local.lambda_runtime import LambdaContext, functions, load_handler
from local.sandbox.server import registry
from tests.onboarding.conftest import Stack, signup_event
from tests.onboarding.test_gate import Later


def generated(index: int) -> dict[str, Any]:
    found = [r for r in registry().companies.values() if r.get("evidence") == "generated" and not r.get("datumEinde")]
    return found[index]


def invoke(logical_id: str, event: Any) -> Any:
    spec = functions()[logical_id]
    return load_handler(spec)(event, LambdaContext(spec))


def sign_up_through_the_worker(stack: Stack, monkeypatch: pytest.MonkeyPatch, number: str, *customers: str) -> None:
    assert stack.aws is not None
    stack.aws.as_deployed("OnboardingFunction", monkeypatch)  # WATCH_CUSTOMERS: the template's default, on
    records = [stack.record(json.dumps(signup_event(number, customer))) for customer in customers]
    assert stack.run_worker(records) == {"batchItemFailures": []}
    stack.results()  # the KvkVerificationCompleted events


def deregister(stack: Stack, number: str, minutes_ago: float = 5) -> None:
    stack.kvk(signal_delay_seconds=0)
    change = {"kvkNummer": number, "kind": "ended", "at": time.time() - minutes_ago * 60}
    assert httpx.post(stack.sandbox.url + "/__sandbox/mutations", json=change).status_code == 201


def poll_signals(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    assert stack.aws is not None
    stack.aws.as_deployed("WatchFunction", monkeypatch)
    monkeypatch.setenv("MUTATIESERVICE_SUBSCRIPTION", "auto")
    root.reset()
    report: dict[str, Any] = invoke("WatchFunction", {"task": "signals"})
    return report


def told(stack: Stack) -> list[tuple[str, str, str]]:
    return sorted(
        (event["detail-type"], event["detail"]["customerId"], event["detail"]["kvkNumber"])
        for event in stack.results()
        if event["detail-type"].startswith("KvkRegistration")
    )


def test_a_deregistered_company_is_told_once_to_each_customer_watching_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = generated(10)["kvkNummer"]
    sign_up_through_the_worker(stack, monkeypatch, number, "c-one", "c-two")
    deregister(stack, number)
    report = poll_signals(stack, monkeypatch)
    assert report["events"] == 2, report
    assert told(stack) == [("KvkRegistrationEnded", "c-one", number), ("KvkRegistrationEnded", "c-two", number)]
    poll_signals(stack, monkeypatch)  # the next poll overlaps the last minute: nothing new, nothing again
    assert told(stack) == []


def test_customer_deleted_stops_watching(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    number = generated(11)["kvkNummer"]
    sign_up_through_the_worker(stack, monkeypatch, number, "c-gone")
    deleted = {**signup_event(number, "c-gone"), "detail-type": "CustomerDeleted", "detail": {"customerId": "c-gone"}}
    (routed,) = stack.put_on_bus(deleted)  # the template's rule sends it to the worker
    assert stack.run_worker([routed]) == {"batchItemFailures": []}
    deregister(stack, number)
    poll_signals(stack, monkeypatch)
    assert told(stack) == []


def test_the_free_sweep_finds_an_ended_company_without_a_subscription(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.aws is not None
    number = generated(12)["kvkNummer"]
    sign_up_through_the_worker(stack, monkeypatch, number, "c-swept")
    deregister(stack, number)
    stack.aws.as_deployed("WatchFunction", monkeypatch)  # MUTATIESERVICE_SUBSCRIPTION empty: the sweep only
    root.reset()
    assert invoke("WatchFunction", {"task": "signals"})["signals"] == 0
    invoke("WatchFunction", {"task": "sweep"})  # the sweep starts at the current step
    root.install(root.Overrides(clock=Later(31 * 86_400)))  # a whole period later: every bucket was due
    try:
        report = invoke("WatchFunction", {"task": "sweep"})
    finally:
        root.reset()
    assert report["looked_at"] == 1
    assert told(stack) == [("KvkRegistrationEnded", "c-swept", number)]


def test_after_a_signal_the_cache_does_not_answer_with_what_was_true_before(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = generated(13)["kvkNummer"]
    sign_up_through_the_worker(stack, monkeypatch, number, "c-cached")  # the table now holds "active"
    deregister(stack, number)
    poll_signals(stack, monkeypatch)
    assert stack.aws is not None
    stack.aws.as_deployed("ApiFunction", monkeypatch)
    event = {
        "version": "2.0",
        "routeKey": "POST /v1/validations",
        "rawPath": "/v1/validations",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "sourceIp": "198.51.100.30"}, "requestId": "r-2"},
        "body": json.dumps({"kvkNumber": number}),
        "isBase64Encoded": False,
    }
    answer = json.loads(invoke("ApiFunction", event)["body"])
    # What the register says since the signal (the poller fetched it afresh), not the cached "active".
    assert (answer["verdict"], answer["reasons"][0]["code"]) == ("invalid", "INACTIVE")

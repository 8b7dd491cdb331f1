"""The onboarding, pre-sign-up and EventBridge samples in events/ run through their functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvkgate.app.presignup import SignUpRefused
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.onboarding.conftest import Stack

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def test_sqs_batch_sample(stack: Stack) -> None:
    spec = functions()["OnboardingFunction"]
    response = load_handler(spec)(load("onboarding-sqs-batch"), LambdaContext(spec))
    assert response == {"batchItemFailures": []}
    results = stack.results()
    by_customer = {event["detail"]["customerId"]: event["detail"]["verdict"] for event in results}
    # five messages: one of them a redelivery of the first, one unreadable (no customer id)
    assert len(results) == 4
    assert by_customer == {"c-123": "valid", None: "invalid", "c-125": "invalid", "c-124": "valid"}


def test_presignup_samples(stack: Stack) -> None:
    spec = functions()["PreSignUpFunction"]
    valid = load("presignup-valid")
    assert load_handler(spec)(valid, LambdaContext(spec)) == valid
    with pytest.raises(SignUpRefused, match="niet ingeschreven") as refused:  # SignupMessageLanguage: nl
        load_handler(spec)(load("presignup-not-registered"), LambdaContext(spec))
    assert refused.value.code == "NOT_REGISTERED"


def test_eventbridge_sample_reaches_the_worker(stack: Stack) -> None:
    records = stack.put_on_bus(load("eventbridge-customer-signed-up"))
    assert stack.run_worker(records) == {"batchItemFailures": []}
    assert [result["detail"]["verdict"] for result in stack.results()] == ["valid"]

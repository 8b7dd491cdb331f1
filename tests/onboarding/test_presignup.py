"""The Cognito pre-sign-up trigger: refuse invalid numbers in plain words, fail open (or not) on outages."""

from __future__ import annotations

from typing import Any

import pytest

from kvkgate import root
from kvkgate.app.presignup import SignUpRefused
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.onboarding.conftest import Stack


@pytest.fixture(autouse=True)
def as_deployed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger's own settings from template.yaml (the shared test environment leaves out what
    the functions disagree on): its short AWS timeouts and deadline, the gate's budget pool and rate
    schedule, free calls only."""
    assert stack.aws is not None
    stack.aws.as_deployed("PreSignUpFunction", monkeypatch)


def cognito_event(**attributes: str) -> dict[str, Any]:
    return {
        "version": "1",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_demo",
        "userName": "4b0d6a5e-0000-4000-8000-000000000001",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "client"},
        "triggerSource": "PreSignUp_SignUp",
        "request": {
            "userAttributes": {"email": "owner@example.nl", **attributes},
            "validationData": None,
            "clientMetadata": {"language": "en"},  # the trigger's default is Dutch (test_languages.py)
        },
        "response": {"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False},
    }


def sign_up(event: dict[str, Any]) -> Any:
    spec = functions()["PreSignUpFunction"]
    return load_handler(spec)(event, LambdaContext(spec))


def test_valid_number_and_name_sign_up(stack: Stack) -> None:
    event = cognito_event(**{"custom:kvk_number": "6959 9084", "custom:company_name": "Test EMZ Dagobert"})
    assert sign_up(event) == event
    assert stack.results() == []


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"custom:kvk_number": "12345678"}, "KVK number 12345678 is not registered with KVK."),
        ({"custom:kvk_number": "1234"}, "‘1234’ is not a KVK number: a KVK number has 8 digits."),
        ({"custom:kvk_number": "96354429"}, "KVK number 96354429 is registered but no longer active."),
        ({}, "Please enter the KVK number of your company."),
        (
            {"custom:kvk_number": "68750110", "custom:company_name": "Test NV Katrien"},
            "‘Test NV Katrien’ is not a name registered for KVK number 68750110."
            " KVK knows this company as ‘Test BV Donald’.",
        ),
    ],
)
def test_invalid_sign_ups_are_refused_with_a_sentence(stack: Stack, attributes: dict[str, str], message: str) -> None:
    with pytest.raises(SignUpRefused) as refused:
        sign_up(cognito_event(**attributes))
    assert str(refused.value) == message
    assert "Traceback" not in message
    assert "IPD" not in message


def test_outage_fails_open_and_asks_onboarding_to_check_again(stack: Stack) -> None:
    stack.kvk(outage=True)
    event = cognito_event(**{"custom:kvk_number": "69599084", "custom:company_name": "Test EMZ Dagobert"})
    assert sign_up(event) == event
    queue = stack.resources["OnboardingQueue"]["QueueUrl"]
    (message,) = stack.sqs.receive_message(QueueUrl=queue).get("Messages", [])
    import json

    routed = json.loads(message["Body"])
    assert (routed["source"], routed["detail-type"]) == ("app.signup", "CustomerSignedUp")
    assert routed["detail"] == {
        "customerId": event["userName"],
        "userPoolId": "eu-west-1_demo",  # the worker records its decision on the user
        "kvkNumber": "69599084",
        "tradeName": "Test EMZ Dagobert",
    }


def test_outage_refuses_when_fail_open_is_off(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRESIGNUP_FAIL_OPEN", "false")
    root.reset()
    stack.kvk(outage=True)
    with pytest.raises(SignUpRefused, match="could not check your KVK number"):
        sign_up(cognito_event(**{"custom:kvk_number": "69599084"}))


def test_attribute_names_are_configurable(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVK_NUMBER_ATTRIBUTE", "custom:kvk")
    root.reset()
    assert sign_up(cognito_event(**{"custom:kvk": "69599084"}))["userName"]

"""The sign-up gate through template.yaml's functions (each with its own settings) against the sandbox:
no paid call an anonymous sign-up can trigger, and no admitted sign-up left without a decision."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from kvkgate import root
from kvkgate.app.presignup import SignUpRefused
from local.aws_resources import load_template
from local.lambda_runtime import LambdaContext, functions, load_handler, sqs_records
from local.sandbox.server import registry
from tests.onboarding.conftest import Stack, signup_event
from tests.onboarding.test_presignup import cognito_event


def companies(count: int) -> list[dict[str, Any]]:
    """Real numbers of the sandbox: active companies with a trade name."""
    found = [
        record
        for record in registry().companies.values()
        if record.get("evidence") == "generated" and not record.get("datumEinde") and record.get("handelsnamen")
    ]
    return found[:count]


def invoke(logical_id: str, event: Any) -> Any:
    spec = functions()[logical_id]
    return load_handler(spec)(event, LambdaContext(spec))


def queued(stack: Stack) -> list[dict[str, Any]]:
    """Every CustomerSignedUp the rule routed to the onboarding queue so far, as SQS records."""
    queue = stack.resources["OnboardingQueue"]["QueueUrl"]
    records: list[dict[str, Any]] = []
    while batch := stack.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        records += sqs_records(batch, stack.resources["OnboardingQueue"]["Arn"])
        for message in batch:
            stack.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return records


def work_through(stack: Stack, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = []
    for start in range(0, len(records), 10):
        failures += stack.run_worker(records[start : start + 10])["batchItemFailures"]
    return failures


def test_made_up_names_on_real_numbers_make_no_paid_call_in_the_trigger(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.aws is not None
    stack.aws.as_deployed("PreSignUpFunction", monkeypatch)
    numbers = [record["kvkNummer"] for record in companies(20)]
    for attempt in range(40):
        event = cognito_event(
            **{"custom:kvk_number": numbers[attempt % 20], "custom:company_name": f"Zqx{attempt} & Co"}
        )
        assert invoke("PreSignUpFunction", event) == event  # decided on the number and its activity
    assert stack.aws.kvk_stats()["paidCalls"] == 0
    # Each name goes to the worker, which pays from the gate's daily allowance, once per number at most.
    checks = queued(stack)
    assert len(checks) == 40
    stack.aws.as_deployed("OnboardingFunction", monkeypatch)
    monkeypatch.setenv("GATE_PAID_CALLS_PER_DAY", "5")
    root.reset()
    assert work_through(stack, checks) == []
    assert stack.aws.kvk_stats()["paidCalls"] == 5
    names = [event["detail"]["checks"]["tradeName"] for event in stack.results()]
    assert len(names) == 40
    # The numbers that got their paid check: made-up names are not theirs; the rest stay unconfirmed.
    assert {name["result"] for name in names} == {"mismatch", "unconfirmed"}
    assert sum(name["result"] == "mismatch" for name in names) == 10  # 5 numbers x 2 attempts each


def test_a_text_plain_post_is_refused_without_a_kvk_call(stack: Stack) -> None:
    assert stack.aws is not None
    event = {
        "version": "2.0",
        "routeKey": "POST /v1/validations",
        "rawPath": "/v1/validations",
        "headers": {"content-type": "text/plain;charset=UTF-8", "origin": "https://evil.example"},
        "requestContext": {"http": {"method": "POST", "sourceIp": "198.51.100.9"}, "requestId": "r-1"},
        "body": json.dumps({"kvkNumber": "69599084"}),
        "isBase64Encoded": False,
    }
    response = invoke("ApiFunction", event)
    assert response["statusCode"] == 415
    assert json.loads(response["body"])["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert stack.aws.kvk_stats()["totalCalls"] == 0


# --- no admitted sign-up without a decision ---------------------------------------------------------


def user_pool() -> tuple[Any, str]:
    """A pool like the template's demo pool (its schema), in moto."""
    cognito = boto3.client("cognito-idp")
    schema = load_template()["Resources"]["DemoUserPool"]["Properties"]["Schema"]
    pool = cognito.create_user_pool(PoolName="gate", Schema=schema)["UserPool"]["Id"]
    return cognito, pool


def created(cognito: Any, pool: str, event: dict[str, Any]) -> None:
    """What Cognito does once the trigger lets a sign-up through: the user exists, with its attributes."""
    attributes = [{"Name": name, "Value": value} for name, value in event["request"]["userAttributes"].items()]
    cognito.admin_create_user(UserPoolId=pool, Username=event["userName"], UserAttributes=attributes)


def decision(cognito: Any, pool: str, user: str) -> dict[str, Any] | None:
    attributes = cognito.admin_get_user(UserPoolId=pool, Username=user)["UserAttributes"]
    found = next((item["Value"] for item in attributes if item["Name"] == "custom:kvk_decision"), None)
    return json.loads(found) if found else None


class Later:
    """The system clock, ``seconds`` ahead: the sweep runs after the sign-up has had time to be decided."""

    def __init__(self, seconds: float) -> None:
        import time

        self.seconds, self._time = seconds, time

    def monotonic(self) -> float:
        return self._time.monotonic() + self.seconds

    def time(self) -> float:
        return self._time.time() + self.seconds

    def sleep(self, seconds: float) -> None:
        self._time.sleep(seconds)


def test_a_sign_up_admitted_while_aws_is_unreachable_is_decided_after_recovery(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.aws is not None
    cognito, pool = user_pool()
    stack.aws.as_deployed("PreSignUpFunction", monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing answers: table, secret, bus
    root.reset()
    event = cognito_event(**{"custom:kvk_number": "69599084", "custom:company_name": "Test EMZ Dagobert"})
    event["userPoolId"] = pool
    assert invoke("PreSignUpFunction", event) == event  # fail-open: admitted without a decision
    created(cognito, pool, event)
    assert queued(stack) == []  # the re-check could not be queued
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    stack.aws.as_deployed("UndecidedSweepFunction", monkeypatch)
    monkeypatch.setenv("USER_POOL_ID", pool)
    root.reset()
    root.install(root.Overrides(clock=Later(600)))
    try:
        report = invoke("UndecidedSweepFunction", {"source": "aws.events", "detail-type": "Scheduled Event"})
    finally:
        root.reset()
    assert (report["queued"], report["undecided_over_an_hour"]) == (1, 0)
    stack.aws.as_deployed("OnboardingFunction", monkeypatch)
    monkeypatch.setenv("USER_POOL_ID", pool)
    root.reset()
    assert work_through(stack, queued(stack)) == []
    recorded = decision(cognito, pool, event["userName"])
    assert recorded is not None
    assert (recorded["verdict"], recorded["kvkNumber"]) == ("valid", "69599084")
    (result,) = stack.results()
    assert (result["detail-type"], result["detail"]["customerId"]) == ("KvkVerificationCompleted", event["userName"])


def test_a_confirmed_user_without_a_decision_is_decided_and_the_decision_recorded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.aws is not None
    cognito, pool = user_pool()
    event = cognito_event(**{"custom:kvk_number": "69599084"})
    confirm(stack, monkeypatch, cognito, pool, event)
    recorded = decision(cognito, pool, event["userName"])
    assert recorded is not None and recorded["verdict"] == "valid"


def confirm(stack: Stack, monkeypatch: pytest.MonkeyPatch, cognito: Any, pool: str, event: dict[str, Any]) -> None:
    """The user of a sign-up the trigger let in is created and confirms; the worker decides what was queued."""
    assert stack.aws is not None
    created(cognito, pool, event)
    stack.aws.as_deployed("PostConfirmationFunction", monkeypatch)
    confirmation = {
        "triggerSource": "PostConfirmation_ConfirmSignUp",
        "userPoolId": pool,
        "userName": event["userName"],
        "request": {"userAttributes": event["request"]["userAttributes"]},
        "response": {},
    }
    assert invoke("PostConfirmationFunction", confirmation) == confirmation
    stack.aws.as_deployed("OnboardingFunction", monkeypatch)
    monkeypatch.setenv("USER_POOL_ID", pool)
    root.reset()
    assert work_through(stack, queued(stack)) == []


def test_sign_ups_never_confirmed_are_not_watched_and_a_confirmed_one_is(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cognito's SignUp is anonymous: repeated with one company's number, it must not fill that company's
    watchers (at most 100 a number) with users that never come to exist, nor cost a Zoeken a month each."""
    assert stack.aws is not None
    stack.aws.as_deployed("PreSignUpFunction", monkeypatch)
    root.reset()
    for attempt in range(5):
        event = cognito_event(**{"custom:kvk_number": "69599084"})
        event["userName"] = f"never-confirmed-{attempt}"
        assert invoke("PreSignUpFunction", event) == event
    watch_list = root.environment().watch_list
    assert watch_list is not None and watch_list.watched("69599084") is None
    cognito, pool = user_pool()
    event = cognito_event(**{"custom:kvk_number": "69599084"})
    confirm(stack, monkeypatch, cognito, pool, event)
    watch_list = root.environment().watch_list
    watched = watch_list.watched("69599084") if watch_list is not None else None
    assert watched is not None and watched.customers == (event["userName"],)


def test_the_worker_waits_for_a_user_cognito_has_not_created_yet(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert stack.aws is not None
    cognito, pool = user_pool()
    stack.aws.as_deployed("OnboardingFunction", monkeypatch)
    monkeypatch.setenv("USER_POOL_ID", pool)
    root.reset()
    body = json.dumps(signup_event("69599084", "u-early", userPoolId=pool))
    first = stack.record(body, receive_count=1)
    assert stack.run_worker([first])["batchItemFailures"] == [{"itemIdentifier": first["messageId"]}]
    assert stack.results() == []  # nothing published before the decision is on the user
    cognito.admin_create_user(UserPoolId=pool, Username="u-early")
    assert stack.run_worker([stack.record(body, receive_count=2)])["batchItemFailures"] == []
    assert decision(cognito, pool, "u-early") is not None
    assert [event["detail"]["customerId"] for event in stack.results()] == ["u-early"]


# --- hostile and malformed envelopes ----------------------------------------------------------------


def test_federated_sign_ups_follow_the_policy(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert stack.aws is not None
    stack.aws.as_deployed("PreSignUpFunction", monkeypatch)
    federated = cognito_event()
    federated["triggerSource"] = "PreSignUp_ExternalProvider"
    with pytest.raises(SignUpRefused) as refused:
        invoke("PreSignUpFunction", federated)  # require (the default): the number as for any sign-up
    assert refused.value.code == "KVK_NUMBER_MISSING"
    monkeypatch.setenv("FEDERATED_SIGNUPS", "skip")
    root.reset()
    assert invoke("PreSignUpFunction", federated) == federated
    assert stack.aws.kvk_stats()["totalCalls"] == 0


@pytest.mark.parametrize("event", ["not an event", ["a", "list"], None, 17])
def test_a_malformed_cognito_event_is_refused_in_plain_words(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, event: Any
) -> None:
    assert stack.aws is not None
    stack.aws.as_deployed("PreSignUpFunction", monkeypatch)
    with pytest.raises(SignUpRefused) as refused:
        invoke("PreSignUpFunction", event)
    assert refused.value.code == "INVALID_REQUEST"
    assert str(refused.value) == "De aanmelding kon niet worden gelezen. Probeer het opnieuw."


def test_hostile_messages_are_answered_never_retried(stack: Stack) -> None:
    deep = '{"detail": {"kvkNumber": "68750110", "x": ' + "[" * 5000 + "]" * 5000 + "}}"
    huge = '{"detail": {"kvkNumber": "68750110", "houseNumber": 1' + "0" * 5000 + "}}"
    records = [stack.record(deep), stack.record(huge)]
    assert stack.run_worker(records) == {"batchItemFailures": []}
    answers = [event["detail"] for event in stack.results()]
    assert [answer["reasons"][0]["code"] for answer in answers] == ["INVALID_REQUEST", "INVALID_REQUEST"]
    assert "nested deeper than 8 levels" in answers[0]["reasons"][0]["message"]


def test_a_malformed_sqs_record_fails_only_itself(stack: Stack) -> None:
    good = stack.record(json.dumps(signup_event("69599084", "c-good")))
    broken = stack.record(json.dumps(signup_event("69599084", "c-broken")))
    broken["attributes"]["ApproximateReceiveCount"] = "many"
    response = stack.run_worker([good, broken])
    assert response == {"batchItemFailures": [{"itemIdentifier": broken["messageId"]}]}
    assert [event["detail"]["customerId"] for event in stack.results()] == ["c-good"]


def test_a_decision_for_a_pool_this_stack_does_not_guard_is_published_not_retried(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.aws is not None
    _, pool = user_pool()
    stack.aws.as_deployed("OnboardingFunction", monkeypatch)
    monkeypatch.setenv("USER_POOL_ID", pool)
    root.reset()
    body = json.dumps(signup_event("69599084", "u-elsewhere", userPoolId="eu-west-1_another"))
    assert stack.run_worker([stack.record(body)])["batchItemFailures"] == []
    assert [event["detail"]["customerId"] for event in stack.results()] == ["u-elsewhere"]

"""make run: the README's curl works, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Any

import httpx

from tests.browser.conftest import ROOT, RunningStack, started

MAKE = shutil.which("make") or "make"


def test_readme_curl_returns_valid(local_stack: RunningStack) -> None:
    body = b'{"kvkNumber":"69599084","tradeName":"Test EMZ Dagobert"}'
    answer = httpx.post(local_stack.url + "/v1/validations", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["verdict"] == "valid"
    # curl -d without the header posts a form: refused, as any website's form post would be
    form = httpx.post(
        local_stack.url + "/v1/validations", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (form.status_code, form.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_onboarding_path_is_wired(local_stack: RunningStack) -> None:
    import boto3

    aws = f"http://127.0.0.1:{local_stack.ports[2]}"
    session = boto3.session.Session(region_name="eu-west-1", aws_access_key_id="local", aws_secret_access_key="local")
    events, sqs = session.client("events", endpoint_url=aws), session.client("sqs", endpoint_url=aws)
    bus = next(bus["Name"] for bus in events.list_event_buses()["EventBuses"] if bus["Name"] != "default")
    results = sqs.create_queue(QueueName="test-results")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=results, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="test-results", EventBusName=bus, EventPattern='{"source": ["kvkgate"]}')
    events.put_targets(Rule="test-results", EventBusName=bus, Targets=[{"Id": "r", "Arn": arn}])
    events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "app.signup",
                "DetailType": "CustomerSignedUp",
                "Detail": '{"customerId": "c-local", "kvkNumber": "69599084"}',
            }
        ]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=results, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            assert '"verdict": "valid"' in messages[0]["Body"]
            return
    raise AssertionError("no KvkVerificationCompleted event within 20 s")


def test_make_run_prints_each_onboarding_result_and_how_to_publish(local_stack: RunningStack) -> None:
    assert "on bus kvkgate-local-signups" in local_stack.printed("Onboarding: CustomerSignedUp events on bus")
    published = subprocess.run(
        [MAKE, "--no-print-directory", "publish", "EVENT=events/eventbridge-customer-signed-up.json"],
        cwd=ROOT,
        env={**os.environ, "MOTO_PORT": str(local_stack.ports[2])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert published.returncode == 0, published.stderr
    assert "put CustomerSignedUp (customerId c-123, kvkNumber 68750110)" in published.stdout
    line = local_stack.printed("onboarding: KvkVerificationCompleted c-123")
    assert line.strip() == "onboarding: KvkVerificationCompleted c-123 KVK 68750110: valid"


def invoke(stack: RunningStack, function: str, event: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Lambda's Invoke API of make run, as Cognito calls a trigger: (FunctionError, payload)."""
    import boto3

    client = boto3.client(
        "lambda",
        endpoint_url=stack.url,
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    answer = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return answer.get("FunctionError"), json.loads(answer["Payload"].read())


def sign_up(kvk_number: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "presignup-valid.json").read_text())
    event["request"]["userAttributes"] = {"email": "owner@example.nl", "custom:kvk_number": kvk_number}
    event["request"]["validationData"] = None
    event["request"]["clientMetadata"] = {"language": "en"}
    return event


def test_each_function_runs_with_its_own_settings_from_the_template() -> None:
    """The API's deadline (5 s) and budget pool (api: stops at half of this quota), the trigger's (2.5 s,
    gate: may use all of it), each as template.yaml gives them to the deployed function."""
    parameters = ("KvkMonthlyQuota=4", "SignupGateQuotaShare=0.5", "PreSignUpFailOpen=false")
    with started(*parameters) as stack:
        kvk = f"http://127.0.0.1:{stack.ports[1]}/__sandbox/config"
        headers = {"Content-Type": "application/json"}
        httpx.put(kvk, json={"latency_ms": 2800, "jitter_ms": 0})  # slower than the trigger may wait
        slow = httpx.post(stack.url + "/v1/validations", json={"kvkNumber": "69599084"}, headers=headers, timeout=30)
        assert (slow.status_code, slow.json()["verdict"]) == (200, "valid")  # the API waits up to its 5 s
        error, refusal = invoke(stack, "PreSignUpFunction", sign_up("68750110"))
        assert (error, refusal["errorType"]) == ("Unhandled", "SignUpRefused")  # its own 2.5 s: KVK too slow
        assert "could not check your KVK number" in refusal["errorMessage"]
        httpx.put(kvk, json={"latency_ms": 0})
        # Two calls so far: the API's share of the quota (4 x (1 - 0.5)) is spent, the gate's is not.
        spent = httpx.post(stack.url + "/v1/validations", json={"kvkNumber": "90001354"}, headers=headers).json()
        assert (spent["verdict"], spent["reasons"][-1]["code"]) == ("unverified", "BUDGET_EXHAUSTED")
        error, allowed = invoke(stack, "PreSignUpFunction", sign_up("90006623"))
        assert error is None, allowed
        assert allowed["request"]["userAttributes"]["custom:kvk_number"] == "90006623"  # Cognito's event back


# Last: it stops the module's stack.
def test_ctrl_c_stops_everything(local_stack: RunningStack) -> None:
    local_stack.process.send_signal(signal.SIGINT)
    assert local_stack.process.wait(timeout=20) == 0
    for port in local_stack.ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served after Ctrl-C"

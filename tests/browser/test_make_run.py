"""make run: the README's curl works, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import signal
import socket
import time

import httpx

from tests.browser.conftest import RunningStack


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


def test_ctrl_c_stops_everything(local_stack: RunningStack) -> None:
    local_stack.process.send_signal(signal.SIGINT)
    assert local_stack.process.wait(timeout=20) == 0
    for port in local_stack.ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served after Ctrl-C"

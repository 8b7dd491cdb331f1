"""The onboarding worker: partial batch failures, no duplicates, nothing lost, end to end on moto."""

from __future__ import annotations

import json

import pytest

from tests.conftest import MAX_RECEIVES
from tests.onboarding.conftest import Stack, signup_event


def test_mixed_batch_reports_exactly_the_failed_items(stack: Stack) -> None:
    good = stack.record(json.dumps(signup_event("69599084", "c-good", tradeName="Test EMZ Dagobert")))
    malformed = stack.record("this is not JSON")
    missing_number = stack.record(json.dumps(signup_event(None, "c-missing")))
    stack.kvk(outage=False)
    response = stack.run_worker([good, malformed, missing_number])
    assert response == {"batchItemFailures": []}
    results = {event["detail"]["customerId"]: event for event in stack.results()}
    assert results["c-good"]["detail-type"] == "KvkVerificationCompleted"
    assert results["c-good"]["detail"]["verdict"] == "valid"
    assert results["c-good"]["detail"]["checks"]["tradeName"]["result"] == "match"
    assert results["c-missing"]["detail"]["verdict"] == "invalid"
    assert results["c-missing"]["detail"]["reasons"][0]["code"] == "INVALID_REQUEST"
    assert "kvkNumber" in results["c-missing"]["detail"]["reasons"][0]["message"]
    unreadable = results[None]
    assert unreadable["detail"]["reasons"][0]["code"] == "INVALID_REQUEST"


def test_unverified_messages_fail_and_only_they(stack: Stack) -> None:
    stack.run_worker([stack.record(json.dumps(signup_event("68750110", "c-cached")))])
    stack.results()
    stack.kvk(outage=True)
    cached = stack.record(json.dumps(signup_event("68750110", "c-cached-again")))
    unknown = stack.record(json.dumps(signup_event("69599084", "c-down")))
    response = stack.run_worker([cached, unknown])
    assert response == {"batchItemFailures": [{"itemIdentifier": unknown["messageId"]}]}
    assert [event["detail"]["customerId"] for event in stack.results()] == ["c-cached-again"]


def test_a_redelivered_message_publishes_once(stack: Stack) -> None:
    body = json.dumps(signup_event("69599084", "c-twice"))
    stack.run_worker([stack.record(body), stack.record(body)])
    stack.run_worker([stack.record(body, receive_count=2)])
    results = stack.results()
    assert [event["detail"]["customerId"] for event in results] == ["c-twice"]


def test_outage_retries_then_publishes_failed_on_the_last_delivery(stack: Stack) -> None:
    stack.kvk(outage=True)
    body = json.dumps(signup_event("69599084", "c-outage"))
    for delivery in range(1, MAX_RECEIVES):
        record = stack.record(body, receive_count=delivery)
        assert stack.run_worker([record])["batchItemFailures"] == [{"itemIdentifier": record["messageId"]}]
        assert stack.results() == []
    last = stack.record(body, receive_count=MAX_RECEIVES)
    assert stack.run_worker([last])["batchItemFailures"] == [{"itemIdentifier": last["messageId"]}]
    failed = stack.results()
    assert [event["detail-type"] for event in failed] == ["KvkVerificationFailed"]
    assert failed[0]["detail"]["verdict"] == "unverified"
    assert failed[0]["detail"]["reasons"][0]["code"] == "KVK_UNAVAILABLE"
    assert failed[0]["detail"]["deliveries"] == MAX_RECEIVES


def test_end_to_end_from_the_bus_to_the_result(stack: Stack) -> None:
    event = signup_event("68750110", "c-e2e", tradeName="Test BV Donald", postcode="8823SJ", houseNumber="3")
    records = stack.put_on_bus(event)
    assert len(records) == 1, "the rule routed the event from the template's bus to the template's queue"
    assert stack.run_worker(records) == {"batchItemFailures": []}
    (result,) = stack.results()
    assert (result["source"], result["detail-type"]) == ("kvkgate", "KvkVerificationCompleted")
    detail = result["detail"]
    assert (detail["customerId"], detail["kvkNumber"], detail["verdict"]) == ("c-e2e", "68750110", "valid")
    assert detail["checks"]["address"]["result"] == "match"
    assert detail["company"]["name"] == "Test BV Donald"


def test_other_sources_are_not_routed(stack: Stack) -> None:
    assert stack.put_on_bus({**signup_event("69599084"), "source": "someone.else"}) == []


def test_template_queue_has_the_dead_letter_redrive(stack: Stack) -> None:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.resources["OnboardingQueue"]["QueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == stack.resources["OnboardingDeadLetterQueue"]["Arn"]
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVES
    assert int(attributes["VisibilityTimeout"]) >= 6 * 30


@pytest.mark.parametrize("kvk_number", ["1234", 68750110])
def test_bad_numbers_are_final_answers(stack: Stack, kvk_number: object) -> None:
    assert stack.run_worker([stack.record(json.dumps(signup_event(kvk_number, "c-bad")))]) == {"batchItemFailures": []}
    (result,) = stack.results()
    assert result["detail"]["verdict"] == "invalid"


class RefusingBus:
    """EventBridge accepting the call but refusing the entry (FailedEntryCount), as it does when throttled."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.refusals = 1

    def put_events(self, **request: object) -> dict[str, object]:
        if self.refusals:
            self.refusals -= 1
            entry = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
            return {"FailedEntryCount": 1, "Entries": [entry]}
        return self.inner.put_events(**request)  # type: ignore[attr-defined, no-any-return]


def test_a_result_event_the_bus_refuses_keeps_the_message_for_a_retry(stack: Stack) -> None:
    from kvkgate import root
    from kvkgate.aws.events import EventBridgePublisher

    bus = RefusingBus(stack.events)
    root.install(root.Overrides(publisher=EventBridgePublisher(bus, stack.resources["KvkgateBus"]["Ref"])))
    body = json.dumps(signup_event("69599084", "c-refused"))
    first = stack.record(body)
    assert stack.run_worker([first]) == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    assert stack.results() == []
    assert stack.run_worker([stack.record(body, receive_count=2)]) == {"batchItemFailures": []}
    assert [event["detail"]["customerId"] for event in stack.results()] == ["c-refused"]  # once, not lost


def test_a_stale_answer_says_so_in_the_result_event(stack: Stack) -> None:
    from kvkgate import root
    from tests.conftest import FakeClock

    clock = FakeClock(wall=1_795_946_400.0)
    root.install(root.Overrides(clock=clock))
    stack.run_worker([stack.record(json.dumps(signup_event("68750110", "c-fresh")))])
    assert stack.results()[0]["detail"]["meta"]["stale"] is False
    clock.advance(root.environment().settings.cache_ttl_seconds + 60)
    root.environment().registry.cache.forget_memory()
    stack.kvk(outage=True)
    stack.run_worker([stack.record(json.dumps(signup_event("68750110", "c-stale")))])
    (stale,) = stack.results()
    assert (stale["detail"]["verdict"], stale["detail"]["meta"]["stale"]) == ("valid", True)

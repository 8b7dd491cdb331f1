"""The pre-sign-up trigger inside Cognito's 5 s on every path, and what a person is told on bad input.

Time is a fake clock: KVK and AWS are made slow (or hung) by advancing it as long as the call
would take, up to the timeout the code gave it, so the bound is checked without waiting for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kvkgate import root, telemetry
from kvkgate.app.presignup import SignUpRefused
from local.lambda_runtime import functions, load_handler
from tests.conftest import FakeClock
from tests.onboarding.conftest import Stack
from tests.onboarding.test_presignup import as_deployed, cognito_event

__all__ = ["as_deployed"]  # the trigger's own settings apply here too

COGNITO_WAITS = 5.0
COLD_START_ALLOWANCE = 1.0  # imports and the first connections happen before the handler's clock starts


class SlowKvk(httpx.BaseTransport):
    """KVK taking ``seconds`` to answer (the sandbox's answer), or never answering (``None``)."""

    def __init__(self, clock: FakeClock, seconds: float | None) -> None:
        self.clock = clock
        self.seconds = seconds
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout") or {}
        read = float(timeout.get("read") or 30.0)
        if self.seconds is None or self.seconds >= read:
            self.clock.advance(read)
            raise httpx.ReadTimeout("KVK did not answer", request=request)
        self.clock.advance(self.seconds)
        return self.inner.handle_request(request)


class SlowAws:
    """A boto3 client whose calls take ``seconds`` each, or hang until the client's own timeouts
    end them (``None``: every attempt times out, as botocore would report)."""

    def __init__(self, inner: Any, clock: FakeClock, seconds: float | None) -> None:
        self._inner = inner
        self._clock = clock
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._seconds is None:
                from botocore.exceptions import ReadTimeoutError

                self._clock.advance(root.environment().aws_timeouts.worst_case)
                raise ReadTimeoutError(endpoint_url="https://aws.example")
            self._clock.advance(self._seconds)
            return target(*args, **kwargs)

        return call


class SlowPublisher:
    def __init__(self, inner: Any, clock: FakeClock, seconds: float | None) -> None:
        self.inner, self.clock, self.seconds = inner, clock, seconds
        self.published: list[dict[str, Any]] = []

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        if self.seconds is None:
            self.clock.advance(root.environment().aws_timeouts.worst_case)
            raise RuntimeError("EventBridge did not answer")
        self.clock.advance(self.seconds)
        self.published.append(detail)


@dataclass
class FakeContext:
    """Lambda's context on the fake clock: the trigger's 5 s count down as the fake time moves."""

    clock: FakeClock
    timeout: float
    function_name: str = "PreSignUpFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:PreSignUpFunction"
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self.started = self.clock.monotonic()
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.timeout - (self.clock.monotonic() - self.started)) * 1000), 0)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    yield FakeClock(wall=1_795_946_400.0)
    root.reset()


def sign_up_slowly(
    stack: Stack, clock: FakeClock, kvk: float | None, aws: float | None, events: float | None, **attributes: str
) -> tuple[float, Any, SlowPublisher]:
    """Sign up with KVK, DynamoDB/Secrets Manager and EventBridge this slow; (fake seconds taken, outcome)."""
    import boto3

    publisher = SlowPublisher(None, clock, events)
    root.install(
        root.Overrides(
            clock=clock,
            transport=SlowKvk(clock, kvk),
            dynamodb=SlowAws(boto3.client("dynamodb"), clock, aws),  # type: ignore[arg-type]
            publisher=publisher,
        )
    )
    spec = functions()["PreSignUpFunction"]
    context = FakeContext(clock, spec.timeout)
    try:
        outcome: Any = load_handler(spec)(cognito_event(**attributes), context)
    except SignUpRefused as refused:
        outcome = refused
    return clock.monotonic() - context.started, outcome, publisher


@pytest.mark.parametrize(
    ("kvk", "aws", "events"),
    [
        (None, 0.005, 0.02),  # KVK hangs
        (1.2, 0.005, 0.02),  # KVK slow on every call
        (0.2, None, 0.02),  # DynamoDB hangs (cache, limiter)
        (None, None, None),  # everything hangs
        (0.8, 0.3, 0.3),  # everything slow but answering
    ],
)
def test_the_trigger_answers_inside_cognitos_wait_however_slow_kvk_and_aws_are(
    stack: Stack, clock: FakeClock, kvk: float | None, aws: float | None, events: float | None
) -> None:
    taken, outcome, _ = sign_up_slowly(
        stack, clock, kvk, aws, events, **{"custom:kvk_number": "69599084", "custom:company_name": "Test EMZ Dagobert"}
    )
    assert taken <= COGNITO_WAITS - COLD_START_ALLOWANCE, f"took {taken:.2f}s of Cognito's {COGNITO_WAITS}s"
    if isinstance(outcome, SignUpRefused):
        pytest.fail(f"refused: {outcome}")  # KVK says valid, or could not say: fail-open lets it through
    assert outcome["userName"]


def test_an_unverified_sign_up_is_let_through_counted_and_queued_for_a_recheck(stack: Stack, clock: FakeClock) -> None:
    telemetry.metrics().clear_metrics()
    _, outcome, publisher = sign_up_slowly(stack, clock, None, 0.005, 0.02, **{"custom:kvk_number": "69599084"})
    assert outcome["userName"]
    assert publisher.published == [
        {"customerId": outcome["userName"], "userPoolId": "eu-west-1_demo", "kvkNumber": "69599084"}
    ]


def test_a_recheck_that_cannot_be_queued_does_not_fail_the_sign_up(stack: Stack, clock: FakeClock) -> None:
    taken, outcome, publisher = sign_up_slowly(stack, clock, None, 0.005, None, **{"custom:kvk_number": "69599084"})
    assert not isinstance(outcome, SignUpRefused)
    assert taken <= COGNITO_WAITS - COLD_START_ALLOWANCE
    assert publisher.published == []


@pytest.mark.parametrize(
    ("attributes", "validation_data", "code"),
    [
        ({"custom:kvk_number": "68750110", "custom:company_name": "\x01"}, None, "INVALID_COMPANY_NAME"),
        ({"custom:kvk_number": "68750110", "custom:company_name": "B" * 201}, None, "INVALID_COMPANY_NAME"),
        ({"custom:kvk_number": "6875\x000110"}, None, "INVALID_FORMAT"),
        ({"custom:kvk_number": "x" * 500}, None, "INVALID_FORMAT"),
        ({"custom:kvk_number": "68750110"}, {"custom:kvk_number": "69599084"}, "KVK_NUMBER_CONFLICT"),
        # Given twice, each identity claim must agree, or one is checked and the other kept on the user.
        (
            {"custom:kvk_number": "68750110", "custom:company_name": "Test NV Katrien"},
            {"custom:company_name": "Test BV Donald"},
            "COMPANY_NAME_CONFLICT",
        ),
        (
            {"custom:kvk_number": "68750110", "custom:branch_number": "000037178598"},
            {"custom:branch_number": "000037178601"},
            "BRANCH_NUMBER_CONFLICT",
        ),
        ({"custom:kvk_number": "68750110", "custom:rsin": "123456782"}, {"custom:rsin": "111222333"}, "RSIN_CONFLICT"),
        # Too long to be read: the branch number's own sentence, not the company name's.
        ({"custom:kvk_number": "68750110", "custom:branch_number": "1" * 100}, None, "INVALID_FORMAT"),
    ],
)
def test_bad_attribute_values_get_a_plain_sentence(
    stack: Stack, attributes: dict[str, str], validation_data: dict[str, str] | None, code: str
) -> None:
    event = cognito_event(**attributes)
    event["request"]["validationData"] = validation_data
    spec = functions()["PreSignUpFunction"]
    from local.lambda_runtime import LambdaContext

    with pytest.raises(SignUpRefused) as refused:
        load_handler(spec)(event, LambdaContext(spec))
    message = str(refused.value)
    assert refused.value.code == code
    assert message.endswith(".") and len(message) < 200
    assert not any(word in message for word in ("Traceback", "validation error", "pydantic", "Value error", "\x00"))
    assert ("branch" in message.casefold()) == ("custom:branch_number" in {**attributes, **(validation_data or {})})
    assert httpx.get(stack.sandbox.url + "/__sandbox/stats").json()["totalCalls"] == 0  # refused before asking KVK


def test_the_number_in_validation_data_is_the_one_checked(stack: Stack) -> None:
    """Pools that keep the KVK attributes out of the app client's write attributes pass them here."""
    event = cognito_event()
    event["request"]["validationData"] = {"custom:kvk_number": "12345678"}
    spec = functions()["PreSignUpFunction"]
    from local.lambda_runtime import LambdaContext

    with pytest.raises(SignUpRefused) as refused:
        load_handler(spec)(event, LambdaContext(spec))
    assert refused.value.code == "NOT_REGISTERED"
    event["request"]["validationData"] = {"custom:kvk_number": "69599084", "custom:company_name": "Test EMZ Dagobert"}
    assert load_handler(spec)(event, LambdaContext(spec)) == event


def test_a_blank_name_in_validation_data_does_not_hide_the_attributes_name(stack: Stack) -> None:
    event = cognito_event(**{"custom:kvk_number": "68750110", "custom:company_name": "Test NV Katrien"})
    event["request"]["validationData"] = {"custom:company_name": " "}
    spec = functions()["PreSignUpFunction"]
    from local.lambda_runtime import LambdaContext

    with pytest.raises(SignUpRefused) as refused:
        load_handler(spec)(event, LambdaContext(spec))
    assert refused.value.code == "TRADE_NAME_MISMATCH"  # the attribute's name was checked, not skipped

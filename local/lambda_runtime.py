"""Run the template's functions in-process, the way Lambda would: no Docker, no sys.path tricks.

Reads template.yaml (Globals, function Environment, Handler, CodeUri, HttpApi events), loads a
handler module from its CodeUri by file location, and calls it with a Lambda-like context whose
remaining time really counts down. Used by tests, ``make invoke`` and the local stack.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.aws_resources import TEMPLATE, LocalStack, load_template

ROOT = TEMPLATE.parent
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {parameters}, as in the template


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: float
    memory: int
    environment: dict[str, Any]
    routes: tuple[Route, ...] = ()
    events: dict[str, Any] = field(default_factory=dict)


def functions(template_path: Path = TEMPLATE) -> dict[str, FunctionSpec]:
    template = load_template(template_path)
    defaults = template.get("Globals", {}).get("Function", {})
    specs = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **resource["Properties"]}
        environment = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource["Properties"].get("Environment", {}).get("Variables", {}),
        }
        events = properties.get("Events", {})
        routes = tuple(
            Route(str(event["Properties"]["Method"]).upper(), event["Properties"]["Path"])
            for event in events.values()
            if event["Type"] == "HttpApi"
        )
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=(template_path.parent / properties["CodeUri"]).resolve(),
            handler=properties["Handler"],
            timeout=float(properties.get("Timeout", 3)),
            memory=int(properties.get("MemorySize", 128)),
            environment=environment,
            routes=routes,
            events=events,
        )
    return specs


def function_environment(
    spec: FunctionSpec, stack: LocalStack, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The function's environment as Lambda would set it: the template's Globals and the function's own
    variables with every !Ref, !If and !FindInMap resolved against ``stack``, then ``overrides``."""
    values = {name: str(stack.resolver.value(value)) for name, value in spec.environment.items()}
    values.setdefault("AWS_LAMBDA_FUNCTION_NAME", spec.logical_id)
    values.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(spec.memory))
    values.update(overrides or {})
    return values


def stack_environment(stack: LocalStack, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """One environment for every function of the template, for a process that runs them all (make run,
    tests): what the functions share, plus each function's own variables where no other function disagrees."""
    merged: dict[str, str] = {}
    disputed: set[str] = set()
    for spec in functions().values():
        for name, value in function_environment(spec, stack).items():
            if merged.setdefault(name, value) != value:
                disputed.add(name)
    for name in disputed | {"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "POWERTOOLS_SERVICE_NAME"}:
        merged.pop(name, None)
    merged.update(overrides or {})
    return merged


def load_handler(spec: FunctionSpec) -> Handler:
    """Import ``module.function`` from the function's CodeUri by file location, as Lambda does."""
    module_name, function_name = spec.handler.rsplit(".", 1)
    path = spec.code_uri / f"{module_name.replace('.', '/')}.py"
    module = _load_module(f"kvkgate_function_{spec.logical_id}", path)
    handler: Handler = getattr(module, function_name)
    return handler


_loading = threading.Lock()


def _load_module(name: str, path: Path) -> ModuleType:
    """Import once, under a lock: two requests right after start must not see a half-loaded handler
    (Lambda imports the handler once per environment, before any request)."""
    import sys

    with _loading:
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module


class LambdaContext:
    """The parts of Lambda's context object handlers use; the remaining time counts down for real."""

    def __init__(self, spec: FunctionSpec, timeout: float | None = None) -> None:
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = spec.memory
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{spec.logical_id}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + (timeout if timeout is not None else spec.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def sqs_records(
    messages: Sequence[Mapping[str, Any]], queue_arn: str = "arn:aws:sqs:eu-west-1:123456789012:local"
) -> list[dict[str, Any]]:
    """SQS ReceiveMessage output (with ``AttributeNames=["All"]``) as the records of a Lambda SQS event."""
    return [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {"ApproximateReceiveCount": "1"}),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "eu-west-1",
        }
        for message in messages
    ]

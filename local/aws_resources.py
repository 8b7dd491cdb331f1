"""Create AWS resources declared in template.yaml on an emulated AWS (moto), from the template itself.

Tests, benchmarks and the local stack all call this, so the emulated resources cannot drift from
the deployed ones: change the template and every test table, queue and rule changes with it.
:func:`create_stack` returns a :class:`LocalStack` whose resolver also resolves the functions'
environment variables (``local.lambda_runtime.function_environment``).
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class _CloudFormationLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Reads !Ref, !Sub, !GetAtt, ... as plain values; only literal properties are used here.

    libyaml's loader when PyYAML has it: every test table is created from the template, and the
    pure-Python parser made that most of the unit tests' time."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _any_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The parsed template, a fresh copy each time (callers may change it); parsed again when the file changes."""
    return copy.deepcopy(_parsed(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, modified: int) -> dict[str, Any]:
    loader = _CloudFormationLoader(path.read_text())  # a SafeLoader that also reads CloudFormation's tags
    try:
        template: dict[str, Any] = loader.get_single_data()
    finally:
        loader.dispose()
    return template


def resources_of_type(kind: str, path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in load_template(path)["Resources"].items() if spec["Type"] == kind}


def create_tables(client: DynamoDBClient, prefix: str = "kvkgate") -> dict[str, str]:
    """Create every AWS::DynamoDB::Table of the template as ``<prefix>-<logical id>``; returns logical id -> name."""
    created = {}
    for logical_id, spec in resources_of_type("AWS::DynamoDB::Table").items():
        properties = spec["Properties"]
        table_name = f"{prefix}-{logical_id}"
        arguments: dict[str, Any] = {
            "TableName": table_name,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        for optional in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if optional in properties:
                arguments[optional] = properties[optional]
        client.create_table(**arguments)
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
            )
        created[logical_id] = table_name
    return created


class Resolver:
    """Enough of CloudFormation's intrinsic functions to create the template's resources locally."""

    def __init__(
        self, template: dict[str, Any], parameters: dict[str, str], physical: dict[str, dict[str, str]]
    ) -> None:
        self.template = template
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
        self.parameters.update(parameters)
        self.parameters.update(
            {
                "AWS::Region": "eu-west-1",
                "AWS::AccountId": "123456789012",
                "AWS::StackName": "kvkgate-local",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )
        self.physical = physical  # logical id -> {"Ref": ..., "Arn": ..., other attributes}

    def active(self, spec: dict[str, Any]) -> bool:
        """Whether a resource exists with these parameters (its Condition holds)."""
        return "Condition" not in spec or self.condition(spec["Condition"])

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                if argument not in self.parameters:
                    return self.physical[argument]["Ref"]
                declared = self.template.get("Parameters", {}).get(argument, {})
                if declared.get("Type") == "CommaDelimitedList":
                    return [item.strip() for item in self.parameters[argument].split(",")]
                return self.parameters[argument]
            if function == "GetAtt":
                logical, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.physical[logical][attribute]
            if function == "If":
                name, when_true, when_false = argument
                return self.value(when_true if self.condition(name) else when_false)
            if function == "Equals":
                left, right = (self.value(item) for item in argument)
                return left == right
            if function == "Not":
                return not self.value(argument[0])
            if function == "Join":
                separator, items = argument
                return separator.join(str(item) for item in self.value(items))
            if function == "Sub":
                text = argument if isinstance(argument, str) else argument[0]
                for name, value in {**self.parameters, **{k: v["Ref"] for k, v in self.physical.items()}}.items():
                    text = text.replace("${" + name + "}", str(value))
                return text
            if function == "Condition":
                return self.condition(argument)
            if function == "FindInMap":
                mapping, key, name = (self.value(item) for item in argument)
                return self.template["Mappings"][mapping][key][name]
        return {key: self.value(value) for key, value in node.items()}


@dataclass
class LocalStack:
    """The template's resources as created locally: logical id -> {"Ref": ..., "Arn": ..., ...}."""

    resolver: Resolver

    @property
    def physical(self) -> dict[str, dict[str, str]]:
        return self.resolver.physical

    def ref(self, logical_id: str) -> str:
        return self.physical[logical_id]["Ref"]


def create_stack(
    parameters: dict[str, str] | None = None, secret_values: dict[str, str] | None = None, prefix: str = "kvkgate"
) -> LocalStack:
    """Create the template's tables, secrets, queues (with redrive), event bus and rules (with targets).

    ``secret_values``: what each created secret holds (logical id -> value), e.g. the sandbox's key.
    Clients come from boto3's defaults, so ``AWS_ENDPOINT_URL`` points them at the emulator.
    """
    import boto3

    template = load_template()
    resolver = Resolver(template, parameters or {}, {})
    physical = resolver.physical
    for logical_id, name in create_tables(boto3.client("dynamodb"), prefix=prefix).items():
        physical[logical_id] = {"Ref": name, "Arn": f"arn:aws:dynamodb:eu-west-1:123456789012:table/{name}"}
    secrets = boto3.client("secretsmanager")
    for logical_id, spec in template["Resources"].items():
        if spec["Type"] == "AWS::SecretsManager::Secret" and resolver.active(spec):
            value = (secret_values or {}).get(logical_id) or _generated(spec)
            arn = secrets.create_secret(Name=f"{prefix}-{logical_id}", SecretString=value)["ARN"]
            physical[logical_id] = {"Ref": arn, "Arn": arn}
    _create_messaging(boto3.client("sqs"), boto3.client("events"), resolver, prefix)
    return LocalStack(resolver)


def _generated(spec: dict[str, Any]) -> str:
    """What CloudFormation would put in a secret it generates: random, unless it is a template to fill."""
    generate = spec.get("Properties", {}).get("GenerateSecretString") or {}
    if not generate or "SecretStringTemplate" in generate:
        return ""
    import secrets

    return secrets.token_urlsafe(int(generate.get("PasswordLength", 32)))


def _create_messaging(sqs: Any, events: Any, resolver: Resolver, prefix: str) -> None:
    resources = resolver.template["Resources"]
    physical = resolver.physical
    active = resolver.active
    queues = {name: spec for name, spec in resources.items() if spec["Type"] == "AWS::SQS::Queue"}
    # Dead-letter queues first: the queues that redrive into them need their ARN.
    for logical_id, spec in sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1].get("Properties", {})):
        properties = resolver.value(spec.get("Properties", {}))
        attributes = {
            key: str(properties[key]) for key in ("VisibilityTimeout", "MessageRetentionPeriod") if key in properties
        }
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        name = f"{prefix}-{logical_id}"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        physical[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
    for logical_id, spec in resources.items():
        if spec["Type"] == "AWS::Events::EventBus" and active(spec):
            name = resolver.value(spec["Properties"]["Name"])
            arn = events.create_event_bus(Name=name)["EventBusArn"]
            physical[logical_id] = {"Ref": name, "Arn": arn, "Name": name}
    for logical_id, spec in resources.items():
        if spec["Type"] != "AWS::Events::Rule" or not active(spec):
            continue
        properties = resolver.value(spec["Properties"])
        name = f"{prefix}-{logical_id}"
        arn = events.put_rule(
            Name=name, EventBusName=properties["EventBusName"], EventPattern=json.dumps(properties["EventPattern"])
        )["RuleArn"]
        events.put_targets(
            Rule=name,
            EventBusName=properties["EventBusName"],
            Targets=[{"Id": target["Id"], "Arn": target["Arn"]} for target in properties["Targets"]],
        )
        physical[logical_id] = {"Ref": name, "Arn": arn}

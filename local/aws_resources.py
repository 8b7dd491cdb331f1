"""Create AWS resources declared in template.yaml on an emulated AWS (moto), from the template itself.

Tests, benchmarks and the local stack all call this, so the emulated table cannot drift from the
deployed one: change the template and every test table changes with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub, !GetAtt, ... as plain values; only literal properties are used here."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _any_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template: dict[str, Any] = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    return template


def resources_of_type(kind: str, path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in load_template(path)["Resources"].items() if spec["Type"] == kind}


def create_tables(client: DynamoDBClient, names: dict[str, str] | None = None) -> dict[str, str]:
    """Create every AWS::DynamoDB::Table of the template; returns logical id -> table name."""
    created = {}
    for logical_id, spec in resources_of_type("AWS::DynamoDB::Table").items():
        properties = spec["Properties"]
        table_name = (names or {}).get(logical_id, logical_id)
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

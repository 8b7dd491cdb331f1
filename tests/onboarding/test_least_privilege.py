"""Each function writes only the table keys its IAM policy in template.yaml allows (dynamodb:LeadingKeys).

The policy is read from the template; the keys are what the functions really ask DynamoDB for
while they do their work (API routes, the pre-sign-up trigger, the onboarding worker), so a new
key prefix in the code fails here before it fails in AWS with AccessDenied.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from typing import Any

import httpx

from kvkgate import root
from local.apigw import HttpApi, sigv4_authorization
from local.aws_resources import load_template
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.onboarding.conftest import Stack, signup_event
from tests.onboarding.test_presignup import cognito_event

WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
READS = {"GetItem", "Query"}


def allowed_by_template() -> dict[str, list[tuple[set[str], list[str]]]]:
    """Function -> [(actions, leading-key patterns)] for the table, from its policies."""
    resources = load_template()["Resources"]
    shared = resources["KvkgateTableAccess"]["Properties"]["PolicyDocument"]["Statement"]
    grants: dict[str, list[tuple[set[str], list[str]]]] = {}
    for name in ("ApiFunction", "PreSignUpFunction", "OnboardingFunction", "WatchFunction"):
        statements: list[dict[str, Any]] = []
        for policy in resources[name]["Properties"]["Policies"]:
            if policy == {"Ref": "KvkgateTableAccess"}:
                statements += shared
            elif isinstance(policy, dict) and "Statement" in policy:
                statements += policy["Statement"]
        grants[name] = [
            (
                {action.split(":")[1] for action in _list(statement["Action"]) if action.startswith("dynamodb:")},
                statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
            )
            for statement in statements
            if any(str(action).startswith("dynamodb:") for action in _list(statement["Action"]))
        ]
    return grants


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_table_key_a_function_uses_is_one_its_policy_allows(stack: Stack) -> None:
    seen: list[tuple[str, str, str]] = []
    running = {"function": ""}

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        key = params.get("Key") or params.get("Item") or {}
        if "pk" in key:
            seen.append((running["function"], model.name, key["pk"]["S"]))
        elif model.name == "Query":  # the partition asked for is the key condition's value
            (partition,) = params["ExpressionAttributeValues"].values()
            seen.append((running["function"], model.name, partition["S"]))

    client = root.environment().dynamodb
    client.meta.events.register("provide-client-params.dynamodb", record)
    specs = functions()

    running["function"] = "ApiFunction"
    api = HttpApi(specs.values())
    signed = {"content-type": "application/json", "authorization": sigv4_authorization()}
    for method, path, body in [
        ("POST", "/v1/validations", {"kvkNumber": "68750110", "tradeName": "Gebr. Jansen & Zn"}),
        ("GET", "/v1/companies/69599084", None),
        ("POST", "/v1/trade-names/check", {"kvkNumber": "90006623", "tradeName": "Mijn 3e handelsnaam"}),
        ("POST", "/v1/watches", {"kvkNumber": "69599084", "customerId": "crm-least"}),
    ]:
        payload = json.dumps(body).encode() if body else b""
        anonymous = api.handle(method, path, payload, {"content-type": "application/json"}, "", "198.51.100.20")
        assert anonymous[0] in {200, 403}, anonymous
        assert api.handle(method, path, payload, signed, "", "198.51.100.20")[0] == 200
    assert api.handle("GET", "/v1/companies", b"", {}, "q=bakkerij", "198.51.100.20")[0] == 200
    running["function"] = "PreSignUpFunction"
    spec = specs["PreSignUpFunction"]
    load_handler(spec)(cognito_event(**{"custom:kvk_number": "90000749"}), LambdaContext(spec))
    running["function"] = "OnboardingFunction"
    stack.run_worker([stack.record(json.dumps(signup_event("90001354", "c-least")))])
    deleted = {**signup_event("90001354", "c-least"), "detail-type": "CustomerDeleted"}
    stack.run_worker([stack.record(json.dumps(deleted))])
    running["function"] = "WatchFunction"
    stack.kvk(signal_delay_seconds=0)
    change = {"kvkNummer": "69599084", "kind": "ended", "at": time.time() - 300}  # watched through /v1/watches
    assert httpx.post(stack.sandbox.url + "/__sandbox/mutations", json=change).status_code == 201
    watcher = specs["WatchFunction"]
    os.environ["MUTATIESERVICE_SUBSCRIPTION"] = "auto"
    try:
        root.reset()
        root.environment().dynamodb.meta.events.register("provide-client-params.dynamodb", record)
        for task in ("signals", "sweep"):
            report = load_handler(watcher)({"task": task}, LambdaContext(watcher))
            assert not report.get("stopped"), report
    finally:
        del os.environ["MUTATIESERVICE_SUBSCRIPTION"]
    assert ("WatchFunction", "Query", "KVK#69599084") in seen  # the signal made it forget the cached answers

    grants = allowed_by_template()
    assert {function for function, _, _ in seen} == set(grants), "every function used the table"
    for function, action, key in seen:
        assert action in WRITES | READS, (function, action)
        assert any(
            action in actions and any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)
            for actions, patterns in grants[function]
        ), f"{function} {action} on {key!r} is not in its policy"

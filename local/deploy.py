"""``make deploy`` / ``make delete`` / ``make kvk-key``: the stack on AWS with the project's own SAM CLI.

* ``check``: are there AWS credentials at all? Without them, one sentence and exit 1, before anything
  is built or asked of AWS (no AWS call is made to find out).
* ``deploy``: ``sam deploy`` of the built template; guided the first time (the stack does not exist
  yet: SAM asks for each parameter and saves the answers in samconfig.toml), then with samconfig's
  parameters plus ``PARAMETERS`` on top - never instead of them, as ``--parameter-overrides`` alone would.
* ``kvk-key``: put the KVK API key in the stack's secret, read without echo (never on a command line).
* ``delete``: ``sam delete``; says which retained resources are left and how to remove them.

Runs in the SAM CLI's venv (boto3 comes with it); ``check`` also runs in the app's venv.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMCONFIG = ROOT / "samconfig.toml"
DEFAULT_REGION = "eu-west-1"  # the Netherlands' nearest AWS regions are Ireland and Frankfurt
PUBLIC_TEST_KEY = "l7xx1f2691f2520d487b902f4e0b57a0b197"  # KVK's own, for its test environment only
NO_CREDENTIALS = (
    "make {target} needs AWS credentials and found none: run `aws configure` or `aws sso login`, or set"
    " AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), then run make {target} again."
)


class Stop(Exception):
    """A reason to stop, in one sentence for the person at the terminal."""


def credentials_problem(target: str) -> str | None:
    """Why there are no usable AWS credentials (None: there are). Resolves botocore's chain without
    calling AWS: environment, shared files, SSO cache, container and instance roles."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        found = botocore.session.Session().get_credentials()
    except BotoCoreError as error:  # e.g. AWS_PROFILE names a profile the config does not have
        return f"make {target} cannot use the AWS credentials configured here: {error}."
    return NO_CREDENTIALS.format(target=target) if found is None else None


def samconfig(config_env: str) -> dict[str, Any]:
    """samconfig.toml's settings for ``config_env``: its global and deploy parameters, merged."""
    config = tomllib.loads(SAMCONFIG.read_text()) if SAMCONFIG.exists() else {}
    section = config.get(config_env, {})
    return {**section.get("global", {}).get("parameters", {}), **section.get("deploy", {}).get("parameters", {})}


def overrides(text: str | list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` pairs, as samconfig and --parameter-overrides write them (quoted values allowed)."""
    items = shlex.split(text) if isinstance(text, str) else list(text or [])
    pairs = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name:
            raise Stop(
                f"{item!r} is not a template parameter: write KEY=VALUE, e.g. CorsAllowOrigins=https://signup.example.nl"
            )
        pairs[name.removeprefix("ParameterKey=")] = value
    return pairs


def merged_parameters(config_env: str, given: str) -> dict[str, str]:
    """samconfig's parameter overrides with ``given`` on top: ``sam deploy --parameter-overrides``
    alone would replace samconfig's (KvkEnvironment=production gone from a production deploy)."""
    return {**overrides(samconfig(config_env).get("parameter_overrides")), **overrides(given)}


def shorthand(key: str, value: str) -> str:
    """One ``KEY=VALUE`` of --parameter-overrides; a value with spaces in quotes, as SAM reads it."""
    return f'{key}="{value}"' if any(char.isspace() for char in value) or not value else f"{key}={value}"


def region() -> str:
    import botocore.session

    return botocore.session.Session().get_config_variable("region") or DEFAULT_REGION


def stack_name(config_env: str) -> str:
    return str(samconfig(config_env).get("stack_name") or "kvkgate")


def describe(name: str, where: str) -> dict[str, Any] | None:
    """The stack as CloudFormation knows it, or None when it does not exist."""
    import boto3
    from botocore.exceptions import ClientError

    try:
        stacks = boto3.client("cloudformation", region_name=where).describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return dict(stacks[0]) if stacks else None


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def sam(*arguments: str) -> int:
    command = [str(Path(sys.executable).with_name("sam")), *arguments]
    print("$ " + shlex.join(["sam", *arguments]), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603 - the project's own SAM CLI


def deploy(config_env: str, given: str) -> int:
    where, name = region(), stack_name(config_env)
    parameters = merged_parameters(config_env, given)
    first = describe(name, where) is None
    arguments = ["deploy", "--config-env", config_env, "--region", where]
    if parameters:
        arguments += ["--parameter-overrides", " ".join(shorthand(key, value) for key, value in parameters.items())]
    if first:
        print(f"First deploy of stack {name} in {where}: SAM asks for each parameter and saves your answers.")
        arguments.append("--guided")
    status = sam(*arguments)
    stack = describe(name, where) if status == 0 else None
    if stack is not None:
        found = outputs(stack)
        print(f"\nAPI: {found.get('ApiUrl')}\nDashboard: {found.get('DashboardUrl')}")
        key = "" if config_env == "default" else f" CONFIG_ENV={config_env}"
        print(f"Next, if you have not yet: make kvk-key{key}  (puts your KVK API key in the stack's secret)")
    return status


def put_kvk_key(config_env: str) -> int:
    import boto3

    where, name = region(), stack_name(config_env)
    stack = describe(name, where)
    if stack is None:
        raise Stop(f"there is no stack {name} in {where}: run make deploy first")
    secret = outputs(stack)["KvkApiKeySecretArn"]
    environment = {item["ParameterKey"]: item["ParameterValue"] for item in stack.get("Parameters", [])}
    test = environment.get("KvkEnvironment") == "test"
    hint = " (Enter: KVK's public test key)" if test else ""
    key = (getpass.getpass(f"KVK API key for {name}{hint}: ") if sys.stdin.isatty() else sys.stdin.read()).strip()
    if not key and test:
        key = PUBLIC_TEST_KEY
    if not key:
        raise Stop("no key given: nothing was changed")
    boto3.client("secretsmanager", region_name=where).put_secret_value(SecretId=secret, SecretString=key)
    print(f"The KVK API key is in {secret}; the functions read it within 5 minutes.")
    return 0


def delete(config_env: str) -> int:
    where, name = region(), stack_name(config_env)
    stack = describe(name, where)
    table = outputs(stack).get("KvkgateTableName") if stack else None
    status = sam("delete", "--config-env", config_env, "--region", where, "--stack-name", name)
    if status == 0 and table:
        print(
            f"\nKept: table {table} (it holds this month's KVK call count, so a new stack cannot start the month"
            f" at zero). To remove it too: aws dynamodb delete-table --region {where} --table-name {table}"
        )
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["check", "deploy", "delete", "kvk-key"])
    parser.add_argument("--config-env", default=os.environ.get("CONFIG_ENV") or "default")
    parser.add_argument("--parameters", default="", help="KEY=VALUE ... on top of samconfig's")
    parser.add_argument("--target", default=None, help="the make target, for messages")
    args = parser.parse_args()
    target = args.target or args.action
    try:
        problem = credentials_problem(target)
        if problem:
            raise Stop(problem)
        if args.action == "check":
            return
        actions = {
            "deploy": lambda: deploy(args.config_env, args.parameters),
            "delete": lambda: delete(args.config_env),
            "kvk-key": lambda: put_kvk_key(args.config_env),
        }
        sys.exit(actions[args.action]())
    except Stop as stop:
        print(stop, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

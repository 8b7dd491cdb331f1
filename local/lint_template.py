"""Lint template.yaml the way CloudFormation will see it.

cfn-lint does not expand SAM resources, so it misses invalid runtimes, dangling !Refs inside
policy templates and bad IAM actions on the SAM source (docs/toolchain notes). This script
translates the template with aws-sam-translator (offline: local CodeUri/ContentUri are swapped
for placeholder S3 URIs) and runs cfn-lint on the CloudFormation it produces.

Runs in the SAM CLI venv (.venv-sam), which has aws-sam-translator and cfn-lint.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER = "s3://kvkgate-lint-placeholder/artifact.zip"
LOCAL_URI_PROPERTIES = {"CodeUri", "ContentUri", "DefinitionUri"}


class _OfflinePolicies(ManagedPolicyLoader):
    """Resolve AWS managed policy names to ARNs without calling IAM."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


def _placeholders(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: PLACEHOLDER if key in LOCAL_URI_PROPERTIES and isinstance(value, str) else _placeholders(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_placeholders(item) for item in node]
    return node


def main(template_path: str = "template.yaml") -> int:
    # The translator fills AWS::Region pseudo-parameters; any region will do offline.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    # The translator says so for each feature toggle it does not know (they stay off, as documented).
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    sam = yaml_parse(Path(template_path).read_text())
    # The fourth argument is a feature toggle, not a parser: SAM's defaults apply (as sam deploy does).
    cloudformation = transform(_placeholders(sam), {}, _OfflinePolicies())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(cloudformation, handle, indent=1)
    print(f"translated {template_path} -> {handle.name}; running cfn-lint")
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run([str(cfn_lint), handle.name], check=False).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

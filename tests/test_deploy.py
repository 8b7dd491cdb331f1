"""`make deploy`, `make kvk-key`, `make delete` without an AWS account: one clear sentence when there
are no credentials (and nothing built), samconfig's parameters kept under PARAMETERS; the build's
size message. Nothing here calls AWS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from local import artifact, deploy
from tests.conftest import ROOT

MAKE = shutil.which("make") or "make"


def without_aws_credentials(home: Path) -> dict[str, str]:
    """A shell with no AWS credentials anywhere: no AWS_* variables, an empty home (no ~/.aws), and no
    instance or container role (the metadata service is not asked, so nothing leaves the machine)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.mark.parametrize("target", ["deploy", "kvk-key", "delete"])
def test_without_credentials_make_fails_with_one_sentence_and_builds_nothing(target: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [MAKE, "--no-print-directory", target, "PARAMETERS=CorsAllowOrigins=https://signup.example.nl"],
        cwd=ROOT,
        env=without_aws_credentials(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert ours == [deploy.NO_CREDENTIALS.format(target=target)]
    assert ours[0].count(".") == 1 and ours[0].endswith("again.")  # one sentence
    assert "sam build" not in result.stdout and "Building" not in result.stdout


def test_the_makefiles_test_credentials_never_reach_a_deploy(tmp_path: Path) -> None:
    """make exports fake credentials for the tests; a deploy must see the caller's own, or none."""
    result = subprocess.run(
        [MAKE, "--no-print-directory", "-n", "deploy"],
        cwd=ROOT,
        env=without_aws_credentials(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    deploy_lines = [line for line in result.stdout.splitlines() if "local.deploy" in line]
    assert deploy_lines
    for line in deploy_lines:
        assert "-u AWS_ACCESS_KEY_ID" in line and "-u AWS_SECRET_ACCESS_KEY" in line and "-u AWS_DEFAULT_REGION" in line


def test_with_credentials_of_its_own_the_check_passes(tmp_path: Path) -> None:
    environment = {
        **without_aws_credentials(tmp_path),
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "local.deploy", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_a_profile_that_does_not_exist_is_named(tmp_path: Path) -> None:
    environment = {**without_aws_credentials(tmp_path), "AWS_PROFILE": "kvkgate-nonexistent"}
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "local.deploy", "check", "--target", "deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "kvkgate-nonexistent" in result.stderr


def test_parameters_add_to_samconfigs_instead_of_replacing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "samconfig.toml"
    overrides = '"KvkEnvironment=production LogLevel=WARNING"'
    config.write_text(f"version = 0.1\n[production.deploy.parameters]\nparameter_overrides = {overrides}\n")
    monkeypatch.setattr(deploy, "SAMCONFIG", config)
    merged = deploy.merged_parameters("production", "CorsAllowOrigins=https://a.nl,https://b.nl LogLevel=INFO")
    assert merged == {
        "KvkEnvironment": "production",  # kept: sam deploy --parameter-overrides alone would drop it
        "LogLevel": "INFO",  # the command line wins where both name a parameter
        "CorsAllowOrigins": "https://a.nl,https://b.nl",
    }
    assert deploy.merged_parameters("default", "") == {}


def test_the_repositorys_production_profile_keeps_its_kvk_environment() -> None:
    assert deploy.merged_parameters("production", "CorsAllowOrigins=https://signup.example.nl") == {
        "KvkEnvironment": "production",
        "CorsAllowOrigins": "https://signup.example.nl",
    }
    assert deploy.stack_name("production") == "kvkgate-production"


def test_a_parameter_that_is_not_key_value_is_refused_in_words() -> None:
    with pytest.raises(deploy.Stop, match="'CorsAllowOrigins' is not a template parameter: write KEY=VALUE"):
        deploy.overrides("CorsAllowOrigins")


def test_values_with_spaces_are_quoted_for_sam() -> None:
    assert deploy.shorthand("AlarmTopicArn", "") == 'AlarmTopicArn=""'
    assert deploy.shorthand("Note", "two words") == 'Note="two words"'
    assert deploy.shorthand("KvkEnvironment", "production") == "KvkEnvironment=production"


def test_the_size_message_names_the_budget_and_lambdas_limit(tmp_path: Path) -> None:
    layer = tmp_path / artifact.LAYER / "python" / "pydantic"
    layer.mkdir(parents=True)
    (layer / "core.so").write_bytes(b"x" * 3_000_000)
    function = tmp_path / "ApiFunction"
    function.mkdir()
    (function / "api.py").write_bytes(b"x" * 1_000_000)
    report = artifact.size_report(tmp_path)
    assert "layer KvkgateLayer: 3.00 MB unzipped, kvkgate's budget 20 MB" in report
    assert "(ApiFunction): 4.00 MB unzipped of Lambda's limit of 250 MB (function and layers together)" in report

"""`make invoke`: every sample event through the Docker-free invoker, as a separate process, like sam local invoke."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_events import EXPECTED as API_EXPECTED
from tests.api.test_events import at

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_OF = {
    "api": "ApiFunction",
    "onboarding": "OnboardingFunction",
    "presignup": "PreSignUpFunction",
    "postconfirmation": "PostConfirmationFunction",
}
SAMPLES = sorted(path for path in (ROOT / "events").glob("*.json") if not path.name.startswith("eventbridge-"))


def run_invoke(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.invoke", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@functools.cache
def invoked(function: str) -> dict[str, tuple[int, Any]]:
    """Every sample of ``function`` through one ``make invoke`` process (one stack, one warm environment)."""
    samples = [sample for sample in SAMPLES if FUNCTION_OF[sample.stem.split("-")[0]] == function]
    result = run_invoke(function, *(str(sample.relative_to(ROOT)) for sample in samples), timeout=180)
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(result.stdout)
    if len(samples) == 1:  # one event: the response alone, as SAM prints it
        return {samples[0].stem: (result.returncode, document)}
    return {Path(item["event"]).stem: (item["status"], item["response"]) for item in document}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_every_sample_event_invokes(sample: Path) -> None:
    status_code, response = invoked(FUNCTION_OF[sample.stem.split("-")[0]])[sample.stem]
    if sample.stem.startswith("api-"):
        status, expected = API_EXPECTED[sample.stem]
        assert status_code == 0, response
        assert response["statusCode"] == status
        body = json.loads(response["body"])
        assert {path: at(body, path) for path in expected} == expected
    elif sample.stem == "presignup-not-registered":
        assert status_code == 1
        assert response["errorType"] == "SignUpRefused"
        # The template's SignupMessageLanguage is Dutch; the sample passes no clientMetadata.language.
        assert response["errorMessage"] == "KVK-nummer 12345678 is niet ingeschreven bij KVK."
    elif sample.stem in ("presignup-valid", "postconfirmation-confirmed"):
        assert status_code == 0, response
        assert response == json.loads(sample.read_text())  # Cognito's event back, unchanged: sign-up allowed
    else:
        assert status_code == 0, response
        assert response == {"batchItemFailures": []}


def test_one_event_prints_the_response_as_sam_does() -> None:
    result = run_invoke("ApiFunction", "events/api-validations-valid.json")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200 and json.loads(response["body"])["verdict"] == "valid"


def test_a_handler_that_fails_to_import_exits_non_zero_with_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "app.py").write_text(
        "import module_that_does_not_exist\n\ndef handler(event, context):\n    return 1\n"
    )
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Broken:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: broken/\n      Handler: app.handler\n"
        "      Runtime: python3.12\n      Timeout: 3\n"
    )
    event = tmp_path / "event.json"
    event.write_text("{}")
    result = run_invoke("Broken", str(event), "--template", str(tmp_path / "template.yaml"))
    assert result.returncode == 1
    assert json.loads(result.stdout)["errorType"] == "ModuleNotFoundError"
    assert "module_that_does_not_exist" in result.stderr


def test_a_handler_that_runs_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "app.py").write_text("import time\n\ndef handler(event, context):\n    time.sleep(60)\n")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Slow:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: slow/\n      Handler: app.handler\n"
        "      Runtime: python3.12\n      Timeout: 1\n"
    )
    event = tmp_path / "event.json"
    event.write_text("{}")
    result = run_invoke("Slow", str(event), "--template", str(tmp_path / "template.yaml"), timeout=30)
    assert result.returncode == 1
    assert json.loads(result.stdout)["errorMessage"] == "Task timed out after 1.00 seconds"


def test_unknown_function_lists_the_known_ones() -> None:
    result = run_invoke("NoSuchFunction", "events/api-validations-valid.json")
    assert result.returncode == 2
    assert "ApiFunction" in json.loads(result.stdout)["errorMessage"]

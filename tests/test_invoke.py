"""`make invoke`: every sample event through the Docker-free invoker, as a separate process, like sam local invoke."""

from __future__ import annotations

import functools
import json
import shutil
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
    "sweep": "UndecidedSweepFunction",
    "watch": "WatchFunction",
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
        assert status_code == 0  # a refusal is the trigger's answer, not a crash
        assert (response["errorType"], response["refused"]) == ("SignUpRefused", True)
        # The template's SignupMessageLanguage is Dutch; the sample passes no clientMetadata.language.
        assert response["errorMessage"] == "KVK-nummer 12345678 is niet ingeschreven bij KVK."
    elif sample.stem in ("presignup-valid", "postconfirmation-confirmed"):
        assert status_code == 0, response
        assert response == json.loads(sample.read_text())  # Cognito's event back, unchanged: sign-up allowed
    elif sample.stem == "sweep-scheduled":
        # The sweep exists only with a user pool (UserPoolId / CreateDemoUserPool); locally there is none.
        assert (status_code, response) == (0, {"swept": False, "error": "CONFIGURATION_ERROR"})
    elif sample.stem == "watch-sweep":  # nobody is watched in a fresh stack: nothing to look at, no stop
        assert (status_code, response["looked_at"], response["events"], response["stopped"]) == (0, 0, 0, "")
    elif sample.stem == "watch-signals":  # the template's default: no Mutatieservice contract, the sweep only
        assert (status_code, response["stopped"]) == (0, "no active Mutatieservice subscription")
    else:
        assert status_code == 0, response
        assert response == {"batchItemFailures": []}


def test_a_refusal_reads_as_a_refusal_not_a_crash() -> None:
    arguments = ["invoke", "FN=PreSignUpFunction", "EVENT=events/presignup-not-registered.json"]
    result = subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Error 1" not in result.stderr and "Traceback" not in result.stderr
    assert "refused: PreSignUpFunction refused the sign-up (NOT_REGISTERED): KVK-nummer 12345678" in result.stderr


def test_an_event_for_the_bus_given_to_the_worker_says_where_it_goes() -> None:
    result = run_invoke("OnboardingFunction", "events/eventbridge-customer-signed-up.json")
    assert result.returncode == 2
    assert "this is an event for the bus (CustomerSignedUp)" in result.stderr
    assert "make publish EVENT=" in result.stderr
    assert "events/onboarding-sqs-batch.json" in result.stderr


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

"""``make invoke FN=<LogicalId> EVENT=events/<file>.json``: ``sam local invoke`` without Docker.

Runs the function from template.yaml (its Globals and Environment, the layer package, a Lambda
context whose remaining time really counts down) against an offline stack started for the
invocation (KVK sandbox, moto with the template's resources). Prints the response as SAM does;
exits 0 on success, 1 when the handler raised, failed to import or timed out (never hangs).
``EVENT="a.json b.json"`` runs several events in turn through one warm environment and prints a
list of ``{"event", "status", "response"}``, exiting with the worst status.

A Cognito trigger's refusal is an answer, not a failure: it prints Lambda's error document (what
Cognito shows the person) and ``refused: ...`` on stderr, and exits 0. An event of another kind than
the function takes (a bus event for the SQS worker) exits 2 saying which event goes where.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from local.aws_resources import TEMPLATE


def _error_document(error: BaseException) -> dict[str, Any]:
    """The shape Lambda (and SAM) report a handler error in."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def invoke(function: str, event: dict[str, Any], template: Path) -> tuple[int, Any]:
    """One event through the function: (0, response) or (1, Lambda's error document)."""
    return invoke_each(function, [event], template)[0]


def invoke_each(function: str, events: list[dict[str, Any]], template: Path) -> list[tuple[int, Any]]:
    """Each event in turn through one warm execution environment, against one offline stack."""
    from local.lambda_runtime import functions
    from local.stack import running

    specs = functions(template)
    if function not in specs:
        unknown = {
            "errorMessage": f"no function {function!r} in {template.name}; there are: {', '.join(sorted(specs))}",
            "errorType": "UnknownFunction",
        }
        return [(2, unknown)] * len(events)
    spec = specs[function]
    misplaced = [_misplaced(spec, event) for event in events]
    if any(misplaced):
        skipped = "not run: another event of the list does not fit the function"
        return [(2, {"errorMessage": problem or skipped, "errorType": "WrongEvent"}) for problem in misplaced]
    with running(api_port=0, kvk_port=0, aws_port=0, poll=False) as stack:
        from local.lambda_runtime import function_environment
        from local.stack import environment_for

        variables = function_environment(spec, stack.resources, {"KVK_BASE_URL": stack.kvk_url})
        os.environ.update(variables)  # its logs name it, as SAM's would
        environment = environment_for(function, variables)  # its own, as in its own Lambda
        return [_call(spec, event, environment) for event in events]


# What each kind of template event delivers; a function without events is a Cognito trigger.
_KINDS = {"HttpApi": "API Gateway requests", "SQS": "SQS batches", "Schedule": "scheduled events"}
_SAMPLES = {
    "API Gateway requests": "events/api-*.json",
    "SQS batches": "events/onboarding-sqs-batch.json",
    "Cognito trigger events": "events/presignup-*.json, events/postconfirmation-*.json",
    "scheduled events": "events/sweep-scheduled.json, events/watch-*.json",
}


def _kind(event: object) -> str | None:
    if not isinstance(event, dict):
        return None
    if "routeKey" in event or "requestContext" in event:
        return "API Gateway requests"
    if isinstance(event.get("Records"), list):
        return "SQS batches"
    if "triggerSource" in event:
        return "Cognito trigger events"
    if event.get("detail-type") == "Scheduled Event":
        return "scheduled events"
    if "detail-type" in event:
        return "bus events"
    return None


def _misplaced(spec: Any, event: object) -> str | None:
    """Why ``event`` is not one ``spec`` takes (None when it is, or its kind is unknown)."""
    kind = _kind(event)
    takes = {_KINDS[item["Type"]] for item in spec.events.values() if item.get("Type") in _KINDS}
    takes = takes or {"Cognito trigger events"}
    if kind is None or kind in takes:
        return None
    wanted = ", ".join(sorted(takes))
    samples = "; ".join(_SAMPLES[item] for item in sorted(takes) if item in _SAMPLES)
    if kind == "bus events":
        detail_type = event.get("detail-type") if isinstance(event, dict) else None
        return (
            f"{spec.logical_id} takes {wanted} ({samples}), and this is an event for the bus ({detail_type}):"
            " with make run running, put it on the bus with make publish EVENT=<file>"
        )
    return f"{spec.logical_id} takes {wanted} ({samples}), not {kind}; see events/README.md"


def _call(spec: Any, event: dict[str, Any], environment: Any) -> tuple[int, Any]:
    from kvkgate import root
    from kvkgate.app.presignup import SignUpRefused
    from local.lambda_runtime import LambdaContext, load_handler

    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            # Like SAM: the function's logs (Powertools writes to stdout) go to stderr, the response
            # to stdout. Imported inside, so loggers created at import bind to the redirected stream.
            with contextlib.redirect_stdout(sys.stderr), root.hosting(environment):
                handler = load_handler(spec)
                outcome["response"] = handler(event, LambdaContext(spec))
        except SignUpRefused as refusal:  # the trigger's answer: Cognito refuses and shows the text
            outcome["refused"] = refusal
        except BaseException as error:  # the handler's failure is the result we report
            traceback.print_exc(file=sys.stderr)
            outcome["error"] = error

    worker = threading.Thread(target=call, name=f"invoke-{spec.logical_id}", daemon=True)
    worker.start()
    worker.join(spec.timeout)
    if worker.is_alive():
        return 1, {"errorMessage": f"Task timed out after {spec.timeout:.2f} seconds", "errorType": "TimeoutError"}
    if "error" in outcome:
        return 1, _error_document(outcome["error"])
    if "refused" in outcome:
        refusal = outcome["refused"]
        print(f"refused: {spec.logical_id} refused the sign-up ({refusal.code}): {refusal}", file=sys.stderr)
        return 0, {"errorMessage": str(refusal), "errorType": type(refusal).__name__, "refused": True}
    return 0, outcome.get("response")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="logical id in template.yaml, e.g. ApiFunction")
    parser.add_argument(
        "events", type=Path, nargs="+", help="event file(s), e.g. events/api-validations-valid.json; several: a list"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    events = []
    for path in args.events:
        try:
            events.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            print(f"cannot read the event {path}: {error}", file=sys.stderr)
            sys.exit(2)
    results = invoke_each(args.function, events, args.template)
    for path, (status, response) in zip(args.events, results, strict=True):
        if status == 2:  # a usage error: say it in words too, not only in the document
            print(f"{path}: {response['errorMessage']}", file=sys.stderr)
    if len(results) == 1:
        document: Any = results[0][1]
    else:  # one warm environment, several events: each one's status and response, in order
        document = [
            {"event": str(path), "status": status, "response": response}
            for path, (status, response) in zip(args.events, results, strict=True)
        ]
    # sys.__stdout__: a timed-out handler thread may still hold sys.stdout redirected to stderr.
    print(json.dumps(document, indent=2, ensure_ascii=False), file=sys.__stdout__, flush=True)
    sys.stderr.flush()
    # A timed-out handler thread may still run: leave without waiting for it.
    os._exit(max(status for status, _ in results))


if __name__ == "__main__":
    main()

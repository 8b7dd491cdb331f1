"""``make invoke FN=<LogicalId> EVENT=events/<file>.json``: ``sam local invoke`` without Docker.

Runs the function from template.yaml (its Globals and Environment, the layer package, a Lambda
context whose remaining time really counts down) against an offline stack started for the
invocation (KVK sandbox, moto with the template's resources). Prints the response as SAM does;
exits 0 on success, 1 when the handler raised, failed to import or timed out (never hangs).
``EVENT="a.json b.json"`` runs several events in turn through one warm environment and prints a
list of ``{"event", "status", "response"}``, exiting with the worst status.
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
    with running(api_port=0, kvk_port=0, aws_port=0, poll=False) as stack:
        from local.lambda_runtime import function_environment

        os.environ.update(function_environment(spec, stack.resources, {"KVK_BASE_URL": stack.kvk_url}))
        return [_call(spec, event) for event in events]


def _call(spec: Any, event: dict[str, Any]) -> tuple[int, Any]:
    from local.lambda_runtime import LambdaContext, load_handler

    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            # Like SAM: the function's logs (Powertools writes to stdout) go to stderr, the response
            # to stdout. Imported inside, so loggers created at import bind to the redirected stream.
            with contextlib.redirect_stdout(sys.stderr):
                handler = load_handler(spec)
                outcome["response"] = handler(event, LambdaContext(spec))
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

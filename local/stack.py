"""The whole of kvkgate on one machine, without Docker, AWS or internet (``make run``).

One process, so Ctrl-C stops everything it started:

* the KVK sandbox (or the real KVK test environment when ``KVK_BASE_URL`` is set),
* a moto server as the local AWS, with the table, queues, event bus, rule and secret created
  from template.yaml,
* an API Gateway emulator reading template.yaml's HttpApi routes and dispatching to the real
  handlers in-process, which also serves the demo sign-up page at ``/``,
* the onboarding path: the bus rule routes CustomerSignedUp to the queue, and a poller feeds the
  worker, as Lambda's SQS event source would; each result it publishes is one line on stdout,
* Lambda's Invoke API on the same port (``POST /2015-03-31/functions/<LogicalId>/invocations``), so
  the Cognito triggers can be called as Cognito would (``aws lambda invoke --endpoint-url ...``).

Each function runs in its own environment, built from its own variables in template.yaml (deadlines,
queue bounds, budget pool, rate schedule), as in its own Lambda: what you see locally is what the
deployed function would do. They share only what deployed functions share: the table, the bus, KVK.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from local.apigw import HttpApi, RouteAccess, sigv4_authorization
from local.aws_resources import LocalStack, create_stack
from local.lambda_runtime import (
    FunctionSpec,
    LambdaContext,
    function_environment,
    functions,
    load_handler,
    sqs_records,
)

DEMO = Path(__file__).parent / "demo"
PUBLIC_TEST_KEY = "l7xx1f2691f2520d487b902f4e0b57a0b197"
RETRY_SECONDS = 2
_SIGNED = "Authorization"
_JSON = "Content-Type: application/json"  # the API refuses bodies not declared as JSON (415)
logger = logging.getLogger("kvkgate.local")


@dataclass
class Stack:
    api_url: str
    kvk_url: str
    aws_url: str
    variables: dict[str, dict[str, str]]  # logical id -> the function's environment variables
    resources: LocalStack
    environments: dict[str, Any] = field(default_factory=dict)  # logical id -> its kvkgate.root.Environment

    @property
    def bus(self) -> str:
        return self.resources.ref("KvkgateBus")


@contextmanager
def running(
    api_port: int = 3000,
    kvk_port: int = 8089,
    aws_port: int = 0,
    kvk_base_url: str | None = None,
    poll: bool = True,
    parameters: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start everything; stop it all on exit. ``parameters``: the template's, as ``sam deploy`` takes them."""
    from local.moto_server import MotoServer, client_environment
    from local.sandbox.faults import Behaviour
    from local.sandbox.server import SandboxServer

    with ExitStack() as stack:
        if kvk_base_url:
            kvk_url, kvk_key = kvk_base_url, os.environ.get("KVK_API_KEY", PUBLIC_TEST_KEY)
        else:
            sandbox = stack.enter_context(SandboxServer(Behaviour(), port=kvk_port))
            kvk_url, kvk_key = sandbox.test_url, PUBLIC_TEST_KEY
        aws = stack.enter_context(MotoServer(port=aws_port))
        os.environ.update(client_environment(aws.url))
        os.environ.update({"POWERTOOLS_SERVICE_NAME": "kvkgate-local", "POWERTOOLS_METRICS_DISABLED": "true"})
        resources = create_stack(parameters, secret_values={"KvkApiKeySecret": kvk_key}, prefix="kvkgate-local")
        specs = functions()
        variables = {
            logical_id: function_environment(spec, resources, {"KVK_BASE_URL": kvk_url})
            for logical_id, spec in specs.items()
        }
        environments = {logical_id: environment_for(logical_id, values) for logical_id, values in variables.items()}

        def host(spec: FunctionSpec) -> AbstractContextManager[None]:
            from kvkgate import root

            return root.hosting(environments[spec.logical_id])

        api = HttpApi(specs.values(), RouteAccess.from_template(parameters), host=host)
        app = _with_demo(_with_lambda(api.wsgi, specs, host))
        server = make_server("127.0.0.1", api_port, app, threaded=True, request_handler=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="api-gateway", daemon=True)
        thread.start()
        stack.callback(server.shutdown)
        if poll:
            stop = threading.Event()
            poller = threading.Thread(
                target=_poll_onboarding, args=(resources.ref("OnboardingQueue"), stop, host), daemon=True
            )
            poller.start()
            stack.callback(stop.set)
        url = f"http://127.0.0.1:{server.server_port}"
        yield Stack(url, kvk_url, aws.url, variables, resources, environments)


def environment_for(logical_id: str, variables: dict[str, str]) -> Any:
    """The function's own execution environment; the worker's results are also announced on stdout."""
    from kvkgate import root
    from kvkgate.config import load_settings

    settings = load_settings(variables)
    if logical_id != "OnboardingFunction":
        return root.Environment(settings)
    return root.Environment(settings, root.Overrides(publisher=_Announced(root.Environment(settings).publisher)))


class _Announced:
    """Publishes as the worker would, and prints one line per onboarding result."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
        self._inner.publish(detail_type, detail, source)
        if detail_type in ("KvkVerificationCompleted", "KvkVerificationFailed"):
            print(f"onboarding: {result_line(detail_type, detail)}", flush=True)


def result_line(detail_type: str, detail: dict[str, Any]) -> str:
    """``KvkVerificationCompleted c-123 KVK 68750110: valid (TRADE_NAME_PARTIAL)``."""
    codes = [str(reason.get("code")) for reason in detail.get("reasons") or [] if isinstance(reason, dict)]
    line = (
        f"{detail_type} {detail.get('customerId') or '-'} KVK {detail.get('kvkNumber') or '-'}: {detail.get('verdict')}"
    )
    if detail.get("deliveries"):
        line += f" after {detail['deliveries']} deliveries"
    return line + (f" ({', '.join(codes)})" if codes else "")


INVOCATIONS = re.compile(r"^/2015-03-31/functions/([A-Za-z0-9_-]+)/invocations$")


def _with_lambda(
    api: Callable[..., Iterable[bytes]],
    specs: dict[str, FunctionSpec],
    host: Callable[[FunctionSpec], AbstractContextManager[None]],
) -> Callable[..., Iterable[bytes]]:
    """Lambda's Invoke API for every function of the template (as ``sam local start-lambda``): the
    Cognito triggers, the sweep and the worker can be called with their events, each in its own
    environment. A handler's exception is answered as Lambda does (``X-Amz-Function-Error``)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = INVOCATIONS.match(environ.get("PATH_INFO", ""))
        if found is None or environ["REQUEST_METHOD"] != "POST":
            return api(environ, start_response)
        spec = specs.get(found.group(1))
        if spec is None:
            message = {"Type": "User", "message": f"Function not found: {found.group(1)}"}
            return _json(start_response, "404 Not Found", message, {"x-amzn-errortype": "ResourceNotFoundException"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        event = json.loads(environ["wsgi.input"].read(length) or b"{}")
        try:
            with host(spec):
                result = load_handler(spec)(event, LambdaContext(spec))
        except Exception as error:  # the function's error is its answer, as Lambda reports it
            document = {"errorMessage": str(error), "errorType": type(error).__name__}
            return _json(start_response, "200 OK", document, {"x-amz-function-error": "Unhandled"})
        return _json(start_response, "200 OK", result, {})

    return app


def _json(start_response: Callable[..., Any], status: str, document: Any, headers: dict[str, str]) -> list[bytes]:
    body = json.dumps(document).encode()
    start_response(
        status,
        [("content-type", "application/json"), ("content-length", str(len(body))), *headers.items()],
    )
    return [body]


class _QuietHandler(WSGIRequestHandler):
    # Keep-alive responses must not wait for Nagle's algorithm (~40 ms each otherwise).
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s %s", self.command, self.path, code)


def _with_demo(api: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Serve the demo page at /, its texts at /texts/{en,nl}.json, everything else through API Gateway.

    The texts are the handlers' own catalogues (``demo.*`` keys), read on every request so an edit shows at once.
    """
    texts = Path(__file__).parents[1] / "layers" / "kvkgate" / "kvkgate" / "texts"
    files = {"/": (DEMO / "index.html", "text/html; charset=utf-8")} | {
        f"/texts/{name}": (texts / name, "application/json; charset=utf-8") for name in ("en.json", "nl.json")
    }
    files["/kvk-company-field.js"] = (DEMO / "kvk-company-field.js", "text/javascript; charset=utf-8")  # issue #21

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ["REQUEST_METHOD"] == "GET" and path in files:
            file, media = files[path]
            body = file.read_bytes()
            start_response(
                "200 OK", [("content-type", media), ("content-length", str(len(body))), ("cache-control", "no-store")]
            )
            return [body]
        return api(environ, start_response)

    return app


def _poll_onboarding(
    queue_url: str, stop: threading.Event, host: Callable[[FunctionSpec], AbstractContextManager[None]]
) -> None:
    """What Lambda's SQS event source does: batches to the worker, failed items back on the queue."""
    import boto3

    spec = functions()["OnboardingFunction"]
    sqs = boto3.client("sqs")
    while not stop.is_set():
        try:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                continue
            records = sqs_records(messages)
            with host(spec):
                response = load_handler(spec)({"Records": records}, LambdaContext(spec))
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            for message in messages:
                if message["MessageId"] in failed:
                    # Back in 2 s rather than after the queue's 180 s, so a local retry is seen.
                    sqs.change_message_visibility(
                        QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=RETRY_SECONDS
                    )
                    delivery = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
                    print(
                        f"onboarding: message {message['MessageId'][:8]} not decided (delivery {delivery}),"
                        f" back in {RETRY_SECONDS} s",
                        flush=True,
                    )
                else:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception:  # a local poller keeps polling, as Lambda's would
            logger.exception("onboarding poll failed")
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", "3000")))
    parser.add_argument("--kvk-port", type=int, default=int(os.environ.get("KVK_SANDBOX_PORT", "8089")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as for sam deploy (e.g. PublicPaidRoutes=true)",
    )
    args = parser.parse_args()
    parameters = dict(item.split("=", 1) for item in args.parameter_overrides if "=" in item)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    real_kvk = os.environ.get("KVK_BASE_URL") or None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with running(args.port, args.kvk_port, args.aws_port, real_kvk, parameters=parameters) as stack:
        url = stack.api_url.replace("127.0.0.1", "localhost")
        print(f"\nkvkgate is running at {url}  (demo sign-up page: {url}/)", flush=True)
        print(
            f"  KVK: {stack.kvk_url}{'' if real_kvk else '  (offline sandbox)'}   AWS: {stack.aws_url} (moto)",
            flush=True,
        )
        print("\nTry:", flush=True)
        print(
            f"""  curl -s -XPOST {url}/v1/validations -H '{_JSON}'"""
            """ -d '{"kvkNumber":"69599084","tradeName":"Test EMZ Dagobert"}'"""
        )
        # The paid routes want an IAM-signed request (or a JWT); locally the signature's shape is enough.
        signed = "" if parameters.get("PublicPaidRoutes") == "true" else f" -H '{_SIGNED}: {sigv4_authorization()}'"
        print(f"  curl -s{signed} {url}/v1/companies/68750110")
        print(
            f"""  curl -s{signed} -XPOST {url}/v1/trade-names/check -H '{_JSON}'"""
            """ -d '{"kvkNumber":"68750110","tradeName":"Donald BV"}'"""
        )
        invoke = f"aws lambda invoke --endpoint-url {url} --function-name"
        print(f"\nOnboarding: CustomerSignedUp events on bus {stack.bus} go to the worker; each result is a line here.")
        print("  make publish EVENT=events/eventbridge-customer-signed-up.json")
        print(f"  (or: {publish_command(stack.aws_url, stack.bus)})")
        print("\nThe Cognito triggers, as Cognito calls them (Lambda's Invoke API on the same port):")
        print(f"  {invoke} PreSignUpFunction --payload fileb://events/presignup-valid.json /dev/stdout")
        print("\nCtrl-C stops everything.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping", flush=True)


def publish_command(aws_url: str, bus: str) -> str:
    """The aws CLI command that puts a CustomerSignedUp on the local bus."""
    detail = json.dumps(json.dumps({"customerId": "c-1", "kvkNumber": "69599084"}))
    entry = f'[{{"EventBusName":"{bus}","Source":"app.signup","DetailType":"CustomerSignedUp","Detail":{detail}}}]'
    return f"aws events put-events --endpoint-url {aws_url} --entries '{entry}'"


if __name__ == "__main__":
    main()

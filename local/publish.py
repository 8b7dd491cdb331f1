"""``make publish EVENT=events/eventbridge-customer-signed-up.json``: put a bus event on the bus of a
running ``make run``, as your application would put it on the deployed one. The rule routes a
``CustomerSignedUp`` to the onboarding queue; ``make run`` prints the worker's result.

The event file is an EventBridge event as a rule's target receives it (``source``, ``detail-type``,
``detail``); it is put on the bus as one entry with those fields.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def entry(event: dict[str, Any], bus: str) -> Any:
    missing = [field for field in ("source", "detail-type", "detail") if field not in event]
    if missing:
        raise ValueError(f"not an EventBridge event: no {', '.join(missing)} (see events/README.md)")
    return {
        "EventBusName": bus,
        "Source": str(event["source"]),
        "DetailType": str(event["detail-type"]),
        "Detail": json.dumps(event["detail"]),
    }


def local_bus(events: Any) -> str:
    """The bus make run created from template.yaml (the one that is not the account's default)."""
    from local.aws_resources import Resolver, load_template

    template = load_template()
    expected = Resolver(template, {}, {}).value(template["Resources"]["KvkgateBus"]["Properties"]["Name"])
    names = [bus["Name"] for bus in events.list_event_buses()["EventBuses"] if bus["Name"] != "default"]
    if expected in names:
        return str(expected)
    if len(names) == 1:
        return str(names[0])
    raise LookupError(f"no kvkgate bus on the local AWS (buses: {', '.join(names) or 'none'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", type=Path, nargs="+", help="event file(s), e.g. events/eventbridge-*.json")
    port = os.environ.get("MOTO_PORT", "5000")
    parser.add_argument("--aws-url", default=f"http://127.0.0.1:{port}", help="make run's local AWS (MOTO_PORT)")
    args = parser.parse_args()
    import boto3
    from botocore.exceptions import EndpointConnectionError

    from local.moto_server import client_environment

    # make run's AWS is moto: never the caller's own credentials or region.
    os.environ.update(client_environment(args.aws_url))
    events = boto3.client("events")
    try:
        bus = local_bus(events)
        for path in args.events:
            put = entry(json.loads(path.read_text()), bus)
            response = events.put_events(Entries=[put])
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"the bus refused {path}: {response['Entries'][0]}")
            detail = json.loads(put["Detail"])
            who = ", ".join(f"{key} {detail[key]}" for key in ("customerId", "kvkNumber") if key in detail)
            print(f"put {put['DetailType']} ({who}) from {put['Source']} on bus {bus}; make run prints the result")
    except EndpointConnectionError:
        print(f"nothing answers at {args.aws_url}: start make run first (MOTO_PORT if you changed it)", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError, LookupError, RuntimeError) as error:
        print(f"make publish: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

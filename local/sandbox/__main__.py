"""``python -m local.sandbox``: serve the KVK sandbox in the foreground (``make sandbox``)."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from local.sandbox.app import PUBLIC_TEST_KEY, Keys, Sandbox, create_app
from local.sandbox.faults import Behaviour
from local.sandbox.server import registry


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.sandbox", description=__doc__)
    parser.add_argument("--host", default=_env("KVK_SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("KVK_SANDBOX_PORT", "8089")))
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=int(_env("KVK_SANDBOX_RATE_LIMIT", "100")),
        help="max requests served in any one-second window; 0 = unlimited",
    )
    parser.add_argument("--latency-ms", type=float, default=float(_env("KVK_SANDBOX_LATENCY_MS", "0")))
    parser.add_argument("--jitter-ms", type=float, default=float(_env("KVK_SANDBOX_JITTER_MS", "0")))
    parser.add_argument(
        "--error-rate",
        type=float,
        default=float(_env("KVK_SANDBOX_ERROR_RATE", "0")),
        help="share of calls answered with an injected error (0..1)",
    )
    parser.add_argument("--error-kind", choices=["500", "IPD1003"], default=_env("KVK_SANDBOX_ERROR_KIND", "500"))
    parser.add_argument("--outage", action="store_true", default=_env("KVK_SANDBOX_OUTAGE", "") == "1")
    parser.add_argument("--monthly-quota", type=int, default=int(_env("KVK_SANDBOX_MONTHLY_QUOTA", "0")) or None)
    parser.add_argument(
        "--link-shape", choices=["auto", "_links", "links"], default=_env("KVK_SANDBOX_LINK_SHAPE", "auto")
    )
    parser.add_argument("--population", type=int, default=int(_env("KVK_SANDBOX_POPULATION", "5000")))
    parser.add_argument("--seed", type=int, default=int(_env("KVK_SANDBOX_SEED", "20261129")))
    parser.add_argument("--test-key", default=_env("KVK_SANDBOX_TEST_KEY", PUBLIC_TEST_KEY))
    parser.add_argument("--production-key", default=_env("KVK_SANDBOX_PRODUCTION_KEY", "sandbox-production-key"))
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)
    behaviour = Behaviour(
        rate_limit=args.rate_limit or None,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        error_rate=args.error_rate,
        error_kind=args.error_kind,
        outage=args.outage,
        monthly_quota=args.monthly_quota,
        link_shape=args.link_shape,
    )
    behaviour.check()
    data = registry(args.population, args.seed)
    sandbox = Sandbox(data, behaviour, Keys(args.test_key, args.production_key), seed=args.seed)
    print(f"KVK sandbox: {len(data.companies)} companies, {len(data.branches)} vestigingen", flush=True)
    print(
        f"  test flavour:       http://{args.host}:{args.port}/test/api  (apikey: the public KVK test key)", flush=True
    )
    print(f"  production flavour: http://{args.host}:{args.port}/api       (apikey: --production-key)", flush=True)
    admin = f"http://{args.host}:{args.port}/__sandbox"
    print(f"  admin:              {admin}/stats | /arrivals | /config | /reset", flush=True)
    uvicorn.run(
        create_app(sandbox), host=args.host, port=args.port, log_level="warning", access_log=False, server_header=False
    )


if __name__ == "__main__":
    main(sys.argv[1:])

"""Benchmark: how soon a person typing their company's name sees it among the suggestions (make bench-search).

400 real company names (``local/sandbox/data/real_names.txt``: the IND register, not the source of the
completion vocabulary), each registered in the sandbox among 5,000 generated companies and the seed
set, are typed letter by letter against the API handler (``GET /v1/companies?q=``, the real handler,
moto for the table, the sandbox for KVK). Typing runs on a fake clock: the gap between keys is drawn
from a log-normal distribution (median 210 ms, so about 55 words a minute), longer after a space
(people look at the list between words) and now and then a longer look; every person has their own
seeded sequence. The client decides which texts it sends, as the form would: it waits for a pause of
its debounce and, while the person keeps typing, sends at the latest ``max wait`` after the first
unsent key. An answer is shown after the handler's measured time; the person stops and picks as soon
as their company is among the first 5 suggestions shown. ``keystrokes_to_top5`` is the keys typed by
then (a name never shown counts its full length plus one).

Each session starts with an empty cache and nothing learned (a cold deployment: the worst case for
KVK calls); a second run types the same sessions one after another on one warm deployment (the
cache's 10 minutes and the words learned from KVK's answers shared, 20 s between sessions). Both
beside the baseline in the same run: the search before issue #21 (``SEARCH_COMPLETIONS=0``: KVK is
asked about whole words only) behind the demo page as it was (300 ms debounce, no max wait).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.common import table

TOP = 5
# The component's timing (local/demo/kvk-company-field.js) and the demo page's before issue #21.
COMPONENT = {"debounce": 0.150, "max_wait": 0.450}
BEFORE = {"debounce": 0.300, "max_wait": None}
KEY_MEDIAN, KEY_SIGMA = 0.210, 0.45  # seconds between keys: log-normal
AFTER_SPACE, LOOK_CHANCE, LOOK = 0.250, 0.08, 0.700  # extra pause after a space; a look at the list now and then
SESSION_GAP = 20.0  # seconds between two people on the warm deployment
# From the request leaving the browser to the list on screen: API Gateway, a warm Lambda and a Zoeken
# call. A fixed figure, so the keystrokes do not depend on this machine's load; the handler's own time
# is measured and reported beside it.
SHOWN_AFTER = 0.200


@dataclass
class FakeClock:
    """Time for the handler's cache and the typing: moves only when the benchmark says so."""

    now: float = 1_000.0
    wall: float = 1_764_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@dataclass
class Session:
    name: str
    kvk: str
    keystrokes: int = 0  # keys typed when the list first showed the company
    letters: int = 0  # keys in the text whose answer first showed it (what the search needed)
    found: bool = False
    kvk_calls: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)


def key_times(text: str, rng: random.Random) -> list[float]:
    """When each key of ``text`` is pressed, from the first at 0."""
    times, now = [], 0.0
    for index in range(len(text)):
        if index:
            gap = KEY_MEDIAN * math.exp(rng.gauss(0, KEY_SIGMA))
            if text[index - 1] == " ":
                gap += AFTER_SPACE
            if rng.random() < LOOK_CHANCE:
                gap += LOOK
            now += gap
        times.append(now)
    return times


def sends(times: list[float], debounce: float, max_wait: float | None) -> list[tuple[int, float]]:
    """(keys typed, time sent) for each request the client makes while the keys come at ``times``."""
    sent: list[tuple[int, float]] = []
    first_unsent: float | None = None
    for index, pressed in enumerate(times):
        first_unsent = pressed if first_unsent is None else first_unsent
        following = times[index + 1] if index + 1 < len(times) else math.inf
        quiet = pressed + debounce
        deadline = first_unsent + max_wait if max_wait is not None else math.inf
        fire = min(quiet, max(deadline, pressed))
        if fire < following:  # no key before the timer fires
            sent.append((index + 1, fire))
            first_unsent = None
    return sent


def run(names: list[tuple[str, str]], timing: dict[str, Any], completions: int, warm: bool, seed: int) -> list[Session]:
    import httpx

    from bench.common import fresh_table
    from kvkgate import root
    from local.apigw import http_event

    handler, spec, context, sandbox = _HARNESS["handler"], _HARNESS["spec"], _HARNESS["context"], _HARNESS["sandbox"]
    os.environ["SEARCH_COMPLETIONS"] = str(completions)
    clock = FakeClock()

    def deploy() -> None:
        root.reset()
        root.install(root.Overrides(clock=clock, table=fresh_table()))

    def zoeken_calls() -> int:
        return int(httpx.get(sandbox.url + "/__sandbox/stats").json()["calls"].get("zoeken", 0))

    deploy()
    sessions = []
    for number, (name, kvk) in enumerate(names):
        if not warm:
            deploy()
        rng = random.Random(f"{seed}-{number}")
        times = key_times(name, rng)
        session = Session(name, kvk)
        before = zoeken_calls()
        started = clock.now
        shown_at, shown_keys, needed = None, len(name) + 1, len(name) + 1
        for typed, at in sends(times, timing["debounce"], timing["max_wait"]):
            text = name[:typed]
            if len(text.strip()) < 2:
                continue
            clock.now = started + at
            event = http_event("GET", "/v1/companies", query="q=" + httpx.QueryParams({"q": text})["q"])
            event["routeKey"] = "GET /v1/companies"
            began = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the handler's metrics (EMF) lines
                response = handler(event, context(spec))
            elapsed = time.perf_counter() - began
            session.requests += 1
            session.latencies.append(elapsed)
            if response["statusCode"] != 200:
                continue
            results = json.loads(response["body"])["results"][:TOP]
            if any(item["kvkNumber"] == kvk for item in results):
                shown_at = at + SHOWN_AFTER
                shown_keys = sum(1 for pressed in times if pressed <= shown_at)
                needed = typed
                break
        session.found = shown_at is not None
        session.keystrokes = shown_keys
        session.letters = needed
        session.kvk_calls = zoeken_calls() - before
        clock.now = started + (times[-1] if times else 0.0) + SESSION_GAP
        sessions.append(session)
    return sessions


_HARNESS: dict[str, Any] = {}


def summary(sessions: list[Session]) -> dict[str, Any]:
    keys = sorted(session.keystrokes for session in sessions)
    calls = [session.kvk_calls for session in sessions]
    latencies = sorted(latency for session in sessions for latency in session.latencies)
    return {
        "median_keystrokes_to_top5": statistics.median(keys),
        "p90_keystrokes_to_top5": keys[int(len(keys) * 0.9)],
        "found_in_top5": round(sum(session.found for session in sessions) / len(sessions), 3),
        "median_letters_sent_when_found": statistics.median(session.letters for session in sessions),
        "kvk_calls_per_typing_session": round(statistics.mean(calls), 2),
        "kvk_calls_per_typing_session_median": statistics.median(calls),
        "kvk_calls_per_typing_session_p90": sorted(calls)[int(len(calls) * 0.9)],
        "kvk_calls_per_typing_session_max": max(calls),
        "requests_per_session": round(statistics.mean(session.requests for session in sessions), 2),
        "suggestion_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p95": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=400, help="how many of the real names to type (at least 300)")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()

    from moto import mock_aws

    from kvkgate.domain.search import COMPLETIONS
    from local.aws_resources import create_stack
    from local.lambda_runtime import LambdaContext, function_environment, functions, load_handler
    from local.sandbox.app import PUBLIC_TEST_KEY
    from local.sandbox.dataset import real_names
    from local.sandbox.faults import Behaviour
    from local.sandbox.server import SandboxServer, registry

    spec = functions()["ApiFunction"]
    typed = real_names()[: args.names]
    by_name = {record.get("naam"): record["kvkNummer"] for record in registry().companies.values()}
    names = [(name, by_name[name]) for name in typed]
    with mock_aws(), SandboxServer(Behaviour(rate_limit=None)) as sandbox:
        stack = create_stack(secret_values={"KvkApiKeySecret": PUBLIC_TEST_KEY}, prefix=f"bench-{uuid.uuid4().hex[:6]}")
        unlimited = {"CALLER_KVK_LOOKUPS_PER_MINUTE": "0", "CALLER_KVK_LOOKUPS_PER_DAY": "0"}
        os.environ.update(function_environment(spec, stack, {"KVK_BASE_URL": sandbox.test_url, **unlimited}))
        _HARNESS.update(handler=load_handler(spec), spec=spec, context=LambdaContext, sandbox=sandbox)
        started = time.perf_counter()
        figures = {
            "cold": summary(run(names, COMPONENT, COMPLETIONS, warm=False, seed=args.seed)),
            "warm": summary(run(names, COMPONENT, COMPLETIONS, warm=True, seed=args.seed)),
            "baseline cold": summary(run(names, BEFORE, 0, warm=False, seed=args.seed)),
            "baseline warm": summary(run(names, BEFORE, 0, warm=True, seed=args.seed)),
        }
        seconds = time.perf_counter() - started

    headers = [
        "",
        "keys to top 5 (median / p90)",
        "found",
        "KVK calls a session (mean / median / p90 / max)",
        "requests a session",
        "handler ms p50 / p95",
    ]
    rows = [
        [
            label,
            f"{data['median_keystrokes_to_top5']} / {data['p90_keystrokes_to_top5']}",
            f"{data['found_in_top5']:.1%}",
            f"{data['kvk_calls_per_typing_session']} / {data['kvk_calls_per_typing_session_median']} / "
            f"{data['kvk_calls_per_typing_session_p90']} / {data['kvk_calls_per_typing_session_max']}",
            data["requests_per_session"],
            f"{data['suggestion_ms']['p50']} / {data['suggestion_ms']['p95']}",
        ]
        for label, data in figures.items()
    ]
    print(f"{len(names)} real company names typed letter by letter ({seconds:.0f} s):")
    print(table(headers, rows))
    cold, baseline = figures["cold"], figures["baseline cold"]
    result = {
        "names": len(names),
        **{key: cold[key] for key in ("median_keystrokes_to_top5", "p90_keystrokes_to_top5", "found_in_top5")},
        "kvk_calls_per_typing_session": cold["kvk_calls_per_typing_session"],
        "kvk_calls_per_typing_session_median": cold["kvk_calls_per_typing_session_median"],
        "kvk_calls_per_typing_session_max": cold["kvk_calls_per_typing_session_max"],
        "suggestion_ms": cold["suggestion_ms"],
        "warm": figures["warm"],
        "baseline": {"cold": baseline, "warm": figures["baseline warm"]},
        "timing": {"component": COMPONENT, "before": BEFORE},
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

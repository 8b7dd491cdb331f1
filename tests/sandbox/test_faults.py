"""Fault injection and KVK's rate limit, as the benchmarks and the client's tests rely on them."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from local.sandbox.app import PUBLIC_TEST_KEY
from local.sandbox.faults import Behaviour, SlidingWindow, max_in_any_second
from local.sandbox.server import SandboxServer

KEY = {"apikey": PUBLIC_TEST_KEY}


def test_sliding_window_has_no_burst_allowance() -> None:
    window = SlidingWindow()
    admitted = [t / 100 for t in range(300) if window.admit(t / 100, 10) is None]
    # 10 per second, spread so no one-second window ever holds more than 10
    assert all(sum(1 for other in admitted if start <= other < start + 1) <= 10 for start in admitted)
    assert len(admitted) == 30


def test_burst_of_500_from_20_threads_is_held_to_the_limit() -> None:
    with SandboxServer(Behaviour(rate_limit=100)) as sandbox:

        def call(index: int) -> int:
            with httpx.Client(base_url=sandbox.test_url, headers=KEY) as client:
                return sum(
                    client.get("/v2/zoeken", params={"kvkNummer": "69599084"}).status_code == 200 for _ in range(25)
                )

        with ThreadPoolExecutor(20) as pool:
            served = sum(pool.map(call, range(20)))
        stats = httpx.get(sandbox.url + "/__sandbox/stats").json()
    assert stats["maxCallsInAnySecond"] <= 100
    assert stats["served"] == served
    assert stats["rateLimited"] == 500 - served
    assert stats["calls"]["zoeken"] == served
    assert sum(stats["perSecond"].values()) == served
    assert stats["rateLimited"] > 0
    # Every request reached the door, served or not; the arrivals show the burst the limit hid.
    assert stats["arrivals"] == 500
    assert stats["maxArrivalsInAnySecond"] > stats["maxCallsInAnySecond"]


def test_429_carries_retry_after(fresh: SandboxServer) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"rate_limit": 1})
    with httpx.Client(base_url=fresh.test_url, headers=KEY) as client:
        client.get("/v1/basisprofielen/69599084")
        refused = client.get("/v1/basisprofielen/69599084")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"


@pytest.mark.parametrize(("kind", "status", "code"), [("500", 500, "IPD9999"), ("IPD1003", 404, "IPD1003")])
def test_injected_errors(fresh: SandboxServer, kind: str, status: int, code: str) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"error_rate": 1.0, "error_kind": kind})
    response = httpx.get(fresh.test_url + "/v1/basisprofielen/69599084", headers=KEY)
    assert response.status_code == status
    assert response.json()["fout"][0]["code"] == code
    assert httpx.get(fresh.url + "/__sandbox/stats").json()["injectedErrors"] == 1


def test_error_share_is_roughly_as_configured(fresh: SandboxServer) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"error_rate": 0.1})
    with httpx.Client(base_url=fresh.test_url, headers=KEY) as client:
        failures = sum(
            client.get("/v2/zoeken", params={"kvkNummer": "69599084"}).status_code == 500 for _ in range(400)
        )
    assert 15 <= failures <= 70


def test_outage_is_a_503_page(fresh: SandboxServer) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"outage": True})
    response = httpx.get(fresh.test_url + "/v2/zoeken?kvkNummer=69599084", headers=KEY)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")


def test_monthly_quota(fresh: SandboxServer) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"monthly_quota": 2})
    statuses = [httpx.get(fresh.test_url + "/v2/zoeken?kvkNummer=69599084", headers=KEY).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_latency_is_added(fresh: SandboxServer) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"latency_ms": 150})
    started = time.perf_counter()
    httpx.get(fresh.test_url + "/v2/zoeken?kvkNummer=69599084", headers=KEY)
    assert time.perf_counter() - started >= 0.15


def test_bad_config_is_refused_and_changes_nothing(fresh: SandboxServer) -> None:
    refused = httpx.put(fresh.url + "/__sandbox/config", json={"error_rate": 2, "outage": True})
    assert refused.status_code == 400
    assert "error_rate" in refused.json()["error"]
    unknown = httpx.put(fresh.url + "/__sandbox/config", json={"bogus": 1})
    assert "bogus" in unknown.json()["error"]
    assert httpx.get(fresh.url + "/__sandbox/config").json()["outage"] is False


def test_reset_clears_stats(fresh: SandboxServer) -> None:
    httpx.get(fresh.test_url + "/v2/zoeken?kvkNummer=69599084", headers=KEY)
    httpx.post(fresh.url + "/__sandbox/reset")
    stats = httpx.get(fresh.url + "/__sandbox/stats").json()
    assert (stats["totalCalls"], stats["arrivals"], stats["maxArrivalsInAnySecond"]) == (0, 0, 0)
    assert httpx.get(fresh.url + "/__sandbox/arrivals").json()["arrivals"] == []


def test_max_in_any_second_slides() -> None:
    assert max_in_any_second([]) == 0
    assert max_in_any_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_any_second([0.9, 1.1, 1.8, 2.05]) == 3  # [0.9, 1.9) spans two calendar seconds


def test_arrivals_count_every_keyed_request_served_or_not(fresh: SandboxServer) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"rate_limit": 2})
    with httpx.Client(base_url=fresh.test_url, headers=KEY) as client:
        statuses = [client.get("/v2/zoeken", params={"kvkNummer": "69599084"}).status_code for _ in range(6)]
        assert client.get("/v2/zoeken?kvkNummer=69599084", headers={"apikey": "wrong"}).status_code == 401
        assert client.get("/v9/onbekend").status_code == 404  # not an API: never reached KVK's door
    assert statuses.count(200) == 2
    assert statuses.count(429) == 4
    stats = httpx.get(fresh.url + "/__sandbox/stats").json()
    assert stats["arrivals"] == 6
    assert stats["maxArrivalsInAnySecond"] == 6
    assert stats["maxCallsInAnySecond"] == 2
    assert stats["served"] == 2
    assert stats["unauthorized"] == 1


def test_arrivals_include_quota_refusals_and_injected_errors_but_not_outages(fresh: SandboxServer) -> None:
    httpx.put(fresh.url + "/__sandbox/config", json={"monthly_quota": 1, "error_rate": 1.0})
    statuses = [httpx.get(fresh.test_url + "/v1/basisprofielen/69599084", headers=KEY).status_code for _ in range(2)]
    httpx.put(fresh.url + "/__sandbox/config", json={"outage": True})
    statuses.append(httpx.get(fresh.test_url + "/v1/basisprofielen/69599084", headers=KEY).status_code)
    assert statuses == [500, 429, 503]
    assert httpx.get(fresh.url + "/__sandbox/stats").json()["arrivals"] == 2


def test_arrival_times_show_the_spacing_of_calls(fresh: SandboxServer) -> None:
    before = time.time()
    with httpx.Client(base_url=fresh.test_url, headers=KEY) as client:
        for _ in range(3):
            client.get("/v2/zoeken", params={"kvkNummer": "69599084"})
            time.sleep(0.2)
    after = time.time()
    arrivals = httpx.get(fresh.url + "/__sandbox/arrivals").json()
    assert arrivals["clock"] == "wall"
    assert arrivals["count"] == 3
    times = arrivals["arrivals"]
    assert before <= times[0] <= times[-1] <= after
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(times))
    assert arrivals["since"] <= before


def test_existing_stats_keys_are_kept(fresh: SandboxServer) -> None:
    stats = httpx.get(fresh.url + "/__sandbox/stats").json()
    assert {
        "since",
        "calls",
        "totalCalls",
        "paidCalls",
        "served",
        "statuses",
        "rateLimited",
        "unauthorized",
        "injectedErrors",
        "maxCallsInAnySecond",
        "perSecond",
        "monthCalls",
        "arrivals",
        "maxArrivalsInAnySecond",
    } == set(stats)

"""Per-process token bucket, TLS trust, and an import that does no I/O."""

from __future__ import annotations

import hashlib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from kvkgate.clock import Deadline
from kvkgate.kvk import KvkApi, RateLimited
from kvkgate.kvk.throttle import TokenBucket
from kvkgate.kvk.tls import shipped_chain, ssl_context
from tests.conftest import FakeClock

LAYER = Path(__file__).resolve().parents[2] / "layers" / "kvkgate"
G1_ROOT_SHA256 = "0257CE27B52408E24EE2C0945640B723C5BC66DDBDA4ADA58C60357604F0E675"


def test_bucket_admits_its_capacity_then_paces_at_the_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10, capacity=2, clock=clock)
    far = Deadline.after(60, clock)
    for _ in range(12):
        bucket.acquire(KvkApi.ZOEKEN, far)
    # 2 immediately, then 10 more at 0.1 s spacing
    assert clock.monotonic() - 1000.0 == pytest.approx(1.0)


def test_bucket_never_exceeds_capacity_plus_rate_in_any_second(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=90, clock=clock)
    far = Deadline.after(600, clock)
    starts = []
    for _ in range(500):
        bucket.acquire(KvkApi.ZOEKEN, far)
        starts.append(clock.monotonic())
    busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
    assert busiest <= 90 + bucket.capacity
    assert busiest <= 100


def test_bucket_refuses_at_once_when_the_deadline_is_too_short(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1, capacity=1, clock=clock)
    bucket.acquire(KvkApi.ZOEKEN, Deadline.after(5, clock))
    with pytest.raises(RateLimited) as caught:
        bucket.acquire(KvkApi.ZOEKEN, Deadline.after(0.5, clock))
    assert caught.value.retry_after == pytest.approx(1.0)
    assert clock.sleeps == []


def test_shipped_chain_is_kvks_pkioverheid_g1_root() -> None:
    der = [
        ssl.PEM_cert_to_DER_cert("-----BEGIN CERTIFICATE-----" + block)
        for block in shipped_chain().split("-----BEGIN CERTIFICATE-----")[1:]
    ]
    assert len(der) == 3
    assert G1_ROOT_SHA256 in {hashlib.sha256(cert).hexdigest().upper() for cert in der}


def test_ssl_context_verifies_and_trusts_the_g1_root() -> None:
    context = ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    subjects = [str(cert.get("subject")) for cert in context.get_ca_certs()]
    assert any("Staat der Nederlanden Private Root CA - G1" in subject for subject in subjects)
    assert len(subjects) > 100, "the normal public roots stay trusted too"


def test_verification_is_never_switched_off_in_the_layer() -> None:
    source = "\n".join(path.read_text() for path in LAYER.rglob("*.py"))
    for forbidden in ("verify=False", "CERT_NONE", "check_hostname = False", "_create_unverified_context"):
        assert forbidden not in source


def test_importing_the_layer_does_no_io_and_builds_no_client() -> None:
    probe = """
import socket, sys
def refuse(*args, **kwargs):
    raise SystemExit("network touched at import: " + repr(args[:2]))
socket.socket.connect = refuse
socket.getaddrinfo = refuse
import importlib, pkgutil, kvkgate
for module in pkgutil.walk_packages(kvkgate.__path__, "kvkgate."):
    importlib.import_module(module.name)
import kvkgate.root
assert kvkgate.root._process_environment.cache_info().currsize == 0
heavy = [name for name in ("boto3", "botocore", "aws_lambda_powertools.utilities.parameters") if name in sys.modules]
assert not heavy, heavy
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == "ok"


def test_a_handler_loaded_by_two_requests_at_once_is_loaded_once_and_whole(tmp_path: Path) -> None:
    """make run serves requests on threads: the first two must both get the handler, not a half-loaded module."""
    import sys
    import threading

    from local.lambda_runtime import FunctionSpec, load_handler

    # An import that takes a while (Powertools, boto3): the second request arrives meanwhile.
    (tmp_path / "slow.py").write_text(
        "import time\ntime.sleep(0.3)\nLOADS = 1\n\ndef handler(event, context):\n    return LOADS\n"
    )
    spec = FunctionSpec("SlowFunction", tmp_path, "slow.handler", 3, 128, {})
    results: list[object] = []

    def call() -> None:
        try:
            results.append(load_handler(spec)({}, None))
        except Exception as error:  # the failure this test is about
            results.append(error)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.modules.pop("kvkgate_function_SlowFunction", None)
    assert results == [1, 1]

"""The KVK client against a scripted transport: requests, retries, deadlines, key rotation."""

from __future__ import annotations

import logging

import httpx
import pytest

from kvkgate.clock import Deadline
from kvkgate.kvk import (
    InvalidRequest,
    KvkApi,
    KvkClient,
    KvkError,
    NotFound,
    RateLimited,
    RetryPolicy,
    TemporarilyUnavailable,
    Unauthorized,
    ZoekQuery,
)
from kvkgate.kvk.errors import Forbidden
from kvkgate.kvk.keys import ApiKey
from kvkgate.kvk.throttle import Unlimited
from tests.conftest import SECRET_KEY, FakeClock, ScriptedKvk, kvk_json, recording

BASE = "https://api.kvk.nl/test/api"


class RotatingKey:
    """An API key source whose value changes when refreshed, like a rotated secret."""

    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)
        self.refreshes = 0

    def get(self, *, refresh: bool = False) -> ApiKey:
        if refresh:
            self.refreshes += 1
            self.keys.pop(0)
        return ApiKey(self.keys[0])


class RecordingLimiter(Unlimited):
    def __init__(self) -> None:
        self.calls: list[KvkApi] = []
        self.firsts: list[bool] = []

    def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
        self.calls.append(api)
        self.firsts.append(first)


def make_client(kvk: ScriptedKvk, clock: FakeClock, key: RotatingKey | None = None, **kwargs: object) -> KvkClient:
    return KvkClient(
        BASE,
        key or RotatingKey(SECRET_KEY, "rotated-key-2"),
        clock=clock,
        transport=kvk.transport(),
        draw=lambda: 0.5,
        **kwargs,  # type: ignore[arg-type]
    )


def deadline(clock: FakeClock, seconds: float = 10.0) -> Deadline:
    return Deadline.after(seconds, clock)


def test_zoeken_sends_key_accept_and_kvk_parameters(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script.append(kvk_json(200, recording("zoeken-kvkNummer-69599084.200.json")))
    client = make_client(kvk, clock)
    query = ZoekQuery(
        kvkNummer="69599084", inclusiefInactieveRegistraties=True, type=("hoofdvestiging", "rechtspersoon")
    )
    result = client.zoeken(query, deadline=deadline(clock))
    assert result.totaal == 2
    request = kvk.requests[0]
    assert request.url.path == "/test/api/v2/zoeken"
    assert request.url.params.get_list("type") == ["hoofdvestiging", "rechtspersoon"]
    assert request.url.params["inclusiefInactieveRegistraties"] == "true"
    assert request.headers["apikey"] == SECRET_KEY
    assert request.headers["accept"] == "application/hal+json"


def test_profile_paths(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: kvk_json(200, {"kvkNummer": "68750110", "vestigingsnummer": "000037178598"})
    client = make_client(kvk, clock)
    client.basisprofiel("68750110", geo_data=True, deadline=deadline(clock))
    client.eigenaar("68750110", deadline=deadline(clock))
    client.hoofdvestiging("68750110", deadline=deadline(clock))
    client.vestigingen("68750110", deadline=deadline(clock))
    client.vestigingsprofiel("000037178598", deadline=deadline(clock))
    client.naamgeving("68750110", deadline=deadline(clock))
    assert [str(request.url).removeprefix(BASE) for request in kvk.requests] == [
        "/v1/basisprofielen/68750110?geoData=true",
        "/v1/basisprofielen/68750110/eigenaar",
        "/v1/basisprofielen/68750110/hoofdvestiging",
        "/v1/basisprofielen/68750110/vestigingen",
        "/v1/vestigingsprofielen/000037178598",
        "/v1/naamgevingen/kvknummer/68750110",
    ]


@pytest.mark.parametrize("bad", ["1234", "6875011O", "../../x", "68750110/eigenaar"])
def test_malformed_identifiers_cost_no_call(kvk: ScriptedKvk, clock: FakeClock, bad: str) -> None:
    client = make_client(kvk, clock)
    with pytest.raises(InvalidRequest):
        client.basisprofiel(bad, deadline=deadline(clock))
    with pytest.raises(InvalidRequest):
        client.vestigingsprofiel(bad, deadline=deadline(clock))
    assert kvk.requests == []


def test_query_rules_are_checked_before_calling() -> None:
    with pytest.raises(ValueError, match="postcode needs huisnummer"):
        ZoekQuery(postcode="8823SJ")
    with pytest.raises(ValueError, match="at least one search criterion"):
        ZoekQuery(type=("hoofdvestiging",))
    with pytest.raises(ValueError, match="kvkNummer"):
        ZoekQuery(kvkNummer="1234")


def test_429_with_retry_after_is_honoured(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script += [
        httpx.Response(429, headers={"Retry-After": "1"}),
        kvk_json(200, recording("zoeken-kvkNummer-69599084.200.json")),
    ]
    client = make_client(kvk, clock)
    started = clock.monotonic()
    result = client.zoeken(ZoekQuery(kvkNummer="69599084"), deadline=deadline(clock, 5))
    assert result.totaal == 2
    assert clock.sleeps == [1.0]
    assert clock.monotonic() - started == pytest.approx(1.0)


def test_429_beyond_the_deadline_fails_at_once(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script += [httpx.Response(429, headers={"Retry-After": "1"})]
    client = make_client(kvk, clock)
    with pytest.raises(RateLimited) as caught:
        client.zoeken(ZoekQuery(kvkNummer="69599084"), deadline=deadline(clock, 0.5))
    assert caught.value.retry_after == 1.0
    assert clock.sleeps == []
    assert len(kvk.requests) == 1


def test_html_500_is_retried_with_jittered_backoff(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script += [
        httpx.Response(500, content=b"<html>oops</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(503),
        kvk_json(200, {"kvkNummer": "68750110"}),
    ]
    client = make_client(kvk, clock, retry=RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=4.0))
    client.basisprofiel("68750110", deadline=deadline(clock))
    # draw() is 0.5: half of 0.2 * 2**0, then half of 0.2 * 2**1
    assert clock.sleeps == pytest.approx([0.1, 0.2])


def test_persistent_failure_gives_up_after_max_attempts(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: kvk_json(
        500, {"fout": [{"code": "IPD9999", "omschrijving": "Algemene technische fout."}]}
    )
    client = make_client(kvk, clock, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(TemporarilyUnavailable, match="IPD9999"):
        client.basisprofiel("12345678", deadline=deadline(clock))
    assert len(kvk.requests) == 3


def test_backoff_never_outlives_the_deadline(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: httpx.Response(503)
    client = make_client(kvk, clock, retry=RetryPolicy(max_attempts=50, base_delay=0.5, max_delay=8))
    limit = deadline(clock, 3.0)
    with pytest.raises(TemporarilyUnavailable):
        client.basisprofiel("68750110", deadline=limit)
    assert clock.monotonic() < limit.at


@pytest.mark.parametrize(
    ("status", "code", "error"), [(404, "IPD0005", NotFound), (400, "IPD0004", InvalidRequest), (403, "X", Forbidden)]
)
def test_answers_about_the_request_are_not_retried(
    kvk: ScriptedKvk, clock: FakeClock, status: int, code: str, error: type[KvkError]
) -> None:
    kvk.default = lambda request: kvk_json(status, {"fout": [{"code": code, "omschrijving": "..."}]})
    client = make_client(kvk, clock)
    with pytest.raises(error) as caught:
        client.basisprofiel("12345678", deadline=deadline(clock))
    assert type(caught.value) is error and not caught.value.transient
    assert len(kvk.requests) == 1


def test_timeouts_and_connection_errors_are_transient(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script += [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), kvk_json(200, {"kvkNummer": "68750110"})]
    client = make_client(kvk, clock)
    assert client.basisprofiel("68750110", deadline=deadline(clock)).kvkNummer == "68750110"
    assert len(kvk.requests) == 3


def test_per_request_timeout_is_capped_by_the_deadline(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: kvk_json(200, {"kvkNummer": "68750110"})
    client = make_client(kvk, clock, timeout=3.0)
    client.basisprofiel("68750110", deadline=deadline(clock, 1.25))
    client.basisprofiel("68750110", deadline=deadline(clock, 30))
    assert [request.extensions["timeout"]["read"] for request in kvk.requests] == [1.25, 3.0]


def test_success_with_a_body_that_is_not_json_is_transient(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: httpx.Response(200, content=b"<html>maintenance</html>")
    client = make_client(kvk, clock, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TemporarilyUnavailable, match="not JSON"):
        client.basisprofiel("68750110", deadline=deadline(clock))


def test_401_rereads_the_rotated_key_once(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script += [httpx.Response(401), kvk_json(200, {"kvkNummer": "68750110"})]
    key = RotatingKey(SECRET_KEY, "rotated-key-2")
    client = make_client(kvk, clock, key)
    client.basisprofiel("68750110", deadline=deadline(clock))
    assert key.refreshes == 1
    assert [request.headers["apikey"] for request in kvk.requests] == [SECRET_KEY, "rotated-key-2"]


def test_second_401_fails_unauthorized(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: httpx.Response(401, json={"error": "bad key"})
    key = RotatingKey(SECRET_KEY, "rotated-key-2")
    client = make_client(kvk, clock, key)
    with pytest.raises(Unauthorized):
        client.basisprofiel("68750110", deadline=deadline(clock))
    assert key.refreshes == 1
    assert len(kvk.requests) == 2


def test_api_key_never_appears_in_errors_or_logs(
    kvk: ScriptedKvk, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # KVK's gateway echoes the key in a response header; nothing may copy it onwards.
    echo = {"apiAuthzDetails": f"Not Set|{SECRET_KEY}|uuid|quota?ok|rate?"}
    kvk.script += [
        httpx.Response(500, headers=echo, content=SECRET_KEY.encode()),
        httpx.Response(401, headers=echo),
        httpx.Response(401, headers=echo),
    ]
    caplog.set_level(logging.DEBUG)
    client = make_client(kvk, clock, RotatingKey(SECRET_KEY, SECRET_KEY), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(Unauthorized) as caught:
        client.basisprofiel("68750110", deadline=deadline(clock))
    error = caught.value
    assert SECRET_KEY not in f"{error!s} {error!r} {vars(error)}"
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in repr(ApiKey(SECRET_KEY))


def test_every_attempt_takes_a_limiter_slot(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script += [httpx.Response(503), kvk_json(200, {"kvkNummer": "68750110"})]
    limiter = RecordingLimiter()
    client = make_client(kvk, clock, limiter=limiter)
    client.naamgeving("68750110", deadline=deadline(clock))
    assert limiter.calls == [KvkApi.NAAMGEVING, KvkApi.NAAMGEVING]
    assert limiter.firsts == [True, False]  # a caller is charged once per lookup, not per retry
    assert KvkApi.NAAMGEVING.paid and not KvkApi.ZOEKEN.paid


def test_a_retry_refused_for_lack_of_time_reports_the_outage_not_a_busy_kvk(kvk: ScriptedKvk, clock: FakeClock) -> None:
    from kvkgate.kvk.errors import Shed

    class NoTimeForRetries(Unlimited):
        def acquire(self, api: KvkApi, deadline: Deadline, *, first: bool = True) -> None:
            if not first:
                raise Shed("not enough time left for a KVK call", retry_after=0.1)

    kvk.default = lambda request: httpx.Response(503)
    client = make_client(kvk, clock, limiter=NoTimeForRetries())
    with pytest.raises(TemporarilyUnavailable):
        client.naamgeving("68750110", deadline=deadline(clock))
    assert len(kvk.requests) == 1


def test_one_connection_pool_serves_every_call(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.default = lambda request: kvk_json(200, {"kvkNummer": "68750110"})
    client = make_client(kvk, clock)
    client.basisprofiel("68750110", deadline=deadline(clock))
    pool = client._http
    client.naamgeving("68750110", deadline=deadline(clock))
    assert pool is not None and client._http is pool


def page(number: int, size: int, total: int) -> httpx.Response:
    count = max(0, min(size, total - (number - 1) * size))
    items = [
        {"kvkNummer": f"{90000000 + (number - 1) * size + index:08d}", "type": "rechtspersoon"}
        for index in range(count)
    ]
    return kvk_json(200, {"pagina": number, "resultatenPerPagina": size, "totaal": total, "resultaten": items})


@pytest.mark.parametrize(("total", "pages", "items"), [(2500, 10, 1000), (150, 2, 150), (100, 1, 100)])
def test_paging_stops_at_the_end_or_the_result_window(
    kvk: ScriptedKvk, clock: FakeClock, total: int, pages: int, items: int
) -> None:
    kvk.default = lambda request: page(
        int(request.url.params["pagina"]), int(request.url.params["resultatenPerPagina"]), total
    )
    client = make_client(kvk, clock)
    found = list(client.iter_zoeken(ZoekQuery(naam="Bakkerij"), deadline=deadline(clock)))
    assert len(found) == items
    assert len({item.kvkNummer for item in found}) == items
    assert len(kvk.requests) == pages


def test_paging_with_no_hits_yields_nothing(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script.append(kvk_json(404, recording("zoeken-kvkNummer-12345678.404.json")))
    client = make_client(kvk, clock)
    assert list(client.iter_zoeken(ZoekQuery(kvkNummer="12345678"), deadline=deadline(clock))) == []


def test_zoeken_without_hits_raises_not_found(kvk: ScriptedKvk, clock: FakeClock) -> None:
    kvk.script.append(kvk_json(404, recording("zoeken-kvkNummer-12345678.404.json")))
    with pytest.raises(NotFound):
        make_client(kvk, clock).zoeken(ZoekQuery(kvkNummer="12345678"), deadline=deadline(clock))


def test_an_unreadable_key_is_unauthorized_not_a_crash(kvk: ScriptedKvk, clock: FakeClock) -> None:
    from kvkgate.kvk.keys import SecretError

    class Broken:
        def get(self, *, refresh: bool = False) -> ApiKey:
            raise SecretError("could not read the KVK API key secret 'kvk': AccessDeniedException")

    client = KvkClient(BASE, Broken(), clock=clock, transport=kvk.transport())
    with pytest.raises(Unauthorized, match="AccessDenied"):
        client.basisprofiel("68750110", deadline=deadline(clock))
    assert kvk.requests == []


@pytest.mark.parametrize(("code", "patience"), [("IPD1003", 300.0), ("IPD1002", 900.0)])
def test_when_kvk_asks_for_patience_it_is_not_asked_again_within_the_request(
    kvk: ScriptedKvk, clock: FakeClock, code: str, patience: float
) -> None:
    kvk.default = lambda request: kvk_json(404, {"fout": [{"code": code, "omschrijving": "Probeer het later."}]})
    with pytest.raises(TemporarilyUnavailable) as caught:
        make_client(kvk, clock).zoeken(ZoekQuery(kvkNummer="68750110"), deadline=Deadline.after(60, clock))
    assert len(kvk.requests) == 1  # one call, then patience
    assert caught.value.retry_after == patience


def test_a_warning_header_or_an_unknown_version_is_counted_as_kvk_announcing_a_change(
    kvk: ScriptedKvk, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kvkgate import telemetry

    counted: list[str] = []
    monkeypatch.setattr(telemetry, "count", lambda name, value=1.0: counted.append(name))
    body = recording("zoeken-kvkNummer-69599084.200.json")
    answers = [
        {"API-Version": "2.1.0"},
        {"API-Version": "2.1.0", "warning": '299 - "Deprecated API, use v3 before 2027-06-01"'},
        {"API-Version": "3.0.0"},
        {"API-Version": "3.0.0"},
    ]
    kvk.script = [kvk_json(200, body, headers) for headers in answers]
    client = make_client(kvk, clock)
    for _ in answers:
        client.zoeken(ZoekQuery(kvkNummer="69599084"), deadline=Deadline.after(60, clock))
    assert counted.count("KvkAnnouncedChange") == 3
    said = [record.getMessage() for record in caplog.records if "announced" in record.getMessage()]
    assert len(said) == 2  # the warning and the new version, each said once


def test_a_key_secret_that_is_unusable_is_a_configuration_error_naming_its_setting(
    kvk: ScriptedKvk, clock: FakeClock
) -> None:
    """Missing, forbidden or still the placeholder: not KVK being unavailable, and not worth a retry."""
    from kvkgate.config import ConfigError
    from kvkgate.kvk.keys import SecretUnusable

    class Misconfigured:
        def get(self, *, refresh: bool = False) -> ApiKey:
            error = SecretUnusable("could not read the KVK API key secret 'kvk': ResourceNotFoundException")
            error.setting = "KVK_API_KEY_SECRET_ID"
            raise error

    client = KvkClient(BASE, Misconfigured(), clock=clock, transport=kvk.transport())
    with pytest.raises(ConfigError, match="KVK_API_KEY_SECRET_ID: could not read") as caught:
        client.basisprofiel("68750110", deadline=deadline(clock))
    assert caught.value.settings == ("KVK_API_KEY_SECRET_ID",)
    assert not isinstance(caught.value, ValueError)  # nothing above may read it as an unreadable KVK answer
    assert kvk.requests == []

"""A typed, synchronous httpx client for KVK's Zoeken, Basisprofiel, Vestigingsprofiel and Naamgeving.

One instance per execution environment holds one connection pool. Every call:
takes a slot from the :class:`~kvkgate.throttle.CallLimiter`, sends ``apikey`` (never logged),
maps failures onto :mod:`kvkgate.kvk.errors`, retries only transient failures and 429s with
full-jitter backoff (honouring ``Retry-After``), and never waits past the caller's deadline.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from kvkgate import __version__
from kvkgate.clock import SYSTEM_CLOCK, Clock, Deadline
from kvkgate.config import ConfigError
from kvkgate.kvk import redaction
from kvkgate.kvk.apis import KvkApi, announced_change
from kvkgate.kvk.errors import (
    InvalidRequest,
    KvkError,
    NotFound,
    RateLimited,
    Shed,
    TemporarilyUnavailable,
    Unauthorized,
    error_for_response,
)
from kvkgate.kvk.keys import ApiKey, ApiKeySource, SecretError, SecretUnusable
from kvkgate.kvk.models import (
    Abonnementen,
    Basisprofiel,
    Eigenaar,
    Naamgeving,
    PagedSignalen,
    SignaalDetail,
    Vestiging,
    VestigingList,
    ZoekResultaat,
    ZoekResultaatItem,
)
from kvkgate.kvk.requests import (
    MAX_PAGE_SIZE,
    KvkRequest,
    ZoekQuery,
    abonnementen_request,
    basisprofiel_request,
    naamgeving_request,
    signaal_request,
    signalen_request,
    vestigingsprofiel_request,
    zoeken_request,
)
from kvkgate.kvk.throttle import CallLimiter, Unlimited
from kvkgate.kvk.tls import ssl_context

logger = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)
Params = tuple[tuple[str, str], ...]

# KVK shows at most 1000 results for one query, whatever the paging (reference §3.1).
RESULT_WINDOW = 1000


@dataclass(frozen=True)
class KvkResponse:
    """A successful answer: the JSON body and KVK's ``API-Version`` header, if sent."""

    body: Any
    api_version: str | None


def _outcome(error: KvkError) -> str:
    names = {
        NotFound: "not_found",
        InvalidRequest: "invalid",
        Unauthorized: "unauthorized",
        RateLimited: "rate_limited",
        TemporarilyUnavailable: "unavailable",
    }
    return next((name for kind, name in names.items() if isinstance(error, kind)), "unexpected")


def _count_call(api: KvkApi, outcome: str) -> None:
    from kvkgate import telemetry

    telemetry.kvk_call(api.value, outcome)


class _SlotAtTheDoor:
    """Takes the call's rate-limit slot at the last moment before the request leaves this process.

    httpx's ``trace`` extension reports ``…send_request_headers.started`` after the connection (and
    any TLS handshake) is ready: taking the slot there means nothing slow sits between "granted" and
    "sent", which is what the limiter's guarantee at KVK's door needs. A request that fails before
    sending (no connection) takes no slot. The read timeout is cut to what the deadline leaves.
    """

    def __init__(
        self,
        limiter: CallLimiter,
        api: KvkApi,
        deadline: Deadline,
        first: bool,
        on_grant: Callable[[KvkApi, Deadline], None] | None,
    ) -> None:
        self._limiter = limiter
        self._api = api
        self._deadline = deadline
        self._first = first
        self._on_grant = on_grant
        self.taken = False

    def take(self) -> None:
        self._limiter.acquire(self._api, self._deadline, first=self._first)
        self.taken = True
        if self._on_grant is not None:
            self._on_grant(self._api, self._deadline)

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if self.taken or not event.endswith("send_request_headers.started"):
            return
        self.take()
        timeouts = getattr(info.get("request"), "extensions", {}).get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = min(timeouts.get("read") or math.inf, max(self._deadline.remaining(), 0.001))


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**n))."""

    max_attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 4.0

    def backoff(self, attempt: int, draw: Callable[[], float]) -> float:
        return float(draw() * min(self.max_delay, self.base_delay * 2**attempt))


# At import, so no httpx client in this process can log KVK's echo of the key.
redaction.install()


class KvkClient:
    def __init__(
        self,
        base_url: str,
        api_key: ApiKeySource,
        *,
        timeout: float = 3.0,
        limiter: CallLimiter | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        ca_file: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        draw: Callable[[], float] = random.random,
        observe: Callable[[KvkApi, str], None] = _count_call,
        on_grant: Callable[[KvkApi, Deadline], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._limiter = limiter or Unlimited()
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._ca_file = ca_file
        self._transport = transport
        self._draw = draw
        self._observe = observe
        self._on_grant = on_grant
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        self._announced: set[tuple[KvkApi, str]] = set()  # what KVK announced, said once

    # -- the APIs ---------------------------------------------------------------------------

    def zoeken(self, query: ZoekQuery, *, deadline: Deadline) -> ZoekResultaat:
        """One page of Zoeken results. No hits is :class:`NotFound` (KVK answers 404 IPD5200)."""
        return self._get_model(ZoekResultaat, zoeken_request(query), deadline)

    def iter_zoeken(self, query: ZoekQuery, *, deadline: Deadline) -> Iterator[ZoekResultaatItem]:
        """Every result of ``query``, page by page, up to KVK's 1000-result window. No hits: nothing."""
        size = query.resultatenPerPagina or MAX_PAGE_SIZE
        page = query.pagina or 1
        while (page - 1) * size < RESULT_WINDOW:
            try:
                result = self.zoeken(
                    query.model_copy(update={"pagina": page, "resultatenPerPagina": size}), deadline=deadline
                )
            except NotFound:
                return
            yield from result.resultaten
            total = min(result.totaal or 0, RESULT_WINDOW)
            if len(result.resultaten) < size or page * size >= total:
                return
            page += 1

    def basisprofiel(self, kvk_nummer: str, *, geo_data: bool = False, deadline: Deadline) -> Basisprofiel:
        return self._get_model(Basisprofiel, basisprofiel_request(kvk_nummer, geo_data=geo_data), deadline)

    def eigenaar(self, kvk_nummer: str, *, geo_data: bool = False, deadline: Deadline) -> Eigenaar:
        return self._get_model(Eigenaar, basisprofiel_request(kvk_nummer, "eigenaar", geo_data=geo_data), deadline)

    def hoofdvestiging(self, kvk_nummer: str, *, geo_data: bool = False, deadline: Deadline) -> Vestiging:
        request = basisprofiel_request(kvk_nummer, "hoofdvestiging", geo_data=geo_data)
        return self._get_model(Vestiging, request, deadline)

    def vestigingen(self, kvk_nummer: str, *, deadline: Deadline) -> VestigingList:
        return self._get_model(VestigingList, basisprofiel_request(kvk_nummer, "vestigingen"), deadline)

    def vestigingsprofiel(self, vestigingsnummer: str, *, geo_data: bool = False, deadline: Deadline) -> Vestiging:
        return self._get_model(Vestiging, vestigingsprofiel_request(vestigingsnummer, geo_data=geo_data), deadline)

    def naamgeving(self, kvk_nummer: str, *, deadline: Deadline) -> Naamgeving:
        return self._get_model(Naamgeving, naamgeving_request(kvk_nummer), deadline)

    def abonnementen(self, *, deadline: Deadline) -> Abonnementen:
        """The Mutatieservice subscriptions of this key (reference-next §6.3 #1)."""
        return self._get_model(Abonnementen, abonnementen_request(), deadline)

    def signalen(self, abonnement_id: str, vanaf: str, tot: str, pagina: int, *, deadline: Deadline) -> PagedSignalen:
        """One page (500) of signal headers between ``vanaf`` and ``tot`` (§6.3 #2)."""
        return self._get_model(PagedSignalen, signalen_request(abonnement_id, vanaf, tot, pagina), deadline)

    def signaal(self, abonnement_id: str, signaal_id: str, *, deadline: Deadline) -> SignaalDetail:
        """One signal's detail (§6.3 #3)."""
        return self._get_model(SignaalDetail, signaal_request(abonnement_id, signaal_id), deadline)

    def admit(self, request: KvkRequest, deadline: Deadline) -> None:
        """Raise at once if the limits already know this call would be refused (no I/O)."""
        self._limiter.admit(request.api, deadline)

    def fetch(self, request: KvkRequest, *, deadline: Deadline) -> KvkResponse:
        """The raw answer of a successful call: what the cache stores, parsed later by a model."""
        return self._call(request.api, request.path, request.params, deadline)

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    # -- plumbing ----------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        """The one connection pool, built on first use: an SSL context costs ~100 ms of cold start."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    base_url=self.base_url,
                    headers={"Accept": "application/hal+json", "User-Agent": f"kvkgate/{__version__}"},
                    verify=ssl_context(self._ca_file),
                    transport=self._transport,
                    follow_redirects=False,
                )
            return self._http

    def _get_model(self, model: type[Model], request: KvkRequest, deadline: Deadline) -> Model:
        path = request.path
        body = self.fetch(request, deadline=deadline).body
        try:
            return model.model_validate(body)
        except ValidationError as error:
            raise TemporarilyUnavailable(
                f"KVK's answer for {path} does not fit {model.__name__}: {error.error_count()} problem(s)", path=path
            ) from None

    def _key(self, refresh: bool = False) -> ApiKey:
        try:
            return self._api_key.get(refresh=refresh)
        except SecretUnusable as error:
            # A secret that does not exist, may not be read, or holds no key: the configuration is
            # wrong, and that is its own outcome - never "KVK is unavailable, try again later".
            setting = error.setting or "KVK_API_KEY_SECRET_ID"
            raise ConfigError(f"invalid configuration: {setting}: {error}", (setting,)) from None
        except SecretError as error:
            # Secrets Manager could not be asked just now: to callers KVK cannot be asked, not a bug.
            logger.error("KVK API key unavailable: %s", error)
            raise Unauthorized(f"the KVK API key could not be read: {error}") from None

    def _call(self, api: KvkApi, path: str, params: Params, deadline: Deadline) -> KvkResponse:
        key = self._key()
        rotated = False
        attempt = 0
        failure: KvkError | None = None
        while True:
            try:
                return self._attempt(api, path, params, key, deadline, first=attempt == 0 and not rotated)
            except Shed:
                # A retry with no slot left in time: report what went wrong, not the queue.
                if failure is not None:
                    raise failure from None
                raise
            except Unauthorized:
                if rotated:
                    raise
                # The key may have been rotated since we cached it: re-read once, then give up.
                rotated = True
                key = self._key(refresh=True)
            except KvkError as error:
                if not error.transient:
                    raise
                failure = error
                attempt += 1
                delay = self._delay(error, attempt)
                if attempt >= self._retry.max_attempts or not deadline.allows(delay):
                    raise
                self._clock.sleep(delay)

    def _delay(self, error: KvkError, attempt: int) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self._retry.backoff(attempt - 1, self._draw)

    def _attempt(
        self, api: KvkApi, path: str, params: Params, key: ApiKey, deadline: Deadline, *, first: bool
    ) -> KvkResponse:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise TemporarilyUnavailable(f"no time left to call KVK for {path}", path=path)
        timeout = min(self._timeout, remaining)
        door = _SlotAtTheDoor(self._limiter, api, deadline, first, self._on_grant)
        if self._transport is not None:
            door.take()  # a test double has no wire to wait for: the slot is taken before the request
        try:
            response = self._client().get(
                path,
                params=list(params),
                headers={"apikey": key.reveal()},
                timeout=timeout,
                extensions={"trace": door},
            )
        except httpx.TimeoutException:
            self._observe(api, "timeout")
            raise TemporarilyUnavailable(f"KVK did not answer within {timeout:.1f}s for {path}", path=path) from None
        except httpx.TransportError as error:
            self._observe(api, "unreachable")
            raise TemporarilyUnavailable(f"could not reach KVK for {path}: {type(error).__name__}", path=path) from None
        if response.is_success:
            try:
                answer = KvkResponse(self._json(response, path), response.headers.get("API-Version"))
            except KvkError:
                self._observe(api, "unavailable")
                raise
            self._observe(api, "ok")
            self._notice(api, answer.api_version, response.headers.get("warning"))
            return answer
        failure = error_for_response(
            response.status_code, response.content, path, response.headers.get("Retry-After"), self._clock.time()
        )
        self._observe(api, _outcome(failure))
        raise failure

    def _notice(self, api: KvkApi, version: str | None, warning: str | None) -> None:
        """Count what KVK announces (a new version, a retirement warning); say it once per environment."""
        change = announced_change(api, version, warning)
        if change is None:
            return
        from kvkgate import telemetry

        telemetry.count("KvkAnnouncedChange")
        if (api, change) not in self._announced:
            self._announced.add((api, change))
            logger.warning("KVK announced a change for %s: %s", api.value, change)

    @staticmethod
    def _json(response: httpx.Response, path: str) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise TemporarilyUnavailable(
                f"KVK answered {response.status_code} for {path} with a body that is not JSON",
                status=response.status_code,
                path=path,
            ) from None

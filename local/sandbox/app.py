"""The sandbox as an ASGI app: KVK's four APIs (test and production flavour) plus /__sandbox/ admin.

Order of checks for an API call, as a gateway in front of KVK would apply them: outage, API key,
rate limit (sliding one-second window), monthly quota, latency, injected errors, then the API.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.sandbox.dataset import Registry
from local.sandbox.faults import Behaviour, Faults
from local.sandbox.mutaties import SUBSCRIPTION_ID, Mutaties, ProblemAnswer
from local.sandbox.render import Renderer, links, main_branch
from local.sandbox.search import Query, search

PUBLIC_TEST_KEY = "l7xx1f2691f2520d487b902f4e0b57a0b197"
API_VERSIONS = {
    "zoeken": "2.1.0",
    "basisprofiel": "1.5.0",
    "vestigingsprofiel": "1.5.0",
    "naamgeving": "1.1.1",
    "mutatieservice": "1.0.9",
}
MESSAGES = {
    "IPD0004": "Het KVK-nummer {0} is niet valide.",
    "IPD0005": "Op basis van het KVK-nummer {0} kan het product niet worden geleverd.",
    "IPD0006": "Het vestigingsnummer {0} is niet valide.",
    "IPD0007": "Op basis van het vestigingsnummer {0} kan het product niet worden geleverd.",
    "IPD0010": "Het RSI-nummer {0} is niet valide.",
    "IPD1003": "De gegevens zijn tijdelijk niet leverbaar. Probeer het over 5 minuten nog een keer.",
    "IPD1998": "Algemene invoer parameter fout.",
    "IPD1999": "De volgende opgegeven parameter(s) is(zijn) ongeldig: {0}",
    "IPD5200": "Er zijn geen gegevens gevonden die voldoen aan de opgegeven zoekparameters.",
    "IPD5203": "Het opgegeven type is niet valide.",
    "IPD9999": "Algemene technische fout.",
    # Invented: KVK documents no body for these (reference §7.1, §12).
    "SANDBOX-401": "Geen of onjuiste apikey aangeleverd.",
    "SANDBOX-404": "Het gevraagde product bestaat niet.",
    "SANDBOX-QUOTA": "Het maandelijkse aantal bevragingen voor deze apikey is bereikt.",
    "SANDBOX-429": "Te veel bevragingen per seconde.",
}
ZOEKEN_PARAMS = {
    "kvknummer",
    "rsin",
    "vestigingsnummer",
    "naam",
    "straatnaam",
    "plaats",
    "postcode",
    "huisnummer",
    "huisletter",
    "postbusnummer",
    "type",
    "inclusiefinactieveregistraties",
    "pagina",
    "resultatenperpagina",
}
RESULT_WINDOW = 1000
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'none', default-src 'none'",
    "Strict-Transport-Security": "max-age=157680002; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Feature-Policy": "'none'",
    "Server": "unknown",
}
_ROUTE = re.compile(
    r"^/(?P<flavour>test/)?api/(?:"
    r"v2/(?P<zoeken>zoeken)"
    r"|v1/basisprofielen/(?P<kvk>[^/]*)(?:/(?P<sub>eigenaar|hoofdvestiging|vestigingen))?"
    r"|v1/vestigingsprofielen/(?P<branch>[^/]*)"
    r"|v1/naamgevingen/kvknummer/(?P<naming>[^/]*)"
    r"|v1/(?P<mutaties>abonnementen)(?:/(?P<abonnement>[^/]+)(?:/signalen/(?P<signaal>[^/]+))?)?"
    r")/?$"
)


class KvkAnswer(Exception):
    """Raised by a handler to answer with KVK's error shape."""

    def __init__(self, status: int, code: str, value: str = "") -> None:
        super().__init__(code)
        self.status, self.code, self.value = status, code, value


@dataclass
class Keys:
    # Not in the repr: a test's failure report or a log line must not carry a key.
    test: str = field(default=PUBLIC_TEST_KEY, repr=False)
    production: str = field(default="sandbox-production-key", repr=False)


def error_response(status: int, code: str, value: str = "", headers: dict[str, str] | None = None) -> Response:
    body = {"fout": [{"code": code, "omschrijving": MESSAGES[code].format(value)}]}
    return Response(
        json.dumps(body, ensure_ascii=False),
        status,
        {**SECURITY_HEADERS, **(headers or {})},
        media_type="application/json",
    )


def problem_response(problem: ProblemAnswer) -> Response:
    """The Mutatieservice's errors: RFC 7807 problem documents, not the ``{"fout": [...]}`` of the other APIs."""
    return Response(json.dumps(problem.body()), problem.status, SECURITY_HEADERS, media_type="application/json")


def _digits(value: str, length: int, code: str) -> str:
    if not re.fullmatch(rf"[0-9]{{{length}}}", value):
        raise KvkAnswer(400, code, value)
    return value


class Sandbox:
    def __init__(
        self,
        registry: Registry,
        behaviour: Behaviour,
        keys: Keys | None = None,
        seed: int = 0,
        public_host: str | None = None,
    ) -> None:
        self.mutaties = Mutaties(registry)
        self.faults = Faults(behaviour, seed)
        self.keys = keys or Keys()
        self.public_host = public_host

    @property
    def registry(self) -> Registry:
        """This sandbox's register: the shared one, with this sandbox's mutations on its own copy."""
        return self.mutaties.registry

    # -- the gateway ---------------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        match = _ROUTE.match(request.url.path)
        if match is None:
            return error_response(404, "SANDBOX-404")
        api = self._api_name(match)
        production = match["flavour"] is None
        behaviour = self.faults.behaviour
        if behaviour.outage:
            return Response("<html><body><h1>503 Service Unavailable</h1></body></html>", 503, media_type="text/html")
        expected = self.keys.production if production else self.keys.test
        if request.headers.get("apikey") != expected:
            self.faults.stats.unauthorized += 1
            return error_response(401, "SANDBOX-401")
        arrived = time.time()
        self.faults.arrived(arrived)
        wait = self.faults.throttle(time.monotonic())
        if wait is not None:
            return error_response(429, "SANDBOX-429", headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if self.faults.quota_spent():
            self.faults.stats.rate_limited += 1
            return error_response(429, "SANDBOX-QUOTA")
        delay = self.faults.delay_seconds()
        if delay:
            await asyncio.sleep(delay)
        if self.faults.inject_error():
            if api == "mutatieservice":
                response = problem_response(ProblemAnswer(500, "Internal Server Error"))
            elif behaviour.error_kind == "IPD1003":
                response = error_response(404, "IPD1003")
            else:
                response = error_response(500, "IPD9999")
        else:
            response = self._answer(request, match, api, production)
        self.faults.served(api, response.status_code, arrived)
        return response

    @staticmethod
    def _gateway_headers(request: Request) -> dict[str, str]:
        """KVK's gateway echoes the caller's key; clients must keep it out of their logs."""
        return {
            "ap": "Prerelease BR",
            "apiAuthzDetails": f"Not Set|{request.headers.get('apikey', '')}|sandbox|quota?ok|rate?",
            "counter.id": "",
        }

    @staticmethod
    def _api_name(match: re.Match[str]) -> str:
        if match["mutaties"]:
            return "mutatieservice"
        if match["zoeken"]:
            return "zoeken"
        if match["branch"] is not None:
            return "vestigingsprofiel"
        if match["naming"] is not None:
            return "naamgeving"
        return "basisprofiel"

    def _renderer(self, request: Request, production: bool) -> Renderer:
        shape = self.faults.behaviour.link_shape
        if shape == "auto":
            shape = "_links" if "application/hal+json" in request.headers.get("accept", "") else "links"
        host = self.public_host or f"{request.url.scheme}://{request.url.netloc}"
        return Renderer(host + ("/api" if production else "/test/api"), shape)

    def _answer(self, request: Request, match: re.Match[str], api: str, production: bool) -> Response:
        if api == "mutatieservice":
            return self._mutaties(request, match, production)
        renderer = self._renderer(request, production)
        try:
            if api == "zoeken":
                body = self.zoeken(request, renderer)
            elif api == "vestigingsprofiel":
                body = self.vestigingsprofiel(match["branch"], request, renderer)
            elif api == "naamgeving":
                body = renderer.naamgeving(self._company(match["naming"], "profiles"))
            else:
                body = self.basisprofiel(match["kvk"], match["sub"], request, renderer)
        except KvkAnswer as answer:
            return error_response(answer.status, answer.code, answer.value, self._gateway_headers(request))
        accept = request.headers.get("accept", "")
        media = (
            "application/json" if "application/json" in accept and "hal+json" not in accept else "application/hal+json"
        )
        headers = {**SECURITY_HEADERS, "API-Version": API_VERSIONS[api], **self._gateway_headers(request)}
        return Response(json.dumps(body, ensure_ascii=False), 200, headers, media_type=media)

    def _mutaties(self, request: Request, match: re.Match[str], production: bool) -> Response:
        try:
            if match["abonnement"] is None:
                body = self.mutaties.subscriptions()
            elif match["signaal"] is None:
                body = self.mutaties.page(match["abonnement"], dict(request.query_params), mock=not production)
            else:
                body = self.mutaties.detail(match["abonnement"], match["signaal"])
        except ProblemAnswer as problem:
            return problem_response(problem)
        headers = {**SECURITY_HEADERS, "API-Version": API_VERSIONS["mutatieservice"], **self._gateway_headers(request)}
        return Response(json.dumps(body, ensure_ascii=False), 200, headers, media_type="application/json")

    # -- the APIs ------------------------------------------------------------------------------

    def _company(self, kvk: str, scenario_kind: str) -> dict[str, Any]:
        _digits(kvk, 8, "IPD0004")
        record = self.registry.companies.get(kvk)
        if record is None:
            raise KvkAnswer(404, "IPD0005", kvk)
        if "scenario" in record:
            status, code = record["scenario"][scenario_kind]
            raise KvkAnswer(status, code, kvk)
        return record

    @staticmethod
    def _geo(request: Request) -> bool:
        return request.query_params.get("geoData", "false").lower() == "true"

    def basisprofiel(self, kvk: str, sub: str | None, request: Request, renderer: Renderer) -> dict[str, Any]:
        record = self._company(kvk, "profiles")
        geo = self._geo(request)
        if sub == "eigenaar":
            return renderer.eigenaar(record, geo=geo)
        if sub == "vestigingen":
            return renderer.vestigingen(record)
        if sub == "hoofdvestiging":
            main = main_branch(record)
            if main is None:
                raise KvkAnswer(404, "IPD0005", kvk)
            return renderer.embedded_main_branch(record, main, geo=geo) | {
                key: value
                for key, value in renderer.vestiging(record, main, geo=geo).items()
                if key in ("handelsnamen", "rsin", "indNonMailing", "sbiActiviteiten")
            }
        return renderer.basisprofiel(record, geo=geo)

    def vestigingsprofiel(self, number: str, request: Request, renderer: Renderer) -> dict[str, Any]:
        _digits(number, 12, "IPD0006")
        pair = self.registry.branches.get(number)
        if pair is None:
            raise KvkAnswer(404, "IPD0007", number)
        return renderer.vestiging(*pair, geo=self._geo(request))

    def zoeken(self, request: Request, renderer: Renderer) -> dict[str, Any]:
        pairs = [(name.lower(), value) for name, value in request.query_params.multi_items()]
        unknown = [name for name, _ in request.query_params.multi_items() if name.lower() not in ZOEKEN_PARAMS]
        if unknown:
            raise KvkAnswer(400, "IPD1999", ", ".join(unknown))
        query, page, size = self._zoek_query(dict(pairs), [value for name, value in pairs if name == "type"])
        for kvk in filter(None, [query.kvk]):
            record = self.registry.companies.get(kvk)
            if record is not None and "scenario" in record:
                status, code = record["scenario"]["zoeken"]
                raise KvkAnswer(status, code, kvk)
        hits = search(self.registry, query)
        window = min(len(hits), RESULT_WINDOW)
        first = (page - 1) * size
        if not hits or first >= window:
            raise KvkAnswer(404, "IPD5200")
        searched_address = query.postcode is not None
        items = [
            renderer.zoek_item(
                hit.record,
                hit.branch,
                name=hit.name,
                expired_name=hit.expired_name,
                address=hit.address,
                searched_address=searched_address,
                rsin=query.rsin is not None,
                include_active=query.include_inactive,
            )
            for hit in hits[first : min(first + size, window)]
        ]
        criteria = [(name, value) for name, value in pairs if name not in ("pagina", "resultatenperpagina")]

        def page_url(number: int) -> str:
            query_string = urlencode([*criteria, ("pagina", str(number)), ("resultatenperpagina", str(size))])
            return f"{renderer.root}/v2/zoeken?{query_string}"

        body: dict[str, Any] = {"pagina": page, "resultatenPerPagina": size, "totaal": len(hits)}
        if page > 1:
            body["vorige"] = page_url(page - 1)
        if first + size < window:
            body["volgende"] = page_url(page + 1)
        body["resultaten"] = items
        return body | links(renderer.shape, {"self": page_url(page)})

    @staticmethod
    def _zoek_query(params: dict[str, str], types: list[str]) -> tuple[Query, int, int]:
        def integer(name: str, low: int, high: int) -> int | None:
            raw = params.get(name)
            if raw is None:
                return None
            if not re.fullmatch(r"[0-9]{1,5}", raw) or not low <= int(raw) <= high:
                raise KvkAnswer(400, "IPD1998")
            return int(raw)

        kvk, rsin, branch = params.get("kvknummer"), params.get("rsin"), params.get("vestigingsnummer")
        if kvk is not None:
            _digits(kvk, 8, "IPD0004")
        if rsin is not None:
            _digits(rsin, 9, "IPD0010")
        if branch is not None:
            _digits(branch, 12, "IPD0006")
        if any(kind not in ("hoofdvestiging", "nevenvestiging", "rechtspersoon") for kind in types):
            raise KvkAnswer(400, "IPD5203")
        postcode = params.get("postcode")
        if postcode is not None and not re.fullmatch(r"[0-9]{4}[a-zA-Z]{2}", postcode):
            raise KvkAnswer(400, "IPD1998")
        house_number = integer("huisnummer", 0, 99999)
        po_box = integer("postbusnummer", 0, 99999)
        letter = params.get("huisletter")
        if (postcode is None) != (house_number is None and po_box is None):
            raise KvkAnswer(400, "IPD1998")
        if letter is not None and (house_number is None or not re.fullmatch(r"[a-zA-Z]", letter)):
            raise KvkAnswer(400, "IPD1998")
        inactive = params.get("inclusiefinactieveregistraties", "false").lower()
        if inactive not in ("true", "false"):
            raise KvkAnswer(400, "IPD1998")
        query = Query(
            kvk=kvk,
            rsin=rsin,
            branch=branch,
            name=params.get("naam") or None,
            street=params.get("straatnaam") or None,
            place=params.get("plaats") or None,
            postcode=postcode.upper() if postcode else None,
            house_number=house_number,
            house_letter=letter.upper() if letter else None,
            po_box=po_box,
            types=tuple(types),
            include_inactive=inactive == "true",
        )
        if not any((query.kvk, query.rsin, query.branch, query.name, query.street, query.place, query.postcode)):
            raise KvkAnswer(400, "IPD1998")
        page = integer("pagina", 1, 1000) or 1
        size = integer("resultatenperpagina", 1, 100) or 10
        return query, page, size

    # -- admin ---------------------------------------------------------------------------------

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.faults.stats.as_json())

    async def arrivals(self, request: Request) -> Response:
        """Wall-clock (``time.time()``) arrival times of every keyed API request since the last reset."""
        stats = self.faults.stats
        return JSONResponse(
            {
                "clock": "wall",
                "since": stats.started,
                "count": len(stats.arrival_times),
                "arrivals": stats.arrival_times,
            }
        )

    async def mutations(self, request: Request) -> Response:
        """POST: end, rename or transfer a company, or give it a special legal status, and record the
        signal (``{"kvkNummer", "kind", "at"?, "name"?, "to"?, "reason"?}``); DELETE: undo them all."""
        if request.method == "DELETE":
            self.mutaties.reset()
            return JSONResponse({"reset": True})
        try:
            change = json.loads(await request.body() or b"{}")
            if not isinstance(change, dict):
                raise ValueError("body must be a JSON object")
            signal = self.mutaties.mutate(change, self.faults.behaviour.signal_delay_seconds, time.time())
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, 400)
        return JSONResponse({"signal": signal.header(), "subscription": SUBSCRIPTION_ID}, 201)

    async def reset(self, request: Request) -> Response:
        self.faults.reset()
        return JSONResponse({"reset": True})

    async def config(self, request: Request) -> Response:
        if request.method in ("PUT", "PATCH", "POST"):
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                self.faults.behaviour.update(changes)
            except (ValueError, TypeError) as error:
                return JSONResponse({"error": str(error)}, 400)
        return JSONResponse(asdict(self.faults.behaviour))

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {"ok": True, "companies": len(self.registry.companies), "branches": len(self.registry.branches)}
        )


def create_app(sandbox: Sandbox) -> Starlette:
    return Starlette(
        routes=[
            Route("/__sandbox/stats", sandbox.stats, methods=["GET"]),
            Route("/__sandbox/arrivals", sandbox.arrivals, methods=["GET"]),
            Route("/__sandbox/reset", sandbox.reset, methods=["POST"]),
            Route("/__sandbox/config", sandbox.config, methods=["GET", "PUT", "PATCH", "POST"]),
            Route("/__sandbox/health", sandbox.health, methods=["GET"]),
            Route("/__sandbox/mutations", sandbox.mutations, methods=["POST", "DELETE"]),
            Route("/{path:path}", sandbox.api, methods=["GET"]),
        ],
        middleware=[Middleware(GZipMiddleware, minimum_size=1024)],
    )

"""The browser console and its HTTP API (DESIGN.md "Console HTTP API"):
meters, the capture buffer as JSON and pcap, a live packet stream by
server-sent events, and metrics in the Prometheus text format.

Served by Klein on the ``console`` strports description of lab.ini. A
console listening beyond loopback requires ``console_token`` (as a bearer
token or a ``token`` query parameter).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import sys
from collections import Counter, deque
from functools import partial, wraps
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Concatenate, Iterable, Mapping, ParamSpec, Protocol, TypeVar

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from klein import Klein
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from ..config import format_anomalies, format_faults
from ..dissector.record import packet_record
from ..monitor.capture import NORMAL_RESULTS, CaptureBus, Exchange, PacketFilter, PausableObserver, RingBuffer
from ..monitor.pcap import write_pcap
from ..security.store import KEY_NAMES
from ..simulator.scenario import MAX_SCENARIO_BYTES

#: Where the templates are: the checkout (development) or the installed data files.
TEMPLATE_FOLDERS = (Path(__file__).resolve().parents[2] / "templates",
                    Path(sys.prefix) / "share" / "dlmstw" / "templates")
#: Server-sent events per stream and second, at most; more are dropped and counted.
STREAM_EVENTS_PER_SECOND = 200
STREAM_FLUSH_SECONDS = 0.1
#: A PATCH body longer than this is refused.
MAX_PATCH_BYTES = 64 * 1024
#: Errors name an uploaded scenario so (at most ``simulator.scenario.MAX_SCENARIO_BYTES``).
UPLOADED_SCENARIO = "uploaded scenario"
#: The page's own assets (script, style, icon), served from the package.
ASSETS = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}
#: /api/meters pages: any of these parameters asks for one, ``limit`` meters long.
PAGE_PARAMETERS = (b"offset", b"limit", b"q", b"state")
PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 1_000
#: Buffered records a stream starts with, at most (``?backfill=N``).
MAX_BACKFILL = 500
#: Results of the connection events every exchange is framed by (not requests).
CONNECTION_RESULTS = ("accepted", "closed")


P = ParamSpec("P")
R = TypeVar("R")


class BadRequest(ValueError):
    """A request the API cannot take: answered 400 with the reason."""


class NotFound(LookupError):
    """A meter or campaign the console does not have: answered 404."""


def templates() -> Environment:
    return Environment(loader=ChoiceLoader([FileSystemLoader(str(p)) for p in TEMPLATE_FOLDERS]),
                       autoescape=select_autoescape(["html"]))


class EventStream(PausableObserver):
    """One server-sent-events client: a bounded queue flushed a few times a
    second; while the client does not keep up (paused by the transport),
    events are dropped and the count is sent when it resumes."""

    def __init__(self, request: IRequest, describe: Callable[[Exchange], dict[str, Any]],
                 accept: Callable[[Exchange], bool]) -> None:
        super().__init__()
        self.request = request
        self.describe = describe
        self.accept = accept
        self.queue: deque[Exchange] = deque(maxlen=int(STREAM_EVENTS_PER_SECOND * STREAM_FLUSH_SECONDS))

    def __call__(self, exchange: Exchange) -> None:
        if not self.accept(exchange):
            return
        if self.paused or len(self.queue) == self.queue.maxlen:
            self.dropped += 1
            return
        self.queue.append(exchange)

    def flush(self) -> None:
        if self.paused:
            return
        parts = []
        if self.dropped:
            parts.append(f"event: dropped\ndata: {self.dropped}\n\n")
            self.dropped = 0
        while self.queue:
            parts.append(_event(self.describe(self.queue.popleft())))
        if parts:
            self.request.write("".join(parts).encode())

def _event(record: dict[str, Any]) -> str:
    """One server-sent event of a packet record."""
    return f"id: {record['sequence']}\nevent: exchange\ndata: {json.dumps(record)}\n\n"


def _key_text(name: str, value: bytes) -> str:
    """A key as lab.ini writes it: a printable password as text, else hex."""
    if name == "lls_password" and all(0x20 <= b <= 0x7E for b in value) and not value.startswith(b"hex:"):
        return value.decode("ascii")
    return ("hex:" if name == "lls_password" else "") + value.hex().upper()


class Campaigns(Protocol):
    """The campaigns started from the console (``client.live.LiveCampaigns``)."""

    campaigns: Iterable[Any]

    def start(self, plan: Any) -> Any:
        """Start a campaign (now or through a Deferred: ``summary()``, ``document()``); ValueError
        saying what is wrong with ``plan``."""

    def find(self, number: int) -> Any:
        """The campaign ``number``, or None."""

    def stop(self, number: int) -> Any:
        """Start no more attempts in campaign ``number``; the campaign, or None."""


class ScenarioControl(Protocol):
    """The lab's scenario, as the console runs it (``server.scenario.ScenarioRunner``)."""

    def parse(self, text: str, source: str) -> Any:
        """A scenario's TOML text, checked; ValueError with the one line that says what is wrong."""

    def status(self) -> dict[str, Any]:
        """The timeline: steps, which ran, which is next, how many meters each hits."""

    def load(self, scenario: Any) -> None:
        """Take a new scenario (idle)."""

    def start(self) -> None:
        """Run or go on; ValueError when it cannot."""

    def pause(self) -> None:
        """Pause; ValueError when not running."""

    def reset(self) -> Deferred[None]:
        """Back to the start, the meters as the lab started them; ValueError
        while a reset is pending; fails otherwise (not ValueError) when a meter refused."""


class Lab(Protocol):
    """What the console shows of the running lab (``server.service.LabService``)."""

    factories: Mapping[str, Any]
    meter_configs: Mapping[str, Any]

    def totals(self) -> tuple[int, Counter[str]]:
        """Connected clients and capture counts by result, over all meters."""

    def reconfigure(self, meter_id: str, changes: dict[str, Any]) -> Any:
        """Change a running meter (now, or through a Deferred); ValueError with
        the reason when refused."""

    def values(self, meter_id: str) -> Any:
        """The meter's live values (now, or through a Deferred); ValueError when unreadable."""

    def changed_keys(self, meter_ids: list[str]) -> Any:
        """The keys changed since lab.ini of each meter (now, or through a Deferred)."""


def _from_a_browser(request: IRequest) -> bool:
    """Whether a browser sent ``request`` (it names its origin or the site it
    came from; scripts such as curl send neither)."""
    return any(request.getHeader(name) for name in ("origin", "sec-fetch-site", "cookie", "referer"))


def _loopback_host(request: IRequest) -> bool:
    """Whether the request's Host names loopback (``localhost``, 127.0.0.0/8, ``::1``), or is absent."""
    host = (request.getHeader("host") or "").strip().lower()
    if not host:
        return True
    name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rpartition(":")[0] or host
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def authorised(route: Callable[Concatenate[Console, IRequest, P], R]) -> Callable[Concatenate[Console, IRequest, P], R | bytes]:
    """A route only for holders of the console token, when the console has
    one (a bearer token or a ``token`` query parameter); 401 otherwise. A
    console without a token (on loopback) answers only requests for a
    loopback Host, so that a site whose name is made to point at 127.0.0.1
    (DNS rebinding) cannot read it. A state-changing request from a browser
    must also carry the page's CSRF token (``X-CSRF-Token``), so that another
    site cannot send one; 403 otherwise."""
    @wraps(route)
    def guarded(console: Console, request: IRequest, *args: P.args, **kwargs: P.kwargs) -> R | bytes:
        if console.token:
            header = (request.getHeader("authorization") or "").removeprefix("Bearer ").strip()
            supplied = header or (request.args.get(b"token", [b""])[0]).decode(errors="replace")
            if not hmac.compare_digest(supplied.encode(), console.token.encode()):
                request.setResponseCode(401)
                request.setHeader("www-authenticate", 'Bearer realm="dlmstw console"')
                return b"console token required\n"
        elif not _loopback_host(request):
            request.setResponseCode(403)
            return b"this console answers requests for a loopback host name or address only\n"
        if request.method not in (b"GET", b"HEAD") and _from_a_browser(request):
            csrf = (request.getHeader("x-csrf-token") or "").encode()
            if not hmac.compare_digest(csrf, console.csrf.encode()):
                request.setResponseCode(403)
                return b"the page's CSRF token is missing or wrong; reload the console\n"
        return route(console, request, *args, **kwargs)
    return guarded


class Console:
    app = Klein()

    def __init__(self, lab: Lab, capture: CaptureBus, buffer: RingBuffer, token: str | None,
                 clock: Any, describe: Callable[[Exchange], dict[str, Any]] = packet_record,
                 packet_log: Any = None, campaigns: Campaigns | None = None,
                 scenario: ScenarioControl | None = None) -> None:
        self.lab = lab
        self.capture = capture
        self.buffer = buffer
        self.token = token
        self.clock = clock
        self.describe = describe
        #: The packet log service, for its counters in /metrics (None when off).
        self.packet_log = packet_log
        self.campaigns = campaigns
        #: The lab's scenario runner (``server.scenario.ScenarioRunner``); None: this console has none.
        self.scenario = scenario
        self.templates = templates()
        #: The token the page's own state-changing requests carry (new with each start).
        self.csrf = secrets.token_urlsafe(24)
        #: Each meter's last capture record time, and its faults and anomalies as last set.
        self.last_seen: dict[str, float] = {}
        self.settings: dict[str, dict[str, str]] = {}
        capture.subscribe_batches(self._seen)
        self.streams: set[EventStream] = set()
        self._flusher = LoopingCall(self._flush)
        self._flusher.clock = clock

    # -- helpers ---------------------------------------------------------------

    def _json(self, request: IRequest, value: Any, status: int = 200) -> bytes:
        request.setResponseCode(status)
        request.setHeader("content-type", "application/json")
        return json.dumps(value, indent=1, allow_nan=False).encode()

    def _arg(self, request: IRequest, name: str) -> str | None:
        values = request.args.get(name.encode())
        return values[0].decode(errors="replace") if values else None

    def _whole(self, request: IRequest, name: str, low: int, high: int | None = None) -> int | None:
        """The query's whole-number parameter ``name`` in ``low..high``; BadRequest otherwise."""
        text = self._arg(request, name)
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise BadRequest(f"{name} must be a whole number") from None
        if value < low or (high is not None and value > high):
            raise BadRequest(f"{name} must be {low} to {high}" if high is not None else f"{name} must be at least {low}")
        return value

    def _filter(self, request: IRequest) -> PacketFilter:
        """The query's ``meter``, ``peer``, ``kind``, ``result`` and ``errors`` (1: only problems)."""
        return PacketFilter(self._arg(request, "meter") or None, self._arg(request, "peer") or None,
                            self._arg(request, "kind") or None, self._arg(request, "result") or None,
                            self._arg(request, "errors") in ("1", "true", "yes"))

    def _selected(self, request: IRequest, whole_connections: bool = False) -> list[Exchange]:
        """The captured exchanges the query's filters and ``limit`` select (with the
        earlier records of the TCP connections they reach into, if
        ``whole_connections``); BadRequest for a bad limit."""
        return self.buffer.select(limit=self._whole(request, "limit", 0), wanted=self._filter(request),
                                  whole_connections=whole_connections)

    def _seen(self, batch: list[Exchange]) -> None:
        last_seen = self.last_seen
        for exchange in batch:
            last_seen[exchange.meter] = exchange.time_res or exchange.time_req

    def _meter_id(self, meter_id: str) -> str:
        if meter_id not in self.lab.factories:
            raise NotFound(f"no meter {meter_id!r}")
        return meter_id

    def meter_summary(self, meter_id: str) -> dict[str, Any]:
        factory = self.lab.factories[meter_id]
        config = self.lab.meter_configs[meter_id]
        counters = factory.counters
        total = sum(counters.values())
        settings = self.settings.get(meter_id, {})
        summary = {
            "id": meter_id, "serial": config.serial, "address": config.interface, "port": config.port,
            "model": ",".join(config.model), "state": "online" if factory.online else "offline",
            "clients": factory.connections,
            "counters": dict(counters), "transport": config.transport,
            "requests": total - sum(counters.get(result, 0) for result in CONNECTION_RESULTS),
            "errors": total - sum(counters.get(result, 0) for result in NORMAL_RESULTS),
            "last_seen": self.last_seen.get(meter_id),
            "faults": settings.get("faults", format_faults(config.faults)),
            "anomalies": settings.get("anomalies", format_anomalies(config.anomalies)),
        }
        if config.transport == "hdlc":
            summary["physical_address"] = config.physical_address
            summary["gateway"] = config.gateway
        worker = getattr(factory, "worker", None)
        if worker is not None:
            summary["worker"] = worker.summary()
        return summary

    # -- routes ----------------------------------------------------------------

    @app.handle_errors(BadRequest)
    def bad_request(self, request: IRequest, failure: Failure) -> bytes:
        return self._json(request, {"error": str(failure.value)}, 400)

    @app.handle_errors(NotFound)
    def not_found(self, request: IRequest, failure: Failure) -> bytes:
        return self._json(request, {"error": str(failure.value)}, 404)

    def _page(self, request: IRequest, template: str, **values: Any) -> bytes:
        request.setHeader("content-type", "text/html; charset=utf-8")
        page = self.templates.get_template(template)
        return page.render(token=self.token or "", csrf=self.csrf, normal_results=sorted(NORMAL_RESULTS),
                           **values).encode()

    @app.route("/", methods=["GET"])
    @authorised
    def index(self, request: IRequest) -> bytes:
        # The first page of meters comes with the page: one request until they show.
        return self._page(request, "console.html", first_page=self.meter_page_of(0, PAGE_LIMIT))

    @app.route("/meters/<meter_id>", methods=["GET"])
    @authorised
    def meter_page(self, request: IRequest, meter_id: str) -> Deferred[bytes]:
        return self._detail(self._meter_id(meter_id), request).addCallback(
            lambda meter: self._page(request, "meter.html", meter=meter))

    @app.route("/static/<name>", methods=["GET"])
    @authorised
    def asset(self, request: IRequest, name: str) -> bytes:
        """The page's script, style and icon (only the files of ``ASSETS``)."""
        path = ASSETS / name
        kind = CONTENT_TYPES.get(path.suffix)
        if kind is None or "/" in name or name.startswith(".") or not path.is_file():
            request.setResponseCode(404)
            return b"no such file\n"
        request.setHeader("content-type", kind)
        request.setHeader("cache-control", "max-age=300")
        return path.read_bytes()

    @app.route("/api/meters", methods=["GET"])
    @authorised
    def meters(self, request: IRequest) -> bytes:
        """The plain list of every meter; with any of ``offset``, ``limit``, ``q``
        or ``state``, one page of them and how many match (DESIGN.md)."""
        if not any(name in request.args for name in PAGE_PARAMETERS):
            return self._json(request, [self.meter_summary(m) for m in self.lab.factories])
        state = self._arg(request, "state") or None
        if state not in (None, "online", "offline"):
            raise BadRequest("state must be online or offline")
        return self._json(request, self.meter_page_of(self._whole(request, "offset", 0) or 0,
                                                      self._whole(request, "limit", 1, MAX_PAGE_LIMIT) or PAGE_LIMIT,
                                                      (self._arg(request, "q") or "").strip(), state))

    def meter_page_of(self, offset: int, limit: int, query: str = "", state: str | None = None) -> dict[str, Any]:
        """``limit`` meters from ``offset`` among those whose id or serial holds
        ``query`` or whose port is ``query``, in ``state``; and how many match."""
        factories, configs = self.lab.factories, self.lab.meter_configs
        if state is None and not query:
            total, chosen = len(factories), list(islice(factories, offset, offset + limit))
        else:
            online = state == "online"
            matching = [m for m in factories
                        if (state is None or factories[m].online == online)
                        and (not query or query in m or query in str(configs[m].serial)
                             or query == str(configs[m].port))]
            total, chosen = len(matching), matching[offset:offset + limit]
        return {"total": total, "offset": offset, "limit": limit, "meters": [self.meter_summary(m) for m in chosen]}

    @app.route("/api/meters/<meter_id>", methods=["GET"])
    @authorised
    def meter(self, request: IRequest, meter_id: str) -> Deferred[bytes]:
        return self._detail(self._meter_id(meter_id), request).addCallback(lambda meter: self._json(request, meter))

    @app.route("/api/meters/<meter_id>/values", methods=["GET"])
    @authorised
    def meter_values(self, request: IRequest, meter_id: str) -> Deferred[bytes]:
        """The meter's clock, registers and last profile rows, read through its objects now."""
        self._meter_id(meter_id)

        def refused(failure: Failure) -> bytes:
            failure.trap(ValueError)
            return self._json(request, {"error": str(failure.value)}, 503)

        return maybeDeferred(self.lab.values, meter_id).addCallbacks(lambda values: self._json(request, values),
                                                                     refused)

    def _body(self, request: IRequest) -> dict[str, Any]:
        """The request's JSON object; BadRequest when too long or not one."""
        body = request.content.read(MAX_PATCH_BYTES + 1)
        if len(body) > MAX_PATCH_BYTES:
            raise BadRequest(f"the body is longer than {MAX_PATCH_BYTES} bytes")
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            raise BadRequest("the body must be a JSON object")
        return value

    @app.route("/api/meters/<meter_id>", methods=["PATCH"])
    @authorised
    def change_meter(self, request: IRequest, meter_id: str) -> Deferred[bytes]:
        """Change keys, passwords, load profile interval and days, anomalies,
        faults and online/offline at run time (DESIGN.md console API)."""
        self._meter_id(meter_id)
        changes = self._body(request)

        def refused(failure: Failure) -> bytes:
            failure.trap(ValueError)
            raise BadRequest(str(failure.value))

        def changed(_: object) -> Deferred[dict[str, Any]]:
            settings = self.settings.setdefault(meter_id, {})
            for name in ("faults", "anomalies"):
                if name in changes:
                    settings[name] = changes[name]
            return self._detail(meter_id, request)

        done = maybeDeferred(self.lab.reconfigure, meter_id, changes)
        return done.addCallbacks(changed, refused).addCallback(lambda meter: self._json(request, meter))

    def shows_keys(self, request: IRequest) -> bool:
        """Whether keys may be shown: to holders of the console token, or on loopback."""
        if self.token:
            return True
        try:
            return ipaddress.ip_address(request.getClientAddress().host).is_loopback
        except (AttributeError, ValueError):
            return False

    def _detail(self, meter_id: str, request: IRequest) -> Deferred[dict[str, Any]]:
        """``meter_detail``, with the keys when ``request`` may see them."""
        detail = self.meter_detail(meter_id)
        if not self.shows_keys(request):
            return succeed(detail)

        def keyed(changed: dict[str, dict[str, dict[str, bytes]]]) -> dict[str, Any]:
            detail["keys"] = self._keys(meter_id, changed.get(meter_id, {}))
            return detail

        return maybeDeferred(self.lab.changed_keys, [meter_id]).addCallback(keyed)

    def _keys(self, meter_id: str, changed: dict[str, dict[str, bytes]]) -> dict[str, dict[str, str | None]]:
        """Each association's keys now: lab.ini's unless ``changed`` (``security.store``)."""
        keys = {}
        for association in self.lab.meter_configs[meter_id].associations:
            mine = changed.get(association.name, {})
            current = {name: mine.get(name, getattr(association, name)) for name in KEY_NAMES}
            keys[association.name] = {name: None if value is None else _key_text(name, value)
                                      for name, value in current.items()}
        return keys

    def meter_detail(self, meter_id: str) -> dict[str, Any]:
        config = self.lab.meter_configs[meter_id]
        runtime = self.lab.factories[meter_id].meter
        summary = self.meter_summary(meter_id)
        summary.update({
            "group": config.group, "system_title": config.system_title.hex().upper(),
            "max_clients": config.max_clients, "inactivity_timeout": config.inactivity_timeout,
            "load_profile_interval": runtime.load_profile_period // 60,
            "load_profile_days": runtime.load_profile_days,
            "seed": config.seed, "associations": [
                {"name": a.name, "client_sap": a.client_sap, "authentication": a.authentication,
                 "context": a.context, "security": a.security, "access": a.access} for a in config.associations],
        })
        return summary

    @app.route("/api/packets", methods=["GET"])
    @authorised
    def packets(self, request: IRequest) -> bytes:
        return self._json(request, [self.describe(e) for e in self._selected(request)])

    @app.route("/api/packets.json", methods=["GET"])
    @authorised
    def packets_download(self, request: IRequest) -> bytes:
        selected = self._selected(request)
        request.setHeader("content-disposition", 'attachment; filename="dlmstw-packets.json"')
        return self._json(request, [self.describe(e) for e in selected])

    @app.route("/api/packets.pcap", methods=["GET"])
    @authorised
    def packets_pcap(self, request: IRequest) -> bytes:
        selected = self._selected(request, whole_connections=True)
        request.setHeader("content-type", "application/vnd.tcpdump.pcap")
        request.setHeader("content-disposition", 'attachment; filename="dlmstw-packets.pcap"')
        return write_pcap(selected)

    @app.route("/api/packets/stream", methods=["GET"])
    @authorised
    def stream(self, request: IRequest) -> Deferred[None]:
        """Live records matching the filters; ``backfill=N`` starts with the
        newest N buffered ones (at most ``MAX_BACKFILL``), with no gap between."""
        wanted = self._filter(request)
        backfill = self._whole(request, "backfill", 0, MAX_BACKFILL) or 0
        request.setHeader("content-type", "text/event-stream")
        request.setHeader("cache-control", "no-cache")
        stream = EventStream(request, self.describe, wanted)
        request.registerProducer(stream, True)
        request.write(b": dlmstw packet stream\n\n")
        if backfill:
            request.write("".join(_event(self.describe(e)) for e in self.buffer.select(
                limit=backfill, wanted=wanted)).encode())
        unsubscribe = self.capture.subscribe(stream)
        self.streams.add(stream)
        if not self._flusher.running:
            self._flusher.start(STREAM_FLUSH_SECONDS, now=False)

        def closed(_: object) -> None:
            unsubscribe()
            self.streams.discard(stream)
            if not self.streams and self._flusher.running:
                self._flusher.stop()

        done: Deferred[None] = Deferred(lambda d: closed(None))
        request.notifyFinish().addBoth(closed)
        return done

    # -- campaigns ---------------------------------------------------------------

    def _campaigns(self) -> Campaigns:
        if self.campaigns is None:
            raise NotFound("this console runs no campaigns")
        return self.campaigns

    def _campaign(self, campaign_id: str) -> Any:
        found = self._campaigns().find(int(campaign_id)) if campaign_id.isdigit() else None
        if found is None:
            raise NotFound(f"no campaign {campaign_id!r}")
        return found

    @app.route("/campaigns", methods=["GET"])
    @authorised
    def campaigns_page(self, request: IRequest) -> bytes:
        configs = self.lab.meter_configs
        first = next(iter(configs.values()), None)
        return self._page(request, "campaigns.html", groups=sorted({c.group for c in configs.values()}),
                          associations=[a.name for a in first.associations] if first is not None else [])

    @app.route("/api/campaigns", methods=["GET"])
    @authorised
    def campaign_list(self, request: IRequest) -> bytes:
        return self._json(request, [c.summary() for c in self._campaigns().campaigns])

    @app.route("/api/campaigns", methods=["POST"])
    @authorised
    def campaign_start(self, request: IRequest) -> Deferred[bytes]:
        """Start a campaign: ``meters``, ``association``, ``attributes``, ``concurrency``, ``repetitions``."""
        def refused(failure: Failure) -> bytes:
            failure.trap(ValueError)
            raise BadRequest(str(failure.value))

        started = maybeDeferred(self._campaigns().start, self._body(request))
        return started.addCallbacks(lambda live: self._json(request, live.document(), 201), refused)

    @app.route("/api/campaigns/<campaign_id>", methods=["GET"])
    @authorised
    def campaign(self, request: IRequest, campaign_id: str) -> bytes:
        return self._json(request, self._campaign(campaign_id).document())

    @app.route("/api/campaigns/<campaign_id>/stop", methods=["POST"])
    @authorised
    def campaign_stop(self, request: IRequest, campaign_id: str) -> bytes:
        self._campaign(campaign_id)
        return self._json(request, self._campaigns().stop(int(campaign_id)).document())

    # -- scenario ------------------------------------------------------------------

    def _scenario(self) -> ScenarioControl:
        if self.scenario is None:
            raise NotFound("this console runs no scenario")
        return self.scenario

    @app.route("/scenario", methods=["GET"])
    @authorised
    def scenario_page(self, request: IRequest) -> bytes:
        self._scenario()
        return self._page(request, "scenario.html")

    @app.route("/api/scenario", methods=["GET"])
    @authorised
    def scenario_state(self, request: IRequest) -> bytes:
        """The scenario's timeline and state (``ScenarioRunner.status``)."""
        return self._json(request, self._scenario().status())

    @app.route("/api/scenario", methods=["POST"])
    @authorised
    def scenario_upload(self, request: IRequest) -> Deferred[bytes]:
        """A new scenario: the body is the TOML file, checked as lab.ini's is
        (one line naming the step and key when refused); the one running is reset first."""
        runner = self._scenario()
        body = request.content.read(MAX_SCENARIO_BYTES + 1)
        if len(body) > MAX_SCENARIO_BYTES:
            raise BadRequest(f"the scenario is longer than {MAX_SCENARIO_BYTES} bytes")
        try:
            scenario = runner.parse(body.decode("utf-8"), UPLOADED_SCENARIO)
        except UnicodeDecodeError as error:
            raise BadRequest(f"{UPLOADED_SCENARIO}: not UTF-8 text (byte {error.start})") from None
        except ValueError as error:
            raise BadRequest(str(error)) from None

        def loaded(_: object) -> bytes:
            runner.load(scenario)
            return self._json(request, runner.status(), 201)

        return maybeDeferred(runner.reset).addCallbacks(loaded, partial(self._scenario_refused, request))

    @app.route("/api/scenario/<command>", methods=["POST"])
    @authorised
    def scenario_command(self, request: IRequest, command: str) -> Deferred[bytes]:
        """``start`` (or go on after a pause), ``pause``, ``reset``; 409 when the state does not allow it."""
        runner = self._scenario()
        if command not in ("start", "pause", "reset"):
            raise NotFound(f"no scenario command {command!r}; commands: start, pause, reset")
        done = maybeDeferred(getattr(runner, command))
        return done.addCallbacks(lambda _: self._json(request, runner.status()),
                                 partial(self._scenario_refused, request))

    def _scenario_refused(self, request: IRequest, failure: Failure) -> bytes:
        """409 for what the scenario's state does not allow (ValueError, e.g.
        while it is resetting), 502 for a reset a meter or worker refused: one line."""
        if failure.check(ValueError):
            return self._json(request, {"error": str(failure.value)}, 409)
        return self._json(request, {"error": failure.getErrorMessage().splitlines()[0]}, 502)

    @app.route("/metrics", methods=["GET"])
    @authorised
    def metrics(self, request: IRequest) -> bytes:
        request.setHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
        return "".join(prometheus_lines(self)).encode()

    def totals(self) -> dict[str, int]:
        """The lab's capture and packet-log counts over all its processes (/metrics, and the stop line)."""
        lab, log = self.lab, self.packet_log
        return {"captured": self.capture.published + getattr(lab, "published", 0),
                "capture_dropped": self.capture.dropped + getattr(lab, "dropped", 0),
                "worker_restarts": getattr(lab, "restarts", 0),
                "log_written": log.written if log is not None else 0,
                "log_dropped": log.dropped if log is not None else 0,
                "log_restarts": log.restarts if log is not None else 0}

    def _flush(self) -> None:
        for stream in tuple(self.streams):
            stream.flush()


def prometheus_lines(console: Console) -> Iterable[str]:
    """Counters in the Prometheus text exposition format (version 0.0.4): one
    series per result name, none per meter (the per-meter figures are in
    ``/api/meters``), so a lab of any size has a few dozen series."""
    totals = console.totals()
    yield "# HELP dlmstw_capture_published_total Exchanges captured, in every process.\n"
    yield f"# TYPE dlmstw_capture_published_total counter\ndlmstw_capture_published_total {totals['captured']}\n"
    yield "# HELP dlmstw_capture_dropped_total Exchanges dropped before the packet log and console saw them.\n"
    yield f"# TYPE dlmstw_capture_dropped_total counter\ndlmstw_capture_dropped_total {totals['capture_dropped']}\n"
    yield "# HELP dlmstw_worker_restarts_total Worker processes started again after they ended unexpectedly.\n"
    yield f"# TYPE dlmstw_worker_restarts_total counter\ndlmstw_worker_restarts_total {totals['worker_restarts']}\n"
    if console.packet_log is not None:
        yield "# HELP dlmstw_packet_log_records_total Exchanges the packet log wrote, and dropped.\n"
        yield "# TYPE dlmstw_packet_log_records_total counter\n"
        yield f'dlmstw_packet_log_records_total{{outcome="written"}} {totals["log_written"]}\n'
        yield f'dlmstw_packet_log_records_total{{outcome="dropped"}} {totals["log_dropped"]}\n'
        yield "# HELP dlmstw_packet_log_restarts_total Packet-log writers started again after they ended.\n"
        yield f"# TYPE dlmstw_packet_log_restarts_total counter\ndlmstw_packet_log_restarts_total {totals['log_restarts']}\n"
    clients, results = console.lab.totals()
    yield "# HELP dlmstw_clients Connected clients, over all meters.\n# TYPE dlmstw_clients gauge\n"
    yield f"dlmstw_clients {clients}\n"
    yield ("# HELP dlmstw_exchanges_total Captured exchanges and connection events by result, over all meters.\n"
           "# TYPE dlmstw_exchanges_total counter\n")
    for result, count in sorted(results.items()):
        yield f'dlmstw_exchanges_total{{result="{_label_value(result)}"}} {count}\n'


def _label_value(text: str) -> str:
    """A label value as the text format escapes it: backslash, double quote, line feed."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

"""The browser console and its HTTP API (DESIGN.md "Console HTTP API"):
meters, the capture buffer as JSON and pcap, a live packet stream by
server-sent events, and metrics in the Prometheus text format.

Served by Klein on the ``console`` strports description of lab.ini. A
console listening beyond loopback requires ``console_token`` (as a bearer
token or a ``token`` query parameter).
"""

from __future__ import annotations

import hmac
import json
import sys
from collections import Counter, deque
from functools import wraps
from pathlib import Path
from typing import Any, Callable, Concatenate, Iterable, Mapping, ParamSpec, Protocol, TypeVar

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from klein import Klein
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from ..dissector.record import packet_record
from ..monitor.capture import CaptureBus, Exchange, PausableObserver, RingBuffer
from ..monitor.pcap import write_pcap

#: Where the templates are: the checkout (development) or the installed data files.
TEMPLATE_FOLDERS = (Path(__file__).resolve().parents[2] / "templates",
                    Path(sys.prefix) / "share" / "dlmstw" / "templates")
#: Server-sent events per stream and second, at most; more are dropped and counted.
STREAM_EVENTS_PER_SECOND = 200
STREAM_FLUSH_SECONDS = 0.1
#: A PATCH body longer than this is refused.
MAX_PATCH_BYTES = 64 * 1024


P = ParamSpec("P")
R = TypeVar("R")


class BadRequest(ValueError):
    """A request the API cannot take: answered 400 with the reason."""


class NoSuchMeter(LookupError):
    """A meter id the lab does not have: answered 404."""


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
            record = self.describe(self.queue.popleft())
            parts.append(f"id: {record['sequence']}\nevent: exchange\ndata: {json.dumps(record)}\n\n")
        if parts:
            self.request.write("".join(parts).encode())

class Lab(Protocol):
    """What the console shows of the running lab (``server.service.LabService``)."""

    factories: Mapping[str, Any]
    meter_configs: Mapping[str, Any]

    def totals(self) -> tuple[int, Counter[str]]:
        """Connected clients and capture counts by result, over all meters."""

    def reconfigure(self, meter_id: str, changes: dict[str, Any]) -> Any:
        """Change a running meter (now, or through a Deferred); ValueError with
        the reason when refused."""


def authorised(route: Callable[Concatenate[Console, IRequest, P], R]) -> Callable[Concatenate[Console, IRequest, P], R | bytes]:
    """A route only for holders of the console token, when the console has
    one (a bearer token or a ``token`` query parameter); 401 otherwise."""
    @wraps(route)
    def guarded(console: Console, request: IRequest, *args: P.args, **kwargs: P.kwargs) -> R | bytes:
        if console.token:
            header = (request.getHeader("authorization") or "").removeprefix("Bearer ").strip()
            supplied = header or (request.args.get(b"token", [b""])[0]).decode(errors="replace")
            if not hmac.compare_digest(supplied.encode(), console.token.encode()):
                request.setResponseCode(401)
                request.setHeader("www-authenticate", 'Bearer realm="dlmstw console"')
                return b"console token required\n"
        return route(console, request, *args, **kwargs)
    return guarded


class Console:
    app = Klein()

    def __init__(self, lab: Lab, capture: CaptureBus, buffer: RingBuffer, token: str | None,
                 clock: Any, describe: Callable[[Exchange], dict[str, Any]] = packet_record,
                 packet_log: Any = None) -> None:
        self.lab = lab
        self.capture = capture
        self.buffer = buffer
        self.token = token
        self.clock = clock
        self.describe = describe
        #: The packet log service, for its counters in /metrics (None when off).
        self.packet_log = packet_log
        self.templates = templates()
        self.streams: set[EventStream] = set()
        self._flusher = LoopingCall(self._flush)
        self._flusher.clock = clock

    # -- helpers ---------------------------------------------------------------

    def _json(self, request: IRequest, value: Any, status: int = 200) -> bytes:
        request.setResponseCode(status)
        request.setHeader("content-type", "application/json")
        return json.dumps(value, indent=1).encode()

    def _arg(self, request: IRequest, name: str) -> str | None:
        values = request.args.get(name.encode())
        return values[0].decode(errors="replace") if values else None

    def _selected(self, request: IRequest) -> list[Exchange]:
        """The captured exchanges the query's ``meter``, ``peer`` and ``limit`` select; BadRequest for a bad limit."""
        limit_text = self._arg(request, "limit")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            raise BadRequest("limit must be a whole number") from None
        return self.buffer.select(self._arg(request, "meter"), self._arg(request, "peer"), limit)

    def _meter_id(self, meter_id: str) -> str:
        if meter_id not in self.lab.factories:
            raise NoSuchMeter(f"no meter {meter_id!r}")
        return meter_id

    def meter_summary(self, meter_id: str) -> dict[str, Any]:
        factory = self.lab.factories[meter_id]
        config = self.lab.meter_configs[meter_id]
        summary = {
            "id": meter_id, "serial": config.serial, "address": config.interface, "port": config.port,
            "model": ",".join(config.model), "state": "online" if factory.online else "offline",
            "clients": factory.connections,
            "counters": dict(factory.counters), "transport": config.transport,
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

    @app.handle_errors(NoSuchMeter)
    def no_such_meter(self, request: IRequest, failure: Failure) -> bytes:
        return self._json(request, {"error": str(failure.value)}, 404)

    @app.route("/", methods=["GET"])
    @authorised
    def index(self, request: IRequest) -> bytes:
        request.setHeader("content-type", "text/html; charset=utf-8")
        page = self.templates.get_template("console.html")
        return page.render(meters=[self.meter_summary(m) for m in self.lab.factories],
                           token=self.token or "").encode()

    @app.route("/api/meters", methods=["GET"])
    @authorised
    def meters(self, request: IRequest) -> bytes:
        return self._json(request, [self.meter_summary(m) for m in self.lab.factories])

    @app.route("/api/meters/<meter_id>", methods=["GET"])
    @authorised
    def meter(self, request: IRequest, meter_id: str) -> bytes:
        return self._json(request, self.meter_detail(self._meter_id(meter_id)))

    @app.route("/api/meters/<meter_id>", methods=["PATCH"])
    @authorised
    def change_meter(self, request: IRequest, meter_id: str) -> Deferred[bytes]:
        """Change keys, passwords, load profile interval and days, anomalies,
        faults and online/offline at run time (DESIGN.md console API)."""
        self._meter_id(meter_id)
        body = request.content.read(MAX_PATCH_BYTES + 1)
        if len(body) > MAX_PATCH_BYTES:
            raise BadRequest(f"the body is longer than {MAX_PATCH_BYTES} bytes")
        try:
            changes = json.loads(body)
        except (ValueError, RecursionError):
            changes = None
        if not isinstance(changes, dict):
            raise BadRequest("the body must be a JSON object")

        def refused(failure: Failure) -> bytes:
            failure.trap(ValueError)
            raise BadRequest(str(failure.value))

        done = maybeDeferred(self.lab.reconfigure, meter_id, changes)
        return done.addCallbacks(lambda _: self._json(request, self.meter_detail(meter_id)), refused)

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
        selected = self._selected(request)
        request.setHeader("content-type", "application/vnd.tcpdump.pcap")
        request.setHeader("content-disposition", 'attachment; filename="dlmstw-packets.pcap"')
        return write_pcap(selected)

    @app.route("/api/packets/stream", methods=["GET"])
    @authorised
    def stream(self, request: IRequest) -> Deferred[None]:
        meter, peer = self._arg(request, "meter"), self._arg(request, "peer")
        request.setHeader("content-type", "text/event-stream")
        request.setHeader("cache-control", "no-cache")
        stream = EventStream(request, self.describe,
                             lambda e: (meter is None or e.meter == meter) and (peer is None or e.peer == peer))
        request.registerProducer(stream, True)
        request.write(b": dlmstw packet stream\n\n")
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

"""Capture records and the bus that carries them to observers.

A meter publishes one ``Exchange`` per request and response (and per
connection opened or closed, or frame refused). Publishing only appends to a
bounded queue; observers (packet log, ring buffer, console stream, metrics)
are called in a later reactor turn, never inside a meter's session. Above
``max_pending`` queued records, new ones are dropped and counted: a slow
observer never slows a meter. An observer takes the records one at a time
(``subscribe``) or each turn's records at once (``subscribe_batches``, for
the stores every record goes to).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Callable, NamedTuple, Sequence

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from .kinds import CONNECT, DISCONNECT

Observer = Callable[["Exchange"], None]
BatchObserver = Callable[[list["Exchange"]], None]
Scheduler = Callable[[float, Callable[[], None]], object]
log = Logger()


class Exchange(NamedTuple):
    """One request/response exchange: the packet log record of DESIGN.md
    (descriptions are computed by the observers that need them). A named
    tuple: one is built for every request a meter answers.

    ``request`` and ``response`` are whole frames as they crossed the wire;
    ``request_apdu`` and ``response_apdu`` the plain APDUs after deciphering.
    ``kind`` is ``connect`` / ``disconnect`` for connection events and
    ``malformed`` for a frame the meter refused before any session saw it.
    A push the meter sent (kind ``data-notification``) has a request only,
    which travels from ``local`` (the meter) to ``peer`` (its destination).
    ``transport`` is ``tcp`` or ``udp``. ``scenario`` names the scenario
    step in force on the meter when the record was made (None: none).
    """

    sequence: int
    time_req: float
    time_res: float | None
    meter: str
    peer: str
    local: str
    client_sap: int | None
    server_sap: int | None
    request: bytes
    response: bytes | None
    request_apdu: bytes | None
    response_apdu: bytes | None
    kind: str
    ciphered: bool
    result: str
    transport: str = "tcp"
    scenario: str | None = None


_new_tuple = tuple.__new__


#: The results of an exchange or connection that went as it should (DESIGN.md
#: "Result names"); every other result is a problem ("errors only" of the console).
NORMAL_RESULTS = frozenset({"success", "accepted", "closed", "released", "authentication-required"})


@dataclass(frozen=True, slots=True)
class PacketFilter:
    """Which records a reader wants: each given field must match exactly;
    ``errors`` keeps only the results outside ``NORMAL_RESULTS``."""

    meter: str | None = None
    peer: str | None = None
    kind: str | None = None
    result: str | None = None
    errors: bool = False

    def __call__(self, exchange: Exchange) -> bool:
        return ((self.meter is None or exchange.meter == self.meter)
                and (self.peer is None or exchange.peer == self.peer)
                and (self.kind is None or exchange.kind == self.kind)
                and (self.result is None or exchange.result == self.result)
                and not (self.errors and exchange.result in NORMAL_RESULTS))


def weight(exchange: Exchange) -> int:
    """Bytes of frames and APDUs a record holds: what bounds the stores that keep records."""
    return (len(exchange.request) + len(exchange.response or b"") + len(exchange.request_apdu or b"")
            + len(exchange.response_apdu or b""))


class CaptureBus:
    """Bounded, later-turn delivery of exchanges to observers."""

    def __init__(self, schedule: Scheduler, max_pending: int = 100_000) -> None:
        self._schedule = schedule
        self.max_pending = max_pending
        self._pending: list[Exchange] = []
        self._observers: list[BatchObserver] = []
        self._scheduled = False
        #: Records captured here, and the last sequence number given (relayed records have one too).
        self.published = 0
        self.sequence = 0
        self.dropped = 0
        self.failures = 0
        #: The scenario step in force on each meter (``server.scenario``): records are marked with it.
        self.scenario: dict[str, str] = {}

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Add an observer of one record at a time; returns the function that removes it."""
        def each(batch: list[Exchange]) -> None:
            for exchange in batch:
                try:
                    observer(exchange)
                except Exception:
                    self._failed(observer)
        return self.subscribe_batches(each)

    def subscribe_batches(self, observer: BatchObserver) -> Callable[[], None]:
        """Add an observer of each turn's records, in order (it must not keep the
        list); returns the function that removes it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def record(self, time_req: float, time_res: float | None, meter: str, peer: str, local: str,
               client_sap: int | None, server_sap: int | None, request: bytes, response: bytes | None,
               request_apdu: bytes | None, response_apdu: bytes | None, kind: str, ciphered: bool,
               result: str, transport: str = "tcp") -> None:
        """Publish a new record, numbered here; nothing is built when nobody listens."""
        if not self._observers:
            return
        self.published += 1
        self.sequence += 1
        # Built as a tuple in one step: a named tuple's own __new__ is a Python call of 17 arguments.
        self._enqueue(_new_tuple(Exchange, (self.sequence, time_req, time_res, meter, peer, local, client_sap,
                                            server_sap, request, response, request_apdu, response_apdu, kind,
                                            ciphered, result, transport,
                                            self.scenario.get(meter) if self.scenario else None)))

    def relay(self, exchange: Exchange) -> None:
        """Publish a record another process captured (and counted), numbered here."""
        self.sequence += 1
        self.publish(exchange._replace(sequence=self.sequence))

    def publish(self, exchange: Exchange) -> None:
        """Publish a record built elsewhere (a test's, or one ``relay`` renumbered)."""
        if self._observers:
            self._enqueue(exchange)

    def _enqueue(self, exchange: Exchange) -> None:
        """Queue a record for the observers' next turn, or count it dropped past ``max_pending``."""
        pending = self._pending
        if len(pending) >= self.max_pending:
            self.dropped += 1
            return
        pending.append(exchange)
        if not self._scheduled:
            self._scheduled = True
            self._schedule(0, self._deliver)

    def flush(self) -> None:
        """Deliver what is queued now: a stopping service hands over its last records."""
        if self._pending:
            self._deliver()

    def _deliver(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        for observer in tuple(self._observers):
            try:
                observer(batch)
            except Exception:
                self._failed(observer)

    def _failed(self, observer: object) -> None:
        self.failures += 1
        log.failure("capture observer {observer!r} failed", observer=observer)


class RingBuffer:
    """The last exchanges, for the console and the downloads: at most ``size``
    records and ``max_bytes`` of frames and APDUs, the oldest going first."""

    def __init__(self, size: int = 10_000, max_bytes: int = 8 << 20) -> None:
        #: The records, and the bytes of frames and APDUs of each, in the same order;
        #: past ``size`` a deque drops the oldest itself.
        self.records: deque[Exchange] = deque(maxlen=size)
        self.weights: deque[int] = deque(maxlen=size)
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0

    def __call__(self, exchange: Exchange) -> None:
        self.extend((exchange,))

    def extend(self, exchanges: Sequence[Exchange]) -> None:
        """Keep ``exchanges``, dropping the oldest beyond the bounds (a batch observer)."""
        records, weights = self.records, self.weights
        sizes = list(map(weight, exchanges))
        over = len(weights) + len(sizes) - self.size  # the oldest records the deques drop
        if over > len(weights):  # a batch larger than the buffer
            self.bytes = sum(sizes[-self.size:])
        else:
            self.bytes += sum(sizes) - (sum(islice(weights, over)) if over > 0 else 0)
        records.extend(exchanges)
        weights.extend(sizes)
        while self.bytes > self.max_bytes and len(records) > 1:
            records.popleft()
            self.bytes -= weights.popleft()

    def select(self, meter: str | None = None, peer: str | None = None, limit: int | None = None,
               wanted: PacketFilter | None = None, whole_connections: bool = False) -> list[Exchange]:
        """The newest ``limit`` records (oldest first) matching ``wanted``, or ``meter`` and ``peer``. With
        ``whole_connections``, a TCP connection the newest ``limit`` reach into is
        taken whole: its earlier records are added back to its ``connect`` record
        (or to the oldest the buffer still holds), so a capture never starts in the
        middle of an association."""
        accept = wanted if wanted is not None else PacketFilter(meter, peer)
        chosen = [r for r in self.records if accept(r)]
        if not limit or limit >= len(chosen):
            return chosen
        newest = chosen[-limit:]
        if not whole_connections:
            return newest
        seen: set[tuple[str, str]] = set()
        reaching: set[tuple[str, str]] = set()  # connections whose opening is older than the newest records
        for record in newest:
            key = (record.peer, record.local)
            if record.transport == "tcp" and key not in seen:
                seen.add(key)
                if record.kind != CONNECT:
                    reaching.add(key)
        earlier: list[Exchange] = []
        for record in reversed(chosen[:-limit]):
            if not reaching:
                break
            key = (record.peer, record.local)
            if key not in reaching or record.transport != "tcp":
                continue
            if record.kind == DISCONNECT:  # an older connection of the same ports: this one's opening is gone
                reaching.discard(key)
                continue
            earlier.append(record)
            if record.kind == CONNECT:
                reaching.discard(key)
        return earlier[::-1] + newest


@implementer(IPushProducer)
class PausableObserver:
    """An observer that feeds a transport as its producer: while the
    transport is paused (its reader does not keep up), ``paused`` is set and
    the observer drops what it gets, counting it in ``dropped``."""

    def __init__(self) -> None:
        self.paused = False
        self.dropped = 0

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.paused = True

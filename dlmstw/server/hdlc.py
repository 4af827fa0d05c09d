"""The Twisted shell of HDLC meters (lab.ini ``transport = hdlc``): a
connection carries HDLC frames (IEC 62056-46) over TCP, to one meter on its
own port or, through a gateway (``gateway = PORT``), to the meters of a
group chosen by their physical address, as on an RS-485 bus behind a data
concentrator.

A meter answers to its logical device 1 (the management logical device)
with a server address of ``address_size`` octets whose lower part is its
physical address; a meter on its own port also answers to the one-octet
address 1 (no physical address). Each (client address, server address) is
one ``hdlc_link.SecondaryLink`` with one session. Frames to other addresses
get no answer, as on a bus.

The links are sans-I/O; here the reactor's clock drives their inactivity
timeout and the decoder's inter-frame timeout (one call per connection, at
the earliest deadline).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Callable, NamedTuple

from twisted.internet.interfaces import IAddress, IDelayedCall
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..association.session import Session
from ..codec.results import MALFORMED
from ..framing.hdlc import LLC_REQUEST, POLL_FINAL, SNRM, Address, Discarded, Frame, HdlcDecoder
from ..framing.hdlc_link import NDM, NRM, SecondaryLink
from ..monitor.capture import CaptureBus
from ..monitor.kinds import apdu_kind
from .assembly import Meter
from .meter import MANAGEMENT_WPORT, MAX_CAPTURED_GARBAGE, MAX_SESSIONS_PER_CONNECTION, REFUSED_MAX_CLIENTS, \
    ConnectionBudget, MeterFactory, MeterProtocol

if TYPE_CHECKING:
    from .faults import FaultInjector, FaultyConnection

log = Logger()
#: Seconds a frame may take to arrive whole once it started.
INTER_FRAME_TIMEOUT = 1.0
#: The results of frames no meter takes.
NO_SUCH_LOGICAL_DEVICE = "no-such-logical-device"
NO_SUCH_PHYSICAL_DEVICE = "no-such-physical-device"


def request_kind(frame: Frame) -> str | None:
    """The kind of request an I frame carries (its APDU's, when it starts one); None for other frames."""
    if frame.control & 1:
        return None
    information = frame.information
    return apdu_kind(information[3:]) if information[:3] == LLC_REQUEST else "i-frame"


def answers_to(meter: Meter, address: Address) -> bool:
    """Whether a meter on its own port takes frames to ``address`` (its logical
    device checked apart): the one-octet address, or its physical address in its address size."""
    return address.size == 1 or (address.size == meter.address_size and address.lower == meter.physical_address)


class Link:
    """One link of a connection: the link's state machine, its meter, and its session once an APDU came."""

    __slots__ = ("link", "meter", "session", "counted")

    def __init__(self, link: SecondaryLink, meter: MeterFactory) -> None:
        self.link = link
        self.meter = meter
        self.session: Session | None = None
        #: True while the link is connected and counted in the meter's clients (behind a gateway).
        self.counted = False


class HdlcMeterProtocol(MeterProtocol):
    """One client connection to an HDLC meter, or to a gateway: HDLC frames in,
    one link and session per (client, server) address pair."""

    factory: MeterFactory | GatewayFactory  # type: ignore[assignment]

    def __init__(self, max_apdu_length: int) -> None:
        self.decoder = HdlcDecoder(INTER_FRAME_TIMEOUT)  # type: ignore[assignment]
        self.sessions: dict[int, Session] = {}
        self.links: dict[tuple[int, Address], Link] = {}
        self.counted = False
        self.peer = self.local = ""
        self.timer: IDelayedCall | None = None

    def seconds(self) -> float:
        """The reactor's clock (tests replace it with a Clock's)."""
        from twisted.internet import reactor
        return reactor.seconds()  # type: ignore[attr-defined,no-any-return]

    def splitter(self) -> Callable[[bytes], list[tuple[bytes, str | None]]]:
        decoder = HdlcDecoder(INTER_FRAME_TIMEOUT)

        def split(data: bytes) -> list[tuple[bytes, str | None]]:
            return [(item.raw, None if isinstance(item, Discarded) else request_kind(item))
                    for item in decoder.feed(data, self.seconds())]
        return split

    def dataReceived(self, data: bytes) -> None:
        if not self.counted:
            return
        now = self.seconds()
        answers: list[bytes] = []
        for item in self.decoder.feed(data, now):  # type: ignore[attr-defined]
            if isinstance(item, Discarded):
                self.event("malformed", MALFORMED, item.raw[:MAX_CAPTURED_GARBAGE])
                continue
            # Only whole frames keep a connection alive (slow loris).
            self.resetTimeout()
            if not self._frame(item, now, answers):
                break
        if len(answers) == 1:
            self.transport.write(answers[0])
        elif answers:
            self.transport.writeSequence(answers)
        self._schedule(now)

    def _route(self, frame: Frame) -> MeterFactory | None:
        """The meter a frame is for; None (and a record) when it is for none."""
        destination = frame.destination
        factory = self.factory
        if destination.upper != MANAGEMENT_WPORT or frame.source.size != 1:
            self.event("hdlc", NO_SUCH_LOGICAL_DEVICE, frame.raw)
            return None
        if isinstance(factory, GatewayFactory):
            meter = factory.route(destination)
        else:
            meter = factory if answers_to(factory.meter, destination) else None
        if meter is None:
            self.event("hdlc", NO_SUCH_PHYSICAL_DEVICE, frame.raw)
        return meter

    def _frame(self, frame: Frame, now: float, answers: list[bytes]) -> bool:
        """Act on one frame; False when the connection is closing."""
        meter = self._route(frame)
        if meter is None:
            return True
        key = (frame.source.upper, frame.destination)
        entry = self.links.get(key)
        if entry is None:
            if len(self.links) >= MAX_SESSIONS_PER_CONNECTION:
                self.transport.loseConnection()
                return False
            entry = self.links[key] = Link(SecondaryLink(frame.destination, frame.source, meter.max_apdu_length,
                                                         meter.inactivity_timeout), meter)
        link = entry.link
        gateway = meter is not self.factory
        if (gateway and frame.control & ~POLL_FINAL == SNRM and not entry.counted
                and meter.connections >= meter.max_clients):
            self._record(meter, frame.source.upper, now, frame.raw, None, None, None, "snrm", REFUSED_MAX_CLIENTS)
            return True
        received = link.receive(frame, now)
        answers.extend(received.replies)
        if received.event is not None:
            self._record(meter, frame.source.upper, now, received.request, b"".join(received.replies), None, None,
                         received.event, received.result or "")
        if received.event == "snrm" or link.state != NRM:
            self._end(entry)
        if link.state == NDM:
            del self.links[key]  # a disconnected link holds nothing: the next frame starts afresh
        if gateway and link.state == NRM and not entry.counted:
            entry.counted = True
            meter.connections += 1
        if received.apdu is None:
            return True
        session = entry.session
        if session is None:
            session = entry.session = meter.session(frame.source.upper)
        try:
            outcome = session.receive(received.apdu)
        except Exception:
            log.failure("meter {meter}: closing {peer} after an internal error", meter=meter.meter.id, peer=self.peer)
            self._record(meter, frame.source.upper, now, received.request, None, received.apdu, None,
                         apdu_kind(received.apdu), "internal-error")
            self.transport.abortConnection()
            return False
        sent, response = link.respond(outcome.answer)
        answers.extend(sent)
        meter.capture.record(now, time.time(), meter.meter.id, self.peer, self.local, frame.source.upper,
                             MANAGEMENT_WPORT, received.request, response, outcome.request, outcome.response,
                             apdu_kind(outcome.request), outcome.ciphered, outcome.result, meter.transport)
        meter.counters[outcome.result] += 1
        return True

    def _record(self, meter: MeterFactory, client: int, received: float, request: bytes, response: bytes | None,
                request_apdu: bytes | None, response_apdu: bytes | None, kind: str, result: str) -> None:
        """A record of a link's frames other than a request/response exchange of APDUs, counted by its result."""
        meter.counters[result] += 1
        meter.capture.record(received, time.time(), meter.meter.id, self.peer, self.local, client, MANAGEMENT_WPORT,
                             request, response, request_apdu, response_apdu, kind, False, result, meter.transport)

    def _end(self, entry: Link) -> None:
        """The link left NRM (or started again): its association ends, and it no longer counts as a client."""
        if entry.session is not None:
            entry.session.connection_lost()
            entry.session = None
        if entry.counted:
            entry.counted = False
            entry.meter.connections -= 1

    def _schedule(self, now: float) -> None:
        """One call at the earliest deadline of the decoder and the links."""
        deadlines = [entry.link.deadline() for entry in self.links.values()]
        deadlines.append(self.decoder.deadline())  # type: ignore[attr-defined]
        due = min((d for d in deadlines if d is not None), default=None)
        if due is None:
            if self.timer is not None and self.timer.active():
                self.timer.cancel()
            self.timer = None
            return
        delay = max(due - now, 0.0)
        if self.timer is not None and self.timer.active():
            self.timer.reset(delay)
        else:
            self.timer = self.callLater(delay, self._expire)

    def _expire(self) -> None:
        self.timer = None
        now = self.seconds()
        dropped = self.decoder.expire(now)  # type: ignore[attr-defined]
        if dropped is not None:
            self.event("malformed", MALFORMED, dropped.raw[:MAX_CAPTURED_GARBAGE])
        for key, entry in tuple(self.links.items()):
            if entry.link.expire(now):
                self._record(entry.meter, key[0], now, b"", None, None, None, "disconnect", "inactivity-timeout")
                self._end(entry)
                del self.links[key]
        self._schedule(now)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None
        for entry in self.links.values():
            self._end(entry)
        self.links.clear()
        super().connectionLost(reason)


class Station(NamedTuple):
    """What a gateway's records and faults name: its id (``GROUP-gateway``) and seed."""

    id: str
    seed: int


class GatewayFactory(Factory):
    """One gateway port: the connections to it, and its meters by physical address.

    It counts and limits its connections as a meter does (``max_clients``:
    the group's times its meters); each meter behind it counts its
    connected links and refuses an SNRM beyond its own ``max_clients``."""

    protocol = HdlcMeterProtocol
    noisy = False

    def __init__(self, name: str, meters: dict[int, MeterFactory], address_size: int, max_clients: int,
                 inactivity_timeout: float, capture: CaptureBus, budget: ConnectionBudget, seed: int) -> None:
        self.meter = Station(f"{name}-gateway", seed)
        self.meters = meters
        self.address_size = address_size
        self.max_clients = max_clients
        self.inactivity_timeout = inactivity_timeout
        self.capture = capture
        self.budget = budget
        self.max_apdu_length = max(m.max_apdu_length for m in meters.values())
        self.faults: FaultInjector | None = None
        self.connections = 0
        #: The connections being served (as a meter's: a dict used as a set).
        self.protocols: dict[MeterProtocol, None] = {}
        self.counters: Counter[str] = Counter()
        #: What carries its frames, as captures name it.
        self.transport = "tcp"

    def logPrefix(self) -> str:
        return self.meter.id

    def route(self, address: Address) -> MeterFactory | None:
        """The online meter whose physical address ``address`` names, in the gateway's address size."""
        if address.size != self.address_size or address.lower is None:
            return None
        meter = self.meters.get(address.lower)
        return meter if meter is not None and meter.online else None

    def buildProtocol(self, addr: IAddress) -> HdlcMeterProtocol | FaultyConnection:
        faults = self.faults
        return self.serve(addr) if faults is None else faults.buildProtocol(addr)

    def serve(self, addr: IAddress | None) -> HdlcMeterProtocol:
        protocol = HdlcMeterProtocol(self.max_apdu_length)
        protocol.factory = self
        return protocol

"""The Twisted shell of one meter: a factory per listening port and a
protocol per connection that only frames bytes (IEC 62056-47 wrapper) and
hands APDUs to the connection's sessions. Faults live in ``faults``, around
this protocol.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Callable, Mapping

from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from ..association.security import PROTECTION_OVERHEAD
from ..association.session import AssociationConfig, Plugins, ServerProfile, Session
from ..codec.results import MALFORMED
from ..config import DEFAULT_MAX_CONNECTIONS
from ..cosem.directory import MeterDirectory
from ..errors import DecodeError
from ..framing.wrapper import WrapperDecoder, encode_wpdu
from ..monitor.capture import CaptureBus
from ..monitor.kinds import (
    CONNECT,
    DISCONNECT,
    INACTIVITY_TIMEOUT,
    REFUSED_MAX_CLIENTS,
    REFUSED_MAX_CONNECTIONS,
    apdu_kind,
)
from ..simulator.meter import MeterRuntime

if TYPE_CHECKING:
    from .faults import FaultInjector, FaultyConnection

#: The meter's one logical device: the management logical device (Green Book 4.1.x, wPort 1).
MANAGEMENT_WPORT = 1
#: Client SAPs one connection may use at once: bounds a connection's memory.
MAX_SESSIONS_PER_CONNECTION = 8
#: At most this much of a refused stream is kept in its capture record.
MAX_CAPTURED_GARBAGE = 4096
log = Logger()
now = time.time


@implementer(IPushProducer)
class MeterProtocol(Protocol, TimeoutMixin):
    """One client connection: its wrapper decoder and one session per client SAP.

    The protocol is its transport's producer: when a client sends requests
    faster than it reads the answers and the transport's buffer fills, the
    meter stops reading from that client until the buffer drains, so memory
    stays bounded whatever the client does. A meter with faults gets a
    ``faults.FaultyConnection`` between the transport and this protocol."""

    factory: MeterFactory

    def __init__(self, max_apdu_length: int) -> None:
        self.decoder = WrapperDecoder(max_apdu_length)
        self.sessions: dict[int, Session] = {}
        self.counted = False
        self.peer = self.local = ""

    def splitter(self) -> Callable[[bytes], list[tuple[bytes, str | None]]]:
        """For faults: a function cutting this connection's bytes into whole
        frames, each with the kind of the request it carries (None: no request
        to the meter); raises DecodeError as the decoder does."""
        decoder = WrapperDecoder(self.decoder.max_apdu_length)

        def split(data: bytes) -> list[tuple[bytes, str | None]]:
            return [(frame.raw, apdu_kind(frame.apdu) if frame.destination_wport == MANAGEMENT_WPORT else None)
                    for frame in decoder.feed(data)]
        return split

    def event(self, kind: str, result: str, request: bytes = b"") -> None:
        """A capture record for something other than a request/response exchange, counted by its result."""
        self.factory.counters[result] += 1
        self.factory.capture.record(now(), None, self.factory.meter.id, self.peer, self.local,
                                    None, None, request, None, None, None, kind, False, result,
                                    self.factory.transport)

    def connectionMade(self) -> None:
        factory = self.factory
        peer, local = self.transport.getPeer(), self.transport.getHost()
        self.peer = f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"
        self.local = f"{getattr(local, 'host', local)}:{getattr(local, 'port', '')}"
        budget = factory.budget
        if budget.open >= budget.limit:
            if not budget.refusing:
                budget.refusing = True
                log.warn("refusing new connections (first: {peer} to meter {meter}): this process serves "
                         "max_connections = {limit} already; refusals are counted as {result}",
                         peer=self.peer, meter=factory.meter.id, limit=budget.limit, result=REFUSED_MAX_CONNECTIONS)
            self.event(CONNECT, REFUSED_MAX_CONNECTIONS)
            self.transport.abortConnection()
            return
        if factory.connections >= factory.max_clients:
            log.info("meter {meter}: refusing {peer}, {count} clients already connected",
                     meter=factory.meter.id, peer=self.peer, count=factory.connections)
            self.event(CONNECT, REFUSED_MAX_CLIENTS)
            self.transport.loseConnection()
            return
        factory.connections += 1
        budget.open += 1
        self.counted = True
        self.transport.registerProducer(self, True)
        factory.protocols[self] = None
        self.event(CONNECT, "accepted")
        if factory.inactivity_timeout:
            self.setTimeout(factory.inactivity_timeout)

    def dataReceived(self, data: bytes) -> None:
        if not self.counted:
            return
        try:
            frames = self.decoder.feed(data)
        except DecodeError as error:
            self.malformed(data, error)
            return
        if frames:
            # Only whole requests keep a connection alive: bytes trickling in, or a
            # frame never completed, end it after the inactivity timeout (slow loris).
            self.resetTimeout()
        answers: list[bytes] = []
        for source, destination, apdu, raw in frames:
            if destination != MANAGEMENT_WPORT:
                self.event(apdu_kind(apdu), "no-such-logical-device", raw)
            elif not self._serve(source, apdu, raw, answers):
                break
        # The answers of one read leave in one write (a pipelining client sends several).
        if len(answers) == 1:
            self.transport.write(answers[0])
        elif answers:
            self.transport.writeSequence(answers)

    def _serve(self, source: int, apdu: bytes, raw: bytes, answers: list[bytes]) -> bool:
        """Answer one request (a WPDU from wPort ``source``) into ``answers`` and
        capture the exchange; False when the connection is closing."""
        session = self.sessions.get(source)
        factory = self.factory
        if session is None:
            if len(self.sessions) >= MAX_SESSIONS_PER_CONNECTION:
                self.transport.loseConnection()
                return False
            session = self.sessions[source] = factory.session(source)
        received = now()
        try:
            response, request, plain_response, ciphered, result = session.receive(apdu)
        except Exception:
            log.failure("meter {meter}: closing {peer} after an internal error", meter=factory.meter.id,
                        peer=self.peer)
            self.event(apdu_kind(apdu), "internal-error", raw)
            self.transport.abortConnection()
            return False
        factory.counters[result] += 1
        if response is None:
            answer = None
        else:
            answer = encode_wpdu(MANAGEMENT_WPORT, source, response)
            answers.append(answer)
        factory.capture.record(received, now(), factory.meter.id, self.peer, self.local, source, MANAGEMENT_WPORT,
                               raw, answer, request, plain_response, apdu_kind(request), ciphered, result,
                               factory.transport)
        return True

    def malformed(self, data: bytes, error: DecodeError) -> None:
        """Close a connection whose bytes are not WPDUs (IEC 62056-47), capturing what it sent."""
        log.info("meter {meter}: closing {peer}: {error}", meter=self.factory.meter.id, peer=self.peer, error=error)
        self.event("malformed", MALFORMED, data[:MAX_CAPTURED_GARBAGE])
        self.transport.loseConnection()

    def pauseProducing(self) -> None:
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        """The connection is going away; nothing to stop."""

    def timeoutConnection(self) -> None:
        log.info("meter {meter}: {peer} inactive for {seconds} s, closing", meter=self.factory.meter.id,
                 peer=self.peer, seconds=self.factory.inactivity_timeout)
        self.event(DISCONNECT, INACTIVITY_TIMEOUT)
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        self.setTimeout(None)
        if self.counted:
            self.event(DISCONNECT, "closed")
            self.factory.protocols.pop(self, None)
        for session in self.sessions.values():
            session.connection_lost()
        self.sessions.clear()
        if self.counted:
            self.factory.connections -= 1
            budget = self.factory.budget
            budget.open -= 1
            if budget.refusing:
                budget.refusing = False
                log.info("accepting connections again: below max_connections = {limit}", limit=budget.limit)
            self.counted = False


class ConnectionBudget:
    """The client connections one process serves, over all its meters
    (lab.ini ``max_connections``): beyond ``limit``, a new one is refused
    (``refused-max-connections``) and closed at once, with one log line
    each time the process starts refusing."""

    __slots__ = ("limit", "open", "refusing")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        #: Whether a connection was refused since the budget was last below its limit.
        self.refusing = False


class MeterFactory(Factory):
    """One meter: its runtime state, its object directory and its associations."""

    protocol: Callable[[int], MeterProtocol] = MeterProtocol
    noisy = False
    #: A lab holds one factory per meter: no instance dictionary.
    __slots__ = ("meter", "directory", "associations", "plugins", "profile", "max_clients", "inactivity_timeout",
                 "capture", "faults", "online", "security", "max_apdu_length", "budget", "connections", "protocols",
                 "counters", "transport", "numPorts")

    def __init__(self, meter: MeterRuntime, directory: MeterDirectory,
                 associations: Mapping[int, AssociationConfig], plugins: Plugins,
                 profile: ServerProfile, max_clients: int, inactivity_timeout: float,
                 capture: CaptureBus, online: bool = True, budget: ConnectionBudget | None = None) -> None:
        self.meter = meter
        self.directory = directory
        self.associations = associations
        self.plugins = plugins
        self.profile = profile
        self.max_clients = max_clients
        self.inactivity_timeout = inactivity_timeout
        self.capture = capture
        #: The wrapper factory of the meter's faults (``faults.FaultInjector.of``); None without faults.
        self.faults: FaultInjector | None = None
        #: False for a meter the ``offline`` fault keeps from listening.
        self.online = online
        self.security = meter.security
        #: The longest APDU a client may send: the meter's max receive PDU size, and
        #: what protecting it adds (Green Book 9.4.6.1); a longer one is refused at its header.
        self.max_apdu_length = profile.max_receive_pdu_size + PROTECTION_OVERHEAD
        #: The connections of every meter of this process, and how many it accepts.
        self.budget = budget if budget is not None else ConnectionBudget(DEFAULT_MAX_CONNECTIONS)
        self.connections = 0
        #: The connections being served (keys; a dict is the smaller empty set),
        #: so that taking the meter offline can end them.
        self.protocols: dict[MeterProtocol, None] = {}
        #: Capture records (exchanges and connection events) by result (DESIGN.md "Result names").
        self.counters: Counter[str] = Counter()
        #: What carries the meter's frames, as captures name it: "tcp", or "udp" (``server.udp``).
        self.transport = "tcp"
        self.numPorts = 0

    def logPrefix(self) -> str:
        return f"meter {self.meter.id}"

    def session(self, client_sap: int) -> Session:
        return Session(client_sap, MANAGEMENT_WPORT, self.associations.get(client_sap), self.directory,
                       self.plugins, self.profile, self.security,
                       lambda message: log.error("meter {meter}: {message}", meter=self.meter.id, message=message))

    def buildProtocol(self, addr: IAddress) -> MeterProtocol | FaultyConnection:
        """A new connection's protocol, behind the meter's faults when it has some."""
        faults = self.faults
        return self.serve(addr) if faults is None else faults.buildProtocol(addr)

    def serve(self, addr: IAddress | None) -> MeterProtocol:
        """A new connection's own protocol (``protocol``: the wrapper's, or HDLC's), without faults."""
        protocol = self.protocol(self.max_apdu_length)
        protocol.factory = self
        return protocol

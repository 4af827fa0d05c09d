"""Pushes leaving a meter (Green Book 9.3.10, Blue Book 4.4.8): the Twisted
edge that sends the Data-Notification a Push setup asks for.

A push is built once, when it first leaves: the Data-Notification APDU
(``codec.services``), protected under the meter's own invocation counter when
lab.ini's ``push_association`` has a security policy (general-glo-ciphering:
a Data-Notification has no glo- tag, Green Book 9.5), and framed by the
sender's ``Framer`` (the IEC 62056-47 wrapper; an HDLC framer fits the same
slot). It then goes to its destination over TCP (connect, write, close) or
UDP (one datagram). Before the first attempt it waits for the randomisation
start interval (a delay drawn from the meter's seed, so a run repeats) and
for a communication window; a failed TCP attempt is tried again
``number_of_retries`` times, ``repetition_delay`` seconds apart.

Every push sent is captured as an exchange with a request only: kind
``data-notification``, ``peer`` the destination, ``local`` the meter's end,
``request`` the frame, ``request_apdu`` the plain APDU, ``result`` success.
A failed attempt is captured like a connection event (kind ``push``, no
frame) with the campaign's failure names (``connect-refused``, ``timeout``,
``connect-error``), and a push with no communication window left with
``no-communication-window``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionRefusedError, TCPTimedOutError, TimeoutError
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import DatagramProtocol, Protocol as StreamProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..association.security import Protection, Wrapping
from ..codec.services import DataNotification, encode_data_notification
from ..config import AssociationConfig
from ..cosem.classes.push_setup import PushRequest
from ..enums import ApduTag
from ..framing.wrapper import encode_wpdu
from ..interfaces import ISecuritySuite
from ..monitor.capture import CaptureBus
from ..monitor.kinds import PUSH_KIND
from ..security.ciphering import POLICY_CONTROL
from .assembly import Meter

log = Logger()
#: Seconds a TCP connect to a push destination may take.
CONNECT_TIMEOUT = 10.0
#: The management logical device sends pushes (its wPort, Green Book 7.3.3.4).
MANAGEMENT_WPORT = 1
#: The wPort pushes go to without a ``push_association``.
PUSH_CLIENT_WPORT = 0x66
#: The capture kind of an attempt that failed (a push sent is ``monitor.kinds.PUSH_KIND``).
ATTEMPT = "push"
NO_WINDOW = "no-communication-window"
#: long-invoke-id-and-priority (Green Book 9.5): invoke-id in bits 0..23.
INVOKE_ID_MASK = 0xFFFFFF


class Framer(Protocol):
    """Frames an APDU for the push's transport: the wrapper now, HDLC later."""

    source: int
    destination: int

    def frame(self, apdu: bytes) -> bytes:
        """The whole frame carrying ``apdu``."""


class WrapperFramer:
    """IEC 62056-47: one WPDU from the meter's wPort to the push client's."""

    __slots__ = ("source", "destination")

    def __init__(self, source: int, destination: int) -> None:
        self.source = source
        self.destination = destination

    def frame(self, apdu: bytes) -> bytes:
        return encode_wpdu(self.source, self.destination, apdu)


def failure_name(reason: Failure) -> str:
    """A failed connect in the campaign's failure names."""
    if reason.check(ConnectionRefusedError):
        return "connect-refused"
    if reason.check(TimeoutError, TCPTimedOutError):
        return "timeout"
    return "connect-error"


def randomisation(seed: int, push_setup: bytes, sequence: int, interval: int) -> int:
    """Seconds to wait before a push (0..interval): drawn from the meter's seed,
    the push setup and how many pushes the meter made, so a run repeats."""
    if interval <= 0:
        return 0
    digest = hashlib.blake2b(b"%d:%s:%d" % (seed, push_setup.hex().encode(), sequence), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (interval + 1)


def window_wait(windows: tuple[tuple[float | None, float | None], ...], now: float) -> float | None:
    """Seconds until a communication window is open (0 when one is, or when there
    are none); None when every window has passed. A bound with fields not
    specified leaves that side of its window open."""
    if not windows:
        return 0.0
    starts = []
    for start, end in windows:
        if (start is None or start <= now) and (end is None or now < end):
            return 0.0
        if start is not None and start > now:
            starts.append(start - now)
    return min(starts) if starts else None


class _Once(StreamProtocol):
    """Writes one frame on connecting, then closes."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.frame)
        self.transport.loseConnection()


class PushSender:
    """A meter's pushes: delays, protection, framing, sending, retries, capture.

    ``protection`` is the association pushes are protected and addressed
    under (lab.ini ``push_association``) with its suite, or None for plain
    pushes to wPort 0x66."""

    __slots__ = ("reactor", "meter", "capture", "protection", "framer", "sequence", "pending")

    def __init__(self, reactor: Any, meter: Meter, capture: CaptureBus,
                 protection: tuple[AssociationConfig, ISecuritySuite] | None = None,
                 framer: Framer | None = None) -> None:
        self.reactor = reactor
        self.meter = meter
        self.capture = capture
        self.protection = protection
        destination = PUSH_CLIENT_WPORT if protection is None else protection[0].client_sap
        self.framer: Framer = framer if framer is not None else WrapperFramer(MANAGEMENT_WPORT, destination)
        self.sequence = 0
        #: The pushes waiting for their delay (made with the first: most meters never push).
        self.pending: set[IDelayedCall] | None = None

    def push(self, request: PushRequest) -> None:
        """Send ``request`` once its randomisation delay and a communication window allow."""
        self.sequence += 1
        wait = window_wait(request.windows, self.meter.now())
        if wait is None:
            log.info("meter {meter}: push of {ln} dropped: no communication window left",
                     meter=self.meter.id, ln=request.push_setup.hex())
            self._event(request, NO_WINDOW)
            return
        delay = wait + randomisation(self.meter.seed, request.push_setup, self.sequence,
                                     request.randomisation_start_interval)
        self._later(delay, self._first, request, self.sequence)

    def stop(self) -> None:
        """Cancel every push still waiting (the service stops)."""
        pending, self.pending = self.pending, None
        for call in pending or ():
            if call.active():
                call.cancel()

    def _later(self, delay: float, function: Any, *args: Any) -> None:
        def run() -> None:
            if self.pending is not None:
                self.pending.discard(call)
            function(*args)
        call = self.reactor.callLater(delay, run)
        if self.pending is None:
            self.pending = set()
        self.pending.add(call)

    def apdu(self, request: PushRequest, sequence: int) -> tuple[bytes, bytes]:
        """The plain Data-Notification and what is sent of it (protected when the policy says so)."""
        plain = encode_data_notification(
            DataNotification(sequence & INVOKE_ID_MASK, request.date_time, ()), request.body)
        if self.protection is None:
            return plain, plain
        association, suite = self.protection
        control = POLICY_CONTROL[association.security]
        if not control:
            return plain, plain
        security = self.meter.security
        protection = Protection.of_meter(association, suite, security, security.keys_for(association), b"",
                                         self.meter.system_title, None)
        return plain, protection.wrap(plain, Wrapping(ApduTag.GENERAL_GLO_CIPHERING,
                                                      control | suite.suite_id, False, True))

    def _first(self, request: PushRequest, sequence: int) -> None:
        plain, sent = self.apdu(request, sequence)
        self._attempt(request, plain, sent, request.number_of_retries)

    def _attempt(self, request: PushRequest, plain: bytes, sent: bytes, retries: int) -> None:
        frame = self.framer.frame(sent)
        if request.transport == "udp":
            self._datagram(request, plain, sent, frame)
            return
        endpoint_type = TCP6ClientEndpoint if ":" in request.host else TCP4ClientEndpoint
        endpoint = endpoint_type(self.reactor, request.host, request.port, timeout=CONNECT_TIMEOUT)
        started = time.time()
        connecting: Deferred[Any] = connectProtocol(endpoint, _Once(frame))

        def connected(protocol: _Once) -> None:
            transport = protocol.transport
            assert transport is not None
            local = transport.getHost()
            self._sent(request, plain, sent, frame, started, f"{local.host}:{local.port}")

        def failed(reason: Failure) -> None:
            name = failure_name(reason)
            log.info("meter {meter}: push to {host}:{port} failed ({name}), {retries} retries left",
                     meter=self.meter.id, host=request.host, port=request.port, name=name, retries=retries)
            self._event(request, name)
            if retries > 0:
                self._later(request.repetition_delay, self._attempt, request, plain, sent, retries - 1)

        connecting.addCallbacks(connected, failed)

    def _datagram(self, request: PushRequest, plain: bytes, sent: bytes, frame: bytes) -> None:
        sender = DatagramProtocol()
        port = self.reactor.listenUDP(0, sender, interface="::" if ":" in request.host else "")
        try:
            started = time.time()
            port.write(frame, (request.host, request.port))
            local = port.getHost()
            self._sent(request, plain, sent, frame, started, f"{local.host}:{local.port}")
        except OSError as error:
            log.info("meter {meter}: push to {host}:{port} failed: {error}", meter=self.meter.id,
                     host=request.host, port=request.port, error=error)
            self._event(request, "connect-error")
        finally:
            port.stopListening()

    def _sent(self, request: PushRequest, plain: bytes, sent: bytes, frame: bytes, started: float,
              local: str) -> None:
        self.capture.record(started, None, self.meter.id, f"{request.host}:{request.port}", local,
                            self.framer.destination, self.framer.source, frame, None, plain, None, PUSH_KIND,
                            sent != plain, "success", request.transport)

    def _event(self, request: PushRequest, result: str) -> None:
        self.capture.record(time.time(), None, self.meter.id, f"{request.host}:{request.port}", "",
                            self.framer.destination, self.framer.source, b"", None, None, None, ATTEMPT, False,
                            result, request.transport)

"""The Twisted transport of the client: a :class:`ClientSession` over TCP or
UDP with the IEC 62056-47 wrapper (Green Book 7.3.3), one Deferred per service.

``connect`` opens the connection; on the protocol it gives, ``associate``,
``get``, ``get_with_list`` and ``release`` each return a Deferred that fires
with the session's event (GET: the values) or fails with one of the
exceptions below. Every request arms a reply timer (``reactor.callLater``);
when it expires the connection is aborted and the Deferred fails with
:class:`ResponseTimeout`. The reactor is passed in, never imported, so that
each command run can use a reactor of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import ipaddress

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IAddress, IConnector, IDelayedCall, IReactorTCP, IReactorTime
from twisted.internet.protocol import ClientFactory, DatagramProtocol, Protocol, connectionDone
from twisted.python.failure import Failure

from dlmstw.client.session import (
    Associated,
    AssociationRejected,
    AuthenticationFailed,
    ClientEvent,
    ClientProtocolError,
    ClientSession,
    GetValue,
    Released,
    ServiceFailed,
)
from dlmstw.codec.services import (
    AttributeWithSelection,
    CosemAttributeDescriptor,
    SelectiveAccess,
)
from dlmstw.errors import DecodeError
from dlmstw.framing.wrapper import WrapperDecoder, encode_wpdu

T = TypeVar("T")


class ResponseTimeout(Exception):
    """The meter did not answer a request within the timeout."""


class AssociationRefused(Exception):
    """The AARE rejected the association; ``rejection`` says how."""

    def __init__(self, rejection: AssociationRejected) -> None:
        source, diagnostic = rejection.result_source_diagnostic
        super().__init__(f"association {rejection.result.name.lower()}, source {source}, diagnostic {diagnostic}")
        self.rejection = rejection


class AuthenticationRefused(Exception):
    """HLS pass 3 or 4 failed (Green Book 9.2.7.4); ``failure`` says which."""

    def __init__(self, failure: AuthenticationFailed) -> None:
        super().__init__(f"HLS authentication failed: {failure.reason} ({failure.result.name.lower()})")
        self.failure = failure


class ServiceRefused(Exception):
    """The meter answered a service with an EXCEPTION-Response or a ConfirmedServiceError."""

    def __init__(self, failure: ServiceFailed) -> None:
        super().__init__(repr(failure.error))
        self.failure = failure


class ConnectionClosed(Exception):
    """The connection ended while a request was outstanding."""


class DlmsClientProtocol(Protocol):
    """Frames the session's APDUs with the wrapper and fires one Deferred per service."""

    def __init__(self, session: ClientSession, clock: IReactorTime, timeout: float) -> None:
        self.session = session
        self.clock = clock
        self.timeout = timeout
        self.decoder = WrapperDecoder()
        self._pending: Deferred[Any] | None = None
        self._timer: IDelayedCall | None = None
        #: Octets written and received on this connection, wrapper headers included.
        self.bytes_sent = 0
        self.bytes_received = 0

    # -- services ----------------------------------------------------------

    def associate(self) -> Deferred[Associated]:
        """AARQ -> AARE (and with HLS, ACTION reply_to_HLS_authentication); fails with
        AssociationRefused when the AARE rejects, AuthenticationRefused when HLS fails."""
        self.session.request_association()
        return self._send()

    def get(self, attribute: CosemAttributeDescriptor, access: SelectiveAccess | None = None) -> Deferred[GetValue]:
        """One attribute's value (Data) or Data-Access-Result, following datablocks."""
        self.session.request_get(attribute, access)
        return self._send().addCallback(lambda done: done.values[0])

    def get_with_list(self, items: tuple[AttributeWithSelection, ...]) -> Deferred[tuple[GetValue, ...]]:
        """Several attributes in one GET-Request-With-List."""
        self.session.request_get_with_list(items)
        return self._send().addCallback(lambda done: done.values)

    def release(self) -> Deferred[Released]:
        """RLRQ -> RLRE."""
        self.session.request_release()
        return self._send()

    def close(self) -> None:
        """Close the connection (any outstanding request fails with ConnectionClosed)."""
        if self.transport is not None:
            self.transport.loseConnection()

    # -- plumbing ----------------------------------------------------------

    def _send(self) -> Deferred[Any]:
        if self.transport is None or not self.connected:
            return _failed(ConnectionClosed("not connected"))
        self._pending = Deferred()
        self._transmit()
        return self._pending

    def _transmit(self) -> None:
        apdu = self.session.next_request()
        if apdu is None:
            return
        assert self.transport is not None
        frame = encode_wpdu(self.session.client_sap, self.session.server_sap, apdu)
        self.bytes_sent += len(frame)
        self.transport.write(frame)
        self._timer = self.clock.callLater(self.timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(ResponseTimeout(f"no answer within {self.timeout:g} s"))
        if self.transport is not None:
            self.transport.abortConnection()

    def _fail(self, error: Exception) -> None:
        self._stop_timer()
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.errback(Failure(error))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def dataReceived(self, data: bytes) -> None:
        self.bytes_received += len(data)
        try:
            frames = self.decoder.feed(data)
            for frame in frames:
                if (frame.source_wport, frame.destination_wport) != (self.session.server_sap, self.session.client_sap):
                    raise ClientProtocolError(
                        f"WPDU from wPort {frame.source_wport} to wPort {frame.destination_wport}")
                self._stop_timer()
                event = self.session.receive(frame.apdu)
                if event is None:
                    self._transmit()
                else:
                    self._deliver(event)
        except (DecodeError, ClientProtocolError) as error:
            self._fail(error)
            assert self.transport is not None
            self.transport.abortConnection()

    def _deliver(self, event: ClientEvent) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            raise ClientProtocolError(f"{type(event).__name__} answers no request")
        if isinstance(event, AssociationRejected):
            pending.errback(Failure(AssociationRefused(event)))
        elif isinstance(event, AuthenticationFailed):
            pending.errback(Failure(AuthenticationRefused(event)))
        elif isinstance(event, ServiceFailed):
            pending.errback(Failure(ServiceRefused(event)))
        else:
            pending.callback(event)

    def connectionMade(self) -> None:
        factory = self.factory
        if isinstance(factory, _OneConnection):
            factory.connected.callback(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._fail(ConnectionClosed(reason.getErrorMessage()))


def _failed(error: Exception) -> Deferred[Any]:
    result: Deferred[Any] = Deferred()
    result.errback(Failure(error))
    return result


class DatagramConnection(DatagramProtocol):
    """The wrapper over UDP (IEC 62056-47): a connected datagram socket that is
    the client protocol's transport, one WPDU per datagram each way. An ICMP
    port unreachable ends it as a refused connection would."""

    def __init__(self, protocol: DlmsClientProtocol, host: str, port: int) -> None:
        self.protocol = protocol
        self.peer = (host, port)
        self.closed = False

    def startProtocol(self) -> None:
        assert self.transport is not None
        self.transport.connect(*self.peer)
        self.protocol.makeConnection(cast(Any, self))

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def writeSequence(self, data: list[bytes]) -> None:
        for frame in data:
            self.write(frame)

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.protocol.dataReceived(datagram)

    def connectionRefused(self) -> None:
        self._close(Failure(ConnectionRefusedError("the meter's UDP port is closed")))

    def _close(self, reason: Failure) -> None:
        if self.closed:
            return
        self.closed = True
        assert self.transport is not None
        self.transport.stopListening()
        self.protocol.connectionLost(reason)

    def loseConnection(self) -> None:
        self._close(Failure(ConnectionError("closed")))

    abortConnection = loseConnection

    def getPeer(self) -> IPv4Address | IPv6Address:
        host, port = self.peer
        return IPv6Address("UDP", host, port) if ":" in host else IPv4Address("UDP", host, port)


def _connect_udp(address: str, reactor: Any, port: int, protocol: DlmsClientProtocol) -> DlmsClientProtocol:
    reactor.listenUDP(0, DatagramConnection(protocol, address, port), interface="::" if ":" in address else "")
    return protocol


class _OneConnection(ClientFactory):
    """The factory of one outgoing connection: it hands out the protocol it was
    made with and fires ``connected`` with it once the connection is made, or
    fails it with the connect error (ConnectionRefusedError, TimeoutError ...)."""

    noisy = False

    def __init__(self, protocol: DlmsClientProtocol) -> None:
        self.protocol_instance = protocol
        self.connected: Deferred[DlmsClientProtocol] = Deferred()

    def buildProtocol(self, addr: IAddress) -> DlmsClientProtocol:
        return self.protocol_instance

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.connected.errback(reason)


def connect(reactor: IReactorTCP, host: str, port: int, session: ClientSession,
            timeout: float = 10.0, transport: str = "tcp") -> Deferred[DlmsClientProtocol]:
    """A connected protocol driving ``session``; ``timeout`` bounds the connect and every reply.
    ``transport`` "udp" sends the wrapper frames as datagrams to ``host`` (an address, or a
    name the reactor resolves)."""
    protocol = DlmsClientProtocol(session, cast(IReactorTime, reactor), timeout)
    if transport == "udp":
        try:
            ipaddress.ip_address(host)
            resolved: Deferred[str] = succeed(host)
        except ValueError:
            resolved = cast(Any, reactor).resolve(host)
        return resolved.addCallback(_connect_udp, reactor, port, protocol)
    factory = _OneConnection(protocol)
    protocol.factory = factory
    reactor.connectTCP(host, port, factory, timeout=timeout)
    return factory.connected


def run_with_reactor(operation: Callable[[EPollReactor], Deferred[T]]) -> T:
    """Run ``operation`` on a fresh reactor until its Deferred fires; its result, or its exception raised.

    The reactor is a new ``EPollReactor`` each time (never the global one; epoll
    costs the same with 10 or 10,000 connections), run without signal handlers,
    so callers (and tests) may run commands one after another.
    """
    reactor = EPollReactor()
    outcome: list[T | Failure] = []

    def start() -> None:
        done = maybeDeferred(operation, reactor)
        done.addBoth(outcome.append)
        done.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return cast(T, result)

"""Meters on UDP (lab.ini ``transport = udp-wrapper``): the IEC 62056-47
wrapper over UDP, one datagram per WPDU.

One datagram socket per meter. Each peer (ip, port) gets the meter's own
per-connection protocol (``meter.MeterProtocol``: sessions per client SAP,
capture, faults) behind a ``PeerTransport`` that answers in datagrams to that
peer, so an association over UDP behaves as one over TCP. Peers count like
connections: beyond the meter's ``max_clients`` a new peer is refused
(``refused-max-clients``, its datagram dropped); a peer silent for
``inactivity_timeout`` is forgotten with its associations. A datagram that is
not exactly one WPDU is captured as ``malformed`` and ends that peer's state.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.python.failure import Failure

from ..errors import DecodeError
from ..framing.wrapper import HEADER_SIZE, decode_wpdu
from .listen import PortService
from .meter import MeterFactory, MeterProtocol


def _address(host: str, port: int) -> IPv4Address | IPv6Address:
    return IPv6Address("UDP", host, port) if ":" in host else IPv4Address("UDP", host, port)


def frames_of(data: bytes) -> list[bytes]:
    """The WPDUs one write holds, each to go in a datagram of its own."""
    frames, pos = [], 0
    while pos + HEADER_SIZE <= len(data):
        end = pos + HEADER_SIZE + int.from_bytes(data[pos + 6:pos + 8], "big")
        frames.append(data[pos:end])
        pos = end
    return frames


class PeerTransport:
    """The transport of one UDP peer's protocol: writes go to that peer, one
    WPDU per datagram; closing forgets the peer."""

    disconnecting = False

    def __init__(self, port: UdpMeterPort, peer: tuple[str, int]) -> None:
        self.port = port
        self.peer = peer
        self.protocol: Protocol | None = None

    def write(self, data: bytes) -> None:
        if self.disconnecting or self.port.transport is None:
            return
        for frame in frames_of(data):
            self.port.transport.write(frame, self.peer)

    def writeSequence(self, data: list[bytes]) -> None:
        for chunk in data:
            self.write(chunk)

    def loseConnection(self) -> None:
        if not self.disconnecting:
            self.disconnecting = True
            self.port.forget(self.peer)

    abortConnection = loseConnection

    def getPeer(self) -> IPv4Address | IPv6Address:
        return _address(*self.peer)

    def getHost(self) -> IPv4Address | IPv6Address:
        assert self.port.transport is not None
        host = self.port.transport.getHost()
        return _address(host.host, host.port)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Datagrams have no flow control: the kernel drops what does not fit."""

    def unregisterProducer(self) -> None:
        """See ``registerProducer``."""

    def pauseProducing(self) -> None:
        """See ``registerProducer``."""

    def resumeProducing(self) -> None:
        """See ``registerProducer``."""

    def stopProducing(self) -> None:
        self.loseConnection()


class UdpMeterPort(DatagramProtocol):
    """One meter's datagram socket: a protocol per peer, made on its first datagram."""

    def __init__(self, factory: MeterFactory) -> None:
        self.factory = factory
        self.peers: dict[tuple[str, int], PeerTransport] = {}

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        peer = self.peers.get(addr)
        if peer is None:
            peer = PeerTransport(self, addr)
            protocol = self.factory.buildProtocol(peer.getPeer())
            peer.protocol = protocol
            self.peers[addr] = peer
            protocol.makeConnection(peer)
            if peer.disconnecting:
                return
        assert peer.protocol is not None
        try:
            decode_wpdu(datagram)
        except DecodeError as error:
            meter = peer.protocol if isinstance(peer.protocol, MeterProtocol) else peer.protocol.wrappedProtocol
            meter.malformed(datagram, error)
            return
        peer.protocol.dataReceived(datagram)

    def forget(self, addr: tuple[str, int]) -> None:
        """A peer's protocol closed: its state goes."""
        peer = self.peers.pop(addr, None)
        if peer is not None and peer.protocol is not None:
            peer.protocol.connectionLost(Failure(ConnectionError("peer forgotten")))

    def stopProtocol(self) -> None:
        for addr in tuple(self.peers):
            self.forget(addr)


class UdpMeterListener(PortService):
    """One meter's UDP port."""

    def __init__(self, reactor: Any, port: int, interface: str, factory: MeterFactory) -> None:
        self.reactor = reactor
        self.port_number = port
        self.interface = interface
        self.factory = factory

    def _open(self) -> IListeningPort:
        return self.reactor.listenUDP(self.port_number, UdpMeterPort(self.factory), interface=self.interface)


"""Captured exchanges as a classic libpcap file that Wireshark and tshark open.

Pure: ``write_pcap(exchanges) -> bytes``. Format: the libpcap file header
(magic a1b2c3d4, microsecond timestamps, version 2.4) with link type
LINKTYPE_ETHERNET (1): each packet is a synthetic Ethernet II header (locally
administered MAC addresses), an IPv4 or IPv6 header and a TCP header (a UDP
header for exchanges whose ``transport`` is ``udp``), then a record's frame as
the payload (a wrapper frame, or an exchange's HDLC frames one after the
other, as they crossed the connection). Every request frame travels from the peer's
address and port to the meter's (``Exchange.local``), every response back,
stamped with ``time_req`` and ``time_res``.

TCP: whole conversations, so that Wireshark follows each stream. A
connection opens with SYN, SYN-ACK, ACK (at its ``connect`` record's time,
or just before its first frame when the records begin after the opening),
carries the frames with consistent sequence and acknowledgement numbers
(flags PSH|ACK), and ends at its ``disconnect`` record: FIN from the peer,
FIN-ACK, ACK; a reset from the meter when the meter aborted it (results
``inactivity-timeout``, ``refused-max-connections``); FIN from the meter
right after the handshake when it refused the client (``refused-max-clients``).
A connection still open when the records end stays open. (The
``connect`` and ``disconnect`` records of an HDLC link, which name their
client, are not the connection's.) A push over TCP
(kind ``data-notification`` without a response) is its own connection, opened by
the meter (``local``) to its destination (``peer``) and closed by the meter
after its frame. IPv4 header and TCP checksums are correct. An exchange
without a response (a refused frame) gives one packet. A frame longer than
one IP packet can carry (above 65,495 octets of payload) is cut into
consecutive segments. Exchanges whose addresses do not parse, or whose peer
and meter use different IP versions, are skipped.

UDP: one datagram per frame, as the frames were sent.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from dlmstw.monitor.kinds import ABORTED, CONNECT, DISCONNECT, PUSH_KIND, REFUSED_MAX_CLIENTS

if TYPE_CHECKING:
    from dlmstw.monitor.capture import Exchange

LINKTYPE_ETHERNET: Final = 1
PCAP_MAGIC: Final = 0xA1B2C3D4
SNAPLEN: Final = 262_144

_FILE_HEADER: Final = struct.Struct("<IHHiIII")
_RECORD_HEADER: Final = struct.Struct("<IIII")
_TCP: Final = struct.Struct(">HHIIBBHHH")
_IPV4: Final = struct.Struct(">BBHHHBBH4s4s")
_IPV6: Final = struct.Struct(">IHBB16s16s")
_ETHERTYPE_IPV4: Final = b"\x08\x00"
_ETHERTYPE_IPV6: Final = b"\x86\xdd"
_PEER_MAC: Final = bytes.fromhex("020000000001")
_METER_MAC: Final = bytes.fromhex("020000000002")
_FIN, _SYN, _RST, _PSH, _ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_PROTO_TCP: Final = 6
_PROTO_UDP: Final = 17
_UDP: Final = struct.Struct(">HHHH")
_TTL: Final = 64
_WINDOW: Final = 0xFFFF
_MAX_SEGMENT: Final = {4: 0xFFFF - 20 - 20, 6: 0xFFFF - 20}
"""Most TCP payload one packet carries: the IPv4 total length or IPv6 payload length is 16 bits."""
_PEER_ISN: Final = 0x00010000
_METER_ISN: Final = 0x00020000
_ISN_STEP: Final = 0x00100000
"""Each connection's initial sequence numbers are this much above the previous connection's."""

Address = tuple["ipaddress.IPv4Address | ipaddress.IPv6Address", int]


def parse_endpoint(text: str) -> Address | None:
    """ "127.0.0.1:4059", "[::1]:4059" or "::1:4059" -> (address, port); None when it does not parse."""
    host, _, port = text.rpartition(":")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        number = int(port)
    except ValueError:
        return None
    if not 0 <= number <= 0xFFFF:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped, number
    return address, number


def internet_checksum(data: bytes) -> int:
    """The ones' complement sum of 16-bit words (RFC 1071), as IPv4 and TCP use it."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(slots=True)
class _Connection:
    """One TCP connection between a peer and a meter: who opened it, and the
    next sequence number of each side."""

    peer: Address
    meter: Address
    peer_opened: bool
    peer_seq: int
    meter_seq: int


def _packet(source: Address, destination: Address, protocol: int, head: bytes, checksum_at: int, payload: bytes,
            ident: int, from_peer: bool) -> bytes:
    """Ethernet + IP headers around a transport ``head`` and ``payload``, with the
    IP and transport checksums (at ``checksum_at`` of ``head``) filled in."""
    src, dst = source[0], destination[0]
    length = len(head) + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack(">BBH", 0, protocol, length)
    else:
        pseudo = src.packed + dst.packed + struct.pack(">I3xB", length, protocol)
    checksum = internet_checksum(pseudo + head + payload) or (0xFFFF if protocol == _PROTO_UDP else 0)
    segment = head[:checksum_at] + struct.pack(">H", checksum) + head[checksum_at + 2:] + payload
    macs = (_METER_MAC + _PEER_MAC) if from_peer else (_PEER_MAC + _METER_MAC)  # destination, then source
    if src.version == 4:
        ip = _IPV4.pack(0x45, 0, 20 + length, ident & 0xFFFF, 0x4000, _TTL, protocol, 0, src.packed, dst.packed)
        ip = ip[:10] + struct.pack(">H", internet_checksum(ip)) + ip[12:]
        return macs + _ETHERTYPE_IPV4 + ip + segment
    ip = _IPV6.pack(6 << 28, length, protocol, _TTL, src.packed, dst.packed)
    return macs + _ETHERTYPE_IPV6 + ip + segment


def _segment(source: Address, destination: Address, seq: int, ack: int, flags: int, payload: bytes, ident: int,
             from_peer: bool) -> bytes:
    """Ethernet + IP + TCP headers and ``payload``, with both checksums filled in."""
    head = _TCP.pack(source[1], destination[1], seq, ack, 5 << 4, flags, _WINDOW, 0, 0)
    return _packet(source, destination, _PROTO_TCP, head, 16, payload, ident, from_peer)


def _datagram(source: Address, destination: Address, payload: bytes, ident: int, from_peer: bool) -> bytes:
    """Ethernet + IP + UDP headers and ``payload``, with both checksums filled in."""
    head = _UDP.pack(source[1], destination[1], 8 + len(payload), 0)
    return _packet(source, destination, _PROTO_UDP, head, 6, payload, ident, from_peer)


def _record(timestamp: float, packet: bytes) -> bytes:
    seconds = int(timestamp)
    micros = round((timestamp - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return _RECORD_HEADER.pack(seconds, micros, len(packet), len(packet)) + packet


class _Writer:
    """The packets of a capture file, numbered and stamped, as they are built."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, int, bytes]] = []
        self.connections: dict[tuple[Address, Address], _Connection] = {}
        self.opened = 0

    def add(self, timestamp: float, packet: bytes) -> None:
        self.packets.append((timestamp, len(self.packets), packet))

    def send(self, timestamp: float, connection: _Connection, from_peer: bool, flags: int,
             payload: bytes = b"") -> None:
        """One segment of ``connection``; SYN and FIN count one in the sequence, as data does."""
        step = len(payload) + (1 if flags & (_SYN | _FIN) else 0)
        c = connection
        if from_peer:
            ack = c.meter_seq if flags & _ACK else 0
            packet = _segment(c.peer, c.meter, c.peer_seq, ack, flags, payload, len(self.packets) + 1, True)
            c.peer_seq = (c.peer_seq + step) & 0xFFFFFFFF
        else:
            ack = c.peer_seq if flags & _ACK else 0
            packet = _segment(c.meter, c.peer, c.meter_seq, ack, flags, payload, len(self.packets) + 1, False)
            c.meter_seq = (c.meter_seq + step) & 0xFFFFFFFF
        self.add(timestamp, packet)

    def open(self, timestamp: float, peer: Address, meter: Address, peer_opened: bool = True) -> _Connection:
        """A new connection, with its three-way handshake."""
        shift = self.opened * _ISN_STEP
        self.opened += 1
        c = _Connection(peer, meter, peer_opened, (_PEER_ISN + shift) & 0xFFFFFFFF, (_METER_ISN + shift) & 0xFFFFFFFF)
        self.connections[peer, meter] = c
        self.send(timestamp, c, peer_opened, _SYN)
        self.send(timestamp, c, not peer_opened, _SYN | _ACK)
        self.send(timestamp, c, peer_opened, _ACK)
        return c

    def close(self, timestamp: float, c: _Connection, by_peer: bool, abort: bool = False) -> None:
        """FIN, FIN-ACK, ACK from the side that closes first; a reset when ``abort``."""
        del self.connections[c.peer, c.meter]
        if abort:
            self.send(timestamp, c, by_peer, _RST | _ACK)
            return
        self.send(timestamp, c, by_peer, _FIN | _ACK)
        self.send(timestamp, c, not by_peer, _FIN | _ACK)
        self.send(timestamp, c, by_peer, _ACK)

    def exchange(self, exchange: Exchange, peer: Address, local: Address) -> None:
        """The packets of one record (module docstring)."""
        key = (peer, local)
        link_event = exchange.client_sap is not None  # an HDLC link's, inside a connection that stays open
        if exchange.kind == CONNECT and not link_event:
            if key in self.connections:  # the port pair is used again: the old connection is gone
                self.close(exchange.time_req, self.connections[key], True)
            c = self.open(exchange.time_req, peer, local)
            if exchange.result in ABORTED or exchange.result == REFUSED_MAX_CLIENTS:
                self.close(exchange.time_req, c, False, abort=exchange.result in ABORTED)
            return
        if exchange.kind == DISCONNECT and not link_event:
            if key in self.connections:
                aborted = exchange.result in ABORTED
                self.close(exchange.time_req, self.connections[key], not aborted, abort=aborted)
            return
        if not exchange.request:
            return
        pushed = exchange.kind == PUSH_KIND and exchange.response is None
        legs = [(exchange.time_req, exchange.request, not pushed)]
        if exchange.response and exchange.time_res is not None:
            legs.append((exchange.time_res, exchange.response, False))
        if exchange.transport == "udp":
            for timestamp, frame, from_peer in legs:
                ends = (peer, local) if from_peer else (local, peer)
                self.add(timestamp, _datagram(*ends, frame[:_MAX_SEGMENT[4] - 8], len(self.packets) + 1, from_peer))
            return
        c = self.connections.get(key) or self.open(exchange.time_req, peer, local, peer_opened=not pushed)
        limit = _MAX_SEGMENT[peer[0].version]
        for timestamp, frame, from_peer in legs:
            for start in range(0, len(frame), limit):
                self.send(timestamp, c, from_peer, _PSH | _ACK, frame[start : start + limit])
        if pushed:
            self.close(exchange.time_req, c, False)


def write_pcap(exchanges: Iterable[Exchange]) -> bytes:
    """A libpcap file of the exchanges' TCP conversations and UDP datagrams (module docstring)."""
    writer = _Writer()
    for exchange in exchanges:
        peer = parse_endpoint(exchange.peer)
        local = parse_endpoint(exchange.local)
        if peer is None or local is None or peer[0].version != local[0].version:
            continue
        writer.exchange(exchange, peer, local)
    writer.packets.sort(key=lambda item: (item[0], item[1]))
    header = _FILE_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
    return header + b"".join(_record(timestamp, packet) for timestamp, _, packet in writer.packets)

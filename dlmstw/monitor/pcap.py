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

TCP: one connection per (peer, local) pair with consistent sequence and
acknowledgement numbers, flags PSH|ACK, correct IPv4 header and TCP
checksums. Connection events (kinds ``connect`` and ``disconnect``) are left
out, so data packets and frames correspond one to one; the first segment of
each connection is therefore seen mid-stream (no SYN). An exchange without a
response (a refused frame) gives one packet. A frame longer than one IP
packet can carry (above 65,495 octets of payload) is cut into consecutive
segments. Exchanges whose addresses do not parse, or whose peer and meter use
different IP versions, are skipped. A push (kind ``data-notification``
without a response) travels from the meter (``local``) to its destination
(``peer``).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from dlmstw.monitor.kinds import PUSH_KIND

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
_PSH_ACK: Final = 0x18
_PROTO_TCP: Final = 6
_PROTO_UDP: Final = 17
_UDP: Final = struct.Struct(">HHHH")
_TTL: Final = 64
_WINDOW: Final = 0xFFFF
_MAX_SEGMENT: Final = {4: 0xFFFF - 20 - 20, 6: 0xFFFF - 20}
"""Most TCP payload one packet carries: the IPv4 total length or IPv6 payload length is 16 bits."""
_PEER_ISN: Final = 0x00010000
_METER_ISN: Final = 0x00020000
_SKIPPED_KINDS: Final = frozenset(("connect", "disconnect"))

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
    """Next sequence numbers of both directions of one TCP connection."""

    peer_seq: int = _PEER_ISN
    meter_seq: int = _METER_ISN


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


def _segment(source: Address, destination: Address, seq: int, ack: int, payload: bytes, ident: int,
             from_peer: bool) -> bytes:
    """Ethernet + IP + TCP headers and ``payload``, with both checksums filled in."""
    head = _TCP.pack(source[1], destination[1], seq, ack, 5 << 4, _PSH_ACK, _WINDOW, 0, 0)
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


def write_pcap(exchanges: Iterable[Exchange]) -> bytes:
    """A libpcap file with one TCP packet per request and response frame (module docstring)."""
    connections: dict[tuple[Address, Address], _Connection] = {}
    packets: list[tuple[float, int, bytes]] = []
    ident = 0
    for exchange in exchanges:
        if exchange.kind in _SKIPPED_KINDS or not exchange.request:
            continue
        peer = parse_endpoint(exchange.peer)
        local = parse_endpoint(exchange.local)
        if peer is None or local is None or peer[0].version != local[0].version:
            continue
        pushed = exchange.kind == PUSH_KIND and exchange.response is None
        legs = [(exchange.time_req, exchange.request, not pushed)]
        if exchange.response and exchange.time_res is not None:
            legs.append((exchange.time_res, exchange.response, False))
        if exchange.transport == "udp":
            for timestamp, frame, from_peer in legs:
                ident += 1
                ends = (peer, local) if from_peer else (local, peer)
                packets.append((timestamp, len(packets), _datagram(*ends, frame[:_MAX_SEGMENT[4] - 8], ident,
                                                                   from_peer)))
            continue
        state = connections.setdefault((peer, local), _Connection())
        limit = _MAX_SEGMENT[peer[0].version]
        for timestamp, frame, from_peer in legs:
            for start in range(0, len(frame), limit):
                payload = frame[start : start + limit]
                ident += 1
                if from_peer:
                    packet = _segment(peer, local, state.peer_seq, state.meter_seq, payload, ident, True)
                    state.peer_seq = (state.peer_seq + len(payload)) & 0xFFFFFFFF
                else:
                    packet = _segment(local, peer, state.meter_seq, state.peer_seq, payload, ident, False)
                    state.meter_seq = (state.meter_seq + len(payload)) & 0xFFFFFFFF
                packets.append((timestamp, len(packets), packet))
    packets.sort(key=lambda item: (item[0], item[1]))
    header = _FILE_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
    return header + b"".join(_record(timestamp, packet) for timestamp, _, packet in packets)

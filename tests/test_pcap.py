"""pcap export of captured exchanges (issue 5): headers, checksums and TCP
numbering checked by parsing our own output, then opened with tshark.

Frames are the paper's figure 4 AARQ/AARE (tests/vectors/acse.json) and a GET
from public-vectors.md 3.4 ([U] u9n/dlms-cosem tests/test_xdlms/test_get.py).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from dlmstw.framing.wrapper import encode_wpdu
from dlmstw.monitor.capture import Exchange
from dlmstw.monitor.pcap import internet_checksum, parse_endpoint, write_pcap

ACSE = json.loads((Path(__file__).parent / "vectors" / "acse.json").read_text())
AARQ = bytes.fromhex(ACSE["paper_figure4_lls_aarq_wrapped"]["hex"])
AARE = bytes.fromhex(ACSE["paper_figure4_aare_wrapped"]["hex"])
GET = encode_wpdu(32, 1, bytes.fromhex("C001C1000100002B0100FF0200"))
GOT = encode_wpdu(1, 32, bytes.fromhex("C401C1000600001391"))
T0 = 1795500779.071760


def exchange(sequence: int, peer: str, local: str, request: bytes, response: bytes | None, t: float,
             kind: str = "get-request-normal") -> Exchange:
    return Exchange(sequence, t, None if response is None else t + 0.0105, "abt-0", peer, local, 32, 1, request,
                    response, None, None, kind, False, "success")


def session() -> list[Exchange]:
    """Two connections to one meter, one of them over IPv6, with connection events and a refused frame."""
    a, b, meter, meter6 = "192.0.2.7:50001", "192.0.2.8:50002", "127.0.0.1:4059", "[::1]:4059"
    return [
        exchange(1, a, meter, b"", None, T0, "connect"),
        exchange(2, a, meter, AARQ, AARE, T0 + 0.001, "aarq"),
        exchange(3, b, meter, AARQ, AARE, T0 + 0.002, "aarq"),
        exchange(4, a, meter, GET, GOT, T0 + 0.1),
        exchange(5, "[2001:db8::5]:50003", meter6, GET, GOT, T0 + 0.2),
        exchange(6, b, meter, b"\x00\x02\x00\x20", None, T0 + 0.3, "malformed"),
        exchange(7, a, meter, b"", None, T0 + 0.4, "disconnect"),
    ]


def read_pcap(data: bytes) -> tuple[tuple[int, ...], list[tuple[int, int, bytes]]]:
    header = struct.unpack_from("<IHHiIII", data, 0)
    records = []
    pos = 24
    while pos < len(data):
        seconds, micros, captured, original = struct.unpack_from("<IIII", data, pos)
        assert captured == original
        records.append((seconds, micros, data[pos + 16 : pos + 16 + captured]))
        pos += 16 + captured
    assert pos == len(data)
    return header, records


class Packet(NamedTuple):
    version: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    payload: bytes
    macs: tuple[bytes, bytes]


def dissect_packet(packet: bytes) -> Packet:
    """Ethernet, IP and TCP headers of one packet, with both checksums verified."""
    destination_mac, source_mac, ethertype = packet[:6], packet[6:12], packet[12:14]
    ip = packet[14:]
    if ethertype == b"\x08\x00":
        assert ip[0] == 0x45 and ip[9] == 6 and ip[8] == 64
        total = struct.unpack_from(">H", ip, 2)[0]
        assert total == len(ip)
        assert internet_checksum(ip[:20]) == 0
        src, dst, tcp = ip[12:16], ip[16:20], ip[20:]
        pseudo = src + dst + struct.pack(">BBH", 0, 6, len(tcp))
        version = 4
    else:
        assert ethertype == b"\x86\xdd" and ip[0] >> 4 == 6 and ip[6] == 6
        assert struct.unpack_from(">H", ip, 4)[0] == len(ip) - 40
        src, dst, tcp = ip[8:24], ip[24:40], ip[40:]
        pseudo = src + dst + struct.pack(">I3xB", len(tcp), 6)
        version = 6
    assert internet_checksum(pseudo + tcp) == 0
    sport, dport, seq, ack, offset, flags = struct.unpack_from(">HHIIBB", tcp, 0)
    assert (offset >> 4, flags) == (5, 0x18)
    return Packet(version, src, dst, sport, dport, seq, ack, tcp[20:], (destination_mac, source_mac))


def test_file_header_and_one_packet_per_frame() -> None:
    header, records = read_pcap(write_pcap(session()))
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    packets = [dissect_packet(packet) for _, _, packet in records]
    assert [p.payload for p in packets] == [AARQ, AARQ, AARE, AARE, GET, GOT, GET, GOT, b"\x00\x02\x00\x20"]
    assert [(s, m) for s, m, _ in records] == [  # in time order across connections
        (1795500779, 72760), (1795500779, 73760), (1795500779, 83260), (1795500779, 84260),
        (1795500779, 171760), (1795500779, 182260), (1795500779, 271760), (1795500779, 282260),
        (1795500779, 371760)]


def test_addresses_ports_and_directions() -> None:
    _, records = read_pcap(write_pcap(session()))
    packets = [dissect_packet(packet) for _, _, packet in records]
    first, second = packets[0], packets[2]
    assert (first.src, first.sport, first.dst, first.dport) == (bytes((192, 0, 2, 7)), 50001,
                                                                          bytes((127, 0, 0, 1)), 4059)
    assert (second.src, second.sport, second.dst, second.dport) == (bytes((127, 0, 0, 1)), 4059,
                                                                              bytes((192, 0, 2, 7)), 50001)
    assert first.macs == second.macs[::-1]
    six = packets[6]
    assert (six.version, six.sport, six.dport) == (6, 50003, 4059)
    assert six.src == bytes.fromhex("20010db8000000000000000000000005")


def test_sequence_and_acknowledgement_numbers_per_connection() -> None:
    _, records = read_pcap(write_pcap(session()))
    packets = [dissect_packet(packet) for _, _, packet in records]
    a = [p for p in packets if 50001 in (p.sport, p.dport)]
    request, response, get, got = a
    assert response.ack == request.seq + len(AARQ)
    assert get.seq == request.seq + len(AARQ) and get.ack == response.seq + len(AARE)
    assert got.seq == response.seq + len(AARE) and got.ack == get.seq + len(GET)
    b = [p for p in packets if 50002 in (p.sport, p.dport)]
    assert b[2].seq == b[0].seq + len(AARQ)  # the refused frame continues connection b


def test_large_frames_are_cut_into_segments_and_bad_addresses_skipped() -> None:
    big = encode_wpdu(1, 32, bytes(65535))
    exchanges = [exchange(1, "192.0.2.7:50001", "127.0.0.1:4059", GET, big, T0),
                 exchange(2, "not-an-address", "127.0.0.1:4059", GET, GOT, T0),
                 exchange(3, "[::1]:50001", "127.0.0.1:4059", GET, GOT, T0)]
    _, records = read_pcap(write_pcap(exchanges))
    packets = [dissect_packet(packet) for _, _, packet in records]
    assert [len(p.payload) for p in packets] == [len(GET), 65495, len(big) - 65495]
    assert packets[2].seq == packets[1].seq + 65495
    assert b"".join(p.payload for p in packets[1:]) == big


def test_parse_endpoint() -> None:
    assert parse_endpoint("127.0.0.1:4059") is not None
    assert str(parse_endpoint("[::1]:4059")[0]) == "::1"  # type: ignore[index]
    assert parse_endpoint("::ffff:10.0.0.1:5000") == parse_endpoint("10.0.0.1:5000")
    assert parse_endpoint("10.0.0.1:70000") is None
    assert parse_endpoint("host:1") is None
    assert write_pcap([]) == struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_tshark_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    path.write_bytes(write_pcap(session()))
    assert TSHARK is not None
    fields = subprocess.run(
        [TSHARK, "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
         "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.len", "-e", "tcp.checksum.status",
         "-e", "_ws.expert.message"],
        capture_output=True, text=True, check=True)
    rows = [line.split(",") for line in fields.stdout.splitlines()]
    a = ["192.0.2.7", "", "50001", "127.0.0.1", "", "4059"]
    a_back = ["127.0.0.1", "", "4059", "192.0.2.7", "", "50001"]
    b = ["192.0.2.8", "", "50002", "127.0.0.1", "", "4059"]
    b_back = ["127.0.0.1", "", "4059", "192.0.2.8", "", "50002"]
    six = ["", "2001:db8::5", "50003", "", "::1", "4059"]
    six_back = ["", "::1", "4059", "", "2001:db8::5", "50003"]
    assert [row[:6] for row in rows] == [a, b, a_back, b_back, a, a_back, six, six_back, b]
    assert [int(row[6]) for row in rows] == [len(AARQ), len(AARQ), len(AARE), len(AARE), len(GET), len(GOT),
                                             len(GET), len(GOT), 4]
    assert {row[7] for row in rows} == {"1"}  # checksum status Good
    assert all(row[8] == "" for row in rows), rows  # no expert warnings (retransmissions, bad checksums)

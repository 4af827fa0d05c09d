"""pcap export of captured exchanges (issues 5 and 15): headers, checksums, whole
TCP conversations (handshake, data, close) and their numbering checked by
parsing our own output, then opened with tshark, which follows the streams.

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
        exchange(1, a, meter, b"", None, T0, "connect")._replace(client_sap=None, server_sap=None),
        exchange(2, a, meter, AARQ, AARE, T0 + 0.001, "aarq"),
        exchange(3, b, meter, AARQ, AARE, T0 + 0.002, "aarq"),
        exchange(4, a, meter, GET, GOT, T0 + 0.1),
        exchange(5, "[2001:db8::5]:50003", meter6, GET, GOT, T0 + 0.2),
        exchange(6, b, meter, b"\x00\x02\x00\x20", None, T0 + 0.3, "malformed"),
        exchange(7, a, meter, b"", None, T0 + 0.4, "disconnect")._replace(client_sap=None, server_sap=None),
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


SYN, SYN_ACK, ACK, DATA, FIN_ACK, RST_ACK = 0x02, 0x12, 0x10, 0x18, 0x11, 0x14


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
    flags: int


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
    assert offset >> 4 == 5
    return Packet(version, src, dst, sport, dport, seq, ack, tcp[20:], (destination_mac, source_mac), flags)


def packets_of(data: bytes) -> list[Packet]:
    return [dissect_packet(packet) for _, _, packet in read_pcap(data)[1]]


def data_of(data: bytes) -> list[Packet]:
    """The packets that carry frames."""
    return [packet for packet in packets_of(data) if packet.payload]


def test_file_header_and_one_packet_per_frame() -> None:
    header, records = read_pcap(write_pcap(session()))
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    records = [record for record in records if dissect_packet(record[2]).payload]
    packets = [dissect_packet(packet) for _, _, packet in records]
    assert [p.payload for p in packets] == [AARQ, AARQ, AARE, AARE, GET, GOT, GET, GOT, b"\x00\x02\x00\x20"]
    assert {p.flags for p in packets} == {DATA}
    assert [(s, m) for s, m, _ in records] == [  # in time order across connections
        (1795500779, 72760), (1795500779, 73760), (1795500779, 83260), (1795500779, 84260),
        (1795500779, 171760), (1795500779, 182260), (1795500779, 271760), (1795500779, 282260),
        (1795500779, 371760)]


def test_addresses_ports_and_directions() -> None:
    packets = data_of(write_pcap(session()))
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
    packets = data_of(write_pcap(session()))
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
    packets = data_of(write_pcap(exchanges))
    assert [len(p.payload) for p in packets] == [len(GET), 65495, len(big) - 65495]
    assert packets[2].seq == packets[1].seq + 65495
    assert b"".join(p.payload for p in packets[1:]) == big


def test_whole_conversations_open_and_close() -> None:
    """Connection a has its connect and disconnect records: handshake at the connect, FIN
    at the disconnect. b's records start mid-connection: its handshake comes just before
    its first frame, and it stays open; the IPv6 one likewise."""
    packets = packets_of(write_pcap(session()))
    a = [p for p in packets if 50001 in (p.sport, p.dport) and p.version == 4]
    assert [p.flags for p in a] == [SYN, SYN_ACK, ACK, DATA, DATA, DATA, DATA, FIN_ACK, FIN_ACK, ACK]
    assert [p.sport == 50001 for p in a] == [True, False, True, True, False, True, False, True, False, True]
    syn, syn_ack, ack, aarq = a[:4]
    assert (syn.ack, syn_ack.ack, ack.seq, ack.ack) == (0, syn.seq + 1, syn.seq + 1, syn_ack.seq + 1)
    assert (aarq.seq, aarq.ack) == (syn.seq + 1, syn_ack.seq + 1)
    fin, fin_ack, last = a[-3:]
    assert fin.seq == a[5].seq + len(GET) and fin_ack.ack == fin.seq + 1 and last.ack == fin_ack.seq + 1
    b = [p for p in packets if 50002 in (p.sport, p.dport)]
    assert [p.flags for p in b] == [SYN, SYN_ACK, ACK, DATA, DATA, DATA]
    six = [p for p in packets if p.version == 6]
    assert [p.flags for p in six] == [SYN, SYN_ACK, ACK, DATA, DATA]
    assert len({p.seq for p in (a[0], b[0], six[0])}) == 3  # each connection its own initial numbers


@pytest.mark.parametrize(("kind", "result", "flags"), [
    ("disconnect", "inactivity-timeout", [SYN, SYN_ACK, ACK, DATA, DATA, RST_ACK]),
    ("connect", "refused-max-connections", [SYN, SYN_ACK, ACK, RST_ACK]),
    ("connect", "refused-max-clients", [SYN, SYN_ACK, ACK, FIN_ACK, FIN_ACK, ACK]),
])
def test_meter_aborts_and_refusals(kind: str, result: str, flags: list[int]) -> None:
    peer, meter = "192.0.2.7:50001", "127.0.0.1:4059"
    event = {"client_sap": None, "server_sap": None}
    records = [exchange(1, peer, meter, b"", None, T0, "connect")._replace(result=result, **event)]
    if kind == "disconnect":
        records = [exchange(1, peer, meter, b"", None, T0, "connect")._replace(result="accepted", **event),
                   exchange(2, peer, meter, GET, GOT, T0 + 0.1),
                   exchange(3, peer, meter, b"", None, T0 + 120, "disconnect")._replace(result=result, **event)]
    packets = packets_of(write_pcap(records))
    assert [p.flags for p in packets] == flags
    assert packets[-1].sport == (4059 if flags[-1] == RST_ACK or kind == "connect" and flags[-3] == FIN_ACK
                                 else 50001)


def test_an_hdlc_links_disconnect_leaves_the_connection_open() -> None:
    peer, meter = "192.0.2.7:50001", "127.0.0.1:4160"
    records = [exchange(1, peer, meter, b"", None, T0, "connect")._replace(client_sap=None, result="accepted"),
               exchange(2, peer, meter, b"", None, T0 + 120, "disconnect")._replace(result="inactivity-timeout")]
    assert [p.flags for p in packets_of(write_pcap(records))] == [SYN, SYN_ACK, ACK]


def test_a_push_over_tcp_is_a_connection_the_meter_opens_and_closes() -> None:
    push = encode_wpdu(1, 0x66, bytes.fromhex("0F000000010002020906000019090000FF"))
    record = exchange(1, "127.0.0.1:4444", "127.0.0.1:40000", push, None, T0, "data-notification")
    packets = packets_of(write_pcap([record]))
    assert [(p.flags, p.sport) for p in packets] == [(SYN, 40000), (SYN_ACK, 4444), (ACK, 40000), (DATA, 40000),
                                                     (FIN_ACK, 40000), (FIN_ACK, 4444), (ACK, 40000)]
    assert packets[3].payload == push


def test_parse_endpoint() -> None:
    assert parse_endpoint("127.0.0.1:4059") is not None
    assert str(parse_endpoint("[::1]:4059")[0]) == "::1"  # type: ignore[index]
    assert parse_endpoint("::ffff:10.0.0.1:5000") == parse_endpoint("10.0.0.1:5000")
    assert parse_endpoint("10.0.0.1:70000") is None
    assert parse_endpoint("host:1") is None
    assert write_pcap([]) == struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)


TSHARK = shutil.which("tshark")


def test_tshark_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    path.write_bytes(write_pcap(session()))
    assert TSHARK is not None, "tshark is not installed (CI installs it: apt-get install tshark)"
    fields = subprocess.run(
        [TSHARK, "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
         "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.len", "-e", "tcp.checksum.status",
         "-e", "_ws.expert.message"],
        capture_output=True, text=True, check=True)
    rows = [line.split(",") for line in fields.stdout.splitlines()]
    rows = [row for row in rows if row[6] != "0"]  # the frames, not the handshakes and closes
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
    problems = subprocess.run([TSHARK, "-r", str(path), "-Y", "tcp.analysis.flags || _ws.expert.severity >= 6291456"],
                              capture_output=True, text=True, check=True)
    assert problems.stdout == ""  # no retransmissions, lost segments, bad checksums (warnings or worse)
    follow = subprocess.run([TSHARK, "-r", str(path), "-q", "-z", "follow,tcp,raw,0"], capture_output=True, text=True,
                            check=True)
    streamed = "".join(line.strip() for line in follow.stdout.splitlines() if line.strip() and
                       all(c in "0123456789abcdef" for c in line.strip()))
    assert streamed == (AARQ + AARE + GET + GOT).hex()  # Wireshark follows connection a from SYN to FIN

"""HDLC meters and a gateway against the unmodified gurux-dlms client
(``InterfaceType.HDLC`` over TCP on 127.0.0.1): the clock and a day of load
profile with no security, LLS and HLS-GMAC with authenticated encryption,
in information fields of 128 octets so that answers are segmented; twenty
meters behind one gateway port, each by its physical address; the same
served by worker processes; the records and the lab.ini checks."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gurux_dlms import GXDLMSClient
from gurux_dlms.enums import Authentication, Security
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric
from gurux_dlms.secure import GXDLMSSecureClient

from dlmstw.config import parse_lab
from dlmstw.errors import ConfigError
from dlmstw.framing.hdlc import HdlcDecoder
from hdlc_support import HdlcMeterSession, hdlc_client
from test_console import Console
from test_pcap import TSHARK
from interop_support import Lab, find_free_port_range, launch_lab, stop_lab, to_utc

AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EK = "000102030405060708090A0B0C0D0E0F"
SECRET = "0001020304050607080900010203040506070809"
GATEWAY_METERS = 20
FIRST_PHYSICAL = 17
HDLC_SERIAL = 5000001
GATEWAY_SERIAL = 6000001
INFO = 128


def lab_ini(port: int, directory: Path, workers: int = 1, console: int = 0) -> str:
    return f"""\
[simulator]
console = tcp:{console}:interface=127.0.0.1
state_dir = {directory / 'state'}
packet_log = {directory / 'packets.jsonl'}
workers = {workers}

[meters:hdlc]
count = 1
port = {port}
transport = hdlc
serial = {HDLC_SERIAL}
system_title = 4D4D4D0000AA0001
load_profile_interval = 15
load_profile_days = 1

[meters:bus]
count = {GATEWAY_METERS}
transport = hdlc
gateway = {port + 1}
physical_address = {FIRST_PHYSICAL}
serial = {GATEWAY_SERIAL}
system_title = 4D4D4D0000BB0001
load_profile_days = 1

[association:public]
client_sap = 16

[association:reader]
client_sap = 32
authentication = lls
lls_password = ABCD0001

[association:utility]
client_sap = 48
authentication = hls-gmac
context = ln-ciphered
security = authenticated-encryption
hls_secret = {SECRET}
authentication_key = {AK}
block_cipher_key = {EK}
"""


@pytest.fixture(scope="module")
def hdlc_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("hdlc-lab")
    port = find_free_port_range(3)
    try:
        lab = launch_lab(directory, lab_ini(port, directory, console=port + 2), (port, port + 1, port + 2))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield lab
    finally:
        stop_lab(lab)


def client_for(association: str, physical: int | None) -> GXDLMSClient:
    if association == "public":
        return hdlc_client(16, physical, max_info=INFO)
    if association == "reader":
        return hdlc_client(32, physical, password="ABCD0001", max_info=INFO)
    secure = GXDLMSSecureClient(True, 48, 1, Authentication.HIGH_GMAC, None)
    secure.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    secure.ciphering.systemTitle = bytes.fromhex("4D4D4D0000000001")
    secure.ciphering.blockCipherKey = bytes.fromhex(EK)
    secure.ciphering.authenticationKey = bytes.fromhex(AK)
    secure.ciphering.invocationCounter = int(time.time())
    return hdlc_client(48, physical, max_info=INFO, client=secure)


def open_session(port: int, client: GXDLMSClient) -> HdlcMeterSession:
    session = HdlcMeterSession(port, client)
    session.associate()
    if client.authentication > Authentication.LOW:
        session.authenticate()
    return session


@pytest.mark.parametrize("association", ["public", "reader", "utility"])
def test_gurux_reads_the_clock_and_a_day_of_load_profile_in_segments(hdlc_lab: Lab, association: str) -> None:
    session = open_session(hdlc_lab.ports[0], client_for(association, FIRST_PHYSICAL))
    try:
        clock = GXDLMSClock("0.0.1.0.0.255")
        session.read(clock, 2)
        assert abs((to_utc(clock.time) - to_utc(session.read(GXDLMSClock("0.0.1.0.0.255"), 2)))
                   .total_seconds()) < 5
        profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
        session.read(profile, 3)
        rows = session.read(profile, 2)
        assert len(rows) == 96, session.trace_text()
        # Every frame the meter sent fits the negotiated information field, and the profile took many.
        frames = [frame for direction, frame in session.trace if direction == "S->C"]
        assert all(len(frame) <= INFO + 13 for frame in frames)
        assert session.frames_received > 20
        assert any(frame[1] & 0x08 for frame in frames)  # the segmentation bit
        session.release()
    finally:
        session.close()


def test_gurux_default_one_octet_server_address(hdlc_lab: Lab) -> None:
    session = open_session(hdlc_lab.ports[0], hdlc_client(16, None))
    try:
        assert session.read(GXDLMSData("0.0.96.1.0.255"), 2) == str(HDLC_SERIAL).encode()
        session.release()
    finally:
        session.close()


def test_twenty_meters_behind_one_gateway_port(hdlc_lab: Lab) -> None:
    gateway = hdlc_lab.ports[1]
    for index in range(GATEWAY_METERS):
        session = open_session(gateway, hdlc_client(16, FIRST_PHYSICAL + index))
        try:
            serial = session.read(GXDLMSData("0.0.96.1.0.255"), 2)
            assert serial == str(GATEWAY_SERIAL + index).encode(), session.trace_text()
            session.release()
        finally:
            session.close()


def test_one_connection_talks_to_several_meters_of_the_bus(hdlc_lab: Lab) -> None:
    """A concentrator's single connection: links to three meters open at once, each its own association."""
    first = open_session(hdlc_lab.ports[1], hdlc_client(16, FIRST_PHYSICAL + 3))
    try:
        others = []
        for index in (7, 19):
            other = HdlcMeterSession(hdlc_lab.ports[1], hdlc_client(16, FIRST_PHYSICAL + index))
            other.sock = first.sock
            other.associate()
            others.append((index, other))
        for index, other in others:
            assert other.read(GXDLMSData("0.0.96.1.0.255"), 2) == str(GATEWAY_SERIAL + index).encode()
        assert first.read(GXDLMSData("0.0.96.1.0.255"), 2) == str(GATEWAY_SERIAL + 3).encode()
    finally:
        first.close()


def test_an_absent_physical_address_gets_no_answer(hdlc_lab: Lab) -> None:
    client = hdlc_client(16, FIRST_PHYSICAL + GATEWAY_METERS)
    with socket.create_connection(("127.0.0.1", hdlc_lab.ports[1]), timeout=5) as sock:
        sock.sendall(bytes(client.snrmRequest()))
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(100)


def records(lab: Lab, discs: int = 1) -> list[dict[str, object]]:
    """The packet log once it holds at least ``discs`` DISC exchanges (links closed)."""
    deadline = time.monotonic() + 15
    path = lab.directory / "packets.jsonl"
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            if sum(r["kind"] == "disc" for r in lines) >= discs:
                return lines
        time.sleep(0.2)
    raise AssertionError(f"fewer than {discs} DISC exchanges in the packet log")


def discs_logged(lab: Lab) -> int:
    path = lab.directory / "packets.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(json.loads(line)["kind"] == "disc" for line in lines)


def test_the_packet_log_shows_whole_frames_described(hdlc_lab: Lab) -> None:
    before = discs_logged(hdlc_lab)
    session = open_session(hdlc_lab.ports[0], client_for("public", FIRST_PHYSICAL))
    try:
        profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
        session.read(profile, 3)
        session.read(profile, 2)
        session.release()
    finally:
        session.close()
    log = [r for r in records(hdlc_lab, before + 1) if r["meter"] == "hdlc-0"]
    kinds = {r["kind"] for r in log}
    assert {"snrm", "aarq", "get-request-normal", "rlrq", "disc"} <= kinds
    long_get = max((r for r in log if r["kind"] == "get-request-normal"), key=lambda r: len(r["response"]))
    frames = HdlcDecoder().feed(bytes.fromhex(long_get["response"]))  # type: ignore[arg-type]
    assert len(frames) > 20 and all(f.information for f in frames)  # type: ignore[union-attr]
    description = long_get["description_response"]
    assert isinstance(description, dict) and description["meaning"].startswith(f"{len(frames)} HDLC frames")
    last = description["children"][-1]
    assert [c["name"] for c in last["children"]][:5] == [
        "opening-flag", "frame-format", "destination-address", "source-address", "control"]
    assert any(c["name"] == "reassembled" for c in last["children"])
    # A ciphered answer in segments (the HLS-GMAC reading above): its reassembled APDU is shown deciphered.
    ciphered = [r for r in log if r["ciphered"] and r["kind"] == "get-request-normal"]
    longest = max(ciphered, key=lambda r: len(r["response"]))
    assert len(HdlcDecoder().feed(bytes.fromhex(longest["response"]))) > 20
    assert '"deciphered"' in json.dumps(longest["description_response"])
    snrm = next(r for r in log if r["kind"] == "snrm")
    assert "link parameters" in json.dumps(snrm["description_response"])
    # The console: the same records, and a pcap whose TCP payloads are the frames.
    console = Console(hdlc_lab, hdlc_lab.ports[2])
    meters = {m["id"]: m for m in console.json("/api/meters")}
    assert (meters["hdlc-0"]["transport"], meters["hdlc-0"]["physical_address"], meters["hdlc-0"]["gateway"]) == (
        "hdlc", FIRST_PHYSICAL, False)
    assert (meters["bus-4"]["port"], meters["bus-4"]["physical_address"], meters["bus-4"]["gateway"]) == (
        hdlc_lab.ports[1], FIRST_PHYSICAL + 4, True)
    shown = console.json("/api/packets?meter=hdlc-0&limit=1000")
    shown = shown["packets"] if isinstance(shown, dict) else shown
    assert long_get["response"] in {r["response"] for r in shown}
    status, _, pcap = console.get("/api/packets.pcap?meter=hdlc-0")
    assert status == 200 and bytes.fromhex(long_get["response"])[:2000] in pcap  # type: ignore[arg-type]
    if TSHARK is not None:
        path = hdlc_lab.directory / "hdlc.pcap"
        path.write_bytes(pcap)
        payloads = subprocess.run([TSHARK, "-r", str(path), "-T", "fields", "-e", "tcp.payload"],
                                  capture_output=True, text=True, check=True).stdout.split()
        assert any(p.replace(":", "").upper().startswith("7EA8") for p in payloads)  # a segmented frame


def test_gateway_and_hdlc_meters_in_worker_processes(tmp_path: Path) -> None:
    port = find_free_port_range(2)
    lab = launch_lab(tmp_path, lab_ini(port, tmp_path, workers=2), (port, port + 1))
    try:
        for physical, target, serial in ((None, port, HDLC_SERIAL), (FIRST_PHYSICAL, port + 1, GATEWAY_SERIAL),
                                         (FIRST_PHYSICAL + 11, port + 1, GATEWAY_SERIAL + 11)):
            session = open_session(target, hdlc_client(16, physical, max_info=INFO))
            try:
                assert session.read(GXDLMSData("0.0.96.1.0.255"), 2) == str(serial).encode()
                profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
                session.read(profile, 3)
                assert len(session.read(profile, 2)) == 96
                session.release()
            finally:
                session.close()
    finally:
        stop_lab(lab)


BASE = "[association:p]\nclient_sap = 16\n[meters:g]\n"


@pytest.mark.parametrize("lines, key, problem", [
    ("transport = udp\n", "transport", "'udp' is not one of wrapper | udp-wrapper | hdlc"),
    ("transport = udp-wrapper\ngateway = 5000\n", "gateway",
     "needs transport = hdlc (the wrapper has no physical address)"),
    ("gateway = 5000\n", "gateway", "needs transport = hdlc (the wrapper has no physical address)"),
    ("physical_address = 20\n", "physical_address", "needs transport = hdlc"),
    ("transport = hdlc\ncount = 110\n", "physical_address",
     "physical addresses 17..126 (count = 110) must lie in 0x10..0x7D (16..125) with address_size = 2"),
    ("transport = hdlc\nphysical_address = 15\naddress_size = 4\n", "physical_address",
     "physical addresses 15..15 (count = 1) must lie in 0x10..0x3FFD (16..16381) with address_size = 4"),
    ("transport = hdlc\naddress_size = 3\n", "address_size", "3 is not allowed: must be one of 2, 4"),
    ("transport = hdlc\ngateway = 5000\nport = 5001\n", "port",
     "the group's meters are behind gateway = 5000: give one or the other"),
])
def test_config_errors_are_one_line_naming_file_section_and_key(lines: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_lab(BASE + lines, "lab.ini")
    assert str(error.value) == f"lab.ini [meters:g] {key}: {problem}"


def test_a_gateway_port_may_not_be_another_groups_port() -> None:
    with pytest.raises(ConfigError) as error:
        parse_lab(BASE + "count = 3\nport = 5000\n[meters:h]\ntransport = hdlc\ngateway = 5002\nserial = 9\n"
                  "system_title = 4D4D4D0000000099\n", "lab.ini")
    assert str(error.value) == ("lab.ini [meters:h] gateway: ports 5002..5002 on 127.0.0.1 overlap [meters:g] "
                                "ports 5000..5002 on 127.0.0.1")


def test_each_gateway_group_is_served_whole_by_one_shard() -> None:
    text = BASE + "transport = hdlc\ncount = 3\ngateway = 5000\n" + "".join(
        f"[meters:h{k}]\ntransport = hdlc\ncount = 2\ngateway = {5001 + k}\nserial = {100 + 10 * k}\n"
        f"system_title = 4D4D4D00000001{16 * k:02X}\n" for k in range(3))
    shards = [[m.id for m in parse_lab(f"[simulator]\nshard = {i}/2\n" + text).meters()] for i in range(2)]
    assert shards == [["g-0", "g-1", "g-2", "h1-0", "h1-1"], ["h0-0", "h0-1", "h2-0", "h2-1"]]


def test_shard_0_serves_every_meter_behind_a_gateway() -> None:
    text = BASE + "transport = hdlc\ncount = 3\ngateway = 5000\n[meters:w]\ncount = 4\nport = 6000\nserial = 9\n" \
        "system_title = 4D4D4D0000000099\n"
    first = parse_lab("[simulator]\nshard = 0/2\n" + text)
    second = parse_lab("[simulator]\nshard = 1/2\n" + text)
    assert [m.id for m in first.meters()] == ["g-0", "g-1", "g-2", "w-0", "w-2"]
    assert [m.id for m in second.meters()] == ["w-1", "w-3"]


def test_four_octet_addresses_reach_physical_addresses_above_125() -> None:
    lab = parse_lab(BASE + "transport = hdlc\ncount = 2\ngateway = 5000\naddress_size = 4\nphysical_address = 300\n")
    assert [(m.port, m.physical_address, m.address_size, m.gateway) for m in lab.meters()] == [
        (5000, 300, 4, True), (5000, 301, 4, True)]


def test_the_readme_hdlc_lab_and_dissect_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """README "HDLC and gateways": ``twistd -n dlmssim -c etc/hdlc.ini`` (on free ports here) serves
    gurux's HDLC client on the meter's port and through the gateway, and ``dlmstw-client dissect``
    explains an HDLC frame."""
    from dlmstw.client.cli import main
    from interop_support import REPO_ROOT

    port = find_free_port_range(2)
    text = (REPO_ROOT / "etc" / "hdlc.ini").read_text()
    for key, value in (("port", str(port)), ("gateway", str(port + 1)), ("console", "tcp:0:interface=127.0.0.1"),
                       ("state_dir", str(tmp_path / "state")), ("packet_log", "-")):
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    lab = launch_lab(tmp_path, text, (port, port + 1))
    try:
        for target, physical, serial in ((port, 17, 3000001), (port + 1, 17 + 5, 3000106)):
            session = open_session(target, hdlc_client(32, physical, password="ABCD0001"))
            try:
                assert session.read(GXDLMSData("0.0.96.1.0.255"), 2) == str(serial).encode()
                session.release()
            finally:
                session.close()
    finally:
        stop_lab(lab)
    assert main(["dissect", "7EA00A00020023219318717E"]) == 0
    assert "SNRM frame, poll/final, address 16 (one octet) -> logical device 1, physical device 17" in \
        capsys.readouterr().out

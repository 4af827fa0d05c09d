"""A capture exported by the console of a running lab, for the Wireshark dissector's tests.

``capture(directory)`` starts ``twistd -n dlmssim`` with a wrapper meter,
reads it as gurux-dlms and ``dlmstw-client`` do (LLS associations: GET
normal, with-list and with blocks, SET, ACTION; an HLS-GMAC association in
the ciphered context), makes it push a Data-Notification to a socket of
this test, reads an HDLC meter (IEC 62056-46 frames over TCP, segmented), and
downloads ``/api/packets.pcap`` from the console.
"""

from __future__ import annotations

import contextlib
import io
import socket
import urllib.request
from pathlib import Path

from gurux_dlms import GXReplyData
from gurux_dlms.enums import DataType as GuruxDataType
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSPushSetup

from dlmstw.client.cli import main
from hdlc_support import HdlcMeterSession, hdlc_client
from interop_support import MeterSession, find_free_port_range, launch_lab, stop_lab

READER = 32
PASSWORD = "ABCD0001"
UTILITY = 48
EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
CLIENT_TITLE = "4D4D4D0000000001"
METER_TITLE = "4D4D4D0000BC614E"
PUSH_SETUP = "0.0.25.9.0.255"
PHYSICAL = 17
HDLC_INFO = 64


def ini(meter_port: int, console_port: int, directory: Path) -> str:
    return f"""\
[simulator]
console = tcp:{console_port}:interface=127.0.0.1
state_dir = {directory / "state"}
packet_log = -
push_destinations = 127.0.0.0/8

[meters:wrapper]
port = {meter_port}
model = dlms-generic
system_title = {METER_TITLE}
load_profile_days = 1

[meters:hdlc]
port = {meter_port + 1}
transport = hdlc
physical_address = {PHYSICAL}
load_profile_days = 1

[association:reader]
client_sap = {READER}
authentication = lls
lls_password = {PASSWORD}
access = full

[association:utility]
client_sap = {UTILITY}
authentication = hls-gmac
context = ln-ciphered
security = authenticated-encryption
access = full
authentication_key = {AK}
block_cipher_key = {EK}
"""


def _reader_session(meter_port: int, push_port: int) -> None:
    """GET normal and with-list, SET and ACTION (a push to ``push_port``), then release."""
    with socket.create_server(("127.0.0.1", push_port)) as server, \
            MeterSession(meter_port, READER, PASSWORD) as session:
        clock = GXDLMSClock("0.0.1.0.0.255")
        session.read(clock, 2)
        session.read_list([(clock, 2), (GXDLMSData("0.0.96.1.0.255"), 2)])
        push = GXDLMSPushSetup(PUSH_SETUP)
        session.read(push, 3)
        push.destination = f"127.0.0.1:{push_port}"
        session.exchange(session.client.write(push, 3), GXReplyData())
        session.exchange(session.client.method(push, 1, 0, GuruxDataType.INT8), GXReplyData())
        server.settimeout(5)
        connection, _ = server.accept()
        with connection:
            connection.settimeout(5)
            connection.recv(4096)
    with MeterSession(meter_port, READER, PASSWORD, max_pdu=256) as session:
        session.read_object_list()  # GET-Response-With-Datablock, GET-Request-Next


def _hdlc_session(port: int) -> None:
    """SNRM/UA, then the clock read over LLS and the released link, in frames of at most HDLC_INFO octets."""
    session = HdlcMeterSession(port, hdlc_client(READER, PHYSICAL, PASSWORD, max_info=HDLC_INFO))
    try:
        session.associate()
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
        session.read_object_list()  # segmented I frames
        session.release()
    finally:
        session.close()


def capture(directory: Path) -> bytes:
    """The console's pcap of the exchanges above."""
    meter_port = find_free_port_range(2)
    console_port = find_free_port_range(1)
    push_port = find_free_port_range(1)
    lab = launch_lab(directory, ini(meter_port, console_port, directory), (meter_port, meter_port + 1, console_port))
    try:
        _reader_session(meter_port, push_port)
        _hdlc_session(meter_port + 1)
        address = f"127.0.0.1:{meter_port}"
        for arguments in (["--client", str(READER), "--auth", "lls", "--password", PASSWORD, "0.0.40.0.0.255:2"],
                          ["--client", str(UTILITY), "--auth", "hls-gmac", "--context", "ln-ciphered",
                           "--key", EK, "--auth-key", AK, "--system-title", CLIENT_TITLE,
                           "--invocation-counter", "1000", "8/0.0.1.0.0.255:2"]):
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(["read", address, *arguments, "--json", "--timeout", "5"])
            assert code == 0, arguments
        with urllib.request.urlopen(f"http://127.0.0.1:{console_port}/api/packets.pcap", timeout=10) as response:
            return response.read()
    finally:
        stop_lab(lab)

"""Pushes over real sockets (issue 14, item 4): a ``twistd -n dlmssim`` lab whose
meters push Data-Notifications when the unmodified gurux-dlms client invokes
Push setup method 1, when their Single action schedule says, ciphered when
``push_association`` has a security policy; the receivers are this test's
sockets, gurux-dlms's GXDLMSNotify and ``dlmstw-client listen``.
"""

from __future__ import annotations

import datetime
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gurux_dlms import GXByteBuffer, GXDateTime, GXDLMSException, GXDLMSNotify, GXReplyData
from gurux_dlms.enums import DataType as GuruxDataType, InterfaceType
from gurux_dlms.objects.enums import ServiceType
from gurux_dlms.objects import GXDLMSActionSchedule, GXDLMSPushSetup

from dlmstw.codec.axdr import CosemDateTime
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import decode_data_notification
from dlmstw.enums import DataType
from dlmstw.framing.wrapper import decode_wpdu
from interop_support import (
    Lab, MeterSession, find_free_port_range, launch_lab, listening, receive_frame, stop_lab, twistd_env, REPO_ROOT,
)

READER = 32
PASSWORD = "ABCD0001"
PUSH_SETUP = "0.0.25.9.0.255"
PUSH_SCHEDULE = "0.0.15.0.4.255"
SERIAL = 3000001
SYSTEM_TITLE = "4D4D4D0000000A01"
EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"


def ini(base: int, directory: Path) -> str:
    return f"""\
[simulator]
console = tcp:0:interface=127.0.0.1
state_dir = {directory / "state"}
packet_log = {directory / "packets.jsonl"}
push_destinations = 127.0.0.0/8

[meters:plain]
port = {base}
model = dlms-generic
serial = {SERIAL}
system_title = {SYSTEM_TITLE}
load_profile_days = 1

[meters:ciphered]
port = {base + 1}
model = dlms-generic
load_profile_days = 1
push_association = utility

[association:public]
client_sap = 16

[association:reader]
client_sap = {READER}
authentication = lls
lls_password = {PASSWORD}
access = full

[association:utility]
client_sap = 48
authentication = hls-gmac
context = ln-ciphered
security = authenticated-encryption
access = full
authentication_key = {AK}
block_cipher_key = {EK}
"""


@pytest.fixture(scope="module")
def push_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, int]]:
    """The lab's two meters, and two free ports for receivers."""
    directory = tmp_path_factory.mktemp("push")
    base = find_free_port_range(4)
    running = launch_lab(directory, ini(base, directory), (base, base + 1))
    try:
        yield running, base + 2
    finally:
        stop_lab(running)


def push_setup(session: MeterSession) -> GXDLMSPushSetup:
    push = GXDLMSPushSetup(PUSH_SETUP)
    session.read(push, 3)
    return push


def aim(session: MeterSession, push: GXDLMSPushSetup, port: int) -> None:
    push.destination = f"127.0.0.1:{port}"
    session.exchange(session.client.write(push, 3), GXReplyData())


def invoke_push(session: MeterSession, push: GXDLMSPushSetup) -> None:
    session.exchange(session.client.method(push, 1, 0, GuruxDataType.INT8), GXReplyData())


def test_push_method_delivers_a_data_notification_within_2_s(push_lab: tuple[Lab, int]) -> None:
    """ACTION Push setup method 1: the Data-Notification reaches the receiver within 2 s; our
    decoder and gurux-dlms's GXDLMSNotify read the same body: the push setup's logical name,
    the serial number and the clock."""
    lab, port = push_lab
    with listening(port) as server, MeterSession(lab.ports[0], READER, PASSWORD) as session:
        push = push_setup(session)
        aim(session, push, port)
        started = time.monotonic()
        invoke_push(session, push)
        frame, arrived = receive_frame(server, 5.0)
    assert arrived - started < 2.0
    wpdu = decode_wpdu(frame)
    assert (wpdu.source_wport, wpdu.destination_wport) == (1, 0x66)
    notification = decode_data_notification(wpdu.apdu)
    kind, (logical_name, serial, clock) = notification.body
    assert kind == DataType.STRUCTURE
    assert logical_name == (DataType.OCTET_STRING, parse_obis(PUSH_SETUP))
    assert serial[1] in (SERIAL, str(SERIAL).encode())
    sent_at = CosemDateTime.from_bytes(clock[1]).to_datetime()
    assert abs(sent_at.timestamp() - time.time()) < 10
    assert abs(CosemDateTime.from_bytes(notification.date_time).to_datetime().timestamp() - time.time()) < 10

    notify = GXDLMSNotify(True, 1, 0x66, InterfaceType.WRAPPER)
    reply = GXReplyData()
    assert notify.getData(GXByteBuffer(frame), reply)
    values = list(reply.value)
    assert bytes(values[0]) == parse_obis(PUSH_SETUP)
    assert reply.time is not None


def test_a_push_over_udp_is_one_datagram(push_lab: tuple[Lab, int]) -> None:
    """Transport service UDP: the Data-Notification arrives as one wrapper frame in one datagram."""
    lab, port = push_lab
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            MeterSession(lab.ports[0], READER, PASSWORD) as session:
        receiver.bind(("127.0.0.1", port))
        receiver.settimeout(5)
        push = push_setup(session)
        push.service = ServiceType.UDP
        aim(session, push, port)
        invoke_push(session, push)
        datagram, _ = receiver.recvfrom(65535)
        push.service = ServiceType.TCP
        session.exchange(session.client.write(push, 3), GXReplyData())
    notification = decode_data_notification(decode_wpdu(datagram).apdu)
    assert notification.body[1][0] == (DataType.OCTET_STRING, parse_obis(PUSH_SETUP))


def test_a_destination_outside_push_destinations_is_refused(push_lab: tuple[Lab, int]) -> None:
    """SET of send_destination_and_method to 192.0.2.10 (outside 127.0.0.0/8): read-write-denied."""
    lab, _ = push_lab
    with MeterSession(lab.ports[0], READER, PASSWORD) as session:
        push = push_setup(session)
        push.destination = "192.0.2.10:4059"
        with pytest.raises(GXDLMSException) as refused:
            session.exchange(session.client.write(push, 3), GXReplyData())
        assert refused.value.errorCode == 3, session.trace_text()


def test_a_scheduled_push_arrives_at_its_time(push_lab: tuple[Lab, int]) -> None:
    """The push action schedule (0.0.15.0.4.255) set to a few seconds from now runs the push
    script: the Data-Notification arrives at that second (the meter's time is UTC)."""
    lab, port = push_lab
    with listening(port) as server:
        with MeterSession(lab.ports[0], READER, PASSWORD) as session:
            aim(session, push_setup(session), port)
            schedule = GXDLMSActionSchedule(PUSH_SCHEDULE)
            session.read(schedule, 2)
            session.read(schedule, 3)
            at = datetime.datetime.now(datetime.UTC).replace(microsecond=0, tzinfo=None) + datetime.timedelta(seconds=4)
            schedule.executionTime = [GXDateTime(at)]
            session.exchange(session.client.write(schedule, 4), GXReplyData())
        frame, _ = receive_frame(server, 15.0)
        received = time.time()
    notification = decode_data_notification(decode_wpdu(frame).apdu)
    sent = CosemDateTime.from_bytes(notification.date_time).to_datetime().timestamp()
    scheduled = at.replace(tzinfo=datetime.UTC).timestamp()
    assert scheduled <= sent < scheduled + 2
    assert received < scheduled + 3


def test_a_ciphered_push_is_deciphered_by_dlmstw_client_listen(push_lab: tuple[Lab, int]) -> None:
    """With push_association = utility (authenticated encryption, global key) the push travels in
    general-glo-ciphering; ``dlmstw-client listen PORT --key EK --auth-key AK`` deciphers it."""
    lab, port = push_lab
    listener = subprocess.Popen(
        [sys.executable, "-m", "dlmstw.client.cli", "listen", str(port + 1), "--key", EK, "--auth-key", AK,
         "--count", "1", "--timeout", "20", "--json"],
        cwd=REPO_ROOT, env=twistd_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port + 1), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        with MeterSession(lab.ports[1], READER, PASSWORD) as session:
            push = push_setup(session)
            aim(session, push, port + 1)
            invoke_push(session, push)
        out, err = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert listener.returncode == 0, err.decode()
    pushes = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    received = pushes[-1]
    assert received["system_title"] == "4D4D4D0000000A02"
    assert isinstance(received["invocation_counter"], int)
    assert received["destination_wport"] == 48
    assert received["body"][0] == "0000190900ff"
    assert received["body"][1] in (SERIAL + 1, str(SERIAL + 1))

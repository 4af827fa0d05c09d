"""Meters on UDP (issue 14, item 3: ``transport = udp-wrapper``, the IEC 62056-47
wrapper over UDP): read by ``dlmstw-client read udp:HOST:PORT`` and by this
test's own datagrams (built and parsed by the unmodified gurux-dlms client);
the packet log records the peer's ip:port and the transport.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.objects import GXDLMSData

from interop_support import REPO_ROOT, Lab, find_free_port_range, launch_lab, make_client, stop_lab, twistd_env

SERIAL = 5000001


def ini(base: int, directory: Path) -> str:
    return f"""\
[simulator]
console = tcp:0:interface=127.0.0.1
state_dir = {directory / "state"}
packet_log = {directory / "packets.jsonl"}

[meters:tcp]
port = {base}
load_profile_days = 1

[meters:udp]
transport = udp-wrapper
port = {base + 1}
serial = {SERIAL}
load_profile_days = 1
max_clients = 3
inactivity_timeout = 30

[association:public]
client_sap = 16

[association:reader]
client_sap = 32
authentication = lls
lls_password = ABCD0001
"""


@pytest.fixture(scope="module")
def udp_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("udp")
    base = find_free_port_range(2)
    running = launch_lab(directory, ini(base, directory), (base,))
    try:
        yield running
    finally:
        stop_lab(running)


def client_read(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlmstw.client.cli", "read", *argv], cwd=REPO_ROOT,
                          env=twistd_env(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("how", ["prefix", "option"])
def test_dlmstw_client_reads_a_udp_meter(udp_lab: Lab, how: str) -> None:
    """``dlmstw-client read udp:127.0.0.1:PORT`` (or ``--transport udp``) associates with LLS over
    UDP and reads the serial number."""
    port = udp_lab.ports[0] + 1
    meter = f"udp:127.0.0.1:{port}" if how == "prefix" else f"127.0.0.1:{port}"
    extra = ["--transport", "udp"] if how == "option" else []
    done = client_read(meter, *extra, "--client", "32", "--auth", "lls", "--password", "ABCD0001",
                       "1/0.0.96.1.0.255:2", "--json")
    assert done.returncode == 0, done.stderr
    readings = json.loads(done.stdout)["readings"]
    assert readings[0]["value"] == str(SERIAL)


def test_plain_tcp_read_of_a_udp_meter_is_refused(udp_lab: Lab) -> None:
    """The UDP meter's port does not accept TCP: the read fails with exit status 3."""
    done = client_read(f"127.0.0.1:{udp_lab.ports[0] + 1}", "1/0.0.96.1.0.255:2", "--timeout", "3")
    assert done.returncode == 3
    assert "connect-refused" in done.stderr or "refused" in done.stderr


def exchange(sock: socket.socket, frame: bytes) -> bytes:
    sock.send(frame)
    return sock.recv(65535)


def test_wrapper_datagrams_sent_by_hand_get_answers(udp_lab: Lab) -> None:
    """Each datagram is one WPDU: AARQ -> AARE, GET -> GET response, RLRQ -> RLRE, as gurux-dlms
    builds and parses them; a datagram that is not a WPDU gets no answer, and the peer's next
    association still works. The packet log names the peer and the transport."""
    port = udp_lab.ports[0] + 1
    client = make_client(16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        peer = "127.0.0.1:%d" % sock.getsockname()[1]
        sock.send(b"\x00\x01\x00\x10\x00\x01\x00\x05\xc0")
        aare = exchange(sock, client.aarqRequest()[0])
        reply = GXReplyData()
        assert client.getData(GXByteBuffer(aare), reply, None)
        client.parseAareResponse(reply.data)
        serial = GXDLMSData("0.0.96.1.0.255")
        reply = GXReplyData()
        assert client.getData(GXByteBuffer(exchange(sock, client.read(serial, 2)[0])), reply, None)
        assert bytes(reply.value).decode() == str(SERIAL)
        rlre = exchange(sock, client.releaseRequest()[0])
        assert rlre[8] == 0x63
    records: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(r["kind"] == "get-request-normal" for r in records):
        time.sleep(0.3)
        log = udp_lab.directory / "packets.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        records = [r for r in records if r["peer"] == peer]
    kinds = [(r["kind"], r["result"], r["transport"]) for r in records]
    assert ("malformed", "malformed", "udp") in kinds
    assert ("aarq", "success", "udp") in kinds
    assert ("get-request-normal", "success", "udp") in kinds

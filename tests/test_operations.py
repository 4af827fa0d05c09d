"""Operating the lab (the process model): Ctrl-C and SIGTERM stop a busy lab
in order and quickly, with status 0, no traceback and every record that was
not counted as dropped in the packet log; a worker killed during ciphered
reads comes back with its meters, never reusing an invocation counter it sent
nor accepting a client counter it had accepted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gurux_dlms import GXDLMSException, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock
from gurux_dlms.secure import GXDLMSSecureClient

from interop_support import Lab, MeterSession, find_free_port_range, launch_lab, stop_lab
from test_console import Console

AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EK = "000102030405060708090A0B0C0D0E0F"
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
METERS = 4
#: Seconds a stop may take (the issue's bound).
STOP_SECONDS = 5.0
STOPPED = re.compile(r"lab stopped: (\d+) exchanges captured, (\d+) dropped before the log; "
                     r"packet log: (\d+) written, (\d+) dropped")


def lab_ini(directory: Path, port: int, console_port: int, workers: int) -> str:
    return (f"[simulator]\nconsole = tcp:{console_port}:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = {directory / 'log' / 'packets.jsonl'}\nworkers = {workers}\n\n"
            f"[meters:abt]\ncount = {METERS}\nport = {port}\nload_profile_days = 1\nmax_clients = 20\n\n"
            "[association:public]\nclient_sap = 16\n\n"
            f"[association:utility]\nclient_sap = 48\nauthentication = hls-gmac\ncontext = ln-ciphered\n"
            f"security = authenticated-encryption\naccess = full\nauthentication_key = {AK}\n"
            f"block_cipher_key = {EK}\n")


def start(directory: Path, workers: int) -> tuple[Lab, Console]:
    directory.mkdir(parents=True, exist_ok=True)
    port, console_port = find_free_port_range(METERS), find_free_port_range(1)
    lab = launch_lab(directory, lab_ini(directory, port, console_port, workers),
                     tuple(range(port, port + METERS)) + (console_port,))
    return lab, Console(lab, console_port)


def campaign(lab: Lab, *how: str) -> subprocess.Popen[bytes]:
    first = lab.ports[0]
    return subprocess.Popen([sys.executable, "-m", "dlmstw.client.cli", "campaign",
                             f"127.0.0.1:{first}-{first + METERS - 1}", "0.0.1.0.0.255:2", "0.0.96.1.0.255:2",
                             "--clients", "3", *how], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def interrupt(lab: Lab) -> float:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group. Seconds until twistd ended."""
    began = time.monotonic()
    os.killpg(lab.process.pid, signal.SIGINT)
    lab.process.wait(timeout=30)
    return time.monotonic() - began


def logged_records(directory: Path) -> int:
    return sum(len(path.read_bytes().splitlines()) for path in (directory / "log").glob("packets.jsonl*"))


def check_stopped(lab: Lab, seconds: float) -> None:
    text = lab.log_text(limit=10_000_000)
    assert lab.process.returncode == 0, text[-3000:]
    assert seconds < STOP_SECONDS, text[-3000:]
    assert "Traceback" not in text, text
    found = STOPPED.findall(text)
    assert found, text[-3000:]
    captured, capture_dropped, written, log_dropped = map(int, found[-1])
    assert captured > 100
    assert logged_records(lab.directory) == written == captured - capture_dropped - log_dropped


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_during_and_right_after_a_campaign(tmp_path: Path, workers: int) -> None:
    lab, console = start(tmp_path / "during", workers)
    try:
        running = campaign(lab, "--duration", "30")
        deadline = time.monotonic() + 20
        while console.json("/api/meters")[0]["counters"].get("success", 0) < 50:
            assert time.monotonic() < deadline and running.poll() is None, lab.log_text()
            time.sleep(0.2)
        metrics = console.get("/metrics")[2].decode()
        assert "dlmstw_capture_published_total" in metrics and 'outcome="written"' in metrics
        check_stopped(lab, interrupt(lab))
        running.kill()
        running.wait()
    finally:
        stop_lab(lab)

    lab, console = start(tmp_path / "after", workers)
    try:
        finished = campaign(lab, "--count", "20")
        assert finished.wait(timeout=60) == 0
        check_stopped(lab, interrupt(lab))
    finally:
        stop_lab(lab)


def test_sigterm_stops_the_lab_the_same_way(tmp_path: Path) -> None:
    lab, _ = start(tmp_path, 1)
    try:
        assert campaign(lab, "--count", "20").wait(timeout=60) == 0
        began = time.monotonic()
        lab.process.send_signal(signal.SIGTERM)
        lab.process.wait(timeout=30)
        check_stopped(lab, time.monotonic() - began)
    finally:
        stop_lab(lab)


class CipheredReader:
    """Reads the clock of one meter again and again over HLS-GMAC with
    authenticated encryption (gurux-dlms), one client whose invocation
    counter only grows; keeps the meter's invocation counters."""

    def __init__(self, port: int, client_sap: int = 48, keys: tuple[str, str] = (EK, AK)) -> None:
        self.port = port
        self.client = GXDLMSSecureClient(True, client_sap, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
        self.client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
        self.client.ciphering.systemTitle = CLIENT_TITLE
        self.client.ciphering.blockCipherKey = bytes.fromhex(keys[0])
        self.client.ciphering.authenticationKey = bytes.fromhex(keys[1])
        self.client.ciphering.invocationCounter = 1
        self.meter_counters: list[int] = []
        #: The last client counter the meter answered.
        self.last_answered = 0
        self.reads = 0
        self.errors = 0

    def in_background(self, stop: threading.Event, retry: bool) -> threading.Thread:
        """Read until ``stop`` is set, in a thread; after a failure, again (``retry``) or no more."""
        def keep_reading() -> None:
            while not stop.is_set():
                try:
                    self.read_once()
                except (OSError, GXDLMSException, ValueError):
                    self.errors += 1
                    if not retry:
                        return
                    time.sleep(0.05)

        thread = threading.Thread(target=keep_reading)
        thread.start()
        return thread

    def read_once(self) -> None:
        session = MeterSession(self.port, self.client.clientAddress, timeout=2.0, trace_length=64)
        session.client = self.client
        try:
            session.associate()
            reply = session.exchange(self.client.getApplicationAssociationRequest(), GXReplyData())
            self.client.parseApplicationAssociationResponse(reply.data)
            session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
            self.last_answered = self.client.ciphering.invocationCounter - 1
            session.release()
            self.reads += 1
        finally:
            session.close()
            for direction, frame in session.trace:
                apdu = frame[8:]
                # glo-action-response and glo-get-response: tag, length, security control, invocation counter.
                if direction == "S->C" and apdu[0] in (0xCC, 0xCF) and apdu[1] < 0x80:
                    self.meter_counters.append(int.from_bytes(apdu[3:7], "big"))


def test_a_killed_worker_comes_back_without_reusing_counters(tmp_path: Path) -> None:
    lab, console = start(tmp_path, 2)
    try:
        reader = CipheredReader(lab.ports[0])  # meter abt-0: worker 0
        for _ in range(10):
            reader.read_once()
        before = list(reader.meter_counters)
        answered = reader.last_answered
        worker = console.json("/api/meters")[0]["worker"]
        assert worker["index"] == 0 and worker["restarts"] == 0
        # Reads go on in another thread while the worker is killed.
        stop = threading.Event()
        thread = reader.in_background(stop, retry=True)
        time.sleep(0.5)
        os.kill(worker["pid"], signal.SIGKILL)
        killed_at, reads_at_kill = time.monotonic(), reader.reads
        while reader.reads < reads_at_kill + 5:
            assert time.monotonic() - killed_at < 15, lab.log_text()
            time.sleep(0.1)
        stop.set()
        thread.join(timeout=10)
        assert reader.errors >= 1  # the kill was seen
        counters = reader.meter_counters
        assert len(counters) == len(set(counters)), "the meter sent an invocation counter twice"
        assert counters[:len(before)] == before and min(counters[len(before):]) > max(before)

        meters = console.json("/api/meters")
        assert meters[0]["worker"]["restarts"] == 1 and meters[0]["worker"]["state"] == "running"
        assert meters[0]["worker"]["pid"] != worker["pid"]
        assert meters[1]["worker"]["restarts"] == 0
        assert "dlmstw_worker_restarts_total 1" in console.get("/metrics")[2].decode()
        # the console page shows the page of /api/meters it reads
        assert console.json("/api/meters?limit=1")["meters"][0]["worker"]["restarts"] == 1

        # The last client counter the meter answered before and after the kill is refused again.
        for counter in (answered, reader.last_answered):
            replay = CipheredReader(lab.ports[0])
            replay.client.ciphering.invocationCounter = counter
            with pytest.raises(GXDLMSException):
                replay.read_once()
        reader.read_once()
    finally:
        stop_lab(lab)
    assert "Traceback" not in lab.log_text(limit=10_000_000)


def metric(console: Console, name: str) -> int:
    for line in console.get("/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[-1])
    raise LookupError(name)


def writer_pid(lab: Lab) -> int:
    """The packet-log writer child of this lab (its command line names the lab's log)."""
    found = subprocess.run(["pgrep", "-f", f"dlmstw.server.log_writer {lab.directory / 'log'}"],
                           capture_output=True, text=True).stdout.split()
    assert len(found) == 1, found
    return int(found[0])


def test_a_killed_packet_log_writer_is_started_again(tmp_path: Path) -> None:
    lab, console = start(tmp_path, 1)
    try:
        assert campaign(lab, "--count", "5").wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while metric(console, "dlmstw_capture_published_total") != metric(
                console, 'dlmstw_packet_log_records_total{outcome="written"}'):
            assert time.monotonic() < deadline, lab.log_text()
            time.sleep(0.1)
        first = writer_pid(lab)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while "dlmstw_packet_log_restarts_total 1" not in console.get("/metrics")[2].decode():
            assert time.monotonic() < deadline, lab.log_text()
            time.sleep(0.1)
        assert writer_pid(lab) != first
        logged = logged_records(tmp_path)
        assert campaign(lab, "--count", "5").wait(timeout=60) == 0
        check_stopped(lab, interrupt(lab))
        assert logged_records(tmp_path) > logged
    finally:
        stop_lab(lab)


def request(console: Console, method: str, path: str, body: bytes | None = None) -> int:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(urllib.request.Request(console.base + path, data=body, method=method),
                                    timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_http_input_gets_an_answer_and_never_a_traceback(tmp_path: Path, workers: int) -> None:
    lab, console = start(tmp_path, workers)
    try:
        bodies = [b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"state": 5}', b'{"state": "sideways"}',
                  b'{"load_profile_interval": "15"}', b'{"load_profile_interval": 7}', b'{"load_profile_days": true}',
                  b'{"faults": ["drop"]}', b'{"faults": "drop:2"}', b'{"faults": "offline:10%"}',
                  b'{"anomalies": "negative:x"}', b'{"associations": []}', b'{"associations": {"nope": {}}}',
                  b'{"associations": {"utility": {"block_cipher_key": "zz"}}}',
                  b'{"associations": {"utility": {"block_cipher_key": "00"}}}',
                  b'{"associations": {"utility": {"unknown_key": "00"}}}', b'{"associations": {"utility": 3}}',
                  b'{"whatever": 1}', b'{"load_profile_days": 1e999}', b"[" * 10_000 + b"]" * 10_000,
                  b'{"a": "' + b"x" * 200_000 + b'"}']
        for body in bodies:
            assert request(console, "PATCH", "/api/meters/abt-0", body) == 400, body[:60]
        assert request(console, "PATCH", "/api/meters/no-such-meter", b"{}") == 404
        for path in ["/api/meters/%00", "/api/packets?limit=x", "/api/packets?limit=-1", "/api/packets.pcap?limit=1e9",
                     "/api/packets.json?meter=%ff", "/api/packets?peer=" + "x" * 5000, "/nothing", "/api/meters/abt-0/x"]:
            assert request(console, "GET", path) in (200, 400, 404), path
        # The port of a meter taken offline is taken by another program: bringing it online says so.
        assert request(console, "PATCH", "/api/meters/abt-1", b'{"state": "offline"}') == 200
        import socket
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", lab.ports[1]))
            squatter.listen()
            assert request(console, "PATCH", "/api/meters/abt-1", b'{"state": "online"}') == 400
        assert request(console, "PATCH", "/api/meters/abt-1", b'{"state": "online"}') == 200
        assert console.json("/api/meters")[1]["state"] == "online"
        with MeterSession(lab.ports[1], 16) as session:
            session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
    finally:
        stop_lab(lab)
    assert "Traceback" not in lab.log_text(limit=10_000_000)

"""Interoperability harness: real TCP between dlmssim meters and the unmodified gurux-dlms client.

gurux-dlms (GPLv2) is a test-only dependency and the independent judge: nothing here is copied
from it, it is only called. Three pieces:

* ``start_lab`` / the session fixture ``lab``: writes a lab.ini (DESIGN.md "lab.ini (contract)")
  with free loopback ports into a temporary folder and runs ``twistd -n dlmssim -c lab.ini``
  there, as a user does, until every meter port accepts a connection.
* ``MeterSession``: one TCP connection with the IEC 62056-47 wrapper (Green Book 8.4: version 1,
  source wPort, destination wPort, length; the meter's wPort is 1, the client's is its SAP),
  driving one ``GXDLMSClient``. It keeps the last frames of both directions so that a failure
  names the exact request and response bytes (``trace_text``; attached to any exception as a note).
* ``FakeMeter``: a scripted loopback peer answering from public vectors, to check the harness
  itself without a meter.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms import GXByteBuffer, GXDateTime, GXDLMSClient, GXDLMSException, GXReplyData
from gurux_dlms.enums import Authentication, DataType as GuruxDataType, InterfaceType
from gurux_dlms.objects import GXDLMSClock, GXDLMSObject, GXDLMSObjectCollection, GXDLMSProfileGeneric

import independent_dlms as dlms

REPO_ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).resolve().parent / "vectors"

WRAPPER_VERSION = 1
WRAPPER_HEADER = struct.Struct(">HHHH")
METER_WPORT = 1
PUBLIC_CLIENT = 16
READER_CLIENT = 32
READER_PASSWORD = "ABCD0001"

METER_COUNT = 5
FIRST_SERIAL = 1000001
MAX_CLIENTS = 12
LOAD_PROFILE_INTERVAL_MINUTES = 5
LOAD_PROFILE_DAYS = 35
SOCKET_TIMEOUT = 10.0
START_TIMEOUT = 20.0

ASSOCIATION_LN = "0.0.40.0.0.255"
CLOCK = "0.0.1.0.0.255"
SERIAL_NUMBER = "0.0.96.1.0.255"
INSTANTANEOUS_PROFILE = "1.0.94.91.0.255"
INSTANTANEOUS_SCALER_PROFILE = "1.0.94.91.3.255"
BLOCK_LOAD_PROFILE = "1.0.99.1.0.255"
DAILY_LOAD_PROFILE = "1.0.99.2.0.255"


# --------------------------------------------------------------------------- the lab process


def lab_ini_text(base_port: int, directory: Path) -> str:
    """The test lab, in the keys of DESIGN.md "lab.ini (contract)"."""
    return f"""\
[simulator]
console = tcp:0:interface=127.0.0.1
state_dir = {directory / "var" / "state"}
packet_log = {directory / "var" / "log" / "packets.jsonl"}

[meters:abt]
count = {METER_COUNT}
interface = 127.0.0.1
port = {base_port}
model = is15959-abt
serial = {FIRST_SERIAL}
system_title = 4D4D4D0000BC614E
max_clients = {MAX_CLIENTS}
inactivity_timeout = 120
load_profile_interval = {LOAD_PROFILE_INTERVAL_MINUTES}
load_profile_days = {LOAD_PROFILE_DAYS}
seed = 42

[association:public]
client_sap = {PUBLIC_CLIENT}
authentication = none
context = ln
security = none
access = read

[association:reader]
client_sap = {READER_CLIENT}
authentication = lls
lls_password = {READER_PASSWORD}
context = ln
security = none
access = read-write
"""


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_first() -> int:
    """The first port of the kernel's ephemeral range (Linux; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


EPHEMERAL_FIRST = _ephemeral_first()


def find_free_port_range(count: int, attempts: int = 50) -> int:
    """A random first port such that ``count`` consecutive loopback ports are free,
    below the kernel's ephemeral range (the clients' own ports come from there,
    and one of them could take a meter's port between this check and the lab's start)."""
    for _ in range(attempts):
        base = random.randint(10000, EPHEMERAL_FIRST - count)
        if all(_port_is_free(base + offset) for offset in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free loopback ports found in {attempts} tries")


def _accepts_connection(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Lab:
    """A running ``twistd -n dlmssim`` and where its meters listen."""

    directory: Path
    ini_path: Path
    log_path: Path
    ports: tuple[int, ...]
    process: subprocess.Popen[bytes]

    def serial(self, meter: int) -> str:
        """Meter ``meter``'s serial number: the configured first serial plus its index."""
        return str(FIRST_SERIAL + meter)

    def log_text(self, limit: int = 20000) -> str:
        """The tail of the twistd log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no twistd log: {error})"
        return text[-limit:]


def twistd_command(ini_path: Path, python: str = sys.executable) -> list[str]:
    """``twistd -n dlmssim -c LAB.ini`` with this interpreter (or ``python``).

    ``python -m twisted`` is the ``twist`` runner, which has no ``-n``; ``twistd`` is
    ``twisted.scripts.twistd.run``.
    """
    return [
        python,
        "-c",
        "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
        "-n",
        "--pidfile=",
        "dlmssim",
        "-c",
        str(ini_path),
    ]


def twistd_env() -> dict[str, str]:
    """This process's environment with the repository first on PYTHONPATH, for a twistd subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def start_lab(directory: Path) -> Lab:
    """Write lab.ini into ``directory``, start the simulator there, wait for every meter port."""
    base_port = find_free_port_range(METER_COUNT)
    return launch_lab(directory, lab_ini_text(base_port, directory), tuple(range(base_port, base_port + METER_COUNT)))


def launch_lab(directory: Path, ini_text: str, ports: tuple[int, ...], python: str = sys.executable,
               env: dict[str, str] | None = None, command: list[str] | None = None) -> Lab:
    """Start ``twistd -n dlmssim`` on ``ini_text`` in ``directory``, by default with this
    interpreter and the checkout first on PYTHONPATH (or ``command``, e.g. with
    options after ``-c``); wait until ``ports`` accept."""
    ini_path = directory / "lab.ini"
    ini_path.write_text(ini_text)
    log_path = directory / "twistd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            twistd_command(ini_path, python) if command is None else command,
            cwd=directory,
            env=twistd_env() if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, as a terminal gives it: a test may signal the whole group.
            start_new_session=True,
        )
    lab = Lab(directory, ini_path, log_path, ports, process)
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(lab.ports)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(
                f"twistd exited with {process.returncode} before ports {waiting} opened\n"
                f"--- {ini_path}\n{ini_path.read_text()}--- twistd log\n{lab.log_text()}"
            )
        if time.monotonic() > deadline:
            stop_lab(lab)
            raise RuntimeError(
                f"meter ports {waiting} not accepting after {START_TIMEOUT} s\n"
                f"--- {ini_path}\n{ini_path.read_text()}--- twistd log\n{lab.log_text()}"
            )
        waiting = [port for port in waiting if not _accepts_connection(port)]
        if waiting:
            time.sleep(0.2)
    return lab


#: The associations of the labs that drive a meter's life (firmware, tariffs, load): the public
#: client and an LLS reader with full access (methods need it).
FULL_ACCESS_ASSOCIATIONS = f"""\
[association:public]
client_sap = {PUBLIC_CLIENT}

[association:reader]
client_sap = {READER_CLIENT}
authentication = lls
lls_password = {READER_PASSWORD}
access = full
"""


def simple_lab(tmp_path_factory: pytest.TempPathFactory, name: str, groups: Callable[[int], str],
               count: int) -> Iterator[Lab]:
    """A module fixture's lab: ``groups(first port)`` gives the ``[meters:...]`` sections of
    ``count`` meters on consecutive ports, with FULL_ACCESS_ASSOCIATIONS, no packet log."""
    directory = tmp_path_factory.mktemp(name)
    base = find_free_port_range(count)
    text = (f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = -\n\n{groups(base)}\n{FULL_ACCESS_ASSOCIATIONS}")
    running = launch_lab(directory, text, tuple(range(base, base + count)))
    try:
        yield running
    finally:
        stop_lab(running)


def receive_frame(server: socket.socket, timeout: float) -> tuple[bytes, float]:
    """The first wrapper frame a push connection carries, and when it arrived."""
    server.settimeout(timeout)
    connection, _ = server.accept()
    with connection:
        connection.settimeout(timeout)
        data = b""
        while len(data) < 8 or len(data) < 8 + int.from_bytes(data[6:8], "big"):
            chunk = connection.recv(4096)
            if not chunk:
                break
            data += chunk
    return data, time.monotonic()


def listening(port: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(4)
    return server


def set_clock(session: MeterSession, moment: datetime.datetime) -> None:
    """SET the meter's clock (Clock attribute 2): the test clock of the meter's life tests."""
    clock = GXDLMSClock("0.0.1.0.0.255")
    clock.time = GXDateTime(moment)
    session.exchange(session.client.write(clock, 2), GXReplyData())


def stop_lab(lab: Lab) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if lab.process.poll() is None:
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lab.process.kill()
            lab.process.wait(timeout=10)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One simulator for the whole test session (see ``start_lab``)."""
    try:
        running = start_lab(tmp_path_factory.mktemp("lab"))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield running
    finally:
        stop_lab(running)
    still_open = [port for port in running.ports if _accepts_connection(port)]
    if still_open:
        pytest.fail(f"meter ports {still_open} still accept connections after twistd stopped\n{running.log_text()}")


# --------------------------------------------------------------------------- the client side


def wrap(source_wport: int, destination_wport: int, apdu: bytes) -> bytes:
    """One WPDU (Green Book 8.4.2): version 1, source and destination wPorts, length, APDU."""
    return WRAPPER_HEADER.pack(WRAPPER_VERSION, source_wport, destination_wport, len(apdu)) + apdu


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes from ``sock``; ConnectionError if the peer closes first."""
    chunks = []
    missing = size
    while missing:
        chunk = sock.recv(missing)
        if not chunk:
            raise ConnectionError(f"peer closed the connection with {missing} of {size} bytes missing")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def receive_wpdu(sock: socket.socket) -> tuple[int, int, bytes]:
    """One WPDU: (source wPort, destination wPort, APDU). ValueError on a version other than 1."""
    header = receive_exactly(sock, WRAPPER_HEADER.size)
    version, source, destination, length = WRAPPER_HEADER.unpack(header)
    if version != WRAPPER_VERSION:
        raise ValueError(f"wrapper version {version} in header {header.hex().upper()}")
    return source, destination, receive_exactly(sock, length)


def make_client(client_sap: int, password: str | None = None, max_pdu: int | None = None) -> GXDLMSClient:
    """A gurux LN client over the wrapper; LLS when a password is given."""
    authentication = Authentication.LOW if password is not None else Authentication.NONE
    client = GXDLMSClient(True, client_sap, METER_WPORT, authentication, password, InterfaceType.WRAPPER)
    if max_pdu is not None:
        client.maxReceivePDUSize = max_pdu
    return client


def _frames(request: bytes | bytearray | Sequence[bytes | bytearray]) -> list[bytes]:
    if isinstance(request, (bytes, bytearray)):
        return [bytes(request)]
    return [bytes(frame) for frame in request]


def to_utc(value: GXDateTime | datetime.datetime, utc_offset: datetime.timedelta | None = None) -> datetime.datetime:
    """An aware UTC datetime from a COSEM date-time.

    With deviation "not specified" (0x8000, Green Book 9.5 date-time) gurux gives a naive value:
    ``utc_offset`` (local minus UTC) then says how to read it, else it is taken as UTC.
    """
    moment = value.value if isinstance(value, GXDateTime) else value
    if moment.tzinfo is None:
        return (moment - (utc_offset or datetime.timedelta(0))).replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


class MeterSession:
    """One TCP connection to one meter, driven by one ``GXDLMSClient``.

    Every frame sent and received is kept (the last ``trace_length``) for failure messages;
    ``apdu_sizes`` records the size of every received APDU, so tests can check the negotiated
    max PDU is honoured. Errors the meter reports are raised as gurux raises or reports them:
    ``GXDLMSException`` with ``errorCode`` a Data-Access-Result (Green Book 9.5), or with
    ``result``/``diagnostic`` for a rejected AARE.
    """

    def __init__(
        self,
        port: int,
        client_sap: int = PUBLIC_CLIENT,
        password: str | None = None,
        max_pdu: int | None = None,
        timeout: float = SOCKET_TIMEOUT,
        trace_length: int = 8,
    ) -> None:
        self.port = port
        self.client = make_client(client_sap, password, max_pdu)
        self.timeout = timeout
        self.trace: collections.deque[tuple[str, bytes]] = collections.deque(maxlen=trace_length)
        self.apdu_sizes: list[int] = []
        self.sock: socket.socket | None = None

    # transport

    def connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def trace_text(self) -> str:
        """The last frames, one a line, hex."""
        lines = [f"meter port {self.port}, client SAP {self.client.clientAddress}, last frames:"]
        lines += [f"  {direction} {frame.hex().upper()}" for direction, frame in self.trace]
        return "\n".join(lines)

    def transfer(self, frame: bytes) -> bytes:
        """Send one WPDU and receive one; checks the wrapper addressing; returns the received WPDU."""
        if self.sock is None:
            raise ConnectionError("not connected")
        self.trace.append(("C->S", frame))
        self.sock.sendall(frame)
        source, destination, apdu = receive_wpdu(self.sock)
        received = wrap(source, destination, apdu)
        self.trace.append(("S->C", received))
        self.apdu_sizes.append(len(apdu))
        if (source, destination) != (METER_WPORT, self.client.clientAddress):
            raise ValueError(
                f"WPDU from wPort {source} to wPort {destination}; expected {METER_WPORT} -> "
                f"{self.client.clientAddress}"
            )
        check_protection(frame[WRAPPER_HEADER.size:], apdu, self.expected_security_control())
        return received

    def expected_security_control(self) -> int | None:
        """The security control byte every APDU of this client's association
        carries (gurux's security policy and suite), None when plain."""
        ciphering = getattr(self.client, "ciphering", None)
        if ciphering is None or not ciphering.security:
            return None
        return int(ciphering.security) | int(ciphering.securitySuite)

    @property
    def last_response_apdu(self) -> bytes:
        """The APDU of the last frame received."""
        for direction, frame in reversed(self.trace):
            if direction == "S->C":
                return frame[WRAPPER_HEADER.size :]
        raise LookupError("nothing received yet")

    @contextlib.contextmanager
    def _noted(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            error.add_note(self.trace_text())
            raise

    def exchange(self, request: bytes | bytearray | Sequence[bytes | bytearray], reply: GXReplyData) -> GXReplyData:
        """Send the frames of one request and feed every answer to gurux, following blocks.

        GET-Response-With-Datablock (Green Book 9.4.6.4) is followed with ``receiverReady`` until
        gurux says no more data; a Data-Access-Result other than success becomes GXDLMSException.
        """
        with self._noted():
            frames = _frames(request)
            while frames:
                for frame in frames:
                    received = self.transfer(frame)
                    if not self.client.getData(GXByteBuffer(received), reply, None):
                        raise ValueError("gurux found the WPDU incomplete although its length was read")
                frames = _frames(self.client.receiverReady(reply)) if reply.isMoreData() else []
            if reply.error:
                raise GXDLMSException(reply.error)
        return reply

    # association

    def associate(self) -> None:
        """Connect (if needed), AARQ -> AARE (Green Book 9.3.2); raises GXDLMSException on rejection."""
        if self.sock is None:
            self.connect()
        reply = self.exchange(self.client.aarqRequest(), GXReplyData())
        with self._noted():
            self.client.parseAareResponse(reply.data)

    def authenticate(self) -> None:
        """HLS passes 3 and 4 (Green Book 9.2.7.4): reply_to_HLS_authentication with
        f(StoC); gurux checks the meter's f(CtoS)."""
        reply = self.exchange(self.client.getApplicationAssociationRequest(), GXReplyData())
        with self._noted():
            self.client.parseApplicationAssociationResponse(reply.data)

    def release(self) -> GXReplyData:
        """RLRQ -> RLRE (Green Book 9.3.3)."""
        return self.exchange(self.client.releaseRequest(), GXReplyData())

    def __enter__(self) -> MeterSession:
        self.associate()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self.release()
        finally:
            self.close()

    # services

    def read_raw(self, obj: GXDLMSObject, attribute: int) -> Any:
        """GET one attribute; the value as gurux decodes the Data, without updating ``obj``."""
        return self.exchange(self.client.read(obj, attribute), GXReplyData()).value

    def read(self, obj: GXDLMSObject, attribute: int) -> Any:
        """GET one attribute and store it into ``obj`` (gurux ``updateValue``); returns the stored value."""
        reply = self.exchange(self.client.read(obj, attribute), GXReplyData())
        if obj.getDataType(attribute) == GuruxDataType.NONE:
            obj.setDataType(attribute, reply.valueType)
        with self._noted():
            return self.client.updateValue(obj, attribute, reply.value)

    def read_list(self, items: Sequence[tuple[GXDLMSObject, int]]) -> list[Any]:
        """GET-Request-With-List (Green Book 9.4.6.2) through gurux ``readList``; raw values in order."""
        values: list[Any] = []
        for request in self.client.readList(list(items)):
            values.extend(self.exchange(request, GXReplyData()).value)
        return values

    def read_object_list(self) -> tuple[list[Any], GXDLMSObjectCollection]:
        """Association LN attribute 2, object_list (Blue Book 4.4.4): the raw entries
        ([class_id, version, logical_name, [attribute access, method access]]) and gurux's parse."""
        reply = self.exchange(self.client.getObjectsRequest(), GXReplyData())
        with self._noted():
            reply.data.position = 0
            return list(reply.value), self.client.parseObjects(reply.data, True)

    def read_objects(self) -> GXDLMSObjectCollection:
        """object_list parsed by gurux (which then resolves capture objects to these instances)."""
        return self.read_object_list()[1]

    def read_rows_by_entry(self, profile: GXDLMSProfileGeneric, index: int, count: int) -> list[list[Any]]:
        """Profile buffer with entry_descriptor selective access (Blue Book 4.3.6, selector 2)."""
        reply = self.exchange(self.client.readRowsByEntry(profile, index, count), GXReplyData())
        with self._noted():
            self.client.updateValue(profile, 2, reply.value)
        return list(profile.buffer)

    def read_rows_by_range(
        self, profile: GXDLMSProfileGeneric, start: datetime.datetime, end: datetime.datetime
    ) -> list[list[Any]]:
        """Profile buffer with range_descriptor selective access (Blue Book 4.3.6, selector 1)."""
        reply = self.exchange(self.client.readRowsByRange(profile, start, end), GXReplyData())
        with self._noted():
            self.client.updateValue(profile, 2, reply.value)
        return list(profile.buffer)


# --------------------------------------------------------------------------- what crossed the wire


def check_protection(request: bytes, answer: bytes, security_control: int | None) -> None:
    """The APDUs of one exchange are protected as the association says (Green
    Book 9.2.7.2, read with tests/independent_dlms.py, not the meter's codec):
    with ``security_control`` every request and its answer carry a ciphered
    tag of the same key and that security control byte (the AARQ's and AARE's
    InitiateRequest/Response glo-ciphered); an EXCEPTION-Response, a rejected
    AARE's ConfirmedServiceError and the RLRQ/RLRE go plain. Without it nothing
    is ciphered. AssertionError names the APDU otherwise: a downgrade, or an
    upgrade, on either side."""
    if request[:1] in (b"\x62", b"\x63") or not request:
        return
    tag, sc = dlms.protection_of(request)
    answer_tag, answer_sc = dlms.protection_of(answer) if answer else (None, None)
    if security_control is None:
        assert sc is None and answer_sc is None, f"ciphered APDU in a plain association: {request.hex()} / {answer.hex()}"
        return
    assert sc == security_control, f"request {request.hex()} protected {sc}, not {security_control:#04x}"
    rejected = answer[:1] == b"\x61" and dlms.parse_aare(answer).result != 0
    if answer_tag == dlms.EXCEPTION_RESPONSE or (rejected and answer_sc is None):
        return
    assert answer_sc == security_control, f"answer {answer.hex()} protected {answer_sc}, not {security_control:#04x}"
    if tag in dlms.UNCIPHERED:
        dedicated = dlms.CIPHERED[dlms.UNCIPHERED[tag]][1] == tag
        assert (answer_tag in dlms.UNCIPHERED
                and (dlms.CIPHERED[dlms.UNCIPHERED[answer_tag]][1] == answer_tag) == dedicated), (
            f"answer {answer.hex()} not ciphered with the key of request {request.hex()}")
    else:
        assert answer_tag == tag, f"answer {answer.hex()} not in the form of request {request.hex()}"


# --------------------------------------------------------------------------- a scripted peer


Responder = Callable[[int, bytes], bytes | None]


class FakeMeter:
    """A loopback peer for one connection: answers each received APDU with ``responder(client_wport, apdu)``.

    ``None`` from the responder closes the connection; ``silent=True`` never answers (for
    time-out checks); ``reply_to`` addresses the answers to another wPort than the request's
    source. ``requests`` keeps every APDU received.
    """

    def __init__(self, responder: Responder, silent: bool = False, reply_to: int | None = None) -> None:
        self.responder = responder
        self.silent = silent
        self.reply_to = reply_to
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.error: BaseException | None = None
        self.connection: socket.socket | None = None

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self.connection = connection
        with connection:
            connection.settimeout(10)
            try:
                while True:
                    source, _destination, apdu = receive_wpdu(connection)
                    self.requests.append(apdu)
                    if self.silent:
                        continue
                    answer = self.responder(source, apdu)
                    if answer is None:
                        return
                    destination = source if self.reply_to is None else self.reply_to
                    connection.sendall(wrap(METER_WPORT, destination, answer))
            except (ConnectionError, TimeoutError):
                return
            except BaseException as error:  # reported by the test through ``self.error``
                self.error = error

    def __enter__(self) -> FakeMeter:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.listener.close()
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=10)


# --------------------------------------------------------------------------- labs of any lab.ini


def start_lab_from(directory: Path, ini_for: Callable[[int, Path], str], port_count: int) -> Lab:
    """Like ``start_lab``, for the lab.ini ``ini_for(first_port, directory)`` whose meters listen on
    ``port_count`` consecutive ports from ``first_port``."""
    base_port = find_free_port_range(port_count)
    return launch_lab(directory, ini_for(base_port, directory), tuple(range(base_port, base_port + port_count)))


def running_lab(directory: Path, ini_for: Callable[[int, Path], str], port_count: int = 1) -> Iterator[Lab]:
    """The body of a lab fixture: ``start_lab_from``, a test failure (not an
    error) when it does not start, stopped when the fixture ends."""
    try:
        lab = start_lab_from(directory, ini_for, port_count)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield lab
    finally:
        stop_lab(lab)


# --------------------------------------------------------------------------- the expectation side

# The expectation side runs the meter's own code in-process (imports kept here, beside their use).
import functools  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from dlmstw.codec.axdr import decode_data  # noqa: E402
from dlmstw.codec.obis import parse_obis  # noqa: E402
from dlmstw.codec.services import CosemAttributeDescriptor, CosemMethodDescriptor, SelectiveAccess  # noqa: E402
from dlmstw.config import parse_lab  # noqa: E402
from dlmstw.cosem.base import Context  # noqa: E402
from dlmstw.cosem.directory import ModelDirectory  # noqa: E402
from dlmstw.enums import DataAccessResult  # noqa: E402
from dlmstw.plugins.registry import load_registry  # noqa: E402
from dlmstw.server.assembly import Meter  # noqa: E402



@functools.cache
def _registry() -> Any:
    """The installed plugins, found once per test run."""
    return load_registry()


class LocalMeter:
    """One meter of a lab.ini served in-process through its object directory, with a clock the
    test sets (``now``): the simulator's own expectation for a meter of the same configuration.

    Requests go through an association of access ``full`` (or the one given) without any
    session; values come back decoded (``Data`` tuples) or as the result enum. The plugins are
    the installed ones, or ``registry``.
    """

    def __init__(self, ini_text: str, meter: int = 0, now: float = 0.0, access: str = "full",
                 registry: Any = None) -> None:
        config = list(parse_lab(ini_text).meters())[meter]
        registry = registry or _registry()
        model = registry.object_set(config.model[0])
        self.now = now
        self.config = config
        self.runtime = Meter(config, model, lambda: self.now)
        self.directory = ModelDirectory(
            [registry.object_set(name) for name in config.model], registry.classes, config.associations,
            registry.mechanisms, 0x00501F, 1024,
        )
        client_sap = config.associations[0].client_sap
        self.association = SimpleNamespace(
            client_sap=client_sap, server_sap=1, access=access, mechanism_id=0, context_id=1, conformance=0x00501F,
            client_max_receive_pdu_size=1024, server_max_receive_pdu_size=1024, status=2, dlms_version=6,
        )

    def _context(self) -> Any:
        return Context(self.runtime, self.association, self.directory, self.runtime.now())

    def get_raw(self, ln: str | bytes, class_id: int, attribute: int,
                selective: tuple[int, Any] | None = None) -> Any:
        """The encoded answer (bytes) or the Data-Access-Result."""
        logical_name = parse_obis(ln) if isinstance(ln, str) else ln
        access = None if selective is None else SelectiveAccess(*selective)
        descriptor = CosemAttributeDescriptor(class_id, logical_name, attribute)
        result = self.directory.get(self._context(), descriptor, access)
        if isinstance(result, (bytes, DataAccessResult)):
            return result
        return b"".join(result)

    def get(self, ln: str | bytes, class_id: int, attribute: int, selective: tuple[int, Any] | None = None) -> Any:
        """The decoded Data, or the Data-Access-Result."""
        encoded = self.get_raw(ln, class_id, attribute, selective)
        if not isinstance(encoded, bytes):
            return encoded
        value, end = decode_data(encoded)
        assert end == len(encoded), f"{len(encoded) - end} bytes after the Data"
        return value

    def set(self, ln: str | bytes, class_id: int, attribute: int, value: Any) -> Any:
        logical_name = parse_obis(ln) if isinstance(ln, str) else ln
        return self.directory.set(self._context(), CosemAttributeDescriptor(class_id, logical_name, attribute),
                                  None, value)

    def action(self, ln: str | bytes, class_id: int, method: int, parameters: Any = None) -> tuple[Any, Any]:
        """(Action-Result, decoded return data or None)."""
        logical_name = parse_obis(ln) if isinstance(ln, str) else ln
        result, data = self.directory.action(self._context(), CosemMethodDescriptor(class_id, logical_name, method),
                                             parameters)
        return result, None if data is None else decode_data(data)[0]

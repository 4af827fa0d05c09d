"""Pushes without sockets (issue 14, item 4): the Data-Notification codec, Push setup
method 1 and its destination checks, the push sender's delays, retries and
capture on a memory reactor, schedules and alarms on its clock, lab.ini keys,
and how pcap shows a push and a UDP exchange."""

from __future__ import annotations

import datetime
import struct
from typing import Any

import pytest
from hypothesis import given, strategies as st
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from dlmstw.codec.axdr import datetime_bytes_from_timestamp, decode_data
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import DataNotification, decode_data_notification, encode_data_notification
from dlmstw.config import parse_lab
from dlmstw.cosem.base import Context
from dlmstw.cosem.classes.push_setup import PushRequest
from dlmstw.cosem.classes.single_action_schedule import next_time
from dlmstw.cosem.directory import ModelDirectory
from dlmstw.enums import ActionResult, DataAccessResult, DataType
from dlmstw.errors import ConfigError
from dlmstw.monitor.capture import CaptureBus, Exchange
from dlmstw.monitor.pcap import write_pcap
from dlmstw.security import ciphering
from dlmstw.server.assembly import Meter
from dlmstw.server.edge import MeterEdge
from dlmstw.server.push import PushSender, randomisation, window_wait
from dlmstw.simulator.events import outages, tampers
from interop_support import LocalMeter, _registry

NOW = 1_767_268_800.0  # 2026-01-01T12:00:00Z
PUSH_SETUP = "0.0.25.9.0.255"
ALARM_PUSH_SETUP = "0.4.25.9.0.255"
PUSH_SCHEDULE = "0.0.15.0.4.255"


def lab(destinations: str = "127.0.0.0/8", extra: str = "") -> str:
    return f"""
[simulator]
push_destinations = {destinations}

[meters:m]
model = dlms-generic
port = 4100
load_profile_days = 2
seed = 5
{extra}

[association:admin]
client_sap = 48
authentication = lls
lls_password = ADMIN001
access = full
"""


class Recorder:
    """An edge that keeps what it is handed."""

    def __init__(self) -> None:
        self.requests: list[PushRequest] = []
        self.changes = 0

    def push(self, request: PushRequest) -> None:
        self.requests.append(request)

    def schedule_changed(self) -> None:
        self.changes += 1


def destination(host_port: bytes, transport: int = 0) -> Any:
    return (DataType.STRUCTURE, [(DataType.ENUM, transport), (DataType.OCTET_STRING, host_port), (DataType.ENUM, 0)])


# =========================================================================== the APDU


@given(st.integers(0, 0xFFFFFFFF), st.sampled_from([b"", bytes(range(12))]),
       st.lists(st.integers(0, 0xFFFF), max_size=5))
def test_data_notification_round_trip(invoke: int, date_time: bytes, values: list[int]) -> None:
    body = (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, v) for v in values])
    apdu = encode_data_notification(DataNotification(invoke, date_time, body))
    assert apdu[0] == 0x0F
    assert decode_data_notification(apdu) == DataNotification(invoke, date_time, body)


def test_data_notification_fields_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="Unsigned32"):
        encode_data_notification(DataNotification(1 << 32, b"", (DataType.NULL_DATA, None)))
    with pytest.raises(ValueError, match="0 or 12 octets"):
        encode_data_notification(DataNotification(1, b"\x00", (DataType.NULL_DATA, None)))


# =========================================================================== Push setup


def test_push_method_hands_the_push_object_list_to_the_edge() -> None:
    """Method 1 reads the push_object_list now: the push setup's logical name, the serial and the
    clock, as a structure; the destination is the configured one."""
    meter = LocalMeter(lab(), now=NOW)
    edge = meter.runtime.edge = Recorder()
    assert meter.action(PUSH_SETUP, 40, 1, (DataType.INTEGER, 0)) == (ActionResult.SUCCESS, None)
    (request,) = edge.requests
    assert (request.transport, request.host, request.port) == ("tcp", "127.0.0.1", 4058)
    assert (request.number_of_retries, request.repetition_delay, request.windows) == (3, 60, ())
    body, end = decode_data(request.body)
    assert end == len(request.body)
    assert body[0] == DataType.STRUCTURE
    assert body[1][0] == (DataType.OCTET_STRING, parse_obis(PUSH_SETUP))
    assert body[1][1] == meter.get("0.0.96.1.0.255", 1, 2)
    assert body[1][2] == (DataType.OCTET_STRING, datetime_bytes_from_timestamp(NOW, 0, 0))
    assert request.date_time == datetime_bytes_from_timestamp(NOW, 0, 0)


def test_push_object_list_elements_by_data_index_and_unreadable_ones() -> None:
    """data_index n takes the n-th element; an object the meter lacks becomes null-data."""
    meter = LocalMeter(lab(), now=NOW)
    edge = meter.runtime.edge = Recorder()
    items = (DataType.ARRAY, [
        (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 40), (DataType.OCTET_STRING, parse_obis(PUSH_SETUP)),
                              (DataType.INTEGER, 3), (DataType.LONG_UNSIGNED, 2)]),
        (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 1), (DataType.OCTET_STRING, bytes(6)),
                              (DataType.INTEGER, 2), (DataType.LONG_UNSIGNED, 0)]),
    ])
    assert meter.set(PUSH_SETUP, 40, 2, items) == DataAccessResult.SUCCESS
    meter.action(PUSH_SETUP, 40, 1, (DataType.INTEGER, 0))
    assert decode_data(edge.requests[0].body)[0] == (DataType.STRUCTURE, [
        (DataType.OCTET_STRING, b"127.0.0.1:4058"), (DataType.NULL_DATA, None)])


def test_destinations_outside_push_destinations_are_refused() -> None:
    """SET to a host outside push_destinations: read-write-denied; push to a configured one
    outside (lab.ini narrowed): the action-result read-write-denied; other transports or a
    destination that is no HOST:PORT: other-reason; no edge: temporary-failure."""
    meter = LocalMeter(lab("127.0.0.2/32, ::1/128"), now=NOW)
    meter.runtime.edge = Recorder()
    assert meter.action(PUSH_SETUP, 40, 1, (DataType.INTEGER, 0)) == (ActionResult.READ_WRITE_DENIED, None)
    assert meter.set(PUSH_SETUP, 40, 3, destination(b"192.0.2.1:4059")) == DataAccessResult.READ_WRITE_DENIED
    assert meter.set(PUSH_SETUP, 40, 3, destination(b"127.0.0.1:4059")) == DataAccessResult.READ_WRITE_DENIED
    assert meter.set(PUSH_SETUP, 40, 3, destination(b"127.0.0.2:4059", 2)) == DataAccessResult.OTHER_REASON
    assert meter.set(PUSH_SETUP, 40, 3, destination(b"127.0.0.2")) == DataAccessResult.OTHER_REASON
    assert meter.set(PUSH_SETUP, 40, 3, destination(b"[::1]:4059", 1)) == DataAccessResult.SUCCESS
    assert meter.set(PUSH_SETUP, 40, 3, destination(b"127.0.0.2:4059", 1)) == DataAccessResult.SUCCESS
    assert meter.action(PUSH_SETUP, 40, 1, (DataType.INTEGER, 0)) == (ActionResult.SUCCESS, None)
    assert meter.runtime.edge.requests[0].transport == "udp"
    assert meter.action(PUSH_SETUP, 40, 1, (DataType.LONG, 0)) == (ActionResult.TYPE_UNMATCHED, None)
    meter.runtime.edge = None
    assert meter.action(PUSH_SETUP, 40, 1, (DataType.INTEGER, 0)) == (ActionResult.TEMPORARY_FAILURE, None)


@pytest.mark.parametrize(("text", "section", "key", "problem"), [
    (lab("127.0.0.0/33"), "simulator", "push_destinations", "not a network"),
    (lab(extra="transport = hdlc-over-pigeon"), "meters:m", "transport", "wrapper | udp-wrapper"),
    (lab(extra="push_association = nobody"), "meters:m", "push_association", "not one of the group"),
])
def test_lab_ini_errors_name_the_key(text: str, section: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_lab(text, "lab.ini")
    line = str(error.value)
    assert "\n" not in line
    assert "lab.ini" in line and section in line and key in line and problem in line


# =========================================================================== sending


def running_meter(reactor: MemoryReactorClock, extra: str = "") -> tuple[Meter, ModelDirectory, CaptureBus,
                                                                         list[Exchange]]:
    config = list(parse_lab(lab(extra=extra)).meters())[0]
    registry = _registry()
    meter = Meter(config, registry.object_sets[config.model[0]], reactor.seconds)
    directory = ModelDirectory([registry.object_sets[name] for name in config.model], registry.classes,
                               config.associations, registry.mechanisms, 0x00501F, 1024)
    capture = CaptureBus(reactor.callLater)
    records: list[Exchange] = []
    capture.subscribe(records.append)
    return meter, directory, capture, records


def request(**changes: Any) -> PushRequest:
    values: dict[str, Any] = dict(push_setup=parse_obis(PUSH_SETUP), body=b"\x02\x00", date_time=b"",
                                  transport="tcp", host="127.0.0.1", port=4058, windows=(),
                                  randomisation_start_interval=0, number_of_retries=2, repetition_delay=30)
    values.update(changes)
    return PushRequest(**values)


def test_a_refused_push_is_tried_again_after_the_repetition_delay() -> None:
    """number_of_retries 2: three connects, repetition_delay apart, each failure captured as
    connect-refused; then nothing more."""
    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    meter, _, capture, records = running_meter(reactor)
    sender = PushSender(reactor, meter, capture)
    sender.push(request())
    reactor.advance(0)
    for attempt in range(3):
        assert len(reactor.tcpClients) == attempt + 1
        host, port, factory, timeout, _ = reactor.tcpClients[-1]
        assert (host, port) == ("127.0.0.1", 4058)
        factory.clientConnectionFailed(reactor.connectors[-1], Failure(ConnectionRefusedError()))
        reactor.advance(30)
    assert len(reactor.tcpClients) == 3
    assert [(r.kind, r.result, r.peer) for r in records] == [("push", "connect-refused", "127.0.0.1:4058")] * 3


def test_randomisation_and_windows_delay_the_push() -> None:
    """The randomisation delay is drawn from the seed (the same each run, within the interval);
    outside every communication window the push waits for the next, after the last it is dropped."""
    delays = {randomisation(5, b"ln", n, 10) for n in range(200)}
    assert delays <= set(range(11)) and len(delays) > 5
    assert randomisation(5, b"ln", 7, 10) == randomisation(5, b"ln", 7, 10)
    assert randomisation(5, b"ln", 7, 0) == 0
    assert window_wait((), 100.0) == 0.0
    assert window_wait(((50.0, 150.0),), 100.0) == 0.0
    assert window_wait(((150.0, 200.0), (300.0, None)), 100.0) == 50.0
    assert window_wait(((10.0, 20.0),), 100.0) is None
    assert window_wait(((None, None),), 100.0) == 0.0

    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    meter, _, capture, records = running_meter(reactor)
    sender = PushSender(reactor, meter, capture)
    sender.push(request(windows=((NOW + 100, NOW + 200),), randomisation_start_interval=20))
    expected = 100 + randomisation(meter.seed, parse_obis(PUSH_SETUP), 1, 20)
    reactor.advance(expected - 0.5)
    assert reactor.tcpClients == []
    reactor.advance(0.5)
    assert len(reactor.tcpClients) == 1
    sender.push(request(windows=((NOW - 100, NOW - 50),)))
    reactor.advance(0)
    assert records[-1].result == "no-communication-window"


def test_a_ciphered_push_is_general_glo_ciphering_under_the_meters_counter() -> None:
    """With a push association of authenticated encryption: general-glo-ciphering with the
    meter's system title, the meter's invocation counter growing from push to push."""
    text = lab().replace("access = full", "access = full\n\n[association:utility]\nclient_sap = 1\n"
                         "authentication = hls-gmac\ncontext = ln-ciphered\nsecurity = authenticated-encryption\n"
                         "authentication_key = D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\n"
                         "block_cipher_key = 000102030405060708090A0B0C0D0E0F")
    config = list(parse_lab(text.replace("seed = 5", "seed = 5\npush_association = utility")).meters())[0]
    registry = _registry()
    reactor = MemoryReactorClock()
    meter = Meter(config, registry.object_sets["dlms-generic"], reactor.seconds)
    sender = PushSender(reactor, meter, CaptureBus(reactor.callLater),
                        (config.push_association, registry.suites[0]))
    counters = []
    for sequence in (1, 2):
        plain, sent = sender.apdu(request(), sequence)
        tag, title, protected = ciphering.decode_general_ciphering(sent)
        assert (tag, title) == (0xDB, meter.system_title)
        control, counter, deciphered = ciphering.unprotect(
            protected, system_title=title, block_cipher_key=bytes.fromhex("000102030405060708090A0B0C0D0E0F"),
            authentication_key=bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"))
        assert control == 0x30 and deciphered == plain
        counters.append(counter)
    assert counters[1] > counters[0]
    assert sender.framer.destination == 1


# =========================================================================== schedules and alarms


def test_next_time_of_execution_times() -> None:
    """Local time, wildcards and the last day of the month (Blue Book 4.1.6.1)."""
    daily = ((bytes((0, 0, 0, 0)), bytes.fromhex("FFFFFFFFFF")),)
    assert next_time(daily, 0, int(NOW)) == NOW + 12 * 3600
    assert next_time(daily, 19800, int(NOW)) == NOW + 6.5 * 3600
    every_hour = ((bytes((0xFF, 30, 0, 0)), bytes.fromhex("FFFFFFFFFF")),)
    assert next_time(every_hour, 0, int(NOW)) == NOW + 1800
    last_day = ((bytes((23, 0, 0, 0)), bytes.fromhex("FFFFFFFEFF")),)
    expected = datetime.datetime(2026, 1, 31, 23, tzinfo=datetime.UTC).timestamp()
    assert next_time(last_day, 0, int(NOW)) == expected
    past = ((bytes((0, 0, 0, 0)), bytes.fromhex("07D00101FF")),)
    assert next_time(past, 0, int(NOW)) is None


class Sender:
    def __init__(self) -> None:
        self.requests: list[PushRequest] = []

    def push(self, request: PushRequest) -> None:
        self.requests.append(request)

    def stop(self) -> None:
        """Nothing waits."""


def test_the_push_schedule_runs_the_push_script_at_its_time() -> None:
    """SET of the push action schedule's execution_time re-arms the timer; at that second the push
    script pushes 0.0.25.9.0.255; a clock set re-arms it too."""
    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    meter, directory, _, _ = running_meter(reactor)
    sender = Sender()
    edge = meter.edge = MeterEdge(reactor, meter, directory, sender)  # type: ignore[arg-type]
    edge.start()
    at = (DataType.ARRAY, [(DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes((12, 0, 10, 0))),
                                                 (DataType.OCTET_STRING, bytes.fromhex("FFFFFFFFFF"))])])
    schedule = directory.objects[parse_obis(PUSH_SCHEDULE)]
    assert schedule.interface_class.set(schedule, 4, at, Context(meter, None, directory, meter.now())) \
        == DataAccessResult.SUCCESS
    reactor.advance(9.5)
    assert sender.requests == []
    reactor.advance(0.5)
    assert [r.push_setup for r in sender.requests] == [parse_obis(PUSH_SETUP)]
    meter.set_clock(NOW + 86400 - 5)
    reactor.advance(5)
    assert len(sender.requests) == 1
    reactor.advance(10)
    assert len(sender.requests) == 2
    edge.stop()
    reactor.advance(86400)
    assert len(sender.requests) == 2


def test_a_power_failure_pushes_the_alarm_push_setup() -> None:
    """At the start of the simulator's next outage the alarm push setup pushes (after one push
    for each simulated tamper attempt before it)."""
    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    meter, directory, _, _ = running_meter(reactor)
    sender = Sender()
    edge = meter.edge = MeterEdge(reactor, meter, directory, sender)  # type: ignore[arg-type]
    edge.start()
    start = min(s for s, _ in outages(meter.simulator, NOW, NOW + 15 * 86400) if s > NOW)
    began = {tamper.began for tamper in edge.objects.tampers}
    before = [o.t for o in tampers(meter.simulator, NOW, start, edge.objects.tampers) if o.kind in began]
    reactor.advance(start - NOW - 1)
    assert len(sender.requests) == len(before)
    reactor.advance(1)
    assert [r.push_setup for r in sender.requests] == [parse_obis(ALARM_PUSH_SETUP)] * (len(before) + 1)
    body = decode_data(sender.requests[-1].body)[0]
    assert body[1][0] == (DataType.OCTET_STRING, parse_obis(ALARM_PUSH_SETUP))
    edge.stop()


# =========================================================================== pcap


def _packets(pcap: bytes) -> list[bytes]:
    packets, pos = [], 24
    while pos < len(pcap):
        length = struct.unpack_from("<I", pcap, pos + 8)[0]
        packets.append(pcap[pos + 16:pos + 16 + length])
        pos += 16 + length
    return packets


def test_pcap_shows_a_push_from_the_meter_and_udp_as_udp() -> None:
    frame = b"\x00\x01\x00\x01\x00\x66\x00\x03\x0f\x00\x00"
    push = Exchange(1, NOW, None, "m-0", "127.0.0.1:4058", "127.0.0.1:40000", 0x66, 1, frame, None, frame[8:],
                    None, "data-notification", False, "success", "tcp")
    udp = Exchange(2, NOW + 1, NOW + 1.1, "m-0", "127.0.0.1:5000", "127.0.0.1:4100", 16, 1, b"\x00\x01" * 4,
                   b"\x00\x01" * 5, None, None, "aarq", False, "success", "udp")
    packets = _packets(write_pcap([push, udp]))
    assert len(packets) == 9  # the push's connection: handshake, frame, close; then two datagrams
    first, (request, response) = packets[3], packets[-2:]
    ip = first[14:34]
    assert ip[9] == 6 and first[54:] == frame
    assert struct.unpack(">HH", first[34:38]) == (40000, 4058)
    assert struct.unpack(">HH", packets[0][34:38]) == (40000, 4058) and packets[0][47] == 0x02  # the meter's SYN
    assert request[14 + 9] == 17 and response[14 + 9] == 17
    assert struct.unpack(">HHH", request[34:40]) == (5000, 4100, 8 + 8)
    assert struct.unpack(">HH", response[34:38]) == (4100, 5000)
    assert request[42:] == b"\x00\x01" * 4


# =========================================================================== dlmstw-client listen


def test_listen_usage_and_a_port_in_use_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """--key without --auth-key: exit status 2; a port in use: exit status 3; each one line."""
    import socket

    from dlmstw.client.cli import main

    assert main(["listen", "4058", "--key", "00" * 16]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        assert main(["listen", str(taken.getsockname()[1]), "--timeout", "1"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot listen" in err


def test_listen_reads_plain_and_ciphered_frames_and_refuses_others() -> None:
    """The receiver decodes a plain Data-Notification, deciphers a general-glo-ciphered one with the
    keys, and reports a frame that is neither (or a ciphered one without keys) as refused."""
    from dlmstw.client.listen import PushKeys, PushReceiver

    key, auth = bytes(range(16)), bytes(range(0xD0, 0xE0))
    plain = encode_data_notification(DataNotification(7, b"", (DataType.UNSIGNED, 5)))
    title = bytes.fromhex("4D4D4D0000000001")
    protected = ciphering.protect(plain, security_control=0x30, system_title=title, invocation_counter=9,
                                  block_cipher_key=key, authentication_key=auth)
    ciphered = ciphering.encode_general_ciphering(0xDB, title, protected)
    got: list[Any] = []
    refused: list[str] = []
    receiver = PushReceiver(PushKeys(key, auth), got.append, lambda peer, reason: refused.append(reason))
    receiver.frame("p", "udp", 1, 0x66, plain)
    receiver.frame("p", "udp", 1, 0x66, ciphered)
    receiver.frame("p", "udp", 1, 0x66, b"\xc0\x01")
    assert [(p.system_title, p.invocation_counter, p.body) for p in got] == [
        (None, None, (DataType.UNSIGNED, 5)), (title, 9, (DataType.UNSIGNED, 5))]
    PushReceiver(None, got.append, lambda peer, reason: refused.append(reason)).frame("p", "tcp", 1, 0x66, ciphered)
    assert len(refused) == 2 and "--key" in refused[1]

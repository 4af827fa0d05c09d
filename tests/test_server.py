"""The Twisted shell of a meter, deterministic: StringTransport and Clock.

Framing split anywhere, several frames per read, wPort handling, connection
limits, inactivity timeout, a bad wrapper closing only its own connection,
and associations isolated per connection."""

from __future__ import annotations

import struct

import socket

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher

from dlmstw.codec import acse, axdr, services, xdlms
from dlmstw.codec.services import CosemAttributeDescriptor, GetRequestNormal, GetResponseNormal
from dlmstw.association.security import PROTECTION_OVERHEAD
from dlmstw.config import parse_lab
from dlmstw.enums import Conformance, DataType
from dlmstw.framing.wrapper import WrapperDecoder, encode_wpdu
from dlmstw.monitor.capture import CaptureBus, Exchange
from dlmstw.server.faults import FaultyConnection
from dlmstw.server.listen import MeterEndpoint, MeterPort, meter_endpoint_description
from dlmstw.server.meter import MeterFactory, MeterProtocol
from dlmstw.plugins.registry import load_registry
from dlmstw.server.reconfigure import reconfigure
from dlmstw.server.service import LabService

LAB = """
[meters:abt]
count = 2
port = 4059
max_clients = 2
inactivity_timeout = 30
load_profile_days = 1

[association:public]
client_sap = 16

[association:reader]
client_sap = 32
authentication = lls
lls_password = ABCD0001
"""

CLOCK = Clock()
AARQ = acse.encode_aarq(acse.AARQ(application_context_name=1, user_information=xdlms.encode_initiate_request(
    xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00FFFF), 0x04B0))))
SERIAL = CosemAttributeDescriptor(1, bytes((0, 0, 96, 1, 0, 255)), 2)
GET_SERIAL = services.encode_request(GetRequestNormal(0xC1, SERIAL, None))


def factory(meter: str = "abt-0") -> MeterFactory:
    return LabService(parse_lab(LAB), load_registry(), CaptureBus(CLOCK.callLater),
                      clock=lambda: 1_767_225_600.0).factories[meter]


def connect(meter: MeterFactory, clock: Clock | None = None,
            port: int = 50000) -> tuple[MeterProtocol | FaultyConnection, StringTransport]:
    protocol = meter.buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
    if clock is not None:
        protocol.callLater = clock.callLater  # type: ignore[method-assign]
        if isinstance(protocol, FaultyConnection):
            protocol.wrappedProtocol.callLater = clock.callLater  # type: ignore[method-assign]
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
    protocol.makeConnection(transport)
    return protocol, transport


def answers(transport: StringTransport) -> list[tuple[int, int, bytes]]:
    frames = WrapperDecoder().feed(transport.value())
    transport.clear()
    return [(f.source_wport, f.destination_wport, f.apdu) for f in frames]


def serial_answer(serial: bytes) -> bytes:
    return services.encode_response(GetResponseNormal(0xC1, axdr.encode_data((DataType.OCTET_STRING, serial))))


def test_frames_split_at_every_byte_and_batched() -> None:
    meter = factory()
    protocol, transport = connect(meter)
    stream = encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_SERIAL)
    for i in range(len(stream)):
        protocol.dataReceived(stream[i:i + 1])
    first = answers(transport)
    assert [(s, d) for s, d, _ in first] == [(1, 16), (1, 16)]
    assert acse.decode_aare(first[0][2]).result == 0
    assert first[1][2] == serial_answer(b"1000001")
    protocol.dataReceived(encode_wpdu(16, 1, GET_SERIAL) * 3)
    assert [apdu for _, _, apdu in answers(transport)] == [serial_answer(b"1000001")] * 3


def test_each_meter_has_its_own_identity() -> None:
    protocol, transport = connect(factory("abt-1"))
    protocol.dataReceived(encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_SERIAL))
    assert answers(transport)[1][2] == serial_answer(b"1000002")


def test_other_logical_devices_are_not_answered() -> None:
    protocol, transport = connect(factory())
    protocol.dataReceived(encode_wpdu(16, 7, AARQ))
    assert transport.value() == b""
    assert transport.connected


def test_bad_wrapper_version_closes_only_that_connection() -> None:
    meter = factory()
    good, good_transport = connect(meter, port=50001)
    good.dataReceived(encode_wpdu(16, 1, AARQ))
    answers(good_transport)
    bad, bad_transport = connect(meter, port=50002)
    bad.dataReceived(b"\x00\x02" + encode_wpdu(16, 1, AARQ)[2:])
    assert bad_transport.disconnecting
    bad.connectionLost()
    good.dataReceived(encode_wpdu(16, 1, GET_SERIAL))
    assert answers(good_transport)[0][2] == serial_answer(b"1000001")


def test_associations_are_per_connection() -> None:
    """One client's association never serves another connection to the same meter."""
    meter = factory()
    first, first_transport = connect(meter, port=50001)
    second, second_transport = connect(meter, port=50002)
    first.dataReceived(encode_wpdu(16, 1, AARQ))
    answers(first_transport)
    second.dataReceived(encode_wpdu(16, 1, GET_SERIAL))
    assert answers(second_transport)[0][2] == bytes.fromhex("D80101")
    first.connectionLost()
    third, third_transport = connect(meter, port=50003)
    third.dataReceived(encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_SERIAL))
    assert answers(third_transport)[1][2] == serial_answer(b"1000001")


def test_max_clients_closes_the_extra_connection() -> None:
    meter = factory()
    first, _ = connect(meter, port=50001)
    second, _ = connect(meter, port=50002)
    third, third_transport = connect(meter, port=50003)
    assert third_transport.disconnecting
    third.connectionLost()
    first.connectionLost()
    fourth, fourth_transport = connect(meter, port=50004)
    assert not fourth_transport.disconnecting
    fourth.dataReceived(encode_wpdu(16, 1, AARQ))
    assert acse.decode_aare(answers(fourth_transport)[0][2]).result == 0


def test_inactivity_timeout() -> None:
    clock = Clock()
    protocol, transport = connect(factory(), clock)
    clock.advance(29)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    clock.advance(29)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnecting


def test_bytes_trickling_in_do_not_keep_a_connection_alive() -> None:
    """Slow loris: only whole requests reset the inactivity timeout; a frame
    sent a byte at a time, never completed, ends with the timeout."""
    clock = Clock()
    protocol, transport = connect(factory(), clock)
    frame = encode_wpdu(16, 1, AARQ)
    for byte in frame[:-1]:
        clock.advance(1)
        protocol.dataReceived(bytes((byte,)))
    assert len(frame) > 30 and transport.disconnecting


def test_an_apdu_longer_than_the_meter_receives_is_refused_at_its_header() -> None:
    """The header alone shows a length beyond the meter's max receive PDU size
    (and what protection adds): the connection closes before the body is read."""
    meter = factory()
    protocol, transport = connect(meter)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    limit = meter.profile.max_receive_pdu_size + PROTECTION_OVERHEAD
    protocol.dataReceived(struct.pack(">HHHH", 1, 16, 1, limit + 1))
    assert transport.disconnecting and meter.counters["malformed"] == 1
    protocol, transport = connect(meter, port=50010)
    protocol.dataReceived(struct.pack(">HHHH", 1, 16, 1, limit))
    assert not transport.disconnecting


def test_max_connections_is_one_budget_for_every_meter_of_a_process() -> None:
    service = LabService(parse_lab(LAB.replace("[meters:abt]", "[simulator]\nmax_connections = 2\n\n[meters:abt]")),
                         load_registry(), CaptureBus(CLOCK.callLater))
    first, second = service.factories["abt-0"], service.factories["abt-1"]
    one, _ = connect(first, port=50001)
    connect(second, port=50002)
    _, refused = connect(second, port=50003)
    assert refused.disconnecting and second.counters["refused-max-connections"] == 1
    one.connectionLost()
    _, accepted = connect(second, port=50004)
    assert not accepted.disconnecting


def test_every_exchange_and_connection_event_is_captured() -> None:
    meter = factory()
    seen: list[Exchange] = []
    meter.capture.subscribe(seen.append)
    protocol, transport = connect(meter, port=50009)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_SERIAL) + encode_wpdu(16, 3, GET_SERIAL))
    protocol.dataReceived(b"\x00\x09garbage")
    protocol.connectionLost()
    assert seen == []
    CLOCK.advance(0)
    assert [(e.kind, e.result) for e in seen] == [
        ("connect", "accepted"), ("aarq", "success"), ("get-request-normal", "success"),
        ("get-request-normal", "no-such-logical-device"), ("malformed", "malformed"), ("disconnect", "closed")]
    assert meter.counters == {"accepted": 1, "success": 2, "no-such-logical-device": 1, "malformed": 1, "closed": 1}
    aarq, get = seen[1], seen[2]
    assert aarq.peer == "127.0.0.1:50009" and aarq.meter == "abt-0" and aarq.client_sap == 16
    assert aarq.request == encode_wpdu(16, 1, AARQ) and aarq.request_apdu == AARQ
    assert get.response == encode_wpdu(1, 16, serial_answer(b"1000001"))
    assert get.response_apdu == serial_answer(b"1000001") and not get.ciphered
    assert aarq.time_req <= aarq.time_res <= get.time_req  # type: ignore[operator]
    assert [e.sequence for e in seen] == sorted({e.sequence for e in seen})


FAULTS_LAB = LAB.replace("max_clients = 2", "max_clients = 2\ncount = 4\nfaults = {faults}").replace("count = 2\n", "")


def faulty(faults: str, meter: str = "abt-0") -> MeterFactory:
    lab = parse_lab(FAULTS_LAB.format(faults=faults))
    return LabService(lab, load_registry(), CaptureBus(CLOCK.callLater), clock=lambda: 1_767_225_600.0).factories[meter]


def test_fault_delay_keeps_answers_in_order() -> None:
    clock = Clock()
    meter = faulty("delay:100ms..200ms")
    protocol, transport = connect(meter, clock)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_SERIAL))
    assert transport.value() == b""
    clock.advance(0.099)
    assert transport.value() == b""
    clock.advance(0.101)
    assert [apdu[0] for _, _, apdu in answers(transport)] == [0x61]
    clock.advance(0.2)
    assert [apdu[0] for _, _, apdu in answers(transport)] == [0xC4]


def test_fault_drop_and_timeout() -> None:
    dropping = faulty("drop:1")
    protocol, transport = connect(dropping)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    assert transport.value() == b"" and transport.connected
    hanging = faulty("timeout:1")
    protocol, transport = connect(hanging)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    assert isinstance(protocol, FaultyConnection) and protocol.hung and transport.value() == b""


def test_a_meter_without_faults_has_no_wrapper() -> None:
    protocol, transport = connect(factory())
    assert type(protocol) is MeterProtocol and protocol.transport is transport
    wrapped, _ = connect(faulty("delay:1ms..2ms"))
    assert isinstance(wrapped, FaultyConnection) and type(wrapped.wrappedProtocol) is MeterProtocol


def test_faults_lose_whole_requests_and_capture_them() -> None:
    """Draws are per request, however its bytes arrive; other logical devices
    are not subject to faults; each lost request is captured and counted."""
    meter = faulty("drop:0.5")
    seen: list[Exchange] = []
    meter.capture.subscribe(seen.append)
    protocol, transport = connect(meter)
    stream = encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 3, GET_SERIAL) + encode_wpdu(16, 1, GET_SERIAL) * 30
    for i in range(len(stream)):
        protocol.dataReceived(stream[i:i + 1])
    protocol.connectionLost()
    CLOCK.advance(0)
    results = [e.result for e in seen if e.kind not in ("connect", "disconnect")]
    assert len(results) == 32 and results[1] == "no-such-logical-device"
    assert 5 < results.count("fault-drop") < 27
    assert sum(1 for e in seen if e.response is not None) == len(answers(transport))
    dropped = [e for e in seen if e.result == "fault-drop"]
    assert all(e.request in (encode_wpdu(16, 1, AARQ), encode_wpdu(16, 1, GET_SERIAL)) for e in dropped)
    assert meter.counters["fault-drop"] == len(dropped)


def test_a_hung_connection_stays_hung_and_is_captured() -> None:
    meter = faulty("timeout:1")
    seen: list[Exchange] = []
    meter.capture.subscribe(seen.append)
    protocol, transport = connect(meter)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_SERIAL))
    protocol.dataReceived(encode_wpdu(16, 1, GET_SERIAL))
    CLOCK.advance(0)
    assert [(e.kind, e.result) for e in seen] == [("connect", "accepted"), ("aarq", "fault-timeout"),
                                                  ("get-request-normal", "fault-timeout"),
                                                  ("get-request-normal", "fault-timeout")]
    assert transport.value() == b"" and transport.connected


def test_lost_requests_keep_a_faulty_connection_active() -> None:
    clock = Clock()
    protocol, transport = connect(faulty("timeout:1"), clock)
    for _ in range(3):
        clock.advance(20)
        protocol.dataReceived(encode_wpdu(16, 1, GET_SERIAL))
    assert not transport.disconnecting
    clock.advance(31)
    assert transport.disconnecting


def test_a_bad_wrapper_behind_faults_is_refused_and_captured() -> None:
    meter = faulty("drop:0.001")
    seen: list[Exchange] = []
    meter.capture.subscribe(seen.append)
    protocol, transport = connect(meter)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ)[:5])
    protocol.dataReceived(encode_wpdu(16, 1, AARQ)[5:] + b"\x00\x02garbage")
    assert transport.disconnecting
    protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    CLOCK.advance(0)
    assert [e.result for e in seen] == ["accepted", "malformed"]
    assert seen[1].request == encode_wpdu(16, 1, AARQ)[5:] + b"\x00\x02garbage"


def test_delayed_answers_are_cancelled_with_the_connection() -> None:
    clock = Clock()
    protocol, transport = connect(faulty("delay:100ms..200ms"), clock)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    protocol.connectionLost()
    assert clock.getDelayedCalls() == []
    assert transport.value() == b""


def test_changed_faults_apply_to_new_connections() -> None:
    meter = faulty("drop:1")
    before, before_transport = connect(meter, port=50001)
    reconfigure(meter, {"faults": ""}, lambda online: None)
    assert meter.faults is None
    after, after_transport = connect(meter, port=50002)
    for protocol in (before, after):
        protocol.dataReceived(encode_wpdu(16, 1, AARQ))
    assert before_transport.value() == b"" and answers(after_transport)[0][2][0] == 0x61
    reconfigure(meter, {"faults": "timeout:1"}, lambda online: None)
    hung, hung_transport = connect(meter, port=50003)
    hung.dataReceived(encode_wpdu(16, 1, AARQ))
    assert hung_transport.value() == b""
    after.dataReceived(encode_wpdu(16, 1, GET_SERIAL))
    assert answers(after_transport)[0][2] == serial_answer(b"1000001")


def test_fault_offline_keeps_that_share_of_meters_from_listening() -> None:
    lab = parse_lab(FAULTS_LAB.format(faults="offline:50%"))
    service = LabService(lab, load_registry(), CaptureBus(CLOCK.callLater))
    offline = sorted(m for m, f in service.factories.items() if not f.online)
    assert len(offline) == 2
    assert sorted(s.name for s in service) == sorted(set(service.factories) - set(offline))
    again = LabService(lab, load_registry(), CaptureBus(CLOCK.callLater))
    assert sorted(m for m, f in again.factories.items() if not f.online) == offline


def test_a_client_that_does_not_read_is_paused() -> None:
    """The meter stops reading from a client whose answers pile up."""
    meter = factory()
    protocol, transport = connect(meter)
    assert transport.producer is protocol and transport.streaming
    protocol.pauseProducing()
    assert transport.producerState == "paused"
    protocol.resumeProducing()
    assert transport.producerState == "producing"


class QuietFactory(Factory):
    protocol = Protocol
    noisy = False


def test_a_meter_listens_through_a_quiet_dlmstw_tcp_endpoint() -> None:
    """``serverFromString`` knows ``dlmstw-tcp`` (the plugin in twisted/plugins):
    its port logs nothing when it starts and stops, and a port in use fails
    with CannotListenError."""
    reactor = MemoryReactorClock()
    endpoint = serverFromString(reactor, meter_endpoint_description(0, "127.0.0.1", 7))
    assert isinstance(endpoint, MeterEndpoint) and (endpoint.port, endpoint.interface, endpoint.backlog) == (
        0, "127.0.0.1", 7)
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        listening: list[MeterPort] = []
        endpoint.listen(QuietFactory()).addCallback(listening.append)
        number = listening[0].getHost().port
        failures: list[object] = []
        endpoint.at(number).listen(QuietFactory()).addErrback(failures.append)
        listening[0].stopListening()
        reactor.advance(0)
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert events == []
    assert failures[0].check(CannotListenError)  # type: ignore[attr-defined]
    with socket.create_server(("127.0.0.1", number)):
        pass


@pytest.mark.parametrize("interface", ["", "127.0.0.1", "::1"])
def test_meter_endpoint_descriptions_round_trip(interface: str) -> None:
    endpoint = serverFromString(Clock(), meter_endpoint_description(4059, interface))
    assert (endpoint.port, endpoint.interface, endpoint.backlog) == (4059, interface, 50)

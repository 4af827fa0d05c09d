"""The Twisted shell of HDLC meters and gateways, deterministic: StringTransport
and Clock drive the links' inactivity and the frames' inter-frame timeouts,
faults drop whole HDLC requests, and the dissector reads an exchange's frames."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from dlmstw.codec import acse
from dlmstw.config import parse_lab
from dlmstw.dissector import dissect_frame
from dlmstw.framing.hdlc import (
    DISC, LLC_REQUEST, POLL_FINAL, RR, SNRM, Address, Frame, HdlcDecoder, control_name, encode_frame, i_control, s_control,
)
from dlmstw.monitor.capture import CaptureBus, Exchange
from dlmstw.plugins.registry import load_registry
from dlmstw.server.faults import FaultyConnection
from dlmstw.server.reconfigure import ReconfigureError
from dlmstw.server.service import LabService
from test_hdlc import PUBLIC_FRAMES
from test_server import AARQ, GET_SERIAL, serial_answer

LAB = """
[meters:own]
count = 1
port = 4059
transport = hdlc
inactivity_timeout = 30
load_profile_days = 1

[meters:bus]
count = 3
transport = hdlc
gateway = 4100
physical_address = 40
max_clients = 1
inactivity_timeout = 30
load_profile_days = 1
{faults}

[association:public]
client_sap = 16
"""
CLIENT = Address(16, None, 1)


class Peer:
    """A connection to a factory of the lab, with a Clock for its timeouts and the records it made."""

    def __init__(self, faults: str = "") -> None:
        self.clock = Clock()
        self.delivered: list[Exchange] = []
        capture = CaptureBus(self.clock.callLater)
        capture.subscribe(self.delivered.append)
        self.service = LabService(parse_lab(LAB.format(faults=faults)), load_registry(), capture,
                                  clock=lambda: 1_767_225_600.0)

    @property
    def records(self) -> list[Exchange]:
        """The records captured so far (the bus delivers them in a later turn)."""
        self.clock.advance(0)
        return self.delivered

    def connect(self, factory: Any) -> tuple[Any, StringTransport]:
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
        inner = protocol.wrappedProtocol if isinstance(protocol, FaultyConnection) else protocol
        inner.callLater = self.clock.callLater
        inner.seconds = self.clock.seconds
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 50000))
        protocol.makeConnection(transport)
        return protocol, transport


def frames(transport: StringTransport) -> list[Any]:
    out = HdlcDecoder().feed(transport.value())
    transport.clear()
    return out


def test_inactivity_ends_the_link_and_a_partial_frame_expires() -> None:
    peer = Peer()
    meter = peer.service.factories["own-0"]
    server = Address(1, 17, 2)
    protocol, transport = peer.connect(meter)
    protocol.dataReceived(encode_frame(server, CLIENT, SNRM | POLL_FINAL))
    assert [control_name(f.control) for f in frames(transport)] == ["UA"]
    protocol.dataReceived(encode_frame(server, CLIENT, i_control(0, 0, True), LLC_REQUEST + AARQ))
    (aare,) = frames(transport)
    assert acse.decode_aare(aare.information[3:]).result == 0
    protocol.dataReceived(encode_frame(server, CLIENT, i_control(1, 1, True), LLC_REQUEST + GET_SERIAL)[:10])
    peer.clock.advance(1.0)  # the inter-frame timeout drops the partial frame
    assert peer.records[-1].kind == "malformed" and len(peer.records[-1].request) == 10
    peer.clock.advance(29.0)  # 30 s after the last whole frame the link is down
    assert peer.records[-1].result == "inactivity-timeout" and protocol.links == {}
    protocol.dataReceived(encode_frame(server, CLIENT, i_control(1, 1, True), LLC_REQUEST + GET_SERIAL))
    assert [control_name(f.control) for f in frames(transport)] == ["DM"]
    assert not peer.clock.getDelayedCalls() or all(c.active() for c in peer.clock.getDelayedCalls())


def test_a_gateway_routes_by_physical_address_and_limits_each_meters_clients() -> None:
    peer = Peer()
    gateway = peer.service.gateways["bus"]
    first, first_transport = peer.connect(gateway)
    second, second_transport = peer.connect(gateway)
    for physical in (40, 42):
        server = Address(1, physical, 2)
        first.dataReceived(encode_frame(server, CLIENT, SNRM | POLL_FINAL)
                           + encode_frame(server, CLIENT, i_control(0, 0, True), LLC_REQUEST + AARQ)
                           + encode_frame(server, CLIENT, i_control(1, 1, True), LLC_REQUEST + GET_SERIAL))
        ua, aare, serial = frames(first_transport)
        assert serial.information[3:] == serial_answer(str(1000002 + physical - 40).encode())
        assert serial.source == server
    assert peer.service.factories["bus-0"].connections == 1
    # max_clients = 1: a second link to bus-0 is refused, one to bus-1 is not.
    second.dataReceived(encode_frame(Address(1, 40, 2), CLIENT, SNRM | POLL_FINAL))
    assert frames(second_transport) == [] and peer.records[-1].result == "refused-max-clients"
    second.dataReceived(encode_frame(Address(1, 41, 2), CLIENT, SNRM | POLL_FINAL))
    assert [control_name(f.control) for f in frames(second_transport)] == ["UA"]
    # Frames to no meter of the bus, or to another logical device, get nothing.
    second.dataReceived(encode_frame(Address(1, 43, 2), CLIENT, SNRM | POLL_FINAL)
                        + encode_frame(Address(2, 41, 2), CLIENT, SNRM | POLL_FINAL))
    assert frames(second_transport) == []
    assert [r.result for r in peer.records[-2:]] == ["no-such-physical-device", "no-such-logical-device"]
    first.dataReceived(encode_frame(Address(1, 40, 2), CLIENT, DISC | POLL_FINAL))
    assert [control_name(f.control) for f in frames(first_transport)] == ["UA"]
    assert peer.service.factories["bus-0"].connections == 0
    first.connectionLost()
    assert peer.service.factories["bus-2"].connections == 0


def test_an_offline_meter_behind_the_gateway_does_not_answer() -> None:
    peer = Peer()
    peer.service.reconfigure("bus-1", {"state": "offline"})
    protocol, transport = peer.connect(peer.service.gateways["bus"])
    protocol.dataReceived(encode_frame(Address(1, 41, 2), CLIENT, SNRM | POLL_FINAL))
    assert frames(transport) == []
    peer.service.reconfigure("bus-1", {"state": "online"})
    protocol.dataReceived(encode_frame(Address(1, 41, 2), CLIENT, SNRM | POLL_FINAL))
    assert [control_name(f.control) for f in frames(transport)] == ["UA"]


def test_a_meter_behind_a_gateway_keeps_the_groups_faults() -> None:
    with pytest.raises(ReconfigureError, match="the group's faults in lab.ini apply"):
        Peer().service.reconfigure("bus-0", {"faults": "drop:0.5"})


def test_faults_drop_whole_hdlc_requests() -> None:
    peer = Peer("faults = drop:1.0")
    protocol, transport = peer.connect(peer.service.gateways["bus"])
    assert isinstance(protocol, FaultyConnection)
    server = Address(1, 40, 2)
    protocol.dataReceived(encode_frame(server, CLIENT, SNRM | POLL_FINAL))
    assert [control_name(f.control) for f in frames(transport)] == ["UA"]  # only requests are lost
    protocol.dataReceived(encode_frame(server, CLIENT, i_control(0, 0, True), LLC_REQUEST + AARQ))
    assert frames(transport) == []
    assert (peer.records[-1].kind, peer.records[-1].result) == ("aarq", "fault-drop")
    protocol.dataReceived(encode_frame(server, CLIENT, s_control(RR, 0, True)))
    assert [control_name(f.control) for f in frames(transport)] == ["RR"]


def test_the_dissector_reads_any_cut_of_hdlc_frames() -> None:
    stream = b"".join(PUBLIC_FRAMES)
    assert not dissect_frame(stream).errors()
    for cut in range(1, len(stream)):
        tree = dissect_frame(stream[:cut])  # never raises; a cut frame ends in an error
        assert tree.errors() or cut in {sum(map(len, PUBLIC_FRAMES[:n])) for n in range(1, 4)}


def test_a_segmented_apdu_is_dissected_reassembled() -> None:
    server = Address(1, 17, 2)
    message = LLC_REQUEST + AARQ
    segments = [message[start:start + 20] for start in range(0, len(message), 20)]
    stream = b"".join(encode_frame(server, CLIENT, i_control(index, 0, True), piece, index < len(segments) - 1)
                      for index, piece in enumerate(segments))
    tree = dissect_frame(stream)
    assert not tree.errors()
    assert tree.meaning.startswith(f"{len(segments)} HDLC frames: A-ASSOCIATE request")
    last = tree.children[-1]
    (reassembled,) = [c for c in last.children if c.name == "reassembled"]
    assert reassembled.children[0].name == "aarq" and reassembled.length == len(AARQ)
    assert [c.name for c in tree.children[0].children][6:8] == ["llc", "segment"]


FUZZ_PEER = Peer()
FUZZ_ADDRESSES = [Address(1, 17, 2), Address(1, None, 1), Address(1, 40, 2), Address(2, 17, 2), Address(1, 17, 4)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.sampled_from(FUZZ_ADDRESSES), st.integers(0, 255), st.binary(max_size=40), st.booleans()),
    st.binary(max_size=30)), max_size=12))
def test_any_frames_get_the_standards_answers_never_a_traceback(items: list[Any]) -> None:
    """Random control fields, information and garbage: every answer is a well-formed frame
    from the meter's address to the client, and the connection stays up."""
    meter = FUZZ_PEER.service.factories["own-0"]
    protocol, transport = FUZZ_PEER.connect(meter)
    stream = b"".join(item if isinstance(item, bytes) else
                      encode_frame(item[0], CLIENT, item[1], item[2], item[3]) for item in items)
    with_session = encode_frame(Address(1, 17, 2), CLIENT, SNRM | POLL_FINAL) + stream
    protocol.dataReceived(with_session)
    for answer in frames(transport):
        assert isinstance(answer, Frame) and answer.destination == CLIENT
        assert answer.source in FUZZ_ADDRESSES
    assert not transport.disconnecting
    protocol.connectionLost()


def test_a_ninth_link_on_one_connection_closes_it_and_a_disconnected_link_frees_its_place() -> None:
    peer = Peer()
    protocol, transport = peer.connect(peer.service.factories["own-0"])
    server = Address(1, 17, 2)
    for client in range(16, 24):
        protocol.dataReceived(encode_frame(server, Address(client, None, 1), SNRM | POLL_FINAL))
    assert len(frames(transport)) == 8 and len(protocol.links) == 8
    protocol.dataReceived(encode_frame(server, Address(16, None, 1), DISC | POLL_FINAL))
    protocol.dataReceived(encode_frame(server, Address(30, None, 1), SNRM | POLL_FINAL))
    assert [control_name(f.control) for f in frames(transport)] == ["UA", "UA"] and not transport.disconnecting
    protocol.dataReceived(encode_frame(server, Address(31, None, 1), SNRM | POLL_FINAL))
    assert transport.disconnecting

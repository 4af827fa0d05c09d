"""The client simulator: ``ClientSession`` against public vectors, the Twisted
protocol on a fake transport, and ``dlmstw-client read`` / ``campaign``
against a running lab, checked with gurux-dlms as the independent reader.

Vector sources (tests/vectors/public-vectors.md, which names the public test
suites: [U] u9n/dlms-cosem tests, [C] Connexo, [G] gvtret/gosem), the paper's
figure 4 AARE (tests/vectors/acse.json) and the long datablocks of
tests/vectors/appendix-datablocks.txt. Hex re-typed from the .md tables is
checked to appear in that file.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric, GXDLMSRegister
from interop_support import FakeMeter, MeterSession, find_free_port_range, launch_lab, stop_lab, to_utc
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

import dlmstw
from dlmstw.client.campaign import Meter, parse_meter_list, parse_meters
from dlmstw.client.cli import main
from dlmstw.client.present import plain
from dlmstw.client import reading
from dlmstw.client.protocol import ConnectionClosed, DlmsClientProtocol, ResponseTimeout, ServiceRefused
from dlmstw.client.reading import Target, classes_from_object_list, clock_column, parse_target, range_access
from dlmstw.client.session import (
    Associated,
    AssociationRejected,
    ClientProtocolError,
    ClientSession,
    ClientState,
    GetComplete,
    Released,
    ServiceFailed,
)
from dlmstw.codec.axdr import CosemDateTime, encode_data
from dlmstw.codec.services import CosemAttributeDescriptor, GetResponseWithDatablock, encode_response
from dlmstw.enums import AssociationResult, Conformance, DataAccessResult, DataType, ServiceError, StateError
from dlmstw.errors import DecodeError
from dlmstw.framing.wrapper import encode_wpdu
from dlmstw.plugins.registry import load_registry

VECTORS = Path(__file__).parent / "vectors"
PUBLIC = (VECTORS / "public-vectors.md").read_text()
ACSE = json.loads((VECTORS / "acse.json").read_text())
DATABLOCKS = [line for line in (VECTORS / "appendix-datablocks.txt").read_text().splitlines()
              if line and not line.startswith("#")]


def public(hex_text: str) -> bytes:
    """Bytes of a hex vector re-typed from public-vectors.md; it must be printed there."""
    assert hex_text in PUBLIC, f"{hex_text} is not in public-vectors.md"
    return bytes.fromhex(hex_text)


# 3.3 AARQ / AARE pairs ([U] test_aarq.py / test_aare.py, [C] AssociationControlServiceElementTest.java)
AARQ_NONE = "601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0"
AARQ_LLS = ("6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738"
            "BE10040E01000000065F1F0400007E1F04B0")
AARE_ACCEPTED = "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"
AARE_WRONG_PASSWORD = "6129A109060760857405080101A203020101A305A10302010DBE10040E0800065F1F040000101400800007"
AARE_DLMS_VERSION = "611FA109060760857405080101A203020101A305A103020101BE0604040E010601"
# 3.4 GET ([U] test_xdlms/test_get.py)
GET_SERIAL_REQUEST = "C001C1000100002B0100FF0200"
GET_RESPONSE_5009 = "C401C1000600001391"
GET_RESPONSE_HARDWARE_FAULT = "C401C10101"
GET_NEXT_1 = "C002C100000001"
GET_WITH_LIST_REQUEST = "C003C102000100002A0000FF020000080000010000FF0200"
GET_WITH_LIST_RESPONSE = "C403C10200091049534B3130333037373737363433363600090C07E50603040E091700FFC400"
GET_WITH_LIST_NINE = ("C403C109001200320012000000120000001200000012000000120000001208FE000207060190560B1203261111"
                      "11021200F01200011200000002051202D0120CA8111811200FC0")
# 3.8 RLRQ / RLRE / exception ([G] client_test.go)
RLRQ_NORMAL = "6203800100"
RLRE_NORMAL = "6303800100"

LLS = load_registry().mechanisms["lls"]
SERIAL_ATTRIBUTE = CosemAttributeDescriptor(1, bytes((0, 0, 43, 1, 0, 255)), 2)
LIST_ITEMS = ((CosemAttributeDescriptor(1, bytes((0, 0, 42, 0, 0, 255)), 2), None),
              (CosemAttributeDescriptor(8, bytes((0, 0, 1, 0, 0, 255)), 2), None))


def associated(conformance: int = 0x007E1F) -> ClientSession:
    session = ClientSession(16, conformance=Conformance(conformance), max_receive_pdu_size=0x04B0)
    session.request_association()
    session.next_request()
    assert isinstance(session.receive(public(AARE_ACCEPTED)), Associated)
    return session


def getting(items: int = 1) -> ClientSession:
    session = associated()
    if items == 1:
        session.request_get(SERIAL_ATTRIBUTE)
    else:
        session.request_get_with_list(tuple((SERIAL_ATTRIBUTE, None) for _ in range(items)))
    session.next_request()
    return session


# --------------------------------------------------------------------------- association


def test_aarq_without_authentication_is_the_public_one() -> None:
    session = ClientSession(16, conformance=Conformance(0x007E1F), max_receive_pdu_size=0x04B0)
    assert session.next_request() is None
    session.request_association()
    assert session.next_request() == public(AARQ_NONE)
    assert session.next_request() is None and session.state is ClientState.ASSOCIATING


def test_aarq_with_lls_is_the_public_one() -> None:
    session = ClientSession(32, LLS, b"12345678", conformance=Conformance(0x007E1F),
                            max_receive_pdu_size=0x04B0)
    session.request_association()
    assert session.next_request() == public(AARQ_LLS)


def test_lls_needs_a_password() -> None:
    with pytest.raises(ValueError):
        ClientSession(32, LLS)


def test_accepted_aare_gives_the_negotiated_context() -> None:
    session = associated()
    assert session.state is ClientState.ASSOCIATED
    assert session.negotiated is not None
    assert session.negotiated.conformance == Conformance(0x00501F)
    assert (session.negotiated.server_max_receive_pdu_size, session.negotiated.dlms_version) == (500, 6)


def test_the_papers_aare_is_accepted() -> None:
    frame = bytes.fromhex(ACSE["paper_figure4_aare_wrapped"]["hex"])
    session = ClientSession(32, LLS, b"ABCD0001")
    session.request_association()
    event = session.receive(frame[8:])
    assert isinstance(event, Associated)
    assert event.aare.responding_ap_title == bytes.fromhex("4D4D4D0000BC614E")
    assert (event.conformance, event.server_max_receive_pdu_size) == (Conformance(0x00501F), 500)


def test_wrong_password_is_a_rejection() -> None:
    session = ClientSession(32, LLS, b"00000001")
    session.request_association()
    event = session.receive(public(AARE_WRONG_PASSWORD))
    assert isinstance(event, AssociationRejected)
    assert (event.result, event.result_source_diagnostic, event.error) == (
        AssociationResult.REJECTED_PERMANENT, (1, 13), None)
    assert session.state is ClientState.IDLE


def test_rejection_with_a_confirmed_service_error() -> None:
    session = ClientSession(16)
    session.request_association()
    event = session.receive(public(AARE_DLMS_VERSION))
    assert isinstance(event, AssociationRejected) and event.error is not None
    assert (int(event.error.service), int(event.error.error), event.error.value) == (1, 6, 1)


@pytest.mark.parametrize("vector", [AARE_ACCEPTED, AARE_WRONG_PASSWORD, AARE_DLMS_VERSION])
def test_truncated_aare_at_every_byte_is_a_decode_error(vector: str) -> None:
    whole = public(vector)
    for cut in range(len(whole)):
        session = ClientSession(16)
        session.request_association()
        with pytest.raises(DecodeError):
            session.receive(whole[:cut])
        assert session.state is ClientState.FAILED


def test_aare_with_a_wrong_length_or_tag_is_a_decode_error() -> None:
    whole = bytearray(public(AARE_ACCEPTED))
    for mutate in ((1, 0x30), (1, 0x20), (0, 0x62)):
        broken = bytearray(whole)
        broken[mutate[0]] = mutate[1]
        session = ClientSession(16)
        session.request_association()
        with pytest.raises(DecodeError):
            session.receive(bytes(broken))


def test_requests_out_of_turn_are_refused() -> None:
    session = ClientSession(16)
    with pytest.raises(ClientProtocolError):
        session.request_get(SERIAL_ATTRIBUTE)
    with pytest.raises(ClientProtocolError):
        session.request_release()
    with pytest.raises(ClientProtocolError):
        session.receive(public(AARE_ACCEPTED))
    session = associated()
    with pytest.raises(ClientProtocolError):
        session.request_association()
    with pytest.raises(ValueError):
        session.request_get_with_list(())


# --------------------------------------------------------------------------- GET


def test_get_normal_request_and_response_are_the_public_ones() -> None:
    session = associated()
    session.request_get(SERIAL_ATTRIBUTE)
    assert session.next_request() == public(GET_SERIAL_REQUEST)
    assert session.receive(public(GET_RESPONSE_5009)) == GetComplete(((DataType.DOUBLE_LONG_UNSIGNED, 5009),), 0)
    assert session.state is ClientState.ASSOCIATED


def test_get_normal_with_a_data_access_result() -> None:
    session = getting()
    assert session.receive(public(GET_RESPONSE_HARDWARE_FAULT)) == GetComplete((DataAccessResult.HARDWARE_FAULT,), 0)


def test_get_with_list_request_and_responses_are_the_public_ones() -> None:
    session = associated()
    session.request_get_with_list(LIST_ITEMS)
    assert session.next_request() == public(GET_WITH_LIST_REQUEST)
    event = session.receive(public(GET_WITH_LIST_RESPONSE))
    assert event == GetComplete(((DataType.OCTET_STRING, b"ISK1030777764366"),
                                 (DataType.OCTET_STRING, bytes.fromhex("07E50603040E091700FFC400"))), 0)
    nine = getting(9).receive(public(GET_WITH_LIST_NINE))
    assert isinstance(nine, GetComplete) and len(nine.values) == 9
    assert nine.values[0] == (DataType.LONG_UNSIGNED, 50) and nine.values[6] == (DataType.LONG_UNSIGNED, 2302)
    assert nine.values[8] == (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 720), (DataType.LONG_UNSIGNED, 3240),
                                                   (DataType.UNSIGNED, 24), (DataType.UNSIGNED, 32),
                                                   (DataType.INTEGER, -64)])


def test_answer_with_another_invoke_id_is_refused() -> None:
    session = associated()
    session.request_get_with_list(LIST_ITEMS)
    session.next_request()
    session.receive(public(GET_WITH_LIST_RESPONSE))
    session.request_get_with_list(LIST_ITEMS)
    session.next_request()
    with pytest.raises(ClientProtocolError):
        session.receive(public(GET_WITH_LIST_RESPONSE))  # still invoke-id 1
    assert session.state is ClientState.FAILED


def test_result_count_must_match_the_list() -> None:
    with pytest.raises(ClientProtocolError):
        getting(3).receive(public(GET_WITH_LIST_RESPONSE))


def test_public_datablock_is_followed_with_get_request_next() -> None:
    """Appendix A1: block 1, not last -> GET-Request-Next for block 1 (3.4); then A2 (block 0x13) is out of order."""
    session = getting()
    assert session.receive(bytes.fromhex(DATABLOCKS[0])) is None
    assert session.next_request() == public(GET_NEXT_1)
    assert session.state is ClientState.GETTING
    with pytest.raises(ClientProtocolError):
        session.receive(bytes.fromhex(DATABLOCKS[1]))


def _blocks(data: bytes, size: int, invoke: int = 0xC1) -> list[bytes]:
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    return [encode_response(GetResponseWithDatablock(invoke, n == len(pieces), n, piece))
            for n, piece in enumerate(pieces, 1)]


def test_datablocks_are_reassembled() -> None:
    """The A1 raw data's first rows (Green Book 9.4.6.4: blocks numbered from 1, each asked for by number)."""
    value = (DataType.ARRAY, [(DataType.DOUBLE_LONG_UNSIGNED, n) for n in range(60)])
    session = getting()
    frames = _blocks(encode_data(value), 100)
    for number, frame in enumerate(frames[:-1], 1):
        assert session.receive(frame) is None
        assert session.next_request() == bytes.fromhex(f"C002C1{number:08X}")
    assert session.receive(frames[-1]) == GetComplete((value,), len(frames))
    listed = getting(2)
    raw = b"\x02\x00" + encode_data(value) + b"\x01\x04"
    frames = _blocks(raw, 50)
    for frame in frames[:-1]:
        assert listed.receive(frame) is None and listed.next_request() is not None
    assert listed.receive(frames[-1]) == GetComplete((value, DataAccessResult.OBJECT_UNDEFINED), len(frames))


def test_last_block_with_a_data_access_result() -> None:
    """[U] 'last block carrying data-access-result 1', renumbered as the first block of this GET."""
    public("C402C101000000130101")
    assert getting().receive(bytes.fromhex("C402C101000000010101")) == GetComplete((DataAccessResult.HARDWARE_FAULT,), 1)


@pytest.mark.parametrize("vector", [GET_RESPONSE_5009, GET_WITH_LIST_RESPONSE, "C402C101000000130101"])
def test_truncated_get_responses_are_decode_errors(vector: str) -> None:
    whole = public(vector)
    items = 2 if whole[1] == 3 else 1
    for cut in range(len(whole)):
        session = getting(items)
        with pytest.raises(DecodeError):
            session.receive(whole[:cut])
        assert session.state is ClientState.FAILED


@pytest.mark.parametrize("apdu", ["FF01C100", "C409C100", "C401C10200", "C401C1000600001391FF", "0E0103"])
def test_unknown_tags_choices_and_trailing_bytes_are_decode_errors(apdu: str) -> None:
    with pytest.raises(DecodeError):
        getting().receive(bytes.fromhex(apdu))


def test_exception_and_confirmed_service_error_fail_the_service() -> None:
    event = getting().receive(public("D80101"))
    assert isinstance(event, ServiceFailed)
    assert (event.error.state_error, event.error.service_error) == (StateError.SERVICE_NOT_ALLOWED,
                                                                   ServiceError.OPERATION_NOT_POSSIBLE)
    session = getting()
    assert isinstance(session.receive(public("0E010302")), ServiceFailed)
    assert session.state is ClientState.ASSOCIATED


def test_release_is_the_public_rlrq() -> None:
    session = associated()
    session.request_release()
    assert session.next_request() == public(RLRQ_NORMAL)
    assert session.receive(public(RLRE_NORMAL)) == Released(0)
    assert session.state is ClientState.RELEASED
    session = associated()
    session.request_release()
    assert session.receive(public("6300")) == Released(None)


# --------------------------------------------------------------------------- targets and values


def test_targets_parse() -> None:
    assert parse_target("1.0.99.1.0.255:2") == Target(bytes((1, 0, 99, 1, 0, 255)), 2)
    assert parse_target("3/1-0:32.7.0*255:3") == Target(bytes((1, 0, 32, 7, 0, 255)), 3, 3)
    for bad in ("1.0.99.1.0.255", "x/1.0.99.1.0.255:2", "1.0.99.1.0.255:0", "1.0.99.1.0:2", "1.0.99.1.0.255:a"):
        with pytest.raises(ValueError):
            parse_target(bad)
    with pytest.raises(LookupError):
        Target(bytes(6), 2).descriptor()


def test_meters_parse() -> None:
    assert parse_meters("127.0.0.1:4059-4061") == [Meter("127.0.0.1", p) for p in (4059, 4060, 4061)]
    assert parse_meters("localhost:4059") == [Meter("localhost", 4059)]
    for bad in ("4059", "127.0.0.1:4061-4059", "127.0.0.1:0", "127.0.0.1:a-b", ":4059"):
        with pytest.raises(ValueError):
            parse_meters(bad)
    assert parse_meter_list("127.0.0.2:4059-4060, 127.0.0.3:4059-4060") == [
        Meter(host, port) for host in ("127.0.0.2", "127.0.0.3") for port in (4059, 4060)]


CLOCK_COLUMN = (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 8), (DataType.OCTET_STRING, bytes((0, 0, 1, 0, 0, 255))),
                                     (DataType.INTEGER, 2), (DataType.LONG_UNSIGNED, 0)])


def test_range_descriptor_bytes() -> None:
    """Blue Book 4.3.6 range_descriptor: {restricting object, from, to, selected_values (empty = all)}."""
    start = CosemDateTime.from_bytes(bytes.fromhex("07E40101FF00030000FF8800"))  # 3.6 [U] test_time.py
    access = range_access(CLOCK_COLUMN, start, None)
    assert access.selector == 1
    assert encode_data(access.parameters).hex().upper() == (
        "0204" "0204" "120008" "09060000010000FF" "0F02" "120000"
        "090C" "07E40101FF00030000FF8800" "090C" "FFFFFFFFFFFFFFFFFF8000FF" "0100")
    assert clock_column((DataType.ARRAY, [CLOCK_COLUMN])) == CLOCK_COLUMN == reading.CLOCK_COLUMN
    assert clock_column((DataType.ARRAY, [])) is None


def test_object_list_gives_classes() -> None:
    entry = (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 7), (DataType.UNSIGNED, 1),
                                  (DataType.OCTET_STRING, bytes((1, 0, 99, 1, 0, 255))), (DataType.STRUCTURE, [])])
    assert classes_from_object_list((DataType.ARRAY, [entry, (DataType.NULL_DATA, None)])) == {
        bytes((1, 0, 99, 1, 0, 255)): 7}


def test_values_print_plainly() -> None:
    """3.6 date-time vectors ([U] tests/test_time.py) as ISO; printable octet-strings as text."""
    assert plain((DataType.OCTET_STRING, bytes.fromhex("07E40101FF00030000FF8800"))) == "2020-01-01T00:03:00+02:00"
    assert plain((DataType.OCTET_STRING, bytes.fromhex("07E2020CFF00000000800000"))) == "2018-02-12T00:00:00"
    assert plain((DataType.DATE_TIME, bytes.fromhex("FFFFFFFFFFFFFFFFFF800008"))) == "ffffffffffffffffff800008"
    assert plain((DataType.OCTET_STRING, b"ISK1030777764366")) == "ISK1030777764366"
    assert plain((DataType.OCTET_STRING, b"\x00\x01")) == "0001"
    assert plain((DataType.STRUCTURE, [(DataType.LONG, -5), (DataType.NULL_DATA, None)])) == [-5, None]


# --------------------------------------------------------------------------- the protocol


def _protocol(timeout: float = 5.0) -> tuple[DlmsClientProtocol, StringTransport, Clock]:
    clock = Clock()
    protocol = DlmsClientProtocol(ClientSession(16, max_receive_pdu_size=0x04B0,
                                                conformance=Conformance(0x007E1F)), clock, timeout)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport, clock


def test_protocol_frames_and_follows_blocks_byte_by_byte() -> None:
    protocol, transport, clock = _protocol()
    outcomes: list[Any] = []
    protocol.associate().addCallback(outcomes.append)
    assert transport.value() == encode_wpdu(16, 1, public(AARQ_NONE))
    for octet in encode_wpdu(1, 16, public(AARE_ACCEPTED)):
        protocol.dataReceived(bytes((octet,)))
    assert isinstance(outcomes.pop(), Associated)
    transport.clear()
    value = (DataType.OCTET_STRING, bytes(300))
    protocol.get(SERIAL_ATTRIBUTE).addCallback(outcomes.append)
    frames = _blocks(encode_data(value), 120)
    protocol.dataReceived(encode_wpdu(1, 16, frames[0]))
    protocol.dataReceived(encode_wpdu(1, 16, frames[1]) + encode_wpdu(1, 16, frames[2]))
    assert outcomes == [value]
    assert transport.value() == encode_wpdu(16, 1, public(GET_SERIAL_REQUEST)) + b"".join(
        encode_wpdu(16, 1, bytes.fromhex(f"C002C1{n:08X}")) for n in (1, 2))
    assert clock.getDelayedCalls() == []


def test_protocol_times_out_and_aborts() -> None:
    protocol, transport, clock = _protocol(timeout=2.0)
    failures: list[Any] = []
    protocol.associate().addErrback(failures.append)
    clock.advance(1.9)
    assert not failures
    clock.advance(0.2)
    assert failures[0].check(ResponseTimeout) and transport.disconnecting


def test_protocol_refusals_and_wrong_ports_fail_the_deferred() -> None:
    protocol, transport, _ = _protocol()
    protocol.associate()
    protocol.dataReceived(encode_wpdu(1, 16, public(AARE_ACCEPTED)))
    failures: list[Any] = []
    protocol.get(SERIAL_ATTRIBUTE).addErrback(failures.append)
    protocol.dataReceived(encode_wpdu(1, 16, public("D80101")))
    assert failures.pop().check(ServiceRefused)
    protocol.get(SERIAL_ATTRIBUTE).addErrback(failures.append)
    protocol.dataReceived(encode_wpdu(1, 17, public(GET_RESPONSE_5009)))
    assert failures.pop().check(ClientProtocolError) and transport.disconnecting


def test_connection_lost_fails_the_request() -> None:
    protocol, _, clock = _protocol()
    failures: list[Any] = []
    protocol.associate().addErrback(failures.append)
    protocol.connectionLost()
    assert failures[0].check(ConnectionClosed) and clock.getDelayedCalls() == []


# --------------------------------------------------------------------------- against a running lab

METERS = 3


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, int]]:
    directory = tmp_path_factory.mktemp("client-lab")
    port = find_free_port_range(METERS + 1)
    ini = (f"[simulator]\nconsole = tcp:{port + METERS}:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
           "packet_log = -\n\n"
           f"[meters:abt]\ncount = {METERS}\nport = {port}\nload_profile_interval = 15\nload_profile_days = 2\n\n"
           "[association:public]\nclient_sap = 16\n\n"
           "[association:reader]\nclient_sap = 32\nauthentication = lls\nlls_password = ABCD0001\n")
    running = launch_lab(directory, ini, tuple(range(port, port + METERS + 1)))
    try:
        yield running, port
    finally:
        stop_lab(running)


READER = ["--client", "32", "--auth", "lls", "--password", "ABCD0001"]


def test_read_matches_gurux(lab: tuple[Any, int], capsys: pytest.CaptureFixture[str]) -> None:
    _, port = lab
    assert main(["read", f"127.0.0.1:{port + 1}", *READER, "0.0.1.0.0.255:2", "0.0.96.1.0.255:2",
                 "1.0.32.7.0.255:2", "--json"]) == 0
    readings = json.loads(capsys.readouterr().out)["readings"]
    assert [r["target"] for r in readings] == ["8/0.0.1.0.0.255:2", "1/0.0.96.1.0.255:2", "3/1.0.32.7.0.255:2"]
    ours = datetime.datetime.fromisoformat(readings[0]["value"])
    voltage_register = GXDLMSRegister("1.0.32.7.0.255")
    with MeterSession(port + 1, 32, "ABCD0001") as session:
        theirs = to_utc(session.read(GXDLMSClock("0.0.1.0.0.255"), 2), -ours.utcoffset())
        serial = bytes(session.read_raw(GXDLMSData("0.0.96.1.0.255"), 2)).decode()
        session.read(voltage_register, 3)
        scaled_by_gurux = session.read(voltage_register, 2)
    assert abs(ours - theirs) < datetime.timedelta(seconds=5)
    assert readings[1]["value"] == serial == "1000002"
    voltage = readings[2]
    assert (voltage["scaler"], voltage["unit"], voltage["name"]) == (-2, "V", "Voltage L1")
    assert voltage["value"] == pytest.approx(voltage["raw"] / 100) and 40 < voltage["value"] < 80
    # The simulated voltage moves with time: the two reads are a moment apart.
    assert voltage["value"] == pytest.approx(scaled_by_gurux, rel=0.05)


def _profile_window(port: int, capsys: pytest.CaptureFixture[str],
                    length: datetime.timedelta) -> tuple[datetime.datetime, datetime.datetime, datetime.timedelta]:
    """A window of whole 15-minute periods, ``length`` long, ending 30 minutes before the meter's now."""
    assert main(["read", f"127.0.0.1:{port}", "0.0.1.0.0.255:2", "--json"]) == 0
    now = datetime.datetime.fromisoformat(json.loads(capsys.readouterr().out)["readings"][0]["value"])
    end = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) - datetime.timedelta(minutes=30)
    offset = now.utcoffset()
    assert offset is not None
    return end - length, end, offset


def _gurux_rows(port: int, start: datetime.datetime, end: datetime.datetime, offset: datetime.timedelta,
                scaled: bool) -> list[list[Any]]:
    """The profile window as gurux reads it; with ``scaled``, gurux applies each register column's scaler."""
    profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
    with MeterSession(port) as session:
        session.read(profile, 3)
        if scaled:
            for column, _ in profile.captureObjects:
                if isinstance(column, GXDLMSRegister):
                    session.read(column, 3)
        rows = session.read_rows_by_range(profile, start, end)
    return [[to_utc(row[0], offset), *row[1:]] for row in rows]


def test_a_one_day_profile_window_matches_gurux_scaled(lab: tuple[Any, int],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _, port = lab
    start, end, offset = _profile_window(port, capsys, datetime.timedelta(days=1))
    assert main(["read", f"127.0.0.1:{port}", "1.0.99.1.0.255:2", "--max-pdu", "512", "--json",
                 "--from", start.isoformat(), "--to", end.isoformat()]) == 0
    reading = json.loads(capsys.readouterr().out)["readings"][0]
    columns = reading["columns"]
    assert columns[0] == {"target": "8/0.0.1.0.0.255:2", "name": "Clock"}
    assert columns[1] == {"target": "3/1.0.32.27.0.255:2", "name": "Average voltage L1 [V]", "scaler": -2,
                          "unit": "V"}
    assert len(reading["rows"]) == 97
    theirs = _gurux_rows(port, start, end, offset, scaled=True)
    assert [row[0] for row in theirs] == [
        datetime.datetime.fromisoformat(row[0]).astimezone(datetime.UTC) for row in reading["rows"]]
    for mine, gurux in zip(reading["rows"], theirs):
        assert mine[1:] == pytest.approx(gurux[1:], rel=1e-9)
    assert any(isinstance(cell, float) for row in reading["rows"] for cell in row[1:])


def test_raw_profile_rows_match_gurux_unscaled(lab: tuple[Any, int], capsys: pytest.CaptureFixture[str]) -> None:
    _, port = lab
    start, end, offset = _profile_window(port, capsys, datetime.timedelta(hours=2))
    assert main(["read", f"127.0.0.1:{port}", "1.0.99.1.0.255:2", "--max-pdu", "256", "--json", "--raw",
                 "--from", start.isoformat(), "--to", end.isoformat()]) == 0
    reading = json.loads(capsys.readouterr().out)["readings"][0]
    assert "scaler" not in reading["columns"][1] and len(reading["rows"]) == 9
    theirs = _gurux_rows(port, start, end, offset, scaled=False)
    assert [row[1:] for row in theirs] == [row[1:] for row in reading["rows"]]


def test_an_empty_window_says_which_window_the_profile_holds(lab: tuple[Any, int],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, port = lab
    assert main(["read", f"127.0.0.1:{port}", "1.0.99.1.0.255:2", "--from", "2024-05-01T00:00",
                 "--to", "2024-05-01T06:00"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("7/1.0.99.1.0.255:2  0 rows from 2024-05-01T00:00:00 to 2024-05-01T06:00:00: "
                           "the profile holds "), line
    first, last = line.strip().split("the profile holds ")[1].split(" to ")
    held = datetime.datetime.fromisoformat(last) - datetime.datetime.fromisoformat(first)
    assert datetime.timedelta(days=1) < held <= datetime.timedelta(days=2)  # load_profile_days = 2


def test_read_as_a_subprocess_in_text(lab: tuple[Any, int]) -> None:
    _, port = lab
    result = subprocess.run([sys.executable, "-m", "dlmstw.client.cli", "read", f"127.0.0.1:{port + 2}",
                             "0.0.96.1.0.255:2", "3/0.0.96.1.0.255:2", "1.0.1.8.0.255:2"],
                            check=False, capture_output=True, text=True, timeout=30)
    lines = result.stdout.splitlines()
    assert result.returncode == 5, result.stderr
    assert lines[0] == '1/0.0.96.1.0.255:2  "1000003"'
    assert lines[1] == "3/0.0.96.1.0.255:2  !! object-class-inconsistent"
    assert lines[2].startswith("3/1.0.1.8.0.255:2  ") and lines[2].endswith(" Wh")


def test_read_failures_are_one_line_with_the_standards_names(lab: tuple[Any, int],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, port = lab
    meter = f"127.0.0.1:{port}"
    assert main(["read", meter, "--client", "32", "--auth", "lls", "--password", "WRONG", "0.0.1.0.0.255:2"]) == 4
    assert capsys.readouterr().err == f"dlmstw-client read: {meter}: association rejected: authentication-failure\n"
    assert main(["read", meter, "--client", "32", "--auth", "lls", "--password", "WRONG", "0.0.1.0.0.255:2",
                 "--json"]) == 4
    assert json.loads(capsys.readouterr().out)["error"] == "association-rejected:authentication-failure"
    assert main(["read", meter, "--client", "32", "--auth", "lls", "0.0.1.0.0.255:2"]) == 2
    assert main(["read", meter, "9.9.9.9.9.9:2", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["readings"][0]["error"].startswith("not in the object list") and "error" in document
    assert main(["read", meter, "3/0.0.96.1.0.255:2", "--json"]) == 5
    assert json.loads(capsys.readouterr().out)["error"] == "data-access-result:object-class-inconsistent"
    assert main(["read", "127.0.0.1:1", "0.0.1.0.0.255:2", "--json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "connect-refused" and len(captured.err.splitlines()) == 1


@pytest.mark.parametrize(("arguments", "message"), [
    (["--key", "0011"], "--key: 2 octets, but security suite 0 uses 16-byte keys"),
    (["--key", "00112233"], "--key: 4 octets, but security suite 0 uses 16-byte keys"),
    (["--key", "xyz"], "argument --key: not hex: 'xyz'"),
    (["--client", "300"], "argument --client: expected a client SAP 1..127, not '300'"),
    (["--timeout", "soon"], "argument --timeout: 'soon': expected a duration"),
    (["--timeout", "0"], "--timeout: must be more than 0 seconds"),
    (["--system-title", "0102", "--context", "ln-ciphered"], "--system-title: 2 octets, but a system title has 8"),
])
def test_bad_arguments_exit_2_with_one_line(arguments: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "127.0.0.1:1", *arguments, "0.0.1.0.0.255:2"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err
    assert main(["read", "127.0.0.1:1", *arguments, "0.0.1.0.0.255:2", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "usage"
    assert main(["read", "127.0.0.1:1", "1.2.3:2"]) == 2
    assert main(["campaign", "127.0.0.1:1-0", "1.0.0.0.0.255:2"]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dlmstw-client {dlmstw.__version__}"


def _scripted(get_answer: str) -> FakeMeter:
    """A peer that accepts the association, answers the GET with ``get_answer`` and closes at the RLRQ."""
    def answer(_client: int, apdu: bytes) -> bytes | None:
        if apdu[0] == 0x60:
            return public(AARE_ACCEPTED)
        if apdu[0] == 0xC0:
            return bytes.fromhex(get_answer)
        return None
    return FakeMeter(answer)


def test_a_failed_release_exits_6_after_the_readings(capsys: pytest.CaptureFixture[str]) -> None:
    with _scripted(GET_RESPONSE_5009) as meter:
        code = main(["read", f"127.0.0.1:{meter.port}", "1/0.0.43.1.0.255:2", "--json", "--timeout", "5"])
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert code == 6 and document["readings"][0]["value"] == 5009
    assert document["error"] == "connection-lost" and document["message"].startswith("release failed: ")
    assert err.startswith(f"dlmstw-client read: 127.0.0.1:{meter.port}: release failed: connection-lost")


def test_an_exception_response_exits_5_with_its_names(capsys: pytest.CaptureFixture[str]) -> None:
    with _scripted("D80101") as meter:
        code = main(["read", f"127.0.0.1:{meter.port}", "1/0.0.43.1.0.255:2", "--timeout", "5"])
    assert code == 5
    assert capsys.readouterr().err == (f"dlmstw-client read: 127.0.0.1:{meter.port}: "
                                       "exception-response:service-not-allowed/operation-not-possible\n")

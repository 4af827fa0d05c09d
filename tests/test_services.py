"""xDLMS GET/SET/ACTION/EXCEPTION APDU codecs (dlmstw.codec.services).

Vectors: tests/vectors/public-vectors.md sections 3.1 (plaintext), 3.4, 3.5 and
3.8, and appendix-datablocks.txt; each row names the original source.
"""

from __future__ import annotations

import hashlib
import time
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec import services
from dlmstw.codec.axdr import CosemDateTime, Data, decode_data, encode_data
from dlmstw.codec.services import (
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithListAndFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithPblock,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    ExceptionResponse,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
    Request,
    Response,
    SelectiveAccess,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetRequestWithListAndFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
    SetResponseNormal,
    SetResponseWithList,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from dlmstw.enums import ActionResult, DataAccessResult, ServiceError, StateError
from dlmstw.enums import DataType as T
from dlmstw.errors import DecodeError

VECTORS = Path(__file__).parent / "vectors"
A = CosemAttributeDescriptor
M = CosemMethodDescriptor
DAR = DataAccessResult
CLOCK = bytes.fromhex("0000010000FF")
ASSOCIATION = bytes.fromhex("0000280000FF")
REGISTER = bytes.fromhex("0100000300FF")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


REQUEST_VECTORS: list[tuple[str, Request]] = [
    # 3.1: the Green Book ciphering example's plaintext (invoke-id-and-priority 0x00)
    ("C0010000080000010000FF0200", GetRequestNormal(0x00, A(8, CLOCK, 2), None)),
    # 3.4: u9n/dlms-cosem tests/test_xdlms/test_get.py
    ("C001C1000100002B0100FF0200", GetRequestNormal(0xC1, A(1, h("00002B0100FF"), 2), None)),
    # 3.4: gvtret/gosem dlmsclient/client_test.go
    ("C001C100080000010000FF0300", GetRequestNormal(0xC1, A(8, CLOCK, 3), None)),
    # 3.4: u9n/dlms-cosem test_get.py
    ("C002C100000001", GetRequestNext(0xC1, 1)),
    ("C002C100000003", GetRequestNext(0xC1, 3)),
    (
        "C003C102000100002A0000FF020000080000010000FF0200",
        GetRequestWithList(0xC1, ((A(1, h("00002A0000FF"), 2), None), (A(8, CLOCK, 2), None))),
    ),
    # 3.4: u9n/dlms-cosem tests/test_xdlms/test_set.py
    (
        "C101C100080000010000FF0200090C07E50118FF0E303950FFC400",
        SetRequestNormal(0xC1, A(8, CLOCK, 2), None, (T.OCTET_STRING, h("07E50118FF0E303950FFC400"))),
    ),
    # 3.5: assembled from the Green Book HLS-GMAC values (f(StoC))
    (
        "C301C1000F0000280000FF0101091110000000011A52FE7DD3E72748973C1E28",
        ActionRequestNormal(0xC1, M(15, ASSOCIATION, 1), (T.OCTET_STRING, h("10000000011A52FE7DD3E72748973C1E28"))),
    ),
    # 3.5: u9n/dlms-cosem tests/test_xdlms/test_action.py (real meter)
    (
        "C301C0000F0000280000FF010109111000001A90E6D2221FA2FD85EED61ACC22",
        ActionRequestNormal(0xC0, M(15, ASSOCIATION, 1), (T.OCTET_STRING, h("1000001A90E6D2221FA2FD85EED61ACC22"))),
    ),
    # 3.5: OpenMUC jDLMS CipheringTest.java testKaifaMessages
    (
        "C301C1000F0000280000FF0101091110012345677D52391C407E3A45210F000E",
        ActionRequestNormal(0xC1, M(15, ASSOCIATION, 1), (T.OCTET_STRING, h("10012345677D52391C407E3A45210F000E"))),
    ),
    # 3.5: u9n/dlms-cosem test_action.py, without parameters
    ("C301C0000F0000280000FF0100", ActionRequestNormal(0xC0, M(15, ASSOCIATION, 1), None)),
    # 3.5: gvtret/gosem pkg/dlms/actionRequest_test.go
    (
        "C3015100010100000300FF020109050102030405",
        ActionRequestNormal(0x51, M(1, REGISTER, 2), (T.OCTET_STRING, h("0102030405"))),
    ),
    (
        "C3045100010100000300FF020100000001050102030405",
        ActionRequestWithFirstPblock(0x51, M(1, REGISTER, 2), True, 1, h("0102030405")),
    ),
    ("C306510100000001050102030405", ActionRequestWithPblock(0x51, True, 1, h("0102030405"))),
    ("C3025100000001", ActionRequestNextPblock(0x51, 1)),
]

RESPONSE_VECTORS: list[tuple[str, Response]] = [
    # 3.4: gvtret/gosem client_test.go (long 60)
    ("C401C10010003C", GetResponseNormal(0xC1, h("10003C"))),
    # 3.4: u9n/dlms-cosem test_get.py
    ("C401C1000600001391", GetResponseNormal(0xC1, h("0600001391"))),
    ("C401C10101", GetResponseNormal(0xC1, DAR.HARDWARE_FAULT)),
    ("C402C101000000130101", GetResponseWithDatablock(0xC1, True, 0x13, DAR.HARDWARE_FAULT)),
    (
        "C403C10200091049534B3130333037373737363433363600090C07E50603040E091700FFC400",
        GetResponseWithList(0xC1, (h("091049534B31303330373737373634333636"), h("090C07E50603040E091700FFC400"))),
    ),
    # 3.4: u9n/dlms-cosem test_get.py test_compound_objects_parsed_correctly
    (
        (
            "C403C109001200320012000000120000001200000012000000120000001208FE000207060190560B120326111111021200F0"
            "1200011200000002051202D0120CA8111811200FC0"
        ),
        GetResponseWithList(
            0xC1,
            (
                h("120032"),
                *[h("120000")] * 5,
                h("1208FE"),
                h("0207060190560B120326111111021200F0120001120000"),
                h("02051202D0120CA8111811200FC0"),
            ),
        ),
    ),
    # 3.4: u9n/dlms-cosem test_set.py
    ("C501C100", SetResponseNormal(0xC1, DAR.SUCCESS)),
    # 3.5: assembled from the Green Book HLS-GMAC values (f(CtoS))
    (
        "C701C100010009111001234567FE1466AFB3DBCD4F9389E2B7",
        ActionResponseNormal(0xC1, ActionResult.SUCCESS, h("09111001234567FE1466AFB3DBCD4F9389E2B7")),
    ),
    # 3.5: u9n/dlms-cosem test_action.py (real meter)
    (
        "C701C000010009111000001AFDE8857B728A3499106AA665D1",
        ActionResponseNormal(0xC0, ActionResult.SUCCESS, h("09111000001AFDE8857B728A3499106AA665D1")),
    ),
    # 3.5: OpenMUC jDLMS CipheringTest.java testKaifaMessages
    (
        "C701C10001000911101A9190BC0A587217BCD2BCD4FDDB7143",
        ActionResponseNormal(0xC1, ActionResult.SUCCESS, h("0911101A9190BC0A587217BCD2BCD4FDDB7143")),
    ),
    # 3.5: u9n/dlms-cosem test_action.py
    ("C701C00000", ActionResponseNormal(0xC0, ActionResult.SUCCESS, None)),
    ("C701C0000101FA", ActionResponseNormal(0xC0, ActionResult.SUCCESS, DAR.OTHER_REASON)),
    # 3.8: gvtret/gosem
    ("D80101", ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ServiceError.OPERATION_NOT_POSSIBLE)),
]


@pytest.mark.parametrize(("hexstr", "msg"), REQUEST_VECTORS)
def test_request_vectors(hexstr: str, msg: Request) -> None:
    assert decode_request(h(hexstr)) == msg
    assert encode_request(msg) == h(hexstr)


@pytest.mark.parametrize(("hexstr", "msg"), RESPONSE_VECTORS)
def test_response_vectors(hexstr: str, msg: Response) -> None:
    assert decode_response(h(hexstr)) == msg
    assert encode_response(msg) == h(hexstr)


@pytest.mark.parametrize(("hexstr", "msg"), REQUEST_VECTORS)
def test_request_vectors_truncated_and_with_trailing_bytes(hexstr: str, msg: Request) -> None:
    apdu = h(hexstr)
    for cut in range(len(apdu)):
        with pytest.raises(DecodeError):
            decode_request(apdu[:cut])
    with pytest.raises(DecodeError) as info:
        decode_request(apdu + b"\x00")
    assert info.value.reason.startswith("1 trailing octets")
    assert info.value.offset == len(apdu)


@pytest.mark.parametrize(("hexstr", "msg"), RESPONSE_VECTORS)
def test_response_vectors_truncated_and_with_trailing_bytes(hexstr: str, msg: Response) -> None:
    apdu = h(hexstr)
    for cut in range(len(apdu)):
        with pytest.raises(DecodeError):
            decode_response(apdu[:cut])
    with pytest.raises(DecodeError) as info:
        decode_response(apdu + b"\x00")
    assert "trailing" in info.value.reason


def test_get_with_list_date_time_value() -> None:
    """The second result of the 3.4 GET-Response-With-List (u9n/dlms-cosem test_get.py)
    is 2021-06-03 (Thursday) 14:09:23, deviation -60, status 00."""
    msg = decode_response(h(RESPONSE_VECTORS[4][0]))
    assert isinstance(msg, GetResponseWithList)
    assert isinstance(msg.results[1], bytes)
    value, _ = decode_data(msg.results[1])
    assert value[0] is T.OCTET_STRING
    stamp = CosemDateTime.from_bytes(value[1])
    assert (stamp.year, stamp.month, stamp.day, stamp.day_of_week) == (2021, 6, 3, 4)
    assert (stamp.hour, stamp.minute, stamp.second, stamp.deviation, stamp.clock_status) == (14, 9, 23, -60, 0)


# --------------------------------------------------------------------------- long datablocks


def appendix_vectors() -> list[bytes]:
    text = (VECTORS / "appendix-datablocks.txt").read_text()
    return [h(line) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_appendix_a1() -> None:
    """appendix-datablocks.txt A1: u9n/dlms-cosem@c52e9d44 tests/test_xdlms/test_get.py line 213."""
    apdu = appendix_vectors()[0]
    assert len(apdu) == 1194
    assert hashlib.sha256(apdu).hexdigest().startswith("f54727db3dc76e19")
    msg = decode_response(apdu)
    assert isinstance(msg, GetResponseWithDatablock)
    assert (msg.invoke_id_and_priority, msg.last_block, msg.block_number) == (0xC1, False, 1)
    assert isinstance(msg.raw_data, bytes)
    assert len(msg.raw_data) == 1182  # 0x049E
    assert msg.raw_data.startswith(h("018205A00204090C07E30C13"))
    assert msg.raw_data == apdu[12:]
    assert encode_response(msg) == apdu


def test_appendix_a2() -> None:
    """appendix-datablocks.txt A2: the same file, line 275 (last block)."""
    apdu = appendix_vectors()[1]
    assert len(apdu) == 392
    assert hashlib.sha256(apdu).hexdigest().startswith("08c94e4d946b1fd6")
    msg = decode_response(apdu)
    assert msg == GetResponseWithDatablock(0xC1, True, 0x13, apdu[12:])
    assert isinstance(msg.raw_data, bytes)
    assert len(msg.raw_data) == 380  # 0x017C
    assert msg.raw_data.startswith(h("0600000654020400110606"))
    assert encode_response(msg) == apdu


def test_appendix_datablocks_with_short_raw_data() -> None:
    for apdu in appendix_vectors():
        with pytest.raises(DecodeError) as info:
            decode_response(apdu[:-1])
        assert "raw-data" in info.value.reason
        assert info.value.offset == 12


# --------------------------------------------------------------------------- other exact encodings


def test_exception_response_with_invocation_counter() -> None:
    msg = ExceptionResponse(StateError.SERVICE_UNKNOWN, ServiceError.INVOCATION_COUNTER_ERROR, 0x01234567)
    assert encode_response(msg) == h("D8020601234567")
    assert decode_response(h("D8020601234567")) == msg
    for cut in range(7):
        with pytest.raises(DecodeError):
            decode_response(h("D8020601234567")[:cut])


@pytest.mark.parametrize(
    ("msg", "hexstr"),
    [
        (
            GetRequestNormal(0x81, A(7, h("0100630100FF"), 2), SelectiveAccess(2, (T.STRUCTURE, [(T.UNSIGNED, 1)]))),
            "C00181000701006301 00FF0201020201 1101",
        ),
        (
            SetRequestWithFirstDatablock(0xC1, A(8, CLOCK, 2), None, False, 1, h("0102")),
            "C102C100080000010000FF02000000000001020102",
        ),
        (SetRequestWithDatablock(0xC1, True, 2, b""), "C103C1010000000200"),
        (
            SetRequestWithList(0xC1, ((A(1, CLOCK, 2), None),), ((T.UNSIGNED, 7),)),
            "C104C101000100000100 00FF0200011107",
        ),
        (
            SetRequestWithListAndFirstDatablock(0xC1, ((A(1, CLOCK, 2), None),), True, 1, h("AA")),
            "C105C101000100000100 00FF02000100000001 01AA",
        ),
        (ActionRequestWithList(0xC1, (M(9, CLOCK, 1),), ((T.LONG_UNSIGNED, 5),)), "C303C10100090000010000FF0101120005"),
        (
            ActionRequestWithListAndFirstPblock(0xC1, (M(9, CLOCK, 1),), False, 1, h("BB")),
            "C305C10100090000010000FF01000000000101BB",
        ),
    ],
)
def test_request_encodings(msg: Request, hexstr: str) -> None:
    """Green Book 9.5 layouts: OPTIONAL usage flags, SEQUENCE OF counts, DataBlock-SA."""
    apdu = h(hexstr.replace(" ", ""))
    assert encode_request(msg) == apdu
    assert decode_request(apdu) == msg


@pytest.mark.parametrize(
    ("msg", "hexstr"),
    [
        (GetResponseWithDatablock(0xC1, False, 2, h("0102")), "C402C100000000020002 0102"),
        (GetResponseWithList(0xC1, (DAR.OBJECT_UNDEFINED, h("1105"))), "C403C102 0104 001105"),
        (SetResponseDatablock(0xC1, 3), "C502C100000003"),
        (SetResponseLastDatablock(0xC1, DAR.TYPE_UNMATCHED, 4), "C503C10C00000004"),
        (SetResponseLastDatablockWithList(0xC1, (DAR.SUCCESS, DAR.READ_WRITE_DENIED), 5), "C504C102000300000005"),
        (SetResponseWithList(0xC1, (DAR.SUCCESS, DAR.OTHER_REASON)), "C505C10200FA"),
        (ActionResponseWithPblock(0xC1, True, 1, h("CC")), "C702C1010000000101CC"),
        (
            ActionResponseWithList(
                0xC1,
                (
                    (ActionResult.SUCCESS, None),
                    (ActionResult.OTHER_REASON, DAR.HARDWARE_FAULT),
                    (ActionResult.SUCCESS, h("1101")),
                ),
            ),
            "C703C103 0000 FA010101 0001001101",
        ),
        (ActionResponseNextPblock(0xC1, 7), "C704C100000007"),
    ],
)
def test_response_encodings(msg: Response, hexstr: str) -> None:
    apdu = h(hexstr.replace(" ", ""))
    assert encode_response(msg) == apdu
    assert decode_response(apdu) == msg


def test_attribute_and_method_ids_are_integer8() -> None:
    """Cosem-Object-Attribute-Id and -Method-Id are Integer8 (Green Book 9.5)."""
    assert decode_request(h("C001C100010000000000FF8000")) == GetRequestNormal(
        0xC1, A(1, h("0000000000FF"), -128), None
    )
    assert encode_request(GetRequestNormal(1, A(1, bytes(6), -1), None))[11] == 0xFF
    assert decode_request(h("C301C1000F0000280000FFFF00")) == ActionRequestNormal(0xC1, M(15, ASSOCIATION, -1), None)
    with pytest.raises(ValueError):
        encode_request(GetRequestNormal(1, A(1, bytes(6), 128), None))


def test_non_zero_booleans_are_true() -> None:
    """A-XDR BOOLEAN (and OPTIONAL usage flags): 0x00 is FALSE/absent, any other value TRUE/present."""
    msg = decode_request(h("C301C1000F0000280000FF01021101"))
    assert msg == ActionRequestNormal(0xC1, M(15, ASSOCIATION, 1), (T.UNSIGNED, 1))
    assert decode_request(h("C103C1FF0000000200")) == SetRequestWithDatablock(0xC1, True, 2, b"")
    assert decode_response(h("C402C180000000020103")) == GetResponseWithDatablock(0xC1, True, 2, DAR.READ_WRITE_DENIED)


def test_get_response_normal_plain_int_is_a_data_access_result() -> None:
    assert encode_response(GetResponseNormal(0xC1, 4)) == h("C401C10104")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("apdu", "reason"),
    [
        ("", "empty APDU"),
        ("C2010000", "unknown request tag 0xC2 (event-notification-request)"),
        ("C401C10101", "unknown request tag 0xC4 (get-response)"),
        ("07", "unknown request tag 0x07"),
        ("C0", "truncated: get-request choice expected"),
        ("C000C1", "unknown get-request choice 0"),
        ("C004C1", "unknown get-request choice 4"),
        ("C100C1", "unknown set-request choice 0"),
        ("C106C1", "unknown set-request choice 6"),
        ("C300C1", "unknown action-request choice 0"),
        ("C307C1", "unknown action-request choice 7"),
        ("C001C100080000010000FF0201", "truncated: access-selector expected"),
        ("C001C100080000010000FF02010207", "unknown Data tag 0x07"),
        ("C101C100080000010000FF02000D", "truncated bcd"),
        ("C103C1010000000110 0102", "raw-data of 16 octets exceeds the 2 left"),
        ("C103C1010000000185FFFFFFFFFF", "over-long length"),
        ("C003C1847FFFFFFF000100002A0000FF0200", "attribute-descriptor-list of 2147483647 items"),
        ("C303C18400FFFFFF00", "cosem-method-descriptor-list of 16777215 items"),
        # the count is checked against the least size of an item (10 octets), not 1
        ("C003C105000100002A0000FF0200", "attribute-descriptor-list of 5 items exceeds the 10 octets left"),
        ("C303C10200090000010000FF01", "cosem-method-descriptor-list of 2 items exceeds the 9 octets left"),
        ("C104C10100010000010000FF020002 1101 1102", "set-request-with-list: 1 descriptors but 2 values"),
        ("C303C10100090000010000FF0100", "action-request-with-list: 1 descriptors but 0 values"),
        ("C104C10100010000010000FF0200 84FFFFFFFF 11", "value-list of 4294967295 items"),
    ],
)
def test_malformed_requests(apdu: str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_request(h(apdu.replace(" ", "")))
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("apdu", "reason"),
    [
        ("", "empty APDU"),
        ("C001C1", "unknown response tag 0xC0 (get-request)"),
        ("C6", "unknown response tag 0xC6"),
        ("C400C1", "unknown get-response choice 0"),
        ("C404C1", "unknown get-response choice 4"),
        ("C500C1", "unknown set-response choice 0"),
        ("C506C1", "unknown set-response choice 6"),
        ("C700C1", "unknown action-response choice 0"),
        ("C705C1", "unknown action-response choice 5"),
        ("C401C10207", "unknown Get-Data-Result choice 2"),
        ("C401C1000B", "unknown Data tag 0x0B"),
        ("C401C10105", "unknown data-access-result 5"),
        ("C501C1FF", "unknown data-access-result 255"),
        ("C701C10500", "unknown action-result 5"),
        ("C402C1000000000102", "unknown DataBlock-G result choice 2"),
        ("C402C10000", "truncated DataBlock-G header"),
        ("C403C184FFFFFFFF0011", "Get-Data-Result list of 4294967295 items"),
        ("C505C1030000", "data-access-result list of 3 items"),
        ("C703C1820100 0000", "list-of-responses of 256 items"),
        ("D80301", "unknown state-error 3"),
        ("D80107", "unknown service-error choice 7"),
        ("D80100", "unknown service-error choice 0"),
        ("D8010601", "truncated invocation counter"),
        ("D801", "truncated: service-error choice expected"),
        ("D8010100", "1 trailing octets after the exception-response"),
    ],
)
def test_malformed_responses(apdu: str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_response(h(apdu.replace(" ", "")))
    assert info.value.reason.startswith(reason)


def test_huge_counts_fail_fast() -> None:
    started = time.perf_counter()
    for apdu in ("C003C1847FFFFFFF", "C403C184FFFFFFFF00", "C505C184FFFFFFFF", "C303C184FFFFFFFF", "C104C184FFFFFFFF"):
        with pytest.raises(DecodeError):
            decode_request(h(apdu)) if apdu[:2] in ("C0", "C1", "C3") else decode_response(h(apdu))
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "msg",
    [
        GetResponseNormal(256, h("1100")),
        GetResponseNormal(-1, h("1100")),
        GetResponseNormal(1, 5),  # type: ignore[arg-type]
        SetResponseNormal(1, 5),  # type: ignore[arg-type]
        SetResponseWithList(1, (DAR.SUCCESS, 300)),  # type: ignore[arg-type]
        ActionResponseNormal(1, 5, None),  # type: ignore[arg-type]
        GetResponseWithDatablock(1, True, 1, 5),  # type: ignore[arg-type]
        ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ServiceError.INVOCATION_COUNTER_ERROR),
        ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ServiceError.OTHER_REASON, 5),
        ExceptionResponse(3, ServiceError.OTHER_REASON),  # type: ignore[arg-type]
        ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ServiceError.INVOCATION_COUNTER_ERROR, 2**32),
    ],
)
def test_response_encode_errors(msg: Response) -> None:
    with pytest.raises(ValueError):
        encode_response(msg)


@pytest.mark.parametrize(
    "msg",
    [
        GetRequestNormal(1, A(1, bytes(6), 2), SelectiveAccess(256, (T.NULL_DATA, None))),
        GetRequestNormal(1, A(1, bytes(6), 2), SelectiveAccess(1, (T.UNSIGNED, 256))),
        GetRequestNormal(1, A(1, bytes(5), 2), None),
        GetRequestNormal(1, A(65536, bytes(6), 2), None),
        GetRequestNext(1, -1),
        GetRequestNext(1, 2**32),
        GetRequestNext(256, 1),
        SetRequestWithList(1, ((A(1, bytes(6), 2), None),), ()),
        ActionRequestWithList(1, (), ((T.NULL_DATA, None),)),
        ActionRequestWithPblock(1, True, 2**32, b""),
    ],
)
def test_request_encode_errors(msg: Request) -> None:
    with pytest.raises(ValueError):
        encode_request(msg)


def test_wrong_role_or_type_is_type_error() -> None:
    with pytest.raises(TypeError):
        encode_request(GetResponseNormal(1, h("1100")))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_response(GetRequestNext(1, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_response(b"\xc4")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

data_values: st.SearchStrategy[Data] = st.recursive(
    st.one_of(
        st.just((T.NULL_DATA, None)),
        st.integers(0, 255).map(lambda v: (T.UNSIGNED, v)),
        st.integers(-(2**31), 2**31 - 1).map(lambda v: (T.DOUBLE_LONG, v)),
        st.binary(max_size=140).map(lambda v: (T.OCTET_STRING, v)),
        st.binary(min_size=12, max_size=12).map(lambda v: (T.DATE_TIME, v)),
        st.booleans().map(lambda v: (T.BOOLEAN, v)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: (T.ARRAY, items)),
        st.lists(inner, max_size=4).map(lambda items: (T.STRUCTURE, items)),
    ),
    max_leaves=12,
)
invokes = st.integers(0, 255)
blocks = st.integers(0, 2**32 - 1)
raw_data = st.binary(max_size=300)
instance_ids = st.binary(min_size=6, max_size=6)
attributes = st.builds(A, st.integers(0, 0xFFFF), instance_ids, st.integers(-128, 127))
methods = st.builds(M, st.integers(0, 0xFFFF), instance_ids, st.integers(-128, 127))
selections = st.none() | st.builds(SelectiveAccess, st.integers(0, 255), data_values)
attribute_items = st.lists(st.tuples(attributes, selections), max_size=4).map(tuple)
method_items = st.lists(methods, max_size=4).map(tuple)
dars = st.sampled_from(DataAccessResult)
action_results = st.sampled_from(ActionResult)
get_data_results = data_values.map(encode_data) | dars
action_returns = st.none() | get_data_results
set_pairs = st.lists(st.tuples(st.tuples(attributes, selections), data_values), max_size=4)
action_pairs = st.lists(st.tuples(methods, data_values), max_size=4)


def _exception(state: StateError, service: ServiceError, counter: int) -> ExceptionResponse:
    return ExceptionResponse(state, service, counter if service is ServiceError.INVOCATION_COUNTER_ERROR else None)


REQUEST_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    GetRequestNormal: st.builds(GetRequestNormal, invokes, attributes, selections),
    GetRequestNext: st.builds(GetRequestNext, invokes, blocks),
    GetRequestWithList: st.builds(GetRequestWithList, invokes, attribute_items),
    SetRequestNormal: st.builds(SetRequestNormal, invokes, attributes, selections, data_values),
    SetRequestWithFirstDatablock: st.builds(
        SetRequestWithFirstDatablock, invokes, attributes, selections, st.booleans(), blocks, raw_data
    ),
    SetRequestWithDatablock: st.builds(SetRequestWithDatablock, invokes, st.booleans(), blocks, raw_data),
    SetRequestWithList: st.builds(
        lambda invoke, pairs: SetRequestWithList(invoke, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)),
        invokes,
        set_pairs,
    ),
    SetRequestWithListAndFirstDatablock: st.builds(
        SetRequestWithListAndFirstDatablock, invokes, attribute_items, st.booleans(), blocks, raw_data
    ),
    ActionRequestNormal: st.builds(ActionRequestNormal, invokes, methods, st.none() | data_values),
    ActionRequestNextPblock: st.builds(ActionRequestNextPblock, invokes, blocks),
    ActionRequestWithList: st.builds(
        lambda invoke, pairs: ActionRequestWithList(invoke, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)),
        invokes,
        action_pairs,
    ),
    ActionRequestWithFirstPblock: st.builds(
        ActionRequestWithFirstPblock, invokes, methods, st.booleans(), blocks, raw_data
    ),
    ActionRequestWithListAndFirstPblock: st.builds(
        ActionRequestWithListAndFirstPblock, invokes, method_items, st.booleans(), blocks, raw_data
    ),
    ActionRequestWithPblock: st.builds(ActionRequestWithPblock, invokes, st.booleans(), blocks, raw_data),
}

RESPONSE_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    GetResponseNormal: st.builds(GetResponseNormal, invokes, get_data_results),
    GetResponseWithDatablock: st.builds(GetResponseWithDatablock, invokes, st.booleans(), blocks, raw_data | dars),
    GetResponseWithList: st.builds(GetResponseWithList, invokes, st.lists(get_data_results, max_size=4).map(tuple)),
    SetResponseNormal: st.builds(SetResponseNormal, invokes, dars),
    SetResponseDatablock: st.builds(SetResponseDatablock, invokes, blocks),
    SetResponseLastDatablock: st.builds(SetResponseLastDatablock, invokes, dars, blocks),
    SetResponseLastDatablockWithList: st.builds(
        SetResponseLastDatablockWithList, invokes, st.lists(dars, max_size=4).map(tuple), blocks
    ),
    SetResponseWithList: st.builds(SetResponseWithList, invokes, st.lists(dars, max_size=4).map(tuple)),
    ActionResponseNormal: st.builds(ActionResponseNormal, invokes, action_results, action_returns),
    ActionResponseWithPblock: st.builds(ActionResponseWithPblock, invokes, st.booleans(), blocks, raw_data),
    ActionResponseWithList: st.builds(
        ActionResponseWithList, invokes, st.lists(st.tuples(action_results, action_returns), max_size=4).map(tuple)
    ),
    ActionResponseNextPblock: st.builds(ActionResponseNextPblock, invokes, blocks),
    ExceptionResponse: st.builds(_exception, st.sampled_from(StateError), st.sampled_from(ServiceError), blocks),
}


def test_strategies_cover_every_message_class() -> None:
    assert set(REQUEST_STRATEGIES) == set(typing.get_args(Request))
    assert set(RESPONSE_STRATEGIES) == set(typing.get_args(Response))


@given(st.one_of(*REQUEST_STRATEGIES.values()), st.data())
def test_request_round_trip(msg: Request, data: st.DataObject) -> None:
    apdu = encode_request(msg)
    assert decode_request(apdu) == msg
    cut = data.draw(st.integers(0, len(apdu) - 1))
    with pytest.raises(DecodeError):
        decode_request(apdu[:cut])
    with pytest.raises(DecodeError):
        decode_request(apdu + b"\x01")
    with pytest.raises(DecodeError):
        decode_response(apdu)


@given(st.one_of(*RESPONSE_STRATEGIES.values()), st.data())
def test_response_round_trip(msg: Response, data: st.DataObject) -> None:
    apdu = encode_response(msg)
    assert decode_response(apdu) == msg
    cut = data.draw(st.integers(0, len(apdu) - 1))
    with pytest.raises(DecodeError):
        decode_response(apdu[:cut])
    with pytest.raises(DecodeError):
        decode_response(apdu + b"\x01")
    with pytest.raises(DecodeError):
        decode_request(apdu)


@given(invokes, attributes)
def test_get_normal_fast_path_agrees_with_the_general_decoder(invoke: int, attribute: CosemAttributeDescriptor) -> None:
    apdu = encode_request(GetRequestNormal(invoke, attribute, None))
    assert len(apdu) == 13
    general = services._decode(apdu, services._REQUEST_DECODERS, "request")
    assert decode_request(apdu) == general == GetRequestNormal(invoke, attribute, None)


@given(invokes, data_values)
def test_get_response_normal_is_header_plus_data(invoke: int, value: Data) -> None:
    encoded = encode_data(value)
    assert encode_response(GetResponseNormal(invoke, encoded)) == bytes((0xC4, 0x01, invoke, 0x00)) + encoded


@given(st.binary(max_size=40))
def test_arbitrary_bytes_decode_or_fail_cleanly(apdu: bytes) -> None:
    for decoder in (decode_request, decode_response):
        try:
            decoder(apdu)
        except DecodeError:
            pass


@given(st.sampled_from([0xC0, 0xC1, 0xC3, 0xC4, 0xC5, 0xC7, 0xD8]), st.binary(max_size=40))
def test_service_tags_with_arbitrary_bodies(tag: int, body: bytes) -> None:
    for decoder in (decode_request, decode_response):
        try:
            decoder(bytes((tag,)) + body)
        except DecodeError:
            pass



def test_joined_datablocks_of_a_get_with_list_decode_whole() -> None:
    """Green Book 9.4.6.4: the raw data of a long Get-Response-With-List, joined,
    is its SEQUENCE OF Get-Data-Result (the two results of the [U] with-list
    vector, then a data-access-result); nothing may follow it."""
    serial = bytes.fromhex("0910") + b"ISK1030777764366"
    clock = bytes.fromhex("090C07E50603040E091700FFC400")
    raw = b"\x03" + b"\x00" + serial + b"\x00" + clock + bytes.fromhex("0104")
    assert services.decode_get_data_results(raw) == (serial, clock, DataAccessResult.OBJECT_UNDEFINED)
    for broken in (raw + b"\x00", raw[:-1], b"\x01\x02"):
        with pytest.raises(DecodeError):
            services.decode_get_data_results(broken)

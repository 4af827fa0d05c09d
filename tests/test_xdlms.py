"""xDLMS InitiateRequest / InitiateResponse / ConfirmedServiceError and negotiation (Green Book 9.5, 9.4.6.1).

Vectors are the xDLMS APDUs inside the AARQ/AARE of tests/vectors/public-vectors.md
sections 3.1 and 3.3 and tests/vectors/acse.json; each hex string is checked to
appear in those files verbatim.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec.xdlms import (
    DLMS_VERSION,
    SERVICE_CONFORMANCE,
    VAA_NAME_LN,
    ConfirmedServiceError,
    InitiateRequest,
    InitiateResponse,
    decode_confirmed_service_error,
    decode_initiate_request,
    decode_initiate_response,
    encode_confirmed_service_error,
    encode_initiate_request,
    encode_initiate_response,
    initiate_error,
    negotiate,
)
from dlmstw.enums import (
    ConfirmedServiceErrorChoice,
    Conformance,
    InitiateError,
    ServiceError,
    ServiceErrorKind,
)
from dlmstw.errors import DecodeError

VECTORS = Path(__file__).parent / "vectors"
PUBLIC_MD = (VECTORS / "public-vectors.md").read_text(encoding="utf-8")
ACSE_JSON = (VECTORS / "acse.json").read_text(encoding="utf-8")


def published(hex_text: str) -> bytes:
    """Bytes of a hex string quoted verbatim in public-vectors.md or acse.json."""
    assert hex_text in PUBLIC_MD or hex_text in ACSE_JSON, f"not in the vectors: {hex_text}"
    return bytes.fromhex(hex_text)


C = Conformance
# 00 7E 1F: what the [U]/[C] clients propose.
PROPOSED_7E1F = (
    C.PRIORITY_MGMT_SUPPORTED
    | C.ATTRIBUTE0_SUPPORTED_WITH_GET
    | C.BLOCK_TRANSFER_WITH_GET_OR_READ
    | C.BLOCK_TRANSFER_WITH_SET_OR_WRITE
    | C.BLOCK_TRANSFER_WITH_ACTION
    | C.MULTIPLE_REFERENCES
    | C.GET
    | C.SET
    | C.SELECTIVE_ACCESS
    | C.EVENT_NOTIFICATION
    | C.ACTION
)
# 00 50 1F: what the [U] meter grants.
GRANTED_501F = (
    C.PRIORITY_MGMT_SUPPORTED
    | C.BLOCK_TRANSFER_WITH_GET_OR_READ
    | C.GET
    | C.SET
    | C.SELECTIVE_ACCESS
    | C.EVENT_NOTIFICATION
    | C.ACTION
)

REQUEST_VECTORS: list[tuple[str, bytes, InitiateRequest]] = [
    (
        "3.3 no security AARQ [U][C]",
        published("01000000065F1F0400007E1F04B0"),
        InitiateRequest(None, True, None, 6, PROPOSED_7E1F, 1200),
    ),
    (
        "3.1 glo-initiate-request plaintext, Green Book dedicated key",
        published("01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0"),
        InitiateRequest(
            bytes.fromhex("00112233445566778899AABBCCDDEEFF"), True, None, 6, PROPOSED_7E1F, 1200
        ),
    ),
    (
        "3.1 real L+G AARQ plaintext [G]",
        published("010110E803739DBE338C3A790D8D1B12C63FE20000065F1F040000181F0200"),
        InitiateRequest(
            bytes.fromhex("E803739DBE338C3A790D8D1B12C63FE2"), True, None, 6, C(0x181F), 512
        ),
    ),
    (
        "3.3 LLS wrong password, real L+G [G]",
        published("01000000065F1F040000181F0100"),
        InitiateRequest(None, True, None, 6, C(0x181F), 256),
    ),
    (
        "acse.json paper figure 4 AARQ",
        published("01000000065F1F040060FEDFFFFF"),
        InitiateRequest(None, True, None, 6, C(0x60FEDF), 0xFFFF),
    ),
]

RESPONSE_VECTORS: list[tuple[str, bytes, InitiateResponse]] = [
    (
        "3.3 no security AARE [U][C]",
        published("0800065F1F040000501F01F40007"),
        InitiateResponse(None, 6, GRANTED_501F, 500, VAA_NAME_LN),
    ),
    (
        "3.7 real WPDU-framed AARE [C]: quality of service present",
        published("080100065F1F0400007C1F04000007"),
        InitiateResponse(0, 6, C(0x7C1F), 1024, 7),
    ),
    (
        "3.1 real L+G glo-initiate-response plaintext [G]",
        published("0800065F1F040000181F00FA0007"),
        InitiateResponse(None, 6, C(0x181F), 250, 7),
    ),
    (
        "3.3 LLS wrong password AARE [G]",
        published("0800065F1F040000101400800007"),
        InitiateResponse(None, 6, C(0x1014), 128, 7),
    ),
]

ERROR_VECTORS: list[tuple[bytes, ConfirmedServiceError]] = [
    (
        published("0E010601"),
        ConfirmedServiceError(
            ConfirmedServiceErrorChoice.INITIATE_ERROR,
            ServiceErrorKind.INITIATE,
            InitiateError.DLMS_VERSION_TOO_LOW,
        ),
    ),
    (
        published("0E010302"),
        ConfirmedServiceError(
            ConfirmedServiceErrorChoice.INITIATE_ERROR,
            ServiceErrorKind.SERVICE,
            ServiceError.SERVICE_NOT_SUPPORTED,
        ),
    ),
]

Decoder = Callable[[bytes], object]
ALL_ENCODED: list[tuple[Decoder, bytes]] = (
    [(decode_initiate_request, apdu) for _, apdu, _ in REQUEST_VECTORS]
    + [(decode_initiate_response, apdu) for _, apdu, _ in RESPONSE_VECTORS]
    + [(decode_confirmed_service_error, apdu) for apdu, _ in ERROR_VECTORS]
)


@pytest.mark.parametrize(
    ("name", "apdu", "expected"), REQUEST_VECTORS, ids=[v[0] for v in REQUEST_VECTORS]
)
def test_initiate_request_vectors(name: str, apdu: bytes, expected: InitiateRequest) -> None:
    assert decode_initiate_request(apdu) == expected
    assert encode_initiate_request(expected) == apdu


@pytest.mark.parametrize(
    ("name", "apdu", "expected"), RESPONSE_VECTORS, ids=[v[0] for v in RESPONSE_VECTORS]
)
def test_initiate_response_vectors(name: str, apdu: bytes, expected: InitiateResponse) -> None:
    assert decode_initiate_response(apdu) == expected
    assert encode_initiate_response(expected) == apdu


@pytest.mark.parametrize(("apdu", "expected"), ERROR_VECTORS)
def test_confirmed_service_error_vectors(apdu: bytes, expected: ConfirmedServiceError) -> None:
    assert decode_confirmed_service_error(apdu) == expected
    assert encode_confirmed_service_error(expected) == apdu


def test_conformance_bit_order() -> None:
    # Green Book 9.4.6.1: bit 0 (reserved) is the first bit sent; action (23) the last.
    request = decode_initiate_request(bytes.fromhex("01000000065F1F040080000104B0"))
    assert request.proposed_conformance == C.RESERVED_ZERO | C.ACTION
    assert (
        decode_initiate_request(bytes.fromhex("01000000065F1F040000001004B0")).proposed_conformance
        == C.GET
    )


def test_response_allowed_and_quality_of_service() -> None:
    # response-allowed present with its default value TRUE: decoded, then encoded as absent.
    explicit_true = bytes.fromhex("0100010100065F1F0400007E1F04B0")
    request = decode_initiate_request(explicit_true)
    assert request.response_allowed is True
    assert encode_initiate_request(request) == bytes.fromhex("01000000065F1F0400007E1F04B0")
    # response-allowed FALSE (an unconfirmed association) and a quality of service of -1.
    apdu = bytes.fromhex("0100010001FF065F1F0400007E1F04B0")
    request = decode_initiate_request(apdu)
    assert request == InitiateRequest(None, False, -1, 6, PROPOSED_7E1F, 1200)
    assert encode_initiate_request(request) == apdu


def test_long_dedicated_key_uses_a_long_axdr_length() -> None:
    request = InitiateRequest(bytes(200), True, None, 6, C.GET, 1024)
    apdu = encode_initiate_request(request)
    assert apdu[:4] == bytes.fromhex("010181C8")
    assert decode_initiate_request(apdu) == request


@pytest.mark.parametrize(("decode", "apdu"), ALL_ENCODED)
def test_truncated_at_every_byte(decode: Decoder, apdu: bytes) -> None:
    for cut in range(len(apdu)):
        with pytest.raises(DecodeError):
            decode(apdu[:cut])


@pytest.mark.parametrize(("decode", "apdu"), ALL_ENCODED)
def test_trailing_byte(decode: Decoder, apdu: bytes) -> None:
    with pytest.raises(DecodeError, match="unexpected bytes") as caught:
        decode(apdu + b"\x00")
    assert caught.value.offset == len(apdu)


@pytest.mark.parametrize(
    ("decode", "hex_text", "reason", "offset"),
    [
        (decode_initiate_request, "", "empty INITIATE_REQUEST", 0),
        (decode_initiate_request, "0800065F1F040000501F01F40007", "expected tag 0x01", 0),
        (decode_initiate_response, "01000000065F1F0400007E1F04B0", "expected tag 0x08", 0),
        (decode_confirmed_service_error, "0F010601", "expected tag 0x0E", 0),
        (
            decode_initiate_request,
            "01020000065F1F0400007E1F04B0",
            "usage flag 0x02 of dedicated-key",
            1,
        ),
        (
            decode_initiate_request,
            "01000200065F1F0400007E1F04B0",
            "usage flag 0x02 of response-allowed",
            2,
        ),
        (decode_initiate_request, "010000FF065F1F0400007E1F04B0", "quality-of-service", 3),
        (decode_initiate_response, "0802065F1F040000501F01F40007", "usage flag 0x02", 1),
        (decode_initiate_request, "01000000065F1F0300007E1F04B0", "conformance", 5),
        (decode_initiate_request, "01000000065F1E0400007E1F04B0", "conformance", 5),
        (decode_initiate_request, "01000000065F1F0401007E1F04B0", "conformance", 5),
        (decode_initiate_response, "0800065F1F050000501F01F40007", "conformance", 3),
        (decode_initiate_request, "010180", "indefinite length", 2),
        (decode_initiate_request, "0101850000000001", "5 length octets", 2),
        (decode_initiate_request, "01018200", "truncated length", 2),
        (decode_initiate_request, "010110001122", "dedicated-key runs past", 6),
        (decode_confirmed_service_error, "0E000601", "ConfirmedServiceError choice 0", 1),
        (decode_confirmed_service_error, "0E010801", "ServiceError choice 8", 2),
    ],
)
def test_malformed(decode: Decoder, hex_text: str, reason: str, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(bytes.fromhex(hex_text))
    assert reason in caught.value.reason
    assert caught.value.offset == offset


@given(st.binary(max_size=40))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    for decode, tag in (
        (decode_initiate_request, b"\x01"),
        (decode_initiate_response, b"\x08"),
        (decode_confirmed_service_error, b"\x0e"),
    ):
        try:
            decode(tag + data)
        except DecodeError:
            pass


@given(
    st.none() | st.binary(max_size=300),
    st.booleans(),
    st.none() | st.integers(-128, 127),
    st.integers(0, 255),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFFFF),
)
def test_initiate_request_round_trip(
    key: bytes | None, allowed: bool, qos: int | None, version: int, conformance: int, size: int
) -> None:
    request = InitiateRequest(key, allowed, qos, version, C(conformance), size)
    assert decode_initiate_request(encode_initiate_request(request)) == request


@given(
    st.none() | st.integers(-128, 127),
    st.integers(0, 255),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
)
def test_initiate_response_round_trip(
    qos: int | None, version: int, conformance: int, size: int, vaa: int
) -> None:
    response = InitiateResponse(qos, version, C(conformance), size, vaa)
    assert decode_initiate_response(encode_initiate_response(response)) == response


# --- negotiation (Green Book 9.3.2 COSEM-OPEN, 9.4.6.1) ---


def test_negotiate_gives_the_public_aare_initiate_response() -> None:
    # [U]: the client proposes 007E1F and 1200; the meter grants 00501F and answers with its own 500.
    request = decode_initiate_request(published("01000000065F1F0400007E1F04B0"))
    response = negotiate(request, GRANTED_501F, 500)
    assert isinstance(response, InitiateResponse)
    assert encode_initiate_response(response) == published("0800065F1F040000501F01F40007")


def test_negotiate_intersects_conformance_and_answers_its_own_pdu_size() -> None:
    # The real L+G pair [G]: the client proposes 00181F and 512, the meter answers 00181F and 250.
    request = decode_initiate_request(
        published("010110E803739DBE338C3A790D8D1B12C63FE20000065F1F040000181F0200")
    )
    response = negotiate(request, C(0x00FFFF) | C.GENERAL_PROTECTION, 250)
    assert isinstance(response, InitiateResponse)
    assert encode_initiate_response(response) == published("0800065F1F040000181F00FA0007")


def test_negotiate_dlms_version_too_low_gives_the_public_error() -> None:
    request = InitiateRequest(None, True, None, 5, PROPOSED_7E1F, 1200)
    error = negotiate(request, GRANTED_501F, 500)
    assert isinstance(error, ConfirmedServiceError)
    assert error == initiate_error(InitiateError.DLMS_VERSION_TOO_LOW)
    assert encode_confirmed_service_error(error) == published("0E010601")


def test_negotiate_answers_version_6_to_a_newer_client() -> None:
    response = negotiate(InitiateRequest(None, True, 3, 7, PROPOSED_7E1F, 1200), GRANTED_501F, 500)
    assert response == InitiateResponse(None, DLMS_VERSION, GRANTED_501F, 500, VAA_NAME_LN)


@pytest.mark.parametrize(
    ("size", "accepted"), [(0, True), (1, False), (11, False), (12, True), (0xFFFF, True)]
)
def test_negotiate_client_max_receive_pdu_size(size: int, accepted: bool) -> None:
    # Green Book 9.3.2: 0 means no limit, 1..11 are reserved.
    result = negotiate(InitiateRequest(None, True, None, 6, PROPOSED_7E1F, size), GRANTED_501F, 500)
    if accepted:
        assert isinstance(result, InitiateResponse)
    else:
        assert isinstance(result, ConfirmedServiceError)
        assert encode_confirmed_service_error(result) == bytes.fromhex("0E010603")


@pytest.mark.parametrize(
    ("proposed", "server"),
    [
        (C.BLOCK_TRANSFER_WITH_GET_OR_READ | C.SELECTIVE_ACCESS, GRANTED_501F),
        (C.GET, C.SET | C.ACTION),
        (C(0), GRANTED_501F),
    ],
)
def test_negotiate_incompatible_conformance(proposed: Conformance, server: Conformance) -> None:
    result = negotiate(InitiateRequest(None, True, None, 6, proposed, 1200), server, 500)
    assert isinstance(result, ConfirmedServiceError)
    assert encode_confirmed_service_error(result) == bytes.fromhex("0E010602")


def test_negotiate_checks_the_version_before_the_size_and_the_conformance() -> None:
    result = negotiate(InitiateRequest(None, True, None, 5, C(0), 1), GRANTED_501F, 500)
    assert result == initiate_error(InitiateError.DLMS_VERSION_TOO_LOW)
    result = negotiate(InitiateRequest(None, True, None, 6, C(0), 1), GRANTED_501F, 500)
    assert result == initiate_error(InitiateError.PDU_SIZE_TOO_SHORT)


def test_service_conformance_leaves_out_features_and_reserved_bits() -> None:
    assert not SERVICE_CONFORMANCE & (
        C.RESERVED_ZERO | C.RESERVED_SEVEN | C.SELECTIVE_ACCESS | C.BLOCK_TRANSFER_WITH_GET_OR_READ
    )
    assert SERVICE_CONFORMANCE & C.GET

"""xDLMS InitiateRequest, InitiateResponse and ConfirmedServiceError.

A-XDR encodings of the Green Book (IEC 62056-5-3) 9.5 ASN.1, carried in the
user-information of the AARQ/AARE (9.4.2), and the negotiation of the DLMS
version, conformance block and PDU size a server performs on them (9.4.6.1
and the COSEM-OPEN service, 9.3.2).

A-XDR (IEC 61334-6): an OPTIONAL or DEFAULT component is preceded by a usage
flag (``00`` absent or default, ``01`` present); a DEFAULT component that has
its default value is encoded as absent. The conformance block is the BER
encoded ``[APPLICATION 31] IMPLICIT BIT STRING (SIZE(24))``: ``5F 1F 04 00``
followed by the 24 bits.
"""

import struct
from dataclasses import dataclass
from typing import Final

from dlmstw.codec.axdr import decode_length, encode_length
from dlmstw.enums import (
    ApduTag,
    ConfirmedServiceErrorChoice,
    Conformance,
    InitiateError,
    ServiceErrorKind,
)
from dlmstw.errors import DecodeError

DLMS_VERSION: Final = 6
"""The DLMS version this profile speaks; a lower proposal is refused (Green Book 9.3.2)."""

VAA_NAME_LN: Final = 0x0007
"""vaa-name of a logical-name association (Green Book 9.5)."""

MIN_MAX_RECEIVE_PDU_SIZE: Final = 12
"""Smallest client-max-receive-pdu-size allowed; 1..11 are reserved and 0 means no limit (Green Book 9.3.2)."""

SERVICE_CONFORMANCE: Final = (
    Conformance.READ
    | Conformance.WRITE
    | Conformance.UNCONFIRMED_WRITE
    | Conformance.INFORMATION_REPORT
    | Conformance.DATA_NOTIFICATION
    | Conformance.ACCESS
    | Conformance.GET
    | Conformance.SET
    | Conformance.EVENT_NOTIFICATION
    | Conformance.ACTION
)
"""Conformance bits that name an xDLMS service (Green Book 9.4.6.1); the others name features of them."""

_CONFORMANCE_HEADER: Final = b"\x5f\x1f\x04\x00"
_REQUEST_TAIL: Final = struct.Struct(">B4s3sH")
_RESPONSE_TAIL: Final = struct.Struct(">B4s3sHH")


@dataclass(frozen=True, slots=True)
class InitiateRequest:
    """xDLMS InitiateRequest (Green Book 9.5), tag 0x01."""

    dedicated_key: bytes | None
    response_allowed: bool
    proposed_quality_of_service: int | None
    proposed_dlms_version_number: int
    proposed_conformance: Conformance
    client_max_receive_pdu_size: int


@dataclass(frozen=True, slots=True)
class InitiateResponse:
    """xDLMS InitiateResponse (Green Book 9.5), tag 0x08; ``vaa_name`` kept unsigned (0x0007 LN, 0xFA00 SN)."""

    negotiated_quality_of_service: int | None
    negotiated_dlms_version_number: int
    negotiated_conformance: Conformance
    server_max_receive_pdu_size: int
    vaa_name: int = VAA_NAME_LN


@dataclass(frozen=True, slots=True)
class ConfirmedServiceError:
    """xDLMS ConfirmedServiceError (Green Book 9.5), tag 0x0E: which service, which ServiceError, its value."""

    service: ConfirmedServiceErrorChoice
    error: ServiceErrorKind
    value: int


def _usage_flag(buf: bytes, pos: int, what: str) -> bool:
    if pos >= len(buf):
        raise DecodeError(f"truncated before {what}", pos)
    flag = buf[pos]
    if flag > 1:
        raise DecodeError(f"usage flag 0x{flag:02X} of {what} is neither 00 nor 01", pos)
    return flag == 1


def _byte(buf: bytes, pos: int, what: str) -> int:
    if pos >= len(buf):
        raise DecodeError(f"truncated in {what}", pos)
    return buf[pos]


def _integer8(buf: bytes, pos: int, what: str) -> int:
    octet = _byte(buf, pos, what)
    return octet - 0x100 if octet & 0x80 else octet


def _check_tag(buf: bytes, tag: ApduTag) -> None:
    if not buf:
        raise DecodeError(f"empty {tag.name}", 0)
    if buf[0] != tag:
        raise DecodeError(f"expected tag 0x{tag:02X} ({tag.name}), found 0x{buf[0]:02X}", 0)


def _check_tail(buf: bytes, pos: int, size: int) -> None:
    """The fixed-size tail from ``pos``: version, conformance, sizes; nothing may follow."""
    if len(buf) - pos < size:
        raise DecodeError("truncated", len(buf))
    if len(buf) - pos > size:
        raise DecodeError("unexpected bytes after the APDU", pos + size)
    if buf[pos + 1 : pos + 5] != _CONFORMANCE_HEADER:
        raise DecodeError("conformance is not [APPLICATION 31] BIT STRING (SIZE(24))", pos + 1)


def encode_initiate_request(request: InitiateRequest) -> bytes:
    """A-XDR encoding of an InitiateRequest (Green Book 9.5)."""
    key = request.dedicated_key
    qos = request.proposed_quality_of_service
    return b"".join(
        (
            b"\x01",
            b"\x00" if key is None else b"\x01" + encode_length(len(key)) + key,
            b"\x00" if request.response_allowed else b"\x01\x00",
            b"\x00" if qos is None else struct.pack(">Bb", 1, qos),
            _REQUEST_TAIL.pack(
                request.proposed_dlms_version_number,
                _CONFORMANCE_HEADER,
                int(request.proposed_conformance).to_bytes(3, "big"),
                request.client_max_receive_pdu_size,
            ),
        )
    )


def decode_initiate_request(apdu: bytes) -> InitiateRequest:
    """Decode a whole InitiateRequest APDU (tag 0x01); raises ``DecodeError``."""
    _check_tag(apdu, ApduTag.INITIATE_REQUEST)
    pos = 1
    key = None
    if _usage_flag(apdu, pos, "dedicated-key"):
        length, pos = decode_length(apdu, pos + 1)
        if pos + length > len(apdu):
            raise DecodeError("dedicated-key runs past the end", len(apdu))
        key = bytes(apdu[pos : pos + length])
        pos += length
    else:
        pos += 1
    response_allowed = True
    if _usage_flag(apdu, pos, "response-allowed"):
        response_allowed = _byte(apdu, pos + 1, "response-allowed") != 0
        pos += 2
    else:
        pos += 1
    qos = None
    if _usage_flag(apdu, pos, "proposed-quality-of-service"):
        qos = _integer8(apdu, pos + 1, "proposed-quality-of-service")
        pos += 2
    else:
        pos += 1
    _check_tail(apdu, pos, _REQUEST_TAIL.size)
    version, _, conformance, max_pdu = _REQUEST_TAIL.unpack_from(apdu, pos)
    return InitiateRequest(
        dedicated_key=key,
        response_allowed=response_allowed,
        proposed_quality_of_service=qos,
        proposed_dlms_version_number=version,
        proposed_conformance=Conformance(int.from_bytes(conformance, "big")),
        client_max_receive_pdu_size=max_pdu,
    )


def encode_initiate_response(response: InitiateResponse) -> bytes:
    """A-XDR encoding of an InitiateResponse (Green Book 9.5)."""
    qos = response.negotiated_quality_of_service
    return b"".join(
        (
            b"\x08\x00" if qos is None else struct.pack(">BBb", 0x08, 1, qos),
            _RESPONSE_TAIL.pack(
                response.negotiated_dlms_version_number,
                _CONFORMANCE_HEADER,
                int(response.negotiated_conformance).to_bytes(3, "big"),
                response.server_max_receive_pdu_size,
                response.vaa_name,
            ),
        )
    )


def decode_initiate_response(apdu: bytes) -> InitiateResponse:
    """Decode a whole InitiateResponse APDU (tag 0x08); raises ``DecodeError``."""
    _check_tag(apdu, ApduTag.INITIATE_RESPONSE)
    pos = 1
    qos = None
    if _usage_flag(apdu, pos, "negotiated-quality-of-service"):
        qos = _integer8(apdu, pos + 1, "negotiated-quality-of-service")
        pos += 2
    else:
        pos += 1
    _check_tail(apdu, pos, _RESPONSE_TAIL.size)
    version, _, conformance, max_pdu, vaa_name = _RESPONSE_TAIL.unpack_from(apdu, pos)
    return InitiateResponse(
        negotiated_quality_of_service=qos,
        negotiated_dlms_version_number=version,
        negotiated_conformance=Conformance(int.from_bytes(conformance, "big")),
        server_max_receive_pdu_size=max_pdu,
        vaa_name=vaa_name,
    )


def encode_confirmed_service_error(error: ConfirmedServiceError) -> bytes:
    """A-XDR encoding of a ConfirmedServiceError, e.g. ``0E 01 06 01`` (Green Book 9.5)."""
    return bytes((ApduTag.CONFIRMED_SERVICE_ERROR, error.service, error.error, error.value))


def decode_confirmed_service_error(apdu: bytes) -> ConfirmedServiceError:
    """Decode a whole ConfirmedServiceError APDU (tag 0x0E); raises ``DecodeError``."""
    _check_tag(apdu, ApduTag.CONFIRMED_SERVICE_ERROR)
    if len(apdu) < 4:
        raise DecodeError("truncated ConfirmedServiceError", len(apdu))
    if len(apdu) > 4:
        raise DecodeError("unexpected bytes after the APDU", 4)
    try:
        service = ConfirmedServiceErrorChoice(apdu[1])
    except ValueError:
        raise DecodeError(f"unknown ConfirmedServiceError choice {apdu[1]}", 1) from None
    try:
        kind = ServiceErrorKind(apdu[2])
    except ValueError:
        raise DecodeError(f"unknown ServiceError choice {apdu[2]}", 2) from None
    return ConfirmedServiceError(service, kind, apdu[3])


def initiate_error(reason: InitiateError) -> ConfirmedServiceError:
    """The ConfirmedServiceError initiateError / initiate / ``reason`` a refused InitiateRequest gets."""
    return ConfirmedServiceError(
        ConfirmedServiceErrorChoice.INITIATE_ERROR, ServiceErrorKind.INITIATE, reason
    )


def negotiate(
    request: InitiateRequest, server_conformance: Conformance, server_max_receive_pdu_size: int
) -> InitiateResponse | ConfirmedServiceError:
    """A server's answer to an InitiateRequest (Green Book 9.3.2 COSEM-OPEN, 9.4.6.1).

    A proposed DLMS version below 6 gets dlms-version-too-low (a higher one is
    answered with 6); a client-max-receive-pdu-size of 1..11 gets
    pdu-size-too-short (0 means no limit); the negotiated conformance is the
    intersection of the proposed and the server's blocks, and an intersection
    naming no service gets incompatible-conformance. The response carries the
    server's own max receive PDU size.
    """
    if request.proposed_dlms_version_number < DLMS_VERSION:
        return initiate_error(InitiateError.DLMS_VERSION_TOO_LOW)
    if 0 < request.client_max_receive_pdu_size < MIN_MAX_RECEIVE_PDU_SIZE:
        return initiate_error(InitiateError.PDU_SIZE_TOO_SHORT)
    negotiated = request.proposed_conformance & server_conformance
    if not negotiated & SERVICE_CONFORMANCE:
        return initiate_error(InitiateError.INCOMPATIBLE_CONFORMANCE)
    return InitiateResponse(
        negotiated_quality_of_service=None,
        negotiated_dlms_version_number=DLMS_VERSION,
        negotiated_conformance=negotiated,
        server_max_receive_pdu_size=server_max_receive_pdu_size,
    )

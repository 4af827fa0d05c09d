"""xDLMS InitiateRequest, InitiateResponse and ConfirmedServiceError.

A-XDR encodings of the Green Book (IEC 62056-5-3) 9.5 ASN.1, carried in the
user-information of the AARQ/AARE (9.4.2), and the negotiation of the DLMS
version, conformance block and PDU size a server performs on them (9.4.6.1
and the COSEM-OPEN service, 9.3.2).

A-XDR (IEC 61334-6): an OPTIONAL or DEFAULT component is preceded by a usage
flag (``00`` absent or default, ``01`` present); a DEFAULT component that has
its default value is encoded as absent. The conformance block is the BER
encoded ``[APPLICATION 31] IMPLICIT BIT STRING (SIZE(24))``: ``5F 1F 04 00``
followed by the 24 bits. A decoder's optional tracer
(``dlmstw.interfaces.Tracer``) hears every field under its ASN.1 name.
"""

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeVar

from dlmstw.codec.axdr import decode_length, encode_length
from dlmstw.enums import (
    ApduTag,
    ConfirmedServiceErrorChoice,
    Conformance,
    InitiateError,
    ServiceErrorKind,
)
from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

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
_E = TypeVar("_E", bound=IntEnum)
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


def _need(buf: bytes, pos: int, size: int, what: str) -> None:
    if len(buf) - pos < size:
        raise DecodeError(f"truncated: {what} expected", pos)


def _optional(buf: bytes, pos: int, what: str, t: Tracer | None) -> bool:
    """The usage flag of an OPTIONAL or DEFAULT component at ``pos``; a tracer
    hears the component as the group ``what``, starting with its ``usage-flag``."""
    _need(buf, pos, 1, f"usage flag of {what}")
    flag = buf[pos]
    if flag > 1:
        raise DecodeError(f"usage flag 0x{flag:02X} of {what} is neither 00 nor 01", pos)
    if t is not None:
        t.enter(what, pos)
        t.field("usage-flag", pos, 1, flag == 1)
    return flag == 1


def _leave(t: Tracer | None, end: int) -> None:
    if t is not None:
        t.leave(end)


def _unsigned(buf: bytes, pos: int, size: int, what: str, t: Tracer | None, traced_as: str | None = None) -> int:
    """An unsigned integer of ``size`` octets, traced as ``traced_as`` (default ``what``)."""
    _need(buf, pos, size, what)
    value = int.from_bytes(buf[pos : pos + size], "big")
    if t is not None:
        t.field(traced_as or what, pos, size, value)
    return value


def _integer8(buf: bytes, pos: int, what: str, t: Tracer | None) -> int:
    octet = _unsigned(buf, pos, 1, what, None)
    value = octet - 0x100 if octet & 0x80 else octet
    if t is not None:
        t.field("value", pos, 1, value)
    return value


def _quality_of_service(buf: bytes, pos: int, what: str, t: Tracer | None) -> tuple[int | None, int]:
    """OPTIONAL quality-of-service Integer8 (Green Book 9.5)."""
    qos = None
    if _optional(buf, pos, what, t):
        qos = _integer8(buf, pos + 1, what, t)
        pos += 1
    _leave(t, pos + 1)
    return qos, pos + 1


def check_tag(buf: bytes, tag: ApduTag, t: Tracer | None = None) -> None:
    """Refuse an APDU that is empty or does not start with ``tag``; a tracer hears the ``tag``."""
    if not buf:
        raise DecodeError(f"empty {tag.name}", 0)
    if buf[0] != tag:
        raise DecodeError(f"expected tag 0x{tag:02X} ({tag.name}), found 0x{buf[0]:02X}", 0)
    if t is not None:
        t.field("tag", 0, 1, tag)


def _conformance(buf: bytes, pos: int, what: str, t: Tracer | None) -> Conformance:
    """Conformance ::= [APPLICATION 31] IMPLICIT BIT STRING (SIZE(24)) (Green Book 9.4.6.1):
    ``5F 1F 04 00`` then the 24 bits, traced as the group ``what``."""
    _need(buf, pos, len(_CONFORMANCE_HEADER), what)
    if buf[pos : pos + len(_CONFORMANCE_HEADER)] != _CONFORMANCE_HEADER:
        raise DecodeError("conformance is not [APPLICATION 31] BIT STRING (SIZE(24))", pos)
    _need(buf, pos + 4, 3, "conformance-block")
    block = Conformance(int.from_bytes(buf[pos + 4 : pos + 7], "big"))
    if t is not None:
        t.enter(what, pos)
        t.field("tag", pos, 2, 0x5F1F)
        t.field("length", pos + 2, 1, 4)
        t.field("unused-bits", pos + 3, 1, 0)
        t.field("conformance-block", pos + 4, 3, block)
        t.leave(pos + 7)
    return block


def _choice(buf: bytes, pos: int, enum: type[_E], what: str, traced_as: str, t: Tracer | None) -> _E:
    """One octet naming a member of ``enum``; an unknown value is refused."""
    value = _unsigned(buf, pos, 1, what, None)
    try:
        member = enum(value)
    except ValueError:
        raise DecodeError(f"unknown {what} {value}", pos) from None
    if t is not None:
        t.field(traced_as, pos, 1, member)
    return member


def _check_end(buf: bytes, pos: int) -> None:
    if len(buf) > pos:
        raise DecodeError("unexpected bytes after the APDU", pos)


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


def decode_initiate_request(apdu: bytes, tracer: Tracer | None = None) -> InitiateRequest:
    """Decode a whole InitiateRequest APDU (tag 0x01); raises ``DecodeError``."""
    t = tracer
    check_tag(apdu, ApduTag.INITIATE_REQUEST, t)
    pos = 1
    key = None
    if _optional(apdu, pos, "dedicated-key", t):
        length, pos = decode_length(apdu, pos + 1)
        if t is not None:
            t.field("length", 2, pos - 2, length)
        if pos + length > len(apdu):
            raise DecodeError("dedicated-key runs past the end", len(apdu))
        key = bytes(apdu[pos : pos + length])
        if t is not None:
            t.field("value", pos, length, key)
        pos += length
    else:
        pos += 1
    _leave(t, pos)
    response_allowed = True
    if _optional(apdu, pos, "response-allowed", t):
        response_allowed = _unsigned(apdu, pos + 1, 1, "response-allowed", t, "value") != 0
        pos += 1
    pos += 1
    _leave(t, pos)
    qos, pos = _quality_of_service(apdu, pos, "proposed-quality-of-service", t)
    version = _unsigned(apdu, pos, 1, "proposed-dlms-version-number", t)
    conformance = _conformance(apdu, pos + 1, "proposed-conformance", t)
    max_pdu = _unsigned(apdu, pos + 8, 2, "client-max-receive-pdu-size", t)
    _check_end(apdu, pos + 10)
    return InitiateRequest(
        dedicated_key=key,
        response_allowed=response_allowed,
        proposed_quality_of_service=qos,
        proposed_dlms_version_number=version,
        proposed_conformance=conformance,
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


def decode_initiate_response(apdu: bytes, tracer: Tracer | None = None) -> InitiateResponse:
    """Decode a whole InitiateResponse APDU (tag 0x08); raises ``DecodeError``."""
    t = tracer
    check_tag(apdu, ApduTag.INITIATE_RESPONSE, t)
    qos, pos = _quality_of_service(apdu, 1, "negotiated-quality-of-service", t)
    version = _unsigned(apdu, pos, 1, "negotiated-dlms-version-number", t)
    conformance = _conformance(apdu, pos + 1, "negotiated-conformance", t)
    max_pdu = _unsigned(apdu, pos + 8, 2, "server-max-receive-pdu-size", t)
    vaa_name = _unsigned(apdu, pos + 10, 2, "vaa-name", t)
    _check_end(apdu, pos + 12)
    return InitiateResponse(
        negotiated_quality_of_service=qos,
        negotiated_dlms_version_number=version,
        negotiated_conformance=conformance,
        server_max_receive_pdu_size=max_pdu,
        vaa_name=vaa_name,
    )


def encode_confirmed_service_error(error: ConfirmedServiceError) -> bytes:
    """A-XDR encoding of a ConfirmedServiceError, e.g. ``0E 01 06 01`` (Green Book 9.5)."""
    return bytes((ApduTag.CONFIRMED_SERVICE_ERROR, error.service, error.error, error.value))


def decode_confirmed_service_error(apdu: bytes, tracer: Tracer | None = None) -> ConfirmedServiceError:
    """Decode a whole ConfirmedServiceError APDU (tag 0x0E); raises ``DecodeError``."""
    t = tracer
    check_tag(apdu, ApduTag.CONFIRMED_SERVICE_ERROR, t)
    service = _choice(apdu, 1, ConfirmedServiceErrorChoice, "ConfirmedServiceError choice", "service", t)
    kind = _choice(apdu, 2, ServiceErrorKind, "ServiceError choice", "service-error", t)
    value = _unsigned(apdu, 3, 1, "value", t)
    _check_end(apdu, 4)
    return ConfirmedServiceError(service, kind, value)


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

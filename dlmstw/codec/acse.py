"""ACSE APDUs of the DLMS profile: AARQ, AARE, RLRQ and RLRE.

Green Book (IEC 62056-5-3) 9.4.2 and its ASN.1 in 9.5, after ISO/IEC 8650-1:
BER encoded, context tags EXPLICIT unless the ASN.1 says IMPLICIT, fields in
ascending tag order. ``AP-title`` and ``AE-qualifier`` are OCTET STRINGs,
invocation identifiers INTEGERs, and ``user-information`` is one OCTET STRING
holding an xDLMS APDU (InitiateRequest/Response, their ciphered forms or a
ConfirmedServiceError).

Application context and mechanism names are kept as the last arc of
2.16.756.5.8.1.x and 2.16.756.5.8.2.x (Green Book 9.4.2.2.2 and 9.4.2.2.3).
Any other object identifier decodes to ``FOREIGN_NAME`` with its raw content
kept, so the meter can answer application-context-name-not-supported or
authentication-mechanism-name-not-recognised instead of dropping the AARQ.
A decoder's optional tracer (``dlmstw.interfaces.Tracer``) hears each component
as a group of its ASN.1 name, with its BER header.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from dlmstw.codec.ber import (
    UNIVERSAL_INTEGER,
    UNIVERSAL_OBJECT_IDENTIFIER,
    UNIVERSAL_OCTET_STRING,
    decode_integer,
    decode_oid,
    encode_integer,
    encode_oid,
    encode_tlv,
    iter_tlv,
    read_single,
    trace_header,
)
from dlmstw.enums import ApduTag, AssociationResult
from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

FOREIGN_NAME: Final = -1
"""Name of an application context or mechanism whose OID is not a DLMS one."""

APPLICATION_CONTEXT_ARCS: Final = (2, 16, 756, 5, 8, 1)
"""application-context-name prefix, Green Book 9.4.2.2.2."""

MECHANISM_ARCS: Final = (2, 16, 756, 5, 8, 2)
"""mechanism-name prefix, Green Book 9.4.2.2.3."""

SOURCE_ACSE_SERVICE_USER: Final = 1
"""result-source-diagnostic CHOICE acse-service-user [1]."""

SOURCE_ACSE_SERVICE_PROVIDER: Final = 2
"""result-source-diagnostic CHOICE acse-service-provider [2]."""

# ACSE-requirements ::= BIT STRING { authentication(0) }: one bit used, seven unused.
_ACSE_REQUIREMENTS_AUTHENTICATION: Final = b"\x07\x80"
_CONTEXT_CLASS_MASK: Final = 0xC0
_CONTEXT_CLASS: Final = 0x80


class AuthenticationValueChoice(IntEnum):
    """Authentication-value CHOICE alternatives the DLMS profile uses (Green Book 9.5)."""

    CHARSTRING = 0
    """charstring [0] IMPLICIT GraphicString: LLS passwords and HLS challenges."""
    BITSTRING = 1
    """bitstring [1] IMPLICIT BIT STRING, kept here without its unused-bits octet."""


@dataclass(frozen=True, slots=True)
class AARQ:
    """A-ASSOCIATE request, AARQ-apdu ::= [APPLICATION 0] (Green Book 9.4.2)."""

    application_context_name: int
    calling_ap_title: bytes | None = None
    calling_ae_qualifier: bytes | None = None
    calling_ap_invocation_id: int | None = None
    calling_ae_invocation_id: int | None = None
    called_ap_title: bytes | None = None
    sender_acse_requirements: bool = False
    mechanism_name: int | None = None
    calling_authentication_value: bytes | None = None
    user_information: bytes | None = None
    protocol_version: bytes | None = None
    """Content of protocol-version [0] IMPLICIT BIT STRING when present (``0780`` is version1)."""
    application_context_oid: bytes = b""
    """Raw OID content when ``application_context_name`` is ``FOREIGN_NAME``."""
    mechanism_oid: bytes = b""
    """Raw OID content when ``mechanism_name`` is ``FOREIGN_NAME``."""
    authentication_value_choice: AuthenticationValueChoice = AuthenticationValueChoice.CHARSTRING


@dataclass(frozen=True, slots=True)
class AARE:
    """A-ASSOCIATE response, AARE-apdu ::= [APPLICATION 1] (Green Book 9.4.2).

    ``result_source_diagnostic`` is ``(source, value)``: source 1 is
    acse-service-user (``AcseServiceUserDiagnostic``), 2 acse-service-provider.
    """

    application_context_name: int
    result: AssociationResult
    result_source_diagnostic: tuple[int, int]
    responding_ap_title: bytes | None = None
    responding_ae_qualifier: bytes | None = None
    responder_acse_requirements: bool = False
    mechanism_name: int | None = None
    responding_authentication_value: bytes | None = None
    user_information: bytes | None = None
    protocol_version: bytes | None = None
    application_context_oid: bytes = b""
    mechanism_oid: bytes = b""
    authentication_value_choice: AuthenticationValueChoice = AuthenticationValueChoice.CHARSTRING


@dataclass(frozen=True, slots=True)
class RLRQ:
    """A-RELEASE request, RLRQ-apdu ::= [APPLICATION 2] (Green Book 9.4.2); reason per ``ReleaseRequestReason``."""

    reason: int | None = None
    user_information: bytes | None = None


@dataclass(frozen=True, slots=True)
class RLRE:
    """A-RELEASE response, RLRE-apdu ::= [APPLICATION 3] (Green Book 9.4.2); reason per ``ReleaseResponseReason``."""

    reason: int | None = None
    user_information: bytes | None = None


# --- field decoders: (buf, content_start, content_end, tracer) -> keyword arguments ---

_FieldDecoder = Callable[[bytes, int, int, "Tracer | None"], dict[str, Any]]


def _inner(buf: bytes, start: int, end: int, tag: int, t: Tracer | None) -> tuple[int, int]:
    """Content bounds of the one TLV inside an EXPLICIT tag, which must carry ``tag``."""
    return read_single(buf, start, end, tag, t, "inner-")


def _value(t: Tracer | None, start: int, end: int, value: object) -> None:
    if t is not None:
        t.field("value", start, end - start, value)


def _named_oid(buf: bytes, start: int, end: int, prefix: tuple[int, ...], t: Tracer | None) -> tuple[int, bytes]:
    arcs = decode_oid(buf, start, end)
    _value(t, start, end, arcs)
    if len(arcs) == len(prefix) + 1 and arcs[:-1] == prefix:
        return arcs[-1], b""
    return FOREIGN_NAME, bytes(buf[start:end])


def _application_context(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
    oid_start, oid_end = _inner(buf, start, end, UNIVERSAL_OBJECT_IDENTIFIER, t)
    name, oid = _named_oid(buf, oid_start, oid_end, APPLICATION_CONTEXT_ARCS, t)
    return {"application_context_name": name, "application_context_oid": oid}


def _mechanism(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
    name, oid = _named_oid(buf, start, end, MECHANISM_ARCS, t)
    return {"mechanism_name": name, "mechanism_oid": oid}


def _octet_string(field: str, traced_as: str = "value") -> _FieldDecoder:
    def decode(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
        value_start, value_end = _inner(buf, start, end, UNIVERSAL_OCTET_STRING, t)
        value = bytes(buf[value_start:value_end])
        if t is not None:
            t.field(traced_as, value_start, value_end - value_start, value)
        return {field: value}

    return decode


def _integer(field: str) -> _FieldDecoder:
    def decode(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
        value_start, value_end = _inner(buf, start, end, UNIVERSAL_INTEGER, t)
        value = decode_integer(buf, value_start, value_end)
        _value(t, value_start, value_end, value)
        return {field: value}

    return decode


def _implicit_integer(field: str) -> _FieldDecoder:
    def decode(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
        value = decode_integer(buf, start, end)
        _value(t, start, end, value)
        return {field: value}

    return decode


def _skipped(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
    """A component the DLMS profile does not use: read past, its content one field."""
    _value(t, start, end, bytes(buf[start:end]))
    return {}


def _protocol_version(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
    """protocol-version [0] IMPLICIT BIT STRING { version1 (0) } (ISO/IEC 8650-1), kept raw:
    traced as its initial octet and its bits (X.690 8.6.2)."""
    if t is not None and end > start:
        t.field("unused-bits", start, 1, buf[start])
        if end > start + 1:
            t.field("bits", start + 1, end - start - 1, bytes(buf[start + 1 : end]))
    return {"protocol_version": bytes(buf[start:end])}


def _acse_requirements(field: str) -> _FieldDecoder:
    """ACSE-requirements ::= BIT STRING { authentication(0) } (Green Book 9.5)."""

    def decode(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
        if start == end or buf[start] > 7:
            raise DecodeError("malformed ACSE-requirements BIT STRING", start)
        if t is not None:
            t.field("unused-bits", start, 1, buf[start])
        authentication = end - start > 1 and bool(buf[start + 1] & 0x80)
        if t is not None and end > start + 1:
            t.field("authentication", start + 1, end - start - 1, authentication)
        return {field: authentication}

    return decode


def _authentication_value(field: str) -> _FieldDecoder:
    """Authentication-value ::= CHOICE { charstring [0], bitstring [1], ... } (Green Book 9.5)."""

    def decode(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
        if start == end:
            raise DecodeError("empty Authentication-value", start)
        tag = buf[start]
        if tag == 0x80:
            value_start, value_end = _inner(buf, start, end, 0x80, t)
            choice = AuthenticationValueChoice.CHARSTRING
        elif tag == 0x81:
            value_start, value_end = _inner(buf, start, end, 0x81, t)
            if value_start == value_end or buf[value_start] != 0:
                raise DecodeError("authentication bitstring with unused bits", value_start)
            if t is not None:
                t.field("unused-bits", value_start, 1, 0)
            value_start += 1
            choice = AuthenticationValueChoice.BITSTRING
        else:
            raise DecodeError(f"unsupported Authentication-value choice 0x{tag:02X}", start)
        value = bytes(buf[value_start:value_end])
        _value(t, value_start, value_end, value)
        return {field: value, "authentication_value_choice": choice}

    return decode


def _association_result(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
    value_start, value_end = _inner(buf, start, end, UNIVERSAL_INTEGER, t)
    value = decode_integer(buf, value_start, value_end)
    try:
        result = AssociationResult(value)
    except ValueError:
        raise DecodeError(f"unknown Association-result {value}", value_start) from None
    _value(t, value_start, value_end, result)
    return {"result": result}


_DIAGNOSTIC_SOURCES: Final = {0xA0 | SOURCE_ACSE_SERVICE_USER: "acse-service-user",
                              0xA0 | SOURCE_ACSE_SERVICE_PROVIDER: "acse-service-provider"}


def _result_source_diagnostic(buf: bytes, start: int, end: int, t: Tracer | None) -> dict[str, Any]:
    """Associate-source-diagnostic ::= CHOICE { acse-service-user [1], acse-service-provider [2] }."""
    if start == end:
        raise DecodeError("empty result-source-diagnostic", start)
    tag = buf[start]
    source = _DIAGNOSTIC_SOURCES.get(tag)
    if source is None:
        raise DecodeError(f"unknown result-source-diagnostic choice 0x{tag:02X}", start)
    if t is not None:
        t.enter(source, start)
    choice_start, choice_end = read_single(buf, start, end, tag, t)
    value_start, value_end = _inner(buf, choice_start, choice_end, UNIVERSAL_INTEGER, t)
    value = decode_integer(buf, value_start, value_end)
    if t is not None:
        _value(t, value_start, value_end, value)
        t.leave(end)
    return {"result_source_diagnostic": (tag & 0x1F, value)}


_USER_INFORMATION = ("user-information", _octet_string("user_information", "apdu"))
"""user-information [30] EXPLICIT OCTET STRING: its content, traced as ``apdu``, is an xDLMS APDU."""
_IMPLEMENTATION_INFORMATION = ("implementation-information", _skipped)

_AARQ_FIELDS: Final[dict[int, tuple[str, _FieldDecoder]]] = {
    0x80: ("protocol-version", _protocol_version),
    0xA1: ("application-context-name", _application_context),
    0xA2: ("called-AP-title", _octet_string("called_ap_title")),
    0xA3: ("called-AE-qualifier", _skipped),
    0xA4: ("called-AP-invocation-identifier", _skipped),
    0xA5: ("called-AE-invocation-identifier", _skipped),
    0xA6: ("calling-AP-title", _octet_string("calling_ap_title")),
    0xA7: ("calling-AE-qualifier", _octet_string("calling_ae_qualifier")),
    0xA8: ("calling-AP-invocation-identifier", _integer("calling_ap_invocation_id")),
    0xA9: ("calling-AE-invocation-identifier", _integer("calling_ae_invocation_id")),
    0x8A: ("sender-acse-requirements", _acse_requirements("sender_acse_requirements")),
    0x8B: ("mechanism-name", _mechanism),
    0xAC: ("calling-authentication-value", _authentication_value("calling_authentication_value")),
    0x9D: _IMPLEMENTATION_INFORMATION,
    0xBE: _USER_INFORMATION,
}
"""AARQ-apdu components by tag: their ASN.1 names and decoders (Green Book 9.5)."""

_AARE_FIELDS: Final[dict[int, tuple[str, _FieldDecoder]]] = {
    0x80: ("protocol-version", _protocol_version),
    0xA1: ("application-context-name", _application_context),
    0xA2: ("result", _association_result),
    0xA3: ("result-source-diagnostic", _result_source_diagnostic),
    0xA4: ("responding-AP-title", _octet_string("responding_ap_title")),
    0xA5: ("responding-AE-qualifier", _octet_string("responding_ae_qualifier")),
    0xA6: ("responding-AP-invocation-identifier", _skipped),
    0xA7: ("responding-AE-invocation-identifier", _skipped),
    0x88: ("responder-acse-requirements", _acse_requirements("responder_acse_requirements")),
    0x89: ("mechanism-name", _mechanism),
    0xAA: ("responding-authentication-value", _authentication_value("responding_authentication_value")),
    0x9D: _IMPLEMENTATION_INFORMATION,
    0xBE: _USER_INFORMATION,
}
"""AARE-apdu components by tag (Green Book 9.5)."""

_RELEASE_FIELDS: Final[dict[int, tuple[str, _FieldDecoder]]] = {
    0x80: ("reason", _implicit_integer("reason")),
    0xBE: _USER_INFORMATION,
}
"""RLRQ-apdu and RLRE-apdu components by tag (Green Book 9.5)."""


def _decode_fields(apdu: bytes, tag: int, fields: dict[int, tuple[str, _FieldDecoder]], required: tuple[str, ...],
                   t: Tracer | None) -> dict[str, Any]:
    """Decode one [APPLICATION n] SEQUENCE into keyword arguments.

    Context-specific tags this profile does not carry (called-AE-qualifier,
    implementation-information [29], ...) are skipped; any other class of tag,
    trailing bytes or a missing mandatory field raise ``DecodeError``. A tracer
    hears the APDU's ``tag`` and ``length``, then each component as a group of
    its ASN.1 name (``[n]`` when unknown) with its own ``tag`` and ``length``.
    """
    start, end = read_single(apdu, 0, len(apdu), tag, t)
    values: dict[str, Any] = {}
    tag_offset = start
    for field_tag, field_start, field_end in iter_tlv(apdu, start, end):
        entry = fields.get(field_tag)
        if entry is None:
            if field_tag & _CONTEXT_CLASS_MASK != _CONTEXT_CLASS:
                raise DecodeError(f"unexpected tag 0x{field_tag:02X} in the ACSE APDU", tag_offset)
            entry = (f"[{field_tag & 0x1F}]", _skipped)
        name, decoder = entry
        if t is not None:
            t.enter(name, tag_offset)
            trace_header(t, apdu, tag_offset, field_start, field_end)
        values.update(decoder(apdu, field_start, field_end, t))
        if t is not None:
            t.leave(field_end)
        tag_offset = field_end
    for name in required:
        if name not in values:
            raise DecodeError(f"{ApduTag(tag).name} without {name.replace('_', '-')}", end)
    return values


# --- encoders ---


def _oid_tlv(tag: int, name: int, foreign_oid: bytes, prefix: tuple[int, ...]) -> bytes:
    return encode_tlv(tag, foreign_oid if name == FOREIGN_NAME else encode_oid((*prefix, name)))


def _explicit(tag: int, inner_tag: int, content: bytes) -> bytes:
    return encode_tlv(tag, encode_tlv(inner_tag, content))


def _authentication_value_tlv(tag: int, value: bytes, choice: AuthenticationValueChoice) -> bytes:
    if choice is AuthenticationValueChoice.BITSTRING:
        return _explicit(tag, 0x81, b"\x00" + value)
    return _explicit(tag, 0x80, value)


def _encode_release(tag: int, reason: int | None, user_information: bytes | None) -> bytes:
    parts = []
    if reason is not None:
        parts.append(encode_tlv(0x80, encode_integer(reason)))
    if user_information is not None:
        parts.append(_explicit(0xBE, UNIVERSAL_OCTET_STRING, user_information))
    return encode_tlv(tag, b"".join(parts))


def encode_aarq(aarq: AARQ) -> bytes:
    """BER encoding of an AARQ, fields in the order of the Green Book ASN.1."""
    parts = []
    if aarq.protocol_version is not None:
        parts.append(encode_tlv(0x80, aarq.protocol_version))
    context = _oid_tlv(
        UNIVERSAL_OBJECT_IDENTIFIER,
        aarq.application_context_name,
        aarq.application_context_oid,
        APPLICATION_CONTEXT_ARCS,
    )
    parts.append(encode_tlv(0xA1, context))
    if aarq.called_ap_title is not None:
        parts.append(_explicit(0xA2, UNIVERSAL_OCTET_STRING, aarq.called_ap_title))
    if aarq.calling_ap_title is not None:
        parts.append(_explicit(0xA6, UNIVERSAL_OCTET_STRING, aarq.calling_ap_title))
    if aarq.calling_ae_qualifier is not None:
        parts.append(_explicit(0xA7, UNIVERSAL_OCTET_STRING, aarq.calling_ae_qualifier))
    if aarq.calling_ap_invocation_id is not None:
        parts.append(
            _explicit(0xA8, UNIVERSAL_INTEGER, encode_integer(aarq.calling_ap_invocation_id))
        )
    if aarq.calling_ae_invocation_id is not None:
        parts.append(
            _explicit(0xA9, UNIVERSAL_INTEGER, encode_integer(aarq.calling_ae_invocation_id))
        )
    if aarq.sender_acse_requirements:
        parts.append(encode_tlv(0x8A, _ACSE_REQUIREMENTS_AUTHENTICATION))
    if aarq.mechanism_name is not None:
        parts.append(_oid_tlv(0x8B, aarq.mechanism_name, aarq.mechanism_oid, MECHANISM_ARCS))
    if aarq.calling_authentication_value is not None:
        parts.append(
            _authentication_value_tlv(
                0xAC, aarq.calling_authentication_value, aarq.authentication_value_choice
            )
        )
    if aarq.user_information is not None:
        parts.append(_explicit(0xBE, UNIVERSAL_OCTET_STRING, aarq.user_information))
    return encode_tlv(ApduTag.AARQ, b"".join(parts))


def decode_aarq(apdu: bytes, tracer: Tracer | None = None) -> AARQ:
    """Decode a whole AARQ APDU (tag 0x60); raises ``DecodeError``."""
    return AARQ(**_decode_fields(apdu, ApduTag.AARQ, _AARQ_FIELDS, ("application_context_name",), tracer))


def encode_aare(aare: AARE) -> bytes:
    """BER encoding of an AARE, fields in the order of the Green Book ASN.1."""
    source, diagnostic = aare.result_source_diagnostic
    if source not in (SOURCE_ACSE_SERVICE_USER, SOURCE_ACSE_SERVICE_PROVIDER):
        raise ValueError(f"result-source-diagnostic source must be 1 or 2, not {source}")
    context = _oid_tlv(
        UNIVERSAL_OBJECT_IDENTIFIER,
        aare.application_context_name,
        aare.application_context_oid,
        APPLICATION_CONTEXT_ARCS,
    )
    parts = []
    if aare.protocol_version is not None:
        parts.append(encode_tlv(0x80, aare.protocol_version))
    parts += (
        encode_tlv(0xA1, context),
        _explicit(0xA2, UNIVERSAL_INTEGER, encode_integer(aare.result)),
        encode_tlv(0xA3, _explicit(0xA0 | source, UNIVERSAL_INTEGER, encode_integer(diagnostic))),
    )
    if aare.responding_ap_title is not None:
        parts.append(_explicit(0xA4, UNIVERSAL_OCTET_STRING, aare.responding_ap_title))
    if aare.responding_ae_qualifier is not None:
        parts.append(_explicit(0xA5, UNIVERSAL_OCTET_STRING, aare.responding_ae_qualifier))
    if aare.responder_acse_requirements:
        parts.append(encode_tlv(0x88, _ACSE_REQUIREMENTS_AUTHENTICATION))
    if aare.mechanism_name is not None:
        parts.append(_oid_tlv(0x89, aare.mechanism_name, aare.mechanism_oid, MECHANISM_ARCS))
    if aare.responding_authentication_value is not None:
        parts.append(
            _authentication_value_tlv(
                0xAA, aare.responding_authentication_value, aare.authentication_value_choice
            )
        )
    if aare.user_information is not None:
        parts.append(_explicit(0xBE, UNIVERSAL_OCTET_STRING, aare.user_information))
    return encode_tlv(ApduTag.AARE, b"".join(parts))


def with_user_information(apdu: bytes, user_information: bytes) -> bytes:
    """The same AARQ or AARE with ``user_information`` in place of its own
    (the last component, [30], Green Book 9.4.2): its other components are
    copied as they are, not decoded and encoded again. ``DecodeError`` when
    ``apdu`` is not one, or carries none."""
    tag = apdu[0] if apdu else -1
    if tag not in (ApduTag.AARQ, ApduTag.AARE):
        raise DecodeError("not an AARQ or AARE", 0)
    start, end = read_single(apdu, 0, len(apdu), tag)
    component = start
    for field_tag, _, field_end in iter_tlv(apdu, start, end):
        if field_tag == 0xBE:
            return encode_tlv(tag, b"".join((apdu[start:component],
                                             _explicit(0xBE, UNIVERSAL_OCTET_STRING, user_information),
                                             apdu[field_end:end])))
        component = field_end
    raise DecodeError("no user-information", end)


def decode_aare(apdu: bytes, tracer: Tracer | None = None) -> AARE:
    """Decode a whole AARE APDU (tag 0x61); raises ``DecodeError``."""
    required = ("application_context_name", "result", "result_source_diagnostic")
    return AARE(**_decode_fields(apdu, ApduTag.AARE, _AARE_FIELDS, required, tracer))


def encode_rlrq(rlrq: RLRQ) -> bytes:
    """BER encoding of an RLRQ; with no fields it is ``62 00``."""
    return _encode_release(ApduTag.RLRQ, rlrq.reason, rlrq.user_information)


def decode_rlrq(apdu: bytes, tracer: Tracer | None = None) -> RLRQ:
    """Decode a whole RLRQ APDU (tag 0x62); raises ``DecodeError``."""
    return RLRQ(**_decode_fields(apdu, ApduTag.RLRQ, _RELEASE_FIELDS, (), tracer))


def encode_rlre(rlre: RLRE) -> bytes:
    """BER encoding of an RLRE; with no fields it is ``63 00``."""
    return _encode_release(ApduTag.RLRE, rlre.reason, rlre.user_information)


def decode_rlre(apdu: bytes, tracer: Tracer | None = None) -> RLRE:
    """Decode a whole RLRE APDU (tag 0x63); raises ``DecodeError``."""
    return RLRE(**_decode_fields(apdu, ApduTag.RLRE, _RELEASE_FIELDS, (), tracer))

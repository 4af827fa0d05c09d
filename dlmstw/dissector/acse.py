"""Dissection of the ACSE APDUs (AARQ, AARE, RLRQ, RLRE) and of the xDLMS APDUs
their user-information carries (InitiateRequest, InitiateResponse,
ConfirmedServiceError).

ACSE: Green Book (IEC 62056-5-3) 9.4.2 and the ASN.1 of 9.5, after ISO/IEC
8650-1: BER with single-octet tags, walked with ``dlmstw.codec.ber``.
xDLMS initiate: A-XDR per Green Book 9.5, conformance block per 9.4.6.1.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Final

from dlmstw.codec.acse import APPLICATION_CONTEXT_ARCS, MECHANISM_ARCS
from dlmstw.codec.ber import (
    UNIVERSAL_BIT_STRING,
    UNIVERSAL_INTEGER,
    UNIVERSAL_OBJECT_IDENTIFIER,
    UNIVERSAL_OCTET_STRING,
    decode_integer,
    decode_oid,
    iter_tlv,
)
from dlmstw.codec.xdlms import VAA_NAME_LN
from dlmstw.dissector.data import octets_text, printable
from dlmstw.dissector.fields import Walk
from dlmstw.dissector.names import APPLICATION_CONTEXTS, MECHANISMS, SERVICE_ERROR_VALUES
from dlmstw.enums import (
    AcseServiceProviderDiagnostic,
    AcseServiceUserDiagnostic,
    AssociationResult,
    AuthenticationMechanism,
    ConfirmedServiceErrorChoice,
    Conformance,
    ReleaseRequestReason,
    ReleaseResponseReason,
    ServiceErrorKind,
    enum_name,
    named,
)
from dlmstw.errors import DecodeError

_UNIVERSAL_NAMES: Final = {
    UNIVERSAL_INTEGER: "INTEGER",
    UNIVERSAL_BIT_STRING: "BIT STRING",
    UNIVERSAL_OCTET_STRING: "OCTET STRING",
    UNIVERSAL_OBJECT_IDENTIFIER: "OBJECT IDENTIFIER",
}
_VAA_NAME_SN: Final = 0xFA00
_CONFORMANCE_TAG: Final = b"\x5f\x1f"
_CONFORMANCE_BITS: Final = tuple(sorted(Conformance, key=lambda flag: -flag.value))
"""Conformance flags in the order of the standard's bit numbers 0..23 (Green Book 9.4.6.1)."""

Handler = Callable[[Walk, int], str]


def _tag_text(tag: int) -> str:
    """A BER identifier octet in words (X.690 8.1.2)."""
    if tag in _UNIVERSAL_NAMES:
        return f"{_UNIVERSAL_NAMES[tag]} [UNIVERSAL {tag}]"
    form = "constructed" if tag & 0x20 else "primitive"
    number = tag & 0x1F
    if tag & 0xC0 == 0x40:
        return f"[APPLICATION {number}], {form}"
    if tag & 0xC0 == 0x80:
        return f"[{number}] context-specific, {form}"
    return f"0x{tag:02X}, {form}"


def _tlv(w: Walk, prefix: str = "") -> int:
    """The BER tag and definite length at the position as two fields ("tag", "length",
    with ``prefix`` for an inner TLV); returns the content's end."""
    _, start, stop = next(iter_tlv(w.buf, w.pos, w.end))
    w.u8(prefix + "tag", _tag_text)
    w.leaf(prefix + "length", start - w.pos, f"{stop - start} octets")
    return stop


def _inner(w: Walk, tag: int) -> int:
    """The one TLV inside an EXPLICIT tag, which must carry ``tag``; returns its content's end."""
    found = w.peek(f"BER tag 0x{tag:02X}")
    if found != tag:
        raise DecodeError(f"expected BER tag 0x{tag:02X}, found 0x{found:02X}", w.pos)
    return _tlv(w, "inner-")


def flag_id_text(raw: bytes) -> str:
    """The manufacturer's three-letter FLAG id heading a system title (Green Book 4.3.4)."""
    text = printable(raw)
    return f'manufacturer "{text}" (FLAG id)' if text is not None else f"manufacturer id {raw.hex().upper()}"


def system_title(w: Walk, name: str, n: int) -> bytes:
    """An n-octet system title; 8 octets split into the FLAG id and the
    manufacturer-specific device part (Green Book 4.3.4)."""
    w.need(n, name)
    raw = bytes(w.buf[w.pos : w.pos + n])
    if n != 8:
        w.leaf(name, n, f"{raw.hex().upper()} (a system title has 8 octets)")
        return raw
    with w.group(name) as node:
        w.leaf("manufacturer-id", 3, flag_id_text)
        device = w.leaf("device-id", 5, lambda r: f"{r.hex().upper()} ({int.from_bytes(r, 'big')})")
        node.meaning = f"system title {raw.hex().upper()}: {flag_id_text(raw[:3])}, device {device.hex().upper()}"
    return raw


# ---------------------------------------------------------------------------
# ACSE field handlers: (walk at the field's content, content end) -> meaning


def _dlms_oid(w: Walk, stop: int, prefix: tuple[int, ...], table: dict[int, str], what: str) -> tuple[int | None, str]:
    arcs = decode_oid(w.buf, w.pos, stop)
    dotted = ".".join(str(arc) for arc in arcs)
    if len(arcs) == len(prefix) + 1 and arcs[:-1] == prefix:
        last: int | None = arcs[-1]
        text = table.get(arcs[-1], f"unknown {what} {arcs[-1]}")
    else:
        last, text = None, f"not a DLMS {what}"
    w.leaf("value", stop - w.pos, f"{dotted}: {text}")
    return last, text


def _application_context_name(w: Walk, stop: int) -> str:
    """application-context-name [1] EXPLICIT OBJECT IDENTIFIER (Green Book 9.4.2.2.2)."""
    _, text = _dlms_oid(w, _inner(w, UNIVERSAL_OBJECT_IDENTIFIER), APPLICATION_CONTEXT_ARCS, APPLICATION_CONTEXTS,
                        "application context")
    return text


def _mechanism_name(w: Walk, stop: int) -> str:
    """mechanism-name [11]/[9] IMPLICIT OBJECT IDENTIFIER (Green Book 9.4.2.2.3)."""
    w.mechanism, text = _dlms_oid(w, stop, MECHANISM_ARCS, MECHANISMS, "authentication mechanism")
    return text


def _ap_title(sender: bool) -> Handler:
    """AP-title [n] EXPLICIT OCTET STRING: a system title (Green Book 9.4.2.2.4)."""

    def handler(w: Walk, stop: int) -> str:
        inner = _inner(w, UNIVERSAL_OCTET_STRING)
        raw = system_title(w, "value", inner - w.pos)
        if sender:
            w.sender_title = raw
        return f"system title {raw.hex().upper()}"

    return handler


def _octet_string(w: Walk, stop: int) -> str:
    """AE-qualifier: an OCTET STRING (the DLMS profile carries a certificate here, if anything)."""
    inner = _inner(w, UNIVERSAL_OCTET_STRING)
    text = octets_text(bytes(w.buf[w.pos : inner]))
    w.leaf("value", inner - w.pos, text)
    return text


def _integer(w: Walk, stop: int) -> str:
    """An invocation identifier: [n] EXPLICIT INTEGER."""
    inner = _inner(w, UNIVERSAL_INTEGER)
    value = decode_integer(w.buf, w.pos, inner)
    w.leaf("value", inner - w.pos, str(value))
    return str(value)


def _bit_string_head(w: Walk, stop: int, what: str) -> int:
    if w.pos >= stop or w.buf[w.pos] > 7:
        raise DecodeError(f"malformed {what} BIT STRING", w.pos)
    return w.u8("unused-bits", lambda n: f"{n} unused bits")


def _protocol_version(w: Walk, stop: int) -> str:
    """protocol-version [0] IMPLICIT BIT STRING { version1 (0) } (ISO/IEC 8650-1)."""
    _bit_string_head(w, stop, "protocol-version")
    if w.pos == stop:
        return "no version"
    version1 = bool(w.buf[w.pos] & 0x80)
    w.leaf("bits", stop - w.pos, "version1" if version1 else "version1 not set")
    return "version1" if version1 else "no version1"


def _acse_requirements(w: Walk, stop: int) -> str:
    """ACSE-requirements ::= BIT STRING { authentication (0) } (Green Book 9.5)."""
    _bit_string_head(w, stop, "ACSE-requirements")
    if w.pos == stop:
        return "authentication not required"
    present = bool(w.buf[w.pos] & 0x80)
    w.leaf("authentication", stop - w.pos, "bit 0: set" if present else "bit 0: not set")
    return "authentication functional unit" if present else "authentication not required"


def _authentication_value(challenge: str) -> Handler:
    """Authentication-value [n] EXPLICIT CHOICE { charstring [0], bitstring [1], ... }:
    the LLS password, or the HLS challenge ``challenge`` (Green Book 9.2.7.4)."""

    def handler(w: Walk, stop: int) -> str:
        choice = w.peek("Authentication-value choice")
        if choice == 0x80:
            inner = _tlv(w, "inner-")
        elif choice == 0x81:
            inner = _tlv(w, "inner-")
            if w.pos == inner or w.buf[w.pos] != 0:
                raise DecodeError("authentication bitstring with unused bits", w.pos)
            w.u8("unused-bits", lambda n: f"{n} unused bits")
        else:
            raise DecodeError(f"unsupported Authentication-value choice 0x{choice:02X}", w.pos)
        raw = bytes(w.buf[w.pos : inner])
        if w.mechanism == AuthenticationMechanism.LLS:
            text = f"password {octets_text(raw)}"
        elif w.mechanism is not None and w.mechanism >= AuthenticationMechanism.HLS:
            text = f"challenge {challenge} {octets_text(raw)}"
        else:
            text = octets_text(raw)
        w.leaf("value", inner - w.pos, text)
        return text

    return handler


def _association_result(w: Walk, stop: int) -> str:
    """result [2] EXPLICIT Association-result (Green Book 9.5)."""
    inner = _inner(w, UNIVERSAL_INTEGER)
    value = decode_integer(w.buf, w.pos, inner)
    text = named(AssociationResult, value)
    if text is None:
        raise DecodeError(f"unknown Association-result {value}", w.pos)
    w.leaf("value", inner - w.pos, f"{value} {text}")
    return text


def _result_source_diagnostic(w: Walk, stop: int) -> str:
    """result-source-diagnostic [3]: CHOICE acse-service-user [1] / acse-service-provider [2]."""
    choice = w.peek("result-source-diagnostic choice")
    sources: dict[int, tuple[str, type[IntEnum]]] = {
        0xA1: ("acse-service-user", AcseServiceUserDiagnostic),
        0xA2: ("acse-service-provider", AcseServiceProviderDiagnostic),
    }
    if choice not in sources:
        raise DecodeError(f"unknown result-source-diagnostic choice 0x{choice:02X}", w.pos)
    source, enum = sources[choice]
    with w.group(source) as node:
        _tlv(w)
        inner = _inner(w, UNIVERSAL_INTEGER)
        value = decode_integer(w.buf, w.pos, inner)
        text = named(enum, value) or f"unknown diagnostic {value}"
        w.leaf("value", inner - w.pos, f"{value} {text}")
        node.meaning = f"{source}: {text}"
    return node.meaning


def _user_information(w: Walk, stop: int) -> str:
    """user-information [30] EXPLICIT OCTET STRING holding an xDLMS APDU (Green Book 9.4.2)."""
    inner = _inner(w, UNIVERSAL_OCTET_STRING)
    return w.dispatch(w, inner).meaning


def _implementation_information(w: Walk, stop: int) -> str:
    """implementation-information [29] IMPLICIT GraphicString."""
    text = octets_text(bytes(w.buf[w.pos : stop]))
    w.leaf("value", stop - w.pos, text)
    return text


def _release_reason(enum: type[IntEnum]) -> Handler:
    """reason [0] IMPLICIT Release-request-reason / Release-response-reason (Green Book 9.5)."""

    def handler(w: Walk, stop: int) -> str:
        value = decode_integer(w.buf, w.pos, stop)
        text = named(enum, value) or f"unknown reason {value}"
        w.leaf("value", stop - w.pos, f"{value} {text}")
        return text

    return handler


def _any_value(w: Walk, stop: int) -> str:
    """A field this profile does not use: its content as octets."""
    text = octets_text(bytes(w.buf[w.pos : stop]))
    w.leaf("value", stop - w.pos, text)
    return text


_AARQ_FIELDS: Final[dict[int, tuple[str, Handler]]] = {
    0x80: ("protocol-version", _protocol_version),
    0xA1: ("application-context-name", _application_context_name),
    0xA2: ("called-AP-title", _ap_title(False)),
    0xA3: ("called-AE-qualifier", _octet_string),
    0xA4: ("called-AP-invocation-identifier", _integer),
    0xA5: ("called-AE-invocation-identifier", _integer),
    0xA6: ("calling-AP-title", _ap_title(True)),
    0xA7: ("calling-AE-qualifier", _octet_string),
    0xA8: ("calling-AP-invocation-identifier", _integer),
    0xA9: ("calling-AE-invocation-identifier", _integer),
    0x8A: ("sender-acse-requirements", _acse_requirements),
    0x8B: ("mechanism-name", _mechanism_name),
    0xAC: ("calling-authentication-value", _authentication_value("CtoS")),
    0x9D: ("implementation-information", _implementation_information),
    0xBE: ("user-information", _user_information),
}
"""AARQ-apdu fields by tag (Green Book 9.5)."""

_AARE_FIELDS: Final[dict[int, tuple[str, Handler]]] = {
    0x80: ("protocol-version", _protocol_version),
    0xA1: ("application-context-name", _application_context_name),
    0xA2: ("result", _association_result),
    0xA3: ("result-source-diagnostic", _result_source_diagnostic),
    0xA4: ("responding-AP-title", _ap_title(True)),
    0xA5: ("responding-AE-qualifier", _octet_string),
    0xA6: ("responding-AP-invocation-identifier", _integer),
    0xA7: ("responding-AE-invocation-identifier", _integer),
    0x88: ("responder-acse-requirements", _acse_requirements),
    0x89: ("mechanism-name", _mechanism_name),
    0xAA: ("responding-authentication-value", _authentication_value("StoC")),
    0x9D: ("implementation-information", _implementation_information),
    0xBE: ("user-information", _user_information),
}
"""AARE-apdu fields by tag (Green Book 9.5)."""

_RLRQ_FIELDS: Final[dict[int, tuple[str, Handler]]] = {
    0x80: ("reason", _release_reason(ReleaseRequestReason)),
    0xBE: ("user-information", _user_information),
}
_RLRE_FIELDS: Final[dict[int, tuple[str, Handler]]] = {
    0x80: ("reason", _release_reason(ReleaseResponseReason)),
    0xBE: ("user-information", _user_information),
}
_SUMMARY: Final = frozenset(("application-context-name", "mechanism-name", "result", "result-source-diagnostic",
                             "reason", "user-information"))


def _acse(w: Walk, title: str, fields: dict[int, tuple[str, Handler]]) -> str:
    """An [APPLICATION n] SEQUENCE of context-tagged fields, each dissected with its handler."""
    stop = _tlv(w)
    parts = []
    with w.limit(stop):
        while w.pos < stop:
            tag = w.buf[w.pos]
            entry = fields.get(tag)
            if entry is None:
                if tag & 0xC0 != 0x80:
                    raise DecodeError(f"unexpected tag 0x{tag:02X} in the ACSE APDU", w.pos)
                entry = (f"[{tag & 0x1F}]", _any_value)
            name, handler = entry
            with w.group(name) as node:
                field_stop = _tlv(w)
                with w.limit(field_stop):
                    node.meaning = handler(w, field_stop)
                if w.pos != field_stop:
                    raise DecodeError("unexpected bytes after the BER value", w.pos)
            if name in _SUMMARY:
                parts.append(node.meaning)
    return ", ".join([title, *parts])


def aarq(w: Walk) -> str:
    """AARQ-apdu ::= [APPLICATION 0] IMPLICIT SEQUENCE (Green Book 9.4.2)."""
    return _acse(w, "A-ASSOCIATE request", _AARQ_FIELDS)


def aare(w: Walk) -> str:
    """AARE-apdu ::= [APPLICATION 1] IMPLICIT SEQUENCE (Green Book 9.4.2)."""
    return _acse(w, "A-ASSOCIATE response", _AARE_FIELDS)


def rlrq(w: Walk) -> str:
    """RLRQ-apdu ::= [APPLICATION 2] IMPLICIT SEQUENCE (Green Book 9.4.2)."""
    return _acse(w, "A-RELEASE request", _RLRQ_FIELDS)


def rlre(w: Walk) -> str:
    """RLRE-apdu ::= [APPLICATION 3] IMPLICIT SEQUENCE (Green Book 9.4.2)."""
    return _acse(w, "A-RELEASE response", _RLRE_FIELDS)


# ---------------------------------------------------------------------------
# xDLMS initiate (A-XDR, Green Book 9.5)


def usage_flag(w: Walk, what: str) -> bool:
    """The A-XDR usage flag of an OPTIONAL or DEFAULT component: 00 absent, 01 present."""
    flag = w.peek(f"usage flag of {what}")
    if flag > 1:
        raise DecodeError(f"usage flag 0x{flag:02X} of {what} is neither 00 nor 01", w.pos)
    w.u8("usage-flag", lambda f: "present" if f else "absent")
    return flag == 1


def _signed8(value: int) -> int:
    return value - 0x100 if value & 0x80 else value


def _quality_of_service(w: Walk, name: str) -> str:
    with w.group(name) as node:
        if usage_flag(w, name):
            value = _signed8(w.u8("value", lambda v: str(_signed8(v))))
            node.meaning = str(value)
        else:
            node.meaning = "absent"
    return node.meaning


def conformance(w: Walk, name: str) -> Conformance:
    """Conformance ::= [APPLICATION 31] IMPLICIT BIT STRING (SIZE(24)), each bit named
    (Green Book 9.4.6.1): ``5F 1F 04 00`` then three octets, bit 0 first."""
    with w.group(name) as node:
        w.need(7, name)
        if bytes(w.buf[w.pos : w.pos + 4]) != _CONFORMANCE_TAG + b"\x04\x00":
            raise DecodeError("conformance is not [APPLICATION 31] BIT STRING (SIZE(24))", w.pos)
        w.leaf("tag", 2, "[APPLICATION 31] IMPLICIT BIT STRING")
        w.u8("length", lambda n: f"{n} octets")
        w.u8("unused-bits", lambda n: f"{n} unused bits")
        start = w.pos
        value = Conformance(int.from_bytes(w.buf[start : start + 3], "big"))
        with w.group("conformance-block") as block:
            for number, flag in enumerate(_CONFORMANCE_BITS):
                state = "set" if value & flag else "not set"
                w.bit(enum_name(flag), start + number // 8, f"bit {number}: {state}")
            w.pos += 3
            names = [enum_name(flag) for flag in _CONFORMANCE_BITS if value & flag]
            block.meaning = f"0x{int(value):06X}: {', '.join(names) or 'nothing'}"
        node.meaning = block.meaning
    return value


def _pdu_size(size: int) -> str:
    return "0 (no limit)" if size == 0 else f"{size} octets"


def initiate_request(w: Walk) -> str:
    """InitiateRequest (Green Book 9.5): dedicated-key, response-allowed, proposed
    quality of service, DLMS version, conformance, client max receive PDU size."""
    w.u8("tag", lambda t: f"InitiateRequest [{t}]")
    with w.group("dedicated-key") as node:
        if usage_flag(w, "dedicated-key"):
            size = w.length()
            key = w.leaf("value", size, lambda r: r.hex().upper(), "dedicated-key")
            node.meaning = key.hex().upper()
        else:
            node.meaning = "absent"
    with w.group("response-allowed") as node:
        if usage_flag(w, "response-allowed"):
            allowed = w.u8("value", lambda v: "TRUE" if v else "FALSE")
            node.meaning = "TRUE" if allowed else "FALSE"
        else:
            node.meaning = "TRUE (default)"
    _quality_of_service(w, "proposed-quality-of-service")
    version = w.u8("proposed-dlms-version-number", lambda v: f"DLMS version {v}")
    conformance(w, "proposed-conformance")
    size = w.uint("client-max-receive-pdu-size", 2, _pdu_size)
    return f"InitiateRequest: DLMS version {version}, client max receive PDU size {_pdu_size(size)}"


def _vaa_name(value: int) -> str:
    if value == VAA_NAME_LN:
        return f"0x{value:04X} (logical name referencing)"
    if value == _VAA_NAME_SN:
        return f"0x{value:04X} (short name referencing)"
    return f"0x{value:04X}"


def initiate_response(w: Walk) -> str:
    """InitiateResponse (Green Book 9.5): negotiated quality of service, DLMS version,
    conformance, server max receive PDU size, VAA name."""
    w.u8("tag", lambda t: f"InitiateResponse [{t}]")
    _quality_of_service(w, "negotiated-quality-of-service")
    version = w.u8("negotiated-dlms-version-number", lambda v: f"DLMS version {v}")
    conformance(w, "negotiated-conformance")
    size = w.uint("server-max-receive-pdu-size", 2, _pdu_size)
    w.uint("vaa-name", 2, _vaa_name)
    return f"InitiateResponse: DLMS version {version}, server max receive PDU size {_pdu_size(size)}"


def confirmed_service_error(w: Walk) -> str:
    """ConfirmedServiceError (Green Book 9.5): which service, which ServiceError, its value."""
    w.u8("tag", lambda t: f"ConfirmedServiceError [{t}]")
    choice = w.peek("ConfirmedServiceError choice")
    service = named(ConfirmedServiceErrorChoice, choice)
    if service is None:
        raise DecodeError(f"unknown ConfirmedServiceError choice {choice}", w.pos)
    w.u8("service", lambda v: f"{service} [{v}]")
    kind_value = w.peek("ServiceError choice")
    kind = named(ServiceErrorKind, kind_value)
    if kind is None:
        raise DecodeError(f"unknown ServiceError choice {kind_value}", w.pos)
    w.u8("service-error", lambda v: f"{kind} [{v}]")
    values = SERVICE_ERROR_VALUES.get(kind_value, ())
    value = w.u8("value", lambda v: f"{v} {values[v]}" if v < len(values) else str(v))
    text = values[value] if value < len(values) else str(value)
    return f"ConfirmedServiceError: {service}, {kind}: {text}"

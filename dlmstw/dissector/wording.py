"""The words of the dissection: the nodes the codecs' decoders reported
(``tracer.Node``) become :class:`~dlmstw.dissector.fields.Field` with a meaning.

Nothing is read from the octets here: every meaning is made from a value a
decoder reported, from the values beside it (the class_id an attribute-id
belongs to, the mechanism an authentication-value is for) and from the
standard's names (``dlmstw.enums``, ``names``). A few fields are split for
the reader into the bits or parts the standard gives them (the bits of
invoke-id-and-priority, the conformance block, the security control byte;
the FLAG id of a system title): those children share their field's octets.
Sans-I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from dlmstw.codec.acse import APPLICATION_CONTEXT_ARCS, MECHANISM_ARCS
from dlmstw.codec.axdr import BitString
from dlmstw.codec.xdlms import VAA_NAME_LN
from dlmstw.dissector.fields import Field, Names
from dlmstw.dissector.names import (
    APPLICATION_CONTEXTS,
    MECHANISMS,
    SERVICE_ERROR_VALUES,
    attribute_name,
    class_name,
    logical_name,
    method_name,
)
from dlmstw.dissector.texts import (
    apdu_name,
    ber_tag_text,
    date_text,
    date_time_text,
    flag_id_text,
    octets_text,
    time_text,
    type_name,
)
from dlmstw.dissector.tracer import Node
from dlmstw.errors import DecodeError
from dlmstw.framing.hdlc import POLL_FINAL, control_name
from dlmstw.framing.hdlc_link import decode_parameters
from dlmstw.enums import (
    SERVICE_CHOICES,
    AcseServiceProviderDiagnostic,
    AcseServiceUserDiagnostic,
    ApduTag,
    AuthenticationMechanism,
    Conformance,
    DataType,
    ReleaseRequestReason,
    ReleaseResponseReason,
    Unit,
    enum_name,
    named,
)
from dlmstw.security.ciphering import (
    AUTHENTICATION,
    BROADCAST,
    COMPRESSION,
    ENCRYPTION,
    GENERAL_HEADER,
    PLAIN_TAG,
    SUITE_MASK,
)

_T = ApduTag
_SUITES: Final = {0: "AES-GCM-128", 1: "ECDH-ECDSA-AES-GCM-128-SHA-256", 2: "ECDH-ECDSA-AES-GCM-256-SHA-384"}
"""Security suites (Green Book 9.2.3)."""
_KEY_INFO: Final = {0: "identified-key", 1: "wrapped-key", 2: "agreed-key"}
_KEY_IDS: Final = {0: "0 global-unicast-encryption-key", 1: "1 global-broadcast-encryption-key"}
_VAA_NAME_SN: Final = 0xFA00
_CONFORMANCE_BITS: Final = tuple((enum_name(flag), int(flag)) for flag in sorted(Conformance, key=lambda f: -f.value))
"""Conformance flags, named, in the order of the standard's bit numbers 0..23 (Green Book 9.4.6.1)."""
_ACSE_TITLES: Final = {_T.AARQ: "A-ASSOCIATE request", _T.AARE: "A-ASSOCIATE response",
                       _T.RLRQ: "A-RELEASE request", _T.RLRE: "A-RELEASE response"}
_ACSE_SUMMARY: Final = frozenset(("application-context-name", "mechanism-name", "result", "result-source-diagnostic",
                                  "reason", "user-information"))
_DIAGNOSTICS: Final[dict[str, type[IntEnum]]] = {"acse-service-user": AcseServiceUserDiagnostic,
                                                 "acse-service-provider": AcseServiceProviderDiagnostic}
_RELEASE_REASONS: Final[dict[int, type[IntEnum]]] = {_T.RLRQ: ReleaseRequestReason, _T.RLRE: ReleaseResponseReason}
_INITIATE_NAMES: Final = {_T.INITIATE_REQUEST: "InitiateRequest", _T.INITIATE_RESPONSE: "InitiateResponse",
                          _T.CONFIRMED_SERVICE_ERROR: "ConfirmedServiceError"}
_STRINGS: Final = frozenset((DataType.OCTET_STRING, DataType.VISIBLE_STRING, DataType.UTF8_STRING,
                             DataType.BIT_STRING))


# ---------------------------------------------------------------------------
# Shapes: what the Blue Book calls the parts of some Data values


@dataclass(frozen=True, slots=True)
class Shape:
    """What the standard calls the parts of a known Data value: ``label`` names
    the value, ``members`` the members of a structure, ``element`` the
    elements of an array; ``kind`` asks for a special reading ("obis" for a
    logical name, "class" for a class_id, "unit" for a Blue Book unit)."""

    label: str | None = None
    members: tuple[Shape, ...] = ()
    element: Shape | None = None
    kind: str = ""


CAPTURE_OBJECT: Final = Shape(members=(Shape("class_id", kind="class"), Shape("logical_name", kind="obis"),
                                       Shape("attribute_index"), Shape("data_index")))
"""capture_object_definition (Blue Book 4.3.6, attribute 3)."""

SELECTIVE_ACCESS: Final[dict[int, tuple[str, Shape]]] = {
    1: ("range_descriptor", Shape(members=(Shape("restricting_object", CAPTURE_OBJECT.members),
                                           Shape("from_value"), Shape("to_value"),
                                           Shape("selected_values", element=CAPTURE_OBJECT)))),
    2: ("entry_descriptor", Shape(members=(Shape("from_entry"), Shape("to_entry"), Shape("from_selected_value"),
                                           Shape("to_selected_value")))),
}
"""access-selector -> its name and parameters, for Profile generic buffers (Blue Book 4.3.6)."""

SCALER_UNIT: Final = Shape(members=(Shape("scaler"), Shape("unit", kind="unit")))
"""scaler_unit ::= structure {scaler integer, unit enum} (Blue Book 4.3.2)."""

ATTRIBUTE_SHAPES: Final[dict[tuple[int, int], Shape]] = {
    (3, 3): SCALER_UNIT,
    (4, 3): SCALER_UNIT,
    (5, 4): SCALER_UNIT,
    (7, 3): Shape(element=CAPTURE_OBJECT),
}
"""(class_id, attribute_id) -> the shape of the attribute's value, where it helps."""


# ---------------------------------------------------------------------------
# Small texts


def _flag(value: Any) -> str:
    return "TRUE" if value else "FALSE"


def _enum_text(value: Any) -> str:
    """ "3 read-write-denied" for an enumeration member, the value otherwise."""
    return f"{int(value)} {enum_name(value)}" if isinstance(value, IntEnum) else str(value)


def _short(value: Any) -> str:
    return enum_name(value) if isinstance(value, IntEnum) else str(value)


def _pdu_size(size: int) -> str:
    return "0 (no limit)" if size == 0 else f"{size} octets"


def _vaa_name(value: int) -> str:
    if value == VAA_NAME_LN:
        return f"0x{value:04X} (logical name referencing)"
    if value == _VAA_NAME_SN:
        return f"0x{value:04X} (short name referencing)"
    return f"0x{value:04X}"


def _wport(port: int) -> str:
    return f"{port} (0x{port:04X})"


def _block(number: Any, last: Any) -> str:
    return f"block {number}{' (last)' if last else ''}"


def _default(node: Node) -> str:
    """The meaning of a node no rule names: its note, or its value in words."""
    if node.note is not None:
        return node.note
    if node.name == "unparsed":
        return "octets not parsed"
    value = node.value
    if isinstance(value, bool):
        return _flag(value)
    if isinstance(value, bytes):
        return octets_text(value)
    return "" if value is None else _enum_text(value)


def _hdlc_address(address: Any) -> str:
    """An HDLC address (Green Book 8.4.2.3): a client's SAP, or a server's logical and physical devices."""
    if address.lower is None:
        return f"address {address.upper} (one octet)"
    return f"logical device {address.upper}, physical device {address.lower} ({address.size} octets)"


def _hdlc_control(control: int) -> str:
    """A control field: the frame type, its sequence numbers and the poll/final bit (Green Book 8.4.3.4)."""
    name = control_name(control)
    parts = [f"{name} frame"]
    if name == "I":
        parts.append(f"N(S) {control >> 1 & 7}")
    if name in ("I", "RR", "RNR"):
        parts.append(f"N(R) {control >> 5}")
    if control & POLL_FINAL:
        parts.append("poll/final")
    return ", ".join(parts)


def _hdlc_information(control: Any, octets: bytes) -> str:
    """The information field of a frame other than I and UI: SNRM/UA parameters, or the FRMR reason."""
    name = control_name(control) if isinstance(control, int) else ""
    if name in ("SNRM", "UA"):
        try:
            p = decode_parameters(octets)
        except DecodeError as exc:
            return f"link parameters that do not parse: {exc.reason}"
        return (f"link parameters: max information field transmit {p.max_info_transmit}, receive "
                f"{p.max_info_receive}; window transmit {p.window_transmit}, receive {p.window_receive}")
    if name == "FRMR" and len(octets) == 3:
        return (f"rejected control field {octets[0]:02X}, V(S) {octets[1] >> 1 & 7}, V(R) {octets[1] >> 5}, "
                f"reason bits {octets[2]:02X}")
    return octets_text(octets)


_HDLC_FIELDS: Final = frozenset(("opening-flag", "frame-format", "destination-address", "source-address", "control",
                                 "hcs", "information", "llc", "segment", "fcs", "closing-flag", "unparsed",
                                 "reassembled"))


Rule = Callable[[Node], "str | Field"]
"""Words one child: a meaning for a leaf, or the whole field."""


class _Wording:
    """Puts one dissection's nodes in words; ``names`` names the objects of the meter's model."""

    def __init__(self, names: Names | None) -> None:
        self.names = names

    # -- building fields ---------------------------------------------------------

    @staticmethod
    def made(node: Node, meaning: str, children: list[Field] | tuple[Field, ...] = ()) -> Field:
        return Field(node.name, node.offset, node.length, node.hex, meaning, tuple(children), node.error)

    def plain(self, node: Node) -> Field:
        """A node in the generic words: its note or value, its children likewise
        (an APDU it carries in the words of its kind)."""
        if node.apdu:
            return self.apdu(node)
        return self.leaf(node, _default(node))

    def leaf(self, node: Node, meaning: str) -> Field:
        return self.made(node, meaning, [self.plain(child) for child in node.children])

    @staticmethod
    def bits(node: Node, meaning: str, parts: list[tuple[str, int, str]]) -> Field:
        """A field with children for its bits: (name, octet index in the field, meaning)."""
        return Field(node.name, node.offset, node.length, node.hex, meaning,
                     tuple(Field(name, node.offset + index, 1, node.hex[2 * index : 2 * index + 2], text)
                           for name, index, text in parts), node.error)

    def children(self, node: Node, rules: dict[str, Rule]) -> list[Field]:
        """The children of ``node`` in words: by the rule for their name, else in the generic words."""
        fields = []
        for child in node.children:
            rule = rules.get(child.name)
            made = self.plain(child) if rule is None else rule(child)
            fields.append(self.leaf(child, made) if isinstance(made, str) else made)
        return fields

    def worded(self, node: Node, rules: dict[str, Rule], meaning: Callable[[dict[str, str]], str]) -> Field:
        """``node`` with its children worded by ``rules`` and the meaning made from
        theirs (by name; a carried APDU's under "apdu")."""
        fields = self.children(node, rules)
        meanings = {"apdu" if child.apdu else field.name: field.meaning
                    for field, child in zip(fields, node.children, strict=True)}
        return self.made(node, meaning(meanings), fields)

    @staticmethod
    def parsed(node: Node) -> bool:
        """False when a decoder stopped inside ``node``."""
        return node.child("unparsed") is None

    @staticmethod
    def octets(node: Node) -> str:
        return f"{node.value} octets"

    @staticmethod
    def usage_flag(node: Node) -> str:
        return "present" if node.value else "absent"

    @staticmethod
    def apdu_tag(node: Node) -> str:
        return f"{apdu_name(node.value)} [{node.value}]"

    # -- frames and APDUs -----------------------------------------------------------

    def frame(self, node: Node) -> Field:
        """Wrapper header (IEC 62056-47, Green Book 7.3.3.4), then the APDU it carries;
        or HDLC frames (IEC 62056-46)."""
        if node.child("hdlc-frame") is not None:
            return self.hdlc_frames(node)
        header = node.child("wrapper-header")

        def meaning(meanings: dict[str, str]) -> str:
            if "apdu" not in meanings or header is None or not self.parsed(node):
                return ""
            return (f"wrapper frame, wPort {header.value_of('source-wport')} -> "
                    f"wPort {header.value_of('destination-wport')}: {meanings['apdu']}")

        return self.worded(node, {"wrapper-header": self.wrapper_header}, meaning)

    def wrapper_header(self, node: Node) -> Field:
        def meaning(meanings: dict[str, str]) -> str:
            if len(meanings) < 4:
                return ""
            return (f"wPort {node.value_of('source-wport')} -> wPort {node.value_of('destination-wport')}, "
                    f"{node.value_of('length')} octets")

        return self.worded(node, {
            "version": lambda n: f"{n.value} (wrapper version 1)" if n.value == 1 else str(n.value),
            "source-wport": lambda n: _wport(n.value),
            "destination-wport": lambda n: _wport(n.value),
            "length": lambda n: f"{n.value} octets of APDU",
        }, meaning)

    # -- HDLC (IEC 62056-46, Green Book 8.4.2) -----------------------------------------

    def hdlc_frames(self, node: Node) -> Field:
        """An exchange's HDLC frames: each worded, the meaning of the APDU they carry."""
        fields = [self.hdlc_frame(child) for child in node.children]
        if len(fields) == 1:
            return self.made(node, fields[0].meaning, fields)
        carried = [part.meaning for field in fields for part in field.children
                   if part.name == "reassembled" or part.name not in _HDLC_FIELDS]
        meaning = f"{len(fields)} HDLC frames" + (f": {'; '.join(carried)}" if carried else "")
        return self.made(node, meaning, fields)

    def hdlc_frame(self, node: Node) -> Field:
        control = node.value_of("control")

        def meaning(meanings: dict[str, str]) -> str:
            if not isinstance(control, int) or not self.parsed(node):
                return ""
            text = f"{meanings['control']}, {meanings['source-address']} -> {meanings['destination-address']}"
            carried = meanings.get("apdu") or meanings.get("reassembled") or meanings.get("segment")
            return f"{text}: {carried}" if carried else text

        flag = lambda n: "flag" if n.value == 0x7E else f"0x{n.value:02X}, not the flag 7E"  # noqa: E731
        return self.worded(node, {
            "opening-flag": flag, "closing-flag": flag,
            "frame-format": lambda n: (f"type {3 if n.value >> 12 == 0xA else f'0x{n.value >> 12:X}'}, "
                                       f"{'segmented' if n.value & 0x0800 else 'last segment'}"
                                       f", {n.value & 0x07FF} octets between the flags"),
            "destination-address": lambda n: _hdlc_address(n.value),
            "source-address": lambda n: _hdlc_address(n.value),
            "control": lambda n: _hdlc_control(n.value),
            "hcs": lambda n: f"header check sequence 0x{n.value:04X} (CRC-16/X.25, low octet first), right",
            "fcs": lambda n: f"frame check sequence 0x{n.value:04X} (CRC-16/X.25, low octet first), right",
            "information": lambda n: _hdlc_information(control, n.value),
            "llc": lambda n: ("LLC header of a response" if n.hex == "E6E700" else "LLC header of a request"),
            "segment": lambda n: f"segment {n.value} of an APDU",
            "reassembled": self.reassembled,
        }, meaning)

    def reassembled(self, node: Node) -> Field:
        children = [self.plain(child) for child in node.children]
        return self.made(node, children[0].meaning if children else "", children)

    def apdu(self, node: Node) -> Field:
        """An APDU in the words of its kind; its meaning only when it decoded whole."""
        tag = node.value
        if tag in _ACSE_TITLES:
            field = self.acse(node)
        elif tag in _INITIATE_NAMES:
            field = self.initiate(node)
        elif tag in SERVICE_CHOICES:
            field = self.service(node)
        elif tag in PLAIN_TAG:
            carried = f"{apdu_name(tag)} (ciphered {apdu_name(PLAIN_TAG[tag])})"
            field = self.protected(node, lambda text: f"{carried}: {text}")
        elif tag in self._OTHERS:
            field = self._OTHERS[tag](self, node)
        else:
            field = self.leaf(node, "")
        if self.parsed(node):
            return field
        return Field(field.name, field.offset, field.length, field.hex, "", field.children, field.error)

    # -- ACSE (Green Book 9.4.2, BER) ----------------------------------------------------

    def ber(self, node: Node) -> str:
        """tag, length, inner-tag and inner-length of a BER TLV (X.690 8.1.2, 8.1.3)."""
        return ber_tag_text(node.value) if node.name.endswith("tag") else self.octets(node)

    def acse(self, node: Node) -> Field:
        """An [APPLICATION n] SEQUENCE: its BER header, then each component in words."""
        tag = node.value
        arcs = node.child("mechanism-name")
        value = arcs.value_of("value") if arcs is not None else None
        mechanism = value[-1] if value is not None and value[:-1] == MECHANISM_ARCS else None
        rules: dict[str, Rule] = {"tag": self.ber, "length": self.ber}
        parts = [_ACSE_TITLES[tag]]
        for child in node.children:
            if child.name not in rules and child.name != "unparsed":
                rules[child.name] = lambda n: self.acse_component(n, tag, mechanism)

        def meaning(meanings: dict[str, str]) -> str:
            return ", ".join(parts + [meanings[name] for name in meanings if name in _ACSE_SUMMARY])

        return self.worded(node, rules, meaning)

    def acse_component(self, node: Node, apdu_tag: int, mechanism: int | None) -> Field:
        """One component of an ACSE APDU: its BER header, then its content in words."""
        name = node.name
        rules: dict[str, Rule] = {key: self.ber for key in ("tag", "length", "inner-tag", "inner-length")}
        rules["unused-bits"] = lambda n: f"{n.value} unused bits"
        value = node.child("value")
        if name == "application-context-name":
            return self.oid(node, rules, APPLICATION_CONTEXT_ARCS, APPLICATION_CONTEXTS, "application context")
        if name == "mechanism-name":
            return self.oid(node, rules, MECHANISM_ARCS, MECHANISMS, "authentication mechanism")
        if name == "result-source-diagnostic":
            return self.diagnostic(node, rules)
        text: str | None = None
        """The component's meaning, when it is not that of its value (or carried APDU)."""
        if name.endswith("AP-title") and value is not None:
            rules["value"] = self.system_title
            if len(value.value) == 8:
                text = f"system title {value.value.hex().upper()}"
        elif name == "protocol-version":
            bits = node.value_of("bits")
            rules["bits"] = lambda n: "version1" if n.value[0] & 0x80 else "version1 not set"
            text = "no version" if bits is None else "version1" if bits[0] & 0x80 else "no version1"
        elif name.endswith("acse-requirements"):
            rules["authentication"] = lambda n: "bit 0: set" if n.value else "bit 0: not set"
            text = ("authentication functional unit" if node.value_of("authentication")
                    else "authentication not required")
        elif name.endswith("authentication-value"):
            rules["value"] = lambda n: self.authentication_value(n.value, mechanism, apdu_tag)
        elif name == "result" and value is not None:
            rules["value"] = lambda n: _enum_text(n.value)
            text = _short(value.value)
        elif name == "reason" and value is not None:
            reason = named(_RELEASE_REASONS[apdu_tag], value.value) or f"unknown reason {value.value}"
            rules["value"] = lambda n: f"{n.value} {reason}"
            text = reason
        return self.worded(node, rules, lambda meanings: text if text is not None else
                           meanings.get("value", meanings.get("apdu", "")))

    def oid(self, node: Node, rules: dict[str, Rule], prefix: tuple[int, ...], table: dict[int, str],
            what: str) -> Field:
        """An application-context-name or mechanism-name (Green Book 9.4.2.2.2, 9.4.2.2.3)."""
        arcs = node.value_of("value")
        text = ""
        if arcs is not None:
            if len(arcs) == len(prefix) + 1 and arcs[:-1] == prefix:
                text = table.get(arcs[-1], f"unknown {what} {arcs[-1]}")
            else:
                text = f"not a DLMS {what}"
            dotted = ".".join(str(arc) for arc in arcs)
            rules = {**rules, "value": lambda n: f"{dotted}: {text}"}
        return self.worded(node, rules, lambda meanings: text)

    @staticmethod
    def authentication_value(raw: bytes, mechanism: int | None, apdu_tag: int) -> str:
        """The LLS password, or the HLS challenge CtoS (AARQ) / StoC (AARE) (Green Book 9.2.7.4)."""
        if mechanism == AuthenticationMechanism.LLS:
            return f"password {octets_text(raw)}"
        if mechanism is not None and mechanism >= AuthenticationMechanism.HLS:
            return f"challenge {'CtoS' if apdu_tag == _T.AARQ else 'StoC'} {octets_text(raw)}"
        return octets_text(raw)

    def diagnostic(self, node: Node, rules: dict[str, Rule]) -> Field:
        """result-source-diagnostic: CHOICE acse-service-user [1] / acse-service-provider [2]."""

        def source(choice: Node) -> Field:
            value = choice.value_of("value")
            text = "" if value is None else named(_DIAGNOSTICS[choice.name], value) or f"unknown diagnostic {value}"
            return self.worded(choice, {**rules, "value": lambda n: f"{n.value} {text}"},
                               lambda meanings: f"{choice.name}: {text}")

        sources = {name: source for name in _DIAGNOSTICS}
        return self.worded(node, {**rules, **sources},
                           lambda meanings: next((meanings[name] for name in _DIAGNOSTICS if name in meanings), ""))

    def system_title(self, node: Node) -> Field:
        """A system title: 8 octets split into the FLAG id and the manufacturer-specific
        device part (Green Book 4.3.4)."""
        raw: bytes = node.value
        if len(raw) != 8:
            return self.made(node, f"{raw.hex().upper()} (a system title has 8 octets)")
        parts = [Field("manufacturer-id", node.offset, 3, raw[:3].hex().upper(), flag_id_text(raw[:3])),
                 Field("device-id", node.offset + 3, 5, raw[3:].hex().upper(),
                       f"{raw[3:].hex().upper()} ({int.from_bytes(raw[3:], 'big')})")]
        return self.made(node, f"system title {raw.hex().upper()}: {flag_id_text(raw[:3])}, "
                               f"device {raw[3:].hex().upper()}", parts)

    # -- xDLMS initiate (Green Book 9.5, 9.4.6.1) -------------------------------------------

    def initiate(self, node: Node) -> Field:
        """InitiateRequest, InitiateResponse or ConfirmedServiceError."""
        tag = node.value
        kind = node.value_of("service-error")
        values = SERVICE_ERROR_VALUES.get(int(kind), ()) if kind is not None else ()

        def value_text(value: int) -> str:
            return values[value] if value < len(values) else str(value)

        rules: dict[str, Rule] = {
            "tag": lambda n: f"{_INITIATE_NAMES[n.value]} [{n.value}]",
            "proposed-dlms-version-number": lambda n: f"DLMS version {n.value}",
            "negotiated-dlms-version-number": lambda n: f"DLMS version {n.value}",
            "client-max-receive-pdu-size": lambda n: _pdu_size(n.value),
            "server-max-receive-pdu-size": lambda n: _pdu_size(n.value),
            "vaa-name": lambda n: _vaa_name(n.value),
            "service": lambda n: f"{enum_name(n.value)} [{int(n.value)}]",
            "service-error": lambda n: f"{enum_name(n.value)} [{int(n.value)}]",
            "value": lambda n: f"{n.value} {values[n.value]}" if n.value < len(values) else str(n.value),
            "proposed-conformance": self.conformance,
            "negotiated-conformance": self.conformance,
            "dedicated-key": self.optional,
            "response-allowed": self.optional,
            "proposed-quality-of-service": self.optional,
            "negotiated-quality-of-service": self.optional,
        }
        if tag == _T.CONFIRMED_SERVICE_ERROR:
            service = node.value_of("service")
            value = node.value_of("value")
            text = f"{service and enum_name(service)}, {kind and enum_name(kind)}: " \
                   f"{value if value is None else value_text(value)}"
            return self.worded(node, rules, lambda meanings: f"ConfirmedServiceError: {text}")
        role, size = ("proposed", "client") if tag == _T.INITIATE_REQUEST else ("negotiated", "server")
        version = node.value_of(f"{role}-dlms-version-number")
        return self.worded(node, rules, lambda meanings: (
            f"{_INITIATE_NAMES[tag]}: DLMS version {version}, {size} max receive PDU size "
            f"{meanings.get(f'{size}-max-receive-pdu-size')}"))

    def optional(self, node: Node) -> Field:
        """An OPTIONAL or DEFAULT component: usage-flag, then its content (A-XDR)."""
        present = node.value_of("usage-flag")
        rules: dict[str, Rule] = {"usage-flag": self.usage_flag, "length": self.octets}
        if node.name == "dedicated-key":
            rules["value"] = lambda n: n.value.hex().upper()
        elif node.name == "response-allowed":
            rules["value"] = lambda n: _flag(n.value)

        def meaning(meanings: dict[str, str]) -> str:
            if "value" in meanings:
                return meanings["value"]
            if present is False:
                return "TRUE (default)" if node.name == "response-allowed" else "absent"
            return ""

        return self.worded(node, rules, meaning)

    def conformance(self, node: Node) -> Field:
        """Conformance ::= [APPLICATION 31] IMPLICIT BIT STRING (SIZE(24)), each bit named
        (Green Book 9.4.6.1), bit 0 first."""

        def block(child: Node) -> Field:
            value = int(child.value)
            parts = [(name, number // 8, f"bit {number}: {'set' if value & flag else 'not set'}")
                     for number, (name, flag) in enumerate(_CONFORMANCE_BITS)]
            names = [name for name, flag in _CONFORMANCE_BITS if value & flag]
            return self.bits(child, f"0x{value:06X}: {', '.join(names) or 'nothing'}", parts)

        return self.worded(node, {
            "tag": lambda n: "[APPLICATION 31] IMPLICIT BIT STRING",
            "length": self.octets,
            "unused-bits": lambda n: f"{n.value} unused bits",
            "conformance-block": block,
        }, lambda meanings: meanings.get("conformance-block", ""))

    # -- GET, SET, ACTION and EXCEPTION (Green Book 9.5) -------------------------------

    def invoke_id_and_priority(self, node: Node) -> Field:
        """Invoke-Id-And-Priority (Green Book 9.5): bits 0-3 invoke-id, 6 service-class, 7 priority."""
        value = node.value
        confirmed = "confirmed" if value & 0x40 else "unconfirmed"
        priority = "high" if value & 0x80 else "normal"
        parts = [("invoke-id", 0, f"bits 0-3: {value & 0x0F}"), ("service-class", 0, f"bit 6: {confirmed}"),
                 ("priority", 0, f"bit 7: {priority}")]
        if value & 0x30:
            parts.append(("reserved", 0, f"bits 4-5: {(value >> 4) & 3} (should be 0)"))
        return self.bits(node, f"0x{value:02X}: invoke-id {value & 0x0F}, {confirmed}, {priority} priority", parts)

    def descriptor(self, node: Node) -> Field:
        """Cosem-Attribute- or -Method-Descriptor: class-id, instance-id, member id (Green Book 9.5)."""
        class_id = node.value_of("class-id")
        member = "attribute" if node.name == "cosem-attribute-descriptor" else "method"
        member_name = attribute_name if member == "attribute" else method_name

        def meaning(meanings: dict[str, str]) -> str:
            if len(meanings) < 3:
                return ""
            return f"{meanings['class-id']} {meanings['instance-id']} {member} {meanings[f'{member}-id']}"

        return self.worded(node, {
            "class-id": lambda n: class_name(n.value),
            "instance-id": lambda n: logical_name(n.value, self.names),
            f"{member}-id": lambda n: member_name(class_id, n.value),
        }, meaning)

    def selection(self, node: Node, class_id: int | None) -> Field:
        """OPTIONAL Selective-Access-Descriptor: access-selector, access-parameters (Green Book 9.5);
        range and entry descriptors of Profile generic named (Blue Book 4.3.6)."""
        known = SELECTIVE_ACCESS if class_id == 7 else {}
        selector = node.value_of("access-selector")
        entry = known.get(selector) if selector is not None else None
        text = "" if selector is None else entry[0] if entry else f"selector {selector}"
        return self.worded(node, {
            "usage-flag": self.usage_flag,
            "access-selector": lambda n: f"{n.value} {entry[0]}" if entry else str(n.value),
            "access-parameters": lambda n: self.data(n, entry[1] if entry else None),
        }, lambda meanings: text or ("absent" if node.value_of("usage-flag") is False else ""))

    def attribute_item(self, node: Node) -> Field:
        """Cosem-Attribute-Descriptor-With-Selection."""
        descriptor = node.child("cosem-attribute-descriptor")
        class_id = descriptor.value_of("class-id") if descriptor is not None else None
        selector = node.child("access-selection")
        selected = selector is not None and selector.value_of("access-selector") is not None

        def meaning(meanings: dict[str, str]) -> str:
            text = meanings.get("cosem-attribute-descriptor", "")
            return f"{text}, {meanings['access-selection']}" if selected else text

        return self.worded(node, {
            "cosem-attribute-descriptor": self.descriptor,
            "access-selection": lambda n: self.selection(n, class_id),
        }, meaning)

    def listed(self, node: Node, item: Callable[[Node, int], Field], what: str) -> Field:
        """A SEQUENCE OF: count, then its items, each worded by ``item`` with its index;
        meaning "N <what>"."""
        fields = []
        for child in node.children:
            if child.name == "count":
                fields.append(self.leaf(child, f"{child.value} items"))
            elif child.name in ("more", "unparsed"):
                fields.append(self.plain(child))
            else:
                fields.append(item(child, len(fields) - 1))
        count = node.value_of("count")
        return self.made(node, "" if count is None else f"{count} {what}", fields)

    def get_data_result(self, node: Node) -> Field:
        """Get-Data-Result ::= CHOICE { data [0] Data, data-access-result [1] } (Green Book 9.5)."""
        result = node.value_of("data-access-result")
        return self.worded(node, {
            "choice": lambda n: "data [0]" if n.value == 0 else "data-access-result [1]",
            "data": self.data,
            "data-access-result": lambda n: _enum_text(n.value),
        }, lambda meanings: meanings.get("data", "") if result is None else _short(result))

    def raw_data(self, node: Node) -> Field:
        """raw-data OCTET STRING; the octets of block 1 shown as the start of their Data."""
        size = node.value_of("length")
        return self.worded(node, {
            "length": self.octets,
            "data": self.first_part,
            "value": lambda n: n.note or f"{n.length} octets of encoded Data",
        }, lambda meanings: "" if size is None else f"{size} octets")

    def first_part(self, node: Node) -> Field:
        def meaning(meanings: dict[str, str]) -> str:
            if "incomplete" in meanings:
                return "the first part of a Data continued in the next blocks"
            note = "" if node.value else " (first part; the rest follows in the next blocks)"
            return f"{meanings.get('value', '')}{note}"

        return self.worded(node, {"value": self.data}, meaning)

    def datablock(self, node: Node) -> Field:
        """DataBlock-SA (last-block, block-number, raw-data) or DataBlock-G (with the
        result CHOICE raw-data [0] / data-access-result [1]) (Green Book 9.5)."""
        number = node.value_of("block-number")
        size = node.child("raw-data")
        result = node.value_of("data-access-result")

        def meaning(meanings: dict[str, str]) -> str:
            if result is not None:
                return f"block {number}: {_short(result)}"
            if size is None or size.value_of("length") is None:
                return ""
            return f"{_block(number, node.value_of('last-block'))}, {size.value_of('length')} octets"

        return self.worded(node, {
            "last-block": lambda n: _flag(n.value),
            "block-number": lambda n: str(n.value),
            "choice": lambda n: "raw-data [0]" if n.value == 0 else "data-access-result [1]",
            "raw-data": self.raw_data,
            "data-access-result": lambda n: _enum_text(n.value),
        }, meaning)

    def action_return(self, node: Node, index: int = 0) -> Field:
        """Action-Response-With-Optional-Data: result, OPTIONAL return-parameters (Green Book 9.5)."""
        returns = node.child("return-parameters")
        present = returns is not None and returns.value_of("usage-flag") is not False

        def parameters(child: Node) -> Field:
            return self.worded(child, {"usage-flag": self.usage_flag, "data": self.get_data_result},
                               lambda meanings: meanings.get("data", "") if present else "absent")

        def meaning(meanings: dict[str, str]) -> str:
            result = _short(node.value_of("result"))
            return f"{result}, returns {meanings['return-parameters']}" if present and returns else result

        return self.worded(node, {"result": lambda n: _enum_text(n.value), "return-parameters": parameters},
                           meaning)

    def parameters(self, node: Node) -> Field:
        """method-invocation-parameters: a list of Data (with-list forms), or OPTIONAL Data (normal)."""
        if node.child("count") is not None:
            return self.listed(node, lambda item, index: self.data(item), "values")
        return self.worded(node, {"usage-flag": self.usage_flag, "data": self.data},
                           lambda meanings: meanings.get("data", "absent"))

    def result_list(self, node: Node, data: bool) -> Field:
        """The result of a with-list response: Get-Data-Results (``data``), or data-access-results."""
        if data:
            return self.listed(node, lambda child, index: self.get_data_result(child), "results")
        field = self.listed(node, lambda child, index: self.leaf(child, _enum_text(child.value)), "results")
        results = [_short(child.value) for child in node.children if child.name.startswith("[")]
        return Field(field.name, field.offset, field.length, field.hex, ", ".join(results) or "no results",
                     field.children, field.error)

    def result(self, node: Node, tag: int) -> Field:
        """The result of a response, by its form: a data-access-result, a Get-Data-Result,
        a DataBlock-G, or a list of either (Green Book 9.5)."""
        if node.child("last-block") is not None:
            return self.datablock(node)
        if node.child("count") is not None:
            return self.result_list(node, tag == _T.GET_RESPONSE)
        if node.child("choice") is not None:
            return self.get_data_result(node)
        return self.leaf(node, _enum_text(node.value))

    def service(self, node: Node) -> Field:
        """A GET/SET/ACTION request or response: tag, CHOICE of form, then the form's components."""
        tag = node.value
        service = apdu_name(tag)
        choice = node.value_of("choice")
        kind = f"{service}-{named(SERVICE_CHOICES[tag], choice)}" if choice is not None else service
        descriptor = node.child("cosem-attribute-descriptor")
        key = (descriptor.value_of("class-id"), descriptor.value_of("attribute-id")) if descriptor else None
        attributes = node.child("attribute-descriptor-list")
        shapes = [] if attributes is None else [
            ATTRIBUTE_SHAPES.get((item.value_of("class-id"), item.value_of("attribute-id")))
            for item in (child.child("cosem-attribute-descriptor") for child in attributes.children
                         if child.name.startswith("[")) if item is not None]
        result = node.value_of("result")
        rules: dict[str, Rule] = {
            "tag": lambda n: f"{service} [{tag}]",
            "choice": lambda n: f"{kind} [{n.value}]",
            "invoke-id-and-priority": self.invoke_id_and_priority,
            "cosem-attribute-descriptor": self.descriptor,
            "cosem-method-descriptor": self.descriptor,
            "access-selection": lambda n: self.selection(n, key[0] if key else None),
            "attribute-descriptor-list": lambda n: self.listed(n, lambda item, index: self.attribute_item(item),
                                                               "attributes"),
            "cosem-method-descriptor-list": lambda n: self.listed(n, lambda item, index: self.descriptor(item),
                                                                  "methods"),
            "value-list": lambda n: self.listed(
                n, lambda item, index: self.data(item, shapes[index] if index < len(shapes) else None), "values"),
            "method-invocation-parameters": self.parameters,
            "value": lambda n: self.data(n, ATTRIBUTE_SHAPES.get(key) if key else None),
            "datablock": self.datablock,
            "result": lambda n: self.result(n, tag),
            "single-response": self.action_return,
            "list-of-responses": lambda n: self.listed(n, self.action_return, "responses"),
            "block-number": lambda n: str(n.value),
        }

        def meaning(meanings: dict[str, str]) -> str:
            texts = defaultdict(str, meanings)
            if isinstance(result, IntEnum):
                texts["result"] = _short(result)
            selection = node.child("access-selection")
            if selection is None or selection.value_of("access-selector") is None:
                texts["access-selection"] = ""
            summary = _FORMS.get(kind)
            return f"{kind}: {summary(texts, node.value_of('block-number')) if summary else ''}"

        return self.worded(node, rules, meaning)

    def exception_response(self, node: Node) -> Field:
        """EXCEPTION-Response: state-error, service-error, and the invocation counter
        after invocation-counter-error (Green Book 9.5)."""
        text = f"{_short(node.value_of('state-error'))}, {_short(node.value_of('service-error'))}"
        counter = node.value_of("invocation-counter")
        if counter is not None:
            text += f", counter {counter}"
        return self.worded(node, {
            "tag": self.apdu_tag,
            "invocation-counter": lambda n: f"{n.value} (the meter's current counter)",
        }, lambda meanings: f"exception-response: {text}")

    # -- Data (Green Book 9.5, Blue Book 4.1.5 and 4.1.6.1) ------------------------------

    def value_text(self, dtype: DataType, payload: Any, shape: Shape | None) -> str:
        kind = shape.kind if shape else ""
        if dtype in (DataType.NULL_DATA, DataType.DONT_CARE):
            return type_name(dtype)
        if dtype == DataType.BOOLEAN:
            return "true" if payload else "false"
        if dtype == DataType.BIT_STRING:
            bits: BitString = payload
            return f"'{bits.bits}' ({len(bits.bits)} bits)"
        if dtype == DataType.OCTET_STRING:
            if kind == "obis" and len(payload) == 6:
                return logical_name(payload, self.names)
            return date_time_text(payload) or octets_text(payload)
        if dtype == DataType.VISIBLE_STRING:
            return f'"{payload.decode("latin-1")}"'
        if dtype == DataType.UTF8_STRING:
            return f'"{payload}"'
        if dtype == DataType.DATE_TIME:
            return date_time_text(payload) or f"{payload.hex().upper()} (not a valid date-time)"
        if dtype == DataType.DATE:
            return date_text(payload) or f"{payload.hex().upper()} (not a valid date)"
        if dtype == DataType.TIME:
            return time_text(payload) or f"{payload.hex().upper()} (not a valid time)"
        if dtype in (DataType.FLOAT32, DataType.FLOAT64):
            return repr(payload)
        if kind == "class":
            return class_name(payload)
        if kind == "unit":
            unit = named(Unit, payload)
            return f"{payload} ({unit})" if unit else str(payload)
        return str(payload)

    def data(self, node: Node, shape: Shape | None = None) -> Field:
        """One tagged Data: its tag, then its length and value, or its count and elements;
        named as ``shape`` labels it."""
        dtype = node.value_of("tag")
        if dtype is None:
            return self.plain(node)
        if dtype == DataType.COMPACT_ARRAY:
            field = self.compact_array(node)
        elif dtype in (DataType.ARRAY, DataType.STRUCTURE):
            field = self.sequence(node, dtype, shape)
        else:
            field = self.simple(node, dtype, shape)
        if shape is None or shape.label is None:
            return field
        return Field(shape.label, field.offset, field.length, field.hex, field.meaning, field.children, field.error)

    def sequence(self, node: Node, dtype: DataType, shape: Shape | None) -> Field:
        """array [1] / structure [2]: a count, then that many tagged Data (Green Book 9.5)."""
        kind = type_name(dtype)
        members = shape.members if shape else ()
        rules: dict[str, Rule] = {"tag": lambda n: f"{kind} [{int(dtype)}]", "count": lambda n: f"{n.value} elements"}
        for index, child in enumerate(child for child in node.children if child.name.startswith("[")):
            member = members[index] if index < len(members) else (shape.element if shape else None)
            rules[child.name] = lambda n, member=member: self.data(n, member)
        count = node.value_of("count")
        return self.worded(node, rules, lambda meanings: kind if count is None else f"{kind} of {count} elements")

    def simple(self, node: Node, dtype: DataType, shape: Shape | None) -> Field:
        kind = type_name(dtype)
        unit = "bits" if dtype == DataType.BIT_STRING else "octets"
        rules: dict[str, Rule] = {"tag": lambda n: f"{kind} [{int(dtype)}]",
                                  "value": lambda n: self.value_text(dtype, n.value, shape)}
        if dtype in _STRINGS:
            rules["length"] = lambda n: f"{n.value} {unit}"

        def meaning(meanings: dict[str, str]) -> str:
            text = meanings.get("value", kind)
            return text if text == kind else f"{kind}: {text}"

        return self.worded(node, rules, meaning)

    def compact_array(self, node: Node) -> Field:
        """compact-array [19] (Green Book 9.5): a TypeDescription, then untagged contents."""
        description = node.child("contents-description")
        contents = node.child("array-contents")
        count = 0 if contents is None else sum(child.value if child.name == "more" else 1
                                               for child in contents.children)
        return self.worded(node, {
            "tag": lambda n: f"compact-array [{n.value}]",
            "contents-description": self.type_description,
            "length": lambda n: f"{n.value} octets of array-contents",
            "array-contents": lambda n: self.made(n, f"{count} elements, {n.length} octets",
                                                  [self.described(child, description) for child in n.children]),
        }, lambda meanings: f"compact-array of {count} elements")

    def type_description(self, node: Node) -> Field:
        """TypeDescription (Green Book 9.5): a type tag; array adds a 2-octet count and
        the element's description, structure a count and each member's."""
        dtype = node.value_of("type")
        count = node.value_of("count")
        rules: dict[str, Rule] = {
            "type": lambda n: f"{type_name(n.value)} [{int(n.value)}]",
            "count": lambda n: f"{n.value} {'elements' if dtype == DataType.ARRAY else 'members'}",
            "element": self.type_description,
        }
        rules.update((child.name, self.type_description) for child in node.children if child.name.startswith("["))
        return self.worded(node, rules, lambda meanings: self.description_text(dtype, count))

    @staticmethod
    def description_text(dtype: Any, count: Any) -> str:
        if dtype == DataType.ARRAY:
            return f"array of {count} elements"
        if dtype == DataType.STRUCTURE:
            return f"structure of {count} members"
        return "" if dtype is None else type_name(dtype)

    def described(self, node: Node, description: Node | None) -> Field:
        """One untagged compact-array element laid out as its description."""
        if node.name == "more" or description is None:
            return self.plain(node)
        if not node.children:
            dtype, payload = node.value
            return self.made(node, f"{type_name(dtype)}: {self.value_text(dtype, payload, None)}")
        dtype = description.value_of("type")
        members = [child for child in description.children if child.name not in ("type", "count")]
        fields = []
        for index, child in enumerate(node.children):
            member = members[0] if dtype == DataType.ARRAY else members[index] if index < len(members) else None
            fields.append(self.described(child, member))
        return self.made(node, self.description_text(dtype, description.value_of("count")), fields)

    # -- ciphered APDUs (Green Book 9.5, 9.2.7.2) ------------------------------------------------

    def security_control(self, node: Node) -> Field:
        """The security control byte split into its bits (Green Book 9.2.7.2.3)."""
        sc = node.value
        suite = sc & SUITE_MASK
        parts = [("security-suite", 0, f"bits 0-3: suite {suite} ({_SUITES.get(suite, 'unknown')})"),
                 ("authentication", 0, f"bit 4: {'yes' if sc & AUTHENTICATION else 'no'}"),
                 ("encryption", 0, f"bit 5: {'yes' if sc & ENCRYPTION else 'no'}"),
                 ("key-set", 0, f"bit 6: {'broadcast' if sc & BROADCAST else 'unicast'}"),
                 ("compression", 0, f"bit 7: {'yes' if sc & COMPRESSION else 'no'}")]
        kinds = [k for bit, k in ((AUTHENTICATION, "authentication"), (ENCRYPTION, "encryption")) if sc & bit]
        return self.bits(node, f"0x{sc:02X}: suite {suite}, {' and '.join(kinds) or 'no protection'}", parts)

    def protected(self, node: Node, meaning: Callable[[str], str]) -> Field:
        """``SH || (ciphertext or plain APDU) || T`` (Green Book 9.2.7.2.4), its words
        ``meaning`` made from what checking it found."""
        note = node.note or ""
        sc = node.value_of("security-control") or 0

        def deciphered(child: Node) -> Field:
            text = ("the plain APDU; its offsets are those of the ciphertext octets it replaces"
                    if child.children else "not deciphered")
            return self.made(child, text, [self.plain(apdu) for apdu in child.children])

        def found(meanings: dict[str, str]) -> str:
            plain = node.child("deciphered")
            if plain is not None and plain.children:
                return meaning(f"encrypted; deciphered: {self.apdu(plain.children[0]).meaning}")
            return meaning(f"{'encrypted' if sc & ENCRYPTION else 'authenticated'}; {note}")

        return self.worded(node, {
            "tag": self.apdu_tag,
            "length": self.octets,
            "security-control": self.security_control,
            "invocation-counter": lambda n: f"{n.value} (0x{n.value:08X})",
            "ciphertext": lambda n: f"{n.length} octets",
            "authentication-tag": lambda n: note,
            "deciphered": deciphered,
        }, found)

    def octet_string(self, node: Node) -> Field:
        """An A-XDR OCTET STRING (length, octets) in the words of its value."""
        return self.worded(node, {"length": self.octets}, lambda meanings: meanings.get("value", ""))

    def general_glo_ded(self, node: Node) -> Field:
        """general-glo-ciphering / general-ded-ciphering: tag, system-title, ciphered-content;
        the system title in the APDU is the sender's (Green Book 9.5)."""
        return self.worded(node, {
            "tag": self.apdu_tag,
            "system-title": lambda n: self.worded(n, {"length": self.octets, "value": self.system_title},
                                                  lambda meanings: (n.value_of("value") or b"").hex().upper()),
            "ciphered-content": lambda n: self.protected(n, lambda text: text),
        }, lambda meanings: f"{apdu_name(node.value)}: {meanings.get('ciphered-content', '')}")

    def general_ciphering(self, node: Node) -> Field:
        """general-ciphering (Green Book 9.5): the key comes from key-info; shown, not deciphered."""
        choice = node.child("key-info")
        key_info = "absent"
        if choice is not None and choice.value_of("choice") is not None:
            key_info = _KEY_INFO[choice.value_of("choice")]
        rules: dict[str, Rule] = {name: self.octet_string for name in GENERAL_HEADER}
        rules.update({
            "tag": self.apdu_tag,
            "key-info": lambda n: self.worded(n, {
                "usage-flag": self.usage_flag,
                "choice": lambda c: f"{_KEY_INFO[c.value]} [{c.value}]",
                "key-id": lambda c: _KEY_IDS.get(c.value, str(c.value)),
                "kek-id": lambda c: "0 master-key" if c.value == 0 else str(c.value),
                "key-parameters": self.octet_string,
                "key-ciphered-data": self.octet_string,
            }, lambda meanings: key_info),
            "ciphered-content": lambda n: self.protected(n, lambda text: text),
        })
        return self.worded(node, rules, lambda meanings: f"general-ciphering: key-info {key_info}")

    def general_signing(self, node: Node) -> Field:
        """general-signing (Green Book 9.5): the signed content is an APDU, then the signature."""
        rules: dict[str, Rule] = {name: self.octet_string for name in (*GENERAL_HEADER, "signature")}
        rules.update({
            "tag": self.apdu_tag,
            "content": lambda n: self.worded(n, {"length": self.octets}, lambda meanings: meanings.get("apdu", "")),
        })
        return self.worded(node, rules, lambda meanings: f"general-signing: {meanings.get('content', '')}")

    # -- notifications and general-block-transfer (Green Book 9.5) -----------------------

    def dated(self, node: Node) -> Field:
        """An OCTET STRING holding a date-time, OPTIONAL (usage-flag) or empty when absent."""
        value = node.child("value")
        text = "absent"
        if value is not None and value.length:
            text = date_time_text(value.value) or octets_text(value.value)
        return self.worded(node, {
            "usage-flag": self.usage_flag,
            "length": self.octets,
            "value": lambda n: date_time_text(n.value) or octets_text(n.value),
        }, lambda meanings: text)

    def long_invoke_id_and_priority(self, node: Node) -> Field:
        """Long-Invoke-Id-And-Priority (Green Book 9.5): bits 0-23 invoke-id, 28 self-descriptive,
        29 processing-option, 30 service-class, 31 priority."""
        value = node.value
        parts = [("invoke-id", 1, f"bits 0-23: {value & 0xFFFFFF}"),
                 ("self-descriptive", 0, f"bit 28: {'yes' if value >> 28 & 1 else 'no'}"),
                 ("processing-option", 0, f"bit 29: {'break on error' if value >> 29 & 1 else 'continue on error'}"),
                 ("service-class", 0, f"bit 30: {'confirmed' if value >> 30 & 1 else 'unconfirmed'}"),
                 ("priority", 0, f"bit 31: {'high' if value >> 31 else 'normal'}")]
        return self.bits(node, f"0x{value:08X}: invoke-id {value & 0xFFFFFF}", parts)

    def data_notification(self, node: Node) -> Field:
        """Data-Notification: long-invoke-id-and-priority, date-time, notification-body."""
        return self.worded(node, {
            "tag": self.apdu_tag,
            "long-invoke-id-and-priority": self.long_invoke_id_and_priority,
            "date-time": self.dated,
            "notification-body": self.data,
        }, lambda meanings: f"data-notification: {meanings.get('notification-body', '')}")

    def event_notification_request(self, node: Node) -> Field:
        """EventNotificationRequest: OPTIONAL time, cosem-attribute-descriptor, attribute-value."""
        descriptor = node.child("cosem-attribute-descriptor")
        key = (descriptor.value_of("class-id"), descriptor.value_of("attribute-id")) if descriptor else None
        return self.worded(node, {
            "tag": self.apdu_tag,
            "time": self.dated,
            "cosem-attribute-descriptor": self.descriptor,
            "attribute-value": lambda n: self.data(n, ATTRIBUTE_SHAPES.get(key) if key else None),
        }, lambda meanings: f"event-notification-request: {meanings.get('cosem-attribute-descriptor', '')}")

    def general_block_transfer(self, node: Node) -> Field:
        """general-block-transfer: block-control, block-number, block-number-ack, block-data."""
        control = node.value_of("block-control") or 0

        def block_control(child: Node) -> Field:
            parts = [("last-block", 0, f"bit 7: {'yes' if control & 0x80 else 'no'}"),
                     ("streaming", 0, f"bit 6: {'yes' if control & 0x40 else 'no'}"),
                     ("window", 0, f"bits 0-5: {control & 0x3F}")]
            return self.bits(child, f"0x{control:02X}", parts)

        return self.worded(node, {
            "tag": self.apdu_tag,
            "block-control": block_control,
            "block-number": lambda n: str(n.value),
            "block-number-ack": lambda n: str(n.value),
            "block-data": lambda n: self.worded(n, {"length": self.octets, "value": lambda v: f"{v.length} octets"},
                                                lambda meanings: meanings.get("length", "")),
        }, lambda meanings: f"general-block-transfer: {_block(node.value_of('block-number'), control & 0x80)}")

    _OTHERS: Final[dict[int, Callable[[_Wording, Node], Field]]] = {
        _T.EXCEPTION_RESPONSE: exception_response,
        _T.GENERAL_GLO_CIPHERING: general_glo_ded,
        _T.GENERAL_DED_CIPHERING: general_glo_ded,
        _T.GENERAL_CIPHERING: general_ciphering,
        _T.GENERAL_SIGNING: general_signing,
        _T.DATA_NOTIFICATION: data_notification,
        _T.EVENT_NOTIFICATION_REQUEST: event_notification_request,
        _T.GENERAL_BLOCK_TRANSFER: general_block_transfer,
    }
    """APDU tag -> the wording of the APDUs not named above."""


_Texts = dict[str, str]


def _next(texts: _Texts, block: Any) -> str:
    return f"block {block} received, send the next"


def _descriptor(texts: _Texts, block: Any) -> str:
    return texts["cosem-attribute-descriptor"] or texts["cosem-method-descriptor"]


def _with_datablock(texts: _Texts, block: Any) -> str:
    return f"{_descriptor(texts, block)}, {texts['datablock']}"


def _lists(texts: _Texts, block: Any) -> str:
    return texts["attribute-descriptor-list"] or texts["cosem-method-descriptor-list"]


def _list_with_datablock(texts: _Texts, block: Any) -> str:
    return f"{_lists(texts, block)}, {texts['datablock']}"


def _datablock(texts: _Texts, block: Any) -> str:
    return texts["datablock"]


def _result(texts: _Texts, block: Any) -> str:
    return texts["result"]


def _result_and_block(texts: _Texts, block: Any) -> str:
    return f"{texts['result']}, block {block}"


def _get_request_normal(texts: _Texts, block: Any) -> str:
    selection = texts["access-selection"]
    return f"{_descriptor(texts, block)}{', ' + selection if selection else ''}"


_FORMS: Final[dict[str, Callable[[_Texts, Any], str]]] = {
    "get-request-normal": _get_request_normal,
    "get-request-next": _next,
    "get-request-with-list": _lists,
    "get-response-normal": _result,
    "get-response-with-datablock": _result,
    "get-response-with-list": _result,
    "set-request-normal": _descriptor,
    "set-request-with-first-datablock": _with_datablock,
    "set-request-with-datablock": _datablock,
    "set-request-with-list": _lists,
    "set-request-with-list-and-first-datablock": _list_with_datablock,
    "set-response-normal": _result,
    "set-response-datablock": lambda texts, block: f"block {block} received",
    "set-response-last-datablock": _result_and_block,
    "set-response-last-datablock-with-list": _result_and_block,
    "set-response-with-list": _result,
    "action-request-normal": _descriptor,
    "action-request-next-pblock": _next,
    "action-request-with-list": _lists,
    "action-request-with-first-pblock": _with_datablock,
    "action-request-with-list-and-first-pblock": _list_with_datablock,
    "action-request-with-pblock": _datablock,
    "action-response-normal": lambda texts, block: texts["single-response"],
    "action-response-with-pblock": _datablock,
    "action-response-with-list": lambda texts, block: texts["list-of-responses"],
    "action-response-next-pblock": _next,
}
"""What each GET/SET/ACTION form says after its kind, from the meanings of its
components by name and its block-number (Green Book 9.5)."""


def word(node: Node, names: Names | None) -> Field:
    """The field tree of a dissected frame or APDU."""
    wording = _Wording(names)
    return wording.apdu(node) if node.apdu else wording.frame(node)

"""Entry points of the dissector: a wrapper frame, HDLC frames or a bare APDU to a field tree.

Every field comes from the codecs' own decoders: each APDU is decoded by the
decoder the meter and the client use, with a :class:`~dlmstw.dissector.tracer.TreeTracer`
listening, so a description can never disagree with what the meter decoded.
What the dissection adds is reading on where the decoders stop: an APDU a
field carries (user-information, the wrapper's APDU) is dissected in turn,
ciphered APDUs are deciphered when keys are given, and the first datablock
is shown as the start of the Data it carries. Then ``wording`` puts it in words.

A captured exchange carries the APDUs as the meter read and answered them
(``request_apdu``, ``response_apdu``): given as ``plain``, they are what a
ciphered frame's protected text holds, with no second deciphering. Keys are
for frames from elsewhere (``dlmstw-client dissect``).

Never raises on malformed input: what cannot be parsed ends in an "unparsed"
field whose ``error`` says where and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from dlmstw.codec import acse, services, xdlms
from dlmstw.codec.axdr import decode_data
from dlmstw.dissector.ciphered import Keys, Unprotected, check
from dlmstw.dissector.fields import Field, Names, hex_of
from dlmstw.dissector.texts import apdu_name
from dlmstw.dissector.tracer import DATA_BUDGET, Node, TreeTracer
from dlmstw.dissector.wording import word
from dlmstw.enums import ApduTag
from dlmstw.errors import DecodeError
from dlmstw.framing.hdlc import FLAG, LLC_REQUEST, LLC_RESPONSE, POLL_FINAL, SEGMENTATION_BIT, UI, decode_frame, \
    frame_length
from dlmstw.framing.wrapper import decode_wpdu
from dlmstw.interfaces import Tracer
from dlmstw.security import ciphering
from dlmstw.security.ciphering import DEDICATED_TAGS, ENCRYPTION, GENERAL_CIPHERING_TAGS, PLAIN_TAG

_T = ApduTag
DECODERS: Final[dict[int, Callable[[bytes, Tracer], Any]]] = {
    _T.AARQ: acse.decode_aarq,
    _T.AARE: acse.decode_aare,
    _T.RLRQ: acse.decode_rlrq,
    _T.RLRE: acse.decode_rlre,
    _T.INITIATE_REQUEST: xdlms.decode_initiate_request,
    _T.INITIATE_RESPONSE: xdlms.decode_initiate_response,
    _T.CONFIRMED_SERVICE_ERROR: xdlms.decode_confirmed_service_error,
    _T.GET_REQUEST: services.decode_request,
    _T.SET_REQUEST: services.decode_request,
    _T.ACTION_REQUEST: services.decode_request,
    _T.GET_RESPONSE: services.decode_response,
    _T.SET_RESPONSE: services.decode_response,
    _T.ACTION_RESPONSE: services.decode_response,
    _T.EXCEPTION_RESPONSE: services.decode_response,
    _T.EVENT_NOTIFICATION_REQUEST: services.decode_event_notification_request,
    _T.DATA_NOTIFICATION: services.decode_data_notification,
    _T.GENERAL_BLOCK_TRANSFER: services.decode_general_block_transfer,
    _T.GENERAL_GLO_CIPHERING: ciphering.decode_general_ciphering,
    _T.GENERAL_DED_CIPHERING: ciphering.decode_general_ciphering,
    _T.GENERAL_CIPHERING: ciphering.decode_keyed_general_ciphering,
    _T.GENERAL_SIGNING: ciphering.decode_general_signing,
    **{tag: ciphering.decode_ciphered_apdu for tag in PLAIN_TAG},
}
"""First octet of an APDU -> the codec's decoder of it (Green Book 9.5 APDU tags)."""

_SENDER_TITLES: Final = frozenset(("calling-AP-title", "responding-AP-title"))
#: The APDUs whose user-information may carry a protected xDLMS APDU, by first octet.
_ASSOCIATION_APDUS: Final[dict[bytes, Callable[[bytes], Any]]] = {
    bytes((_T.AARQ,)): acse.decode_aarq, bytes((_T.AARE,)): acse.decode_aare}
_NOT_DECIPHERED: Final = "not checked: its key comes from key-info, which is not read here"


def is_truncation(reason: str) -> bool:
    """True when a decode error only says the octets ran out (a datablock's data
    continuing in the next block), not that they are malformed."""
    return reason.startswith("truncated") or "exceed" in reason or "runs past" in reason


class Dissection:
    """One dissection: the keys or the meter's plain APDU and the names it was
    given, what earlier fields told (the sender's system title in an
    AARQ/AARE), and the elements it may still show in full. Provides the
    tracer's ``Hooks``."""

    def __init__(self, keys: Keys | None, names: Names | None, plain: bytes | None = None) -> None:
        self.keys = keys
        self.names = names
        self.plain = plain
        self.sender_title: bytes | None = None
        self._budget = [DATA_BUDGET]
        #: The segments of an APDU read so far from HDLC frames (Green Book 8.4.4.2).
        self.segments: list[bytes] = []

    def information(self, tracer: TreeTracer, offset: int, octets: bytes) -> None:
        """An HDLC information field: in an I or UI frame, the LLC header (first
        segment) and the APDU, or a segment of it (the APDU of the last segment
        dissected whole under "reassembled"); in other frames, parameters."""
        frame = tracer.group
        control, fmt = frame.value_of("control"), frame.value_of("frame-format") or 0
        base = tracer.base + offset
        if not isinstance(control, int) or (control & 1 and control & ~POLL_FINAL != UI):
            tracer.adopt(Node("information", base, len(octets), octets, hex_of(octets, True)))
            return
        rest, at = octets, base
        if not self.segments and octets[:3] in (LLC_REQUEST, LLC_RESPONSE):
            tracer.adopt(Node("llc", base, 3, hex=octets[:3].hex().upper(), children=[
                Node(name, base + index, 1, octets[index], f"{octets[index]:02X}")
                for index, name in enumerate(("destination-lsap", "source-lsap", "llc-quality"))]))
            rest, at = octets[3:], base + 3
        segmented = bool(fmt & SEGMENTATION_BIT)
        if not segmented and not self.segments:
            tracer.adopt(self.embedded(rest, at))
            return
        tracer.adopt(Node("segment", at, len(rest), len(self.segments) + 1, hex_of(rest, True)))
        self.segments.append(rest)
        if not segmented:
            apdu = b"".join(self.segments)
            tracer.adopt(Node("reassembled", at, len(apdu), len(self.segments), hex_of(apdu, True),
                              [self.embedded(apdu, 0)],
                              note=f"the APDU of {len(self.segments)} segments (its offsets count from its "
                                   "first octet)"))
            self.segments = []

    def budget(self) -> list[int]:
        return self._budget

    def carried(self, tracer: TreeTracer, name: str, offset: int, octets: bytes) -> None:
        """An APDU a field carries is dissected as one; a protected text is split
        in place by the codec (``split_protected``, as ``unprotect`` splits it)."""
        if name == "apdu":
            tracer.adopt(self.embedded(octets, tracer.base + offset))
            return
        if name == "information":
            self.information(tracer, offset, octets)
            return
        try:
            ciphering.split_protected(tracer.buf, offset, offset + len(octets), tracer)
        except DecodeError as exc:
            tracer.unparsed(exc, offset + len(octets))

    def embedded(self, apdu: bytes, offset: int) -> Node:
        """The node of ``apdu``, found at ``offset``: named after its tag
        ("aarq", "get-request", "glo-get-request"…; "apdu" for an unknown tag)."""
        tag = apdu[0] if apdu else None
        decoder = DECODERS.get(tag) if tag is not None else None
        node = Node(apdu_name(tag) if decoder is not None and tag is not None else "apdu", offset, len(apdu), tag,
                    hex_of(apdu, True), apdu=True)
        tracer = TreeTracer(apdu, offset, node, self)
        try:
            if decoder is None:
                raise DecodeError("truncated: APDU tag expected" if tag is None else f"unknown APDU tag 0x{tag:02X}")
            decoded = decoder(apdu, tracer)
        except DecodeError as exc:
            tracer.finish(exc, len(apdu))
            return node
        tracer.finish(None, len(apdu))
        if tag in PLAIN_TAG:
            self._unprotect(node, decoded[1], tag in DEDICATED_TAGS, None)
        elif tag in GENERAL_CIPHERING_TAGS:
            self._unprotect(node.child("ciphered-content"), decoded[2], tag == _T.GENERAL_DED_CIPHERING, decoded[1])
        elif tag == _T.GENERAL_CIPHERING:
            content = node.child("ciphered-content")
            if content is not None:
                content.note = _NOT_DECIPHERED
        return node

    def closed(self, group: Node, parent: Node) -> None:
        if group.name in _SENDER_TITLES:
            title = group.value_of("value")
            if isinstance(title, bytes):
                self.sender_title = title
        elif group.name == "raw-data":
            self._first_block(group, parent)

    def _unprotect(self, container: Node | None, protected: bytes, dedicated: bool, title: bytes | None) -> None:
        """Check the protection of the text whose fields ``container`` holds; an
        encrypted one, once deciphered, is dissected as "deciphered" (Green Book 9.2.7.2.4).
        An empty one is not checked: splitting it already said what is missing."""
        if container is None or not protected:
            return
        found = (check(self.keys, protected, dedicated, title or self.sender_title) if self.plain is None
                 else _read_by_meter(self.plain))
        container.note = found.note
        tag = container.child("authentication-tag")
        if tag is not None:
            tag.error = found.failure
        ciphertext = container.child("ciphertext")
        if not protected[0] & ENCRYPTION or ciphertext is None:
            return
        if found.plain is not None:
            plain = self.embedded(found.plain, ciphertext.offset)
            container.children.append(Node("deciphered", ciphertext.offset, len(found.plain),
                                           hex=hex_of(found.plain, True), children=[plain]))
        elif found.failure is not None and tag is None:
            container.children.append(Node("deciphered", ciphertext.offset, error=found.failure))

    def _first_block(self, raw_data: Node, block: Node) -> None:
        """The octets of block 1 shown as the start of the encoded Data they are
        (Green Book 9.4.6.4); octets that are not one stay opaque, as the ASN.1
        (an OCTET STRING) allows, with the reason in their note."""
        value = raw_data.child("value")
        if value is None or block.value_of("block-number") != 1 or not value.length:
            return
        last = bool(block.value_of("last-block"))
        octets: bytes = value.value
        part = Node("data", value.offset, value.length, last, hex_of(octets, True))
        tracer = TreeTracer(octets, value.offset, part, self)
        try:
            _, stop = decode_data(octets, 0, tracer, "value", continued=not last)
        except DecodeError as exc:
            if last or not is_truncation(exc.reason):
                value.note = (f"{value.length} octets, not an encoded Data (at byte {value.offset + exc.offset}: "
                              f"{exc.reason})")
                return
            tracer.finish(None, len(octets))
            rest = memoryview(octets)[tracer.pos:]
            part.children.append(Node("incomplete", value.offset + tracer.pos, len(rest), hex=hex_of(rest),
                                      note="the Data continues in the next block"))
        else:
            if stop < len(octets):
                value.note = (f"{value.length} octets, not an encoded Data (at byte {value.offset + stop}: "
                              f"{len(octets) - stop} unexpected octets after the data)")
                return
        raw_data.children[raw_data.children.index(value)] = part


def _read_by_meter(plain: bytes) -> Unprotected:
    """The protected text of a captured frame as the meter read it: the plain
    APDU of the exchange, or for an AARQ/AARE the xDLMS APDU its
    user-information carries; still protected when the meter refused it."""
    content: bytes | None = plain
    if plain[:1] in _ASSOCIATION_APDUS:
        try:
            content = _ASSOCIATION_APDUS[plain[:1]](plain).user_information
        except DecodeError:
            content = None
    if not content or content[0] in PLAIN_TAG or content[0] in GENERAL_CIPHERING_TAGS:
        return Unprotected(None, "not deciphered: the meter refused it (see the result)")
    return Unprotected(content, "deciphered by the meter")


def dissect_apdu(apdu: bytes, keys: Keys | None = None, names: Names | None = None) -> Field:
    """The field tree of a bare APDU (no wrapper header); offsets count from its first octet."""
    return word(Dissection(keys, names).embedded(apdu, 0), names)


def dissect_frame(frame: bytes, keys: Keys | None = None, names: Names | None = None,
                  plain: bytes | None = None) -> Field:
    """The field tree of a wrapper frame (8-octet header, then one APDU), or of
    HDLC frames one after the other (they start with the flag 7E): an
    exchange's frames, an APDU's segments among them.

    ``keys`` decipher ciphered APDUs (their ``system_title`` is the sender's);
    ``plain`` is the APDU as the meter read or answered it instead (a captured
    exchange's); ``names`` maps a logical name to the object's name in the
    meter's model.
    """
    root = Node("frame", 0, len(frame), hex=hex_of(frame, True))
    dissection = Dissection(keys, names, plain)
    if frame[:1] == bytes((FLAG,)):
        _hdlc_frames(frame, root, dissection)
        return word(root, names)
    tracer = TreeTracer(frame, 0, root, dissection)
    try:
        decode_wpdu(frame, tracer)
    except DecodeError as exc:
        tracer.finish(exc, len(frame))
    else:
        tracer.finish(None, len(frame))
    return word(root, names)


def _hdlc_frames(octets: bytes, root: Node, dissection: Dissection) -> None:
    """Each HDLC frame of ``octets`` as an "hdlc-frame" of ``root``, cut by its format field (Green Book 8.4.2)."""
    pos = 0
    while pos < len(octets):
        size = frame_length(octets, pos)
        stop = len(octets) if size is None else min(pos + size, len(octets))
        node = Node("hdlc-frame", pos, stop - pos, hex=hex_of(octets[pos:stop], True))
        root.children.append(node)
        tracer = TreeTracer(octets[pos:stop], pos, node, dissection)
        try:
            decode_frame(octets[pos:stop], tracer)
        except DecodeError as exc:
            tracer.finish(exc, stop - pos)
        else:
            tracer.finish(None, stop - pos)
        pos = stop

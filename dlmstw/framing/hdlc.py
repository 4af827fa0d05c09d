"""HDLC frames of IEC 62056-46 (Green Book 8.4.2), frame format type 3.

A frame is ``7E | format | destination | source | control | HCS | information | FCS | 7E``:
the 16-bit format field holds the type (0xA), the segmentation bit and an
11-bit length of everything between the flags; addresses are 1, 2 or 4
octets whose last octet has its low bit set; HCS (only with information) and
FCS are the CRC-16/X.25 of RFC 1662 (sent least significant octet first).

Sans-I/O: ``HdlcDecoder`` turns a byte stream cut anywhere into ``Frame``
tuples and ``Discarded`` records (a frame with a bad check sequence, or bytes
between frames, is dropped as the standard says, Green Book 8.4.2.5);
``encode_frame`` builds one. The link state machine is ``hdlc_link``.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

FLAG: Final = 0x7E
FORMAT_TYPE_3: Final = 0xA
SEGMENTATION_BIT: Final = 0x0800
LENGTH_MASK: Final = 0x07FF
#: The shortest frame between its flags: format, two one-octet addresses, control, FCS.
MIN_FRAME_LENGTH: Final = 7
#: Octets a frame holds besides its information and its two addresses: format, control, HCS, FCS.
FRAME_OVERHEAD: Final = 7

#: Control fields (Green Book 8.4.3.4): the U frames with the P/F bit clear; I and S frames carry sequence numbers.
SNRM: Final = 0x83
DISC: Final = 0x43
UA: Final = 0x63
DM: Final = 0x0F
FRMR: Final = 0x87
UI: Final = 0x03
RR: Final = 0x01
RNR: Final = 0x05
POLL_FINAL: Final = 0x10
_UNNUMBERED: Final = {SNRM: "SNRM", DISC: "DISC", UA: "UA", DM: "DM", FRMR: "FRMR", UI: "UI"}
_SUPERVISORY: Final = {RR: "RR", RNR: "RNR"}

#: The LLC header of an APDU in an I or UI frame (Green Book 8.4.4.2): LSAPs E6, then quality 00.
LLC_REQUEST: Final = b"\xe6\xe6\x00"
LLC_RESPONSE: Final = b"\xe6\xe7\x00"

_FCS_TABLE: Final = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0x8408 if _crc & 1 else _crc >> 1
    _FCS_TABLE.append(_crc)


def fcs16(data: bytes | bytearray | memoryview) -> int:
    """The frame check sequence of ``data``: CRC-16/X.25 (RFC 1662 C.2), as HCS and FCS use it."""
    crc = 0xFFFF
    table = _FCS_TABLE
    for octet in data:
        crc = (crc >> 8) ^ table[(crc ^ octet) & 0xFF]
    return crc ^ 0xFFFF


class Address(NamedTuple):
    """An HDLC address (Green Book 8.4.2.3): ``upper`` (a client's SAP, a server's
    logical device), ``lower`` (a server's physical device; None in a one-octet
    address) and its ``size`` in octets, 1, 2 or 4."""

    upper: int
    lower: int | None
    size: int


def encode_address(address: Address) -> bytes:
    """The octets of ``address``: 7 bits an octet, the low bit set on the last."""
    upper, lower, size = address
    if size == 1:
        parts, width = [upper], 7
    elif size in (2, 4):
        parts, width = [upper, lower or 0], 7 * size // 2
    else:
        raise ValueError(f"an HDLC address has 1, 2 or 4 octets, not {size}")
    value = 0
    for part in parts:
        if not 0 <= part < 1 << width:
            raise ValueError(f"{part} does not fit the {width} bits of a {size}-octet HDLC address")
        value = value << width | part
    octets = bytearray()
    for index in range(size):
        octets.insert(0, (value >> 7 * index & 0x7F) << 1)
    octets[-1] |= 1
    return bytes(octets)


def _decode_address(frame: bytes, at: int, end: int, name: str) -> tuple[Address, int]:
    """The address starting at ``at``; raises DecodeError when it runs past ``end`` or has 3 or 5+ octets."""
    value, size = 0, 0
    while True:
        if at + size >= end:
            raise DecodeError(f"truncated: the {name} runs past the header", at + size)
        octet = frame[at + size]
        value = value << 7 | octet >> 1
        size += 1
        if octet & 1:
            break
        if size == 4:
            raise DecodeError(f"the {name} has more than 4 octets", at)
    if size == 3:
        raise DecodeError(f"the {name} has 3 octets; HDLC addresses have 1, 2 or 4", at)
    if size == 1:
        return Address(value, None, 1), at + 1
    width = 7 * size // 2
    return Address(value >> width, value & ((1 << width) - 1), size), at + size


class Frame(NamedTuple):
    """One HDLC frame: its addresses, control field, information, segmentation bit, and the whole frame as received."""

    destination: Address
    source: Address
    control: int
    information: bytes
    segmented: bool
    raw: bytes


def control_name(control: int) -> str:
    """``I``, ``RR``, ``RNR``, ``SNRM``, ``DISC``, ``UA``, ``DM``, ``FRMR``, ``UI`` or ``unknown`` (Green Book 8.4.3.4)."""
    if not control & 1:
        return "I"
    if control & 3 == 1:
        return _SUPERVISORY.get(control & 0x0F, "unknown")
    return _UNNUMBERED.get(control & ~POLL_FINAL, "unknown")


def i_control(send: int, receive: int, poll: bool) -> int:
    """The control field of an I frame: N(R), P/F, N(S) (Green Book 8.4.3.4)."""
    return (receive & 7) << 5 | (POLL_FINAL if poll else 0) | (send & 7) << 1


def s_control(kind: int, receive: int, poll: bool) -> int:
    """The control field of an RR or RNR frame carrying N(R)."""
    return (receive & 7) << 5 | (POLL_FINAL if poll else 0) | kind


def encode_frame(destination: Address, source: Address, control: int, information: bytes = b"",
                 segmented: bool = False) -> bytes:
    """One frame between flags, with HCS (when it has information) and FCS."""
    addresses = encode_address(destination) + encode_address(source)
    length = 2 + len(addresses) + 1 + 2 + (len(information) + 2 if information else 0)
    if length > LENGTH_MASK:
        raise ValueError(f"a frame of {length} octets does not fit the 11-bit length field")
    head = bytearray((FORMAT_TYPE_3 << 4 | (8 if segmented else 0) | length >> 8, length & 0xFF))
    head += addresses
    head.append(control)
    if information:
        head += fcs16(head).to_bytes(2, "little")
        head += information
    head += fcs16(head).to_bytes(2, "little")
    return b"\x7e" + bytes(head) + b"\x7e"


def frame_length(frame: bytes | bytearray, start: int = 0) -> int | None:
    """The octets of the frame whose opening flag is at ``start``, both flags
    included, from its format field; None while the format field is incomplete."""
    if len(frame) < start + 3:
        return None
    return ((frame[start + 1] << 8 | frame[start + 2]) & LENGTH_MASK) + 2


def decode_frame(frame: bytes, tracer: Tracer | None = None) -> Frame:
    """Decode one whole frame, both flags included (Green Book 8.4.2).

    A tracer hears ``opening-flag``, ``frame-format``, ``destination-address``,
    ``source-address``, ``control``, then with information ``hcs`` and
    ``information`` (a carrier: the dissection reads the LLC header and the
    APDU in it), then ``fcs`` and ``closing-flag``. Raises DecodeError for a
    missing flag, a format other than type 3, a length that disagrees with
    the frame, a bad address, or a wrong HCS or FCS.
    """
    end = len(frame)
    if end < 1 or frame[0] != FLAG:
        raise DecodeError("truncated: opening flag 7E expected" if end < 1 else
                          f"0x{frame[0]:02X} where the opening flag 7E belongs", 0)
    if tracer is not None:
        tracer.field("opening-flag", 0, 1, FLAG)
    if end < 3:
        raise DecodeError("truncated: frame format expected", 1)
    fmt = frame[1] << 8 | frame[2]
    if tracer is not None:
        tracer.field("frame-format", 1, 2, fmt)
    if fmt >> 12 != FORMAT_TYPE_3:
        raise DecodeError(f"frame format type 0x{fmt >> 12:X}; DLMS uses type 3 (0xA)", 1)
    length = fmt & LENGTH_MASK
    stop = 1 + length
    if length < MIN_FRAME_LENGTH:
        raise DecodeError(f"a frame length of {length} is below the shortest frame ({MIN_FRAME_LENGTH})", 1)
    if stop + 1 != end:
        raise DecodeError(f"the format announces {length} octets between the flags but {end - 2} are there",
                          min(end, stop))
    destination, at = _decode_address(frame, 3, stop - 2, "destination-address")
    if tracer is not None:
        tracer.field("destination-address", 3, at - 3, destination)
    source, control_at = _decode_address(frame, at, stop - 2, "source-address")
    if tracer is not None:
        tracer.field("source-address", at, control_at - at, source)
    if control_at >= stop - 2:
        raise DecodeError("truncated: control field expected", control_at)
    control = frame[control_at]
    if tracer is not None:
        tracer.field("control", control_at, 1, control)
    header_end = control_at + 1
    information = b""
    if header_end < stop - 2:
        if header_end + 2 > stop - 2:
            raise DecodeError("truncated: header check sequence expected", header_end)
        check = int.from_bytes(frame[header_end:header_end + 2], "little")
        if tracer is not None:
            tracer.field("hcs", header_end, 2, check)
        if check != fcs16(memoryview(frame)[1:header_end]):
            raise DecodeError(f"wrong header check sequence {check:04X}", header_end)
        information = bytes(frame[header_end + 2:stop - 2])
        if tracer is not None:
            tracer.field("information", header_end + 2, len(information), information)
    check = int.from_bytes(frame[stop - 2:stop], "little")
    if tracer is not None:
        tracer.field("fcs", stop - 2, 2, check)
    if check != fcs16(memoryview(frame)[1:stop - 2]):
        raise DecodeError(f"wrong frame check sequence {check:04X}", stop - 2)
    if tracer is not None:
        tracer.field("closing-flag", stop, 1, frame[stop])
    if frame[stop] != FLAG:
        raise DecodeError(f"0x{frame[stop]:02X} where the closing flag 7E belongs", stop)
    return Frame(destination, source, control, information, bool(fmt & SEGMENTATION_BIT), bytes(frame))


class Discarded(NamedTuple):
    """Octets the decoder dropped: a frame that does not check, or bytes between frames."""

    reason: str
    raw: bytes


class HdlcDecoder:
    """Incremental frame decoder: ``feed`` bytes as they arrive, get the frames.

    Frames may be split at any byte or arrive several in one read, with their
    own flags or sharing one (a closing flag may open the next frame). A frame
    whose format, addresses or check sequences are wrong, and bytes outside
    frames, come back as ``Discarded`` and reading goes on at the next flag,
    as a secondary station does (Green Book 8.4.2.5). Memory stays bounded by
    one frame (the 11-bit length) and one read. ``expire`` drops a frame left
    incomplete for longer than ``inter_frame_timeout`` seconds.
    """

    __slots__ = ("_buffer", "_since", "inter_frame_timeout")

    def __init__(self, inter_frame_timeout: float = 1.0) -> None:
        self.inter_frame_timeout = inter_frame_timeout
        self._buffer = bytearray()
        self._since = 0.0

    @property
    def pending(self) -> int:
        """Octets of an incomplete frame held (a lone flag that may open the next frame is none)."""
        return len(self._buffer) if len(self._buffer) > 1 else 0

    def deadline(self) -> float | None:
        """When the incomplete frame held expires; None when none is held."""
        return self._since + self.inter_frame_timeout if self.pending else None

    def expire(self, now: float) -> Discarded | None:
        """Drop the incomplete frame when its inter-frame timeout has passed."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        raw = bytes(self._buffer)
        self._buffer.clear()
        return Discarded("inter-frame timeout: the frame was not completed", raw)

    def feed(self, data: bytes, now: float = 0.0) -> list[Frame | Discarded]:
        """Add ``data`` to the stream; return every frame it completes and what was discarded, in order."""
        buf = self._buffer
        if not self.pending:
            self._since = now
        buf += data
        out: list[Frame | Discarded] = []
        pos, end = 0, len(buf)
        while pos < end:
            if buf[pos] != FLAG:
                flag = buf.find(FLAG, pos)
                stop = end if flag < 0 else flag
                out.append(Discarded("octets outside a frame", bytes(buf[pos:stop])))
                pos = stop
                continue
            if pos + 1 < end and buf[pos + 1] == FLAG:
                pos += 1  # an empty frame: flags back to back
                continue
            size = frame_length(buf, pos)
            if size is None:
                break
            if buf[pos + 1] >> 4 != FORMAT_TYPE_3 or size - 2 < MIN_FRAME_LENGTH:
                stop = buf.find(FLAG, pos + 1)
                stop = end if stop < 0 else stop
                out.append(Discarded("not a type 3 frame format", bytes(buf[pos:stop])))
                pos = stop
                continue
            if pos + size > end:
                break
            raw = bytes(buf[pos:pos + size])
            try:
                out.append(decode_frame(raw))
            except DecodeError as error:
                out.append(Discarded(error.reason, raw))
                if raw[-1] != FLAG:
                    stop = buf.find(FLAG, pos + 1)
                    pos = end if stop < 0 else stop
                    continue
            # The closing flag may also open the next frame.
            pos += size - 1
            if pos + 1 < end and buf[pos + 1] == FLAG:
                pos += 1
        if pos:
            del buf[:pos]
            self._since = now
        return out

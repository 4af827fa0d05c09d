"""Minimal BER (ITU-T X.690) helpers for the DLMS profile of the ACSE.

The ACSE APDUs of the Green Book (IEC 62056-5-3, 9.4.2, after ISO/IEC 8650-1)
are BER encoded with single-byte tags and definite lengths only; this module
offers exactly that subset. Offsets are absolute positions in the buffer the
caller hands in, so a ``DecodeError`` marks the spot for a dissector.
"""

from collections.abc import Iterator, Sequence

from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

UNIVERSAL_INTEGER = 0x02
UNIVERSAL_BIT_STRING = 0x03
UNIVERSAL_OCTET_STRING = 0x04
UNIVERSAL_OBJECT_IDENTIFIER = 0x06

# X.690 8.1.3.5: at most four length octets; nothing in an ACSE APDU needs more.
_MAX_LENGTH_OCTETS = 4


def encode_length(length: int) -> bytes:
    """Definite length octets, short form below 128, else long form (X.690 8.1.3)."""
    if length < 0x80:
        return bytes((length,))
    if length <= 0xFF:
        return bytes((0x81, length))
    if length <= 0xFFFF:
        return bytes((0x82, length >> 8, length & 0xFF))
    if length <= 0xFFFFFFFF:
        octets = length.to_bytes(4, "big").lstrip(b"\x00")
        return bytes((0x80 | len(octets),)) + octets
    raise ValueError(f"BER content of {length} bytes is too long")


def encode_tlv(tag: int, content: bytes) -> bytes:
    """One TLV with a single-byte ``tag`` and a definite length (X.690 8.1)."""
    return bytes((tag,)) + encode_length(len(content)) + content


def iter_tlv(buf: bytes, offset: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(tag, content_start, content_end)`` for each TLV in ``buf[offset:end]``.

    Raises ``DecodeError`` on a multi-byte tag (X.690 8.1.2.4; the ACSE uses
    none), an indefinite length (X.690 8.1.3.6; the DLMS profile forbids it),
    more than four length octets, or a TLV that runs past ``end``.
    """
    pos = offset
    while pos < end:
        tag = buf[pos]
        if tag & 0x1F == 0x1F:
            raise DecodeError(f"multi-byte BER tag 0x{tag:02X} is not used by the ACSE", pos)
        if pos + 1 >= end:
            raise DecodeError("BER TLV truncated in its length", pos + 1)
        first = buf[pos + 1]
        start = pos + 2
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise DecodeError("indefinite BER length is not allowed", pos + 1)
        else:
            count = first & 0x7F
            if count > _MAX_LENGTH_OCTETS:
                raise DecodeError(f"BER length with {count} length octets", pos + 1)
            if start + count > end:
                raise DecodeError("BER TLV truncated in its length", end)
            length = int.from_bytes(buf[start : start + count], "big")
            start += count
        stop = start + length
        if stop > end:
            raise DecodeError(f"BER content of {length} bytes runs past the end", end)
        yield tag, start, stop
        pos = stop


def trace_header(tracer: Tracer, buf: bytes, offset: int, start: int, stop: int, prefix: str = "") -> None:
    """Report the identifier and length octets of the TLV at ``offset`` whose content
    is ``buf[start:stop]`` as the fields ``tag`` and ``length`` (X.690 8.1.2,
    8.1.3), named with ``prefix`` for an inner TLV."""
    tracer.field(prefix + "tag", offset, 1, buf[offset])
    tracer.field(prefix + "length", offset + 1, start - offset - 1, stop - start)


def read_single(buf: bytes, offset: int, end: int, tag: int, tracer: Tracer | None = None,
                prefix: str = "") -> tuple[int, int]:
    """Content bounds of the one TLV that must fill ``buf[offset:end]`` and carry ``tag``.

    Used for a whole APDU and for EXPLICIT tags, whose content is exactly one
    inner TLV (X.690 8.14.2). A tracer hears its header (``trace_header``).
    """
    if offset >= end:
        raise DecodeError(f"expected BER tag 0x{tag:02X}, found nothing", offset)
    found = buf[offset]
    if found != tag:
        raise DecodeError(f"expected BER tag 0x{tag:02X}, found 0x{found:02X}", offset)
    _, start, stop = next(iter_tlv(buf, offset, end))
    if stop != end:
        raise DecodeError("unexpected bytes after the BER value", stop)
    if tracer is not None:
        trace_header(tracer, buf, offset, start, stop, prefix)
    return start, stop


def encode_integer(value: int) -> bytes:
    """Content octets of a BER INTEGER: minimal two's complement (X.690 8.3)."""
    magnitude = value if value >= 0 else ~value
    return value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def decode_integer(buf: bytes, start: int, end: int) -> int:
    """Value of the INTEGER content ``buf[start:end]`` (X.690 8.3)."""
    if start >= end:
        raise DecodeError("empty BER INTEGER", start)
    if end - start > 8:
        raise DecodeError("BER INTEGER longer than 8 bytes", start)
    return int.from_bytes(buf[start:end], "big", signed=True)


def encode_oid(arcs: Sequence[int]) -> bytes:
    """Content octets of an OBJECT IDENTIFIER (X.690 8.19)."""
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError(f"invalid object identifier {arcs!r}")
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        if arc < 0:
            raise ValueError(f"invalid object identifier {arcs!r}")
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(buf: bytes, start: int, end: int) -> tuple[int, ...]:
    """Arcs of the OBJECT IDENTIFIER content ``buf[start:end]`` (X.690 8.19)."""
    if start >= end:
        raise DecodeError("empty OBJECT IDENTIFIER", start)
    if buf[end - 1] & 0x80:
        raise DecodeError("OBJECT IDENTIFIER ends inside a subidentifier", end)
    subidentifiers: list[int] = []
    value = 0
    for pos in range(start, end):
        octet = buf[pos]
        if value == 0 and octet == 0x80:
            raise DecodeError("OBJECT IDENTIFIER subidentifier with a leading 0x80", pos)
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            subidentifiers.append(value)
            value = 0
    first = subidentifiers[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *subidentifiers[1:])

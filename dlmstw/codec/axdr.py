"""A-XDR encoding of the COSEM ``Data`` CHOICE and the COSEM date and time formats.

Rules: Green Book 9.5 (the ``Data`` and ``TypeDescription`` ASN.1), A-XDR as in
IEC 61334-6 (lengths, fixed-size integers without length octets), Blue Book 4.1.5
(common data types) and 4.1.6.1 (date-time, date, time).

A decoded value is a :data:`Data` tuple ``(DataType, payload)``:

=====================================  =========================================
null-data, dont-care                   ``None``
array, structure                       ``list[Data]``
boolean                                ``bool``
bit-string                             :class:`BitString`
integers, enum, bcd                    ``int``
octet-string, visible-string           ``bytes``
utf8-string                            ``str``
float32, float64                       ``float``
date-time, date, time                  ``bytes`` of 12, 5, 4 octets
compact-array                          :class:`CompactArray`
=====================================  =========================================
"""

from __future__ import annotations

import datetime
import math
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from dlmstw.enums import DataType
from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

Data: TypeAlias = tuple[DataType, Any]
"""A COSEM Data value: its CHOICE tag and the Python payload (module docstring)."""

TypeDescription: TypeAlias = (
    "DataType | tuple[DataType, int, TypeDescription] | tuple[DataType, Sequence[TypeDescription]]"
)
"""A compact-array contents description (Green Book 9.5, TypeDescription): a simple
``DataType``, ``(DataType.ARRAY, number_of_elements, element_description)`` or
``(DataType.STRUCTURE, [member_descriptions...])`` (decoded as a list)."""

MAX_DEPTH = 32
"""Most arrays, structures and compact-arrays nested in one another that the codec accepts."""

_ARRAY = DataType.ARRAY
_STRUCTURE = DataType.STRUCTURE
_COMPACT_ARRAY = DataType.COMPACT_ARRAY


@dataclass(frozen=True, slots=True)
class BitString:
    """bit-string [4] (Blue Book 4.1.5): ``bits`` is a str of '0'/'1', first bit first."""

    bits: str

    def __post_init__(self) -> None:
        if self.bits.strip("01"):
            raise ValueError(f"bit-string may hold only '0' and '1': {self.bits!r}")


@dataclass(frozen=True, slots=True)
class CompactArray:
    """compact-array [19] (Green Book 9.5): one contents description, then the
    elements; each element is a :data:`Data` of the described type."""

    description: TypeDescription
    elements: list[Data]


# ---------------------------------------------------------------------------
# Lengths (A-XDR: the BER definite form, IEC 61334-6)

_SHORT_LENGTHS = tuple(bytes((n,)) for n in range(0x80))


def encode_length(n: int) -> bytes:
    """A-XDR length: below 0x80 one octet, else 0x80|N then N octets (N <= 4)."""
    if 0 <= n < 0x80:
        return _SHORT_LENGTHS[n]
    if n < 0:
        raise ValueError(f"negative length {n}")
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return b"\x82" + n.to_bytes(2, "big")
    if n < 0x1000000:
        return b"\x83" + n.to_bytes(3, "big")
    if n < 0x100000000:
        return b"\x84" + n.to_bytes(4, "big")
    raise ValueError(f"length {n} does not fit in 4 octets")


def _length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos >= end:
        raise DecodeError("truncated: length expected", pos)
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0:
        raise DecodeError("indefinite length is not allowed in A-XDR", pos)
    if size > 4:
        raise DecodeError(f"over-long length: {size} length octets", pos)
    stop = pos + 1 + size
    if stop > end:
        raise DecodeError("truncated length", pos)
    return int.from_bytes(buf[pos + 1 : stop], "big"), stop


def decode_length(buf: bytes, offset: int) -> tuple[int, int]:
    """Read an A-XDR length at ``offset``; return it and the offset after it."""
    return _length(buf, offset, len(buf))


# ---------------------------------------------------------------------------
# Specialised encoders of simple types; each returns the tagged A-XDR bytes.


def _packer(fmt: str) -> Callable[..., bytes]:
    return struct.Struct(">" + fmt).pack


_PACK_BB = _packer("BB")
_PACK_Bb = _packer("Bb")
_PACK_Bh = _packer("Bh")
_PACK_BH = _packer("BH")
_PACK_Bi = _packer("Bi")
_PACK_BI = _packer("BI")
_PACK_Bq = _packer("Bq")
_PACK_BQ = _packer("BQ")
_PACK_Bf = _packer("Bf")
_PACK_Bd = _packer("Bd")


def _out_of_range(type_name: str, value: object) -> ValueError:
    return ValueError(f"{type_name} cannot hold {value!r}")


def encode_boolean(value: bool) -> bytes:
    """boolean [3]: one octet, 0x00 FALSE, 0x01 TRUE."""
    return b"\x03\x01" if value else b"\x03\x00"


def encode_integer(value: int) -> bytes:
    """integer [15], Integer8 -128..127."""
    try:
        return _PACK_Bb(15, value)
    except struct.error:
        raise _out_of_range("integer", value) from None


def encode_bcd(value: int) -> bytes:
    """bcd [13], Integer8 per the Green Book 9.5 Data CHOICE."""
    try:
        return _PACK_Bb(13, value)
    except struct.error:
        raise _out_of_range("bcd", value) from None


def encode_long(value: int) -> bytes:
    """long [16], Integer16."""
    try:
        return _PACK_Bh(16, value)
    except struct.error:
        raise _out_of_range("long", value) from None


def encode_unsigned(value: int) -> bytes:
    """unsigned [17], Unsigned8."""
    try:
        return _PACK_BB(17, value)
    except struct.error:
        raise _out_of_range("unsigned", value) from None


def encode_long_unsigned(value: int) -> bytes:
    """long-unsigned [18], Unsigned16."""
    try:
        return _PACK_BH(18, value)
    except struct.error:
        raise _out_of_range("long-unsigned", value) from None


def encode_double_long(value: int) -> bytes:
    """double-long [5], Integer32."""
    try:
        return _PACK_Bi(5, value)
    except struct.error:
        raise _out_of_range("double-long", value) from None


def encode_double_long_unsigned(value: int) -> bytes:
    """double-long-unsigned [6], Unsigned32."""
    try:
        return _PACK_BI(6, value)
    except struct.error:
        raise _out_of_range("double-long-unsigned", value) from None


def encode_long64(value: int) -> bytes:
    """long64 [20], Integer64."""
    try:
        return _PACK_Bq(20, value)
    except struct.error:
        raise _out_of_range("long64", value) from None


def encode_long64_unsigned(value: int) -> bytes:
    """long64-unsigned [21], Unsigned64."""
    try:
        return _PACK_BQ(21, value)
    except struct.error:
        raise _out_of_range("long64-unsigned", value) from None


def encode_enum(value: int) -> bytes:
    """enum [22], 0..255."""
    try:
        return _PACK_BB(22, value)
    except struct.error:
        raise _out_of_range("enum", value) from None


def encode_float32(value: float) -> bytes:
    """float32 [23], IEEE 754 single precision, big-endian (Blue Book 4.1.6.2)."""
    try:
        return _PACK_Bf(23, value)
    except (struct.error, OverflowError):
        raise _out_of_range("float32", value) from None


def encode_float64(value: float) -> bytes:
    """float64 [24], IEEE 754 double precision, big-endian (Blue Book 4.1.6.2)."""
    try:
        return _PACK_Bd(24, value)
    except (struct.error, OverflowError):
        raise _out_of_range("float64", value) from None


def encode_octet_string(value: bytes) -> bytes:
    """octet-string [9]: A-XDR length, then the octets."""
    n = len(value)
    if n < 0x80:
        return bytes((9, n)) + value
    return b"\x09" + encode_length(n) + value


def encode_visible_string(value: bytes) -> bytes:
    """visible-string [10]: A-XDR length, then the ASCII octets."""
    n = len(value)
    if n < 0x80:
        return bytes((10, n)) + value
    return b"\x0a" + encode_length(n) + value


def encode_utf8_string(value: str) -> bytes:
    """utf8-string [12]: A-XDR length in octets, then the UTF-8 octets."""
    raw = value.encode("utf-8")
    return b"\x0c" + encode_length(len(raw)) + raw


def encode_bit_string(value: BitString) -> bytes:
    """bit-string [4]: A-XDR length in bits, then the bits, first bit in the most
    significant bit of the first octet, the last octet padded with zero bits."""
    bits = value.bits
    n = len(bits)
    if not n:
        return b"\x04\x00"
    size = (n + 7) // 8
    return b"\x04" + encode_length(n) + (int(bits, 2) << (size * 8 - n)).to_bytes(size, "big")


_ARRAY_HEADERS = tuple(bytes((1, n)) for n in range(0x80))
_STRUCTURE_HEADERS = tuple(bytes((2, n)) for n in range(0x80))


def encode_array_header(n: int) -> bytes:
    """array [1] tag and number of elements; the elements follow, each tagged."""
    if 0 <= n < 0x80:
        return _ARRAY_HEADERS[n]
    return b"\x01" + encode_length(n)


def encode_structure_header(n: int) -> bytes:
    """structure [2] tag and number of members; the members follow, each tagged."""
    if 0 <= n < 0x80:
        return _STRUCTURE_HEADERS[n]
    return b"\x02" + encode_length(n)


def encode_datetime_value(b12: bytes) -> bytes:
    """A date-time as COSEM attributes carry it: octet-string (SIZE(12)),
    ``09 0C`` then the 12 octets (Blue Book 4.1.6.1)."""
    if len(b12) != 12:
        raise ValueError(f"date-time needs 12 octets, got {len(b12)}")
    return b"\x09\x0c" + b12


def encode_date_time(b12: bytes) -> bytes:
    """date-time [25]: the tag, then the 12 octets, no length (Green Book 9.5)."""
    if len(b12) != 12:
        raise ValueError(f"date-time needs 12 octets, got {len(b12)}")
    return b"\x19" + b12


def encode_date(b5: bytes) -> bytes:
    """date [26]: the tag, then the 5 octets, no length."""
    if len(b5) != 5:
        raise ValueError(f"date needs 5 octets, got {len(b5)}")
    return b"\x1a" + b5


def encode_time(b4: bytes) -> bytes:
    """time [27]: the tag, then the 4 octets, no length."""
    if len(b4) != 4:
        raise ValueError(f"time needs 4 octets, got {len(b4)}")
    return b"\x1b" + b4


def _encode_null_data(_: None) -> bytes:
    return b"\x00"


def _encode_dont_care(_: None) -> bytes:
    return b"\xff"


_SIMPLE_ENCODERS: dict[int, Callable[[Any], bytes]] = {
    DataType.NULL_DATA: _encode_null_data,
    DataType.BOOLEAN: encode_boolean,
    DataType.BIT_STRING: encode_bit_string,
    DataType.DOUBLE_LONG: encode_double_long,
    DataType.DOUBLE_LONG_UNSIGNED: encode_double_long_unsigned,
    DataType.OCTET_STRING: encode_octet_string,
    DataType.VISIBLE_STRING: encode_visible_string,
    DataType.UTF8_STRING: encode_utf8_string,
    DataType.BCD: encode_bcd,
    DataType.INTEGER: encode_integer,
    DataType.LONG: encode_long,
    DataType.UNSIGNED: encode_unsigned,
    DataType.LONG_UNSIGNED: encode_long_unsigned,
    DataType.LONG64: encode_long64,
    DataType.LONG64_UNSIGNED: encode_long64_unsigned,
    DataType.ENUM: encode_enum,
    DataType.FLOAT32: encode_float32,
    DataType.FLOAT64: encode_float64,
    DataType.DATE_TIME: encode_date_time,
    DataType.DATE: encode_date,
    DataType.TIME: encode_time,
    DataType.DONT_CARE: _encode_dont_care,
}

# Least number of content octets of one value of each simple type, without its tag.
_SIMPLE_WIDTHS: dict[int, int] = {
    DataType.NULL_DATA: 0,
    DataType.BOOLEAN: 1,
    DataType.BIT_STRING: 1,
    DataType.DOUBLE_LONG: 4,
    DataType.DOUBLE_LONG_UNSIGNED: 4,
    DataType.OCTET_STRING: 1,
    DataType.VISIBLE_STRING: 1,
    DataType.UTF8_STRING: 1,
    DataType.BCD: 1,
    DataType.INTEGER: 1,
    DataType.LONG: 2,
    DataType.UNSIGNED: 1,
    DataType.LONG_UNSIGNED: 2,
    DataType.LONG64: 8,
    DataType.LONG64_UNSIGNED: 8,
    DataType.ENUM: 1,
    DataType.FLOAT32: 4,
    DataType.FLOAT64: 8,
    DataType.DATE_TIME: 12,
    DataType.DATE: 5,
    DataType.TIME: 4,
    DataType.DONT_CARE: 0,
}


# ---------------------------------------------------------------------------
# Generic encoder


def encode_data(value: Data) -> bytes:
    """Encode a :data:`Data` value as tagged A-XDR (Green Book 9.5).

    Raises ValueError for a value its type cannot hold, an unknown type, a
    compact-array element that does not match its description, or nesting
    deeper than :data:`MAX_DEPTH`.
    """
    out: list[bytes] = []
    _encode_into(value, out, 0)
    return b"".join(out)


def _encode_into(value: Data, out: list[bytes], depth: int) -> None:
    tag, payload = value
    simple = _SIMPLE_ENCODERS.get(tag)
    if simple is not None:
        out.append(simple(payload))
        return
    if depth >= MAX_DEPTH:
        raise ValueError(f"Data nested deeper than {MAX_DEPTH}")
    if tag == _ARRAY or tag == _STRUCTURE:
        out.append(encode_array_header(len(payload)) if tag == _ARRAY else encode_structure_header(len(payload)))
        for item in payload:
            _encode_into(item, out, depth + 1)
    elif tag == _COMPACT_ARRAY:
        _encode_compact_array(payload, out, depth)
    else:
        raise ValueError(f"unknown Data type {tag!r}")


def _description_width(desc: TypeDescription, depth: int) -> int:
    """Check a TypeDescription for encoding; return its least contents width."""
    if depth >= MAX_DEPTH:
        raise ValueError(f"type description nested deeper than {MAX_DEPTH}")
    if isinstance(desc, tuple):
        if len(desc) == 3 and desc[0] == _ARRAY:
            _, count, element = desc
            if not 0 <= count <= 0xFFFF:
                raise ValueError(f"type description array of {count} elements (Unsigned16)")
            width = _description_width(element, depth + 1)
            if count and not width:
                raise ValueError("type description array of zero-width elements")
            return count * width
        if len(desc) == 2 and desc[0] == _STRUCTURE:
            return sum(_description_width(member, depth + 1) for member in desc[1])
        raise ValueError(f"bad type description {desc!r}")
    simple_width = _SIMPLE_WIDTHS.get(desc)
    if simple_width is None:
        raise ValueError(f"bad type description {desc!r}")
    return simple_width


def _encode_type_description(desc: TypeDescription, out: list[bytes]) -> None:
    if isinstance(desc, tuple):
        if len(desc) == 3:
            out.append(bytes((_ARRAY,)) + desc[1].to_bytes(2, "big"))
            _encode_type_description(desc[2], out)
        else:
            out.append(encode_structure_header(len(desc[1])))
            for member in desc[1]:
                _encode_type_description(member, out)
    else:
        out.append(bytes((desc,)))


def _encode_described(desc: TypeDescription, value: Data, out: list[bytes]) -> None:
    """Append ``value`` without tags, as compact-array contents (Green Book 9.5)."""
    tag, payload = value
    if isinstance(desc, tuple):
        if tag != desc[0]:
            raise ValueError(f"compact-array element {tag!r} does not match description {desc!r}")
        if len(desc) == 3:
            if len(payload) != desc[1]:
                raise ValueError(f"compact-array element has {len(payload)} entries, description {desc[1]}")
            for item in payload:
                _encode_described(desc[2], item, out)
        else:
            members = desc[1]
            if len(payload) != len(members):
                raise ValueError(f"compact-array element has {len(payload)} members, description {len(members)}")
            for member, item in zip(members, payload):
                _encode_described(member, item, out)
        return
    if tag != desc:
        raise ValueError(f"compact-array element {tag!r} does not match description {desc!r}")
    out.append(_SIMPLE_ENCODERS[desc](payload)[1:])


def _encode_compact_array(value: CompactArray, out: list[bytes], depth: int) -> None:
    desc = value.description
    width = _description_width(desc, depth + 1)
    if value.elements and not width:
        raise ValueError("compact-array of zero-width elements cannot carry elements")
    contents: list[bytes] = []
    for element in value.elements:
        _encode_described(desc, element, contents)
    body = b"".join(contents)
    out.append(b"\x13")
    _encode_type_description(desc, out)
    out.append(encode_length(len(body)))
    out.append(body)


# ---------------------------------------------------------------------------
# Decoder. Each handler gets the offset after the tag and returns (Data, next offset);
# with a tracer it reports the fields it reads (``dlmstw.interfaces.Tracer``).

_Decoder: TypeAlias = Callable[[bytes, int, int, int, "Tracer | None"], tuple[Data, int]]


def _fixed_decoder(dtype: DataType, fmt: str) -> _Decoder:
    unpack_from = struct.Struct(">" + fmt).unpack_from
    size = struct.calcsize(">" + fmt)
    what = f"truncated {dtype.name.lower().replace('_', '-')}"

    def decode(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
        stop = pos + size
        if stop > end:
            raise DecodeError(what, pos)
        value = unpack_from(buf, pos)[0]
        if t is not None:
            t.field("value", pos, size, value)
        return (dtype, value), stop

    return decode


def _bytes_decoder(dtype: DataType, size: int) -> _Decoder:
    what = f"truncated {dtype.name.lower().replace('_', '-')}"

    def decode(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
        stop = pos + size
        if stop > end:
            raise DecodeError(what, pos)
        value = bytes(buf[pos:stop])
        if t is not None:
            t.field("value", pos, size, value)
        return (dtype, value), stop

    return decode


def _counted(buf: bytes, pos: int, end: int, t: Tracer | None, name: str) -> tuple[int, int]:
    """An A-XDR length, reported as the field ``name``."""
    n, stop = _length(buf, pos, end)
    if t is not None:
        t.field(name, pos, stop - pos, n)
    return n, stop


def _string_decoder(dtype: DataType) -> _Decoder:
    name = dtype.name.lower().replace("_", "-")

    def decode(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
        n, start = _length(buf, pos, end)
        stop = start + n
        if stop > end:
            raise DecodeError(f"{name} of {n} octets exceeds the {end - start} left", start)
        value = bytes(buf[start:stop])
        if t is not None:
            t.field("length", pos, start - pos, n)
            t.field("value", start, n, value)
        return (dtype, value), stop

    return decode


def _decode_none(dtype: DataType) -> _Decoder:
    def decode(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
        return (dtype, None), pos

    return decode


def _decode_boolean(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
    if pos >= end:
        raise DecodeError("truncated boolean", pos)
    value = buf[pos] != 0
    if t is not None:
        t.field("value", pos, 1, value)
    return (DataType.BOOLEAN, value), pos + 1


def _decode_bit_string(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
    n, pos = _counted(buf, pos, end, t, "length")
    size = (n + 7) // 8
    stop = pos + size
    if stop > end:
        raise DecodeError(f"bit-string of {n} bits exceeds the {end - pos} octets left", pos)
    value = BitString(format(int.from_bytes(buf[pos:stop], "big"), f"0{size * 8}b")[:n])
    if t is not None:
        t.field("value", pos, size, value)
    return (DataType.BIT_STRING, value), stop


def _decode_utf8_string(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
    n, pos = _counted(buf, pos, end, t, "length")
    stop = pos + n
    if stop > end:
        raise DecodeError(f"utf8-string of {n} octets exceeds the {end - pos} left", pos)
    try:
        text = bytes(buf[pos:stop]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"utf8-string is not UTF-8: {exc.reason}", pos + exc.start) from None
    if t is not None:
        t.field("value", pos, n, text)
    return (DataType.UTF8_STRING, text), stop


def _traced(handler: _Decoder, buf: bytes, pos: int, end: int, depth: int, t: Tracer,
            name: str) -> tuple[Data, int]:
    """One tagged Data at ``pos`` as the group ``name``: its tag, then what the handler reads."""
    t.enter(name, pos)
    t.field("tag", pos, 1, DataType(buf[pos]))
    value, stop = handler(buf, pos + 1, end, depth, t)
    t.leave(stop)
    return value, stop


def _decode_sequence(dtype: DataType, table: dict[int, _Decoder], checked: bool) -> _Decoder:
    """array [1] / structure [2]: a count, then that many tagged Data, each read
    with ``table``. ``checked``: a count the octets left cannot hold is refused
    before anything is built; unchecked (a Data continued in the next block),
    running out of octets stops the walk with a truncation error."""
    name = dtype.name.lower()

    def decode(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
        if depth >= MAX_DEPTH:
            raise DecodeError(f"Data nested deeper than {MAX_DEPTH}", pos - 1)
        count, start = _length(buf, pos, end)
        if t is not None:
            t.field("count", pos, start - pos, count)
        pos = start
        if checked and count > end - pos:
            raise DecodeError(f"{name} of {count} elements exceeds the {end - pos} octets left", pos)
        items: list[Data] = []
        append = items.append
        depth += 1
        for index in range(count):
            if pos >= end:
                raise DecodeError(f"truncated {name}: element {index} of {count} expected", pos)
            handler = table.get(buf[pos])
            if handler is None:
                raise DecodeError(f"unknown Data tag 0x{buf[pos]:02X}", pos)
            if t is None:
                item, pos = handler(buf, pos + 1, end, depth, None)
            else:
                item, pos = _traced(handler, buf, pos, end, depth, t, f"[{index}]")
            append(item)
        return (dtype, items), pos

    return decode


def _decode_type_description(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None,
                             name: str) -> tuple[TypeDescription, int, int]:
    """Read a TypeDescription (Green Book 9.5), reported as the group ``name``;
    return it, its least contents width and the offset after it."""
    if depth >= MAX_DEPTH:
        raise DecodeError(f"type description nested deeper than {MAX_DEPTH}", pos)
    if pos >= end:
        raise DecodeError("truncated type description", pos)
    tag = buf[pos]
    simple_width = _SIMPLE_WIDTHS.get(tag)
    if simple_width is None and tag != _ARRAY and tag != _STRUCTURE:
        raise DecodeError(f"unknown type description tag 0x{tag:02X}", pos)
    if t is not None:
        t.enter(name, pos)
        t.field("type", pos, 1, DataType(tag))
    desc: TypeDescription
    if tag == _ARRAY:
        if pos + 3 > end:
            raise DecodeError("truncated type description array", pos)
        count = int.from_bytes(buf[pos + 1 : pos + 3], "big")
        if t is not None:
            t.field("count", pos + 1, 2, count)
        element, width, stop = _decode_type_description(buf, pos + 3, end, depth + 1, t, "element")
        if count and not width:
            raise DecodeError("type description array of zero-width elements", pos)
        desc, width = (_ARRAY, count, element), count * width
    elif tag == _STRUCTURE:
        count, stop = _counted(buf, pos + 1, end, t, "count")
        if count > end - stop:
            raise DecodeError(f"type description structure of {count} members exceeds the {end - stop} octets left",
                              stop)
        members: list[TypeDescription] = []
        width = 0
        for index in range(count):
            member, member_width, stop = _decode_type_description(buf, stop, end, depth + 1, t, f"[{index}]")
            members.append(member)
            width += member_width
        desc = (_STRUCTURE, members)
    else:
        desc, width, stop = DataType(tag), simple_width or 0, pos + 1
    if t is not None:
        t.leave(stop)
    return desc, width, stop


def _decode_described(desc: TypeDescription, buf: bytes, pos: int, end: int, t: Tracer | None,
                      name: str) -> tuple[Data, int]:
    """Read one untagged value laid out as ``desc`` (compact-array contents); a
    simple value is reported as one field ``name``, an array or structure as a group."""
    if not isinstance(desc, tuple):
        item, stop = _DECODERS[desc](buf, pos, end, 0, None)
        if t is not None:
            t.field(name, pos, stop - pos, item)
        return item, stop
    if t is not None:
        t.enter(name, pos)
    items: list[Data] = []
    if len(desc) == 3:
        element = desc[2]
        for index in range(desc[1]):
            item, pos = _decode_described(element, buf, pos, end, t, f"[{index}]")
            items.append(item)
        value: Data = (_ARRAY, items)
    else:
        for index, member in enumerate(desc[1]):
            item, pos = _decode_described(member, buf, pos, end, t, f"[{index}]")
            items.append(item)
        value = (_STRUCTURE, items)
    if t is not None:
        t.leave(pos)
    return value, pos


def _decode_compact_array(buf: bytes, pos: int, end: int, depth: int, t: Tracer | None) -> tuple[Data, int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(f"Data nested deeper than {MAX_DEPTH}", pos - 1)
    desc, width, pos = _decode_type_description(buf, pos, end, depth + 1, t, "contents-description")
    n, pos = _counted(buf, pos, end, t, "length")
    stop = pos + n
    if stop > end:
        raise DecodeError(f"compact-array contents of {n} octets exceed the {end - pos} left", pos)
    if n and not width:
        raise DecodeError("compact-array of zero-width elements has contents", pos)
    if t is not None:
        t.enter("array-contents", pos)
    elements: list[Data] = []
    while pos < stop:
        if stop - pos < width:
            raise DecodeError(f"compact-array element needs {width} octets, {stop - pos} left", pos)
        element, pos = _decode_described(desc, buf, pos, stop, t, f"[{len(elements)}]")
        elements.append(element)
    if t is not None:
        t.leave(stop)
    return (_COMPACT_ARRAY, CompactArray(desc, elements)), stop


_DECODERS: dict[int, _Decoder] = {}
_CONTINUED_DECODERS: dict[int, _Decoder] = {}
_DECODERS.update({
    DataType.NULL_DATA: _decode_none(DataType.NULL_DATA),
    DataType.ARRAY: _decode_sequence(DataType.ARRAY, _DECODERS, True),
    DataType.STRUCTURE: _decode_sequence(DataType.STRUCTURE, _DECODERS, True),
    DataType.BOOLEAN: _decode_boolean,
    DataType.BIT_STRING: _decode_bit_string,
    DataType.DOUBLE_LONG: _fixed_decoder(DataType.DOUBLE_LONG, "i"),
    DataType.DOUBLE_LONG_UNSIGNED: _fixed_decoder(DataType.DOUBLE_LONG_UNSIGNED, "I"),
    DataType.OCTET_STRING: _string_decoder(DataType.OCTET_STRING),
    DataType.VISIBLE_STRING: _string_decoder(DataType.VISIBLE_STRING),
    DataType.UTF8_STRING: _decode_utf8_string,
    DataType.BCD: _fixed_decoder(DataType.BCD, "b"),
    DataType.INTEGER: _fixed_decoder(DataType.INTEGER, "b"),
    DataType.LONG: _fixed_decoder(DataType.LONG, "h"),
    DataType.UNSIGNED: _fixed_decoder(DataType.UNSIGNED, "B"),
    DataType.LONG_UNSIGNED: _fixed_decoder(DataType.LONG_UNSIGNED, "H"),
    DataType.COMPACT_ARRAY: _decode_compact_array,
    DataType.LONG64: _fixed_decoder(DataType.LONG64, "q"),
    DataType.LONG64_UNSIGNED: _fixed_decoder(DataType.LONG64_UNSIGNED, "Q"),
    DataType.ENUM: _fixed_decoder(DataType.ENUM, "B"),
    DataType.FLOAT32: _fixed_decoder(DataType.FLOAT32, "f"),
    DataType.FLOAT64: _fixed_decoder(DataType.FLOAT64, "d"),
    DataType.DATE_TIME: _bytes_decoder(DataType.DATE_TIME, 12),
    DataType.DATE: _bytes_decoder(DataType.DATE, 5),
    DataType.TIME: _bytes_decoder(DataType.TIME, 4),
    DataType.DONT_CARE: _decode_none(DataType.DONT_CARE),
})
_CONTINUED_DECODERS.update(_DECODERS)
_CONTINUED_DECODERS.update({
    DataType.ARRAY: _decode_sequence(DataType.ARRAY, _CONTINUED_DECODERS, False),
    DataType.STRUCTURE: _decode_sequence(DataType.STRUCTURE, _CONTINUED_DECODERS, False),
})


def decode_data(buf: bytes, offset: int = 0, tracer: Tracer | None = None, name: str = "data", *,
                continued: bool = False) -> tuple[Data, int]:
    """Decode one tagged A-XDR Data at ``offset``; return it and the offset after it.

    Every count and length is checked against the octets left before anything
    is built; nesting is bounded by :data:`MAX_DEPTH`. Raises DecodeError.

    ``continued``: the octets are the start of a Data continued elsewhere (the
    first datablock of a long value, Green Book 9.4.6.4): counts
    are not held against the octets left, and the walk stops with a truncation
    error where they end. A ``tracer`` hears the Data as the group ``name``:
    its ``tag``, then ``length`` and ``value``, or ``count`` and the elements
    ``[0]``, ``[1]``…
    """
    end = len(buf)
    if not 0 <= offset < end:
        raise DecodeError("truncated: Data tag expected", offset)
    handler = (_CONTINUED_DECODERS if continued else _DECODERS).get(buf[offset])
    if handler is None:
        raise DecodeError(f"unknown Data tag 0x{buf[offset]:02X}", offset)
    if tracer is None:
        return handler(buf, offset + 1, end, 0, None)
    return _traced(handler, buf, offset, end, 0, tracer, name)


# ---------------------------------------------------------------------------
# COSEM date and time (Blue Book 4.1.6.1)

_DATE_TIME = struct.Struct(">HBBBBBBBhB")
_DATE = struct.Struct(">HBBB")
_TIME = struct.Struct(">BBBB")
#: deviation (and a Clock's time_zone) "not specified": 0x8000 read as Integer16 (Blue Book 4.1.6.1).
DEVIATION_NOT_SPECIFIED = -0x8000


def _ff(value: int) -> int | None:
    return None if value == 0xFF else value


def _or_ff(value: int | None) -> int:
    return 0xFF if value is None else value


def _check_size(data: bytes, size: int, name: str) -> None:
    if len(data) != size:
        raise DecodeError(f"{name} needs {size} octets, got {len(data)}", min(len(data), size))


def _pack(st: struct.Struct, name: str, *values: int) -> bytes:
    try:
        return st.pack(*values)
    except struct.error:
        raise ValueError(f"{name} field out of range: {values!r}") from None


def _unspecified(name: str) -> ValueError:
    return ValueError(f"{name} is not specified")


def _date_parts(year: int | None, month: int | None, day: int | None) -> tuple[int, int, int]:
    if year is None:
        raise _unspecified("year")
    if month is None:
        raise _unspecified("month")
    if day is None:
        raise _unspecified("day")
    return year, month, day


def _time_parts(
    hour: int | None, minute: int | None, second: int | None, hundredths: int | None
) -> tuple[int, int, int, int]:
    if hour is None:
        raise _unspecified("hour")
    if minute is None:
        raise _unspecified("minute")
    if second is None:
        raise _unspecified("second")
    return hour, minute, second, (hundredths or 0) * 10000


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """date-time, 12 octets (Blue Book 4.1.6.1). None is "not specified".

    ``month`` may also be 0xFD/0xFE (daylight_savings_end/begin) and ``day``
    0xFD/0xFE (second last / last day of the month), kept as raw ints.
    ``deviation`` is in the Blue Book sign: minutes of UTC minus local time,
    so UTC+01:00 is -60.
    """

    year: int | None
    month: int | None
    day: int | None
    day_of_week: int | None
    hour: int | None
    minute: int | None
    second: int | None
    hundredths: int | None
    deviation: int | None
    clock_status: int | None

    @classmethod
    def from_bytes(cls, b12: bytes) -> CosemDateTime:
        """Parse the 12 octets; DecodeError if there are not exactly 12."""
        _check_size(b12, 12, "date-time")
        year, month, day, dow, hour, minute, second, hundredths, deviation, status = _DATE_TIME.unpack(b12)
        return cls(
            None if year == 0xFFFF else year,
            _ff(month),
            _ff(day),
            _ff(dow),
            _ff(hour),
            _ff(minute),
            _ff(second),
            _ff(hundredths),
            None if deviation == DEVIATION_NOT_SPECIFIED else deviation,
            _ff(status),
        )

    def to_bytes(self) -> bytes:
        """The 12 octets; ValueError for a field out of its octets' range."""
        return _pack(
            _DATE_TIME,
            "date-time",
            0xFFFF if self.year is None else self.year,
            _or_ff(self.month),
            _or_ff(self.day),
            _or_ff(self.day_of_week),
            _or_ff(self.hour),
            _or_ff(self.minute),
            _or_ff(self.second),
            _or_ff(self.hundredths),
            DEVIATION_NOT_SPECIFIED if self.deviation is None else self.deviation,
            _or_ff(self.clock_status),
        )

    @classmethod
    def from_datetime(cls, value: datetime.datetime, clock_status: int = 0) -> CosemDateTime:
        """From a datetime: aware gives the deviation, naive gives "not specified"."""
        offset = value.utcoffset()
        if offset is None:
            deviation = None
        else:
            minutes, rest = divmod(offset, datetime.timedelta(minutes=1))
            if rest:
                raise ValueError(f"UTC offset {offset} is not whole minutes")
            deviation = -minutes
        return cls(
            value.year,
            value.month,
            value.day,
            value.isoweekday(),
            value.hour,
            value.minute,
            value.second,
            value.microsecond // 10000,
            deviation,
            clock_status,
        )

    def to_datetime(self) -> datetime.datetime:
        """Aware when the deviation is specified, naive otherwise.

        ValueError when a date or time field is not specified or not a
        calendar value (e.g. month 0xFE); unspecified hundredths count as 0.
        """
        year, month, day = _date_parts(self.year, self.month, self.day)
        hour, minute, second, micro = _time_parts(self.hour, self.minute, self.second, self.hundredths)
        tz = None if self.deviation is None else datetime.timezone(datetime.timedelta(minutes=-self.deviation))
        return datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class CosemDate:
    """date, 5 octets (Blue Book 4.1.6.1): year, month, day of month, day of week."""

    year: int | None
    month: int | None
    day: int | None
    day_of_week: int | None

    @classmethod
    def from_bytes(cls, b5: bytes) -> CosemDate:
        """Parse the 5 octets; DecodeError if there are not exactly 5."""
        _check_size(b5, 5, "date")
        year, month, day, dow = _DATE.unpack(b5)
        return cls(None if year == 0xFFFF else year, _ff(month), _ff(day), _ff(dow))

    def to_bytes(self) -> bytes:
        """The 5 octets; ValueError for a field out of range."""
        return _pack(
            _DATE,
            "date",
            0xFFFF if self.year is None else self.year,
            _or_ff(self.month),
            _or_ff(self.day),
            _or_ff(self.day_of_week),
        )

    @classmethod
    def from_date(cls, value: datetime.date) -> CosemDate:
        """From a calendar date, with its ISO day of week (Monday = 1)."""
        return cls(value.year, value.month, value.day, value.isoweekday())

    def to_date(self) -> datetime.date:
        """ValueError when year, month or day is not specified or not a calendar value."""
        return datetime.date(*_date_parts(self.year, self.month, self.day))


@dataclass(frozen=True, slots=True)
class CosemTime:
    """time, 4 octets (Blue Book 4.1.6.1): hour, minute, second, hundredths."""

    hour: int | None
    minute: int | None
    second: int | None
    hundredths: int | None

    @classmethod
    def from_bytes(cls, b4: bytes) -> CosemTime:
        """Parse the 4 octets; DecodeError if there are not exactly 4."""
        _check_size(b4, 4, "time")
        return cls(*(_ff(part) for part in _TIME.unpack(b4)))

    def to_bytes(self) -> bytes:
        """The 4 octets; ValueError for a field out of range."""
        return _pack(
            _TIME, "time", _or_ff(self.hour), _or_ff(self.minute), _or_ff(self.second), _or_ff(self.hundredths)
        )

    @classmethod
    def from_time(cls, value: datetime.time) -> CosemTime:
        """From a time of day (its tzinfo, if any, is not carried: time has no deviation)."""
        return cls(value.hour, value.minute, value.second, value.microsecond // 10000)

    def to_time(self) -> datetime.time:
        """ValueError when hour, minute or second is not specified; hundredths default to 0."""
        return datetime.time(*_time_parts(self.hour, self.minute, self.second, self.hundredths))


_pack_date_time = _DATE_TIME.pack
_gmtime = time.gmtime
_floor = math.floor


def datetime_bytes_from_timestamp(ts: float, deviation_minutes: int, clock_status: int) -> bytes:
    """The 12 date-time octets (Blue Book 4.1.6.1) of POSIX time ``ts`` as local time.

    ``deviation_minutes`` is in the Blue Book sign (UTC minus local, so
    UTC+01:00 is -60); local time is ``ts - deviation_minutes * 60``. The day
    of week is filled in (Monday = 1). Like ``datetime.fromtimestamp``, the
    fraction of a second is first rounded to microseconds; hundredths truncate it.
    """
    local = ts - deviation_minutes * 60
    whole = _floor(local)
    micro = round((local - whole) * 1_000_000)
    if micro == 1_000_000:
        whole += 1
        micro = 0
    tm = _gmtime(whole)
    try:
        return _pack_date_time(
            tm.tm_year,
            tm.tm_mon,
            tm.tm_mday,
            tm.tm_wday + 1,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            micro // 10000,
            deviation_minutes,
            clock_status,
        )
    except struct.error:
        raise ValueError(f"deviation {deviation_minutes} or clock status {clock_status} out of range") from None

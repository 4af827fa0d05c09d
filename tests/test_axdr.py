"""A-XDR Data codec and COSEM date-time (dlmstw.codec.axdr).

Vectors are from tests/vectors/public-vectors.md section 3.6 (and 3.4 where a
date-time sits inside a GET/SET vector); each test names the original source.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec.axdr import (
    MAX_DEPTH,
    BitString,
    CompactArray,
    CosemDate,
    CosemDateTime,
    CosemTime,
    Data,
    datetime_bytes_from_timestamp,
    decode_data,
    decode_length,
    encode_array_header,
    encode_bcd,
    encode_bit_string,
    encode_boolean,
    encode_data,
    encode_date,
    encode_date_time,
    encode_datetime_value,
    encode_double_long,
    encode_double_long_unsigned,
    encode_enum,
    encode_float32,
    encode_float64,
    encode_integer,
    encode_length,
    encode_long,
    encode_long64,
    encode_long64_unsigned,
    encode_long_unsigned,
    encode_octet_string,
    encode_structure_header,
    encode_time,
    encode_unsigned,
    encode_utf8_string,
    encode_visible_string,
)
from dlmstw.enums import DataType as T
from dlmstw.errors import DecodeError

VECTORS = Path(__file__).parent / "vectors"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def decode_whole(buf: bytes) -> Data:
    value, end = decode_data(buf)
    assert end == len(buf)
    return value


# --------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        # Gurux forum thread https://www.gurux.fi/forum/4177 and u9n/dlms-cosem tests/test_a_xdr.py
        (2, "02"),
        (127, "7F"),
        (240, "81F0"),
        (287, "82011F"),
        (0x0F0F, "820F0F"),
        (0, "00"),
        (0x80, "8180"),
        (0xFF, "81FF"),
        (0x100, "820100"),
        (0x10000, "83010000"),
        (0xFFFFFFFF, "84FFFFFFFF"),
    ],
)
def test_length_vectors(n: int, encoded: str) -> None:
    assert encode_length(n) == h(encoded)
    assert decode_length(h(encoded) + b"\xaa", 0) == (n, len(h(encoded)))


def test_length_non_minimal_form_is_read() -> None:
    assert decode_length(h("AA8105"), 1) == (5, 3)


@pytest.mark.parametrize("n", [-1, 0x100000000])
def test_length_out_of_range(n: int) -> None:
    with pytest.raises(ValueError):
        encode_length(n)


@pytest.mark.parametrize(
    ("buf", "reason"),
    [
        ("", "truncated"),
        ("80", "indefinite"),
        ("85FFFFFFFFFF", "over-long"),
        ("8F00", "over-long"),
        ("81", "truncated"),
        ("8400000000"[:-2], "truncated"),
    ],
)
def test_length_malformed(buf: str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_length(h(buf), 0)
    assert reason in info.value.reason


# --------------------------------------------------------------------------- vectors


STRUCTURE_VECTORS: list[tuple[str, Data]] = [
    # u9n/dlms-cosem tests/test_a_xdr.py: LTE monitoring v0 attribute 2
    (
        "02051202D0120CA81112111E0FC0",
        (
            T.STRUCTURE,
            [(T.LONG_UNSIGNED, 720), (T.LONG_UNSIGNED, 3240), (T.UNSIGNED, 18), (T.UNSIGNED, 30), (T.INTEGER, -64)],
        ),
    ),
    # u9n/dlms-cosem tests/test_a_xdr.py: GSM diagnostics cell-info
    (
        "0207060000000012000011001100120000120000120000",
        (
            T.STRUCTURE,
            [
                (T.DOUBLE_LONG_UNSIGNED, 0),
                (T.LONG_UNSIGNED, 0),
                (T.UNSIGNED, 0),
                (T.UNSIGNED, 0),
                (T.LONG_UNSIGNED, 0),
                (T.LONG_UNSIGNED, 0),
                (T.LONG_UNSIGNED, 0),
            ],
        ),
    ),
    # u9n/dlms-cosem tests/test_a_xdr.py test_decode_array_and_structure: first load-profile row
    (
        "0203090C07E2020C0500000000800000110006000186A0",
        (
            T.STRUCTURE,
            [(T.OCTET_STRING, h("07E2020C0500000000800000")), (T.UNSIGNED, 0), (T.DOUBLE_LONG_UNSIGNED, 100000)],
        ),
    ),
    # cjhdev/dlms_trouble test/tc_d_compact_array.rb: six integers 42
    ("130F062A2A2A2A2A2A", (T.COMPACT_ARRAY, CompactArray(T.INTEGER, [(T.INTEGER, 42)] * 6))),
    # public-vectors.md 3.6, constructed and checked with Gurux getData: long-unsigned x5
    (
        "13120A00010002000300040005",
        (T.COMPACT_ARRAY, CompactArray(T.LONG_UNSIGNED, [(T.LONG_UNSIGNED, i) for i in range(1, 6)])),
    ),
    # public-vectors.md 3.6, constructed: structure{long-unsigned, unsigned} x3
    (
        "130202121109000101000202000303",
        (
            T.COMPACT_ARRAY,
            CompactArray(
                (T.STRUCTURE, [T.LONG_UNSIGNED, T.UNSIGNED]),
                [(T.STRUCTURE, [(T.LONG_UNSIGNED, i), (T.UNSIGNED, i)]) for i in (1, 2, 3)],
            ),
        ),
    ),
    # an array TypeDescription at the top (Green Book 9.5 allows it; Gurux refuses it): 2 x array(2) of long-unsigned
    (
        "1301000212080001000200030004",
        (
            T.COMPACT_ARRAY,
            CompactArray(
                (T.ARRAY, 2, T.LONG_UNSIGNED),
                [
                    (T.ARRAY, [(T.LONG_UNSIGNED, 1), (T.LONG_UNSIGNED, 2)]),
                    (T.ARRAY, [(T.LONG_UNSIGNED, 3), (T.LONG_UNSIGNED, 4)]),
                ],
            ),
        ),
    ),
    # u9n/dlms-cosem tests/test_dlms_date_time_data.py: date 2024-11-21 and time 08:30:15.23
    ("1A07E80B15FF", (T.DATE, h("07E80B15FF"))),
    ("1B081E0F17", (T.TIME, h("081E0F17"))),
    ("1AFFFFFFFFFF", (T.DATE, h("FFFFFFFFFF"))),
    ("1BFFFFFFFF", (T.TIME, h("FFFFFFFF"))),
    # cjhdev/dlms_trouble tc_d_date_time.rb: all-unspecified date-time, deviation 8000, status 08
    ("19FFFFFFFFFFFFFFFFFF800008", (T.DATE_TIME, h("FFFFFFFFFFFFFFFFFF800008"))),
    # public-vectors.md 3.4 (u9n/dlms-cosem test_get.py): double-long-unsigned 5009, long 60
    ("0600001391", (T.DOUBLE_LONG_UNSIGNED, 5009)),
    ("10003C", (T.LONG, 60)),
    ("091049534B31303330373737373634333636", (T.OCTET_STRING, b"ISK1030777764366")),
]


@pytest.mark.parametrize(("hexstr", "value"), STRUCTURE_VECTORS)
def test_vectors_decode_and_encode(hexstr: str, value: Data) -> None:
    assert decode_whole(h(hexstr)) == value
    assert encode_data(value) == h(hexstr)


@pytest.mark.parametrize(("hexstr", "value"), STRUCTURE_VECTORS)
def test_vectors_truncated_at_every_byte(hexstr: str, value: Data) -> None:
    buf = h(hexstr)
    for cut in range(len(buf)):
        with pytest.raises(DecodeError):
            decode_data(buf[:cut])


@pytest.mark.parametrize(("hexstr", "value"), STRUCTURE_VECTORS)
def test_vectors_with_trailing_bytes(hexstr: str, value: Data) -> None:
    buf = h(hexstr)
    assert decode_data(buf + b"\x00\xff", 0) == (value, len(buf))
    assert decode_data(b"\xee" + buf, 1) == (value, len(buf) + 1)


def test_decoded_tags_are_data_types() -> None:
    value = decode_whole(h("02051202D0120CA81112111E0FC0"))
    assert type(value[0]) is T
    assert all(type(item[0]) is T for item in value[1])


def test_datablock_head_array_of_1440_is_refused_before_building() -> None:
    """A1 of appendix-datablocks.txt (u9n/dlms-cosem test_get.py line 213) carries
    block 1 of a longer array: `01 82 05A0` claims 1440 rows in 1178 octets."""
    lines = [line for line in (VECTORS / "appendix-datablocks.txt").read_text().splitlines() if line and line[0] != "#"]
    apdu = h(lines[0])
    assert hashlib.sha256(apdu).hexdigest().startswith("f54727db3dc76e19")
    raw = apdu[12:]
    assert raw[:4] == h("018205A0")
    with pytest.raises(DecodeError) as info:
        decode_data(raw)
    assert "1440" in info.value.reason
    # the first row is whole: structure(4){date-time as octet-string, unsigned, double-long-unsigned x2}
    row, end = decode_data(raw, 4)
    assert row == (
        T.STRUCTURE,
        [
            (T.OCTET_STRING, h("07E30C130402000000FFC400")),
            (T.UNSIGNED, 6),
            (T.DOUBLE_LONG_UNSIGNED, 0x5ED),
            (T.DOUBLE_LONG_UNSIGNED, 0x654),
        ],
    )
    assert end == 4 + 2 + 14 + 2 + 5 + 5


# --------------------------------------------------------------------------- simple types


INTEGER_TYPES = [
    (T.INTEGER, encode_integer, -128, 127, "0F"),
    (T.BCD, encode_bcd, -128, 127, "0D"),
    (T.LONG, encode_long, -32768, 32767, "10"),
    (T.UNSIGNED, encode_unsigned, 0, 255, "11"),
    (T.LONG_UNSIGNED, encode_long_unsigned, 0, 65535, "12"),
    (T.DOUBLE_LONG, encode_double_long, -(2**31), 2**31 - 1, "05"),
    (T.DOUBLE_LONG_UNSIGNED, encode_double_long_unsigned, 0, 2**32 - 1, "06"),
    (T.LONG64, encode_long64, -(2**63), 2**63 - 1, "14"),
    (T.LONG64_UNSIGNED, encode_long64_unsigned, 0, 2**64 - 1, "15"),
    (T.ENUM, encode_enum, 0, 255, "16"),
]


@pytest.mark.parametrize(("dtype", "encoder", "low", "high", "tag"), INTEGER_TYPES)
def test_integer_bounds(dtype: T, encoder: Any, low: int, high: int, tag: str) -> None:
    for value in (low, high):
        encoded = encoder(value)
        assert encoded[:1] == h(tag)
        assert encoded == encode_data((dtype, value))
        assert int.from_bytes(encoded[1:], "big", signed=low < 0) == value
        assert decode_whole(encoded) == (dtype, value)
    for value in (low - 1, high + 1):
        with pytest.raises(ValueError):
            encoder(value)
        with pytest.raises(ValueError):
            encode_data((dtype, value))


@pytest.mark.parametrize("encoder", [item[1] for item in INTEGER_TYPES])
def test_integer_encoders_refuse_non_integers(encoder: Any) -> None:
    with pytest.raises(ValueError):
        encoder(1.5)


def test_exact_simple_encodings() -> None:
    assert encode_boolean(True) == h("0301")
    assert encode_boolean(False) == h("0300")
    assert encode_long(-2) == h("10FFFE")
    assert encode_double_long(-1) == h("05FFFFFFFF")
    assert encode_long64(-2) == h("14FFFFFFFFFFFFFFFE")
    assert encode_float32(1.0) == h("173F800000")
    assert encode_float64(-2.5) == h("18C004000000000000")
    assert encode_octet_string(b"") == h("0900")
    assert encode_octet_string(b"\x01" * 200) == h("0981C8") + b"\x01" * 200
    assert encode_visible_string(b"ABC") == h("0A03414243")
    assert encode_visible_string(b"A" * 128) == h("0A8180") + b"A" * 128
    assert encode_utf8_string("\u00e9t\u00e9") == h("0C05C3A974C3A9")
    assert encode_array_header(3) == h("0103")
    assert encode_array_header(1440) == h("018205A0")
    assert encode_structure_header(2) == h("0202")
    assert encode_structure_header(300) == h("0282012C")
    assert encode_data((T.NULL_DATA, None)) == h("00")
    assert encode_data((T.DONT_CARE, None)) == h("FF")


def test_boolean_decoding_takes_non_zero_as_true() -> None:
    assert decode_whole(h("0300")) == (T.BOOLEAN, False)
    assert decode_whole(h("0301")) == (T.BOOLEAN, True)
    assert decode_whole(h("03FF")) == (T.BOOLEAN, True)


def test_float_overflow_is_value_error() -> None:
    with pytest.raises(ValueError):
        encode_float32(1e39)
    with pytest.raises(ValueError):
        encode_float64(10**400)
    assert math.isinf(decode_whole(h("177F800000"))[1])


@pytest.mark.parametrize(
    ("bits", "encoded"),
    [("", "0400"), ("1", "040180"), ("1111111111", "040AFFC0"), ("10100101", "0408A5"), ("0" * 9, "04090000")],
)
def test_bit_string(bits: str, encoded: str) -> None:
    assert encode_bit_string(BitString(bits)) == h(encoded)
    assert decode_whole(h(encoded)) == (T.BIT_STRING, BitString(bits))


def test_bit_string_padding_bits_are_ignored_on_decode() -> None:
    assert decode_whole(h("04037F")) == (T.BIT_STRING, BitString("011"))


@pytest.mark.parametrize("bits", ["012", "1 0", "x"])
def test_bit_string_refuses_other_characters(bits: str) -> None:
    with pytest.raises(ValueError):
        BitString(bits)


def test_fixed_date_types_need_their_sizes() -> None:
    assert encode_datetime_value(bytes(12)) == h("090C") + bytes(12)
    assert encode_date_time(bytes(12)) == h("19") + bytes(12)
    assert encode_date(bytes(5)) == h("1A") + bytes(5)
    assert encode_time(bytes(4)) == h("1B") + bytes(4)
    for bad, encoder in (
        (bytes(11), encode_datetime_value),
        (bytes(13), encode_date_time),
        (bytes(4), encode_date),
        (bytes(5), encode_time),
    ):
        with pytest.raises(ValueError):
            encoder(bad)
    with pytest.raises(ValueError):
        encode_data((T.DATE_TIME, bytes(11)))


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize("tag", [7, 8, 11, 14, *range(28, 255)])
def test_unknown_tags(tag: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_data(bytes((tag, 0, 0, 0, 0)))
    assert info.value.reason == f"unknown Data tag 0x{tag:02X}"
    assert info.value.offset == 0
    with pytest.raises(DecodeError) as info:
        decode_data(bytes((1, 2, 0x11, 1, tag)))
    assert info.value.offset == 4


@pytest.mark.parametrize(
    "buf",
    [
        "0184FFFFFFFF0000000000",  # array claiming 2**32-1 elements in 5 octets
        "0184800000000000000000",  # 2**31 elements
        "0284FFFFFFFF0000000000",  # structure, same
        "0984FFFFFFFF00",  # octet-string
        "0A8180" + "41" * 10,  # visible-string of 128 in 10
        "0C05C3A9",  # utf8-string short
        "0484FFFFFFFF00",  # bit-string of 2**32-1 bits
        "13110A0001",  # compact-array contents longer than the buffer
        "130284FFFFFFFF11",  # type description structure of 4 Gi members
    ],
)
def test_oversized_counts_fail_fast(buf: str) -> None:
    started = time.perf_counter()
    with pytest.raises(DecodeError):
        decode_data(h(buf))
    assert time.perf_counter() - started < 0.5


def test_invalid_utf8() -> None:
    with pytest.raises(DecodeError) as info:
        decode_data(h("0C02C328"))
    assert info.value.offset == 2


def test_negative_offset() -> None:
    with pytest.raises(DecodeError):
        decode_data(h("1100"), -1)


def nested(kind: T, depth: int) -> bytes:
    return bytes((kind, 1)) * depth + h("1105")


@pytest.mark.parametrize("kind", [T.ARRAY, T.STRUCTURE])
def test_nesting_depth(kind: T) -> None:
    value, end = decode_data(nested(kind, MAX_DEPTH))
    assert end == 2 * MAX_DEPTH + 2
    assert encode_data(value) == nested(kind, MAX_DEPTH)
    with pytest.raises(DecodeError) as info:
        decode_data(nested(kind, MAX_DEPTH + 1))
    assert "nested" in info.value.reason
    too_deep: Data = (T.UNSIGNED, 5)
    for _ in range(MAX_DEPTH + 1):
        too_deep = (kind, [too_deep])
    with pytest.raises(ValueError):
        encode_data(too_deep)


def test_nesting_depth_counts_compact_array_descriptions() -> None:
    description = bytes((T.STRUCTURE, 1)) * (MAX_DEPTH - 1) + bytes((T.UNSIGNED,))
    with pytest.raises(DecodeError):
        decode_data(bytes((T.COMPACT_ARRAY,)) + description + h("0105"))
    encoded = bytes((T.COMPACT_ARRAY,)) + description[2:] + h("0105")
    value = decode_whole(encoded)
    assert value[0] is T.COMPACT_ARRAY
    assert encode_data(value) == encoded
    with pytest.raises(ValueError):
        encode_data((T.COMPACT_ARRAY, CompactArray((T.STRUCTURE, [value[1].description]), [])))


@pytest.mark.parametrize(
    ("buf", "reason"),
    [
        ("13000100", "zero-width"),  # null-data elements with contents
        ("1302000100", "zero-width"),  # empty structure elements with contents
        ("1301FFFF0000", "zero-width"),  # array of 65535 null-data: refused, not built
        ("1301FFFF01FFFF110101", "needs"),  # 65535 x 65535 unsigned in 1 octet
        ("13130100", "type description"),  # compact-array inside a description
        ("13070100", "type description"),  # unknown description tag
        ("13010001", "truncated"),
        ("131203000100", "needs"),  # contents end inside an element
        ("13090303010203", "exceeds"),  # octet-string element crosses the contents end
    ],
)
def test_compact_array_malformed(buf: str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_data(h(buf))
    assert reason in info.value.reason


def test_compact_array_of_nothing() -> None:
    assert decode_whole(h("130000")) == (T.COMPACT_ARRAY, CompactArray(T.NULL_DATA, []))
    assert encode_data((T.COMPACT_ARRAY, CompactArray(T.NULL_DATA, []))) == h("130000")


def test_compact_array_with_variable_length_elements() -> None:
    value = (T.COMPACT_ARRAY, CompactArray(T.OCTET_STRING, [(T.OCTET_STRING, b"ab"), (T.OCTET_STRING, b"")]))
    assert encode_data(value) == h("13090402616200")
    assert decode_whole(h("13090402616200")) == value


@pytest.mark.parametrize(
    "value",
    [
        CompactArray(T.UNSIGNED, [(T.LONG_UNSIGNED, 1)]),
        CompactArray((T.ARRAY, 2, T.UNSIGNED), [(T.ARRAY, [(T.UNSIGNED, 1)])]),
        CompactArray((T.STRUCTURE, [T.UNSIGNED]), [(T.STRUCTURE, [(T.UNSIGNED, 1), (T.UNSIGNED, 2)])]),
        CompactArray((T.STRUCTURE, [T.UNSIGNED]), [(T.ARRAY, [(T.UNSIGNED, 1)])]),
        CompactArray(T.NULL_DATA, [(T.NULL_DATA, None)]),
        CompactArray((T.ARRAY, 3, T.NULL_DATA), []),
        CompactArray((T.ARRAY, 0x10000, T.UNSIGNED), []),
        CompactArray(T.COMPACT_ARRAY, []),
        CompactArray(T.UNSIGNED, [(T.UNSIGNED, 256)]),
    ],
)
def test_compact_array_encode_errors(value: CompactArray) -> None:
    with pytest.raises(ValueError):
        encode_data((T.COMPACT_ARRAY, value))


def test_unknown_type_on_encode() -> None:
    with pytest.raises(ValueError):
        encode_data((7, 1))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- round trips


def _simple(dtype: T, payload: st.SearchStrategy[Any]) -> st.SearchStrategy[Data]:
    return payload.map(lambda value: (dtype, value))


SIMPLE_PAYLOADS: dict[T, st.SearchStrategy[Any]] = {
    T.BOOLEAN: st.booleans(),
    T.BIT_STRING: st.text(alphabet="01", max_size=40).map(BitString),
    T.DOUBLE_LONG: st.integers(-(2**31), 2**31 - 1),
    T.DOUBLE_LONG_UNSIGNED: st.integers(0, 2**32 - 1),
    T.OCTET_STRING: st.binary(max_size=300),
    T.VISIBLE_STRING: st.binary(max_size=40),
    T.UTF8_STRING: st.text(max_size=40),
    T.BCD: st.integers(-128, 127),
    T.INTEGER: st.integers(-128, 127),
    T.LONG: st.integers(-32768, 32767),
    T.UNSIGNED: st.integers(0, 255),
    T.LONG_UNSIGNED: st.integers(0, 65535),
    T.LONG64: st.integers(-(2**63), 2**63 - 1),
    T.LONG64_UNSIGNED: st.integers(0, 2**64 - 1),
    T.ENUM: st.integers(0, 255),
    T.FLOAT32: st.floats(width=32, allow_nan=False),
    T.FLOAT64: st.floats(allow_nan=False),
    T.DATE_TIME: st.binary(min_size=12, max_size=12),
    T.DATE: st.binary(min_size=5, max_size=5),
    T.TIME: st.binary(min_size=4, max_size=4),
}

simple_data = st.one_of(
    st.just((T.NULL_DATA, None)),
    st.just((T.DONT_CARE, None)),
    *(_simple(dtype, payload) for dtype, payload in SIMPLE_PAYLOADS.items()),
)

descriptions: st.SearchStrategy[Any] = st.recursive(
    st.sampled_from(list(SIMPLE_PAYLOADS)),
    lambda inner: st.one_of(
        st.tuples(st.just(T.ARRAY), st.integers(1, 3), inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda members: (T.STRUCTURE, members)),
    ),
    max_leaves=6,
)


def described(description: Any) -> st.SearchStrategy[Data]:
    if isinstance(description, tuple) and description[0] == T.ARRAY:
        return st.lists(described(description[2]), min_size=description[1], max_size=description[1]).map(
            lambda items: (T.ARRAY, items)
        )
    if isinstance(description, tuple):
        return st.tuples(*(described(member) for member in description[1])).map(
            lambda items: (T.STRUCTURE, list(items))
        )
    return _simple(description, SIMPLE_PAYLOADS[description])


compact_arrays = descriptions.flatmap(
    lambda description: st.lists(described(description), max_size=4).map(
        lambda elements: (T.COMPACT_ARRAY, CompactArray(description, elements))
    )
)

data_values: st.SearchStrategy[Data] = st.recursive(
    st.one_of(simple_data, compact_arrays),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5).map(lambda items: (T.ARRAY, items)),
        st.lists(inner, max_size=5).map(lambda items: (T.STRUCTURE, items)),
    ),
    max_leaves=25,
)


@given(data_values)
def test_data_round_trip(value: Data) -> None:
    encoded = encode_data(value)
    assert decode_data(encoded) == (value, len(encoded))
    assert encode_data(decode_whole(encoded)) == encoded


@given(data_values, st.data())
def test_data_truncated_anywhere(value: Data, data: st.DataObject) -> None:
    encoded = encode_data(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(DecodeError):
        decode_data(encoded[:cut])


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_fail_cleanly(buf: bytes) -> None:
    try:
        value, _ = decode_data(buf)
    except DecodeError:
        return
    # Re-encoding gives the canonical form (minimal lengths, boolean 01, zero
    # padding bits), which decodes to the same value and encodes to itself.
    canonical = encode_data(value)
    again, stop = decode_data(canonical)
    assert stop == len(canonical)
    assert encode_data(again) == canonical


@given(st.integers(0, 2**32 - 1))
def test_length_round_trip(n: int) -> None:
    encoded = encode_length(n)
    assert decode_length(encoded, 0) == (n, len(encoded))
    assert len(encoded) == (1 if n < 0x80 else 1 + (n.bit_length() + 7) // 8)


# --------------------------------------------------------------------------- COSEM date-time


def tz(minutes: int) -> datetime.timezone:
    return datetime.timezone(datetime.timedelta(minutes=minutes))


DATE_TIME_VECTORS = [
    # u9n/dlms-cosem tests/test_time.py (dlms-cosem encodes +01:00 as FFC4 = -60)
    ("07E40101FF00030000FF8800", datetime.datetime(2020, 1, 1, 0, 3, tzinfo=tz(120)), -120),
    ("07E40106FF00030000FFC400", datetime.datetime(2020, 1, 6, 0, 3, tzinfo=tz(60)), -60),
    ("07E2020CFF00000000800000", datetime.datetime(2018, 2, 12), None),
    # public-vectors.md 3.4 SET-Request-Normal clock (u9n/dlms-cosem test_set.py): 14:48:57.80
    ("07E50118FF0E303950FFC400", datetime.datetime(2021, 1, 24, 14, 48, 57, 800000, tzinfo=tz(60)), -60),
]


@pytest.mark.parametrize(("hexstr", "moment", "deviation"), DATE_TIME_VECTORS)
def test_date_time_vectors(hexstr: str, moment: datetime.datetime, deviation: int | None) -> None:
    value = CosemDateTime.from_bytes(h(hexstr))
    assert value.deviation == deviation
    assert value.day_of_week is None
    assert value.clock_status == 0
    assert value.to_datetime() == moment
    assert value.to_datetime().utcoffset() == moment.utcoffset()
    assert value.to_bytes() == h(hexstr)
    built = CosemDateTime.from_datetime(moment)
    assert built.day_of_week == moment.isoweekday()
    assert dataclasses.replace(built, day_of_week=None).to_bytes() == h(hexstr)


def test_date_time_with_day_of_week_from_get_with_list() -> None:
    """public-vectors.md 3.4 GET-Response-With-List (u9n/dlms-cosem test_get.py):
    2021-06-03 (Thursday) 14:09:23, deviation -60, status 00."""
    moment = datetime.datetime(2021, 6, 3, 14, 9, 23, tzinfo=tz(60))
    expected = h("07E50603040E091700FFC400")
    assert CosemDateTime.from_datetime(moment).to_bytes() == expected
    assert datetime_bytes_from_timestamp(moment.timestamp(), -60, 0) == expected
    assert encode_datetime_value(expected) == h("090C") + expected


def test_all_unspecified_date_time() -> None:
    """cjhdev/dlms_trouble tc_d_date_time.rb: 9 x FF, deviation 8000, status 08."""
    value = CosemDateTime.from_bytes(h("FFFFFFFFFFFFFFFFFF800008"))
    assert value == CosemDateTime(None, None, None, None, None, None, None, None, None, 8)
    assert value.to_bytes() == h("FFFFFFFFFFFFFFFFFF800008")
    with pytest.raises(ValueError):
        value.to_datetime()


def test_special_month_and_day_values_are_kept() -> None:
    value = CosemDateTime.from_bytes(h("FFFFFEFD07020000FF800080"))
    assert (value.month, value.day, value.day_of_week, value.clock_status) == (0xFE, 0xFD, 7, 0x80)
    assert value.to_bytes() == h("FFFFFEFD07020000FF800080")
    with pytest.raises(ValueError):
        dataclasses.replace(value, year=2024).to_datetime()


def test_unspecified_hundredths_count_as_zero() -> None:
    value = CosemDateTime.from_bytes(h("07E80101FF0A0B0CFF000000"))
    assert value.to_datetime() == datetime.datetime(2024, 1, 1, 10, 11, 12, tzinfo=datetime.UTC)


@pytest.mark.parametrize("field", ["year", "month", "day", "hour", "minute", "second"])
def test_to_datetime_needs_each_part(field: str) -> None:
    value = CosemDateTime.from_datetime(datetime.datetime(2024, 5, 6, 7, 8, 9))
    assert value.deviation is None
    with pytest.raises(ValueError) as info:
        dataclasses.replace(value, **{field: None}).to_datetime()
    assert field in str(info.value)


def test_date_time_wrong_sizes_and_ranges() -> None:
    with pytest.raises(DecodeError):
        CosemDateTime.from_bytes(bytes(11))
    with pytest.raises(DecodeError):
        CosemDateTime.from_bytes(bytes(13))
    with pytest.raises(DecodeError):
        CosemDate.from_bytes(bytes(4))
    with pytest.raises(DecodeError):
        CosemTime.from_bytes(bytes(5))
    with pytest.raises(ValueError):
        CosemDateTime(2024, 1, 1, None, 0, 0, 0, 0, 40000, 0).to_bytes()
    with pytest.raises(ValueError):
        CosemDate(70000, 1, 1, None).to_bytes()
    with pytest.raises(ValueError):
        CosemTime(256, 0, 0, 0).to_bytes()
    with pytest.raises(ValueError):
        CosemDateTime.from_datetime(
            datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(seconds=30)))
        )


def test_cosem_date_and_time() -> None:
    """u9n/dlms-cosem tests/test_dlms_date_time_data.py."""
    date = CosemDate.from_bytes(h("07E80B15FF"))
    assert date == CosemDate(2024, 11, 21, None)
    assert date.to_date() == datetime.date(2024, 11, 21)
    assert CosemDate.from_date(datetime.date(2024, 11, 21)).to_bytes() == h("07E80B1504")
    clock = CosemTime.from_bytes(h("081E0F17"))
    assert clock == CosemTime(8, 30, 15, 23)
    assert clock.to_time() == datetime.time(8, 30, 15, 230000)
    assert CosemTime.from_time(datetime.time(8, 30, 15, 239999)).to_bytes() == h("081E0F17")
    assert CosemDate.from_bytes(h("FFFFFFFFFF")) == CosemDate(None, None, None, None)
    assert CosemTime.from_bytes(h("FFFFFFFF")) == CosemTime(None, None, None, None)
    assert CosemDate(None, None, None, None).to_bytes() == h("FFFFFFFFFF")
    assert CosemTime(None, None, None, None).to_bytes() == h("FFFFFFFF")
    with pytest.raises(ValueError):
        CosemDate(None, 1, 1, None).to_date()
    with pytest.raises(ValueError):
        CosemTime(1, None, 1, None).to_time()


@given(st.binary(min_size=12, max_size=12))
def test_date_time_bytes_round_trip(raw: bytes) -> None:
    assert CosemDateTime.from_bytes(raw).to_bytes() == raw


@given(st.binary(min_size=5, max_size=5), st.binary(min_size=4, max_size=4))
def test_date_and_time_bytes_round_trip(date: bytes, clock: bytes) -> None:
    assert CosemDate.from_bytes(date).to_bytes() == date
    assert CosemTime.from_bytes(clock).to_bytes() == clock


moments = st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1)).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 10000 * 10000)
)


@given(moments, st.integers(-720, 720), st.integers(0, 254))
def test_datetime_round_trip(moment: datetime.datetime, deviation: int, status: int) -> None:
    aware = moment.replace(tzinfo=tz(-deviation))
    value = CosemDateTime.from_datetime(aware, status)
    assert value.deviation == deviation
    assert value.clock_status == status
    assert value.to_datetime() == aware
    assert CosemDateTime.from_bytes(value.to_bytes()) == value
    naive = CosemDateTime.from_datetime(moment)
    assert naive.deviation is None
    assert naive.to_datetime() == moment


@given(moments, st.integers(-720, 720), st.integers(0, 254))
def test_timestamp_fast_path_agrees_with_datetime(moment: datetime.datetime, deviation: int, status: int) -> None:
    aware = moment.replace(tzinfo=tz(-deviation))
    expected = CosemDateTime.from_datetime(aware, status).to_bytes()
    assert datetime_bytes_from_timestamp(aware.timestamp(), deviation, status) == expected


def test_timestamp_fast_path_vectors() -> None:
    """public-vectors.md 3.6 (u9n/dlms-cosem tests/test_time.py), with the day of week filled in."""
    moment = datetime.datetime(2020, 1, 6, 0, 3, tzinfo=tz(60))
    assert datetime_bytes_from_timestamp(moment.timestamp(), -60, 0) == h("07E401060100030000FFC400")
    assert datetime_bytes_from_timestamp(0.0, 0, 0x80) == h("07B201010400000000000080")
    assert datetime_bytes_from_timestamp(0.57, 0, 0)[8] == 57
    # a fraction that rounds up to a whole microsecond second carries into the seconds, as datetime does
    assert datetime_bytes_from_timestamp(59.9999996, 0, 0) == h("07B201010400010000000000")
    assert datetime.datetime.fromtimestamp(59.9999996, datetime.UTC).second == 0
    with pytest.raises(ValueError):
        datetime_bytes_from_timestamp(0.0, 40000, 0)
    with pytest.raises(ValueError):
        datetime_bytes_from_timestamp(0.0, 0, 256)

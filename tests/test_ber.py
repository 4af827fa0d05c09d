"""BER TLV helpers of the ACSE subset (X.690; Green Book 9.4.2)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec.ber import (
    decode_integer,
    decode_oid,
    encode_integer,
    encode_length,
    encode_oid,
    encode_tlv,
    iter_tlv,
    read_single,
)
from dlmstw.errors import DecodeError


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, "00"),
        (0x7F, "7F"),
        (0x80, "8180"),
        (0xFF, "81FF"),
        (0x100, "820100"),
        (0xFFFF, "82FFFF"),
        (0x10000, "83010000"),
        (0xFFFFFFFF, "84FFFFFFFF"),
    ],
)
def test_encode_length_short_and_long_forms(length: int, expected: str) -> None:
    assert encode_length(length) == bytes.fromhex(expected)


def test_encode_length_refuses_more_than_four_octets() -> None:
    with pytest.raises(ValueError):
        encode_length(0x100000000)


def test_encode_tlv() -> None:
    assert encode_tlv(0x04, b"") == b"\x04\x00"
    assert encode_tlv(0x80, b"\x00") == b"\x80\x01\x00"
    assert encode_tlv(0x04, bytes(200)) == b"\x04\x81\xc8" + bytes(200)
    assert encode_tlv(0xBE, bytes(300)) == b"\xbe\x82\x01\x2c" + bytes(300)


def test_iter_tlv_walks_the_no_security_aarq() -> None:
    # public-vectors.md 3.3, [U] test_aarq.py: A1 (context name) then BE (user-information).
    aarq = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
    assert list(iter_tlv(aarq, 0, len(aarq))) == [(0x60, 2, 31)]
    assert list(iter_tlv(aarq, 2, 31)) == [(0xA1, 4, 13), (0xBE, 15, 31)]
    assert list(iter_tlv(aarq, 4, 13)) == [(0x06, 6, 13)]


def test_iter_tlv_long_form_lengths() -> None:
    buf = b"\x04\x81\x80" + bytes(128) + b"\x04\x82\x01\x00" + bytes(256) + b"\x05\x00"
    assert list(iter_tlv(buf, 0, len(buf))) == [(0x04, 3, 131), (0x04, 135, 391), (0x05, 393, 393)]


def test_iter_tlv_empty_range_yields_nothing() -> None:
    assert list(iter_tlv(b"\x04\x00", 2, 2)) == []


@pytest.mark.parametrize(
    ("hex_text", "offset", "reason"),
    [
        ("1F0100", 0, "multi-byte"),
        ("5F1F0400", 0, "multi-byte"),
        ("3080", 1, "indefinite"),
        ("04850000000001", 1, "5 length octets"),
        ("04", 1, "truncated"),
        ("0481", 2, "truncated"),
        ("048200", 3, "truncated"),
        ("040200", 3, "past the end"),
        ("0400040200", 5, "past the end"),
    ],
)
def test_iter_tlv_malformed(hex_text: str, offset: int, reason: str) -> None:
    buf = bytes.fromhex(hex_text)
    with pytest.raises(DecodeError) as caught:
        list(iter_tlv(buf, 0, len(buf)))
    assert reason in caught.value.reason
    assert caught.value.offset == offset


def test_iter_tlv_honours_end_inside_a_longer_buffer() -> None:
    buf = bytes.fromhex("0403AABBCC")
    with pytest.raises(DecodeError):
        list(iter_tlv(buf, 0, 4))


def test_read_single() -> None:
    buf = bytes.fromhex("A203020100")
    assert read_single(buf, 0, 5, 0xA2) == (2, 5)
    assert read_single(buf, 2, 5, 0x02) == (4, 5)
    with pytest.raises(DecodeError, match="expected BER tag 0xA3, found 0xA2"):
        read_single(buf, 0, 5, 0xA3)
    with pytest.raises(DecodeError, match="found nothing"):
        read_single(buf, 5, 5, 0x02)
    with pytest.raises(DecodeError, match="unexpected bytes"):
        read_single(buf + b"\x00", 0, 6, 0xA2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "00"),
        (1, "01"),
        (0x7F, "7F"),
        (0x80, "0080"),
        (0xFF, "00FF"),
        (0x100, "0100"),
        (-1, "FF"),
        (-128, "80"),
        (-129, "FF7F"),
    ],
)
def test_encode_integer_is_minimal_twos_complement(value: int, expected: str) -> None:
    content = bytes.fromhex(expected)
    assert encode_integer(value) == content
    assert decode_integer(content, 0, len(content)) == value


def test_decode_integer_malformed() -> None:
    with pytest.raises(DecodeError, match="empty"):
        decode_integer(b"\x02\x00", 2, 2)
    with pytest.raises(DecodeError, match="longer than 8"):
        decode_integer(bytes(9), 0, 9)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer_round_trip(value: int) -> None:
    content = encode_integer(value)
    assert decode_integer(content, 0, len(content)) == value


@pytest.mark.parametrize(
    ("arcs", "expected"),
    [
        # Green Book 9.4.2.2.2: LN referencing, no ciphering.
        ((2, 16, 756, 5, 8, 1, 1), "60857405080101"),
        # Green Book 9.4.2.2.3: HLS GMAC mechanism.
        ((2, 16, 756, 5, 8, 2, 5), "60857405080205"),
        ((1, 2, 840, 113549), "2A864886F70D"),
        ((2, 100, 3), "813403"),
        ((0, 0), "00"),
    ],
)
def test_oid(arcs: tuple[int, ...], expected: str) -> None:
    content = bytes.fromhex(expected)
    assert encode_oid(arcs) == content
    assert decode_oid(content, 0, len(content)) == arcs


@pytest.mark.parametrize("arcs", [(1,), (3, 1), (1, 40), (2, 16, -1)])
def test_encode_oid_invalid(arcs: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        encode_oid(arcs)


@pytest.mark.parametrize(
    ("hex_text", "reason"),
    [("", "empty"), ("6085", "ends inside"), ("2A80867F", "leading 0x80")],
)
def test_decode_oid_malformed(hex_text: str, reason: str) -> None:
    content = bytes.fromhex(hex_text)
    with pytest.raises(DecodeError, match=reason):
        decode_oid(content, 0, len(content))


@given(
    st.integers(min_value=0, max_value=2).flatmap(
        lambda first: st.tuples(
            st.just(first),
            st.integers(min_value=0, max_value=39 if first < 2 else 10**6),
            st.lists(st.integers(min_value=0, max_value=2**40), max_size=6),
        )
    )
)
def test_oid_round_trip(parts: tuple[int, int, list[int]]) -> None:
    arcs = (parts[0], parts[1], *parts[2])
    content = encode_oid(arcs)
    assert decode_oid(content, 0, len(content)) == arcs


@given(st.lists(st.tuples(st.sampled_from([0x04, 0x80, 0xA1, 0xBE]), st.binary(max_size=300))))
def test_tlv_round_trip(items: list[tuple[int, bytes]]) -> None:
    buf = b"".join(encode_tlv(tag, content) for tag, content in items)
    decoded = [(tag, buf[start:stop]) for tag, start, stop in iter_tlv(buf, 0, len(buf))]
    assert decoded == items

"""IEC 62056-47 wrapper framing (Green Book 7.3.3) against public-vectors.md 3.7 and acse.json.

Hex strings taken from public-vectors.md are checked to appear there verbatim.
"""

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.codec.acse import decode_aare, decode_aarq
from dlmstw.errors import DecodeError
from dlmstw.framing.wrapper import (
    HEADER_SIZE,
    FramingError,
    Wpdu,
    WrapperDecoder,
    encode_wpdu,
)

VECTORS = Path(__file__).parent / "vectors"
PUBLIC_MD = (VECTORS / "public-vectors.md").read_text(encoding="utf-8")
ACSE_JSON: dict[str, Any] = json.loads((VECTORS / "acse.json").read_text(encoding="utf-8"))


def published(hex_text: str) -> bytes:
    """Bytes of a hex string quoted verbatim in public-vectors.md."""
    assert hex_text in PUBLIC_MD, f"not in public-vectors.md: {hex_text}"
    return bytes.fromhex(hex_text)


# [G] gvtret/gosem pkg/wrapper/wrapper_test.go (public-vectors.md 3.7 quotes these three; the
# receive-side error cases below are that test's full frames, which 3.7 abbreviates).
GOSEM_SEND = published("0001000100030006AABBCCDDEEFF")
GOSEM_VALID = published("00010003000100050123456789")
GOSEM_TWO = published("0001000300010005012345678900010003000100059876543210")
# [C] AssociationControlServiceElementTest.java: a real WPDU-framed AARE.
CONNEXO_AARE = published(
    "000100010064002C612AA109060760857405080101A203020100A305A103020100BE11040F080100065F1F0400007C1F04000007"
)
# 3.3: HLS-GMAC ciphered AARE of a real meter, wrapped.
HEXING_AARE = published(
    "00010001001000636161A109060760857405080103A203020100A305A10302010EA40A040848584501353EC60988020780"
    "890760857405080205AA0A80084630433537353942BE230421281F3000000DF7EC9933D1A0BE2DF245B2768E39EB37E386"
    "9E960F795B6861BEAB"
)
PAPER_AARQ = bytes.fromhex(ACSE_JSON["paper_figure4_lls_aarq_wrapped"]["hex"])
PAPER_AARE = bytes.fromhex(ACSE_JSON["paper_figure4_aare_wrapped"]["hex"])

# (frame, source wPort, destination wPort)
FRAMES: list[tuple[bytes, int, int]] = [
    (GOSEM_SEND, 1, 3),
    (GOSEM_VALID, 3, 1),
    (CONNEXO_AARE, 1, 0x64),
    (HEXING_AARE, 1, 0x10),
    (PAPER_AARQ, 0x20, 1),
    (PAPER_AARE, 1, 0x20),
]


def test_encode_wpdu_gosem_vector() -> None:
    assert encode_wpdu(1, 3, bytes.fromhex("AABBCCDDEEFF")) == GOSEM_SEND


@pytest.mark.parametrize(("frame", "source", "destination"), FRAMES)
def test_encode_reproduces_each_frame(frame: bytes, source: int, destination: int) -> None:
    assert encode_wpdu(source, destination, frame[HEADER_SIZE:]) == frame


@pytest.mark.parametrize(
    ("source", "destination", "length"), [(0x10000, 1, 1), (1, -1, 1), (1, 1, 0x10000)]
)
def test_encode_wpdu_refuses_what_does_not_fit(source: int, destination: int, length: int) -> None:
    with pytest.raises(ValueError):
        encode_wpdu(source, destination, bytes(length))


@pytest.mark.parametrize(("frame", "source", "destination"), FRAMES)
def test_decode_whole_frame(frame: bytes, source: int, destination: int) -> None:
    assert WrapperDecoder().feed(frame) == [Wpdu(source, destination, frame[HEADER_SIZE:], frame)]


def test_decode_gosem_valid_frame_fields() -> None:
    (wpdu,) = WrapperDecoder().feed(GOSEM_VALID)
    assert wpdu.source_wport == 3
    assert wpdu.destination_wport == 1
    assert wpdu.apdu == bytes.fromhex("0123456789")
    assert wpdu.raw == GOSEM_VALID


def test_two_wpdus_in_one_read() -> None:
    frames = WrapperDecoder().feed(GOSEM_TWO)
    assert [f.apdu.hex().upper() for f in frames] == ["0123456789", "9876543210"]
    assert [f.raw for f in frames] == [GOSEM_TWO[:13], GOSEM_TWO[13:]]


def test_wrapped_acse_vectors_carry_their_apdus() -> None:
    decoder = WrapperDecoder()
    aarq, aare = decoder.feed(PAPER_AARQ + PAPER_AARE)
    assert decode_aarq(aarq.apdu).calling_authentication_value == b"ABCD0001"
    assert decode_aare(aare.apdu).responding_ap_title == bytes.fromhex("4D4D4D0000BC614E")
    (connexo,) = decoder.feed(CONNEXO_AARE)
    assert decode_aare(connexo.apdu).user_information == bytes.fromhex(
        "080100065F1F0400007C1F04000007"
    )


@pytest.mark.parametrize(("frame", "source", "destination"), FRAMES)
def test_split_at_every_byte(frame: bytes, source: int, destination: int) -> None:
    expected = [Wpdu(source, destination, frame[HEADER_SIZE:], frame)]
    for cut in range(len(frame) + 1):
        decoder = WrapperDecoder()
        first = decoder.feed(frame[:cut])
        second = decoder.feed(frame[cut:])
        assert first + second == expected
        assert (first == expected) == (cut == len(frame))


@pytest.mark.parametrize(("frame", "source", "destination"), FRAMES)
def test_byte_by_byte(frame: bytes, source: int, destination: int) -> None:
    decoder = WrapperDecoder()
    frames = [wpdu for i in range(len(frame)) for wpdu in decoder.feed(frame[i : i + 1])]
    assert frames == [Wpdu(source, destination, frame[HEADER_SIZE:], frame)]


def test_frames_split_across_reads_with_a_partial_tail() -> None:
    stream = GOSEM_TWO + PAPER_AARQ
    decoder = WrapperDecoder()
    assert decoder.feed(stream[:20]) == [Wpdu(3, 1, bytes.fromhex("0123456789"), GOSEM_TWO[:13])]
    assert decoder.feed(stream[20:30]) == [Wpdu(3, 1, bytes.fromhex("9876543210"), GOSEM_TWO[13:])]
    assert decoder.feed(b"") == []
    assert decoder.feed(stream[30:]) == [Wpdu(0x20, 1, PAPER_AARQ[HEADER_SIZE:], PAPER_AARQ)]


def test_hundred_frames_in_one_read() -> None:
    apdus = [bytes((i,)) * (i % 7 + 1) for i in range(100)]
    stream = b"".join(encode_wpdu(0x10, 1, apdu) for apdu in apdus)
    decoder = WrapperDecoder()
    frames = decoder.feed(stream + GOSEM_VALID[:5])
    assert [f.apdu for f in frames] == apdus
    assert decoder.feed(GOSEM_VALID[5:]) == [Wpdu(3, 1, GOSEM_VALID[8:], GOSEM_VALID)]


def test_empty_apdu() -> None:
    assert WrapperDecoder().feed(bytes.fromhex("0001000100020000")) == [
        Wpdu(1, 2, b"", bytes.fromhex("0001000100020000"))
    ]


@pytest.mark.parametrize(
    ("stream", "offset"),
    [
        (bytes.fromhex("00020003000100050123456789"), 0),  # [G] invalid version
        (bytes.fromhex("1001001000110022"), 0),  # [J] WrapperHeaderTest: version 1001
        (bytes.fromhex("0002001000110022"), 0),  # [J] WrapperHeaderTest: version 0002
        (bytes.fromhex("0000"), 0),  # seen from two bytes on
        (GOSEM_VALID + bytes.fromhex("0002"), 13),  # at its stream offset after a good frame
    ],
)
def test_bad_version(stream: bytes, offset: int) -> None:
    decoder = WrapperDecoder()
    with pytest.raises(FramingError, match="version") as caught:
        decoder.feed(stream)
    assert caught.value.offset == offset
    assert isinstance(caught.value, DecodeError)


def test_bad_version_split_across_reads_reports_the_stream_offset() -> None:
    decoder = WrapperDecoder()
    assert decoder.feed(GOSEM_VALID + b"\x00") == [Wpdu(3, 1, GOSEM_VALID[8:], GOSEM_VALID)]
    with pytest.raises(FramingError) as caught:
        decoder.feed(b"\x02\x00\x03")
    assert caught.value.offset == 13


def test_jdlms_header_decodes() -> None:
    # [J] WrapperHeaderTest.java: source 0x10, destination 0x11, length 0x22 (its APDU is not used).
    frame = bytes.fromhex("0001001000110022") + bytes(0x22)
    decoder = WrapperDecoder()
    assert decoder.feed(frame[:HEADER_SIZE]) == []
    assert decoder.feed(frame[HEADER_SIZE:]) == [Wpdu(0x10, 0x11, bytes(0x22), frame)]


def test_declared_length_above_the_maximum_fails_on_the_header_alone() -> None:
    # [G] "too long": length 0x1000 against a 2048-byte maximum; the APDU never arrives.
    decoder = WrapperDecoder(max_apdu_length=2048)
    with pytest.raises(FramingError, match="4096 bytes") as caught:
        decoder.feed(bytes.fromhex("00010003000110000123456789")[:HEADER_SIZE])
    assert caught.value.offset == 6


def test_maximum_length_is_inclusive() -> None:
    decoder = WrapperDecoder(max_apdu_length=5)
    assert len(decoder.feed(GOSEM_VALID)) == 1
    with pytest.raises(FramingError):
        decoder.feed(GOSEM_SEND)


def test_default_maximum_accepts_the_largest_wpdu() -> None:
    frame = encode_wpdu(1, 1, bytes(0xFFFF))
    assert WrapperDecoder().feed(frame) == [Wpdu(1, 1, bytes(0xFFFF), frame)]


def test_length_mismatch_surfaces_at_the_next_header() -> None:
    # [G] "length mismatch": length 4 with 5 bytes behind it. In a stream the frame ends
    # after 4 bytes; the stray 0x89 then starts a header whose version is wrong.
    decoder = WrapperDecoder()
    mismatch = bytes.fromhex("00010003000100040123456789")
    assert decoder.feed(mismatch) == [Wpdu(3, 1, bytes.fromhex("01234567"), mismatch[:12])]
    with pytest.raises(FramingError) as caught:
        decoder.feed(GOSEM_VALID)
    assert caught.value.offset == 12


def test_the_decoder_stays_failed() -> None:
    decoder = WrapperDecoder()
    with pytest.raises(FramingError) as first:
        decoder.feed(bytes.fromhex("0002"))
    with pytest.raises(FramingError) as second:
        decoder.feed(GOSEM_VALID)
    assert second.value is first.value


@given(
    st.lists(
        st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=64)),
        max_size=20,
    ),
    st.lists(st.integers(0, 2000), max_size=30),
)
def test_any_cutting_of_any_stream(frames: list[tuple[int, int, bytes]], cuts: list[int]) -> None:
    encoded = [encode_wpdu(source, destination, apdu) for source, destination, apdu in frames]
    stream = b"".join(encoded)
    points = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    decoder = WrapperDecoder()
    decoded = [w for a, b in itertools.pairwise(points) for w in decoder.feed(stream[a:b])]
    assert decoded == [
        Wpdu(source, destination, apdu, raw)
        for (source, destination, apdu), raw in zip(frames, encoded)
    ]

"""One grammar (issue 9): the codecs' decoders report each field they read to a
tracer, and what they report tiles the bytes they read.

Every frame and APDU of tests/vectors (acse.json, security.json,
appendix-datablocks.txt, the hex of public-vectors.md) goes through the
decoder the meter and the client use (``dissect.DECODERS`` names it by the
APDU's tag), with a recording tracer; the APDUs a
field carries (user-information, a wrapper's APDU, a protected text, a
deciphered one) are decoded and checked in turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmstw.codec.axdr import decode_data
from dlmstw.dissector import Keys, dissect_apdu
from dlmstw.dissector.dissect import DECODERS
from dlmstw.enums import ApduTag
from dlmstw.errors import DecodeError
from dlmstw.framing.wrapper import WRAPPER_VERSION, decode_wpdu
from dlmstw.security import ciphering

VECTORS = Path(__file__).parent / "vectors"
SECURITY = json.loads((VECTORS / "security.json").read_text())
SUITE0 = SECURITY["suite0_gcm"]
EK = bytes.fromhex(SUITE0["encryption_key"])
AK = bytes.fromhex(SUITE0["authentication_key"])
GREEN_BOOK_TITLES = (bytes.fromhex(SUITE0["system_title"]),
                     bytes.fromhex(SECURITY["hls_gmac_mechanism5"]["client_system_title"]))


def _vector_hex() -> Iterator[str]:
    """Every hex string of tests/vectors: JSON values, appendix lines, and the hex between
    backquotes of public-vectors.md (frames, APDUs, keys, titles, Data values alike)."""

    def strings(value: object) -> Iterator[str]:
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    for name in ("acse.json", "security.json"):
        yield from strings(json.loads((VECTORS / name).read_text()))
    yield from (line.strip() for line in (VECTORS / "appendix-datablocks.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    yield from re.findall(r"`([0-9A-Fa-f ]+)`", (VECTORS / "public-vectors.md").read_text())


def _candidates() -> list[bytes]:
    found: list[bytes] = []
    for text in _vector_hex():
        digits = text.replace(" ", "")
        if len(digits) >= 4 and len(digits) % 2 == 0 and re.fullmatch(r"[0-9A-Fa-f]+", digits):
            octets = bytes.fromhex(digits)
            if octets not in found:
                found.append(octets)
    return found


@dataclass
class Group:
    name: str
    offset: int
    end: int | None = None
    parts: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Leaf:
    name: str
    offset: int
    length: int
    value: object


class Recorder:
    """A Tracer that keeps what it hears as a tree of groups and leaves."""

    def __init__(self) -> None:
        self.root = Group("root", 0)
        self._open = [self.root]

    def enter(self, name: str, offset: int) -> None:
        group = Group(name, offset)
        self._open[-1].parts.append(group)
        self._open.append(group)

    def field(self, name: str, offset: int, length: int, value: object) -> None:
        self._open[-1].parts.append(Leaf(name, offset, length, value))

    def leave(self, end: int) -> None:
        self._open.pop().end = end

    def leaves(self, group: Group | None = None) -> Iterator[Leaf]:
        for part in (group or self.root).parts:
            if isinstance(part, Leaf):
                yield part
            else:
                yield from self.leaves(part)

    def check_groups(self, group: Group | None = None) -> None:
        """Every group closed, and spanning exactly the fields it holds (an empty one, nothing)."""
        assert self._open == [self.root], f"groups left open: {[g.name for g in self._open[1:]]}"
        for part in (group or self.root).parts:
            if isinstance(part, Group):
                inner = list(self.leaves(part))
                span = (inner[0].offset, inner[-1].offset + inner[-1].length) if inner else (part.offset, part.offset)
                assert (part.offset, part.end) == span, part.name
                self.check_groups(part)


def tiles(leaves: list[Leaf], start: int, end: int) -> None:
    """The leaves, in the order heard, cover ``start..end`` with no gap and no overlap."""
    position = start
    for leaf in leaves:
        assert leaf.offset == position, f"{leaf.name} at {leaf.offset}, expected {position}"
        assert leaf.length >= 0
        position += leaf.length
    assert position == end, f"the fields end at {position}, the APDU at {end}"


def decoded(apdu: bytes) -> tuple[Recorder, Any]:
    """The APDU decoded by the codec's decoder for its tag, with a recorder; raises DecodeError."""
    recorder = Recorder()
    return recorder, DECODERS[apdu[0]](apdu, recorder)


def check_apdu(apdu: bytes, seen: list[str]) -> None:
    """Decode ``apdu`` with a tracer; its fields tile it and its groups hold their
    fields; what its fields carry is checked in turn. ``seen`` collects the kinds."""
    recorder, message = decoded(apdu)
    recorder.check_groups()
    leaves = list(recorder.leaves())
    tiles(leaves, 0, len(apdu))
    seen.append(ApduTag(apdu[0]).name)
    for leaf in leaves:
        carried = leaf.value
        if leaf.name == "apdu":
            assert isinstance(carried, bytes) and carried == apdu[leaf.offset : leaf.offset + leaf.length]
            check_apdu(carried, seen)
        elif leaf.name == "protected":
            check_protected(apdu, leaf, seen)
    # The tracer only listens: the same decoder without one returns the same message.
    assert DECODERS[apdu[0]](apdu, None) == message


def check_protected(apdu: bytes, leaf: Leaf, seen: list[str]) -> None:
    """A protected text is split as unprotect splits it: its fields tile it; deciphered
    with the Green Book keys where they fit, its plain APDU is checked too."""
    recorder = Recorder()
    control, _, _ = ciphering.split_protected(apdu, leaf.offset, leaf.offset + leaf.length, recorder)
    parts = list(recorder.leaves())
    tiles(parts, leaf.offset, leaf.offset + leaf.length)
    for part in parts:
        if part.name == "apdu":
            check_apdu(part.value, seen)  # type: ignore[arg-type]
    if control & 0x30 != ciphering.AUTHENTICATION | ciphering.ENCRYPTION:
        return  # only a tag that verifies tells that the keys and the title are the sender's
    protected: bytes = leaf.value  # type: ignore[assignment]
    for title in GREEN_BOOK_TITLES:
        try:
            _, _, plain = ciphering.unprotect(protected, system_title=title, block_cipher_key=EK,
                                              authentication_key=AK)
        except ciphering.SecurityError:
            continue
        check_apdu(plain, seen)
        seen.append("deciphered")


def frames() -> list[bytes]:
    """The frames and APDUs of tests/vectors: the hex that the codec decodes whole as a
    wrapper frame (version 0x0001) carrying an APDU, or as an APDU by its first octet.
    The rest are keys, titles, challenges, Data values, or the wrapper's own test
    cases around APDUs that are not one."""
    found = []
    for octets in _candidates():
        apdu = octets
        try:
            if octets[:2] == WRAPPER_VERSION.to_bytes(2, "big"):
                apdu = decode_wpdu(octets).apdu
            if apdu[:1] and apdu[0] in DECODERS:
                DECODERS[apdu[0]](apdu, None)
                found.append(octets)
        except DecodeError:
            continue
    return found


FRAMES = frames()


def test_the_vectors_hold_enough_frames_of_every_kind() -> None:
    seen: list[str] = []
    for frame in FRAMES:
        if frame[:2] == b"\x00\x01":
            check_apdu(decode_wpdu(frame).apdu, seen)
        else:
            check_apdu(frame, seen)
    assert len(FRAMES) >= 70
    assert {"AARQ", "AARE", "RLRQ", "RLRE", "INITIATE_REQUEST", "INITIATE_RESPONSE", "CONFIRMED_SERVICE_ERROR",
            "GET_REQUEST", "GET_RESPONSE", "SET_REQUEST", "SET_RESPONSE", "ACTION_REQUEST", "ACTION_RESPONSE",
            "EXCEPTION_RESPONSE", "GLO_GET_REQUEST", "GLO_INITIATE_REQUEST", "GLO_INITIATE_RESPONSE",
            "deciphered"} <= set(seen)


@pytest.mark.parametrize("frame", FRAMES, ids=lambda frame: frame[:12].hex())
def test_every_vector_frame_tiles_its_apdu(frame: bytes) -> None:
    seen: list[str] = []
    if frame[:2] == b"\x00\x01":
        recorder = Recorder()
        wpdu = decode_wpdu(frame, recorder)
        recorder.check_groups()
        leaves = list(recorder.leaves())
        tiles(leaves, 0, len(frame))
        assert [leaf.name for leaf in leaves] == ["version", "source-wport", "destination-wport", "length", "apdu"]
        assert wpdu == decode_wpdu(frame)
        check_apdu(wpdu.apdu, seen)
    else:
        check_apdu(frame, seen)


@pytest.mark.parametrize("frame", FRAMES, ids=lambda frame: frame[:12].hex())
def test_every_truncation_reports_a_prefix_and_the_same_error(frame: bytes) -> None:
    """Cut short, a decoder reports fields tiling a prefix of what it read, then raises
    the error it raises without a tracer; the dissector shows that very error."""
    apdu = decode_wpdu(frame).apdu if frame[:2] == b"\x00\x01" else frame
    for cut in range(1, len(apdu)):
        part = apdu[:cut]
        recorder = Recorder()
        with pytest.raises(DecodeError) as traced:
            DECODERS[part[0]](part, recorder)
        with pytest.raises(DecodeError) as plain:
            DECODERS[part[0]](part, None)
        assert (traced.value.reason, traced.value.offset) == (plain.value.reason, plain.value.offset)
        leaves = list(recorder.leaves())
        if leaves:
            tiles(leaves, 0, leaves[-1].offset + leaves[-1].length)
            assert leaves[-1].offset + leaves[-1].length <= cut
        assert dissect_apdu(part).children[-1].error == f"at byte {plain.value.offset}: {plain.value.reason}"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(DECODERS)), st.binary(max_size=60))
def test_a_tracer_never_changes_what_a_decoder_does(tag: int, body: bytes) -> None:
    apdu = bytes((tag,)) + body
    recorder = Recorder()
    try:
        message = DECODERS[tag](apdu, recorder)
    except DecodeError as exc:
        with pytest.raises(DecodeError) as plain:
            DECODERS[tag](apdu, None)
        assert (exc.reason, exc.offset) == (plain.value.reason, plain.value.offset)
        tree = dissect_apdu(apdu, Keys(EK, AK, GREEN_BOOK_TITLES[0]))
        assert tree.children[-1].error == f"at byte {exc.offset}: {exc.reason}"
        return
    assert DECODERS[tag](apdu, None) == message
    recorder.check_groups()
    tiles(list(recorder.leaves()), 0, len(apdu))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40))
def test_data_with_a_tracer_tiles_what_it_read(data: bytes) -> None:
    recorder = Recorder()
    try:
        value, end = decode_data(data, 0, recorder)
    except DecodeError:
        return
    assert decode_data(data) == (value, end)
    recorder.check_groups()
    tiles(list(recorder.leaves()), 0, end)

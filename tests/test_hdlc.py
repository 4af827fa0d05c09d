"""HDLC frames and the meter's link (IEC 62056-46, Green Book 8.4), sans-I/O.

Byte-exact public frames:
- "Examples for DLMS/COSEM information exchange", prepared by Gyozo Kmethy for
  the DLMS User Association (published copies:
  https://jacobs-master.ru/view/articles/dlmsua/dlmscosem_gyozo_kmethy_example_origin
  and https://www.scribd.com/document/478055301/x-examples-GK021219-pdf): the
  SNRM, UA and AARQ frames of its sections 1 and 2, with 4-octet server
  addresses (logical device 1, physical device 0x11) and a one-octet client
  address 0x21, which encodes SAP 0x10, the public client (the document's
  comment says 0x01).
- The Gurux forum thread "DLMS (HDLC) Packet Description Needs"
  (https://www.gurux.fi/index.php/node/20546): a GET of 0.0.40.0.0.255
  attribute 1 in an I frame, server address 03 (one octet), client 0x20.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmstw.dissector import dissect_frame
from dlmstw.errors import DecodeError
from dlmstw.framing.hdlc import (
    DISC, DM, FRMR, LLC_REQUEST, LLC_RESPONSE, POLL_FINAL, RNR, RR, SNRM, UA, UI, Address, Discarded, Frame,
    HdlcDecoder, control_name, decode_frame, encode_address, encode_frame, fcs16, i_control, s_control,
)
from dlmstw.framing.hdlc_link import (
    FRAME_REJECT, NDM, NRM, Parameters, SecondaryLink, decode_parameters, encode_parameters, negotiate,
)
from test_grammar import Recorder, tiles

KMETHY_SNRM = bytes.fromhex("7EA00A00020023219318717E")
KMETHY_UA = bytes.fromhex("7EA023210002002373F6C58180140502008006020080070400000001080400000001CE6A7E")
KMETHY_AARQ = bytes.fromhex("7EA02E0002002321107ECBE6E600601DA109060760857405080101BE10040E01000000065F1F0400"
                            "00301DFFFFD4C57E")
GURUX_FORUM_GET = bytes.fromhex("7EA0190341B23239E6E600C001C1000F0000280000FF0100F9797E")
PUBLIC_FRAMES = (KMETHY_SNRM, KMETHY_UA, KMETHY_AARQ, GURUX_FORUM_GET)

SERVER = Address(1, 17, 4)
CLIENT = Address(0x10, None, 1)


def test_the_public_frames_decode_to_what_their_sources_say() -> None:
    snrm = decode_frame(KMETHY_SNRM)
    assert (snrm.destination, snrm.source, control_name(snrm.control), snrm.information) == (
        SERVER, CLIENT, "SNRM", b"")
    assert snrm.control & POLL_FINAL
    ua = decode_frame(KMETHY_UA)
    assert (ua.destination, ua.source, control_name(ua.control)) == (CLIENT, SERVER, "UA")
    assert decode_parameters(ua.information) == Parameters(128, 128, 1, 1)
    aarq = decode_frame(KMETHY_AARQ)
    assert (control_name(aarq.control), aarq.control >> 1 & 7, aarq.control >> 5) == ("I", 0, 0)
    assert aarq.information[:3] == LLC_REQUEST and aarq.information[3] == 0x60
    get = decode_frame(GURUX_FORUM_GET)
    assert (get.destination, get.source) == (Address(1, None, 1), Address(0x20, None, 1))
    assert (control_name(get.control), get.control >> 1 & 7, get.control >> 5) == ("I", 1, 5)
    assert get.information == LLC_REQUEST + bytes.fromhex("C001C1000F0000280000FF0100")


@pytest.mark.parametrize("frame", PUBLIC_FRAMES, ids=lambda f: f[:12].hex())
def test_check_sequences_of_the_public_frames(frame: bytes) -> None:
    """FCS over everything between the flags but itself; HCS over the header, both least significant octet first."""
    assert fcs16(frame[1:-3]).to_bytes(2, "little") == frame[-3:-1]
    parsed = decode_frame(frame)
    if parsed.information:
        header = 1 + 2 + parsed.destination.size + parsed.source.size + 1
        assert fcs16(frame[1:header]).to_bytes(2, "little") == frame[header:header + 2]
    assert encode_frame(parsed.destination, parsed.source, parsed.control, parsed.information,
                        parsed.segmented) == frame


def test_the_crc_is_crc16_x25() -> None:
    assert fcs16(b"123456789") == 0x906E  # the CRC catalogue's check value of CRC-16/X-25


@pytest.mark.parametrize("frame", PUBLIC_FRAMES, ids=lambda f: f[:12].hex())
def test_a_corrupted_frame_is_refused(frame: bytes) -> None:
    for index in range(1, len(frame) - 1):
        bad = bytearray(frame)
        bad[index] ^= 0x01
        with pytest.raises(DecodeError):
            decode_frame(bytes(bad))


@pytest.mark.parametrize("frame", PUBLIC_FRAMES, ids=lambda f: f[:12].hex())
def test_the_decoder_with_a_tracer_tiles_the_frame(frame: bytes) -> None:
    recorder = Recorder()
    assert decode_frame(frame, recorder) == decode_frame(frame)
    recorder.check_groups()
    tiles(list(recorder.leaves()), 0, len(frame))


def test_the_stream_decoder_takes_frames_whole_byte_by_byte_and_with_shared_flags() -> None:
    stream = b"".join(PUBLIC_FRAMES)
    whole = HdlcDecoder().feed(stream)
    assert [f.raw for f in whole] == list(PUBLIC_FRAMES)  # type: ignore[union-attr]
    decoder = HdlcDecoder()
    split = [item for octet in stream for item in decoder.feed(bytes((octet,)))]
    assert split == whole
    shared = KMETHY_SNRM[:-1] + GURUX_FORUM_GET  # one flag closes the first and opens the second
    assert [f.raw for f in HdlcDecoder().feed(shared)] == [KMETHY_SNRM, GURUX_FORUM_GET]  # type: ignore[union-attr]


def test_bad_frames_and_garbage_are_discarded_and_reading_goes_on() -> None:
    bad = bytearray(KMETHY_AARQ)
    bad[20] ^= 0xFF
    out = HdlcDecoder().feed(b"\x01\x02" + bytes(bad) + KMETHY_SNRM)
    assert isinstance(out[0], Discarded) and out[0].reason == "octets outside a frame"
    assert isinstance(out[1], Discarded) and out[1].reason.startswith("wrong frame check sequence")
    assert isinstance(out[2], Frame) and out[2].raw == KMETHY_SNRM


def test_an_incomplete_frame_expires_after_the_inter_frame_timeout() -> None:
    decoder = HdlcDecoder(inter_frame_timeout=1.0)
    assert decoder.feed(KMETHY_AARQ[:10], now=5.0) == []
    assert decoder.deadline() == 6.0
    assert decoder.expire(5.5) is None
    dropped = decoder.expire(6.0)
    assert dropped is not None and dropped.raw == KMETHY_AARQ[:10]
    assert decoder.feed(KMETHY_SNRM, now=7.0)[0].raw == KMETHY_SNRM  # type: ignore[union-attr]


def test_memory_stays_bounded_by_one_frame() -> None:
    decoder = HdlcDecoder()
    decoder.feed(b"\x7e\xa7\xff" + bytes(3000))
    assert decoder.pending == 0  # a 2047-octet frame without its closing flag is discarded


addresses = st.one_of(
    st.builds(Address, st.integers(0, 0x7F), st.none(), st.just(1)),
    st.builds(Address, st.integers(0, 0x7F), st.integers(0, 0x7F), st.just(2)),
    st.builds(Address, st.integers(0, 0x3FFF), st.integers(0, 0x3FFF), st.just(4)),
)


@settings(max_examples=300, deadline=None)
@given(addresses, addresses, st.integers(0, 255), st.binary(max_size=300), st.booleans(),
       st.integers(1, 40))
def test_frames_round_trip_through_encoder_and_stream_decoder(destination: Address, source: Address, control: int,
                                                               information: bytes, segmented: bool,
                                                               cut: int) -> None:
    frame = encode_frame(destination, source, control, information, segmented)
    parsed = decode_frame(frame)
    assert parsed == Frame(destination, source, control, information, segmented, frame)
    decoder = HdlcDecoder()
    out = [item for start in range(0, 2 * len(frame), cut) for item in decoder.feed((frame * 2)[start:start + cut])]
    assert out == [parsed, parsed]


@settings(max_examples=300, deadline=None)
@given(addresses, addresses, st.integers(0, 255), st.binary(max_size=40), st.integers(0, 60), st.integers(0, 255))
def test_a_tracer_never_changes_what_the_frame_decoder_does(destination: Address, source: Address, control: int,
                                                             information: bytes, at: int, octet: int) -> None:
    """A frame, maybe with one octet changed or cut short: with a tracer the decoder returns or
    raises exactly as without, and what it reported tiles a prefix of the frame."""
    frame = bytearray(encode_frame(destination, source, control, information))
    if at < len(frame):
        frame[at] = octet
    else:
        del frame[at - len(frame) + 1:]
    recorder = Recorder()
    try:
        parsed = decode_frame(bytes(frame), recorder)
    except DecodeError as traced:
        with pytest.raises(DecodeError) as plain:
            decode_frame(bytes(frame))
        assert (traced.reason, traced.offset) == (plain.value.reason, plain.value.offset)
        leaves = list(recorder.leaves())
        if leaves:
            tiles(leaves, 0, leaves[-1].offset + leaves[-1].length)
        return
    assert parsed == decode_frame(bytes(frame))
    tiles(list(recorder.leaves()), 0, len(frame))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    for item in HdlcDecoder().feed(data):
        assert isinstance(item, (Frame, Discarded))
    with pytest.raises(DecodeError):
        decode_frame(b"\x00" + data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(addresses, st.integers(0, 255), st.binary(max_size=30), st.booleans()), max_size=4),
       st.binary(max_size=20))
def test_the_dissector_never_raises_on_hdlc_frames(frames: list[tuple[Address, int, bytes, bool]],
                                                   tail: bytes) -> None:
    stream = b"".join(encode_frame(address, CLIENT, control, info, segmented)
                      for address, control, info, segmented in frames) + b"\x7e" + tail
    tree = dissect_frame(stream)
    assert tree.children and all(child.name == "hdlc-frame" for child in tree.children)


def test_address_sizes() -> None:
    assert encode_address(Address(1, 17, 2)) == bytes.fromhex("0223")
    assert encode_address(Address(1, 17, 4)) == bytes.fromhex("00020023")
    assert encode_address(Address(0x10, None, 1)) == b"\x21"
    with pytest.raises(ValueError):
        encode_address(Address(1, 0x80, 2))


def test_parameters_round_trip_and_negotiation() -> None:
    assert decode_parameters(encode_parameters(Parameters(512, 128, 7, 1))) == Parameters(512, 128, 7, 1)
    # The client's transmit is the meter's receive; each capped by what the meter can do.
    assert negotiate(Parameters(4000, 256, 9, 3)) == Parameters(256, 2030, 3, 7)
    assert negotiate(Parameters(16, 128, 1, 1)) is None
    with pytest.raises(DecodeError):
        decode_parameters(bytes.fromhex("818003090100"))


# -- the link -------------------------------------------------------------------------


class Client:
    """A test primary station: frames to the link, what came back decoded."""

    def __init__(self, max_apdu: int = 1024, timeout: float = 30.0) -> None:
        self.link = SecondaryLink(SERVER, CLIENT, max_apdu, timeout)
        self.now = 0.0

    def send(self, control: int, information: bytes = b"", segmented: bool = False) -> list[Frame]:
        received = self.link.receive(decode_frame(encode_frame(SERVER, CLIENT, control, information, segmented)),
                                     self.now)
        self.last = received
        return [decode_frame(reply) for reply in received.replies]


def connected(parameters: Parameters | None = None) -> Client:
    client = Client()
    info = encode_parameters(parameters) if parameters is not None else b""
    (ua,) = client.send(SNRM | POLL_FINAL, info)
    assert control_name(ua.control) == "UA" and client.link.state == NRM
    return client


def test_ndm_answers_dm_and_snrm_connects() -> None:
    client = Client()
    (dm,) = client.send(i_control(0, 0, True), LLC_REQUEST + b"\x60\x00")
    assert control_name(dm.control) == "DM" and client.link.state == NDM
    (dm,) = client.send(DISC | POLL_FINAL)
    assert control_name(dm.control) == "DM"
    (ua,) = client.send(SNRM | POLL_FINAL, encode_parameters(Parameters(64, 64, 1, 1)))
    assert decode_parameters(ua.information) == Parameters(64, 64, 1, 1)
    assert (ua.destination, ua.source) == (CLIENT, SERVER)


def test_a_segmented_request_and_a_segmented_answer() -> None:
    client = connected(Parameters(64, 64, 1, 1))
    apdu = bytes(range(100))
    message = LLC_REQUEST + apdu
    (rr,) = client.send(i_control(0, 0, True), message[:64], segmented=True)
    assert control_name(rr.control) == "RR" and rr.control >> 5 == 1
    assert client.send(i_control(1, 0, True), message[64:]) == []
    assert client.last.apdu == apdu
    first, everything = client.link.respond(bytes(150))
    frames = HdlcDecoder().feed(everything)
    assert [len(f.information) for f in frames] == [64, 64, 25]  # type: ignore[union-attr]
    assert [f.segmented for f in frames] == [True, True, False]  # type: ignore[union-attr]
    assert first == [frames[0].raw]
    (second,) = client.send(s_control(RR, 1, True))
    assert second == frames[1]
    (again,) = client.send(s_control(RR, 1, True))  # N(R) not advanced: the frame is sent again
    assert again == frames[1]
    (third,) = client.send(s_control(RR, 2, True))
    assert third == frames[2] and (third.control >> 1 & 7, third.control >> 5) == (2, 2)
    (idle,) = client.send(s_control(RR, 3, True))
    assert control_name(idle.control) == "RR"


def test_a_window_of_three() -> None:
    client = connected(Parameters(32, 32, 3, 3))
    client.send(i_control(0, 0, True), LLC_REQUEST + b"\xc0")
    sent, everything = client.link.respond(bytes(200))
    assert len(sent) == 3 and [bool(decode_frame(f).control & POLL_FINAL) for f in sent] == [False, False, True]
    assert len(client.send(s_control(RR, 3, True))) == 3
    assert len(client.send(s_control(RR, 6, True))) == 1  # 203 octets: 7 frames of at most 32


def test_an_answer_waits_for_the_poll() -> None:
    client = connected()
    assert client.send(i_control(0, 0, False), LLC_REQUEST + b"\xc0") == []
    sent, everything = client.link.respond(b"\xc4\x01")
    assert sent == []
    (answer,) = client.send(s_control(RR, 0, True))
    assert answer.raw == everything


def test_rnr_holds_the_answer_back() -> None:
    client = connected()
    client.send(i_control(0, 0, True), LLC_REQUEST + b"\xc0")
    client.link.respond(bytes(300))
    (rr,) = client.send(s_control(RNR, 1, True))
    assert control_name(rr.control) == "RR"
    (more,) = client.send(s_control(RR, 1, True))
    assert control_name(more.control) == "I"


def test_frame_reject_until_snrm() -> None:
    client = connected()
    (frmr,) = client.send(i_control(0, 5, True), LLC_REQUEST + b"\xc0")  # N(R) 5: never sent
    assert control_name(frmr.control) == "FRMR" and client.link.state == FRAME_REJECT
    assert frmr.information[2] == 0x08
    (again,) = client.send(s_control(RR, 0, True))
    assert again == frmr
    (too_long,) = connected(Parameters(32, 32, 1, 1)).send(i_control(0, 0, True), bytes(40))
    assert control_name(too_long.control) == "FRMR" and too_long.information[2] == 0x04
    (unknown,) = connected().send(0x09 | POLL_FINAL)  # REJ is not in the DLMS subset
    assert control_name(unknown.control) == "FRMR" and unknown.information[2] == 0x01
    client.send(SNRM | POLL_FINAL)
    assert client.link.state == NRM


def test_an_out_of_sequence_i_frame_is_dropped() -> None:
    client = connected()
    (rr,) = client.send(i_control(3, 0, True), LLC_REQUEST + b"\xc0")
    assert control_name(rr.control) == "RR" and rr.control >> 5 == 0 and client.last.apdu is None


def test_an_apdu_longer_than_the_meter_takes_is_rejected() -> None:
    client = Client(max_apdu=100)
    client.send(SNRM | POLL_FINAL)
    for index in range(3):
        replies = client.send(i_control(index, 0, True), bytes(64), segmented=True)
    assert control_name(replies[0].control) == "FRMR"


def test_disc_ui_and_inactivity() -> None:
    client = connected()
    (rr,) = client.send(UI | POLL_FINAL, LLC_REQUEST + b"\xc0")
    assert control_name(rr.control) == "RR" and client.last.apdu is None
    (ua,) = client.send(DISC | POLL_FINAL)
    assert control_name(ua.control) == "UA" and client.link.state == NDM
    client = connected()
    assert client.link.deadline() == 30.0
    assert not client.link.expire(29.0)
    assert client.link.expire(30.0) and client.link.state == NDM
    assert client.link.deadline() is None


def test_control_names() -> None:
    assert [control_name(c) for c in (SNRM, DISC, UA, DM, FRMR, UI, RR, RNR, 0x10, 0x09)] == [
        "SNRM", "DISC", "UA", "DM", "FRMR", "UI", "RR", "RNR", "I", "unknown"]
    assert LLC_RESPONSE == b"\xe6\xe7\x00"


def test_the_meter_answers_kmethys_snrm_with_kmethys_ua_octet_for_octet() -> None:
    snrm = decode_frame(KMETHY_SNRM)
    link = SecondaryLink(snrm.destination, snrm.source, 1024, 0)
    assert link.receive(snrm, 0.0).replies == [KMETHY_UA]
    received = link.receive(decode_frame(KMETHY_AARQ), 0.0)
    assert received.apdu == KMETHY_AARQ[14:-3] and received.request == KMETHY_AARQ

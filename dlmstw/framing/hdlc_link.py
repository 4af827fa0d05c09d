"""The HDLC link of IEC 62056-46 (Green Book 8.4.3-8.4.5) in the secondary
station's (the meter's) role: the normal response mode procedures.

One ``SecondaryLink`` per (client address, server address). Sans-I/O: the
caller hands it each ``hdlc.Frame`` addressed to it with the time
(``receive``), gets the frames to send back and the APDUs the client
completed, answers an APDU with ``respond``, and calls ``expire`` at
``deadline()`` for the inactivity timeout; nothing here reads a clock.

- NDM (disconnected): SNRM negotiates the parameters (max information field
  lengths, window sizes; ``negotiate``) and answers UA; DISC answers DM, and
  so does any other frame with the poll bit.
- NRM (connected): I frames carry the APDU, LLC header first, in segments
  (the segmentation bit on all but the last); the meter asks for the next
  segment with RR. Answers go out in segments of the negotiated length, a
  window of them per poll, the last of each window with the final bit; RR
  from the client acknowledges them and asks for more (an N(R) below the
  frames sent makes the meter send them again). RNR holds the answer back.
  DISC answers UA and ends the link. UI frames carry no request here and are
  only acknowledged.
- A frame the meter cannot accept in NRM (an unknown control field, an
  information field above the negotiated length, an N(R) it never sent)
  answers FRMR, and the link then answers FRMR to everything but SNRM and DISC.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from dlmstw.errors import DecodeError
from dlmstw.framing.hdlc import (
    DISC, DM, FRMR, LLC_REQUEST, LLC_RESPONSE, POLL_FINAL, RNR, RR, SNRM, UA, UI, Address, Frame, encode_frame,
    i_control, s_control,
)

#: Default link parameters (Green Book 8.4.5.3.2): information fields of 128 octets, windows of 1.
DEFAULT_MAX_INFO: Final = 128
DEFAULT_WINDOW: Final = 1
#: The smallest information field the meter agrees to (it must hold an LLC header and a useful part of an APDU).
MIN_INFO: Final = 32
#: The longest information field a type 3 frame can carry with 4-octet server addresses (11-bit length).
MAX_INFO: Final = 2030
#: The largest window of the 3-bit sequence numbers.
MAX_WINDOW: Final = 7

#: Parameter identifiers of the SNRM/UA information field (Green Book 8.4.5.3.2).
FORMAT_IDENTIFIER: Final = 0x81
GROUP_IDENTIFIER: Final = 0x80
MAX_INFO_TRANSMIT: Final = 0x05
MAX_INFO_RECEIVE: Final = 0x06
WINDOW_TRANSMIT: Final = 0x07
WINDOW_RECEIVE: Final = 0x08

NDM: Final = "NDM"
NRM: Final = "NRM"
FRAME_REJECT: Final = "FRMR"

#: FRMR reasons (Green Book 8.4.3.4, the W, X, Y and Z bits).
W_UNKNOWN_CONTROL: Final = 0x01
Y_INFO_TOO_LONG: Final = 0x04
Z_INVALID_RECEIVE: Final = 0x08


class Parameters(NamedTuple):
    """Link parameters, from the point of view of the station that states them."""

    max_info_transmit: int = DEFAULT_MAX_INFO
    max_info_receive: int = DEFAULT_MAX_INFO
    window_transmit: int = DEFAULT_WINDOW
    window_receive: int = DEFAULT_WINDOW


def encode_parameters(parameters: Parameters) -> bytes:
    """The SNRM/UA information field: format 81, group 80, then each parameter
    (information field lengths in two octets, windows in four)."""
    body = b"".join((
        bytes((MAX_INFO_TRANSMIT, 2)) + parameters.max_info_transmit.to_bytes(2, "big"),
        bytes((MAX_INFO_RECEIVE, 2)) + parameters.max_info_receive.to_bytes(2, "big"),
        bytes((WINDOW_TRANSMIT, 4)) + parameters.window_transmit.to_bytes(4, "big"),
        bytes((WINDOW_RECEIVE, 4)) + parameters.window_receive.to_bytes(4, "big"),
    ))
    return bytes((FORMAT_IDENTIFIER, GROUP_IDENTIFIER, len(body))) + body


_FIELDS: Final = {MAX_INFO_TRANSMIT: "max_info_transmit", MAX_INFO_RECEIVE: "max_info_receive",
                  WINDOW_TRANSMIT: "window_transmit", WINDOW_RECEIVE: "window_receive"}


def decode_parameters(information: bytes) -> Parameters:
    """The parameters an SNRM or UA states; absent ones take their defaults. Raises DecodeError."""
    if not information:
        return Parameters()
    if len(information) < 3 or information[0] != FORMAT_IDENTIFIER or information[1] != GROUP_IDENTIFIER:
        raise DecodeError("the parameters do not start with format 81, group 80", 0)
    if information[2] != len(information) - 3:
        raise DecodeError(f"the group length {information[2]} disagrees with the {len(information) - 3} "
                          "octets that follow", 2)
    values: dict[str, int] = {}
    at = 3
    while at < len(information):
        if at + 2 > len(information):
            raise DecodeError("truncated: parameter identifier and length expected", at)
        identifier, length = information[at], information[at + 1]
        if identifier not in _FIELDS or length not in (1, 2, 4) or at + 2 + length > len(information):
            raise DecodeError(f"parameter 0x{identifier:02X} of {length} octets is not one of the link's", at)
        values[_FIELDS[identifier]] = int.from_bytes(information[at + 2:at + 2 + length], "big")
        at += 2 + length
    return Parameters(**values)


def negotiate(proposed: Parameters) -> Parameters | None:
    """The meter's parameters for a client's proposal (the client's transmit is
    the meter's receive): each the smaller of the proposal and what the meter
    can do; None when the proposal is unusable (a field below ``MIN_INFO``, a window of 0)."""
    if min(proposed.max_info_transmit, proposed.max_info_receive) < MIN_INFO:
        return None
    if min(proposed.window_transmit, proposed.window_receive) < 1:
        return None
    return Parameters(min(proposed.max_info_receive, MAX_INFO), min(proposed.max_info_transmit, MAX_INFO),
                      min(proposed.window_receive, MAX_WINDOW), min(proposed.window_transmit, MAX_WINDOW))


class Received(NamedTuple):
    """What one frame did: the frames to send back, an APDU the client
    completed (its LLC header removed) with the frames that carried it, and
    a link event for the record (``snrm``, ``disc``, ``frmr``, ``dm``) with its outcome."""

    replies: list[bytes]
    apdu: bytes | None = None
    request: bytes = b""
    event: str | None = None
    result: str | None = None


class SecondaryLink:
    """The meter's end of one HDLC link (module docstring)."""

    def __init__(self, local: Address, remote: Address, max_apdu_length: int, inactivity_timeout: float) -> None:
        self.local = local
        self.remote = remote
        self.max_apdu_length = max_apdu_length
        self.inactivity_timeout = inactivity_timeout
        self.state = NDM
        self.parameters = Parameters()
        self.send_state = self.receive_state = 0
        self.last_activity = 0.0
        self._segments = bytearray()
        self._request = bytearray()
        #: The answer in frames (pre-encoded: N(R) cannot change while the client only polls), the
        #: index of the first one not acknowledged, and of the first not sent.
        self._answer: list[bytes] = []
        self._base = self._acknowledged = self._sent = 0
        #: Where the control field is in the frames the meter sends (flag, format, addresses).
        self._control_at = 3 + local.size + remote.size
        self._busy = False
        self._polled = True
        self._reject = b""

    def _frame(self, control: int, information: bytes = b"", segmented: bool = False) -> bytes:
        return encode_frame(self.remote, self.local, control, information, segmented)

    def deadline(self) -> float | None:
        """When the link drops to NDM for inactivity; None when it is not connected or has no timeout."""
        if self.state == NDM or not self.inactivity_timeout:
            return None
        return self.last_activity + self.inactivity_timeout

    def expire(self, now: float) -> bool:
        """Drop to NDM when the inactivity timeout has passed (Green Book 8.4.5.3.3); True when it did."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return False
        self._disconnect()
        return True

    def _disconnect(self) -> None:
        self.state = NDM
        self._segments.clear()
        self._request.clear()
        self._start_answer([])

    def receive(self, frame: Frame, now: float) -> Received:
        """Act on one frame addressed to this link."""
        self.last_activity = now
        control = frame.control
        poll = bool(control & POLL_FINAL)
        unnumbered = control & ~POLL_FINAL
        if control & 3 == 3 and unnumbered == SNRM:
            return self._snrm(frame)
        if control & 3 == 3 and unnumbered == DISC:
            if self.state == NDM:
                return Received([self._frame(DM | POLL_FINAL)], request=frame.raw, event="disc", result="dm")
            self._disconnect()
            return Received([self._frame(UA | POLL_FINAL)], request=frame.raw, event="disc", result="success")
        if self.state == NDM:
            return Received([self._frame(DM | POLL_FINAL)] if poll else [], request=frame.raw, event="dm",
                            result="disconnected-mode")
        if self.state == FRAME_REJECT:
            return Received([self._reject] if poll else [], request=frame.raw, event="frmr", result="frame-reject")
        if not control & 1:
            return self._information(frame, poll)
        if control & 3 == 1 and control & 0x0F in (RR, RNR):
            if not self._acknowledge(control >> 5):
                return self._frame_reject(control, Z_INVALID_RECEIVE, frame.raw)
            self._busy = control & 0x0F == RNR
            return Received(self._transmit() if poll else [])
        if control & 3 == 3 and unnumbered == UI:
            return Received([self._frame(s_control(RR, self.receive_state, True))] if poll else [])
        return self._frame_reject(control, W_UNKNOWN_CONTROL, frame.raw)

    def _snrm(self, frame: Frame) -> Received:
        try:
            parameters = negotiate(decode_parameters(frame.information))
        except DecodeError:
            parameters = None
        if parameters is None:
            self._disconnect()
            return Received([self._frame(DM | POLL_FINAL)], request=frame.raw, event="snrm", result="dm")
        self.send_state = self.receive_state = 0
        self._disconnect()
        self.state = NRM
        self.parameters = parameters
        self._busy = False
        return Received([self._frame(UA | POLL_FINAL, encode_parameters(parameters))], request=frame.raw,
                        event="snrm", result="success")

    def _frame_reject(self, control: int, reason: int, raw: bytes) -> Received:
        """Answer FRMR (the rejected control field, V(S), V(R), the reason) and stay in that condition."""
        self.state = FRAME_REJECT
        state = (self.receive_state & 7) << 5 | (self.send_state & 7) << 1
        self._reject = self._frame(FRMR | POLL_FINAL, bytes((control, state, reason)))
        return Received([self._reject], request=raw, event="frmr", result="frame-reject")

    def _acknowledge(self, receive: int) -> bool:
        """Take N(R) as the client's acknowledgement: the answer's frames before it
        are done, and those from it on are sent again (go back N). False when it
        names a frame never sent."""
        for index in range(self._acknowledged, self._sent + 1):
            if (self._base + index) & 7 == receive & 7:
                self._acknowledged = self._sent = index
                self.send_state = (self._base + index) & 7
                return True
        return False

    def _information(self, frame: Frame, poll: bool) -> Received:
        control = frame.control
        if not self._acknowledge(control >> 5):
            return self._frame_reject(control, Z_INVALID_RECEIVE, frame.raw)
        if len(frame.information) > self.parameters.max_info_receive:
            return self._frame_reject(control, Y_INFO_TOO_LONG, frame.raw)
        # A new request: whatever was left of the last answer is abandoned.
        self._start_answer([])
        if (control >> 1) & 7 != self.receive_state:
            # Out of sequence (Green Book 8.4.3.4): dropped; the poll learns what the meter expects.
            return Received([self._frame(s_control(RR, self.receive_state, True))] if poll else [])
        self.receive_state = (self.receive_state + 1) & 7
        if len(self._segments) + len(frame.information) > self.max_apdu_length + len(LLC_REQUEST):
            self._segments.clear()
            self._request.clear()
            return self._frame_reject(control, Y_INFO_TOO_LONG, frame.raw)
        self._segments += frame.information
        self._request += frame.raw
        if frame.segmented:
            return Received([self._frame(s_control(RR, self.receive_state, True))] if poll else [])
        message, request = bytes(self._segments), bytes(self._request)
        self._segments.clear()
        self._request.clear()
        self._polled = poll
        if message[:3] != LLC_REQUEST:
            return Received([self._frame(s_control(RR, self.receive_state, True))] if poll else [],
                            request=request, event="malformed", result="malformed")
        return Received([], message[3:], request)

    def respond(self, apdu: bytes | None) -> tuple[list[bytes], bytes]:
        """Answer the APDU just delivered: the frames to send now, and all the
        frames of the answer (what the record shows). Without an APDU, RR. In
        NRM the meter sends only when polled: a request whose last frame had
        no poll bit gets its answer at the client's next RR."""
        if apdu is None:
            frame = self._frame(s_control(RR, self.receive_state, True))
            return ([frame] if self._polled else []), frame
        message = LLC_RESPONSE + apdu
        size, window = self.parameters.max_info_transmit, self.parameters.window_transmit
        pieces = [message[start:start + size] for start in range(0, len(message), size)]
        frames = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            control = i_control(self.send_state + index, self.receive_state, last or index % window == window - 1)
            frames.append(self._frame(control, piece, not last))
        self._start_answer(frames)
        return (self._transmit() if self._polled else []), b"".join(frames)

    def _start_answer(self, frames: list[bytes]) -> None:
        self._answer = frames
        self._base = self.send_state
        self._acknowledged = self._sent = 0

    def _transmit(self) -> list[bytes]:
        """Send the next window of the answer; RR when there is nothing (or the client is busy)."""
        if self._busy or self._sent >= len(self._answer):
            return [self._frame(s_control(RR, self.receive_state, True))]
        out = []
        while self._sent < len(self._answer):
            frame = self._answer[self._sent]
            out.append(frame)
            self._sent += 1
            self.send_state = (self.send_state + 1) & 7
            if frame[self._control_at] & POLL_FINAL:
                break
        return out

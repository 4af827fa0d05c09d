"""The TCP/UDP wrapper of IEC 62056-47 (Green Book 7.3.3, "wrapper" sublayer).

Every APDU travels behind an 8-byte header of four big-endian unsigned16
fields: version (always 0x0001), source wPort, destination wPort and the
length of the APDU that follows. Sans-I/O: ``WrapperDecoder`` turns a byte
stream cut anywhere into ``Wpdu`` tuples; ``encode_wpdu`` frames an APDU.
"""

import struct
from typing import Final, NamedTuple

from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

WRAPPER_VERSION: Final = 0x0001
"""The only wrapper protocol version (IEC 62056-47, Green Book 7.3.3.4)."""

HEADER_SIZE: Final = 8

_HEADER: Final = struct.Struct(">HHHH")
_VERSION: Final = struct.Struct(">H")
_HEADER_FIELDS: Final = ("version", "source-wport", "destination-wport", "length")


class FramingError(DecodeError):
    """A byte stream that is not a sequence of WPDUs; the connection cannot be resynchronised."""


class Wpdu(NamedTuple):
    """One wrapper PDU: its ports, the APDU it carries, and the whole frame as received."""

    source_wport: int
    destination_wport: int
    apdu: bytes
    raw: bytes


def encode_wpdu(source_wport: int, destination_wport: int, apdu: bytes) -> bytes:
    """Frame ``apdu`` behind a version-1 wrapper header (IEC 62056-47)."""
    try:
        header = _HEADER.pack(WRAPPER_VERSION, source_wport, destination_wport, len(apdu))
    except struct.error:
        raise ValueError(
            f"wPorts {source_wport}, {destination_wport} and APDU length {len(apdu)} "
            "must each fit in 16 bits"
        ) from None
    return header + apdu


def decode_wpdu(frame: bytes, tracer: Tracer | None = None) -> Wpdu:
    """Decode one whole WPDU, e.g. a frame from a capture (Green Book 7.3.3.4).

    A tracer hears the group ``wrapper-header`` (``version``, ``source-wport``,
    ``destination-wport``, ``length``), then the octets of the APDU that are
    there as ``apdu``. Raises FramingError for a version other than 0x0001, or
    an APDU shorter or longer than the header's length.
    """
    end = len(frame)
    if tracer is not None:
        tracer.enter("wrapper-header", 0)
    fields = []
    for index, name in enumerate(_HEADER_FIELDS):
        at = 2 * index
        if at + 2 > end:
            raise FramingError(f"truncated: wrapper {name} expected", at)
        value = _VERSION.unpack_from(frame, at)[0]
        if tracer is not None:
            tracer.field(name, at, 2, value)
        if index == 0 and value != WRAPPER_VERSION:
            raise FramingError(f"unsupported wrapper version 0x{value:04X}", 0)
        fields.append(value)
    _, source, destination, length = fields
    stop = HEADER_SIZE + length
    if tracer is not None:
        tracer.leave(HEADER_SIZE)
        tracer.field("apdu", HEADER_SIZE, min(stop, end) - HEADER_SIZE, frame[HEADER_SIZE:stop])
    if stop > end:
        raise FramingError(f"the wrapper announces {length} octets of APDU but {end - HEADER_SIZE} follow", end)
    if stop < end:
        raise FramingError(f"{end - stop} octets after the {length}-octet APDU the wrapper announces", stop)
    return Wpdu(source, destination, frame[HEADER_SIZE:], frame)


#: A ``Wpdu`` built in one step (a named tuple's own __new__ is a Python call).
_new_tuple = tuple.__new__


class WrapperDecoder:
    """Incremental WPDU decoder: ``feed`` bytes as they arrive, get the complete WPDUs.

    Frames may be split at any byte or arrive several in one read. A version
    other than 0x0001, or a declared APDU length above ``max_apdu_length``,
    raises ``FramingError`` as soon as the header shows it, before the APDU is
    buffered, so memory stays bounded by one frame. Frames decoded from the
    same read before the bad header are dropped with the connection, which
    the caller closes; the decoder then raises the same error on every feed.
    """

    __slots__ = ("_buffer", "_consumed", "_error", "max_apdu_length")

    def __init__(self, max_apdu_length: int = 0xFFFF) -> None:
        self.max_apdu_length = max_apdu_length
        self._buffer = bytearray()
        self._consumed = 0
        self._error: FramingError | None = None

    def feed(self, data: bytes) -> list[Wpdu]:
        """Add ``data`` to the stream and return every WPDU it completes, in order."""
        if self._error is not None:
            raise self._error
        # Parse straight from ``data`` when nothing is pending (the usual case of one
        # request per read); otherwise from the buffer. ``pos`` walks forward, and the
        # consumed prefix is dropped once per feed, so a read of n frames costs O(n).
        pending = self._buffer
        if pending:
            pending += data
            buf: bytes | bytearray = pending
        else:
            buf = data
            if len(data) >= HEADER_SIZE:  # one whole frame, first
                version, source, destination, length = _HEADER.unpack_from(data)
                if length + HEADER_SIZE == len(data) and version == WRAPPER_VERSION and length <= self.max_apdu_length:
                    self._consumed += len(data)
                    return [_new_tuple(Wpdu, (source, destination, data[HEADER_SIZE:], data))]
        end = len(buf)
        pos = 0
        frames: list[Wpdu] = []
        limit = self.max_apdu_length
        unpack = _HEADER.unpack_from
        while end - pos >= HEADER_SIZE:
            version, source, destination, length = unpack(buf, pos)
            if version != WRAPPER_VERSION:
                self._check_version(version, pos)
            if length > limit:
                self._fail(f"WPDU declares an APDU of {length} bytes, above the maximum {limit}", pos + 6)
            stop = pos + HEADER_SIZE + length
            if stop > end:
                break
            raw = buf[pos:stop] if buf is data else bytes(buf[pos:stop])
            frames.append(_new_tuple(Wpdu, (source, destination, raw[HEADER_SIZE:], raw)))
            pos = stop
        else:
            if end - pos >= 2:  # a header begun: its version is known already
                self._check_version(_VERSION.unpack_from(buf, pos)[0], pos)
        self._consumed += pos
        if buf is pending:
            del pending[:pos]
        elif pos < end:
            pending += memoryview(data)[pos:]
        return frames

    def _check_version(self, version: int, pos: int) -> None:
        if version != WRAPPER_VERSION:
            self._fail(f"unsupported wrapper version 0x{version:04X}", pos)

    def _fail(self, reason: str, pos: int) -> None:
        self._error = FramingError(reason, self._consumed + pos)
        raise self._error

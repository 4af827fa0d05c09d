"""Capture records as bytes, for the channels between the lab's processes.

A compact, self-describing-enough binary layout (no pickle: a channel never
runs code it receives): per record, a fixed header of numbers, then every
text and bytes field with a 32-bit length (``0xFFFFFFFF`` for None).
``decode_exchanges`` checks every length before it copies, and raises
``DecodeError`` on anything short or left over.
"""

from __future__ import annotations

import math
import struct
from typing import Iterable

from ..errors import DecodeError
from .capture import Exchange

#: sequence, time_req, time_res (NaN for None), client_sap, server_sap (-1 for None), ciphered.
HEADER = struct.Struct(">QddiiB")
LENGTH = struct.Struct(">I")
NONE = 0xFFFFFFFF
#: The variable fields of an Exchange, in their order in the layout.
TEXTS = ("meter", "peer", "local", "kind", "result", "transport")
BLOBS = ("request", "response", "request_apdu", "response_apdu")
#: The optional text fields, after the blobs (None kept as None).
OPTIONAL_TEXTS = ("scenario",)


def put(out: bytearray, value: bytes | None) -> None:
    """Append one optional bytes field with its length."""
    if value is None:
        out += LENGTH.pack(NONE)
    else:
        out += LENGTH.pack(len(value))
        out += value


def get(data: memoryview, offset: int) -> tuple[bytes | None, int]:
    """One optional bytes field at ``offset``; the field and the next offset."""
    if offset + LENGTH.size > len(data):
        raise DecodeError("record field length truncated", offset)
    (length,) = LENGTH.unpack_from(data, offset)
    offset += LENGTH.size
    if length == NONE:
        return None, offset
    if offset + length > len(data):
        raise DecodeError(f"record field of {length} bytes truncated", offset)
    return bytes(data[offset:offset + length]), offset + length


def encode_exchange(out: bytearray, exchange: Exchange) -> None:
    """Append one exchange to ``out``."""
    out += HEADER.pack(exchange.sequence, exchange.time_req,
                       math.nan if exchange.time_res is None else exchange.time_res,
                       -1 if exchange.client_sap is None else exchange.client_sap,
                       -1 if exchange.server_sap is None else exchange.server_sap, exchange.ciphered)
    for name in TEXTS:
        put(out, getattr(exchange, name).encode())
    for name in BLOBS:
        put(out, getattr(exchange, name))
    for name in OPTIONAL_TEXTS:
        text = getattr(exchange, name)
        put(out, None if text is None else text.encode())


def decode_exchange(data: memoryview, offset: int) -> tuple[Exchange, int]:
    """The exchange at ``offset`` and the offset after it."""
    if offset + HEADER.size > len(data):
        raise DecodeError("record header truncated", offset)
    sequence, time_req, time_res, client_sap, server_sap, ciphered = HEADER.unpack_from(data, offset)
    offset += HEADER.size
    fields: dict[str, object] = {}
    for name in TEXTS:
        value, offset = get(data, offset)
        if value is None:
            raise DecodeError(f"record field {name} missing", offset)
        try:
            fields[name] = value.decode()
        except UnicodeDecodeError:
            raise DecodeError(f"record field {name} is not UTF-8", offset) from None
    for name in BLOBS:
        fields[name], offset = get(data, offset)
    for name in OPTIONAL_TEXTS:
        value, offset = get(data, offset)
        try:
            fields[name] = None if value is None else value.decode()
        except UnicodeDecodeError:
            raise DecodeError(f"record field {name} is not UTF-8", offset) from None
    if fields["request"] is None:
        raise DecodeError("record without a request field", offset)
    return Exchange(sequence=sequence, time_req=time_req, time_res=None if math.isnan(time_res) else time_res,
                    client_sap=None if client_sap < 0 else client_sap,
                    server_sap=None if server_sap < 0 else server_sap, ciphered=bool(ciphered),
                    **fields), offset  # type: ignore[arg-type]


def encode_exchanges(exchanges: Iterable[Exchange]) -> bytes:
    out = bytearray()
    for exchange in exchanges:
        encode_exchange(out, exchange)
    return bytes(out)


def decode_exchanges(data: bytes) -> list[Exchange]:
    view, offset, exchanges = memoryview(data), 0, []
    while offset < len(view):
        exchange, offset = decode_exchange(view, offset)
        exchanges.append(exchange)
    return exchanges

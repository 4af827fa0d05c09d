"""Entry points of the dissector: a wrapper frame or a bare APDU to a field tree.

Never raises on malformed input: what cannot be parsed ends in an "unparsed"
field whose ``error`` says where and why (see ``fields.Walk.region``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from dlmstw.dissector import acse, ciphered, xdlms
from dlmstw.dissector.ciphered import Keys, apdu_name
from dlmstw.dissector.fields import Field, Names, Walk
from dlmstw.enums import ApduTag
from dlmstw.errors import DecodeError
from dlmstw.framing.wrapper import WRAPPER_VERSION
from dlmstw.security.ciphering import PLAIN_TAG

_T = ApduTag
_PARSERS: Final[dict[int, Callable[[Walk], str]]] = {
    _T.AARQ: acse.aarq,
    _T.AARE: acse.aare,
    _T.RLRQ: acse.rlrq,
    _T.RLRE: acse.rlre,
    _T.INITIATE_REQUEST: acse.initiate_request,
    _T.INITIATE_RESPONSE: acse.initiate_response,
    _T.CONFIRMED_SERVICE_ERROR: acse.confirmed_service_error,
    _T.GET_REQUEST: xdlms.service,
    _T.SET_REQUEST: xdlms.service,
    _T.ACTION_REQUEST: xdlms.service,
    _T.GET_RESPONSE: xdlms.service,
    _T.SET_RESPONSE: xdlms.service,
    _T.ACTION_RESPONSE: xdlms.service,
    _T.EXCEPTION_RESPONSE: xdlms.exception_response,
    _T.EVENT_NOTIFICATION_REQUEST: xdlms.event_notification_request,
    _T.DATA_NOTIFICATION: xdlms.data_notification,
    _T.GENERAL_BLOCK_TRANSFER: xdlms.general_block_transfer,
    _T.GENERAL_GLO_CIPHERING: ciphered.general_glo_ded,
    _T.GENERAL_DED_CIPHERING: ciphered.general_glo_ded,
    _T.GENERAL_CIPHERING: ciphered.general_ciphering,
    _T.GENERAL_SIGNING: ciphered.general_signing,
    **{tag: ciphered.glo_ded for tag in PLAIN_TAG},
}
"""First octet of an APDU -> its parser (Green Book 9.5 APDU tags)."""


def _apdu(w: Walk) -> str:
    tag = w.peek("APDU tag")
    parser = _PARSERS.get(tag)
    if parser is None:
        raise DecodeError(f"unknown APDU tag 0x{tag:02X}", w.pos)
    return parser(w)


def dissect_apdu_at(w: Walk, stop: int) -> Field:
    """Dissect the APDU at the walk's position, up to ``stop``, as one field named after
    its tag ("aarq", "get-request", "glo-get-request", ...; "apdu" for an unknown tag);
    the walk moves to ``stop``."""
    tag = w.buf[w.pos] if w.pos < stop else None
    name = apdu_name(tag) if tag in _PARSERS else "apdu"
    return w.region(name, stop, _apdu)


def dissect_apdu(apdu: bytes, keys: Keys | None = None, names: Names | None = None) -> Field:
    """The field tree of a bare APDU (no wrapper header); offsets count from its first octet."""
    w = Walk(apdu, dissect_apdu_at, keys, names)
    return dissect_apdu_at(w, len(apdu))


def _wport(port: int) -> str:
    return f"{port} (0x{port:04X})"


def _frame(w: Walk) -> str:
    """Wrapper header (IEC 62056-47, Green Book 7.3.3.4), then the APDU it carries."""
    with w.group("wrapper-header") as header:
        version = w.uint("version", 2, lambda v: f"{v} (wrapper version 1)" if v == WRAPPER_VERSION else str(v))
        if version != WRAPPER_VERSION:
            raise DecodeError(f"unsupported wrapper version 0x{version:04X}", w.pos - 2)
        source = w.uint("source-wport", 2, _wport)
        destination = w.uint("destination-wport", 2, _wport)
        length = w.uint("length", 2, lambda n: f"{n} octets of APDU")
        header.meaning = f"wPort {source} -> wPort {destination}, {length} octets"
    follow = w.left()
    apdu = dissect_apdu_at(w, w.pos + min(length, follow))
    if length > follow:
        raise DecodeError(f"the wrapper announces {length} octets of APDU but {follow} follow", w.pos)
    if w.pos < w.end:
        raise DecodeError(f"{w.end - w.pos} octets after the {length}-octet APDU the wrapper announces", w.pos)
    return f"wrapper frame, wPort {source} -> wPort {destination}: {apdu.meaning}"


def dissect_frame(frame: bytes, keys: Keys | None = None, names: Names | None = None) -> Field:
    """The field tree of a wrapper frame (8-octet header, then one APDU).

    ``keys`` decipher ciphered APDUs (their ``system_title`` is the sender's);
    ``names`` maps a logical name to the object's name in the meter's model.
    """
    w = Walk(frame, dissect_apdu_at, keys, names)
    return w.region("frame", len(frame), _frame)

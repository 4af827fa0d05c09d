"""The packet log record of DESIGN.md ("Packet log record (contract)"): one JSON
object per captured exchange, following the paper's figure 4. Sans-I/O."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from dlmstw.dissector.dissect import dissect_frame
from dlmstw.dissector.fields import Names

if TYPE_CHECKING:
    from dlmstw.monitor.capture import Exchange


def iso_time(t: float) -> str:
    """POSIX seconds as ISO 8601 UTC with microseconds, e.g. "2026-11-24T06:12:59.071760+00:00"."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="microseconds")


def _hex(raw: bytes | None) -> str | None:
    return None if raw is None else raw.hex().upper()


def packet_record(exchange: Exchange, describe: bool = True, names: Names | None = None) -> dict[str, Any]:
    """The packet log record of ``exchange``: the DESIGN.md contract fields plus
    ``sequence``, ``local`` and ``transport``; JSON-serialisable with the stdlib ``json``.

    With ``describe`` the request and response frames are dissected, a
    ciphered one showing the plain APDU the meter read or answered
    (``request_apdu``, ``response_apdu``); an empty frame (connection events)
    has no description.
    """
    describing = describe and bool(exchange.request)
    return {
        "sequence": exchange.sequence,
        "time_req": iso_time(exchange.time_req),
        "time_res": None if exchange.time_res is None else iso_time(exchange.time_res),
        "meter": exchange.meter,
        "peer": exchange.peer,
        "local": exchange.local,
        "transport": exchange.transport,
        "client_sap": exchange.client_sap,
        "server_sap": exchange.server_sap,
        "request": exchange.request.hex().upper(),
        "response": _hex(exchange.response),
        "request_apdu": _hex(exchange.request_apdu),
        "response_apdu": _hex(exchange.response_apdu),
        "kind": exchange.kind,
        "ciphered": exchange.ciphered,
        "description_request": (dissect_frame(exchange.request, names=names, plain=exchange.request_apdu).to_json()
                                if describing else None),
        "description_response": (dissect_frame(exchange.response, names=names,
                                               plain=exchange.response_apdu).to_json()
                                 if describe and exchange.response else None),
        "result": exchange.result,
        "scenario": exchange.scenario,
    }

"""How the client prints what it read and what a campaign measured: JSON
documents and readable text.

Values print decoded (date-times as ISO 8601, printable octet-strings as
text, others as hex); a register's value with its scaler applied and its
unit's symbol (Blue Book 4.3.2); a profile buffer as rows under column names
taken from the installed object models (``Voltage L1 [V]``), scaled unless
``raw``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TextIO

from dlmstw.client.campaign import PHASES
from dlmstw.client.readout import Reading, ScalerUnit, scaler_unit_of
from dlmstw.client.reading import column_targets
from dlmstw.codec.axdr import CosemDate, CosemDateTime, CosemTime, Data
from dlmstw.codec.obis import format_obis
from dlmstw.enums import DATA_ACCESS_RESULT_NAMES, UNIT_SYMBOLS, DataAccessResult, DataType
from dlmstw.plugins.registry import installed


def _is_datetime(octets: bytes) -> bool:
    """12 octets that make a calendar date-time (Blue Book 4.1.6.1), e.g. the Clock's time attribute."""
    try:
        CosemDateTime.from_bytes(octets).to_datetime()
    except ValueError:
        return False
    return True


def plain(value: Data) -> Any:
    """A JSON value for a decoded Data: date-times as ISO 8601, printable octet-strings as text, else hex."""
    kind, payload = value
    if kind in (DataType.ARRAY, DataType.STRUCTURE):
        return [plain(item) for item in payload]
    if kind == DataType.COMPACT_ARRAY:
        return [plain(item) for item in payload.elements]
    if kind == DataType.BIT_STRING:
        return payload.bits
    if kind == DataType.DATE_TIME or (kind == DataType.OCTET_STRING and len(payload) == 12 and _is_datetime(payload)):
        return iso(CosemDateTime.from_bytes(payload))
    if kind == DataType.DATE:
        return _partial_iso(lambda: CosemDate.from_bytes(payload).to_date().isoformat(), payload)
    if kind == DataType.TIME:
        return _partial_iso(lambda: CosemTime.from_bytes(payload).to_time().isoformat(), payload)
    if kind in (DataType.OCTET_STRING, DataType.VISIBLE_STRING):
        return payload.decode("ascii") if payload.isascii() and payload.decode("ascii").isprintable() else payload.hex()
    return payload


def iso(stamp: CosemDateTime) -> str:
    """ISO 8601 text of a COSEM date-time, or its hex when parts are not specified."""
    return _partial_iso(lambda: stamp.to_datetime().isoformat(), stamp.to_bytes())


def _partial_iso(render: Callable[[], str], octets: bytes) -> str:
    try:
        return render()
    except ValueError:
        return octets.hex()


def scaled(raw: int, scaler: int) -> int | float:
    """raw × 10^scaler (Blue Book 4.3.2), exact in decimal before it becomes a float."""
    return raw * 10**scaler if scaler >= 0 else float(Decimal(raw).scaleb(scaler))


def _scalable(cell: Any) -> bool:
    return isinstance(cell, int) and not isinstance(cell, bool)


def label(class_id: int | None, logical_name: bytes, attribute_id: int) -> str:
    """``CLASS/OBIS:ATTR``."""
    prefix = "" if class_id is None else f"{class_id}/"
    return f"{prefix}{format_obis(logical_name)}:{attribute_id}"


@functools.cache
def object_names() -> dict[bytes, str]:
    """logical name -> description of every object of the installed object sets (first set wins)."""
    registry = installed()
    names: dict[bytes, str] = {}
    for object_set in registry.object_sets.values():
        for obj in object_set.objects(registry.classes):
            if obj.description:
                names.setdefault(obj.logical_name, obj.description)
    return names


def column_name(logical_name: bytes, attribute_id: int, scaler_unit: ScalerUnit | None) -> str:
    """A column header: the object's name (or its OBIS:ATTR), and ``[unit]`` when it has one."""
    name = object_names().get(logical_name) or f"{format_obis(logical_name)}:{attribute_id}"
    symbol = UNIT_SYMBOLS.get(scaler_unit[1], "") if scaler_unit is not None else ""
    return f"{name} [{symbol}]" if symbol else name


def result_name(result: DataAccessResult | None) -> str:
    return "no value" if result is None else DATA_ACCESS_RESULT_NAMES[result]


def describe(reading: Reading, raw: bool = False) -> dict[str, Any]:
    """The JSON form of one reading; ``error`` holds a data-access-result name or a problem."""
    target = reading.target
    document: dict[str, Any] = {"target": label(reading.class_id, target.logical_name, target.attribute_id),
                                "class_id": reading.class_id, "logical_name": format_obis(target.logical_name),
                                "attribute_id": target.attribute_id}
    name = object_names().get(target.logical_name)
    if name:
        document["name"] = name
    value = reading.value
    if reading.problem is not None:
        document["error"] = reading.problem
        return document
    if isinstance(value, DataAccessResult) or value is None:
        document["error"] = result_name(value)
        document["data_access_result"] = result_name(value)
        return document
    scaler_unit = scaler_unit_of(reading.scaler_unit)
    if scaler_unit is not None and _scalable(value[1]):
        scaler, unit = scaler_unit
        document.update(value=value[1] if raw else scaled(value[1], scaler), raw=value[1], scaler=scaler,
                        unit=UNIT_SYMBOLS.get(unit, str(unit)))
        return document
    capture = reading.capture_objects
    if capture is not None and not isinstance(capture, DataAccessResult) and value[0] == DataType.ARRAY:
        return _describe_profile(document, reading, capture, value, raw)
    document["value"] = plain(value)
    return document


def _describe_profile(document: dict[str, Any], reading: Reading, capture: Data, value: Data,
                      raw: bool) -> dict[str, Any]:
    targets = column_targets(capture)
    scalers = reading.column_scalers or (None,) * len(targets)
    document["columns"] = [
        {"target": label(class_id, logical_name, attribute_id),
         "name": column_name(logical_name, attribute_id, scaler),
         **({} if scaler is None else {"scaler": scaler[0], "unit": UNIT_SYMBOLS.get(scaler[1], str(scaler[1]))})}
        for (class_id, logical_name, attribute_id), scaler in zip(targets, scalers)]
    rows = plain(value)
    if not raw:
        rows = [[scaled(cell, scaler[0]) if scaler is not None and _scalable(cell) else cell
                 for cell, scaler in zip(row, scalers)] for row in rows]
    document["rows"] = rows
    if reading.window is not None:
        start, end = reading.window
        document["window"] = {"from": None if start is None else iso(start), "to": None if end is None else iso(end)}
        if not rows:
            held = reading.held
            document["profile_holds"] = None if held is None else {"from": plain(held[0]), "to": plain(held[1])}
    return document


def read_text(document: dict[str, Any], out: TextIO) -> None:
    """One reading as text: ``TARGET  value unit``, or a profile's header and rows."""
    head = document["target"]
    if "error" in document:
        out.write(f"{head}  !! {document['error']}\n")
    elif "rows" in document:
        rows = document["rows"]
        if not rows and "window" in document:
            window = document["window"]
            holds = document.get("profile_holds")
            where = ("the profile holds no entries" if holds is None
                     else f"the profile holds {holds['from']} to {holds['to']}")
            out.write(f"{head}  0 rows from {window['from'] or 'the first entry'} to "
                      f"{window['to'] or 'the last entry'}: {where}\n")
            return
        out.write(f"{head}  {len(rows)} rows\n")
        out.write("  " + " | ".join(column["name"] for column in document["columns"]) + "\n")
        out.writelines("  " + " | ".join(str(cell) for cell in row) + "\n" for row in rows)
    elif "unit" in document:
        unit = f" {document['unit']}" if document["unit"] else ""
        out.write(f"{head}  {document['value']}{unit}\n")
    else:
        out.write(f"{head}  {json.dumps(document['value'])}\n")


# -- campaigns ----------------------------------------------------------------

_FIGURES = ("min", "p50", "p90", "p99", "max", "mean")


def campaign_text(kpis: dict[str, Any], out: TextIO, meters_shown: int = 20) -> None:
    """The campaign's KPIs as a readable table."""
    repeat = (f"{kpis['repetitions']} repetitions" if kpis["repetitions"] is not None
              else f"for {kpis['duration_s']} s")
    out.write(f"{kpis['meters']} meters, {kpis['clients_per_meter']} client(s) each, {repeat}, concurrency "
              f"{kpis['concurrency']}, {len(kpis['attributes'])} attribute(s) an association\n")
    if kpis["interrupted"]:
        out.write("interrupted (Ctrl-C): the figures cover the attempts made until then\n")
    out.write(f"elapsed {kpis['elapsed_s']:.2f} s: {kpis['meters_per_s']} meters/s, "
              f"{kpis['attempts_per_s']} attempts/s\n")
    out.write(f"attempts {kpis['attempts']}, successes {kpis['successes']}, failures {kpis['failures']} "
              f"({kpis['failure_rate']:.2%}), retries {kpis['retries']}, rows {kpis['rows']}, "
              f"bytes sent {kpis['bytes_sent']}, received {kpis['bytes_received']}\n")
    times = kpis["acquisition_time_ms"]
    out.write(f"{'acquisition time (ms)':<22}" + "".join(f"{name:>10}" for name in _FIGURES) + "\n")
    for phase in ("total", *PHASES):
        figures = times[phase]
        cells = ("".join(f"{figures[name]:>10.1f}" for name in _FIGURES) if figures is not None
                 else "   no successful association")
        out.write(f"  {phase:<20}{cells}\n")
    if kpis["failures_by_name"]:
        out.write("failures by name\n")
        out.writelines(f"  {name:<50}{count:>8}\n" for name, count in kpis["failures_by_name"].items())
    failing = [meter for meter in kpis["per_meter"] if meter["failures"]]
    if failing:
        out.write(f"meters with failures: {len(failing)}\n")
        for meter in failing[:meters_shown]:
            names = ", ".join(f"{name} {count}" for name, count in meter["failures_by_name"].items())
            out.write(f"  {meter['meter']}: {meter['failures']}/{meter['attempts']} failed ({names})\n")
        if len(failing) > meters_shown:
            out.write(f"  ... and {len(failing) - meters_shown} more (--json or --csv has them all)\n")

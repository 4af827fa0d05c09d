"""A meter's live values for the console's detail page, read through the
meter's own COSEM objects at one instant: the Clock's time (Blue Book
4.5.1), each Register's value with its scaler and unit (4.3.2), and the last
rows of its load profile by entry descriptor (4.3.6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..codec.axdr import CosemDateTime, Data, decode_data
from ..codec.obis import format_obis, parse_obis
from ..cosem.base import Context, CosemObject
from ..enums import UNIT_SYMBOLS, DataAccessResult, DataType
from .meter import MeterFactory

CLOCK = parse_obis("0.0.1.0.0.255")
LOAD_PROFILE = parse_obis("1.0.99.1.0.255")
REGISTER_CLASS = 3
#: Classes whose value (attribute 2) has a scaler_unit in attribute 3: Register, Extended register (4.3.2, 4.3.3).
SCALED_CLASSES = (3, 4)
PROFILE_CLASS = 7
#: Profile rows the page shows, the newest last.
PROFILE_ROWS = 5
ENTRY_DESCRIPTOR = 2


def _read(obj: CosemObject, attribute_id: int, ctx: Context, selector: int = 0,
          parameters: Data | None = None) -> Data | None:
    """One attribute's value, decoded; None when the object does not give it."""
    if selector:
        encoded = obj.interface_class.get_selective(obj, attribute_id, selector, parameters, ctx)
    else:
        encoded = obj.interface_class.get(obj, attribute_id, ctx)
    if isinstance(encoded, DataAccessResult):
        return None
    return decode_data(encoded if isinstance(encoded, bytes) else b"".join(encoded))[0]


def _cell(value: Data) -> Any:
    """A JSON cell: a number, a date-time as ISO 8601, other octets as hex."""
    kind, payload = value
    if isinstance(payload, bytes):
        if kind in (DataType.OCTET_STRING, DataType.DATE_TIME) and len(payload) == 12:
            try:
                return CosemDateTime.from_bytes(payload).to_datetime().isoformat()
            except ValueError:
                pass
        return payload.hex().upper()
    if isinstance(payload, list):
        return [_cell(item) for item in payload]
    return payload if isinstance(payload, (int, float, str, bool)) or payload is None else str(payload)


def _scaled(raw: Any, scaler_unit: Data | None) -> Any:
    """raw × 10^scaler (Blue Book 4.3.2), exact in decimal before it becomes a float."""
    if scaler_unit is None or not isinstance(raw, int) or isinstance(raw, bool):
        return raw
    scaler = scaler_unit[1][0][1]
    return raw * 10**scaler if scaler >= 0 else float(Decimal(raw).scaleb(scaler))


def _unit(scaler_unit: Data | None) -> str:
    """The symbol of a scaler_unit's unit ("" for none, or a count)."""
    return "" if scaler_unit is None else UNIT_SYMBOLS.get(scaler_unit[1][1][1], "")


def meter_values(factory: MeterFactory) -> dict[str, Any]:
    """The clock, the registers and the last load-profile rows of ``factory``'s meter, now."""
    meter = factory.meter
    model = factory.directory.model
    ctx = Context(meter, None, model, meter.now())
    values: dict[str, Any] = {"clock": None, "registers": [], "profile": None}
    clock = model.objects.get(CLOCK)
    if clock is not None:
        time = _read(clock, 2, ctx)
        values["clock"] = None if time is None else _cell(time)
    for obj in model.objects.values():
        if obj.interface_class.class_id != REGISTER_CLASS:
            continue
        raw = _read(obj, 2, ctx)
        if raw is None:
            continue
        scaler_unit = _read(obj, 3, ctx)
        values["registers"].append({"obis": format_obis(obj.logical_name), "name": obj.description,
                                    "value": _cell((raw[0], _scaled(raw[1], scaler_unit))),
                                    "unit": _unit(scaler_unit)})
    profile = model.objects.get(LOAD_PROFILE)
    if profile is not None:
        values["profile"] = _profile(profile, ctx)
    return values


def _profile(obj: CosemObject, ctx: Context) -> dict[str, Any] | None:
    """The load profile's columns and its last ``PROFILE_ROWS`` rows."""
    entries = _read(obj, 7, ctx)
    columns = _read(obj, 3, ctx)
    if entries is None or columns is None:
        return None
    last = int(entries[1])
    descriptor: Data = (DataType.STRUCTURE, [(DataType.DOUBLE_LONG_UNSIGNED, max(1, last - PROFILE_ROWS + 1)),
                                             (DataType.DOUBLE_LONG_UNSIGNED, last),
                                             (DataType.LONG_UNSIGNED, 1), (DataType.LONG_UNSIGNED, 0)])
    rows = _read(obj, 2, ctx, ENTRY_DESCRIPTOR, descriptor) if last else (DataType.ARRAY, [])
    names, scalers = [], []
    for column in columns[1]:
        class_id, logical_name, attribute_id = (item[1] for item in column[1][:3])
        described = ctx.directory.objects.get(logical_name)
        scaler_unit = (_read(described, 3, ctx) if described is not None and class_id in SCALED_CLASSES
                       and attribute_id == 2 else None)
        unit = _unit(scaler_unit)
        name = (described.description if described is not None and described.description
                else f"{class_id}/{format_obis(logical_name)}:{attribute_id}")
        names.append(f"{name} [{unit}]" if unit else name)
        scalers.append(scaler_unit)
    return {"obis": format_obis(obj.logical_name), "columns": names,
            "rows": [] if rows is None else [[_cell((cell[0], _scaled(cell[1], scaler_unit)))
                                              for cell, scaler_unit in zip(row[1], scalers)] for row in rows[1]]}

"""Dissection of the COSEM ``Data`` CHOICE (Green Book 9.5, Blue Book 4.1.5 and 4.1.6.1).

Values of simple types are decoded by ``dlmstw.codec.axdr.decode_data``; this
module walks only the containers (array, structure, compact-array) to place
each element, and names the parts of every value: type tag, length, value.
Arrays show their first :data:`SHOWN_ELEMENTS` elements in full and one
summary field for the rest, so a profile buffer of thousands of rows stays small.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Final

from dlmstw.codec.axdr import MAX_DEPTH, BitString, CompactArray, CosemDate, CosemDateTime, CosemTime, decode_data
from dlmstw.dissector.fields import Field, Node, Walk
from dlmstw.dissector.names import class_name, logical_name
from dlmstw.enums import DataType, Unit, named
from dlmstw.errors import DecodeError

SHOWN_ELEMENTS: Final = 64
"""Elements of one array (or compact-array) shown in full before the summary field."""

_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_STRINGS: Final = frozenset((DataType.OCTET_STRING, DataType.VISIBLE_STRING, DataType.UTF8_STRING,
                             DataType.BIT_STRING))
_CLOCK_STATUS_BITS: Final = ((0x01, "invalid value"), (0x02, "doubtful value"), (0x04, "different clock base"),
                             (0x08, "invalid clock status"), (0x80, "daylight saving active"))


@dataclass(frozen=True, slots=True)
class Shape:
    """What the standard calls the parts of a known Data value: ``label`` names
    the value, ``members`` the members of a structure, ``element`` the
    elements of an array; ``kind`` asks for a special reading ("obis" for a
    logical name, "class" for a class_id, "unit" for a Blue Book unit)."""

    label: str | None = None
    members: tuple[Shape, ...] = ()
    element: Shape | None = None
    kind: str = ""


CAPTURE_OBJECT: Final = Shape(members=(Shape("class_id", kind="class"), Shape("logical_name", kind="obis"),
                                       Shape("attribute_index"), Shape("data_index")))
"""capture_object_definition (Blue Book 4.3.6, attribute 3)."""

SELECTIVE_ACCESS: Final[dict[int, tuple[str, Shape]]] = {
    1: ("range_descriptor", Shape(members=(Shape("restricting_object", CAPTURE_OBJECT.members),
                                           Shape("from_value"), Shape("to_value"),
                                           Shape("selected_values", element=CAPTURE_OBJECT)))),
    2: ("entry_descriptor", Shape(members=(Shape("from_entry"), Shape("to_entry"), Shape("from_selected_value"),
                                           Shape("to_selected_value")))),
}
"""access-selector -> its name and parameters, for Profile generic buffers (Blue Book 4.3.6)."""

SCALER_UNIT: Final = Shape(members=(Shape("scaler"), Shape("unit", kind="unit")))
"""scaler_unit ::= structure {scaler integer, unit enum} (Blue Book 4.3.2)."""

ATTRIBUTE_SHAPES: Final[dict[tuple[int, int], Shape]] = {
    (3, 3): SCALER_UNIT,
    (4, 3): SCALER_UNIT,
    (5, 4): SCALER_UNIT,
    (7, 3): Shape(element=CAPTURE_OBJECT),
}
"""(class_id, attribute_id) -> the shape of the attribute's value, where it helps."""


def type_name(tag: int) -> str:
    """ "double-long-unsigned" for 6 (Blue Book 4.1.5)."""
    return named(DataType, tag) or f"unknown type {tag}"


# ---------------------------------------------------------------------------
# Value texts


def printable(raw: bytes) -> str | None:
    """The octets as ASCII when every one is printable, else None."""
    if raw and all(0x20 <= octet < 0x7F for octet in raw):
        return raw.decode("ascii")
    return None


def octets_text(raw: bytes) -> str:
    """Hex, with the ASCII reading when printable: '41424344 ("ABCD")'."""
    text = printable(raw)
    return f'{raw.hex().upper()} ("{text}")' if text is not None else raw.hex().upper() or "(empty)"


def _two(value: int | None) -> str:
    return "**" if value is None else f"{value:02d}"


def _date_text(year: int | None, month: int | None, day: int | None) -> str:
    month_text = {0xFD: "DST-end", 0xFE: "DST-begin"}.get(month or 0, _two(month))
    day_text = {0xFD: "2nd-last", 0xFE: "last"}.get(day or 0, _two(day))
    return f"{'****' if year is None else f'{year:04d}'}-{month_text}-{day_text}"


def _time_text(hour: int | None, minute: int | None, second: int | None, hundredths: int | None) -> str:
    return f"{_two(hour)}:{_two(minute)}:{_two(second)}.{_two(hundredths)}"


def _weekday(day_of_week: int | None) -> str:
    if day_of_week is None:
        return "day of week not specified"
    return _WEEKDAYS[day_of_week - 1]


def clock_status_text(status: int | None) -> str:
    """Clock status bits (Blue Book 4.1.6.1)."""
    if status is None:
        return "status not specified"
    flags = [text for bit, text in _CLOCK_STATUS_BITS if status & bit]
    return f"status 0x{status:02X}" + (f" ({', '.join(flags)})" if flags else " (ok)")


def _valid_date(year: int | None, month: int | None, day: int | None, day_of_week: int | None) -> bool:
    return ((year is None or year < 0xFFFF) and (month is None or 1 <= month <= 12 or month in (0xFD, 0xFE))
            and (day is None or 1 <= day <= 31 or day in (0xFD, 0xFE))
            and (day_of_week is None or 1 <= day_of_week <= 7))


def _valid_time(hour: int | None, minute: int | None, second: int | None, hundredths: int | None) -> bool:
    return ((hour is None or hour <= 23) and (minute is None or minute <= 59) and (second is None or second <= 59)
            and (hundredths is None or hundredths <= 99))


def date_time_text(raw: bytes) -> str | None:
    """A 12-octet COSEM date-time (Blue Book 4.1.6.1) as ISO 8601 with day of week,
    deviation and clock status; None when the octets are not a valid date-time.

    Not-specified parts show as ``*``; ``deviation`` is UTC minus local time in
    minutes, so -60 is UTC+01:00.
    """
    if len(raw) != 12:
        return None
    value = CosemDateTime.from_bytes(raw)
    deviation = value.deviation
    if not (_valid_date(value.year, value.month, value.day, value.day_of_week)
            and _valid_time(value.hour, value.minute, value.second, value.hundredths)
            and (deviation is None or -720 <= deviation <= 720)):
        return None
    try:
        moment = value.to_datetime()
        stamp = moment.isoformat(timespec="milliseconds" if value.hundredths else "seconds")
    except ValueError:
        stamp = (f"{_date_text(value.year, value.month, value.day)}T"
                 f"{_time_text(value.hour, value.minute, value.second, value.hundredths)}")
    if deviation is None:
        zone = "deviation not specified"
    else:
        offset = datetime.timezone(datetime.timedelta(minutes=-deviation))
        zone = f"deviation {deviation} min ({offset.tzname(None)})"
    return f"{stamp} ({_weekday(value.day_of_week)}), {zone}, {clock_status_text(value.clock_status)}"


def date_text(raw: bytes) -> str | None:
    """A 5-octet COSEM date (Blue Book 4.1.6.1), None when not valid."""
    value = CosemDate.from_bytes(raw)
    if not _valid_date(value.year, value.month, value.day, value.day_of_week):
        return None
    return f"{_date_text(value.year, value.month, value.day)} ({_weekday(value.day_of_week)})"


def time_text(raw: bytes) -> str | None:
    """A 4-octet COSEM time (Blue Book 4.1.6.1), None when not valid."""
    value = CosemTime.from_bytes(raw)
    if not _valid_time(value.hour, value.minute, value.second, value.hundredths):
        return None
    return _time_text(value.hour, value.minute, value.second, value.hundredths)


def _value_text(w: Walk, dtype: DataType, payload: Any, shape: Shape | None) -> str:
    kind = shape.kind if shape else ""
    if dtype in (DataType.NULL_DATA, DataType.DONT_CARE):
        return type_name(dtype)
    if dtype == DataType.BOOLEAN:
        return "true" if payload else "false"
    if dtype == DataType.BIT_STRING:
        bits: BitString = payload
        return f"'{bits.bits}' ({len(bits.bits)} bits)"
    if dtype == DataType.OCTET_STRING:
        if kind == "obis" and len(payload) == 6:
            return logical_name(payload, w.names)
        return date_time_text(payload) or octets_text(payload)
    if dtype == DataType.VISIBLE_STRING:
        return f'"{payload.decode("latin-1")}"'
    if dtype == DataType.UTF8_STRING:
        return f'"{payload}"'
    if dtype == DataType.DATE_TIME:
        return date_time_text(payload) or f"{payload.hex().upper()} (not a valid date-time)"
    if dtype == DataType.DATE:
        return date_text(payload) or f"{payload.hex().upper()} (not a valid date)"
    if dtype == DataType.TIME:
        return time_text(payload) or f"{payload.hex().upper()} (not a valid time)"
    if dtype in (DataType.FLOAT32, DataType.FLOAT64):
        return repr(payload)
    if kind == "class":
        return class_name(payload)
    if kind == "unit":
        unit = named(Unit, payload)
        return f"{payload} ({unit})" if unit else str(payload)
    return str(payload)


# ---------------------------------------------------------------------------
# The walk


def _decoded(w: Walk, buf: bytes, pos: int, shift: int) -> tuple[tuple[DataType, Any], int]:
    """``decode_data`` at ``pos``; its DecodeError offsets moved by ``shift`` into ``w.buf``."""
    try:
        return decode_data(buf, pos)
    except DecodeError as exc:
        raise DecodeError(exc.reason, exc.offset + shift) from None


def data(w: Walk, name: str, shape: Shape | None = None, depth: int = 0) -> Field:
    """One tagged Data at the walk's position, as a field named ``name``; returns the field."""
    tag = w.peek("Data tag")
    if tag in (DataType.ARRAY, DataType.STRUCTURE):
        return _sequence(w, name, DataType(tag), shape, depth)
    if tag == DataType.COMPACT_ARRAY:
        return _compact_array(w, name, depth)
    if named(DataType, tag) is None:
        raise DecodeError(f"unknown Data tag 0x{tag:02X}", w.pos)
    with w.group(name) as node:
        w.u8("tag", lambda t: f"{type_name(t)} [{t}]")
        (dtype, payload), stop = _decoded(w, w.window(), w.pos - 1, 0)
        text = _value_text(w, dtype, payload, shape)
        if dtype in _STRINGS:
            w.length("length", "bits" if dtype == DataType.BIT_STRING else "octets")
        if stop > w.pos:
            w.leaf("value", stop - w.pos, text)
        node.meaning = text if text == type_name(dtype) else f"{type_name(dtype)}: {text}"
    return _made(node)


def _made(node: Node) -> Field:
    assert node.made is not None  # set when the group closed
    return node.made


def _sequence(w: Walk, name: str, dtype: DataType, shape: Shape | None, depth: int) -> Field:
    """array [1] / structure [2]: a count, then that many tagged Data (Green Book 9.5)."""
    if depth >= MAX_DEPTH:
        raise DecodeError(f"Data nested deeper than {MAX_DEPTH}", w.pos)
    kind = type_name(dtype)
    with w.group(name) as node:
        w.u8("tag", lambda t: f"{kind} [{t}]")
        count = w.length("count", "elements")
        node.meaning = f"{kind} of {count} elements"
        if count > w.left() and not w.partial:
            raise DecodeError(f"{kind} of {count} elements exceeds the {w.left()} octets left", w.pos)
        members = shape.members if shape else ()
        for index in range(count):
            if dtype == DataType.ARRAY and (index >= SHOWN_ELEMENTS or w.budget[0] <= 0):
                _skip(w, count - index)
                break
            w.budget[0] -= 1
            member = members[index] if index < len(members) else (shape.element if shape else None)
            label = member.label if member and member.label else f"[{index}]"
            data(w, label, member, depth + 1)
    return _made(node)


def _skip(w: Walk, remaining: int) -> None:
    """The summary field of the elements not shown, found with the codec's decoder."""
    start = w.pos
    window = w.window()
    try:
        for _ in range(remaining):
            _, w.pos = _decoded(w, window, w.pos, 0)
    except DecodeError:
        w.add("more", start, f"… {remaining} more elements from byte {w.base + start}", capped=True)
        raise
    w.add("more", start, f"… {remaining} more elements, bytes {w.base + start}..{w.base + w.pos - 1}",
          capped=True)


# -- compact-array [19] (Green Book 9.5): a TypeDescription, then untagged contents


def _compact_array(w: Walk, name: str, depth: int) -> Field:
    if depth >= MAX_DEPTH:
        raise DecodeError(f"Data nested deeper than {MAX_DEPTH}", w.pos)
    (_, value), stop = _decoded(w, w.window(), w.pos, 0)
    compact: CompactArray = value
    with w.group(name) as node:
        w.u8("tag", lambda t: f"compact-array [{t}]")
        _type_description(w, "contents-description", depth)
        size = w.length("length", "octets of array-contents")
        count = len(compact.elements)
        node.meaning = f"compact-array of {count} elements"
        with w.group("array-contents") as contents:
            contents.meaning = f"{count} elements, {size} octets"
            for index, _ in enumerate(compact.elements):
                if index >= SHOWN_ELEMENTS or w.budget[0] <= 0:
                    start = w.pos
                    w.pos = stop
                    span = f"bytes {w.base + start}..{w.base + stop - 1}"
                    w.add("more", start, f"… {count - index} more elements, {span}", capped=True)
                    break
                w.budget[0] -= 1
                _described(w, f"[{index}]", compact.description, stop)
    return _made(node)


def _type_description(w: Walk, name: str, depth: int) -> None:
    """TypeDescription (Green Book 9.5): a type tag; array adds a 2-octet count and
    the element's description, structure a count and each member's."""
    tag = w.peek("type description")
    with w.group(name) as node:
        w.u8("type", lambda t: f"{type_name(t)} [{t}]")
        node.meaning = type_name(tag)
        if tag == DataType.ARRAY:
            count = w.uint("count", 2, lambda n: f"{n} elements")
            _type_description(w, "element", depth + 1)
            node.meaning = f"array of {count} elements"
        elif tag == DataType.STRUCTURE:
            count = w.length("count", "members")
            for index in range(count):
                _type_description(w, f"[{index}]", depth + 1)
            node.meaning = f"structure of {count} members"


def _described(w: Walk, name: str, desc: Any, stop: int) -> None:
    """One untagged compact-array element laid out as the codec's TypeDescription ``desc``."""
    if isinstance(desc, tuple):
        with w.group(name) as node:
            if len(desc) == 3:
                node.meaning = f"array of {desc[1]} elements"
                for index in range(desc[1]):
                    _described(w, f"[{index}]", desc[2], stop)
            else:
                node.meaning = f"structure of {len(desc[1])} members"
                for index, member in enumerate(desc[1]):
                    _described(w, f"[{index}]", member, stop)
        return
    tagged = bytes((desc,)) + bytes(w.buf[w.pos : stop])
    (dtype, payload), after = _decoded(w, tagged, 0, w.pos - 1)
    text = _value_text(w, dtype, payload, None)
    w.leaf(name, after - 1, f"{type_name(dtype)}: {text}")

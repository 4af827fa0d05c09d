"""Profile generic, class_id 7, version 1 (Blue Book 4.3.6).

No row is stored: a periodic profile's buffer holds an entry at every capture
period boundary of the last ``profile_entries`` periods of the meter's clock,
and each row is computed from the captured objects at that instant when it is
read. A profile with capture_period 0 holds one entry captured at read time.
Range and entry selective access (Blue Book 4.3.6, attribute 2) pick rows and
columns arithmetically, so any window of a 35-day profile costs only its rows.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

from ...codec import axdr
from ...codec.axdr import CosemDateTime, Data
from ...enums import AttributeAccess, DataAccessResult, DataType
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec, period_start
from ..interface_class import InterfaceClass

#: Sort methods (Blue Book 4.3.6, attribute 5): 1 = fifo, first in first out.
FIFO = 1
RANGE_DESCRIPTOR = 1
ENTRY_DESCRIPTOR = 2
CLOCK_CLASS_ID = 8
CaptureObject = tuple[int, bytes, int, int]


def encode_capture_object(definition: CaptureObject) -> bytes:
    """A capture_object_definition structure (Blue Book 4.3.6, attribute 3)."""
    class_id, logical_name, attribute_index, data_index = definition
    return (axdr.encode_structure_header(4) + axdr.encode_long_unsigned(class_id)
            + axdr.encode_octet_string(logical_name) + axdr.encode_integer(attribute_index)
            + axdr.encode_long_unsigned(data_index))


def _int_param(obj: CosemObject, key: str, ctx: Context) -> int:
    value = obj.params[key]
    return int(value(ctx.meter) if callable(value) else value)


class ProfileGeneric(InterfaceClass):
    """``params``: ``capture_objects`` (sequence of (class_id, logical_name,
    attribute_index, data_index)), ``capture_period`` (seconds, or a function
    of the meter), ``profile_entries`` (int, or a function of the meter)."""

    class_id = 7
    version = 1
    name = "Profile generic"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "buffer", AttributeAccess.READ_ONLY, (RANGE_DESCRIPTOR, ENTRY_DESCRIPTOR)),
        AttributeSpec(3, "capture_objects"),
        AttributeSpec(4, "capture_period"),
        AttributeSpec(5, "sort_method"),
        AttributeSpec(6, "sort_object"),
        AttributeSpec(7, "entries_in_use"),
        AttributeSpec(8, "profile_entries"),
    )
    methods = (MethodSpec(1, "reset"), MethodSpec(2, "capture"))

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        params = obj.params
        captured: Sequence[CaptureObject] = params["capture_objects"]
        for definition in captured:
            if definition[3] != 0:
                raise ValueError(f"{obj.description or obj.logical_name.hex()}: data_index "
                                 "other than 0 is not supported in capture objects")
        params["_capture_objects"] = axdr.encode_array_header(len(captured)) + b"".join(
            encode_capture_object(c) for c in captured)
        params["_sort_method"] = axdr.encode_enum(FIFO)
        params["_sort_object"] = encode_capture_object((0, bytes(6), 0, 0))

    def bind(self, obj: CosemObject, resolve: Callable[[bytes], CosemObject | None]) -> None:
        """Resolve the capture objects to the model's objects (called by the
        directory once every object is known)."""
        columns = []
        for class_id, logical_name, attribute_index, _ in obj.params["capture_objects"]:
            target = resolve(logical_name)
            if target is None or target.class_id != class_id:
                raise ValueError(f"{obj.logical_name.hex()}: capture object {logical_name.hex()} "
                                 f"of class {class_id} is not in the model")
            columns.append((target.interface_class, target, attribute_index))
        obj.params["_columns"] = tuple(columns)

    # -- the entries -----------------------------------------------------

    def _period(self, obj: CosemObject, ctx: Context) -> int:
        return _int_param(obj, "capture_period", ctx)

    def _entries(self, obj: CosemObject, ctx: Context) -> int:
        return 1 if self._period(obj, ctx) == 0 else _int_param(obj, "profile_entries", ctx)

    def _times(self, obj: CosemObject, ctx: Context) -> tuple[float, int, int]:
        """(time of entry 1, period, entries in use); entry k is at
        first + (k - 1) * period, the last at the latest completed boundary."""
        period = self._period(obj, ctx)
        if period == 0:
            return ctx.t, 0, 1
        entries = self._entries(obj, ctx)
        last = period_start(ctx.meter, ctx.t, period)
        return last - (entries - 1) * period, period, entries

    def _row(self, obj: CosemObject, ctx: Context, columns: Sequence[int]) -> bytes:
        bound = obj.params["_columns"]
        cells = [axdr.encode_structure_header(len(columns))]
        for index in columns:
            interface_class, target, attribute_index = bound[index]
            cell = interface_class.get(target, attribute_index, ctx)
            if isinstance(cell, DataAccessResult):
                cell = axdr.encode_data((DataType.NULL_DATA, None))
            elif not isinstance(cell, bytes):
                cell = b"".join(cell)
            cells.append(cell)
        return b"".join(cells)

    def _rows(self, obj: CosemObject, ctx: Context, first_entry: int, last_entry: int,
              columns: Sequence[int]) -> Iterator[bytes]:
        """The encoded array of entries first_entry..last_entry (1-based), lazily."""
        start, period, _ = self._times(obj, ctx)
        count = max(0, last_entry - first_entry + 1)
        yield axdr.encode_array_header(count)
        for k in range(first_entry, first_entry + count):
            yield self._row(obj, ctx.at(start + (k - 1) * period), columns)

    # -- attributes ------------------------------------------------------

    def read_buffer(self, obj: CosemObject, ctx: Context) -> Encoded:
        _, _, entries = self._times(obj, ctx)
        return self._rows(obj, ctx, 1, entries, range(len(obj.params["_columns"])))

    def read_capture_objects(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_capture_objects"]

    def read_capture_period(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_double_long_unsigned(self._period(obj, ctx))

    def read_sort_method(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_sort_method"]

    def read_sort_object(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_sort_object"]

    def read_entries_in_use(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_double_long_unsigned(self._times(obj, ctx)[2])

    def read_profile_entries(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_double_long_unsigned(self._entries(obj, ctx))

    # -- selective access --------------------------------------------------

    def get_selective(self, obj: CosemObject, attribute_id: int, selector: int,
                      parameters: Data, ctx: Context) -> Encoded | DataAccessResult:
        if attribute_id != 2:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        if selector == RANGE_DESCRIPTOR:
            return self._by_range(obj, parameters, ctx)
        if selector == ENTRY_DESCRIPTOR:
            return self._by_entry(obj, parameters, ctx)
        return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED

    def _column_of(self, obj: CosemObject, definition: Data) -> int | None:
        """Index of the capture column a capture_object_definition names."""
        if definition[0] != DataType.STRUCTURE or len(definition[1]) != 4:
            return None
        class_id, logical_name, attribute_index, _ = (item[1] for item in definition[1])
        for index, captured in enumerate(obj.params["capture_objects"]):
            if captured[0] == class_id and captured[1] == logical_name and captured[2] == attribute_index:
                return index
        return None

    def _by_entry(self, obj: CosemObject, parameters: Data, ctx: Context) -> Encoded | DataAccessResult:
        """entry_descriptor: from/to entry (1-based, to 0 = the last) and
        from/to selected value (columns, 1-based, to 0 = the last)."""
        if parameters[0] != DataType.STRUCTURE or len(parameters[1]) != 4:
            return DataAccessResult.TYPE_UNMATCHED
        from_entry, to_entry, from_value, to_value = (int(item[1]) for item in parameters[1])
        _, _, entries = self._times(obj, ctx)
        width = len(obj.params["_columns"])
        to_entry = entries if to_entry == 0 else min(to_entry, entries)
        to_value = width if to_value == 0 else to_value
        from_entry = max(from_entry, 1)
        from_value = max(from_value, 1)
        if to_value > width or from_value > to_value:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        return self._rows(obj, ctx, from_entry, to_entry, range(from_value - 1, to_value))

    def _by_range(self, obj: CosemObject, parameters: Data, ctx: Context) -> Encoded | DataAccessResult:
        """range_descriptor: restricting object, from/to values (inclusive)
        and the selected columns (an empty array selects every column)."""
        if parameters[0] != DataType.STRUCTURE or len(parameters[1]) != 4:
            return DataAccessResult.TYPE_UNMATCHED
        restricting, low, high, selected = parameters[1]
        column = self._column_of(obj, restricting)
        if column is None or selected[0] != DataType.ARRAY:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        if selected[1]:
            columns = [self._column_of(obj, definition) for definition in selected[1]]
            if None in columns:
                return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        else:
            columns = list(range(len(obj.params["_columns"])))
        start, period, entries = self._times(obj, ctx)
        if obj.params["capture_objects"][column][0] == CLOCK_CLASS_ID:
            bounds = _time_bound(low, ctx, -math.inf), _time_bound(high, ctx, math.inf)
            if bounds[0] is None or bounds[1] is None:
                return DataAccessResult.TYPE_UNMATCHED
            if period == 0:
                first, last = (1, 1) if bounds[0] <= start <= bounds[1] else (1, 0)
            else:
                first = max(1, math.ceil((bounds[0] - start) / period) + 1) if bounds[0] > -math.inf else 1
                last = min(entries, math.floor((bounds[1] - start) / period) + 1) if bounds[1] < math.inf else entries
            return self._rows(obj, ctx, first, last, columns)
        return self._filtered(obj, ctx, column, low, high, columns)

    def _filtered(self, obj: CosemObject, ctx: Context, column: int, low: Data, high: Data,
                  columns: Sequence[int]) -> Encoded | DataAccessResult:
        """Rows whose value in a non-clock column lies in [low, high]."""
        if not isinstance(low[1], (int, float)) or not isinstance(high[1], (int, float)):
            return DataAccessResult.TYPE_UNMATCHED
        start, period, entries = self._times(obj, ctx)
        bound = obj.params["_columns"]
        interface_class, target, attribute_index = bound[column]
        kept = []
        for k in range(1, entries + 1):
            row_ctx = ctx.at(start + (k - 1) * period)
            cell = interface_class.get(target, attribute_index, row_ctx)
            if isinstance(cell, bytes):
                value, _ = axdr.decode_data(cell)
                if isinstance(value[1], (int, float)) and low[1] <= value[1] <= high[1]:
                    kept.append(row_ctx)
        return [axdr.encode_array_header(len(kept))] + [self._row(obj, row_ctx, columns) for row_ctx in kept]


def _time_bound(value: Data, ctx: Context, open_end: float) -> float | None:
    """A range bound given as a date-time (Blue Book 4.1.6.1): a date left
    unspecified leaves the range open on that side; unspecified time parts
    count as 0 and an unspecified deviation means the meter's own."""
    if value[0] not in (DataType.OCTET_STRING, DataType.DATE_TIME) or len(value[1]) != 12:
        return None
    stamp = CosemDateTime.from_bytes(value[1])
    if stamp.year is None or stamp.month is None or stamp.day is None:
        return open_end
    if stamp.month > 12 or stamp.day > 31:
        return None
    deviation = ctx.meter.deviation if stamp.deviation is None else stamp.deviation
    try:
        complete = CosemDateTime(stamp.year, stamp.month, stamp.day, None, stamp.hour or 0,
                                 stamp.minute or 0, stamp.second or 0, stamp.hundredths or 0,
                                 deviation, stamp.clock_status)
        return complete.to_datetime().timestamp()
    except ValueError:
        return None

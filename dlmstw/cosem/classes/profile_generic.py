"""Profile generic, class_id 7, version 1 (Blue Book 4.3.6).

No row is stored: each entry of the buffer is an instant, and its row is
computed from the captured objects at that instant when it is read. Where the
instants come from depends on the profile's ``params``:

* a periodic profile (capture_period > 0) has an entry at every capture
  period boundary of the last ``profile_entries`` periods of the meter's clock;
* an event log (``events``) has one entry per event of its window, the event's
  code standing in the column of its event code object;
* a scheduled profile (``schedule``, e.g. monthly billing) has one entry per
  scheduled capture of its window;
* any other profile with capture_period 0 holds one entry captured at read time.

Per meter, a profile keeps only what clients did to it: the instant of its last
``reset`` (entries up to it disappear) and the instants of its last
``capture``\\ s (each adds an entry; a capture_period 0 profile then shows them
instead of the read-time entry). The meter's anomalies (``simulator.anomalies``)
may drop, repeat or flag a periodic profile's rows, or move their time stamps.
Range and entry selective access (Blue Book 4.3.6, attribute 2) pick entries
and columns without computing the rows they skip.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from ...codec import axdr
from ...codec.axdr import CosemDateTime, Data
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ..base import (AttributeSpec, Context, CosemObject, Encoded, MethodSpec, divides_the_day, encode_time_of,
                    period_start)
from ..interface_class import InterfaceClass

#: Sort methods (Blue Book 4.3.6, attribute 5): 1 = fifo, first in first out.
FIFO = 1
RANGE_DESCRIPTOR = 1
ENTRY_DESCRIPTOR = 2
CLOCK_CLASS_ID = 8
CaptureObject = tuple[int, bytes, int, int]
#: Captures (method 2) a profile remembers per meter; older ones are forgotten.
MAX_CAPTURES = 32
#: Bits of an AMR profile status (DLMS UA 1000-1, 0.0.96.10.x.255) the anomalies set.
STATUS_DATA_NOT_VALID = 0x04
STATUS_CLOCK_ADJUSTED = 0x20
#: What ``Anomalies.row`` answers (``simulator.anomalies``; the COSEM layer does not import it).
MISSING, FLAGGED, DUPLICATE, CLOCK_JUMP = "missing", "flagged", "duplicate", "clock-jump"
NULL = b"\x00"

EventSource = Callable[[Context, float, float], Sequence[tuple[float, int]]]
ScheduleSource = Callable[[Any, float, float], Sequence[float]]


class Entry(NamedTuple):
    """One buffer entry: its capture instant, the code of the event it logs
    (event logs) and the row anomaly that spoils it (FLAGGED or CLOCK_JUMP)."""

    t: float
    code: int | None = None
    anomaly: str | None = None


class Grid(Sequence[Entry]):
    """``count`` plain entries (its ``size``) ``period`` seconds apart from
    ``first``: a periodic buffer without anomalies or captures, never materialised."""

    __slots__ = ("first", "period", "size")

    def __init__(self, first: float, period: int, count: int) -> None:
        self.first = first
        self.period = period
        self.size = max(0, count)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Entry:  # type: ignore[override]
        if not -self.size <= index < self.size:
            raise IndexError(index)
        return Entry(self.first + (index % self.size) * self.period)

    def _position(self, t: float) -> float:
        """``t`` in periods from the first entry, clamped to the buffer (bounds may be infinite)."""
        return min(max((t - self.first) / self.period, -1.0), float(self.size))

    def first_at_or_after(self, t: float) -> int:
        return min(self.size, max(0, math.ceil(self._position(t))))

    def first_after(self, t: float) -> int:
        return min(self.size, max(0, math.floor(self._position(t)) + 1))


def first_at_or_after(entries: Sequence[Entry], t: float) -> int:
    """Index of the first entry captured at or after ``t`` (entries in time order)."""
    if isinstance(entries, Grid):
        return entries.first_at_or_after(t)
    return bisect.bisect_left(entries, t, key=lambda entry: entry.t)


def first_after(entries: Sequence[Entry], t: float) -> int:
    """Index of the first entry captured after ``t``."""
    if isinstance(entries, Grid):
        return entries.first_after(t)
    return bisect.bisect_right(entries, t, key=lambda entry: entry.t)


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
    of the meter), ``profile_entries`` (int, or a function of the meter), and
    optionally:

    * ``load_profile``: True when the profile's period is the meter's load
      profile period, which a SET of capture_period then changes too;
    * ``events`` (a function of (context, after, until) giving the (instant,
      code) of the events in (after, until]), ``event_code`` (the logical name
      of the captured event code object) and ``event_code_type`` (its A-XDR
      type, long-unsigned by default);
    * ``schedule`` (a function of (meter, after, until) giving the scheduled
      capture instants in (after, until]);
    * ``horizon``: seconds of the clock an event log or scheduled profile looks
      back (int, or a function of the meter; default the meter's load profile days);
    * ``status``: the logical name of a captured status object (an AMR profile
      status, unsigned), whose bits flag spoiled rows.
    """

    class_id = 7
    version = 1
    name = "Profile generic"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "buffer", AttributeAccess.READ_ONLY, (RANGE_DESCRIPTOR, ENTRY_DESCRIPTOR)),
        AttributeSpec(3, "capture_objects"),
        AttributeSpec(4, "capture_period", AttributeAccess.READ_AND_WRITE),
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
        params["_clock_columns"] = frozenset(
            index for index, (class_id, _, attribute_index, _) in enumerate(captured)
            if class_id == CLOCK_CLASS_ID and attribute_index == 2)
        params["_status_column"] = next(
            (index for index, c in enumerate(captured) if c[1] == params.get("status") and c[2] == 2), None)
        params["_code_column"] = next(
            (index for index, c in enumerate(captured) if c[1] == params.get("event_code") and c[2] == 2), None)
        code_type = params.get("event_code_type", DataType.LONG_UNSIGNED)
        params["_encode_code"] = lambda code: axdr.encode_data((code_type, code))

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
        stored = ctx.meter.values.get((obj.logical_name, 4))
        if stored is not None:
            return int(stored[1])
        return _int_param(obj, "capture_period", ctx)

    def _limit(self, obj: CosemObject, ctx: Context) -> int:
        """profile_entries: the most entries the buffer holds."""
        return _int_param(obj, "profile_entries", ctx)

    def _horizon(self, obj: CosemObject, ctx: Context) -> int:
        if "horizon" in obj.params:
            return _int_param(obj, "horizon", ctx)
        return int(ctx.meter.load_profile_days) * 86400

    def entries(self, obj: CosemObject, ctx: Context) -> Sequence[Entry]:
        """The buffer's entries at the request's instant, oldest first."""
        params = obj.params
        ln = obj.logical_name
        state = ctx.meter.object_state
        reset_at: float | None = state.get((ln, "reset"))
        captures: tuple[float, ...] = state.get((ln, "captures"), ())
        limit = self._limit(obj, ctx)
        now = ctx.t
        after = -math.inf if reset_at is None else reset_at
        entries: Sequence[Entry]
        if "events" in params or "schedule" in params:
            after = max(after, now - self._horizon(obj, ctx))
            if "events" in params:
                entries = [Entry(t, code) for t, code in params["events"](ctx, after, now)]
            else:
                entries = [Entry(t) for t in params["schedule"](ctx.meter, after, now)]
        else:
            period = self._period(obj, ctx)
            if period == 0:
                entries = [] if captures or reset_at is not None else [Entry(now)]
            else:
                entries = self._periodic(obj, ctx, period, limit, after)
        if captures:
            entries = sorted([*entries, *(Entry(t) for t in captures if after < t <= now)],
                             key=lambda entry: entry.t)
        if len(entries) > limit:
            entries = entries[len(entries) - limit:]
        return entries

    def _periodic(self, obj: CosemObject, ctx: Context, period: int, limit: int,
                  after: float) -> Sequence[Entry]:
        """The last ``limit`` boundaries up to the clock, those after ``after``,
        spoiled as the meter's anomalies say."""
        last = period_start(ctx.meter, ctx.t, period)
        first = last - (limit - 1) * period
        if after >= first:
            first = last - (math.ceil((last - after) / period) - 1) * period
        grid = Grid(first, period, round((last - first) / period) + 1)
        anomalies = ctx.meter.anomalies
        if anomalies is None:
            return grid
        has_status = obj.params["_status_column"] is not None
        ln = obj.logical_name
        spoiled: list[Entry] = []
        for k in range(len(grid)):
            t = grid.first + k * period
            kind = anomalies.row(ln, t)
            if kind is None:
                spoiled.append(Entry(t))
            elif kind == DUPLICATE:
                spoiled += (Entry(t), Entry(t))
            elif kind == CLOCK_JUMP:
                spoiled.append(Entry(t, None, CLOCK_JUMP))
            elif kind == FLAGGED and has_status:
                spoiled.append(Entry(t, None, FLAGGED))
        return spoiled

    def _row(self, obj: CosemObject, ctx: Context, entry: Entry, columns: Sequence[int]) -> bytes:
        """One entry's structure of the ``columns`` (indexes of capture objects)."""
        params = obj.params
        bound = params["_columns"]
        cells = [axdr.encode_structure_header(len(columns))]
        row_ctx = ctx.at(entry.t)
        code, anomaly = entry.code, entry.anomaly
        for index in columns:
            if code is not None and index == params["_code_column"]:
                cells.append(params["_encode_code"](code))
                continue
            if anomaly is not None:
                cell = self._spoiled_cell(obj, row_ctx, entry, index)
                if cell is not None:
                    cells.append(cell)
                    continue
            interface_class, target, attribute_index = bound[index]
            value = interface_class.get(target, attribute_index, row_ctx)
            if isinstance(value, DataAccessResult):
                value = NULL
            elif not isinstance(value, bytes):
                value = b"".join(value)
            cells.append(value)
        return b"".join(cells)

    def _spoiled_cell(self, obj: CosemObject, row_ctx: Context, entry: Entry, index: int) -> bytes | None:
        """The cell a row anomaly puts in column ``index``, or None for the plain cell:
        a flagged gap has null values and a status saying "data not valid"; a clock
        jump moves the time stamps and says "clock adjusted"."""
        params = obj.params
        anomalies = row_ctx.meter.anomalies
        if index == params["_status_column"]:
            interface_class, target, attribute_index = params["_columns"][index]
            value = interface_class.get(target, attribute_index, row_ctx)
            status = value[-1] if isinstance(value, bytes) and len(value) == 2 else 0
            status |= STATUS_DATA_NOT_VALID if entry.anomaly == FLAGGED else STATUS_CLOCK_ADJUSTED
            return axdr.encode_unsigned(status)
        if index in params["_clock_columns"]:
            if entry.anomaly == CLOCK_JUMP and anomalies is not None:
                return encode_time_of(row_ctx, entry.t + anomalies.clock_shift(obj.logical_name, entry.t))
            return None
        return NULL if entry.anomaly == FLAGGED else None

    def _rows(self, obj: CosemObject, ctx: Context, entries: Sequence[Entry], first: int, stop: int,
              columns: Sequence[int]) -> Iterator[bytes]:
        """The encoded array of ``entries[first:stop]``, row by row, lazily."""
        count = max(0, stop - first)
        yield axdr.encode_array_header(count)
        for index in range(first, first + count):
            yield self._row(obj, ctx, entries[index], columns)

    # -- attributes ------------------------------------------------------

    def read_buffer(self, obj: CosemObject, ctx: Context) -> Encoded:
        entries = self.entries(obj, ctx)
        return self._rows(obj, ctx, entries, 0, len(entries), range(len(obj.params["_columns"])))

    def read_capture_objects(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_capture_objects"]

    def read_capture_period(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_double_long_unsigned(self._period(obj, ctx))

    def read_sort_method(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_sort_method"]

    def read_sort_object(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_sort_object"]

    def read_entries_in_use(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_double_long_unsigned(len(self.entries(obj, ctx)))

    def read_profile_entries(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_double_long_unsigned(self._limit(obj, ctx))

    def write_capture_period(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        """A periodic profile takes a new period that divides the day, so that
        captures stay on the local-midnight grid; its rows follow the new period
        at once. A profile captured by events or schedules has no period to change."""
        if value[0] != DataType.DOUBLE_LONG_UNSIGNED:
            return DataAccessResult.TYPE_UNMATCHED
        params = obj.params
        if "events" in params or "schedule" in params or self._period(obj, ctx) == 0:
            return DataAccessResult.READ_WRITE_DENIED
        period = int(value[1])
        if not divides_the_day(period):
            return DataAccessResult.OTHER_REASON
        meter = ctx.meter
        meter.values[(obj.logical_name, 4)] = value
        if params.get("load_profile"):
            meter.load_profile_period = period
        meter.record("capture-period")
        return DataAccessResult.SUCCESS

    # -- methods -----------------------------------------------------------

    def do_reset(self, obj: CosemObject, parameters: Data | None, ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Blue Book 4.3.6 method 1: the buffer restarts empty at this instant
        (data ::= integer (0))."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        state = ctx.meter.object_state
        state[(obj.logical_name, "reset")] = ctx.t
        state.pop((obj.logical_name, "captures"), None)
        return ActionResult.SUCCESS, None

    def do_capture(self, obj: CosemObject, parameters: Data | None,
                   ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Blue Book 4.3.6 method 2: a new entry with the captured objects'
        values at this instant (data ::= integer (0))."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        state = ctx.meter.object_state
        key = (obj.logical_name, "captures")
        state[key] = (*state.get(key, ()), ctx.t)[-MAX_CAPTURES:]
        return ActionResult.SUCCESS, None

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
        """entry_descriptor: from/to entry (1-based, to 0 = the last; beyond
        entries_in_use = up to the last) and from/to selected value (columns,
        1-based, to 0 = the last). No entry in the range gives an empty array."""
        if parameters[0] != DataType.STRUCTURE or len(parameters[1]) != 4:
            return DataAccessResult.TYPE_UNMATCHED
        items = parameters[1]
        if any(not isinstance(item[1], int) or isinstance(item[1], bool) for item in items):
            return DataAccessResult.TYPE_UNMATCHED
        from_entry, to_entry, from_value, to_value = (int(item[1]) for item in items)
        width = len(obj.params["_columns"])
        to_value = width if to_value == 0 else to_value
        from_value = max(from_value, 1)
        if to_value > width or from_value > to_value:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        entries = self.entries(obj, ctx)
        stop = len(entries) if to_entry == 0 else min(to_entry, len(entries))
        return self._rows(obj, ctx, entries, max(from_entry, 1) - 1, stop, range(from_value - 1, to_value))

    def _by_range(self, obj: CosemObject, parameters: Data, ctx: Context) -> Encoded | DataAccessResult:
        """range_descriptor: restricting object, from/to values (inclusive)
        and the selected columns (an empty array selects every column). On a
        clock column the entries are chosen by their capture instants."""
        if parameters[0] != DataType.STRUCTURE or len(parameters[1]) != 4:
            return DataAccessResult.TYPE_UNMATCHED
        restricting, low, high, selected = parameters[1]
        column = self._column_of(obj, restricting)
        if column is None or selected[0] != DataType.ARRAY:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        if selected[1]:
            chosen = [self._column_of(obj, definition) for definition in selected[1]]
            if None in chosen:
                return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
            columns: Sequence[int] = [c for c in chosen if c is not None]
        else:
            columns = range(len(obj.params["_columns"]))
        if column in obj.params["_clock_columns"]:
            lower, upper = _time_bound(low, ctx, -math.inf), _time_bound(high, ctx, math.inf)
            if lower is None or upper is None:
                return DataAccessResult.TYPE_UNMATCHED
            entries = self.entries(obj, ctx)
            return self._rows(obj, ctx, entries, first_at_or_after(entries, lower), first_after(entries, upper),
                              columns)
        return self._filtered(obj, ctx, column, low, high, columns)

    def _filtered(self, obj: CosemObject, ctx: Context, column: int, low: Data, high: Data,
                  columns: Sequence[int]) -> Encoded | DataAccessResult:
        """Entries whose value in a non-clock column lies in [low, high]."""
        if not isinstance(low[1], (int, float)) or not isinstance(high[1], (int, float)):
            return DataAccessResult.TYPE_UNMATCHED
        kept = []
        for entry in self.entries(obj, ctx):
            cell, _ = axdr.decode_data(self._row(obj, ctx, entry, (column,)), 0)
            value = cell[1][0][1]
            if isinstance(value, (int, float)) and low[1] <= value <= high[1]:
                kept.append(entry)
        return self._rows(obj, ctx, kept, 0, len(kept), columns)


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

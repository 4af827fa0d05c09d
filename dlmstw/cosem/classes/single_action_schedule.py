"""Single action schedule, class_id 22, version 0 (Blue Book 4.5.7).

Its script, type and execution times are configured attributes clients read
and set. At each execution time the meter runs the executed_script (a script
of a Script table, class 9): the meter's edge keeps a timer at the next
execution time (``next_execution``) and calls ``execute`` when it fires; a
SET of the script or the times tells the edge to compute the timer again.

Execution times are the meter's local time. A time field "not specified"
(0xFF) matches every hour or minute (seconds: 0); a date field matches every
year, month, day or weekday, and days 0xFE and 0xFD are the last and second
last day of the month (Blue Book 4.1.6.1). Every entry counts, whatever the
type; the next execution is looked for within ``HORIZON_DAYS``.
"""

from __future__ import annotations

import calendar
import datetime
import functools

from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ..base import AttributeSpec, Context, CosemObject
from .configured import DATE, LOGICAL_NAME, TIME, ConfiguredClass, array_of, conforms, structure

RW = AttributeAccess.READ_AND_WRITE
#: type (Blue Book 4.5.7, attribute 3): 1..5.
SCHEDULE_TYPES = range(1, 6)
#: How far ahead the next execution time is looked for.
HORIZON_DAYS = 800
#: Blue Book 4.1.6.1: "not specified", and the last and second last day of the month.
NOT_SPECIFIED = 0xFF
LAST_DAY = 0xFE
SECOND_LAST_DAY = 0xFD
SCRIPT_TABLE = 9
EXECUTE = 1


def day_matches(day: datetime.date, date: bytes) -> bool:
    """Whether ``day`` is one the date (5 octets, fields may be not specified) names."""
    year = int.from_bytes(date[:2], "big")
    month, mday, weekday = date[2], date[3], date[4]
    if year != 0xFFFF and year != day.year:
        return False
    if month <= 12 and month != day.month:
        return False
    if mday == LAST_DAY or mday == SECOND_LAST_DAY:
        last = calendar.monthrange(day.year, day.month)[1]
        if day.day != last - (mday == SECOND_LAST_DAY):
            return False
    elif mday != NOT_SPECIFIED and mday != day.day:
        return False
    return weekday == NOT_SPECIFIED or weekday == day.isoweekday()


def _first_time(time: bytes, floor: int) -> int | None:
    """The first second of the day matching ``time`` that is above ``floor``."""
    hour, minute, second = time[0], time[1], time[2]
    second = 0 if second == NOT_SPECIFIED else second
    if (hour > 23 and hour != NOT_SPECIFIED) or (minute > 59 and minute != NOT_SPECIFIED) or second > 59:
        return None
    for h in range(24) if hour == NOT_SPECIFIED else (hour,):
        for m in range(60) if minute == NOT_SPECIFIED else (minute,):
            t = h * 3600 + m * 60 + second
            if t > floor:
                return t
    return None


@functools.lru_cache(maxsize=4096)
def next_time(entries: tuple[tuple[bytes, bytes], ...], utc_offset: int, after: int) -> float | None:
    """The first instant (POSIX seconds) after ``after`` that one of the
    (time, date) ``entries`` names in local time ``utc_offset`` seconds east
    of UTC; None when there is none within HORIZON_DAYS."""
    local = after + utc_offset
    first = datetime.date(1970, 1, 1) + datetime.timedelta(days=local // 86400)
    floor = local % 86400
    best: float | None = None
    for time, date in entries:
        for offset in range(HORIZON_DAYS):
            day = first + datetime.timedelta(days=offset)
            if not day_matches(day, date):
                continue
            second = _first_time(time, floor if offset == 0 else -1)
            if second is None:
                continue
            t = (day - datetime.date(1970, 1, 1)).days * 86400 + second - utc_offset
            best = t if best is None else min(best, t)
            break
    return best


class SingleActionSchedule(ConfiguredClass):
    """``params``: ``executed_script`` (script_logical_name, script_selector),
    ``type`` (enum) and ``execution_time`` (array of (time, date))."""

    class_id = 22
    version = 0
    name = "Single action schedule"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "executed_script", RW),
        AttributeSpec(3, "type", RW),
        AttributeSpec(4, "execution_time", RW),
    )
    templates = {
        "executed_script": structure(LOGICAL_NAME, (DataType.LONG_UNSIGNED, None)),
        "execution_time": array_of(structure(TIME, DATE)),
    }

    def next_execution(self, obj: CosemObject, ctx: Context, after: float) -> float | None:
        """When the schedule runs next after ``after`` (the meter's POSIX seconds), or None."""
        entries = tuple((entry[1][0][1], entry[1][1][1]) for entry in self.current(obj, 4, ctx)[1])
        return next_time(entries, ctx.meter.utc_offset, int(after))

    def execute(self, obj: CosemObject, ctx: Context) -> ActionResult:
        """Run the executed_script: method 1 of its Script table, without any association."""
        script_name, selector = (member[1] for member in self.current(obj, 2, ctx)[1])
        table = ctx.directory.objects.get(script_name)
        if table is None or table.class_id != SCRIPT_TABLE:
            return ActionResult.OBJECT_UNDEFINED
        return table.interface_class.action(table, EXECUTE, (DataType.LONG_UNSIGNED, selector), ctx)[0]

    def _changed(self, obj: CosemObject, attribute: int, value: Data, ctx: Context) -> DataAccessResult:
        if not conforms(value, self.templates[self.attribute_specs[attribute].name]):
            return DataAccessResult.TYPE_UNMATCHED
        ctx.meter.values[(obj.logical_name, attribute)] = value
        if ctx.meter.edge is not None:
            ctx.meter.edge.schedule_changed()
        return DataAccessResult.SUCCESS

    def write_executed_script(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        return self._changed(obj, 2, value, ctx)

    def write_execution_time(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        return self._changed(obj, 4, value, ctx)

    def write_type(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        if not conforms(value, (DataType.ENUM, None)):
            return DataAccessResult.TYPE_UNMATCHED
        if value[1] not in SCHEDULE_TYPES:
            return DataAccessResult.OTHER_REASON
        ctx.meter.values[(obj.logical_name, 3)] = value
        return DataAccessResult.SUCCESS

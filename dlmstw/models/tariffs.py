"""Time-of-use tariffs: what the Activity calendar (class 20, 0.0.13.0.0.255),
the Special days table (class 11, 0.0.11.0.0.255) and the tariff Script table
make the meter do, computed for any instant (Blue Book 4.5.4, 4.5.5).

At an instant the calendar active then (``ActivityCalendar.calendar_at``)
gives the day profile of the local date: a special day's day_id, else the
week profile of the season that began last; the day's last action at or
before the local time (else the previous day's last) names a script of a
Script table, and the tariff is the value that script writes to the
currently active tariff object (0.0.96.14.0.255). So the calendar's actions
switch tariffs through the scripts, as on a meter, and clients reprogramme
both.

The tariff registers (1.0.1.8.e.255, e = 1..TARIFFS) add up the active
energy imported while tariff e was active, from TARIFF_EPOCH (or the
installation, when later); the energy before that belongs to tariff 1, so
the tariff registers always add up to 1.0.1.8.0.255. Energy is the meter's
own (``snapshot.cumulative``), so a disconnected meter adds to no tariff.
Sums are kept per meter at month starts (a cache, not saved), and computed
again when the calendar changes.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from ..codec.obis import parse_obis
from ..cosem.base import Context
from ..cosem.classes.script_table import WRITE_ATTRIBUTE
from ..cosem.classes.single_action_schedule import day_matches
from ..enums import DataType, Unit
from .common import Builder, month_start, next_month_start

ACTIVE_TARIFF = "0.0.96.14.0.255"
CALENDAR = "0.0.13.0.0.255"
SPECIAL_DAYS = "0.0.11.0.0.255"
#: Tariff registers per energy: 1.0.1.8.1.255 .. 1.0.1.8.8.255.
TARIFFS = 8
#: 2025-01-01T00:00:00Z: the tariff registers count from then (or the installation).
TARIFF_EPOCH = 1735689600.0
#: Month-start sums a meter keeps.
MAX_CHECKPOINTS = 24
#: How many days back the last action before an instant is looked for.
LOOKBACK_DAYS = 7
_ACTIVE_TARIFF = parse_obis(ACTIVE_TARIFF)
_CALENDAR = parse_obis(CALENDAR)
_SPECIAL_DAYS = parse_obis(SPECIAL_DAYS)
_INTEGERS = frozenset({DataType.UNSIGNED, DataType.LONG_UNSIGNED, DataType.INTEGER, DataType.LONG,
                       DataType.DOUBLE_LONG, DataType.DOUBLE_LONG_UNSIGNED, DataType.ENUM})
_EPOCH_DATE = datetime.date(1970, 1, 1)


def _script_tariff(ctx: Context, script_ln: bytes, selector: int) -> int | None:
    """The tariff the script writes to the active tariff object, or None."""
    table = ctx.directory.objects.get(script_ln)
    if table is None or table.class_id != 9:
        return None
    for script in table.interface_class.current(table, 2, ctx)[1]:
        if script[1][0][1] != selector:
            continue
        for action in script[1][1][1]:
            service, _, ln, index = (item[1] for item in action[1][:4])
            value = action[1][4]
            if service == WRITE_ATTRIBUTE and ln == _ACTIVE_TARIFF and index == 2 and value[0] in _INTEGERS:
                return int(value[1])
    return None


def _season_start(start: bytes, year: int) -> datetime.date | None:
    """A season_start's date in ``year`` (its own year when it names one)."""
    named = int.from_bytes(start[:2], "big")
    month, mday = start[2], start[3]
    try:
        return datetime.date(year if named == 0xFFFF else named, month if 1 <= month <= 12 else 1,
                             mday if 1 <= mday <= 31 else 1)
    except ValueError:
        return None


class Timeline:
    """The tariffs of one meter as one request sees them: what the calendar,
    special days and scripts give each day, worked out once per request."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        found = ctx.directory.objects.get(_CALENDAR)
        self.calendar = found if found is not None and found.class_id == 20 else None
        self.changes = self.calendar.interface_class.changes(self.calendar, ctx) if self.calendar else []
        special = ctx.directory.objects.get(_SPECIAL_DAYS)
        self.special = special.interface_class.days(special, ctx) if special is not None else []
        self._actions: dict[tuple[str, datetime.date], list[tuple[int, int]]] = {}
        self._profiles: dict[tuple[str, int | None], list[tuple[int, int]]] = {}

    def _day_id(self, calendar: tuple[Any, Any, Any], day: datetime.date) -> int | None:
        for date, day_id in self.special:
            if day_matches(day, date):
                return int(day_id)
        seasons, weeks, _ = calendar
        best: tuple[datetime.date, bytes] | None = None
        for season in seasons[1]:
            start, week = season[1][1][1], season[1][2][1]
            for year in (day.year, day.year - 1):
                begins = _season_start(start, year)
                if begins is not None and begins <= day and (best is None or begins > best[0]):
                    best = (begins, week)
        if best is None:
            return None
        for week in weeks[1]:
            if week[1][0][1] == best[1]:
                return int(week[1][day.isoweekday()][1])
        return None

    def day_actions(self, t: float, day: datetime.date) -> list[tuple[int, int]]:
        """(second of the local day, tariff) of the actions that set a tariff on
        ``day`` under the calendar active at ``t``, in order."""
        if self.calendar is None:
            return []
        key, calendar = self.calendar.interface_class.calendar_at(self.calendar, self.ctx, t)
        found = self._actions.get((key, day))
        if found is not None:
            return found
        day_id = self._day_id(calendar, day)
        actions = self._profiles.get((key, day_id))
        if actions is None:
            actions = []
            for profile in calendar[2][1]:
                if profile[1][0][1] != day_id:
                    continue
                for action in profile[1][1][1]:
                    start, script_ln, selector = (item[1] for item in action[1])
                    tariff = _script_tariff(self.ctx, script_ln, selector)
                    if tariff is not None and start[0] < 24:
                        minute = start[1] if start[1] < 60 else 0
                        second = start[2] if start[2] < 60 else 0
                        actions.append((start[0] * 3600 + minute * 60 + second, tariff))
            actions.sort()
            self._profiles[(key, day_id)] = actions
        self._actions[(key, day)] = actions
        return actions

    def tariff_at(self, t: float) -> int:
        """The tariff active at ``t`` (1 when the calendar names none)."""
        local = int(t) + self.ctx.meter.utc_offset
        day = _EPOCH_DATE + datetime.timedelta(days=local // 86400)
        second = local % 86400
        for back in range(LOOKBACK_DAYS):
            earlier = [tariff for start, tariff in self.day_actions(t, day - datetime.timedelta(days=back))
                       if back > 0 or start <= second]
            if earlier:
                return earlier[-1]
        return 1

    def switches(self, a: float, b: float) -> list[float]:
        """The instants in (a, b) where the tariff may change: the calendar's
        changes and its actions' times, in order."""
        points = {t for t in self.changes if a < t < b}
        offset = self.ctx.meter.utc_offset
        day = _EPOCH_DATE + datetime.timedelta(days=(int(a) + offset) // 86400)
        last = _EPOCH_DATE + datetime.timedelta(days=(int(b) + offset) // 86400)
        while day <= last:
            midnight = (day - _EPOCH_DATE).days * 86400 - offset
            # Every calendar active on that day: the one at midnight and those that began during it.
            for began in (midnight, *(t for t in self.changes if midnight < t < midnight + 86400)):
                for start, _ in self.day_actions(began, day):
                    if a < midnight + start < b:
                        points.add(float(midnight + start))
            day += datetime.timedelta(days=1)
        return sorted(points)

    def energy(self, t: float) -> float:
        return self.ctx.at(t).snapshot.cumulative.active_energy_import

    def scan(self, a: float, b: float, totals: list[float]) -> None:
        """Add the energy of (a, b] to the tariffs active in it."""
        points = [a, *self.switches(a, b), b]
        before = self.energy(a)
        for start, end in zip(points, points[1:]):
            after = self.energy(end)
            tariff = self.tariff_at(start)
            if 1 <= tariff <= TARIFFS:
                totals[tariff - 1] += after - before
            before = after


def _instants(key: tuple[tuple[float, ...], tuple[Any, ...]]) -> set[float]:
    """The instants a cache key names: calendar changes, disconnections' starts and ends."""
    return {*key[0], *(t for period in key[1] for t in period if t is not None)}


def tariff_at(ctx: Context, t: float) -> int:
    """The tariff active at ``t``."""
    return Timeline(ctx).tariff_at(t)


def tariff_energies(ctx: Context) -> list[float]:
    """The active energy imported per tariff (Wh) up to the request's instant.
    The sums at month starts (and at the last instant read) are kept; a
    calendar change drops those after it."""
    meter = ctx.meter
    timeline = Timeline(ctx)
    key = (tuple(timeline.changes), tuple(meter.object_state.get((b"", "disconnections"), ())))
    cache = meter.object_state.get((b"", "tariff-sums"))
    if cache is None or cache[0] != key:
        kept: dict[float, list[float]] = {}
        if cache is not None:
            valid_until = min(_instants(cache[0]) ^ _instants(key), default=math.inf)
            kept = {point: sums for point, sums in cache[1].items() if point <= valid_until}
        cache = meter.object_state[(b"", "tariff-sums")] = (key, kept)
    checkpoints: dict[float, list[float]] = cache[1]
    start = max(meter.simulator.installed, TARIFF_EPOCH)
    t = ctx.t
    if t <= start:
        return [timeline.energy(t)] + [0.0] * (TARIFFS - 1)
    known = [point for point in checkpoints if point <= t]
    if known:
        at = max(known)
        totals = list(checkpoints[at])
    else:
        at = start
        totals = [timeline.energy(start)] + [0.0] * (TARIFFS - 1)
    boundary = next_month_start(meter, month_start(meter, at))
    while boundary <= t:
        timeline.scan(at, boundary, totals)
        at = boundary
        checkpoints[at] = list(totals)
        boundary = next_month_start(meter, boundary)
    if at < t:
        timeline.scan(at, t, totals)
        checkpoints[t] = list(totals)
    while len(checkpoints) > MAX_CHECKPOINTS:
        del checkpoints[min(checkpoints)]
    return totals


#: The tariff registers' logical names.
TARIFF_REGISTERS = tuple(f"1.0.1.8.{tariff}.255" for tariff in range(1, TARIFFS + 1))


def add_tariffs(build: Builder, scaler: int) -> None:
    """The currently active tariff (0.0.96.14.0.255, from the calendar), the
    Special days table (0.0.11.0.0.255) and the tariff registers
    1.0.1.8.1.255..1.0.1.8.8.255 (Wh with ``scaler``)."""
    build.data(ACTIVE_TARIFF, lambda ctx: (DataType.UNSIGNED, tariff_at(ctx, ctx.t)), "Currently active tariff")
    build.add(SPECIAL_DAYS, 11, {}, "Special days table")
    build.registers((ln, f"Active energy import, tariff {index + 1}",
                     lambda ctx, index=index: tariff_energies(ctx)[index], scaler, Unit.WATT_HOUR,
                     DataType.DOUBLE_LONG_UNSIGNED) for index, ln in enumerate(TARIFF_REGISTERS))

"""Activity calendar, class_id 20, version 0 (Blue Book 4.5.5).

The active and passive calendars (name, season profiles, week profiles, day
profiles) are configured attributes clients read and set;
activate_passive_calendar copies the passive calendar into the active one,
at once or, when activate_passive_calendar_time names an instant, then (the
meter's edge keeps a timer: ``next_activation``; the time is then "not
specified" again).

The meter remembers when each active calendar began (``history``: the last
HISTORY entries, in its persisted object state), so what the calendar
switched at any past instant (tariffs, ``models.tariffs``) is computed
again the same way, whenever it is read.
"""

from __future__ import annotations

import functools
from typing import Any

from ...codec.axdr import CosemDateTime, Data, decode_data, encode_data
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ...errors import DecodeError
from ..base import AttributeSpec, Context, CosemObject, MethodSpec
from .configured import DATE_TIME, LOGICAL_NAME, OCTETS, TIME, ConfiguredClass, array_of, structure

RW = AttributeAccess.READ_AND_WRITE
UNSIGNED = (DataType.UNSIGNED, None)
SEASON_PROFILE = array_of(structure(OCTETS, DATE_TIME, OCTETS))
WEEK_PROFILE_TABLE = array_of(structure(OCTETS, UNSIGNED, UNSIGNED, UNSIGNED, UNSIGNED, UNSIGNED, UNSIGNED,
                                        UNSIGNED))
DAY_PROFILE_TABLE = array_of(structure(UNSIGNED, array_of(structure(TIME, LOGICAL_NAME,
                                                                    (DataType.LONG_UNSIGNED, None)))))
#: (active attribute, passive attribute) pairs: name, seasons, weeks, days.
ACTIVE_AND_PASSIVE = ((2, 6), (3, 7), (4, 8), (5, 9))
#: activate_passive_calendar_time "not specified" (Blue Book 4.1.6.1).
UNSPECIFIED_TIME = bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")
#: Calendar changes a meter remembers (the oldest go first).
HISTORY = 16
#: Occurrence kind recorded for the event logs when a calendar becomes active.
CALENDAR_ACTIVATED = "calendar-activated"


@functools.lru_cache(maxsize=64)
def _decoded(encoded: str) -> tuple[Any, Any, Any]:
    """A remembered calendar (hex of its structure) as its three tables."""
    return tuple(decode_data(bytes.fromhex(encoded))[0][1])  # type: ignore[return-value]


class ActivityCalendar(ConfiguredClass):
    """``params``: the ten attributes' Data by name (the passive ones default
    to the active ones)."""

    class_id = 20
    version = 0
    name = "Activity calendar"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "calendar_name_active", RW),
        AttributeSpec(3, "season_profile_active", RW),
        AttributeSpec(4, "week_profile_table_active", RW),
        AttributeSpec(5, "day_profile_table_active", RW),
        AttributeSpec(6, "calendar_name_passive", RW),
        AttributeSpec(7, "season_profile_passive", RW),
        AttributeSpec(8, "week_profile_table_passive", RW),
        AttributeSpec(9, "day_profile_table_passive", RW),
        AttributeSpec(10, "activate_passive_calendar_time", RW),
    )
    methods = (MethodSpec(1, "activate_passive_calendar"),)
    defaults = {"activate_passive_calendar_time": (DataType.OCTET_STRING, UNSPECIFIED_TIME)}
    templates = {
        "calendar_name_active": OCTETS, "calendar_name_passive": OCTETS,
        "season_profile_active": SEASON_PROFILE, "season_profile_passive": SEASON_PROFILE,
        "week_profile_table_active": WEEK_PROFILE_TABLE, "week_profile_table_passive": WEEK_PROFILE_TABLE,
        "day_profile_table_active": DAY_PROFILE_TABLE, "day_profile_table_passive": DAY_PROFILE_TABLE,
        "activate_passive_calendar_time": DATE_TIME,
    }

    def prepare(self, obj: CosemObject) -> None:
        params = obj.params
        for active, passive in ACTIVE_AND_PASSIVE:
            active_name = self.attribute_specs[active].name
            params.setdefault(self.attribute_specs[passive].name, params[active_name])
        super().prepare(obj)

    # -- what was active when ------------------------------------------------------

    def calendar_at(self, obj: CosemObject, ctx: Context, t: float) -> tuple[str, tuple[Any, Any, Any]]:
        """(key, (season_profile, week_profile_table, day_profile_table)) of the
        calendar active at ``t``; the key ("" for the model's own) names it."""
        chosen = ""
        for began, encoded in ctx.meter.object_state.get((obj.logical_name, "calendars"), ()):
            if began <= t:
                chosen = encoded
        if not chosen:
            return "", (obj.params["season_profile_active"], obj.params["week_profile_table_active"],
                        obj.params["day_profile_table_active"])
        return chosen, _decoded(chosen)

    def changes(self, obj: CosemObject, ctx: Context) -> list[float]:
        """When the active calendar changed, in order."""
        return [began for began, _ in ctx.meter.object_state.get((obj.logical_name, "calendars"), ())]

    def _began(self, obj: CosemObject, ctx: Context, t: float) -> None:
        """The active calendar as it is now holds from ``t``: remember it, and tell the event logs."""
        calendar = encode_data((DataType.STRUCTURE, [self.current(obj, a, ctx) for a in (3, 4, 5)])).hex()
        key = (obj.logical_name, "calendars")
        kept = [list(entry) for entry in ctx.meter.object_state.get(key, ()) if entry[0] < t]
        ctx.meter.object_state[key] = [*kept, [t, calendar]][-HISTORY:]
        ctx.meter.record(CALENDAR_ACTIVATED)

    def _activate(self, obj: CosemObject, ctx: Context, t: float) -> None:
        for active, passive in ACTIVE_AND_PASSIVE:
            ctx.meter.values[(obj.logical_name, active)] = self.current(obj, passive, ctx)
        self._began(obj, ctx, t)

    def set(self, obj: CosemObject, attribute_id: int, value: Data, ctx: Context) -> DataAccessResult:
        """A SET of an active season, week or day table changes the calendar from now on;
        a SET of activate_passive_calendar_time re-arms the edge's timer."""
        result = super().set(obj, attribute_id, value, ctx)
        if result == DataAccessResult.SUCCESS:
            if attribute_id in (3, 4, 5):
                self._began(obj, ctx, ctx.t)
            elif attribute_id == 10 and ctx.meter.edge is not None:
                ctx.meter.edge.schedule_changed()
        return result

    def next_activation(self, obj: CosemObject, ctx: Context) -> float | None:
        """When the passive calendar becomes active (activate_passive_calendar_time), or None."""
        try:
            moment = CosemDateTime.from_bytes(self.current(obj, 10, ctx)[1]).to_datetime()
        except (DecodeError, ValueError):
            return None
        return moment.timestamp() if moment.tzinfo is not None else moment.timestamp() - ctx.meter.utc_offset

    def activate_at(self, obj: CosemObject, ctx: Context, t: float) -> None:
        """The edge's timer: the passive calendar is active from ``t``."""
        self._activate(obj, ctx, t)
        ctx.meter.values[(obj.logical_name, 10)] = (DataType.OCTET_STRING, UNSPECIFIED_TIME)

    def do_activate_passive_calendar(self, obj: CosemObject, parameters: Data | None,
                                     ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (data ::= integer (0)): the passive calendar becomes the active one."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        self._activate(obj, ctx, ctx.t)
        return ActionResult.SUCCESS, None

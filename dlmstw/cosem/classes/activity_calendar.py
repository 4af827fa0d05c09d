"""Activity calendar, class_id 20, version 0 (Blue Book 4.5.5).

The active and passive calendars (name, season profiles, week profiles, day
profiles) are configured attributes clients read and set;
activate_passive_calendar copies the passive calendar into the active one.
"""

from __future__ import annotations

from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataType
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
    defaults = {"activate_passive_calendar_time": (DataType.OCTET_STRING, bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF"))}
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

    def do_activate_passive_calendar(self, obj: CosemObject, parameters: Data | None,
                                     ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (data ::= integer (0)): the passive calendar becomes the active one."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        for active, passive in ACTIVE_AND_PASSIVE:
            ctx.meter.values[(obj.logical_name, active)] = self.current(obj, passive, ctx)
        return ActionResult.SUCCESS, None

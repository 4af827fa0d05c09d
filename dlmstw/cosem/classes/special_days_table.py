"""Special days table, class_id 11, version 0 (Blue Book 4.5.4).

Days whose day profile is not the week's: each entry names a date (fields
may be "not specified": every year, every month...) and the day_id of the
Activity calendar's day_profile_table that applies that day. ``insert``
adds an entry (one with the same index is replaced), ``delete`` removes one
by its index; the entries are kept per meter with its values.
"""

from __future__ import annotations

from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataType
from ..base import AttributeSpec, Context, CosemObject, MethodSpec
from .configured import DATE, ConfiguredClass, array_of, conforms, structure

ENTRY = structure((DataType.LONG_UNSIGNED, None), DATE, (DataType.UNSIGNED, None))
#: Entries one table holds at the most.
MAX_ENTRIES = 64


class SpecialDaysTable(ConfiguredClass):
    """``params``: ``entries`` (an array of (index, specialday_date, day_id)), empty by default."""

    class_id = 11
    version = 0
    name = "Special days table"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "entries", AttributeAccess.READ_AND_WRITE),
    )
    methods = (MethodSpec(1, "insert"), MethodSpec(2, "delete"))
    defaults = {"entries": (DataType.ARRAY, [])}
    templates = {"entries": array_of(ENTRY)}

    def days(self, obj: CosemObject, ctx: Context) -> list[tuple[bytes, int]]:
        """(specialday_date, day_id) of every entry."""
        return [(entry[1][1][1], entry[1][2][1]) for entry in self.current(obj, 2, ctx)[1]]

    def do_insert(self, obj: CosemObject, parameters: Data | None,
                  ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (data ::= spec_day_entry)."""
        if parameters is None or not conforms(parameters, ENTRY):
            return ActionResult.TYPE_UNMATCHED, None
        kept = [e for e in self.current(obj, 2, ctx)[1] if e[1][0][1] != parameters[1][0][1]]
        if len(kept) >= MAX_ENTRIES:
            return ActionResult.OTHER_REASON, None
        ctx.meter.values[(obj.logical_name, 2)] = (DataType.ARRAY, sorted([*kept, parameters],
                                                                          key=lambda e: e[1][0][1]))
        return ActionResult.SUCCESS, None

    def do_delete(self, obj: CosemObject, parameters: Data | None,
                  ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 2 (data ::= long-unsigned, the index)."""
        if parameters is None or parameters[0] != DataType.LONG_UNSIGNED:
            return ActionResult.TYPE_UNMATCHED, None
        entries = self.current(obj, 2, ctx)[1]
        kept = [e for e in entries if e[1][0][1] != parameters[1]]
        if len(kept) == len(entries):
            return ActionResult.OBJECT_UNAVAILABLE, None
        ctx.meter.values[(obj.logical_name, 2)] = (DataType.ARRAY, kept)
        return ActionResult.SUCCESS, None

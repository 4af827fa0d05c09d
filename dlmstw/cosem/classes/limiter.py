"""Limiter, class_id 71, version 0 (Blue Book 4.5.9).

A configured limiter: its monitored value, thresholds, durations, emergency
profile and actions are attributes a client reads and sets (threshold
changes are recorded for the meter's event logs). threshold_active is the
emergency threshold while the emergency profile is active, else the normal
one; emergency_profile_active is TRUE from the emergency profile's activation
time for its duration, when its id is in emergency_profile_group_id_list.

Once a client has set one of its attributes, the limiter watches the
monitored value (``check``, at the meter's edge every
min_over_threshold_duration seconds): above threshold_active now and
min_over_threshold_duration ago, it trips: it runs action_over_threshold
(on the built-in models, the disconnect script) and records a limiter trip
for the event logs. Tripped, below the threshold now and
min_under_threshold_duration ago, it runs action_under_threshold and records
that the limiter is ok again.
"""

from __future__ import annotations

from ...codec import axdr
from ...codec.axdr import CosemDateTime, Data, decode_data
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ..base import AttributeSpec, Context, CosemObject, Encoded
from .configured import ANY, DATE_TIME, LOGICAL_NAME, ConfiguredClass, array_of, structure

RW = AttributeAccess.READ_AND_WRITE
VALUE_DEFINITION = structure((DataType.LONG_UNSIGNED, None), LOGICAL_NAME, (DataType.INTEGER, None))
ACTION_ITEM = structure(LOGICAL_NAME, (DataType.LONG_UNSIGNED, None))
EMERGENCY_PROFILE = structure((DataType.LONG_UNSIGNED, None), DATE_TIME, (DataType.DOUBLE_LONG_UNSIGNED, None))
NO_SCRIPT: Data = (DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes(6)), (DataType.LONG_UNSIGNED, 0)])
UNSPECIFIED_TIME = bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")
#: Occurrence kind recorded for the event logs when the limiter trips.
LIMITER_TRIP = "limiter-trip"
#: Occurrence kind recorded when a tripped limiter finds the load under its threshold again.
LIMITER_OK = "limiter-ok"
#: The attributes whose SET arms the limiter's watch.
SETTINGS = (2, 4, 5, 6, 7, 8, 9, 11)
SCRIPT_TABLE = 9
EXECUTE = 1


class Limiter(ConfiguredClass):
    """``params``: ``monitored_value`` (value_definition), ``threshold_normal``
    and ``threshold_emergency`` (Data of the monitored value's type), and
    optionally the other attributes' Data."""

    class_id = 71
    version = 0
    name = "Limiter"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "monitored_value", RW),
        AttributeSpec(3, "threshold_active"),
        AttributeSpec(4, "threshold_normal", RW),
        AttributeSpec(5, "threshold_emergency", RW),
        AttributeSpec(6, "min_over_threshold_duration", RW),
        AttributeSpec(7, "min_under_threshold_duration", RW),
        AttributeSpec(8, "emergency_profile", RW),
        AttributeSpec(9, "emergency_profile_group_id_list", RW),
        AttributeSpec(10, "emergency_profile_active"),
        AttributeSpec(11, "actions", RW),
    )
    defaults = {
        "min_over_threshold_duration": (DataType.DOUBLE_LONG_UNSIGNED, 60),
        "min_under_threshold_duration": (DataType.DOUBLE_LONG_UNSIGNED, 60),
        "emergency_profile": (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 0),
                                                   (DataType.OCTET_STRING, UNSPECIFIED_TIME),
                                                   (DataType.DOUBLE_LONG_UNSIGNED, 0)]),
        "emergency_profile_group_id_list": (DataType.ARRAY, []),
        "actions": (DataType.STRUCTURE, [NO_SCRIPT, NO_SCRIPT]),
    }
    templates = {
        "monitored_value": VALUE_DEFINITION,
        "min_over_threshold_duration": (DataType.DOUBLE_LONG_UNSIGNED, None),
        "min_under_threshold_duration": (DataType.DOUBLE_LONG_UNSIGNED, None),
        "emergency_profile": EMERGENCY_PROFILE,
        "emergency_profile_group_id_list": array_of((DataType.LONG_UNSIGNED, None)),
        "actions": structure(ACTION_ITEM, ACTION_ITEM),
        "threshold_normal": ANY,
        "threshold_emergency": ANY,
    }

    def _emergency(self, obj: CosemObject, ctx: Context) -> bool:
        profile_id, activation, duration = (item[1] for item in self.current(obj, 8, ctx)[1])
        groups = {item[1] for item in self.current(obj, 9, ctx)[1]}
        if profile_id not in groups:
            return False
        try:
            start = CosemDateTime.from_bytes(activation).to_datetime()
        except ValueError:
            return False
        if start.tzinfo is None:
            return False
        begin = start.timestamp()
        return begin <= ctx.t < begin + duration

    def read_threshold_active(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_data(self.current(obj, 5 if self._emergency(obj, ctx) else 4, ctx))

    def read_emergency_profile_active(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_boolean(self._emergency(obj, ctx))

    def _write_threshold(self, obj: CosemObject, attribute_id: int, value: Data,
                         ctx: Context) -> DataAccessResult:
        """A threshold keeps the type of the one it replaces (the monitored value's)."""
        if value[0] != self.current(obj, attribute_id, ctx)[0]:
            return DataAccessResult.TYPE_UNMATCHED
        ctx.meter.values[(obj.logical_name, attribute_id)] = value
        ctx.meter.record("limiter-threshold")
        return DataAccessResult.SUCCESS

    def write_threshold_normal(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        return self._write_threshold(obj, 4, value, ctx)

    def write_threshold_emergency(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        return self._write_threshold(obj, 5, value, ctx)

    # -- the watch ----------------------------------------------------------------

    def armed(self, obj: CosemObject, ctx: Context) -> bool:
        """Whether a client configured the limiter (it then watches the load)."""
        return any((obj.logical_name, attribute) in ctx.meter.values for attribute in SETTINGS)

    def watch_interval(self, obj: CosemObject, ctx: Context) -> float:
        """Seconds between two checks: min_over_threshold_duration (at least 1)."""
        return float(max(1, self.current(obj, 6, ctx)[1]))

    def _monitored(self, obj: CosemObject, ctx: Context) -> float | None:
        class_id, logical_name, attribute = (item[1] for item in self.current(obj, 2, ctx)[1])
        target = ctx.directory.objects.get(logical_name)
        if target is None or target.class_id != class_id:
            return None
        encoded = target.interface_class.get(target, attribute, ctx)
        if not isinstance(encoded, bytes):
            return None
        value = decode_data(encoded)[0][1]
        return float(value) if isinstance(value, (int, float)) else None

    def _over(self, obj: CosemObject, ctx: Context) -> bool | None:
        value, threshold = self._monitored(obj, ctx), self.current(obj, 5 if self._emergency(obj, ctx) else 4, ctx)[1]
        return None if value is None or not isinstance(threshold, (int, float)) else value > threshold

    def _run(self, obj: CosemObject, ctx: Context, which: int) -> None:
        script_ln, selector = (item[1] for item in self.current(obj, 11, ctx)[1][which][1])
        table = ctx.directory.objects.get(script_ln)
        if table is not None and table.class_id == SCRIPT_TABLE:
            table.interface_class.action(table, EXECUTE, (DataType.LONG_UNSIGNED, selector), ctx)

    def check(self, obj: CosemObject, ctx: Context) -> ActionResult | None:
        """Trip or recover at the request's instant; which action ran (None: none)."""
        key = (obj.logical_name, "tripped")
        tripped = ctx.meter.object_state.get(key)
        if not tripped:
            earlier = ctx.at(ctx.t - self.current(obj, 6, ctx)[1])
            if self._over(obj, ctx) and self._over(obj, earlier):
                ctx.meter.object_state[key] = ctx.t
                ctx.meter.record(LIMITER_TRIP)
                self._run(obj, ctx, 0)
                return ActionResult.SUCCESS
            return None
        under_for = self.current(obj, 7, ctx)[1]
        if ctx.t - tripped >= under_for and self._over(obj, ctx) is False \
                and self._over(obj, ctx.at(ctx.t - under_for)) is False:
            ctx.meter.object_state[key] = 0
            ctx.meter.record(LIMITER_OK)
            self._run(obj, ctx, 1)
            return ActionResult.SUCCESS
        return None

    def set(self, obj: CosemObject, attribute_id: int, value: Data, ctx: Context) -> DataAccessResult:
        """Any setting arms (or re-arms) the edge's watch."""
        result = super().set(obj, attribute_id, value, ctx)
        if result == DataAccessResult.SUCCESS and ctx.meter.edge is not None:
            ctx.meter.edge.schedule_changed()
        return result

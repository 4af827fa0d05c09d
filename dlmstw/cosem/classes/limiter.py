"""Limiter, class_id 71, version 0 (Blue Book 4.5.9).

A configured limiter: its monitored value, thresholds, durations, emergency
profile and actions are attributes a client reads and sets (threshold
changes are recorded for the meter's event logs). threshold_active is the
emergency threshold while the emergency profile is active, else the normal
one; emergency_profile_active is TRUE from the emergency profile's activation
time for its duration, when its id is in emergency_profile_group_id_list.
The simulated load is not cut when it exceeds the threshold.
"""

from __future__ import annotations

from ...codec import axdr
from ...codec.axdr import CosemDateTime, Data
from ...enums import AttributeAccess, DataAccessResult, DataType
from ..base import AttributeSpec, Context, CosemObject, Encoded
from .configured import ANY, DATE_TIME, LOGICAL_NAME, ConfiguredClass, array_of, structure

RW = AttributeAccess.READ_AND_WRITE
VALUE_DEFINITION = structure((DataType.LONG_UNSIGNED, None), LOGICAL_NAME, (DataType.INTEGER, None))
ACTION_ITEM = structure(LOGICAL_NAME, (DataType.LONG_UNSIGNED, None))
EMERGENCY_PROFILE = structure((DataType.LONG_UNSIGNED, None), DATE_TIME, (DataType.DOUBLE_LONG_UNSIGNED, None))
NO_SCRIPT: Data = (DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes(6)), (DataType.LONG_UNSIGNED, 0)])
UNSPECIFIED_TIME = bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")


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

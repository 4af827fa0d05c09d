"""Single action schedule, class_id 22, version 0 (Blue Book 4.5.7).

Its script, type and execution times are configured attributes clients read
and set (on the built-in models, the end of billing period schedule says when
billing profiles capture).
"""

from __future__ import annotations

from ...codec.axdr import Data
from ...enums import AttributeAccess, DataAccessResult, DataType
from ..base import AttributeSpec, Context, CosemObject
from .configured import DATE, LOGICAL_NAME, TIME, ConfiguredClass, array_of, conforms, structure

RW = AttributeAccess.READ_AND_WRITE
#: type (Blue Book 4.5.7, attribute 3): 1..5.
SCHEDULE_TYPES = range(1, 6)


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

    def write_type(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        if not conforms(value, (DataType.ENUM, None)):
            return DataAccessResult.TYPE_UNMATCHED
        if value[1] not in SCHEDULE_TYPES:
            return DataAccessResult.OTHER_REASON
        ctx.meter.values[(obj.logical_name, 3)] = value
        return DataAccessResult.SUCCESS

"""Clock, class_id 8, version 0 (Blue Book 4.5.1).

The meter's time is real time plus a per-meter offset; setting attribute 2
moves the offset, so the clock keeps running from the new time.
"""

from __future__ import annotations

from ...codec import axdr
from ...codec.axdr import CosemDateTime, Data
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec, encode_time_of, period_start
from ..interface_class import InterfaceClass

#: clock_base enum (Blue Book 4.5.1): 1 = internal crystal.
INTERNAL_CRYSTAL = 1


class Clock(InterfaceClass):
    """``params``: ``dst_begin`` / ``dst_end`` (12-byte date-time patterns,
    default "not specified"), ``dst_deviation`` (minutes), ``dst_enabled``."""

    class_id = 8
    version = 0
    name = "Clock"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "time", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(3, "time_zone", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(4, "status"),
        AttributeSpec(5, "daylight_savings_begin", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(6, "daylight_savings_end", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(7, "daylight_savings_deviation", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(8, "daylight_savings_enabled", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(9, "clock_base"),
    )
    methods = (
        MethodSpec(1, "adjust_to_quarter"),
        MethodSpec(2, "adjust_to_measuring_period"),
        MethodSpec(3, "adjust_to_minute"),
        MethodSpec(4, "adjust_to_preset_time"),
        MethodSpec(5, "preset_adjusting_time"),
        MethodSpec(6, "shift_time"),
    )

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        unspecified = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"
        params = obj.params
        params["_dst_begin"] = axdr.encode_octet_string(params.get("dst_begin", unspecified))
        params["_dst_end"] = axdr.encode_octet_string(params.get("dst_end", unspecified))
        params["_dst_deviation"] = axdr.encode_integer(params.get("dst_deviation", 0))
        params["_dst_enabled"] = axdr.encode_boolean(params.get("dst_enabled", False))
        params["_clock_base"] = axdr.encode_enum(INTERNAL_CRYSTAL)

    def read_time(self, obj: CosemObject, ctx: Context) -> Encoded:
        return encode_time_of(ctx, ctx.t)

    def read_time_zone(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_long(ctx.meter.deviation)

    def read_status(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_unsigned(ctx.meter.clock_status)

    def read_daylight_savings_begin(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_dst_begin"]

    def read_daylight_savings_end(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_dst_end"]

    def read_daylight_savings_deviation(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_dst_deviation"]

    def read_daylight_savings_enabled(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_dst_enabled"]

    def read_clock_base(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_clock_base"]

    def write_time(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        """Blue Book 4.5.1: the time is an octet-string(12) date-time; parts
        left "not specified" cannot set a clock."""
        if value[0] not in (DataType.OCTET_STRING, DataType.DATE_TIME) or len(value[1]) != 12:
            return DataAccessResult.TYPE_UNMATCHED
        try:
            moment = CosemDateTime.from_bytes(value[1]).to_datetime()
        except ValueError:
            return DataAccessResult.OTHER_REASON
        if moment.tzinfo is None:
            return DataAccessResult.OTHER_REASON
        ctx.meter.set_clock(moment.timestamp())
        return DataAccessResult.SUCCESS

    def _shift(self, ctx: Context, seconds: float) -> tuple[ActionResult, bytes | None]:
        ctx.meter.set_clock(ctx.meter.now() + seconds)
        return ActionResult.SUCCESS, None

    def _round(self, ctx: Context, grid: int) -> tuple[ActionResult, bytes | None]:
        """Blue Book 4.5.1: round to the nearest grid instant (up from half)."""
        now = ctx.meter.now()
        offset = now - period_start(ctx.meter, now, grid)
        return self._shift(ctx, -offset if offset < grid / 2 else grid - offset)

    def do_adjust_to_quarter(self, obj: CosemObject, parameters: Data | None,
                             ctx: Context) -> tuple[ActionResult, bytes | None]:
        return self._round(ctx, 900)

    def do_adjust_to_minute(self, obj: CosemObject, parameters: Data | None,
                            ctx: Context) -> tuple[ActionResult, bytes | None]:
        return self._round(ctx, 60)

    def do_adjust_to_measuring_period(self, obj: CosemObject, parameters: Data | None,
                                      ctx: Context) -> tuple[ActionResult, bytes | None]:
        return self._round(ctx, ctx.meter.load_profile_period)

    def do_shift_time(self, obj: CosemObject, parameters: Data | None,
                      ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Blue Book 4.5.1: shift by -900..900 seconds (a long)."""
        if parameters is None or parameters[0] != DataType.LONG or not -900 <= parameters[1] <= 900:
            return ActionResult.TYPE_UNMATCHED, None
        return self._shift(ctx, parameters[1])

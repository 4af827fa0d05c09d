"""Register (3), Extended register (4) and Demand register (5) (Blue Book 4.3.2-4.3.4).

A register's value source returns a physical quantity in the unit of its
scaler_unit; the class scales it (value = quantity / 10**scaler) and encodes it
in the register's A-XDR type, unless the meter's anomalies spoil that value at
that instant (``simulator.anomalies``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ...codec import axdr
from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ..base import (AttributeSpec, Context, CosemObject, Encoded, MethodSpec, divides_the_day, encode_time_of,
                    period_start)
from ..interface_class import InterfaceClass, constant_or_source

#: Fast encoders of the numeric types a register value may have.
NUMERIC_ENCODERS: dict[DataType, Callable[[int], bytes]] = {
    DataType.INTEGER: axdr.encode_integer,
    DataType.LONG: axdr.encode_long,
    DataType.DOUBLE_LONG: axdr.encode_double_long,
    DataType.LONG64: axdr.encode_long64,
    DataType.UNSIGNED: axdr.encode_unsigned,
    DataType.LONG_UNSIGNED: axdr.encode_long_unsigned,
    DataType.DOUBLE_LONG_UNSIGNED: axdr.encode_double_long_unsigned,
    DataType.LONG64_UNSIGNED: axdr.encode_long64_unsigned,
}

#: The integer types a register value may have: (least value, count of values) (Green Book 9.5).
INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INTEGER: (-1 << 7, 1 << 8),
    DataType.LONG: (-1 << 15, 1 << 16),
    DataType.DOUBLE_LONG: (-1 << 31, 1 << 32),
    DataType.LONG64: (-1 << 63, 1 << 64),
    DataType.UNSIGNED: (0, 1 << 8),
    DataType.LONG_UNSIGNED: (0, 1 << 16),
    DataType.DOUBLE_LONG_UNSIGNED: (0, 1 << 32),
    DataType.LONG64_UNSIGNED: (0, 1 << 64),
}


def _rolling(encode: Callable[[int], bytes], value_type: DataType) -> Callable[[int], bytes]:
    """``encode`` of a value taken modulo the range of ``value_type``, as a register rolls over."""
    least, count = INTEGER_RANGES[value_type]
    return lambda value: encode((value - least) % count + least)


def prepare_scaled(obj: CosemObject) -> None:
    """Pre-encode scaler_unit and choose the value encoder of ``obj``; with
    ``params["rollover"]`` an integer value rolls over at its type's range."""
    params = obj.params
    scaler = params.get("scaler", 0)
    params["_scaler_unit"] = axdr.encode_data(
        (DataType.STRUCTURE, [(DataType.INTEGER, scaler), (DataType.ENUM, int(params["unit"]))]))
    value_type = params.get("type", DataType.DOUBLE_LONG_UNSIGNED)
    params["_type"] = value_type
    params["_float"] = value_type in (DataType.FLOAT32, DataType.FLOAT64)
    params["_factor"] = 10.0 ** -scaler
    params["_encode"] = NUMERIC_ENCODERS.get(value_type) or (lambda v, t=value_type: axdr.encode_data((t, float(v))))
    if params.get("rollover") and value_type in INTEGER_RANGES:
        params["_encode"] = _rolling(params["_encode"], value_type)


def encode_scaled(obj: CosemObject, quantity: float, ctx: Context) -> bytes:
    """``quantity`` in the object's unit, scaled and encoded; a value anomaly
    of the meter at the request's instant replaces it."""
    params = obj.params
    scaled = quantity * params["_factor"] if params["_float"] else math.floor(quantity * params["_factor"] + 0.5)
    anomalies = ctx.meter.anomalies
    if anomalies is not None:
        spoiled = anomalies.spoil_value(obj.logical_name, ctx.t, params["_type"], scaled)
        if spoiled is not None:
            return axdr.encode_data(spoiled)
    return params["_encode"](scaled)


class Register(InterfaceClass):
    """A value with its scaler and unit. ``params``: ``value`` (constant or
    source of the physical quantity), ``scaler``, ``unit``, ``type``."""

    class_id = 3
    version = 0
    name = "Register"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "value", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(3, "scaler_unit", AttributeAccess.READ_AND_WRITE),
    )
    methods = (MethodSpec(1, "reset"),)

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        prepare_scaled(obj)

    def read_value(self, obj: CosemObject, ctx: Context) -> Encoded:
        return encode_scaled(obj, constant_or_source(obj, "value", ctx), ctx)

    def bind_reader(self, obj: CosemObject, attribute_id: int) -> Callable[[Context], Encoded] | None:
        """The value of a register with a value source: the source called straight."""
        source = obj.params.get("value")
        if attribute_id != 2 or not callable(source) or type(self).read_value is not Register.read_value:
            return super().bind_reader(obj, attribute_id)
        return lambda ctx: encode_scaled(obj, source(ctx), ctx)

    def read_scaler_unit(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_scaler_unit"]


class ExtendedRegister(Register):
    """A register with a status and the time its value was captured.
    Extra ``params``: ``status`` (Data tuple, default unsigned 0) and
    ``capture_time`` (source of POSIX seconds, default: the request's instant)."""

    class_id = 4
    version = 0
    name = "Extended register"
    attributes = Register.attributes + (
        AttributeSpec(4, "status"),
        AttributeSpec(5, "capture_time"),
    )

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        obj.params["_status"] = axdr.encode_data(obj.params.get("status", (DataType.UNSIGNED, 0)))

    def read_status(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_status"]

    def read_capture_time(self, obj: CosemObject, ctx: Context) -> Encoded:
        source = obj.params.get("capture_time")
        return encode_time_of(ctx, source(ctx) if source is not None else ctx.t)


class DemandRegister(InterfaceClass):
    """Average demand over fixed periods (Blue Book 4.3.4). ``params``:
    ``energy`` (source of the cumulative energy in the unit-hours of the
    demand's unit, read at the snapshot it is given), ``period`` (seconds),
    ``number_of_periods``, ``scaler``, ``unit``, ``type``.

    current_average_value is the average since the current period began;
    last_average_value the average over the last completed period. Periods
    follow the local-midnight grid until ``reset`` or ``next_period`` starts one
    at another instant; later periods follow from there."""

    class_id = 5
    version = 0
    name = "Demand register"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "current_average_value"),
        AttributeSpec(3, "last_average_value"),
        AttributeSpec(4, "scaler_unit", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(5, "status"),
        AttributeSpec(6, "capture_time"),
        AttributeSpec(7, "start_time_current"),
        AttributeSpec(8, "period", AttributeAccess.READ_AND_WRITE),
        AttributeSpec(9, "number_of_periods", AttributeAccess.READ_AND_WRITE),
    )
    methods = (MethodSpec(1, "reset"), MethodSpec(2, "next_period"))

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        prepare_scaled(obj)
        obj.params["_status"] = axdr.encode_data(obj.params.get("status", (DataType.UNSIGNED, 0)))
        period = obj.params["period"]
        if not divides_the_day(int(period)):
            raise ValueError(f"period {period} is not 60..86400 seconds dividing the day")

    def _period(self, obj: CosemObject, ctx: Context) -> int:
        stored = ctx.meter.values.get((obj.logical_name, 8))
        return int(stored[1]) if stored is not None else int(obj.params["period"])

    def _anchor(self, obj: CosemObject, ctx: Context) -> tuple[float, float | None] | None:
        """(instant a period was started by a method, start of the period it
        ended or None after a reset), when that instant is not in the future."""
        anchor = ctx.meter.object_state.get((obj.logical_name, "anchor"))
        return anchor if anchor is not None and anchor[0] <= ctx.t else None

    def _start(self, obj: CosemObject, ctx: Context) -> float:
        period = self._period(obj, ctx)
        anchor = self._anchor(obj, ctx)
        if anchor is None:
            return period_start(ctx.meter, ctx.t, period)
        return anchor[0] + (ctx.t - anchor[0]) // period * period

    def _average(self, obj: CosemObject, ctx: Context, begin: float, end: float) -> float:
        if end <= begin:
            return 0.0
        energy: Callable[[Any], float] = obj.params["energy"]
        delta = energy(ctx.at(end).snapshot) - energy(ctx.at(begin).snapshot)
        return delta * 3600.0 / (end - begin)

    def read_current_average_value(self, obj: CosemObject, ctx: Context) -> Encoded:
        start = self._start(obj, ctx)
        return encode_scaled(obj, self._average(obj, ctx, start, ctx.t), ctx)

    def read_last_average_value(self, obj: CosemObject, ctx: Context) -> Encoded:
        """Over the last completed period; right after ``next_period``, over the
        period it ended; right after ``reset``, 0 (Blue Book 4.3.4)."""
        start = self._start(obj, ctx)
        anchor = self._anchor(obj, ctx)
        begin = start - self._period(obj, ctx)
        if anchor is not None and start == anchor[0]:
            if anchor[1] is None:
                return encode_scaled(obj, 0.0, ctx)
            begin = anchor[1]
        return encode_scaled(obj, self._average(obj, ctx, begin, start), ctx)

    def read_scaler_unit(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_scaler_unit"]

    def read_status(self, obj: CosemObject, ctx: Context) -> Encoded:
        return obj.params["_status"]

    def read_capture_time(self, obj: CosemObject, ctx: Context) -> Encoded:
        return encode_time_of(ctx, self._start(obj, ctx))

    def read_start_time_current(self, obj: CosemObject, ctx: Context) -> Encoded:
        return encode_time_of(ctx, self._start(obj, ctx))

    def read_period(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_double_long_unsigned(self._period(obj, ctx))

    def read_number_of_periods(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_long_unsigned(int(obj.params.get("number_of_periods", 1)))

    def write_period(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        """A period must divide the day so that periods stay on the clock grid."""
        if value[0] != DataType.DOUBLE_LONG_UNSIGNED:
            return DataAccessResult.TYPE_UNMATCHED
        if not divides_the_day(value[1]):
            return DataAccessResult.OTHER_REASON
        ctx.meter.values[(obj.logical_name, 8)] = value
        ctx.meter.record("demand-period")
        return DataAccessResult.SUCCESS

    def do_reset(self, obj: CosemObject, parameters: Data | None, ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Blue Book 4.3.4 method 1: both averages restart from 0 and a new
        period starts now (data ::= integer (0))."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        ctx.meter.object_state[(obj.logical_name, "anchor")] = (ctx.t, None)
        ctx.meter.record("demand-reset")
        return ActionResult.SUCCESS, None

    def do_next_period(self, obj: CosemObject, parameters: Data | None,
                       ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Blue Book 4.3.4 method 2: the current period ends now, its average
        becomes last_average_value, and a new period starts (data ::= integer (0))."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        ctx.meter.object_state[(obj.logical_name, "anchor")] = (ctx.t, self._start(obj, ctx))
        return ActionResult.SUCCESS, None

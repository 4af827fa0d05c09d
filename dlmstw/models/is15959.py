"""``is15959-abt``: a substation interface (ABT) meter in the spirit of
IS 15959: name plate, clock, instantaneous parameters with their profile and
scaler profile, block load profile, daily load profile, and demand.

Values are on the CT/PT secondary side, as interface meters report them,
from the meter's deterministic simulator (load shape ``feeder``); the meter
keeps Indian Standard Time, so daily rows fall at local midnight.
"""

from __future__ import annotations

import calendar
import time
from typing import Any, Callable, Mapping

from twisted.plugin import IPlugin
from zope.interface import implementer

from .. import __version__
from ..cosem.base import Context, CosemObject, period_start
from ..enums import DataType, Unit
from ..interfaces import IInterfaceClass, IObjectSet

CLOCK = bytes((0, 0, 1, 0, 0, 255))


def obis(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def last_boundary(ctx: Context) -> Context:
    """The request at the end of the last completed load-profile period."""
    return ctx.at(period_start(ctx.meter, ctx.t, ctx.meter.load_profile_period))


def instantaneous(field: str) -> Callable[[Context], float]:
    return lambda ctx: getattr(ctx.snapshot.instantaneous, field)


def cumulative(field: str) -> Callable[[Context], float]:
    return lambda ctx: getattr(ctx.snapshot.cumulative, field)


def block(field: str) -> Callable[[Context], float]:
    """A value over the last completed load-profile period."""
    return lambda ctx: getattr(last_boundary(ctx).snapshot.interval, field)


def net_active_power(ctx: Context) -> float:
    values = ctx.snapshot.instantaneous
    return values.active_power_import - values.active_power_export


#: (OBIS, description, source, scaler, unit, type) of the instantaneous registers (class 3).
INSTANTANEOUS_REGISTERS: tuple[tuple[str, str, Callable[[Context], float], int, Unit, DataType], ...] = (
    ("1.0.32.7.0.255", "Voltage L1", instantaneous("voltage_l1"), -2, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.52.7.0.255", "Voltage L2", instantaneous("voltage_l2"), -2, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.72.7.0.255", "Voltage L3", instantaneous("voltage_l3"), -2, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.31.7.0.255", "Current L1", instantaneous("current_l1"), -3, Unit.AMPERE, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.51.7.0.255", "Current L2", instantaneous("current_l2"), -3, Unit.AMPERE, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.71.7.0.255", "Current L3", instantaneous("current_l3"), -3, Unit.AMPERE, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.33.7.0.255", "Power factor L1", instantaneous("power_factor_l1"), -3, Unit.COUNT, DataType.LONG),
    ("1.0.53.7.0.255", "Power factor L2", instantaneous("power_factor_l2"), -3, Unit.COUNT, DataType.LONG),
    ("1.0.73.7.0.255", "Power factor L3", instantaneous("power_factor_l3"), -3, Unit.COUNT, DataType.LONG),
    ("1.0.13.7.0.255", "Total power factor", instantaneous("power_factor"), -3, Unit.COUNT, DataType.LONG),
    ("1.0.14.7.0.255", "Frequency", instantaneous("frequency"), -2, Unit.HERTZ, DataType.LONG_UNSIGNED),
    ("1.0.9.7.0.255", "Apparent power", instantaneous("apparent_power"), -1, Unit.VOLT_AMPERE,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.1.7.0.255", "Active power (import - export)", net_active_power, -1, Unit.WATT, DataType.DOUBLE_LONG),
    ("1.0.3.7.0.255", "Reactive power", instantaneous("reactive_power"), -1, Unit.VAR, DataType.DOUBLE_LONG),
    ("1.0.1.8.0.255", "Cumulative active energy import", cumulative("active_energy_import"), 0, Unit.WATT_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.2.8.0.255", "Cumulative active energy export", cumulative("active_energy_export"), 0, Unit.WATT_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.5.8.0.255", "Cumulative reactive energy, lag (Q1)", cumulative("reactive_energy_lag"), 0,
     Unit.VAR_HOUR, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.8.8.0.255", "Cumulative reactive energy, lead (Q4)", cumulative("reactive_energy_lead"), 0,
     Unit.VAR_HOUR, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.9.8.0.255", "Cumulative apparent energy", cumulative("apparent_energy"), 0, Unit.VOLT_AMPERE_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("0.0.94.91.14.255", "Cumulative power-on duration", cumulative("power_on_minutes"), 0, Unit.MINUTE,
     DataType.DOUBLE_LONG_UNSIGNED),
)

#: Registers of the block load profile: averages and energies over each period.
BLOCK_REGISTERS: tuple[tuple[str, str, Callable[[Context], float], int, Unit, DataType], ...] = (
    ("1.0.32.27.0.255", "Average voltage L1", block("avg_voltage_l1"), -2, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.52.27.0.255", "Average voltage L2", block("avg_voltage_l2"), -2, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.72.27.0.255", "Average voltage L3", block("avg_voltage_l3"), -2, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.31.27.0.255", "Average current L1", block("avg_current_l1"), -3, Unit.AMPERE,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.51.27.0.255", "Average current L2", block("avg_current_l2"), -3, Unit.AMPERE,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.71.27.0.255", "Average current L3", block("avg_current_l3"), -3, Unit.AMPERE,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.14.27.0.255", "Average frequency", block("avg_frequency"), -2, Unit.HERTZ, DataType.LONG_UNSIGNED),
    ("1.0.1.29.0.255", "Block active energy import", block("active_energy_import"), -1, Unit.WATT_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.2.29.0.255", "Block active energy export", block("active_energy_export"), -1, Unit.WATT_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.5.29.0.255", "Block reactive energy, lag", block("reactive_energy_lag"), -1, Unit.VAR_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.8.29.0.255", "Block reactive energy, lead", block("reactive_energy_lead"), -1, Unit.VAR_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.9.29.0.255", "Block apparent energy", block("apparent_energy"), -1, Unit.VOLT_AMPERE_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
)

DAILY_CAPTURED = ("1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.5.8.0.255", "1.0.8.8.0.255", "1.0.9.8.0.255")
DEMAND_PERIOD = 900


def maximum_demand(ctx: Context) -> tuple[float, float]:
    """(maximum average active import power in W, end of its period) over the
    demand periods of the current month so far."""
    period = DEMAND_PERIOD
    now = ctx.t
    offset = ctx.meter.utc_offset
    today = time.gmtime(now + offset)
    month_start = float(calendar.timegm((today.tm_year, today.tm_mon, 1, 0, 0, 0)) - offset)
    end = period_start(ctx.meter, now, period)
    best, best_end = 0.0, month_start
    previous = ctx.at(month_start).snapshot.cumulative.active_energy_import
    t = month_start + period
    while t <= end:
        energy = ctx.at(t).snapshot.cumulative.active_energy_import
        demand = (energy - previous) * 3600.0 / period
        if demand > best:
            best, best_end = demand, t
        previous = energy
        t += period
    return best, best_end


def text(value: str) -> Callable[[Context], tuple[DataType, bytes]]:
    encoded = value.encode("ascii")
    return lambda ctx: (DataType.OCTET_STRING, encoded)


@implementer(IPlugin, IObjectSet)
class IS15959ABT:
    name = "is15959-abt"
    description = "Substation interface (ABT) meter in the spirit of IS 15959"
    load_shape = "feeder"
    utc_offset = 19800  # IST, +05:30

    def objects(self, classes: Mapping[int, IInterfaceClass]) -> list[CosemObject]:
        data, register, extended, demand = classes[1], classes[3], classes[4], classes[5]
        profile, clock = classes[7], classes[8]
        objects: list[CosemObject] = [CosemObject(CLOCK, clock, {}, "Clock")]

        def add(ln: str, ic: Any, params: dict[str, Any], description: str) -> None:
            objects.append(CosemObject(obis(ln), ic, params, description))

        name_plate = (
            ("0.0.96.1.0.255", "Meter serial number",
             lambda ctx: (DataType.OCTET_STRING, str(ctx.meter.serial).encode("ascii"))),
            ("0.0.96.1.1.255", "Manufacturer name", (DataType.OCTET_STRING, b"dlmstw virtual meters")),
            ("1.0.0.2.0.255", "Firmware version", (DataType.OCTET_STRING, f"dlmstw {__version__}".encode())),
            ("0.0.96.1.2.255", "Meter model", (DataType.OCTET_STRING, b"ABT-3P4W-SIM")),
        )
        for ln, description, value in name_plate:
            add(ln, data, {"value": value}, description)
        add("0.0.94.91.10.255", profile, {
            "capture_objects": [(1, obis(ln), 2, 0) for ln, _, _ in name_plate],
            "capture_period": 0, "profile_entries": 1}, "Name plate details")

        for ln, description, source, scaler, unit, value_type in INSTANTANEOUS_REGISTERS + BLOCK_REGISTERS:
            add(ln, register, {"value": source, "scaler": scaler, "unit": unit, "type": value_type}, description)
        add("0.0.96.7.0.255", data, {"value": lambda ctx: (DataType.DOUBLE_LONG_UNSIGNED,
                                                            int(ctx.snapshot.cumulative.power_failures))},
            "Number of power failures")
        add("1.0.1.4.0.255", demand, {
            "energy": lambda snapshot: snapshot.cumulative.active_energy_import, "period": DEMAND_PERIOD,
            "number_of_periods": 1, "scaler": -1, "unit": Unit.WATT, "type": DataType.DOUBLE_LONG_UNSIGNED},
            "Active power import demand")
        add("1.0.1.6.0.255", extended, {
            "value": lambda ctx: maximum_demand(ctx)[0], "capture_time": lambda ctx: maximum_demand(ctx)[1],
            "scaler": -1, "unit": Unit.WATT, "type": DataType.DOUBLE_LONG_UNSIGNED},
            "Maximum active power import demand, this month")

        instantaneous_columns = [(8, CLOCK, 2, 0)] + [
            (3, obis(ln), 2, 0) for ln, *_ in INSTANTANEOUS_REGISTERS] + [(1, obis("0.0.96.7.0.255"), 2, 0)]
        add("1.0.94.91.0.255", profile, {"capture_objects": instantaneous_columns, "capture_period": 0,
                                         "profile_entries": 1}, "Instantaneous profile")
        add("1.0.94.91.3.255", profile, {
            "capture_objects": [(3, obis(ln), 3, 0) for ln, *_ in INSTANTANEOUS_REGISTERS],
            "capture_period": 0, "profile_entries": 1}, "Instantaneous scaler profile")

        add("1.0.99.1.0.255", profile, {
            "capture_objects": [(8, CLOCK, 2, 0)] + [(3, obis(ln), 2, 0) for ln, *_ in BLOCK_REGISTERS],
            "capture_period": lambda meter: meter.load_profile_period,
            "profile_entries": lambda meter: meter.load_profile_days * 86400 // meter.load_profile_period},
            "Block load profile")
        add("1.0.94.91.4.255", profile, {
            "capture_objects": [(3, obis(ln), 3, 0) for ln, *_ in BLOCK_REGISTERS],
            "capture_period": 0, "profile_entries": 1}, "Block load scaler profile")

        add("1.0.99.2.0.255", profile, {
            "capture_objects": [(8, CLOCK, 2, 0)] + [(3, obis(ln), 2, 0) for ln in DAILY_CAPTURED],
            "capture_period": 86400, "profile_entries": lambda meter: meter.load_profile_days},
            "Daily load profile")
        add("1.0.94.91.5.255", profile, {
            "capture_objects": [(3, obis(ln), 3, 0) for ln in DAILY_CAPTURED],
            "capture_period": 0, "profile_entries": 1}, "Daily load scaler profile")
        return objects


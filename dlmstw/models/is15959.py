"""IS 15959 object models: ``is15959-abt``, a substation interface (ABT)
meter, and ``is15959-household``, a three-phase whole-current consumer smart
meter (IS 15959 Part 2).

Both keep Indian Standard Time, so daily rows fall at local midnight, and
have: name plate objects and profile, clock, instantaneous registers with
their profile and scaler profile, block load profile (capture period from
lab.ini, changeable by SET), daily load profile, monthly billing profile
(1.0.98.1.0.255) with maximum demand and its time, the seven event logs
(0.0.99.98.0..6.255: voltage, current, power failure, transaction, other,
non-rollover, control events) with their event code objects
(0.0.96.11.0..6.255) and scaler profile, and demand. The household meter
adds load control and communication objects: disconnect control with its
script table, limiter, activity calendar with its tariff script table,
single action schedule for the billing date with the MD reset script table,
push setup, TCP-UDP setup and IPv4 setup.

Values come from the meter's deterministic simulator: load shape ``feeder``
(CT/PT secondary side, as interface meters report them) for ABT meters,
``household`` for consumer meters. Event codes are those of the event code
tables of IS 15959 (Parts 1 and 2), by log: voltage related 1/2 R phase
voltage (PT link) missing (ABT only), 7/8 over voltage, 9/10 low voltage,
11/12 voltage unbalance; current related 51/52 R phase current reverse,
57/58 R phase CT open (ABT only), 63/64 current unbalance, 67/68 over current; power failure 101/102;
transaction 151 real time clock, 152 demand integration period, 153 profile
capture period, 155 activity calendar, 157 new firmware activated, 158 load
limit set, 166 MD reset; other events 201/202 influence of permanent magnet
or AC/DC electromagnet, 203/204 neutral disturbance (HF and DC), 215/216
overload (the limiter tripped, and recovered); non-rollover 251 meter cover
opening; control 301/302 load switch disconnected/connected. Each pair is
occurrence/restoration.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from twisted.plugin import IPlugin
from zope.interface import implementer

from ..codec.obis import CLOCK
from ..cosem.base import Context, CosemObject
from ..cosem.classes.script_table import WRITE_ATTRIBUTE, script
from ..enums import DataType, Unit
from ..interfaces import IInterfaceClass, IObjectSet
from ..simulator import events as simulated
from ..simulator.events import Condition
from .common import (BILLING_ENTRIES, DEMAND_PERIOD, DISCONNECT_SCRIPTS, Builder, EventLog, EventSource,
                     RegisterRow,
                     add_communication, add_disconnect_control, add_image_transfer, add_monthly_demand_reset,
                     billing_boundaries, billing_count, firmware,
                     billing_power_factor, billing_power_on_minutes, block, cumulative, current_unbalance,
                     date_time_data, high_voltage, instantaneous, last_billing, latest_event_code,
                     low_voltage, maximum_demand, net_active_power, obis, over_current, tamper_count, text,
                     voltage_unbalance)
from .tariffs import ACTIVE_TARIFF, TARIFF_REGISTERS, TARIFFS, add_tariffs

IST = 19800  # +05:30

#: Registers of the ABT meter's instantaneous profile (class 3), secondary side.
INSTANTANEOUS_REGISTERS: tuple[RegisterRow, ...] = (
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

#: Registers of the household meter's instantaneous profile: 230 V / 10 A, values in W, var, VA.
HOUSEHOLD_REGISTERS: tuple[RegisterRow, ...] = tuple(
    row if row[0] not in ("1.0.9.7.0.255", "1.0.1.7.0.255", "1.0.3.7.0.255")
    else (row[0], row[1], row[2], 0, row[4], row[5])
    for row in INSTANTANEOUS_REGISTERS)

#: Registers of the block load profile: averages and energies over each period.
BLOCK_REGISTERS: tuple[RegisterRow, ...] = (
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

#: Billing registers (IS 15959 billing profile): power factor and power-on time of
#: the billing period; the maximum demands are extended registers with their time.
BILLING_REGISTERS: tuple[RegisterRow, ...] = (
    ("1.0.13.0.0.255", "Average power factor of the billing period", billing_power_factor, -3, Unit.COUNT,
     DataType.LONG),
    ("0.0.94.91.13.255", "Power-on duration in the billing period", billing_power_on_minutes, 0, Unit.MINUTE,
     DataType.DOUBLE_LONG_UNSIGNED),
)
MAXIMUM_DEMANDS: tuple[RegisterRow, ...] = (
    ("1.0.1.6.0.255", "Maximum active power import demand, this billing period",
     lambda ctx: maximum_demand(ctx)[0], -1, Unit.WATT, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.9.6.0.255", "Maximum apparent power demand, this billing period",
     lambda ctx: maximum_demand(ctx)[2], -1, Unit.VOLT_AMPERE, DataType.DOUBLE_LONG_UNSIGNED),
)
MAXIMUM_DEMAND_TIMES = {"1.0.1.6.0.255": 1, "1.0.9.6.0.255": 3}
BILLING_CAPTURED = ("1.0.1.8.0.255", "1.0.5.8.0.255", "1.0.8.8.0.255", "1.0.9.8.0.255")

VOLTAGE_EVENTS = (Condition(7, 8, high_voltage(1.015)), Condition(9, 10, low_voltage(0.965)),
                  Condition(11, 12, voltage_unbalance(0.035)))
CURRENT_EVENTS = (Condition(63, 64, current_unbalance(0.5, 0.1)), Condition(67, 68, over_current(1.0)))
#: Tampers of a transformer-operated (ABT) meter: R phase voltage missing, R phase CT open.
PT_EVENTS = {simulated.PT_MISSING: 1, simulated.PT_RESTORED: 2}
CT_EVENTS = {simulated.CT_OPEN: 57, simulated.CT_CLOSED: 58}
#: Tampers of every meter in the current related events: R phase current reverse.
REVERSE_EVENTS = {simulated.CURRENT_REVERSED: 51, simulated.CURRENT_REVERSE_ENDED: 52}
POWER_EVENTS = (101, 102)
TRANSACTION_EVENTS = {simulated.CLOCK_NEW: 151, simulated.DEMAND_PERIOD: 152, simulated.CAPTURE_PERIOD: 153,
                      simulated.CALENDAR_ACTIVATED: 155, simulated.FIRMWARE_ACTIVATED: 157,
                      simulated.LIMITER_THRESHOLD: 158, simulated.DEMAND_RESET: 166}
#: A restart on new firmware, logged as a power failure and its restoration.
RESTART_EVENTS = {simulated.POWER_DOWN: POWER_EVENTS[0], simulated.POWER_UP: POWER_EVENTS[1]}
OTHER_EVENTS = {simulated.MAGNET: 201, simulated.MAGNET_REMOVED: 202, simulated.NEUTRAL_DISTURBANCE: 203,
                simulated.NEUTRAL_RESTORED: 204, simulated.LIMITER_TRIP: 215, simulated.LIMITER_OK: 216}
NON_ROLLOVER_EVENTS = {simulated.COVER_OPENED: 251}
CONTROL_EVENTS = {simulated.DISCONNECT: 301, simulated.RECONNECT: 302}
#: How far back the non-rollover log looks (its entry stays for the meter's life).
NON_ROLLOVER_HORIZON = 3650 * 86400


def codes_of(e: int) -> range:
    """The event codes of log E (IS 15959 numbers them in blocks of 50: voltage 1..50, current 51..100, ...)."""
    return range(e * 50 + 1, e * 50 + 51)


def event_logs(transformer_operated: bool) -> tuple[tuple[int, str, EventSource, int, bool, int | None], ...]:
    """(E of 0.0.99.98.E.255 and 0.0.96.11.E.255, name, events, entries, with snapshot columns,
    horizon in seconds or None for the meter's load profile days) of the seven event logs; a
    transformer-operated meter also logs its PT and CT tampers."""
    return (
        (0, "Voltage related events", EventLog(VOLTAGE_EVENTS, occurrences=PT_EVENTS if transformer_operated
                                                 else None, taken=codes_of(0)), 100, True, None),
        (1, "Current related events", EventLog(CURRENT_EVENTS, occurrences={
            **REVERSE_EVENTS, **(CT_EVENTS if transformer_operated else {})}, taken=codes_of(1)), 100, True, None),
        (2, "Power failure related events", EventLog(power=POWER_EVENTS, occurrences=RESTART_EVENTS, taken=codes_of(2)), 100, False,
         None),
        (3, "Transaction related events", EventLog(occurrences=TRANSACTION_EVENTS, taken=codes_of(3)), 50, False, None),
        (4, "Other events", EventLog(occurrences=OTHER_EVENTS, taken=codes_of(4)), 50, True, None),
        (5, "Non-rollover events", EventLog(occurrences=NON_ROLLOVER_EVENTS, taken=codes_of(5)), 1, False, NON_ROLLOVER_HORIZON),
        (6, "Control events", EventLog(occurrences=CONTROL_EVENTS, taken=codes_of(6)), 25, False, None),
    )
#: The instantaneous values an event log entry captures besides its time and code.
EVENT_SNAPSHOT = ("1.0.31.7.0.255", "1.0.51.7.0.255", "1.0.71.7.0.255", "1.0.32.7.0.255", "1.0.52.7.0.255",
                  "1.0.72.7.0.255", "1.0.33.7.0.255", "1.0.53.7.0.255", "1.0.73.7.0.255", "1.0.1.8.0.255")

TARIFF_SCRIPTS = "0.0.10.0.100.255"
MD_RESET_SCRIPTS = "0.0.10.0.1.255"
#: Time-of-day zones of the household tariff: (start hour, tariff).
TARIFF_ZONES = ((0, 1), (6, 2), (18, 3), (22, 4))


#: The household meter's tamper attempts (current reverse, other and non-rollover events), counted.
household_tampers = tamper_count({**REVERSE_EVENTS, **OTHER_EVENTS, **NON_ROLLOVER_EVENTS})


def programming_count(ctx: Context) -> int:
    """Configuration changes made on the meter (transaction events) so far."""
    return len([occurrence for occurrence in ctx.meter.events
                if occurrence.kind in TRANSACTION_EVENTS and occurrence.t <= ctx.t])


def add_name_plate(build: Builder, model: str, extra: Sequence[tuple[str, str, Any]] = ()) -> None:
    """Name plate objects and their profile 0.0.94.91.10.255."""
    rows: list[tuple[str, str, Any]] = [
        ("0.0.96.1.0.255", "Meter serial number",
         lambda ctx: (DataType.OCTET_STRING, str(ctx.meter.serial).encode("ascii"))),
        ("0.0.96.1.1.255", "Manufacturer name", (DataType.OCTET_STRING, b"dlmstw virtual meters")),
        ("1.0.0.2.0.255", "Firmware version", firmware),
        ("0.0.96.1.2.255", "Meter model", text(model)),
        *extra,
    ]
    for ln, description, value in rows:
        build.data(ln, value, description)
    build.profile("0.0.94.91.10.255", [build.capture(ln) for ln, _, _ in rows], "Name plate details")


def add_load_profiles(build: Builder, block_registers: Sequence[RegisterRow]) -> None:
    """Block load profile (the meter's load profile period and days), daily
    load profile (local midnights), and their scaler profiles."""
    build.registers(block_registers)
    build.profile("1.0.99.1.0.255", [build.capture(CLOCK)] + [build.capture(ln) for ln, *_ in block_registers],
                  "Block load profile", capture_period=lambda meter: meter.load_profile_period,
                  profile_entries=lambda meter: meter.load_profile_days * 86400 // meter.load_profile_period,
                  load_profile=True)
    build.scaler_profile("1.0.94.91.4.255", [ln for ln, *_ in block_registers], "Block load scaler profile")
    build.profile("1.0.99.2.0.255", [build.capture(CLOCK)] + [build.capture(ln) for ln in DAILY_CAPTURED],
                  "Daily load profile", capture_period=86400,
                  profile_entries=lambda meter: meter.load_profile_days)
    build.scaler_profile("1.0.94.91.5.255", DAILY_CAPTURED, "Daily load scaler profile")


def add_billing(build: Builder, tariffs: Sequence[str] = ()) -> None:
    """Billing objects and the monthly billing profile with its scaler profile
    (with the ``tariffs`` registers, when the model has them)."""
    build.data("0.0.0.1.2.255", lambda ctx: date_time_data(ctx, last_billing(ctx)), "Billing date")
    build.data("0.0.0.1.0.255", lambda ctx: (DataType.LONG_UNSIGNED, min(billing_count(ctx), 65535)),
               "Cumulative billing count")
    build.registers(BILLING_REGISTERS)
    for ln, description, source, scaler, unit, value_type in MAXIMUM_DEMANDS:
        time_index = MAXIMUM_DEMAND_TIMES[ln]
        build.add(ln, 4, {"value": source, "capture_time": lambda ctx, i=time_index: maximum_demand(ctx)[i],
                          "scaler": scaler, "unit": unit, "type": value_type}, description)
    columns = ([build.capture("0.0.0.1.2.255"), build.capture("1.0.13.0.0.255")]
               + [build.capture(ln) for ln in (*BILLING_CAPTURED, *tariffs)]
               + [definition for ln, *_ in MAXIMUM_DEMANDS for definition in (build.capture(ln), build.capture(ln, 5))]
               + [build.capture("0.0.94.91.13.255")])
    build.profile("1.0.98.1.0.255", columns, "Billing profile", profile_entries=BILLING_ENTRIES,
                  schedule=billing_boundaries, horizon=400 * 86400)
    build.scaler_profile("1.0.94.91.6.255", ["1.0.13.0.0.255", *BILLING_CAPTURED, *tariffs,
                                             *(ln for ln, *_ in MAXIMUM_DEMANDS),
                                             "0.0.94.91.13.255"], "Billing scaler profile")


def add_event_logs(build: Builder, transformer_operated: bool) -> None:
    """The seven event logs, their event code objects and the events scaler profile."""
    for e, name, events, entries, snapshot, horizon in event_logs(transformer_operated):
        code = f"0.0.96.11.{e}.255"
        build.data(code, lambda ctx, source=latest_event_code(events, horizon): (DataType.LONG_UNSIGNED,
                                                                                  source(ctx)),
                   f"Event code, {name.lower()}")
        columns = [build.capture(CLOCK), build.capture(code)]
        if snapshot:
            columns += [build.capture(ln) for ln in EVENT_SNAPSHOT]
        build.profile(f"0.0.99.98.{e}.255", columns, name, profile_entries=entries, events=events,
                      event_code=obis(code), **({} if horizon is None else {"horizon": horizon}))
    build.scaler_profile("1.0.94.91.7.255", EVENT_SNAPSHOT, "Events scaler profile")


def add_demand(build: Builder, scaler: int) -> None:
    build.add("1.0.1.4.0.255", 5, {
        "energy": lambda snapshot: snapshot.cumulative.active_energy_import, "period": DEMAND_PERIOD,
        "number_of_periods": 1, "scaler": scaler, "unit": Unit.WATT, "type": DataType.DOUBLE_LONG_UNSIGNED},
        "Active power import demand")


@implementer(IPlugin, IObjectSet)
class IS15959ABT:
    name = "is15959-abt"
    description = "Substation interface (ABT) meter in the spirit of IS 15959"
    load_shape = "feeder"
    utc_offset = IST

    def objects(self, classes: Mapping[int, IInterfaceClass]) -> list[CosemObject]:
        build = Builder(classes)
        build.add(CLOCK, 8, {}, "Clock")
        add_name_plate(build, "ABT-3P4W-SIM")
        add_image_transfer(build)
        build.registers(INSTANTANEOUS_REGISTERS)
        build.data("0.0.96.7.0.255", lambda ctx: (DataType.DOUBLE_LONG_UNSIGNED,
                                                  int(ctx.snapshot.cumulative.power_failures)),
                   "Number of power failures")
        add_demand(build, -1)
        add_billing(build)
        instantaneous_columns = ([build.capture(CLOCK)] + [build.capture(ln) for ln, *_ in INSTANTANEOUS_REGISTERS]
                                 + [build.capture("0.0.96.7.0.255")])
        build.profile("1.0.94.91.0.255", instantaneous_columns, "Instantaneous profile")
        build.scaler_profile("1.0.94.91.3.255", [ln for ln, *_ in INSTANTANEOUS_REGISTERS],
                             "Instantaneous scaler profile")
        add_load_profiles(build, BLOCK_REGISTERS)
        add_event_logs(build, True)
        return build.objects


@implementer(IPlugin, IObjectSet)
class IS15959Household:
    name = "is15959-household"
    description = "Three-phase whole-current consumer smart meter in the spirit of IS 15959 Part 2"
    load_shape = "household"
    utc_offset = IST

    def objects(self, classes: Mapping[int, IInterfaceClass]) -> list[CosemObject]:
        build = Builder(classes)
        build.add(CLOCK, 8, {}, "Clock")
        add_name_plate(build, "HH-3P4W-SIM", (
            ("0.0.94.91.9.255", "Meter type (3 = three-phase four-wire whole current)", (DataType.UNSIGNED, 3)),
            ("0.0.94.91.11.255", "Meter category", text("C1")),
            ("0.0.94.91.12.255", "Current rating", text("10-60A")),
            ("0.0.96.1.4.255", "Year of manufacture", (DataType.LONG_UNSIGNED, 2025)),
        ))
        add_image_transfer(build)
        build.registers(HOUSEHOLD_REGISTERS)
        build.data("0.0.96.7.0.255", lambda ctx: (DataType.DOUBLE_LONG_UNSIGNED,
                                                  int(ctx.snapshot.cumulative.power_failures)),
                   "Number of power failures")
        build.data("0.0.94.91.0.255", lambda ctx: (DataType.LONG_UNSIGNED, min(household_tampers(ctx), 65535)),
                   "Cumulative tamper count")
        build.data("0.0.96.2.0.255", lambda ctx: (DataType.LONG_UNSIGNED, min(programming_count(ctx), 65535)),
                   "Cumulative programming count")
        add_demand(build, 0)
        add_tariffs(build, 0)
        add_billing(build, TARIFF_REGISTERS)
        columns = ([build.capture(CLOCK)] + [build.capture(ln) for ln, *_ in HOUSEHOLD_REGISTERS]
                   + [build.capture(ln) for ln in ("0.0.96.7.0.255", "0.0.94.91.0.255", "0.0.0.1.0.255",
                                                   "0.0.96.2.0.255", "0.0.0.1.2.255")]
                   + [d for ln, *_ in MAXIMUM_DEMANDS for d in (build.capture(ln), build.capture(ln, 5))])
        build.profile("1.0.94.91.0.255", columns, "Instantaneous profile")
        build.scaler_profile("1.0.94.91.3.255", [ln for ln, *_ in HOUSEHOLD_REGISTERS]
                             + [ln for ln, *_ in MAXIMUM_DEMANDS], "Instantaneous scaler profile")
        add_load_profiles(build, BLOCK_REGISTERS)
        add_event_logs(build, False)
        add_load_control(build)
        add_communication(build)
        return build.objects


def add_load_control(build: Builder) -> None:
    """Disconnect control and its scripts, limiter, tariff calendar and the
    billing-date schedule with the MD reset script."""
    add_disconnect_control(build)
    build.add("0.0.17.0.0.255", 71, {
        "monitored_value": (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 3),
                                                 (DataType.OCTET_STRING, obis("1.0.1.7.0.255")),
                                                 (DataType.INTEGER, 2)]),
        "threshold_normal": (DataType.DOUBLE_LONG, 5000),
        "threshold_emergency": (DataType.DOUBLE_LONG, 2000),
        "actions": (DataType.STRUCTURE, [
            (DataType.STRUCTURE, [(DataType.OCTET_STRING, obis(DISCONNECT_SCRIPTS)), (DataType.LONG_UNSIGNED, 1)]),
            (DataType.STRUCTURE, [(DataType.OCTET_STRING, obis(DISCONNECT_SCRIPTS)), (DataType.LONG_UNSIGNED, 2)]),
        ]),
    }, "Limiter (load limit, W)")
    tariff = obis(ACTIVE_TARIFF)
    build.add(TARIFF_SCRIPTS, 9, {"scripts": (DataType.ARRAY, [
        script(number, (WRITE_ATTRIBUTE, 1, tariff, 2, (DataType.UNSIGNED, number)))
        for number in range(1, TARIFFS + 1)
    ])}, "Tariffication script table (script n sets tariff n)")
    day_schedule = [(DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes((hour, 0, 0, 0))),
                                          (DataType.OCTET_STRING, obis(TARIFF_SCRIPTS)),
                                          (DataType.LONG_UNSIGNED, number)]) for hour, number in TARIFF_ZONES]
    build.add("0.0.13.0.0.255", 20, {
        "calendar_name_active": text("TOD1"),
        "season_profile_active": (DataType.ARRAY, [(DataType.STRUCTURE, [
            text("ALL"), (DataType.OCTET_STRING, bytes.fromhex("07D00101FF000000FF8000FF")), text("WEEK")])]),
        "week_profile_table_active": (DataType.ARRAY, [(DataType.STRUCTURE, [text("WEEK")] + [
            (DataType.UNSIGNED, 1)] * 7)]),
        "day_profile_table_active": (DataType.ARRAY, [(DataType.STRUCTURE, [
            (DataType.UNSIGNED, 1), (DataType.ARRAY, day_schedule)])]),
    }, "Activity calendar (time-of-day tariffs)")
    add_monthly_demand_reset(build, MD_RESET_SCRIPTS, "MD reset")

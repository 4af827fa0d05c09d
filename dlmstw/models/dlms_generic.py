"""``dlms-generic``: a residential three-phase meter in the style of the DLMS UA
and IDIS companion specifications, on UTC.

It uses the load shape ``household`` (230 V / 10 A, appliances switching on
and off), the residential load a DLMS UA-style meter with a disconnector and
a limiter usually measures. Its objects: name plate (device IDs, firmware),
clock, instantaneous registers with the general local port readout profile
0.0.21.0.0.255, cumulative energy registers, demand and maximum demand
(extended register with its time), load profile 1 (1.0.99.1.0.255, the
lab.ini period) and load profile 2 (1.0.99.2.0.255, daily) each with its AMR
profile status (0.0.96.10.1.255 and 0.0.96.10.2.255: bit 7 power down in the
period, bit 2 data not valid, bit 5 clock adjusted), the monthly billing
profile 1.0.98.1.0.255, three event logs with their event code objects
0.0.96.11.E.255 (event codes of the IDIS companion specification's standard
event log, fraud detection log and disconnector control log: ``*_EVENTS``),
disconnect control with its script table
0.0.10.0.106.255, limiter, activity calendar with the tariffication script
table, register monitor on the L1 voltage, end of billing period single
action schedule with its script table, push setup, TCP-UDP setup and IPv4 setup.
Registers are read one by one (attribute 3 gives their scaler), so there are
no scaler profiles.
"""

from __future__ import annotations

from typing import Callable, Mapping

from twisted.plugin import IPlugin
from zope.interface import implementer

from ..codec.obis import CLOCK
from ..cosem.base import Context, CosemObject
from ..cosem.classes.script_table import WRITE_ATTRIBUTE, script
from ..enums import DataType, Unit
from ..interfaces import IInterfaceClass, IObjectSet
from ..simulator import events as simulated
from .common import (BILLING_ENTRIES, DEMAND_PERIOD, DISCONNECT_SCRIPTS, Builder, EventLog, RegisterRow,
                     add_communication, add_disconnect_control, add_image_transfer, add_monthly_demand_reset,
                     billing_boundaries, cumulative, firmware, instantaneous, latest_event_code,
                     maximum_demand, obis, phase_active_power, text)
from .tariffs import ACTIVE_TARIFF, TARIFF_REGISTERS, TARIFFS, add_tariffs

REGISTERS: tuple[RegisterRow, ...] = (
    ("1.0.32.7.0.255", "Voltage L1", instantaneous("voltage_l1"), -1, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.52.7.0.255", "Voltage L2", instantaneous("voltage_l2"), -1, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.72.7.0.255", "Voltage L3", instantaneous("voltage_l3"), -1, Unit.VOLT, DataType.LONG_UNSIGNED),
    ("1.0.31.7.0.255", "Current L1", instantaneous("current_l1"), -2, Unit.AMPERE, DataType.LONG_UNSIGNED),
    ("1.0.51.7.0.255", "Current L2", instantaneous("current_l2"), -2, Unit.AMPERE, DataType.LONG_UNSIGNED),
    ("1.0.71.7.0.255", "Current L3", instantaneous("current_l3"), -2, Unit.AMPERE, DataType.LONG_UNSIGNED),
    ("1.0.21.7.0.255", "Active power import L1", phase_active_power(1), 0, Unit.WATT, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.41.7.0.255", "Active power import L2", phase_active_power(2), 0, Unit.WATT, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.61.7.0.255", "Active power import L3", phase_active_power(3), 0, Unit.WATT, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.1.7.0.255", "Active power import", instantaneous("active_power_import"), 0, Unit.WATT,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.2.7.0.255", "Active power export", instantaneous("active_power_export"), 0, Unit.WATT,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.3.7.0.255", "Reactive power", instantaneous("reactive_power"), 0, Unit.VAR, DataType.DOUBLE_LONG),
    ("1.0.9.7.0.255", "Apparent power", instantaneous("apparent_power"), 0, Unit.VOLT_AMPERE,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.13.7.0.255", "Power factor", instantaneous("power_factor"), -3, Unit.COUNT, DataType.LONG),
    ("1.0.14.7.0.255", "Frequency", instantaneous("frequency"), -2, Unit.HERTZ, DataType.LONG_UNSIGNED),
)
ENERGIES: tuple[RegisterRow, ...] = (
    ("1.0.1.8.0.255", "Active energy import", cumulative("active_energy_import"), 0, Unit.WATT_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.2.8.0.255", "Active energy export", cumulative("active_energy_export"), 0, Unit.WATT_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.5.8.0.255", "Reactive energy QI (inductive import)", cumulative("reactive_energy_lag"), 0,
     Unit.VAR_HOUR, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.8.8.0.255", "Reactive energy QIV (capacitive import)", cumulative("reactive_energy_lead"), 0,
     Unit.VAR_HOUR, DataType.DOUBLE_LONG_UNSIGNED),
    ("1.0.9.8.0.255", "Apparent energy import", cumulative("apparent_energy"), 0, Unit.VOLT_AMPERE_HOUR,
     DataType.DOUBLE_LONG_UNSIGNED),
)
#: Standard event log 0.0.99.98.0.255 (IDIS event codes): 1 power down, 2 power up, 4 and 5 clock
#: adjusted (old and new time), 17 firmware ready for activation, 18 firmware activated.
STANDARD_EVENTS = {simulated.CLOCK_OLD: 4, simulated.CLOCK_NEW: 5, simulated.FIRMWARE_READY: 17,
                   simulated.FIRMWARE_ACTIVATED: 18, simulated.POWER_DOWN: 1, simulated.POWER_UP: 2}
POWER_EVENTS = (1, 2)
#: Fraud detection log 0.0.99.98.1.255 (IDIS event codes): 42 strong DC field detected, 43 no
#: strong DC field anymore, 44 meter cover removed, 45 meter cover closed.
FRAUD_EVENTS = {simulated.MAGNET: 42, simulated.MAGNET_REMOVED: 43, simulated.COVER_OPENED: 44,
                simulated.COVER_CLOSED: 45}
#: Disconnector control log 0.0.99.98.2.255 (IDIS event codes): 62 remote disconnection, 63 remote
#: connection, 65 limiter threshold exceeded, 66 limiter threshold ok, 67 limiter threshold changed.
DISCONNECTOR_EVENTS = {simulated.DISCONNECT: 62, simulated.RECONNECT: 63, simulated.LIMITER_THRESHOLD: 67,
                       simulated.LIMITER_TRIP: 65, simulated.LIMITER_OK: 66}
#: The event codes (unsigned) each log takes when recorded by code: the disconnector's and the
#: fraud detection log's own, the rest standard.
DISCONNECTOR_CODES = frozenset(DISCONNECTOR_EVENTS.values())
FRAUD_CODES = frozenset(FRAUD_EVENTS.values())
STANDARD_CODES = frozenset(range(1, 256)) - DISCONNECTOR_CODES - FRAUD_CODES
#: AMR profile status bit 7: a power failure happened in the period.
POWER_DOWN = 0x80
TARIFF_SCRIPTS = "0.0.10.0.100.255"
END_OF_BILLING_SCRIPTS = "0.0.10.0.1.255"
#: Time-of-day tariffs: (start hour, tariff).
TARIFF_ZONES = ((0, 1), (7, 2), (23, 1))


def profile_status(period: int | None) -> Callable[[Context], tuple[DataType, int]]:
    """An AMR profile status source: POWER_DOWN when a power failure happened
    in the ``period`` (seconds; None: the meter's load profile period) ending
    at the request's instant."""
    def status(ctx: Context) -> tuple[DataType, int]:
        length = ctx.meter.load_profile_period if period is None else period
        failures = ctx.snapshot.cumulative.power_failures
        before = ctx.at(ctx.t - length).snapshot.cumulative.power_failures
        return (DataType.UNSIGNED, POWER_DOWN if failures > before else 0)
    return status


@implementer(IPlugin, IObjectSet)
class DlmsGeneric:
    name = "dlms-generic"
    description = "Residential three-phase meter in the style of the DLMS UA / IDIS companion specifications"
    load_shape = "household"
    utc_offset = 0

    def objects(self, classes: Mapping[int, IInterfaceClass]) -> list[CosemObject]:
        build = Builder(classes)
        build.add(CLOCK, 8, {}, "Clock")
        build.data("0.0.96.1.0.255", lambda ctx: (DataType.OCTET_STRING, str(ctx.meter.serial).encode("ascii")),
                   "Device ID 1 (serial number)")
        build.data("0.0.96.1.1.255", text("DLMSTW-GENERIC-3P"), "Device ID 2 (meter type)")
        build.data("1.0.0.2.0.255", firmware, "Active firmware identifier (metrology)")
        add_image_transfer(build)
        build.data("0.0.96.7.0.255", lambda ctx: (DataType.LONG_UNSIGNED,
                                                  min(int(ctx.snapshot.cumulative.power_failures), 65535)),
                   "Number of power failures in any phase")
        build.registers(REGISTERS)
        build.registers(ENERGIES)
        build.add("1.0.1.4.0.255", 5, {
            "energy": lambda snapshot: snapshot.cumulative.active_energy_import, "period": DEMAND_PERIOD,
            "number_of_periods": 1, "scaler": 0, "unit": Unit.WATT, "type": DataType.DOUBLE_LONG_UNSIGNED},
            "Active power import, demand")
        build.add("1.0.1.6.0.255", 4, {
            "value": lambda ctx: maximum_demand(ctx)[0], "capture_time": lambda ctx: maximum_demand(ctx)[1],
            "scaler": 0, "unit": Unit.WATT, "type": DataType.DOUBLE_LONG_UNSIGNED},
            "Maximum demand, active power import, this billing period")
        build.profile("0.0.21.0.0.255", [build.capture(CLOCK)] + [build.capture(ln) for ln, *_ in REGISTERS + ENERGIES],
                      "General local port readout (instantaneous values)")
        build.data("0.0.96.10.1.255", profile_status(None), "AMR profile status, load profile 1")
        build.data("0.0.96.10.2.255", profile_status(86400), "AMR profile status, load profile 2")
        energies = [build.capture(ln) for ln, *_ in ENERGIES[:4]]
        build.profile("1.0.99.1.0.255", [build.capture(CLOCK), build.capture("0.0.96.10.1.255"), *energies],
                      "Load profile 1", capture_period=lambda meter: meter.load_profile_period,
                      profile_entries=lambda meter: meter.load_profile_days * 86400 // meter.load_profile_period,
                      load_profile=True, status=obis("0.0.96.10.1.255"))
        build.profile("1.0.99.2.0.255", [build.capture(CLOCK), build.capture("0.0.96.10.2.255"), *energies],
                      "Load profile 2 (daily)", capture_period=86400,
                      profile_entries=lambda meter: meter.load_profile_days, status=obis("0.0.96.10.2.255"))
        add_tariffs(build, 0)
        build.profile("1.0.98.1.0.255", [build.capture(CLOCK), *energies,
                                         *(build.capture(ln) for ln in TARIFF_REGISTERS),
                                         build.capture("1.0.1.6.0.255"),
                                         build.capture("1.0.1.6.0.255", 5)],
                      "Billing profile (monthly)", profile_entries=BILLING_ENTRIES, schedule=billing_boundaries,
                      horizon=400 * 86400)
        for e, name, events, entries in (
                (0, "Standard event log", EventLog(power=POWER_EVENTS, occurrences=STANDARD_EVENTS,
                                                   taken=STANDARD_CODES), 100),
                (1, "Fraud detection log", EventLog(occurrences=FRAUD_EVENTS, taken=FRAUD_CODES), 50),
                (2, "Disconnector control log", EventLog(occurrences=DISCONNECTOR_EVENTS,
                                                         taken=DISCONNECTOR_CODES), 50)):
            code = f"0.0.96.11.{e}.255"
            build.data(code, lambda ctx, source=latest_event_code(events): (DataType.UNSIGNED, source(ctx)),
                       f"Event code, {name.lower()}")
            build.profile(f"0.0.99.98.{e}.255", [build.capture(CLOCK), build.capture(code)], name,
                          profile_entries=entries, events=events, event_code=obis(code),
                          event_code_type=DataType.UNSIGNED)
        self._control(build)
        add_communication(build)
        return build.objects

    def _control(self, build: Builder) -> None:
        add_disconnect_control(build)
        build.add("0.0.17.0.0.255", 71, {
            "monitored_value": (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 3),
                                                     (DataType.OCTET_STRING, obis("1.0.1.7.0.255")),
                                                     (DataType.INTEGER, 2)]),
            "threshold_normal": (DataType.DOUBLE_LONG_UNSIGNED, 6000),
            "threshold_emergency": (DataType.DOUBLE_LONG_UNSIGNED, 3000),
            "actions": (DataType.STRUCTURE, [
                (DataType.STRUCTURE, [(DataType.OCTET_STRING, obis(DISCONNECT_SCRIPTS)), (DataType.LONG_UNSIGNED, 1)]),
                (DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes(6)), (DataType.LONG_UNSIGNED, 0)]),
            ]),
        }, "Limiter (active power import, W)")
        tariff = obis(ACTIVE_TARIFF)
        build.add(TARIFF_SCRIPTS, 9, {"scripts": (DataType.ARRAY, [
            script(number, (WRITE_ATTRIBUTE, 1, tariff, 2, (DataType.UNSIGNED, number)))
            for number in range(1, TARIFFS + 1)
        ])}, "Tariffication script table (script n sets tariff n)")
        build.add("0.0.13.0.0.255", 20, {
            "calendar_name_active": text("STD"),
            "season_profile_active": (DataType.ARRAY, [(DataType.STRUCTURE, [
                text("YEAR"), (DataType.OCTET_STRING, bytes.fromhex("FFFF0101FF000000FF8000FF")), text("WEEK")])]),
            "week_profile_table_active": (DataType.ARRAY, [(DataType.STRUCTURE, [text("WEEK")] + [
                (DataType.UNSIGNED, 1)] * 7)]),
            "day_profile_table_active": (DataType.ARRAY, [(DataType.STRUCTURE, [
                (DataType.UNSIGNED, 1), (DataType.ARRAY, [
                    (DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes((hour, 0, 0, 0))),
                                          (DataType.OCTET_STRING, obis(TARIFF_SCRIPTS)),
                                          (DataType.LONG_UNSIGNED, number)])
                    for hour, number in TARIFF_ZONES])])]),
        }, "Activity calendar")
        build.add("0.0.16.1.0.255", 21, {
            "thresholds": (DataType.ARRAY, [(DataType.LONG_UNSIGNED, 2070), (DataType.LONG_UNSIGNED, 2530)]),
            "monitored_value": (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 3),
                                                     (DataType.OCTET_STRING, obis("1.0.32.7.0.255")),
                                                     (DataType.INTEGER, 2)]),
            "actions": (DataType.ARRAY, [(DataType.STRUCTURE, [
                (DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes(6)), (DataType.LONG_UNSIGNED, 0)]),
                (DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes(6)), (DataType.LONG_UNSIGNED, 0)]),
            ])] * 2),
        }, "Register monitor, voltage L1 (207 V and 253 V)")
        add_monthly_demand_reset(build, END_OF_BILLING_SCRIPTS, "end of billing period")

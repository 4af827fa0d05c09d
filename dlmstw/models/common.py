"""What the built-in object models share: value sources bound to the data
simulator, billing periods and maximum demand, event logs, and builders of
the usual objects (registers, profiles with their scaler profiles, event logs,
control and communication objects).

A billing period is a local calendar month and holds the instants
``start < t <= end``, so an instant at a month boundary belongs to the month it
closes: a billing profile row captured there shows that month's values, and a
register read later in the month shows the month so far.
"""

from __future__ import annotations

import calendar
import math
import time
from typing import Any, Callable, Container, Iterable, Mapping, Sequence

from .. import __version__
from ..codec.axdr import datetime_bytes_from_timestamp
from ..cosem.base import Context, CosemObject, period_start
from ..cosem.classes.image_transfer import active_firmware
from ..cosem.classes.ipv4_setup import ipv4
from ..cosem.classes.push_setup import AXDR_XDLMS_APDU, TCP
from ..cosem.classes.script_table import EXECUTE_METHOD, script
from ..enums import AttributeAccess, DataType, Unit
from ..simulator import events as simulated
from ..simulator.events import Condition, Event

DISCONNECT_CONTROL = "0.0.96.3.10.255"
DISCONNECT_SCRIPTS = "0.0.10.0.106.255"
#: Demand periods of the maximum demand registers (seconds).
DEMAND_PERIOD = 900
#: Billing months whose maximum demand a meter remembers (the last year or so).
MAX_DEMAND_MONTHS = 16
#: Grid of the threshold conditions of the event logs (seconds).
EVENT_STEP = 900
#: Billing profile entries: a year of months.
BILLING_ENTRIES = 12
#: An event log looks back this many days at the most for its event code object.
LATEST_EVENT_LOOKBACK_DAYS = 35

Source = Callable[[Context], Any]
EventSource = Callable[[Context, float, float], list[Event]]
#: (OBIS, description, source, scaler, unit, A-XDR type) of a register.
RegisterRow = tuple[str, str, Source, int, Unit, DataType]


def obis(text: str) -> bytes:
    """An OBIS code A.B.C.D.E.F as its 6 octets."""
    return bytes(int(part) for part in text.split("."))


# -- value sources -----------------------------------------------------------------


def instantaneous(field: str) -> Source:
    return lambda ctx: getattr(ctx.snapshot.instantaneous, field)


def cumulative(field: str) -> Source:
    return lambda ctx: getattr(ctx.snapshot.cumulative, field)


def last_boundary(ctx: Context) -> Context:
    """The request at the end of the last completed load-profile period: the
    request itself when it is on a boundary (a profile row), so that a row's
    values share one snapshot."""
    boundary = period_start(ctx.meter, ctx.t, ctx.meter.load_profile_period)
    return ctx if boundary == ctx.t else ctx.at(boundary)


def block(field: str) -> Source:
    """A value over the last completed load-profile period."""
    return lambda ctx: getattr(last_boundary(ctx).snapshot.interval, field)


def net_active_power(ctx: Context) -> float:
    values = ctx.snapshot.instantaneous
    return values.active_power_import - values.active_power_export


def phase_active_power(phase: int) -> Source:
    """Active power of one phase (W): V * I * |power factor|."""
    def source(ctx: Context) -> float:
        values = ctx.snapshot.instantaneous
        return (getattr(values, f"voltage_l{phase}") * getattr(values, f"current_l{phase}")
                * abs(getattr(values, f"power_factor_l{phase}")))
    return source


def text(value: str) -> tuple[DataType, bytes]:
    return (DataType.OCTET_STRING, value.encode("ascii"))


def date_time_data(ctx: Context, t: float) -> tuple[DataType, bytes]:
    """``t`` as the octet-string(12) date-time Data objects hold (Blue Book 4.1.6.1)."""
    return (DataType.OCTET_STRING, datetime_bytes_from_timestamp(t, ctx.meter.deviation, ctx.meter.clock_status))


# -- billing periods ---------------------------------------------------------------


def month_start(meter: Any, t: float) -> float:
    """The local midnight that starts the calendar month containing ``t``."""
    local = time.gmtime(math.floor(t + meter.utc_offset))
    return float(calendar.timegm((local.tm_year, local.tm_mon, 1, 0, 0, 0)) - meter.utc_offset)


def next_month_start(meter: Any, start: float) -> float:
    """The month start after the month start ``start``."""
    return month_start(meter, start + 32 * 86400)


def billing_start(meter: Any, t: float) -> float:
    """Start of the billing period containing ``t`` (start < t <= end)."""
    start = month_start(meter, t)
    return month_start(meter, t - 1) if start == t else start


def billing_boundaries(meter: Any, after: float, until: float) -> list[float]:
    """The month starts in (after, until], in order."""
    boundary = next_month_start(meter, month_start(meter, max(after, meter.simulator.installed)))
    found = []
    while boundary <= until:
        found.append(boundary)
        boundary = next_month_start(meter, boundary)
    return found


def last_billing(ctx: Context) -> float:
    """The instant of the last billing (month start) at or before the request's."""
    return month_start(ctx.meter, ctx.t)


def billing_count(ctx: Context) -> int:
    """Billing periods closed since installation."""
    installed = time.gmtime(math.floor(ctx.meter.simulator.installed + ctx.meter.utc_offset))
    now = time.gmtime(math.floor(ctx.t + ctx.meter.utc_offset))
    return max(0, (now.tm_year - installed.tm_year) * 12 + now.tm_mon - installed.tm_mon)


def billing_power_on_minutes(ctx: Context) -> int:
    """Minutes powered since the billing period began."""
    start = billing_start(ctx.meter, ctx.t)
    return ctx.snapshot.cumulative.power_on_minutes - ctx.at(start).snapshot.cumulative.power_on_minutes


def billing_power_factor(ctx: Context) -> float:
    """Average power factor of the billing period so far: active over apparent energy."""
    start = ctx.at(billing_start(ctx.meter, ctx.t)).snapshot.cumulative
    now = ctx.snapshot.cumulative
    apparent = now.apparent_energy - start.apparent_energy
    return (now.active_energy_import - start.active_energy_import) / apparent if apparent > 0 else 1.0


def maximum_demand(ctx: Context) -> tuple[float, float, float, float]:
    """(maximum active import demand W, end of its period, maximum apparent
    demand VA, end of its period) over the DEMAND_PERIOD periods of the billing
    period so far. A completed scan is kept per meter and extended, so each
    demand period is computed once."""
    meter = ctx.meter
    start = billing_start(meter, ctx.t)
    end = period_start(meter, ctx.t, DEMAND_PERIOD)
    months: dict[float, tuple[float, float, float, float, float, float, float]] = meter.object_state.setdefault(
        (b"", "maximum-demand"), {})
    scan = months.get(start)
    if scan is None or scan[0] > end:
        first = ctx.at(start).snapshot.cumulative
        scan = (start, 0.0, start, 0.0, start, first.active_energy_import, first.apparent_energy)
    until, best_p, at_p, best_s, at_s, energy_p, energy_s = scan
    factor = 3600.0 / DEMAND_PERIOD
    t = until + DEMAND_PERIOD
    while t <= end:
        values = meter.snapshot(t).cumulative
        demand_p = (values.active_energy_import - energy_p) * factor
        demand_s = (values.apparent_energy - energy_s) * factor
        if demand_p > best_p:
            best_p, at_p = demand_p, t
        if demand_s > best_s:
            best_s, at_s = demand_s, t
        energy_p, energy_s, until = values.active_energy_import, values.apparent_energy, t
        t += DEMAND_PERIOD
    if until >= months.get(start, (start,))[0]:
        months[start] = (until, best_p, at_p, best_s, at_s, energy_p, energy_s)
        while len(months) > MAX_DEMAND_MONTHS:
            del months[min(months)]
    return best_p, at_p, best_s, at_s


# -- event logs ----------------------------------------------------------------------


def phase_voltages(values: Any) -> tuple[float, float, float]:
    return (values.voltage_l1, values.voltage_l2, values.voltage_l3)


def phase_currents(values: Any) -> tuple[float, float, float]:
    return (values.current_l1, values.current_l2, values.current_l3)


def low_voltage(limit: float) -> Callable[[Any, Any], bool]:
    """Any phase below ``limit`` times the rated voltage."""
    return lambda values, rated: min(phase_voltages(values)) < limit * rated.voltage


def high_voltage(limit: float) -> Callable[[Any, Any], bool]:
    """Any phase above ``limit`` times the rated voltage."""
    return lambda values, rated: max(phase_voltages(values)) > limit * rated.voltage


def voltage_unbalance(limit: float) -> Callable[[Any, Any], bool]:
    """Phase voltages spread by more than ``limit`` of their mean."""
    def test(values: Any, rated: Any) -> bool:
        voltages = phase_voltages(values)
        return (max(voltages) - min(voltages)) * 3 > limit * sum(voltages)
    return test


def current_unbalance(limit: float, floor: float) -> Callable[[Any, Any], bool]:
    """Phase currents spread by more than ``limit`` of the largest, which is
    at least ``floor`` times the rated current."""
    def test(values: Any, rated: Any) -> bool:
        currents = phase_currents(values)
        largest = max(currents)
        return largest >= floor * rated.current and largest - min(currents) > limit * largest
    return test


def over_current(limit: float) -> Callable[[Any, Any], bool]:
    """Any phase above ``limit`` times the rated current."""
    return lambda values, rated: max(phase_currents(values)) > limit * rated.current


class EventLog:
    """The events of a log in (after, until] (a profile's ``events``): threshold
    ``conditions`` on the simulated curves, the outages as (failure,
    restoration) codes, and the occurrences of the kinds ``occurrences`` maps
    to codes: the simulated tamper attempts of those kinds (``tampers``,
    ``simulator.events.tampers``) and what the meter recorded (recorded after
    ``after``, even when later than the clock: a clock set back keeps them)."""

    __slots__ = ("conditions", "power", "codes", "taken", "tampers")

    def __init__(self, conditions: Sequence[Condition] = (), power: tuple[int, int] | None = None,
                 occurrences: Mapping[str, int] | None = None, taken: Container[int] = ()) -> None:
        self.conditions = tuple(conditions)
        #: The event codes of events recorded by code (``simulator.events.coded``) this log holds.
        self.taken = taken
        self.power = power
        self.codes = dict(occurrences or {})
        #: The simulated tamper attempts this log holds.
        self.tampers = logged_tampers(self.codes)

    def __call__(self, ctx: Context, after: float, until: float) -> list[Event]:
        simulator = ctx.meter.simulator
        streams: list[Iterable[Event]] = []
        if self.conditions:
            streams.append(simulated.crossings(simulator, self.conditions, after, until, EVENT_STEP))
        if self.power is not None:
            streams.append(simulated.power_events(simulator, after, until, *self.power))
        if self.tampers:
            streams.append(simulated.occurrence_events(simulated.tampers(simulator, after, until, self.tampers),
                                                       self.codes, after))
        if self.codes or self.taken:
            streams.append(simulated.occurrence_events(ctx.meter.events, self.codes, after, self.taken))
        return simulated.merge(*streams)


def takes_code(model: Any, code: int) -> bool:
    """Whether an event log of ``model`` (a profile whose ``events`` is an
    ``EventLog``) takes events recorded by code ``code`` (``EventLog.taken``)."""
    return any(isinstance(events := obj.params.get("events"), EventLog) and code in events.taken
               for obj in model.objects.values())


def logged_tampers(codes: Mapping[str, int]) -> tuple[simulated.Tamper, ...]:
    """The simulated tamper attempts whose start or end ``codes`` maps to an event code."""
    return tuple(tamper for tamper in simulated.TAMPERS if tamper.began in codes or tamper.ended in codes)


def tamper_count(codes: Mapping[str, int]) -> Source:
    """A cumulative tamper count: the tamper attempts ``codes`` logs (their
    starts), simulated and recorded, up to the request's instant."""
    tampers = logged_tampers(codes)
    began = frozenset(tamper.began for tamper in tampers)

    def count(ctx: Context) -> int:
        recorded = sum(1 for occurrence in ctx.meter.events if occurrence.kind in began and occurrence.t <= ctx.t)
        return simulated.tamper_count(ctx.meter.simulator, ctx.t, tampers) + recorded
    return count


def latest_event_code(events: EventSource, horizon: int | None = None) -> Source:
    """The event code object of a log: the code of its latest event at or
    before the request's instant (0 when none in the look-back), looking back
    one day at a time, then (a log of a longer ``horizon``, seconds) over the
    rest of its horizon at once."""
    def code(ctx: Context) -> int:
        until = ctx.t
        for _ in range(LATEST_EVENT_LOOKBACK_DAYS):
            found = [event for event in events(ctx, until - 86400, until) if event[0] <= ctx.t]
            if found:
                return found[-1][1]
            until -= 86400
        if horizon is not None and ctx.t - horizon < until:
            found = [event for event in events(ctx, ctx.t - horizon, until) if event[0] <= ctx.t]
            if found:
                return found[-1][1]
        return 0
    return code


# -- object builders -------------------------------------------------------------------


class Builder:
    """Collects a model's objects; ``classes`` maps class_id to the interface
    class plugins the directory found."""

    def __init__(self, classes: Mapping[int, Any]) -> None:
        self.classes = classes
        self.objects: list[CosemObject] = []
        self.by_ln: dict[bytes, CosemObject] = {}

    def add(self, ln: str | bytes, class_id: int, params: dict[str, Any], description: str,
            **access: Any) -> CosemObject:
        logical_name = obis(ln) if isinstance(ln, str) else ln
        obj = CosemObject(logical_name, self.classes[class_id], params, description, **access)
        self.objects.append(obj)
        self.by_ln[logical_name] = obj
        return obj

    def data(self, ln: str, value: Any, description: str) -> CosemObject:
        return self.add(ln, 1, {"value": value}, description)

    def registers(self, rows: Iterable[RegisterRow]) -> None:
        """Registers (class 3) from (OBIS, description, source, scaler, unit, type) rows."""
        for ln, description, source, scaler, unit, value_type in rows:
            self.add(ln, 3, {"value": source, "scaler": scaler, "unit": unit, "type": value_type}, description)

    def capture(self, ln: str | bytes, attribute: int = 2) -> tuple[int, bytes, int, int]:
        """The capture object definition of an attribute of an object added before."""
        logical_name = obis(ln) if isinstance(ln, str) else ln
        return (self.by_ln[logical_name].class_id, logical_name, attribute, 0)

    def profile(self, ln: str, columns: Sequence[tuple[int, bytes, int, int]], description: str,
                capture_period: Any = 0, profile_entries: Any = 1, **params: Any) -> CosemObject:
        """A Profile generic; one without a period of its own (capture_period 0,
        event logs, scheduled captures) has a read-only capture_period."""
        periodic = callable(capture_period) or capture_period != 0
        access = {} if periodic and "events" not in params and "schedule" not in params else {
            4: AttributeAccess.READ_ONLY}
        return self.add(ln, 7, {"capture_objects": list(columns), "capture_period": capture_period,
                                "profile_entries": profile_entries, **params}, description, attribute_access=access)

    def scaler_profile(self, ln: str, registers: Iterable[str | bytes], description: str) -> CosemObject:
        """A profile of the scaler_unit (attribute 3) of registers, captured at read time."""
        return self.profile(ln, [self.capture(register, 3) for register in registers], description)


def add_disconnect_control(build: Builder) -> None:
    """Disconnect control 0.0.96.3.10.255 and its script table 0.0.10.0.106.255
    (script 1 disconnects, script 2 reconnects)."""
    disconnect = obis(DISCONNECT_CONTROL)
    zero = (DataType.INTEGER, 0)
    build.add(DISCONNECT_CONTROL, 70, {}, "Disconnect control")
    build.add(DISCONNECT_SCRIPTS, 9, {"scripts": (DataType.ARRAY, [
        script(1, (EXECUTE_METHOD, 70, disconnect, 1, zero)),
        script(2, (EXECUTE_METHOD, 70, disconnect, 2, zero)),
    ])}, "Disconnect control script table (1 = disconnect, 2 = reconnect)")


#: Where the built-in push setups push unless a client sets another destination.
PUSH_DESTINATION = b"127.0.0.1:4058"
PUSH_SETUP = "0.0.25.9.0.255"
PUSH_SCRIPTS = "0.0.10.0.108.255"
PUSH_SCHEDULE = "0.0.15.0.4.255"
#: The push setup a power failure pushes (the alarm push setup of IDIS-style meters).
ALARM_PUSH_SETUP = "0.4.25.9.0.255"


def _push_setup(build: Builder, ln: str, description: str) -> None:
    """A push setup of its own logical name, the serial number and the clock, to PUSH_DESTINATION over TCP."""
    build.add(ln, 40, {
        "push_object_list": (DataType.ARRAY, [
            (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, class_id), (DataType.OCTET_STRING, obis(item)),
                                  (DataType.INTEGER, attribute), (DataType.LONG_UNSIGNED, 0)])
            for class_id, item, attribute in ((40, ln, 1), (1, "0.0.96.1.0.255", 2), (8, "0.0.1.0.0.255", 2))]),
        "send_destination_and_method": (DataType.STRUCTURE, [
            (DataType.ENUM, TCP), (DataType.OCTET_STRING, PUSH_DESTINATION), (DataType.ENUM, AXDR_XDLMS_APDU)]),
    }, description)


def add_communication(build: Builder) -> None:
    """Push setup (0.0.25.9.0.255, pushed on the push method or by a schedule),
    the alarm push setup (0.4.25.9.0.255, pushed at every power failure too),
    the push script table (0.0.10.0.108.255: script 1 pushes 0.0.25.9.0.255,
    script 2 the alarm push setup) and the push action schedule
    (0.0.15.0.4.255, running script 1 at its execution times: none until a
    client sets some), TCP-UDP setup and IPv4 setup."""
    _push_setup(build, PUSH_SETUP, "Push setup")
    _push_setup(build, ALARM_PUSH_SETUP, "Push setup (alarm: power failure)")
    build.add(PUSH_SCRIPTS, 9, {"scripts": (DataType.ARRAY, [
        script(1, (EXECUTE_METHOD, 40, obis(PUSH_SETUP), 1, (DataType.INTEGER, 0))),
        script(2, (EXECUTE_METHOD, 40, obis(ALARM_PUSH_SETUP), 1, (DataType.INTEGER, 0))),
    ])}, "Push script table (1 = push setup, 2 = alarm push setup)")
    build.add(PUSH_SCHEDULE, 22, {
        "executed_script": (DataType.STRUCTURE, [(DataType.OCTET_STRING, obis(PUSH_SCRIPTS)),
                                                 (DataType.LONG_UNSIGNED, 1)]),
        "type": (DataType.ENUM, 1),
        "execution_time": (DataType.ARRAY, []),
    }, "Single action schedule: push (0.0.25.9.0.255)")
    build.add("0.0.25.0.0.255", 41, {"ip_reference": (DataType.OCTET_STRING, obis("0.0.25.1.0.255"))},
              "TCP-UDP setup")
    build.add("0.0.25.1.0.255", 42, {"dl_reference": (DataType.OCTET_STRING, bytes(6)),
                                     "gateway_ip_address": ipv4("0.0.0.0")}, "IPv4 setup")


#: The firmware identifier a meter starts with, until an image is activated.
FIRMWARE = f"dlmstw {__version__}".encode()
IMAGE_TRANSFER = "0.0.44.0.0.255"


def firmware(ctx: Context) -> tuple[DataType, bytes]:
    """The active firmware identifier (Data): the last image activated, else FIRMWARE."""
    return (DataType.OCTET_STRING, active_firmware(ctx, FIRMWARE))


def add_image_transfer(build: Builder) -> None:
    """Image transfer 0.0.44.0.0.255 (firmware upgrades) and the active core
    firmware identifier 0.0.0.2.0.255; the models give 1.0.0.2.0.255 (the
    metrology firmware) the same ``firmware`` source."""
    build.data("0.0.0.2.0.255", firmware, "Active firmware identifier (core)")
    build.add(IMAGE_TRANSFER, 18, {}, "Image transfer (firmware upgrade)")


BILLING_PROFILE = "1.0.98.1.0.255"
#: The script of the demand reset script table that bills now (captures the billing profile).
BILLING_SCRIPT = 2


def add_monthly_demand_reset(build: Builder, scripts: str, description: str) -> None:
    """A script table that resets the demand register (1.0.1.4.0.255), script
    1, or bills (captures the billing profile and resets demand), script 2,
    and the single action schedule (0.0.15.0.0.255) that runs it on the 1st of every
    month at 00:00, the billing date."""
    zero = (DataType.INTEGER, 0)
    build.add(scripts, 9, {"scripts": (DataType.ARRAY, [
        script(1, (EXECUTE_METHOD, 5, obis("1.0.1.4.0.255"), 1, zero)),
        script(BILLING_SCRIPT, (EXECUTE_METHOD, 7, obis(BILLING_PROFILE), 2, zero),
               (EXECUTE_METHOD, 5, obis("1.0.1.4.0.255"), 1, zero)),
    ])}, f"{description} script table (1 = demand reset, 2 = billing: capture the billing profile, reset demand)")
    build.add("0.0.15.0.0.255", 22, {
        "executed_script": (DataType.STRUCTURE, [(DataType.OCTET_STRING, obis(scripts)),
                                                 (DataType.LONG_UNSIGNED, 1)]),
        "type": (DataType.ENUM, 1),
        "execution_time": (DataType.ARRAY, [(DataType.STRUCTURE, [
            (DataType.OCTET_STRING, bytes.fromhex("00000000")),
            (DataType.OCTET_STRING, bytes.fromhex("FFFFFF01FF"))])]),
    }, f"Single action schedule: {description} (the 1st of every month, 00:00)")

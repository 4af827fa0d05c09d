"""The ``acme-pq`` object set: power-quality registers of a three-phase meter,
from the meter's deterministic simulator (dlmstw.simulator).

=====================================  =====  ===========================================
OBIS (L1, L2, L3)                      class  object
=====================================  =====  ===========================================
1.0.32.32.0.255, 52.32, 72.32          1      number of voltage sags since local midnight
1.0.32.36.0.255, 52.36, 72.36          1      number of voltage swells since local midnight
1.0.32.7.124.255, 52.7.124, 72.7.124   3      voltage THD, % (value group E 124: THD)
1.0.31.7.124.255, 51.7.124, 71.7.124   3      current THD, %
1.0.128.7.0.255                        8192   flicker severity Pst and Plt of the phases
=====================================  =====  ===========================================

Value group C 128 is a manufacturer-specific code (IEC 62056-6-1). The
simulated voltages stay within a few percent of the rated voltage, so ACME's
meters count a sag below 98.5 % and a swell above 101 % of it, tested every
5 minutes. The harmonic distortion follows the load: voltage THD grows with
the phase current, current THD is highest at light load. Pst grows with the
change of the phase voltage over its 10-minute interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.plugin import IPlugin
from zope.interface import implementer

from dlmstw.cosem.base import Context, CosemObject, period_start
from dlmstw.enums import DataType, Unit
from dlmstw.interfaces import IInterfaceClass, IObjectSet
from dlmstw.models.common import Builder, RegisterRow
from dlmstw.simulator.events import Condition, crossings

from .flicker import PST_INTERVAL, FlickerSeverity

PHASES = (1, 2, 3)
#: Value group C of each phase's voltage and current (IEC 62056-6-1).
VOLTAGE_C = {1: 32, 2: 52, 3: 72}
CURRENT_C = {1: 31, 2: 51, 3: 71}
#: A sag is the voltage below, a swell above, this share of the rated voltage.
SAG_LIMIT = 0.985
SWELL_LIMIT = 1.01
#: Seconds between two tests of the sag and swell limits.
VOLTAGE_GRID = 300
#: Pst = PST_FLOOR + PST_GAIN * |voltage change over the interval| / rated voltage.
PST_FLOOR = 0.15
PST_GAIN = 50.0
DAY = 86400


def _voltage(phase: int) -> Callable[[Any], float]:
    return lambda values: float(getattr(values, f"voltage_l{phase}"))


def _load(ctx: Context, phase: int) -> float:
    """The phase current as a share of the rated current, now."""
    return float(getattr(ctx.snapshot.instantaneous, f"current_l{phase}")) / ctx.meter.simulator.rated.current


def voltage_thd(phase: int) -> Callable[[Context], float]:
    """Voltage THD in %: 1.2 % plus 2 % per rated current the phase carries (at most two)."""
    return lambda ctx: 1.2 + 2.0 * min(_load(ctx, phase), 2.0)


def current_thd(phase: int) -> Callable[[Context], float]:
    """Current THD in %: 20 % without load, falling towards 4 % as the load grows."""
    return lambda ctx: 4.0 + 16.0 / (1.0 + 5.0 * _load(ctx, phase))


def crossings_today(phase: int, limit: float, below: bool) -> Callable[[Context], tuple[DataType, int]]:
    """How often since local midnight the phase voltage went below (a sag) or
    above (a swell) ``limit`` times the rated voltage, on the VOLTAGE_GRID."""
    voltage = _voltage(phase)

    def beyond(values: Any, rated: Any) -> bool:
        share = voltage(values) / rated.voltage
        return share < limit if below else share > limit

    condition = Condition(1, 0, beyond)

    def count(ctx: Context) -> tuple[DataType, int]:
        midnight = period_start(ctx.meter, ctx.t, DAY)
        events = crossings(ctx.meter.simulator, (condition,), midnight, ctx.t, VOLTAGE_GRID)
        return (DataType.LONG_UNSIGNED, sum(1 for _, code in events if code == condition.occurred))

    return count


def short_term_severity(ctx: Context, end: float) -> tuple[float, float, float]:
    """Pst of the three phases over the 10-minute interval ending at ``end``."""
    simulator = ctx.meter.simulator
    now, before = simulator.instantaneous(end), simulator.instantaneous(end - PST_INTERVAL)
    rated = simulator.rated.voltage
    l1, l2, l3 = (PST_FLOOR + PST_GAIN * abs(_voltage(p)(now) - _voltage(p)(before)) / rated for p in PHASES)
    return l1, l2, l3


THD_REGISTERS: tuple[RegisterRow, ...] = tuple(
    row for p in PHASES for row in (
        (f"1.0.{VOLTAGE_C[p]}.7.124.255", f"Voltage THD L{p}", voltage_thd(p), -2, Unit.PERCENTAGE,
         DataType.LONG_UNSIGNED),
        (f"1.0.{CURRENT_C[p]}.7.124.255", f"Current THD L{p}", current_thd(p), -2, Unit.PERCENTAGE,
         DataType.LONG_UNSIGNED),
    ))


@implementer(IPlugin, IObjectSet)
class AcmePowerQuality:
    """The acme-pq object set: sags and swells, THD and flicker per phase."""

    name = "acme-pq"
    description = "ACME power-quality registers: voltage sags and swells, THD and flicker per phase"
    load_shape = "feeder"
    utc_offset = 0

    def objects(self, classes: Mapping[int, IInterfaceClass]) -> list[CosemObject]:
        build = Builder(classes)
        for p in PHASES:
            build.data(f"1.0.{VOLTAGE_C[p]}.32.0.255", crossings_today(p, SAG_LIMIT, below=True),
                       f"Number of voltage sags in phase L{p} since midnight")
            build.data(f"1.0.{VOLTAGE_C[p]}.36.0.255", crossings_today(p, SWELL_LIMIT, below=False),
                       f"Number of voltage swells in phase L{p} since midnight")
        build.registers(THD_REGISTERS)
        build.add("1.0.128.7.0.255", FlickerSeverity.class_id, {"severity": short_term_severity},
                  "Flicker severity Pst and Plt, L1 to L3")
        return build.objects

"""Load shapes of the data simulator: day templates, appliances and parameter ranges.

Everything here is shared by all meters of a shape and built once at import; a meter
only keeps the few seed-derived numbers that pick from these ranges (see ``sources``).

A day template is a piecewise-linear curve through 48 half-hourly knots, in per-unit of
the meter's rated three-phase power ``3 * rated voltage * rated current``. Its integral
from midnight is exact (piecewise quadratic) through a prefix table. Each shape has two
templates (a meter mixes them with a seed-derived weight) and each template one curve
per day type (0 = Monday..Friday, 1 = Saturday, Sunday). The weekday and weekend curves
of a template agree from 22:30 to 01:30, so a meter's load is continuous at every
midnight even with its seed-derived time shift of up to ``SHIFT_S``.
"""

from typing import NamedTuple

DAY_S = 86400
KNOT_S = 1800
KNOTS = DAY_S // KNOT_S
SHIFT_S = 2700
NIGHT_KNOTS = (45, 46, 47, 0, 1, 2, 3)


class DayTemplate(NamedTuple):
    """One day curve: knot values, segment slopes (pu/s) and integrals from midnight (pu*s).

    All three tables carry one extra segment (a copy of the first) so that a time that
    rounds up to 24:00 still indexes a valid segment.
    """

    values: tuple[float, ...]
    slopes: tuple[float, ...]
    prefix: tuple[float, ...]
    full: float


class Appliance(NamedTuple):
    """An appliance that runs twice a day (type-dependent windows) for a fixed total time.

    ``windows[day_type]`` is ``None`` (not used that day) or two (start, end) local-time
    windows in seconds; on each day a hash splits ``total_s`` between the two runs
    (fraction in ``SPLIT``), so the daily energy is fixed while the runs move about.
    Each run is a flat pulse of ``power`` (pu of rated power) with raised-cosine edges of
    ``rise_s``; ``reactive_ratio`` is its Q/P.
    """

    name: str
    power: float
    reactive_ratio: float
    rise_s: float
    total_s: float
    windows: tuple[tuple[tuple[int, int], tuple[int, int]] | None, tuple[tuple[int, int], tuple[int, int]] | None]
    presence: float


class LoadShape(NamedTuple):
    """A load shape: default rating, templates and the ranges a seed picks from.

    Noise terms are ``(amplitude pu, period s)``; ``fast_noise`` periods are targets that
    a meter rounds so that a whole number of periods fits its capacitor window. A shape
    has appliances or a capacitor bank probability, not both: the closed forms of the
    capacitor window assume a load without appliance runs.
    """

    name: str
    voltage: float
    current: float
    templates: tuple[tuple[DayTemplate, DayTemplate], tuple[DayTemplate, DayTemplate]]
    minimum: float
    scale: tuple[float, float]
    slow_noise: tuple[tuple[float, float], ...]
    fast_noise: tuple[tuple[float, float], ...]
    reactive_noise: float
    reactive_ratio: tuple[float, float]
    reactive_offset: tuple[float, float]
    lead_ratio: tuple[float, float]
    capacitor_probability: float
    unbalance: float
    reactive_unbalance: float
    voltage_spread: float
    voltage_swing: float
    voltage_drop: float
    appliances: tuple[Appliance, ...]


SPLIT = (0.3, 0.7)


def day_template(half_hours: tuple[float, ...]) -> DayTemplate:
    """Build the value, slope and prefix tables of a 48-knot periodic day curve."""
    if len(half_hours) != KNOTS:
        raise ValueError(f"a day template needs {KNOTS} half-hourly values")
    values = half_hours + (half_hours[0], half_hours[1])
    slopes = tuple((values[i + 1] - values[i]) / KNOT_S for i in range(KNOTS + 1))
    prefix = [0.0]
    for i in range(KNOTS):
        prefix.append(prefix[-1] + 0.5 * (values[i] + values[i + 1]) * KNOT_S)
    return DayTemplate(values, slopes, tuple(prefix), prefix[KNOTS])


def _h(hours: float) -> int:
    """Local time of day in seconds from hours."""
    return round(hours * 3600)


# Feeder, template A: mixed residential/commercial feeder. Night valley around 03:00-04:00,
# morning ramp to a 08:30 shoulder, afternoon dip, evening peak 19:30-20:00.
_FEEDER_A_WEEKDAY = (
    0.400, 0.380, 0.360, 0.345, 0.335, 0.325, 0.320, 0.315, 0.315, 0.320, 0.335, 0.370,
    0.430, 0.490, 0.550, 0.590, 0.620, 0.630, 0.625, 0.610, 0.595, 0.580, 0.570, 0.565,
    0.560, 0.550, 0.540, 0.530, 0.525, 0.525, 0.530, 0.540, 0.555, 0.575, 0.600, 0.645,
    0.700, 0.750, 0.780, 0.790, 0.785, 0.770, 0.740, 0.690, 0.620, 0.550, 0.490, 0.440,
)
_FEEDER_A_WEEKEND = (
    0.400, 0.380, 0.360, 0.345, 0.335, 0.325, 0.320, 0.315, 0.315, 0.320, 0.330, 0.355,
    0.410, 0.440, 0.470, 0.490, 0.500, 0.510, 0.510, 0.500, 0.490, 0.480, 0.475, 0.470,
    0.470, 0.465, 0.460, 0.455, 0.450, 0.450, 0.455, 0.460, 0.475, 0.500, 0.530, 0.580,
    0.640, 0.690, 0.720, 0.730, 0.730, 0.720, 0.700, 0.660, 0.600, 0.550, 0.490, 0.440,
)
# Feeder, template B: industrial feeder. Flat high working day with a lunch dip, smaller
# evening peak; weekends far lower in the day.
_FEEDER_B_WEEKDAY = (
    0.420, 0.410, 0.400, 0.395, 0.390, 0.390, 0.385, 0.385, 0.390, 0.400, 0.420, 0.450,
    0.500, 0.560, 0.620, 0.680, 0.730, 0.760, 0.770, 0.775, 0.780, 0.780, 0.775, 0.770,
    0.740, 0.720, 0.730, 0.760, 0.770, 0.770, 0.765, 0.760, 0.750, 0.730, 0.700, 0.680,
    0.680, 0.700, 0.710, 0.700, 0.670, 0.630, 0.580, 0.530, 0.490, 0.460, 0.440, 0.430,
)
_FEEDER_B_WEEKEND = (
    0.420, 0.410, 0.400, 0.395, 0.390, 0.390, 0.385, 0.385, 0.390, 0.400, 0.415, 0.435,
    0.460, 0.470, 0.480, 0.490, 0.500, 0.510, 0.515, 0.520, 0.520, 0.520, 0.520, 0.515,
    0.510, 0.505, 0.505, 0.510, 0.510, 0.510, 0.510, 0.510, 0.515, 0.520, 0.530, 0.550,
    0.580, 0.610, 0.630, 0.630, 0.620, 0.590, 0.550, 0.510, 0.480, 0.460, 0.440, 0.430,
)
# Household, template A: working family. Standby/fridge at night, breakfast peak at
# 07:30, empty house in the day, evening peak at 20:00; weekends: late breakfast and a
# midday cooking peak.
_HOUSEHOLD_A_WEEKDAY = (
    0.040, 0.038, 0.036, 0.035, 0.035, 0.035, 0.035, 0.035, 0.036, 0.038, 0.045, 0.060,
    0.085, 0.110, 0.125, 0.130, 0.120, 0.095, 0.070, 0.055, 0.050, 0.048, 0.047, 0.047,
    0.050, 0.052, 0.050, 0.048, 0.046, 0.046, 0.047, 0.050, 0.055, 0.062, 0.075, 0.095,
    0.120, 0.145, 0.165, 0.180, 0.185, 0.180, 0.165, 0.140, 0.110, 0.080, 0.060, 0.048,
)
_HOUSEHOLD_A_WEEKEND = (
    0.040, 0.038, 0.036, 0.035, 0.035, 0.035, 0.035, 0.035, 0.036, 0.038, 0.042, 0.048,
    0.060, 0.075, 0.090, 0.110, 0.130, 0.145, 0.150, 0.145, 0.135, 0.125, 0.120, 0.125,
    0.135, 0.145, 0.140, 0.125, 0.110, 0.100, 0.095, 0.095, 0.100, 0.105, 0.115, 0.130,
    0.145, 0.160, 0.175, 0.185, 0.190, 0.185, 0.170, 0.145, 0.115, 0.080, 0.060, 0.048,
)
# Household, template B: someone at home all day. Earlier morning, midday meal, long
# evening; weekends a little higher through the day.
_HOUSEHOLD_B_WEEKDAY = (
    0.038, 0.036, 0.035, 0.035, 0.035, 0.035, 0.035, 0.036, 0.038, 0.045, 0.060, 0.080,
    0.100, 0.115, 0.120, 0.115, 0.105, 0.095, 0.090, 0.088, 0.090, 0.095, 0.105, 0.115,
    0.120, 0.115, 0.100, 0.090, 0.085, 0.085, 0.088, 0.095, 0.105, 0.115, 0.125, 0.135,
    0.145, 0.155, 0.160, 0.160, 0.155, 0.145, 0.130, 0.110, 0.085, 0.065, 0.050, 0.042,
)
_HOUSEHOLD_B_WEEKEND = (
    0.038, 0.036, 0.035, 0.035, 0.035, 0.035, 0.035, 0.036, 0.038, 0.042, 0.050, 0.062,
    0.078, 0.095, 0.110, 0.122, 0.130, 0.135, 0.135, 0.132, 0.130, 0.132, 0.138, 0.145,
    0.150, 0.148, 0.135, 0.120, 0.110, 0.105, 0.105, 0.110, 0.118, 0.128, 0.138, 0.148,
    0.158, 0.165, 0.170, 0.170, 0.165, 0.152, 0.135, 0.112, 0.088, 0.065, 0.050, 0.042,
)

_HOUSEHOLD_APPLIANCES = (
    Appliance(
        "water heater", 0.29, 0.15, 20.0, _h(50 / 60),
        (((_h(5.5), _h(9)), (_h(18), _h(22.5))), ((_h(7), _h(11)), (_h(18), _h(22.5)))),
        0.7,
    ),
    Appliance(
        "kettle", 0.20, 0.16, 5.0, _h(20 / 60),
        (((_h(6), _h(9.5)), (_h(18.5), _h(22))), ((_h(7.5), _h(11)), (_h(16), _h(21)))),
        0.8,
    ),
    Appliance(
        "iron", 0.15, 0.15, 10.0, _h(0.5),
        (((_h(7), _h(9.5)), (_h(19), _h(22))), ((_h(10), _h(13)), (_h(16), _h(19)))),
        0.6,
    ),
    Appliance(
        "air conditioner", 0.22, 0.42, 60.0, _h(5),
        (((_h(12.5), _h(17.5)), (_h(19.5), _h(23.9))), ((_h(11.5), _h(17)), (_h(19.5), _h(23.9)))),
        0.5,
    ),
    Appliance(
        "water pump", 0.11, 0.50, 2.0, _h(40 / 60),
        (((_h(5.5), _h(8)), (_h(16.5), _h(19))), ((_h(6.5), _h(9)), (_h(16.5), _h(19)))),
        0.6,
    ),
    Appliance(
        "microwave", 0.16, 0.25, 3.0, _h(12 / 60),
        (((_h(6.5), _h(10)), (_h(12), _h(14.5))), ((_h(8), _h(11)), (_h(12), _h(15)))),
        0.7,
    ),
    Appliance(
        "washing machine", 0.07, 0.40, 30.0, _h(100 / 60),
        (None, ((_h(9), _h(12.5)), (_h(13), _h(17)))),
        0.7,
    ),
)


def _templates(
    a: tuple[tuple[float, ...], tuple[float, ...]], b: tuple[tuple[float, ...], tuple[float, ...]]
) -> tuple[tuple[DayTemplate, DayTemplate], tuple[DayTemplate, DayTemplate]]:
    return (
        (day_template(a[0]), day_template(a[1])),
        (day_template(b[0]), day_template(b[1])),
    )


def _minimum(curves: tuple[tuple[float, ...], ...]) -> float:
    return min(min(c) for c in curves)


SHAPES: dict[str, LoadShape] = {
    "feeder": LoadShape(
        name="feeder",
        voltage=63.5,
        current=1.0,
        templates=_templates((_FEEDER_A_WEEKDAY, _FEEDER_A_WEEKEND), (_FEEDER_B_WEEKDAY, _FEEDER_B_WEEKEND)),
        minimum=_minimum((_FEEDER_A_WEEKDAY, _FEEDER_A_WEEKEND, _FEEDER_B_WEEKDAY, _FEEDER_B_WEEKEND)),
        scale=(0.8, 1.12),
        slow_noise=((0.030, 2.7 * DAY_S), (0.020, 5.3 * DAY_S), (0.015, 11.9 * DAY_S)),
        fast_noise=((0.006, 660.0), (0.008, 1740.0), (0.012, 5400.0)),
        reactive_noise=0.04,
        reactive_ratio=(0.20, 0.28),
        reactive_offset=(0.05, 0.14),
        lead_ratio=(0.20, 0.30),
        capacitor_probability=0.35,
        unbalance=0.06,
        reactive_unbalance=0.07,
        voltage_spread=0.015,
        voltage_swing=0.012,
        voltage_drop=0.06,
        appliances=(),
    ),
    "household": LoadShape(
        name="household",
        voltage=230.0,
        current=10.0,
        templates=_templates(
            (_HOUSEHOLD_A_WEEKDAY, _HOUSEHOLD_A_WEEKEND), (_HOUSEHOLD_B_WEEKDAY, _HOUSEHOLD_B_WEEKEND)
        ),
        minimum=_minimum((_HOUSEHOLD_A_WEEKDAY, _HOUSEHOLD_A_WEEKEND, _HOUSEHOLD_B_WEEKDAY, _HOUSEHOLD_B_WEEKEND)),
        scale=(0.85, 1.4),
        slow_noise=((0.003, 3.1 * DAY_S), (0.002, 7.7 * DAY_S)),
        fast_noise=((0.0025, 2700.0), (0.0015, 780.0)),
        reactive_noise=0.04,
        reactive_ratio=(0.19, 0.28),
        reactive_offset=(0.05, 0.14),
        lead_ratio=(0.20, 0.30),
        capacitor_probability=0.0,
        unbalance=0.15,
        reactive_unbalance=0.07,
        voltage_spread=0.015,
        voltage_swing=0.015,
        voltage_drop=0.08,
        appliances=_HOUSEHOLD_APPLIANCES,
    ),
}

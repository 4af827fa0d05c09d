"""Deterministic meter quantities as pure functions of (meter seed, time).

Model
-----
A meter keeps no history: every value at any instant comes from closed-form expressions
of the POSIX time ``t``, so readings can be asked for in any order and repeat exactly.

Active power is ``P(t) = B(t) + A(t)`` with the base load ``B = D + n``:

* ``D`` is the day template of the shape (``shapes``: piecewise linear through half-hourly
  knots, one curve per day type), mixed from the shape's two templates with a
  seed-derived weight, scaled and shifted in time by up to 45 minutes;
* ``n`` is a sum of sinusoids with seed-derived phases: "weather" terms of periods of
  days and fast terms of minutes to hours, whose total amplitude stays well below the
  night valley of ``D``, so ``B > 0`` everywhere;
* ``A`` (household shape only) is the appliances: each runs twice a day as a flat pulse
  with raised-cosine edges; a hash of (seed, day, appliance) places the runs inside
  their windows and splits a fixed total run time between them, so a day's energy
  depends only on its day type.

Energy is the integral of ``P`` since the meter's installation (local midnight 1 to 3
years before 2025-01-01, from the seed): whole days are counted by day type
(weekday/weekend counts are arithmetic), the current day's part comes from the
template's prefix table and the pulses' closed-form integrals, and each sinusoid
``a*cos(w*t + p)`` integrates to ``a/w*sin(w*t + p)``. ``dE/dt = P > 0``, so every
register is non-decreasing.

Reactive power is lagging, ``Q = r*B + q + m(t) + sum(k_i * A_i)`` with ``r`` in 0.19..0.28,
``q`` a constant, ``m`` a small sinusoid sum (``|m| <= q``) and ``k_i`` each appliance's
own ratio, so ``Q/P`` stays within 0.15..0.50 (power factor 0.89..0.99, per phase
0.85..0.99) and grows at light load. About a third of feeders
have a capacitor bank that a timer switches in for 4-5 h every night: inside that window
the feeder leads with ``-(r_c*B + q_c + m(t))``. The lag register integrates ``Q`` outside
the windows, the lead register ``-Q`` inside them. Their closed forms need the integral of
``B`` over all past windows: the template part is a per-day-type constant, the fast
sinusoids have periods that divide the window length (their integral over any window is
zero) and the weather sinusoids sum over the daily windows as a geometric series. Inside
a window the lag register is evaluated at the window start, and outside the windows the
lead register depends only on the number of past windows, so an idle register is exactly
constant; where the two closed forms meet at a window end, both registers step up by
0.01 J (2.8e-6 varh) so that rounding never makes them step back.

Apparent power is ``S = c0*P + c1*|Q|``: the chord of ``sqrt(1 + x**2)`` over
``x = |Q|/P`` in 0.15..0.60, hence ``S >= sqrt(P**2 + Q**2) >= P`` where the model keeps
``|Q|/P`` (at most 1.9 % above the vector value), and the apparent register is
``c0*E_P + c1*(E_lag + E_lead)`` without an integral of its own. No shape exports: the
export register and power stay at zero.

Per-phase values split ``B`` and ``Q`` with slowly rotating three-phase weights (which sum
to one) and put each appliance on one seed-chosen phase. Voltages sit within 1.5 % of
nominal, swing 1.2-1.5 % over hours and drop with the phase's own load (at most 6-8 %).
Frequency is the same for every meter (one grid): 49.975 Hz plus three sinusoids,
49.905..50.045 Hz. Interval averages of frequency are exact, those of voltage and current
come from the interval's mean power and the phase split at mid-interval; the interval's
power factor is ``E_P / E_S``.

Outages: from the installation, time is cut into seed-derived slots of 6 to 14 days with
one outage each, placed by a hash of (seed, slot), lasting a value from a shared cycle of
durations (1 min to 3 h) so that the total outage time is a closed form. Outages only
count in the power-on minutes and failure count; the load curve ignores them.

Randomness is splitmix64 over the seed, so it does not depend on PYTHONHASHSEED.
"""

import math
from typing import NamedTuple

from dlmstw.simulator.shapes import (
    DAY_S,
    KNOT_S,
    SHAPES,
    SHIFT_S,
    SPLIT,
    DayTemplate,
)

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_TWO_PI = 2.0 * math.pi
_SQRT3_2 = math.sqrt(3.0) / 2.0
_INV_KNOT = 1.0 / KNOT_S
_TO_WH = 1.0 / 3600.0

_REFERENCE = 1735689600  # 2025-01-01T00:00:00Z
_INSTALLED_DAYS = (365, 1095)
_WEEKEND = (0, 0, 0, 0, 0, 1, 1)  # by weekday, Monday = 0

# Apparent power S = c0*P + c1*|Q|: chord of sqrt(1 + x*x) between x = 0.15 and x = 0.60.
_X_LO = 0.15
_X_HI = 0.60
_C1 = (math.hypot(1.0, _X_HI) - math.hypot(1.0, _X_LO)) / (_X_HI - _X_LO)
_C0 = math.hypot(1.0, _X_LO) - _C1 * _X_LO

_FREQUENCY_MEAN = 49.975
_FREQUENCY_TERMS = ((0.035, 431.0, 0.3), (0.020, 2579.0, 1.7), (0.015, 19391.0, 4.1))
_FREQUENCY = tuple((a, _TWO_PI / p, ph) for a, p, ph in _FREQUENCY_TERMS)
_FREQUENCY_INTEGRAL = tuple((-a / w, w, ph) for a, w, ph in _FREQUENCY)

# Outage durations in seconds, cycled through from a seed-derived start.
_OUTAGES = (
    180, 2400, 420, 5400, 900, 120, 3600, 600, 1500, 240, 7200, 360,
    1200, 90, 2700, 540, 10800, 300, 1800, 150, 4200, 720, 60,
)
_OUTAGE_SUM = sum(_OUTAGES)
_OUTAGE_PREFIX = tuple(sum((_OUTAGES + _OUTAGES)[:i]) for i in range(2 * len(_OUTAGES) + 1))
_OUTAGE_MAX = max(_OUTAGES)
_OUTAGE_SLOT_DAYS = (6.0, 14.0)

# Capacitor bank window: local start and length (s).
_WINDOW_START_S = (2700, 6300)
_WINDOW_LENGTH_S = (14400, 18000)
# Each window end lifts both reactive registers by this (J): far above the rounding of the
# two closed forms that meet there, so an idle register never steps back.
_GUARD_J = 0.01


class Rating(NamedTuple):
    """Nominal phase-to-neutral voltage (V) and rated (basic) current (A) of a meter."""

    voltage: float
    current: float


class Instantaneous(NamedTuple):
    """Instantaneous values (SI units); power factors are negative when leading."""

    voltage_l1: float
    voltage_l2: float
    voltage_l3: float
    current_l1: float
    current_l2: float
    current_l3: float
    power_factor_l1: float
    power_factor_l2: float
    power_factor_l3: float
    power_factor: float
    frequency: float
    active_power_import: float
    active_power_export: float
    reactive_power: float
    apparent_power: float


class Cumulative(NamedTuple):
    """Register readings since installation: Wh, varh, VAh, minutes and a count."""

    active_energy_import: float
    active_energy_export: float
    reactive_energy_lag: float
    reactive_energy_lead: float
    apparent_energy: float
    power_on_minutes: int
    power_failures: int


class Interval(NamedTuple):
    """One load-profile period: mean V, A, Hz and power factor, energies in Wh/varh/VAh."""

    avg_voltage_l1: float
    avg_voltage_l2: float
    avg_voltage_l3: float
    avg_current_l1: float
    avg_current_l2: float
    avg_current_l3: float
    active_energy_import: float
    active_energy_export: float
    reactive_energy_lag: float
    reactive_energy_lead: float
    apparent_energy: float
    avg_frequency: float
    avg_power_factor: float


# A pulse of one day: (start s, width s, rise s, power W, Q/P, phase 0..2, energy J).
_Pulse = tuple[float, float, float, float, float, int, float]
# An appliance on one day type: (index, total run s, rise s, power W, Q/P, phase, first
# window start s, its length s, second window start s, its length s).
_Run = tuple[int, float, float, float, float, int, int, int, int, int]
_INV_2_21 = 1.0 / (1 << 21)


def _mix64(z: int) -> int:
    """The splitmix64 output function: a bijective 64-bit mix."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class _Uniforms:
    """A splitmix64 stream of floats in [0, 1)."""

    __slots__ = ("_state",)

    def __init__(self, key: int) -> None:
        self._state = key & _MASK

    def next(self, low: float = 0.0, high: float = 1.0) -> float:
        self._state = (self._state + _GOLDEN) & _MASK
        return low + (high - low) * (_mix64(self._state) >> 11) * (1.0 / (1 << 53))


def _weekend_days_before(day: int) -> int:
    """Saturdays and Sundays among local days ``0 .. day-1`` (day 0 = Thursday 1970-01-01)."""
    m = day + 3
    return 2 * (m // 7) + max(0, m % 7 - 5)


def _template_integral(tpl: DayTemplate, y: float) -> float:
    """Integral (pu*s) of ``tpl`` over [0, y), 0 <= y <= 24 h."""
    i = int(y * _INV_KNOT)
    dx = y - i * KNOT_S
    return tpl.prefix[i] + dx * (tpl.values[i] + 0.5 * tpl.slopes[i] * dx)


class MeterSimulator:
    """Electrical quantities of one simulated meter, deterministic in (seed, shape, t).

    ``rated`` defaults to the shape's (63.5 V / 1 A for ``feeder``, 230 V / 10 A for
    ``household``); ``utc_offset`` (seconds) places the day curves in local time and
    defaults to Indian Standard Time.
    """

    __slots__ = (
        "_appliance_energy",
        "_base_noise",
        "_day0",
        "_day_energy",
        "_day_offset",
        "_has_runs",
        "_lead_offset",
        "_lead_ratio",
        "_memo",
        "_noise0",
        "_offset",
        "_outage_key",
        "_outage_slot",
        "_outage_start",
        "_phase_load",
        "_pulse_day",
        "_pulse_key",
        "_ratio",
        "_reactive_noise",
        "_reactive_noise0",
        "_reactive_share",
        "_reactive_unbalance",
        "_runs",
        "_share",
        "_shift",
        "_slow_noise",
        "_templates",
        "_unbalance",
        "_v0",
        "_v_drop",
        "_v_rotation",
        "_v_swing",
        "_vn",
        "_wa",
        "_wb",
        "_weekend0",
        "_window",
        "_window_energy",
        "_window_series",
        "installed",
        "rated",
        "seed",
        "shape",
        "utc_offset",
    )

    def __init__(self, seed: int, shape: str = "feeder", rated: Rating | None = None, utc_offset: int = 19800) -> None:
        try:
            ls = SHAPES[shape]
        except KeyError:
            raise ValueError(f"unknown load shape {shape!r}; known: {', '.join(sorted(SHAPES))}") from None
        if rated is None:
            rated = Rating(ls.voltage, ls.current)
        elif not (rated.voltage > 0.0 and rated.current > 0.0):
            raise ValueError(f"rated voltage and current must be positive, got {rated}")
        self.seed = seed
        self.shape = shape
        self.rated = rated
        self.utc_offset = utc_offset
        key = _mix64((seed & _MASK) ^ _mix64(int.from_bytes(shape.encode(), "little") & _MASK))
        rnd = _Uniforms(key)
        p_ref = 3.0 * rated.voltage * rated.current

        back = _INSTALLED_DAYS[0] + int(rnd.next() * (_INSTALLED_DAYS[1] - _INSTALLED_DAYS[0] + 1))
        self._day0 = (_REFERENCE + utc_offset) // DAY_S - back
        self._weekend0 = _weekend_days_before(self._day0)
        self.installed = float(self._day0 * DAY_S - utc_offset)

        # Day curve: two templates mixed, scaled, shifted.
        scale = rnd.next(*ls.scale) * p_ref
        mix = rnd.next()
        self._templates = ls.templates
        self._wa = scale * (1.0 - mix)
        self._wb = scale * mix
        self._shift = rnd.next(-SHIFT_S, SHIFT_S)
        self._day_offset = (self._phi(0, -self._shift), self._phi(1, -self._shift))
        self._day_energy = (
            self._wa * ls.templates[0][0].full + self._wb * ls.templates[1][0].full,
            self._wa * ls.templates[0][1].full + self._wb * ls.templates[1][1].full,
        )

        # Capacitor window (fast noise periods divide its length even without a bank).
        has_bank = rnd.next() < ls.capacitor_probability
        start = float(int(rnd.next(*_WINDOW_START_S)))
        length = float(int(rnd.next(*_WINDOW_LENGTH_S)))

        base_noise = []
        for amp, period in ls.fast_noise:
            w = _TWO_PI * max(1, round(length / (period * rnd.next(0.85, 1.15)))) / length
            base_noise.append((amp * scale, w, rnd.next(0.0, _TWO_PI)))
        slow_noise = []
        for amp, period in ls.slow_noise:
            w = _TWO_PI / (period * rnd.next(0.85, 1.15))
            slow_noise.append((amp * scale, w, rnd.next(0.0, _TWO_PI)))
        self._slow_noise = tuple(slow_noise)
        self._base_noise = tuple(base_noise) + self._slow_noise
        noise_amplitude = sum(a for a, _w, _p in self._base_noise)
        floor = ls.minimum * scale - noise_amplitude
        reactive_amplitude = ls.reactive_noise * floor
        reactive_noise = []
        for share, period in ((0.4, 420.0), (0.35, 1380.0), (0.25, 4260.0)):
            w = _TWO_PI * max(1, round(length / (period * rnd.next(0.85, 1.15)))) / length
            reactive_noise.append((share * reactive_amplitude, w, rnd.next(0.0, _TWO_PI)))
        self._reactive_noise = tuple(reactive_noise)

        self._ratio = rnd.next(*ls.reactive_ratio)
        self._offset = rnd.next(*ls.reactive_offset) * floor
        self._lead_ratio = rnd.next(*ls.lead_ratio)
        self._lead_offset = rnd.next(*ls.reactive_offset) * floor
        self._window: tuple[float, float] | None = None
        if has_bank:
            end = start + length
            self._window = (start, end)
            self._window_energy = (
                self._partial(0, end) - self._partial(0, start),
                self._partial(1, end) - self._partial(1, start),
            )
            middle = self._day0 * DAY_S - utc_offset + start + 0.5 * length
            series = []
            for amp, w, ph in self._slow_noise:
                beta = w * DAY_S
                factor = 2.0 * amp / w * math.sin(0.5 * w * length) / math.sin(0.5 * beta)
                series.append((factor, w * middle + ph, beta))
            self._window_series = tuple(series)
        else:
            self._window_energy = (0.0, 0.0)
            self._window_series = ()

        # Appliances: presence, phase, power in W, their runs and energy per day type.
        runs: tuple[list[_Run], list[_Run]] = ([], [])
        energy = [[0.0, 0.0], [0.0, 0.0]]
        for j, app in enumerate(ls.appliances):
            present = rnd.next() < app.presence
            phase = int(rnd.next() * 3)
            power = app.power * p_ref * rnd.next(0.85, 1.15)
            if not present:
                continue
            for day_type in (0, 1):
                windows = app.windows[day_type]
                if windows is None:
                    continue
                (lo1, hi1), (lo2, hi2) = windows
                runs[day_type].append(
                    (j, app.total_s, app.rise_s, power, app.reactive_ratio, phase, lo1, hi1 - lo1, lo2, hi2 - lo2)
                )
                e = power * (app.total_s - 2.0 * app.rise_s)
                energy[day_type][0] += e
                energy[day_type][1] += e * app.reactive_ratio
        self._runs = (tuple(runs[0]), tuple(runs[1]))
        self._has_runs = bool(runs[0] or runs[1])
        self._appliance_energy = ((energy[0][0], energy[0][1]), (energy[1][0], energy[1][1]))
        self._pulse_key = _mix64(key ^ 0x5A5A5A5A5A5A5A5A)
        self._pulse_day: tuple[int, tuple[_Pulse, ...]] = (-1, ())

        # Phase split and voltage.
        self._unbalance = ls.unbalance
        self._share = (_TWO_PI / rnd.next(3.0 * 3600, 9.0 * 3600), rnd.next(0.0, _TWO_PI))
        self._reactive_unbalance = ls.reactive_unbalance
        self._reactive_share = (_TWO_PI / rnd.next(2.0 * 3600, 7.0 * 3600), rnd.next(0.0, _TWO_PI))
        self._vn = rated.voltage
        self._phase_load = 1.0 / (rated.voltage * rated.current)
        self._v0 = tuple(rnd.next(-ls.voltage_spread, ls.voltage_spread) for _ in range(3))
        self._v_swing = ls.voltage_swing
        self._v_drop = ls.voltage_drop
        self._v_rotation = (_TWO_PI / rnd.next(4.0 * 3600, 10.0 * 3600), rnd.next(0.0, _TWO_PI))

        # Outages.
        self._outage_key = _mix64(key ^ 0xA5A5A5A5A5A5A5A5)
        self._outage_slot = int(rnd.next(*_OUTAGE_SLOT_DAYS) * DAY_S)
        self._outage_start = int(rnd.next() * len(_OUTAGES))

        self._noise0 = self._sine_sum(self._base_noise, self.installed)
        self._reactive_noise0 = self._sine_sum(self._reactive_noise, self.installed)
        self._memo = (math.nan, self._endpoint(self.installed))

    # -- closed-form pieces ---------------------------------------------------------

    def _phi(self, day_type: int, y: float) -> float:
        """Integral (J) of the unshifted mixed template of ``day_type`` from midnight to y."""
        ta = self._templates[0][day_type]
        tb = self._templates[1][day_type]
        wrap = 0.0
        if y < 0.0:
            y += DAY_S
            wrap = -(self._wa * ta.full + self._wb * tb.full)
        elif y >= DAY_S:
            y -= DAY_S
            wrap = self._wa * ta.full + self._wb * tb.full
        return self._wa * _template_integral(ta, y) + self._wb * _template_integral(tb, y) + wrap

    def _partial(self, day_type: int, h: float) -> float:
        """Integral (J) of the day curve D from local midnight to local time h."""
        return self._phi(day_type, h - self._shift) - self._day_offset[day_type]

    def _curve(self, day_type: int, h: float) -> float:
        """The day curve D (W) at local time h."""
        y = h - self._shift
        if y < 0.0:
            y += DAY_S
        elif y >= DAY_S:
            y -= DAY_S
        i = int(y * _INV_KNOT)
        dx = y - i * KNOT_S
        ta = self._templates[0][day_type]
        tb = self._templates[1][day_type]
        return self._wa * (ta.values[i] + ta.slopes[i] * dx) + self._wb * (tb.values[i] + tb.slopes[i] * dx)

    @staticmethod
    def _sine_sum(terms: tuple[tuple[float, float, float], ...], t: float) -> float:
        """Antiderivative (J) of sum(a*cos(w*t + p)) at t: sum(a/w*sin(w*t + p))."""
        sin = math.sin
        return sum(a / w * sin(w * t + p) for a, w, p in terms)

    def _pulses(self, day: int, day_type: int) -> tuple[_Pulse, ...]:
        """The appliance runs of a local day, sorted by start (cached for the last day)."""
        cached = self._pulse_day
        if cached[0] == day:
            return cached[1]
        pulses: list[_Pulse] = []
        key = self._pulse_key
        for j, total, rise, power, ratio, phase, lo1, room1, lo2, room2 in self._runs[day_type]:
            z = _mix64(key ^ ((day * _GOLDEN + j) & _MASK))
            first = total * (SPLIT[0] + (SPLIT[1] - SPLIT[0]) * (z & 0x1FFFFF) * _INV_2_21)
            second = total - first
            start = lo1 + (room1 - first) * ((z >> 21) & 0x1FFFFF) * _INV_2_21
            pulses.append((start, first, rise, power, ratio, phase, power * (first - rise)))
            start = lo2 + (room2 - second) * ((z >> 42) & 0x1FFFFF) * _INV_2_21
            pulses.append((start, second, rise, power, ratio, phase, power * (second - rise)))
        pulses.sort()
        result = tuple(pulses)
        self._pulse_day = (day, result)
        return result

    @staticmethod
    def _pulse_energy(pulses: tuple[_Pulse, ...], h: float) -> tuple[float, float]:
        """Active and reactive energy (J) of the day's runs from midnight to h."""
        e_p = 0.0
        e_q = 0.0
        for start, width, rise, power, ratio, _phase, energy in pulses:
            x = h - start
            if x <= 0.0:
                break
            if x >= width:
                e = energy
            elif x <= rise:
                e = 0.5 * power * (x - rise / math.pi * math.sin(math.pi * x / rise))
            elif x <= width - rise:
                e = power * (x - 0.5 * rise)
            else:
                y = x - width + rise
                e = power * (width - 1.5 * rise + 0.5 * (y + rise / math.pi * math.sin(math.pi * y / rise)))
            e_p += e
            e_q += e * ratio
        return e_p, e_q

    def _integrals(self, t: float) -> tuple[float, float, float]:
        """Active, lagging and leading energy (J) from installation to t."""
        t = max(t, self.installed)
        u = t + self.utc_offset
        day = int(u // DAY_S)
        h = u - day * DAY_S
        day_type = _WEEKEND[(day + 3) % 7]
        days = day - self._day0
        weekends = _weekend_days_before(day) - self._weekend0
        weekdays = days - weekends
        day_energy = self._day_energy
        base = (
            weekdays * day_energy[0] + weekends * day_energy[1] + self._partial(day_type, h)
            + self._sine_sum(self._base_noise, t) - self._noise0
        )
        noise = self._sine_sum(self._reactive_noise, t) - self._reactive_noise0
        elapsed = t - self.installed
        window = self._window
        if window is None:
            lag = self._ratio * base + self._offset * elapsed + noise
            lead = 0.0
        else:
            start, end = window
            length = end - start
            if h < start or h >= end:
                done = days + (h >= end)
                done_weekends = weekends + (day_type if h >= end else 0)
                inside = (done - done_weekends) * self._window_energy[0] + done_weekends * self._window_energy[1]
                inside += self._window_sum(done)
                closed = done * length
                guard = _GUARD_J * done
                lag = self._ratio * (base - inside) + self._offset * (elapsed - closed) + noise + guard
                lead = self._lead_ratio * inside + self._lead_offset * closed + guard
            else:
                # Both registers computed so that at t == window start they equal the
                # expressions above bit for bit; the lag register is frozen there.
                inside = (days - weekends) * self._window_energy[0] + weekends * self._window_energy[1]
                inside += self._window_sum(days)
                opened = t - (h - start)
                base_open = (
                    weekdays * day_energy[0] + weekends * day_energy[1] + self._partial(day_type, start)
                    + self._sine_sum(self._base_noise, opened) - self._noise0
                )
                noise_open = self._sine_sum(self._reactive_noise, opened) - self._reactive_noise0
                closed = days * length
                guard = _GUARD_J * days
                lag = self._ratio * (base_open - inside) + self._offset * (opened - self.installed - closed) + noise_open
                lag += guard
                lead = (
                    self._lead_ratio * (inside + (base - base_open))
                    + self._lead_offset * (closed + (t - opened))
                    + (noise - noise_open)
                    + guard
                )
        if self._has_runs:
            pulses = self._pulses(day, day_type)
            e_p, e_q = self._pulse_energy(pulses, h)
            energy = self._appliance_energy
            base += weekdays * energy[0][0] + weekends * energy[1][0] + e_p
            lag += weekdays * energy[0][1] + weekends * energy[1][1] + e_q
        return base, lag, lead

    def _window_sum(self, count: int) -> float:
        """Integral (J) of the weather sinusoids over the first ``count`` nightly windows."""
        total = 0.0
        for factor, psi, beta in self._window_series:
            total += factor * math.cos(psi + 0.5 * (count - 1) * beta) * math.sin(0.5 * count * beta)
        return total

    def _endpoint(self, t: float) -> tuple[float, float, float, float, float]:
        """Registers at t (Wh, varh, varh, VAh) and the integral of frequency (Hz*s)."""
        e_p, e_lag, e_lead = self._integrals(t)
        cos = math.cos
        freq = sum(k * cos(w * t + p) for k, w, p in _FREQUENCY_INTEGRAL)
        return (
            e_p * _TO_WH,
            e_lag * _TO_WH,
            e_lead * _TO_WH,
            (_C0 * e_p + _C1 * (e_lag + e_lead)) * _TO_WH,
            freq,
        )

    def _outages(self, t: float) -> tuple[int, int]:
        """Power-on seconds and power failures from installation to t."""
        elapsed = math.floor(t) - int(self.installed)
        if elapsed <= 0:
            return 0, 0
        slot_len = self._outage_slot
        slot, within = divmod(elapsed, slot_len)
        n = len(_OUTAGES)
        first = self._outage_start
        before = (slot // n) * _OUTAGE_SUM + _OUTAGE_PREFIX[first + slot % n] - _OUTAGE_PREFIX[first]
        z = _mix64(self._outage_key ^ ((slot * _GOLDEN) & _MASK))
        begins = (z >> 11) % (slot_len - _OUTAGE_MAX)
        lasts = _OUTAGES[(first + slot) % n]
        if within < begins:
            return elapsed - before, slot
        if within < begins + lasts:
            return slot * slot_len + begins - before, slot + 1
        return elapsed - before - lasts, slot + 1

    # -- public API -------------------------------------------------------------------

    def instantaneous(self, t: float) -> Instantaneous:
        """Values at POSIX time t (UTC seconds)."""
        cos = math.cos
        sin = math.sin
        u = t + self.utc_offset
        day = int(u // DAY_S)
        h = u - day * DAY_S
        day_type = _WEEKEND[(day + 3) % 7]
        base = self._curve(day_type, h)
        for a, w, p in self._base_noise:
            base += a * cos(w * t + p)
        noise = 0.0
        for a, w, p in self._reactive_noise:
            noise += a * cos(w * t + p)
        window = self._window
        if window is not None and window[0] <= h < window[1]:
            reactive = -(self._lead_ratio * base + self._lead_offset + noise)
        else:
            reactive = self._ratio * base + self._offset + noise

        w, p = self._share
        c = cos(w * t + p)
        s = sin(w * t + p)
        e = self._unbalance / 3.0
        sh1 = 1.0 / 3.0 + e * c
        sh2 = 1.0 / 3.0 + e * (-0.5 * c - _SQRT3_2 * s)
        sh3 = 1.0 / 3.0 + e * (-0.5 * c + _SQRT3_2 * s)
        w, p = self._reactive_share
        c = cos(w * t + p)
        s = sin(w * t + p)
        e = self._reactive_unbalance
        r1 = sh1 * (1.0 + e * c)
        r2 = sh2 * (1.0 + e * (-0.5 * c - _SQRT3_2 * s))
        r3 = sh3 * (1.0 + e * (-0.5 * c + _SQRT3_2 * s))
        q_scale = reactive / (r1 + r2 + r3)
        p1 = sh1 * base
        p2 = sh2 * base
        p3 = sh3 * base
        q1 = r1 * q_scale
        q2 = r2 * q_scale
        q3 = r3 * q_scale
        active = base
        if self._has_runs:
            extra_p = [0.0, 0.0, 0.0]
            extra_q = [0.0, 0.0, 0.0]
            for start, width, rise, power, ratio, phase, _energy in self._pulses(day, day_type):
                x = h - start
                if x <= 0.0:
                    break
                if x >= width:
                    continue
                if x < rise:
                    value = 0.5 * power * (1.0 - cos(math.pi * x / rise))
                elif x <= width - rise:
                    value = power
                else:
                    value = 0.5 * power * (1.0 + cos(math.pi * (x - width + rise) / rise))
                extra_p[phase] += value
                extra_q[phase] += value * ratio
            p1 += extra_p[0]
            p2 += extra_p[1]
            p3 += extra_p[2]
            q1 += extra_q[0]
            q2 += extra_q[1]
            q3 += extra_q[2]
            active += extra_p[0] + extra_p[1] + extra_p[2]
            reactive += extra_q[0] + extra_q[1] + extra_q[2]
        s1 = math.hypot(p1, q1)
        s2 = math.hypot(p2, q2)
        s3 = math.hypot(p3, q3)
        v1, v2, v3 = self._voltages(t, p1, p2, p3)
        apparent = _C0 * active + _C1 * abs(reactive)
        sign = -1.0 if reactive < 0.0 else 1.0
        frequency = _FREQUENCY_MEAN
        for a, w, p in _FREQUENCY:
            frequency += a * sin(w * t + p)
        return Instantaneous(
            v1, v2, v3,
            s1 / v1, s2 / v2, s3 / v3,
            math.copysign(p1 / s1, q1), math.copysign(p2 / s2, q2), math.copysign(p3 / s3, q3),
            sign * active / apparent,
            frequency,
            active, 0.0, reactive, apparent,
        )

    def cumulative(self, t: float) -> Cumulative:
        """Register readings at POSIX time t; all zero before installation."""
        e_p, e_lag, e_lead, e_s, _freq = self._endpoint(t)
        on, failures = self._outages(t)
        return Cumulative(e_p, 0.0, e_lag, e_lead, e_s, on // 60, failures)

    def interval(self, t_end: float, period_s: int) -> Interval:
        """The period ``[t_end - period_s, t_end]``: energies are exactly the differences of
        the registers at both ends; consecutive calls reuse the shared end."""
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        t_start = t_end - period_s
        memo_t, r0 = self._memo
        if memo_t != t_start:
            r0 = self._endpoint(t_start)
        r1 = self._endpoint(t_end)
        self._memo = (t_end, r1)
        e_p = r1[0] - r0[0]
        e_lag = r1[1] - r0[1]
        e_lead = r1[2] - r0[2]
        e_s = r1[3] - r0[3]
        per_second = 3600.0 / period_s
        active = e_p * per_second
        apparent = e_s * per_second
        mid = t_end - 0.5 * period_s
        w, p = self._share
        c = math.cos(w * mid + p)
        s = math.sin(w * mid + p)
        e = self._unbalance / 3.0
        sh1 = 1.0 / 3.0 + e * c
        sh2 = 1.0 / 3.0 + e * (-0.5 * c - _SQRT3_2 * s)
        sh3 = 1.0 / 3.0 + e * (-0.5 * c + _SQRT3_2 * s)
        v1, v2, v3 = self._voltages(mid, sh1 * active, sh2 * active, sh3 * active)
        if e_s > 0.0:
            pf = e_p / e_s if e_lag >= e_lead else -e_p / e_s
        else:
            pf = 1.0
        return Interval(
            v1, v2, v3,
            sh1 * apparent / v1, sh2 * apparent / v2, sh3 * apparent / v3,
            e_p, 0.0, e_lag, e_lead, e_s,
            _FREQUENCY_MEAN + (r1[4] - r0[4]) / period_s,
            pf,
        )

    def _voltages(self, t: float, p1: float, p2: float, p3: float) -> tuple[float, float, float]:
        """Phase voltages at t for the given per-phase active powers (W)."""
        w, p = self._v_rotation
        c = math.cos(w * t + p)
        s = math.sin(w * t + p)
        a = self._v_swing
        d = self._v_drop
        k = self._phase_load
        v0 = self._v0
        x1 = p1 * k
        x2 = p2 * k
        x3 = p3 * k
        vn = self._vn
        return (
            vn * (1.0 + v0[0] + a * c - d * x1 / (1.0 + x1)),
            vn * (1.0 + v0[1] + a * (-0.5 * c - _SQRT3_2 * s) - d * x2 / (1.0 + x2)),
            vn * (1.0 + v0[2] + a * (-0.5 * c + _SQRT3_2 * s) - d * x3 / (1.0 + x3)),
        )

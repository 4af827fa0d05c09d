"""The deterministic data simulator (dlmstw/simulator): consistency properties of the
closed-form load model, physical bands, determinism and the shared shape tables."""

import itertools
import math
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmstw.simulator.shapes import NIGHT_KNOTS, SHAPES, SPLIT, day_template
from dlmstw.simulator.sources import (
    Cumulative,
    Instantaneous,
    Interval,
    MeterSimulator,
    Rating,
)

T_START = 1748736000  # 2025-06-01T00:00:00Z, a Sunday
WINDOW_S = 35 * 86400
PERIODS = (300, 900, 1800, 3600, 86400)
SHAPE_NAMES = ("feeder", "household")
ENERGIES = ("active_energy_import", "active_energy_export", "reactive_energy_lag", "reactive_energy_lead", "apparent_energy")

seeds = st.integers(min_value=-(2**63), max_value=2**64)
shapes = st.sampled_from(SHAPE_NAMES)
# Times in whole milliseconds inside the 35-day window (the meter clock is coarser still).
times = st.integers(min_value=T_START * 1000, max_value=(T_START + WINDOW_S) * 1000).map(lambda ms: ms / 1000)
periods = st.sampled_from(PERIODS)
fast = settings(max_examples=40, deadline=None)


def _local_midnight(meter: MeterSimulator, day: int) -> float:
    """POSIX time of the meter's local midnight ``day`` days after 2025-06-01 (local)."""
    return T_START + day * 86400 - meter.utc_offset


def _mean_power(meter: MeterSimulator, t_from: float, t_to: float) -> float:
    """Mean active power (W) over [t_from, t_to] from the registers."""
    e = meter.cumulative(t_to).active_energy_import - meter.cumulative(t_from).active_energy_import
    return e * 3600.0 / (t_to - t_from)


# -- consistency of registers and intervals ---------------------------------------------


@fast
@given(seed=seeds, shape=shapes, a=times, b=times)
def test_cumulative_registers_never_decrease(seed: int, shape: str, a: float, b: float) -> None:
    meter = MeterSimulator(seed, shape)
    early, late = meter.cumulative(min(a, b)), meter.cumulative(max(a, b))
    for name in Cumulative._fields:
        assert getattr(late, name) >= getattr(early, name), name


@fast
@given(seed=seeds, shape=shapes, t=times)
def test_registers_non_decreasing_second_by_second(seed: int, shape: str, t: float) -> None:
    meter = MeterSimulator(seed, shape)
    readings = [meter.cumulative(t + k) for k in range(120)]
    for before, after in itertools.pairwise(readings):
        for name in Cumulative._fields:
            assert getattr(after, name) >= getattr(before, name), name
    # Something is always imported: the base load never reaches zero.
    assert readings[-1].active_energy_import > readings[0].active_energy_import


@fast
@given(seed=seeds, shape=shapes, t_end=times, period=periods)
def test_interval_energies_are_register_differences(seed: int, shape: str, t_end: float, period: int) -> None:
    meter = MeterSimulator(seed, shape)
    got = meter.interval(t_end, period)
    end, start = meter.cumulative(t_end), meter.cumulative(t_end - period)
    for name in ENERGIES:
        assert getattr(got, name) == getattr(end, name) - getattr(start, name), name
        assert getattr(got, name) >= 0.0, name
    assert got.active_energy_export == 0.0


@fast
@given(seed=seeds, shape=shapes, t=times, period=periods)
def test_consecutive_intervals_sum_to_the_register(seed: int, shape: str, t: float, period: int) -> None:
    """A HES that adds up a load profile finds the register reading (same float operations)."""
    meter = MeterSimulator(seed, shape)
    count = 6 if period < 86400 else 2
    blocks = [meter.interval(t + k * period, period) for k in range(1, count + 1)]
    fresh = MeterSimulator(seed, shape)
    for k, block in enumerate(blocks, start=1):
        assert block == fresh.interval(t + k * period, period)  # the memo of the shared end changes nothing
    first, last = meter.cumulative(t), meter.cumulative(t + count * period)
    total = sum(b.active_energy_import for b in blocks)
    assert total == pytest.approx(last.active_energy_import - first.active_energy_import, rel=1e-9)


@fast
@given(seed=seeds, shape=shapes, t_end=times, period=periods)
def test_interval_mean_power_comes_from_the_instantaneous_curve(
    seed: int, shape: str, t_end: float, period: int
) -> None:
    """Mean-value theorem: the interval's mean power lies between the sampled extremes."""
    meter = MeterSimulator(seed, shape)
    block = meter.interval(t_end, period)
    mean = block.active_energy_import * 3600.0 / period
    samples = [meter.instantaneous(t_end - period + period * k / 288).active_power_import for k in range(289)]
    assert min(samples) * 0.97 <= mean <= max(samples) * 1.03


@fast
@given(seed=seeds, t_end=times, period=st.sampled_from((300, 900, 1800, 3600)))
def test_feeder_interval_mean_power_close_to_midpoint(seed: int, t_end: float, period: int) -> None:
    meter = MeterSimulator(seed, "feeder")
    mean = meter.interval(t_end, period).active_energy_import * 3600.0 / period
    mid = meter.instantaneous(t_end - period / 2).active_power_import
    assert 0.85 <= mean / mid <= 1.15


@fast
@given(seed=seeds, shape=shapes, t_end=times, period=periods)
def test_apparent_energy_bounds_active_and_reactive(seed: int, shape: str, t_end: float, period: int) -> None:
    block = MeterSimulator(seed, shape).interval(t_end, period)
    reactive = block.reactive_energy_lag + block.reactive_energy_lead
    assert block.apparent_energy >= math.hypot(block.active_energy_import, reactive) >= block.active_energy_import
    # ... and is no more than the 1.9 % of the chord above the vector value.
    assert block.apparent_energy <= 1.02 * math.hypot(block.active_energy_import, reactive)


@fast
@given(seed=seeds, shape=shapes, t_end=times, period=periods)
def test_interval_averages_are_physical(seed: int, shape: str, t_end: float, period: int) -> None:
    meter = MeterSimulator(seed, shape)
    block = meter.interval(t_end, period)
    vn = meter.rated.voltage
    for v in (block.avg_voltage_l1, block.avg_voltage_l2, block.avg_voltage_l3):
        assert 0.9 * vn <= v <= 1.1 * vn
    currents = (block.avg_current_l1, block.avg_current_l2, block.avg_current_l3)
    assert all(i > 0.0 for i in currents)
    # Mean phase currents carry the interval's apparent power.
    volt_amperes = sum(
        v * i for v, i in zip((block.avg_voltage_l1, block.avg_voltage_l2, block.avg_voltage_l3), currents)
    )
    assert volt_amperes == pytest.approx(block.apparent_energy * 3600.0 / period, rel=1e-9)
    assert 49.9 <= block.avg_frequency <= 50.05
    assert 0.85 <= abs(block.avg_power_factor) <= 0.99
    assert block.avg_power_factor == pytest.approx(
        math.copysign(block.active_energy_import / block.apparent_energy, block.reactive_energy_lag - block.reactive_energy_lead)
    )


@fast
@given(t_end=times, period=periods)
def test_interval_frequency_is_the_exact_mean(t_end: float, period: int) -> None:
    meter = MeterSimulator(7)
    n = 2000
    step = period / n
    # Simpson's rule over the instantaneous frequency.
    total = sum(
        (1 if k in (0, n) else 4 if k % 2 else 2) * meter.instantaneous(t_end - period + k * step).frequency
        for k in range(n + 1)
    )
    assert meter.interval(t_end, period).avg_frequency == pytest.approx(total * step / 3 / period, abs=2e-4)


# -- instantaneous values ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=seeds, shape=shapes, t=times)
def test_instantaneous_values_stay_in_physical_bands(seed: int, shape: str, t: float) -> None:
    meter = MeterSimulator(seed, shape)
    now = meter.instantaneous(t)
    vn, rated_current = meter.rated
    for v in (now.voltage_l1, now.voltage_l2, now.voltage_l3):
        assert 0.9 * vn <= v <= 1.1 * vn
    for i in (now.current_l1, now.current_l2, now.current_l3):
        assert 0.0 <= i <= (1.2 if shape == "feeder" else 4.0) * rated_current
    for pf in (now.power_factor_l1, now.power_factor_l2, now.power_factor_l3):
        assert 0.85 <= abs(pf) <= 0.99
    assert 0.85 <= abs(now.power_factor) <= 0.99
    assert 49.9 <= now.frequency <= 50.05
    assert now.active_power_import > 0.0
    assert now.active_power_export == 0.0
    # Phase signs follow the total; apparent power lies at or just above the vector value.
    signs = {math.copysign(1.0, pf) for pf in (now.power_factor_l1, now.power_factor_l2, now.power_factor_l3)}
    assert signs == {math.copysign(1.0, now.reactive_power)} == {math.copysign(1.0, now.power_factor)}
    vector = math.hypot(now.active_power_import, now.reactive_power)
    assert vector <= now.apparent_power <= 1.02 * vector
    assert now.power_factor == pytest.approx(math.copysign(now.active_power_import / now.apparent_power, now.reactive_power))


@fast
@given(seed=seeds, shape=shapes, t=times)
def test_phase_values_add_up(seed: int, shape: str, t: float) -> None:
    now = MeterSimulator(seed, shape).instantaneous(t)
    phases = (
        (now.voltage_l1, now.current_l1, now.power_factor_l1),
        (now.voltage_l2, now.current_l2, now.power_factor_l2),
        (now.voltage_l3, now.current_l3, now.power_factor_l3),
    )
    active = sum(v * i * abs(pf) for v, i, pf in phases)
    reactive = sum(math.copysign(v * i * math.sqrt(1.0 - pf * pf), pf) for v, i, pf in phases)
    assert active == pytest.approx(now.active_power_import, rel=1e-9)
    assert reactive == pytest.approx(now.reactive_power, rel=1e-6)


@fast
@given(seed=seeds, shape=shapes, t=times)
def test_instantaneous_power_is_the_derivative_of_the_registers(seed: int, shape: str, t: float) -> None:
    meter = MeterSimulator(seed, shape)
    d = 0.01
    before, after = meter.cumulative(t - d), meter.cumulative(t + d)
    now = meter.instantaneous(t)
    lagging = meter.instantaneous(t - d).reactive_power > 0.0
    if lagging != (meter.instantaneous(t + d).reactive_power > 0.0):
        return  # a capacitor bank switched inside the step
    rate = 3600.0 / (2 * d)
    assert (after.active_energy_import - before.active_energy_import) * rate == pytest.approx(
        now.active_power_import, rel=2e-3
    )
    lag = (after.reactive_energy_lag - before.reactive_energy_lag) * rate
    lead = (after.reactive_energy_lead - before.reactive_energy_lead) * rate
    assert lag - lead == pytest.approx(now.reactive_power, rel=2e-3)
    assert (lag if lagging else lead) == pytest.approx(abs(now.reactive_power), rel=2e-3)
    assert (lead if lagging else lag) == 0.0
    assert (after.apparent_energy - before.apparent_energy) * rate == pytest.approx(now.apparent_power, rel=2e-3)


# -- determinism ------------------------------------------------------------------------


@fast
@given(seed=seeds, shape=shapes, ts=st.lists(times, min_size=2, max_size=8), period=periods)
def test_answers_do_not_depend_on_the_order_of_questions(seed: int, shape: str, ts: list[float], period: int) -> None:
    forward = MeterSimulator(seed, shape)
    expected = [(forward.instantaneous(t), forward.cumulative(t), forward.interval(t, period)) for t in sorted(ts)]
    backward = MeterSimulator(seed, shape)
    got = [(backward.interval(t, period), backward.cumulative(t), backward.instantaneous(t)) for t in sorted(ts, reverse=True)]
    assert [(i, c, b) for b, c, i in reversed(got)] == expected


@fast
@given(seed=seeds, shape=shapes, t=times)
def test_different_seeds_give_different_curves(seed: int, shape: str, t: float) -> None:
    a, b = MeterSimulator(seed, shape), MeterSimulator(seed + 1, shape)
    assert a.instantaneous(t).active_power_import != b.instantaneous(t).active_power_import
    assert a.cumulative(t).active_energy_import != b.cumulative(t).active_energy_import
    assert a.interval(t, 900) != b.interval(t, 900)


def test_values_do_not_depend_on_the_interpreter_hash_seed() -> None:
    code = (
        "from dlmstw.simulator.sources import MeterSimulator as M;"
        "print(repr((M(42, 'feeder').cumulative(1750000000.5), M(43, 'household').instantaneous(1750000000.5),"
        " M(44, 'household').interval(1750000000, 900))))"
    )
    root = Path(__file__).resolve().parent.parent
    outputs = set()
    for hash_seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(root))
        outputs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
    local = repr(
        (
            MeterSimulator(42, "feeder").cumulative(1750000000.5),
            MeterSimulator(43, "household").instantaneous(1750000000.5),
            MeterSimulator(44, "household").interval(1750000000, 900),
        )
    )
    assert outputs == {local + "\n"}


def test_result_types() -> None:
    meter = MeterSimulator(1, "household")
    assert type(meter.instantaneous(T_START)) is Instantaneous
    assert type(meter.interval(T_START, 900)) is Interval
    reading = meter.cumulative(T_START)
    assert type(reading) is Cumulative
    assert type(reading.power_on_minutes) is int and type(reading.power_failures) is int


# -- the load curves ----------------------------------------------------------------------


def _weekly_means(meter: MeterSimulator, hours: tuple[float, float], weekend: bool) -> float:
    """Mean power over local ``hours`` on the weekdays or weekend days of five weeks."""
    means = []
    for day in range(35):
        is_weekend = (6 + day) % 7 >= 5  # 2025-06-01 is a Sunday (Monday = 0)
        if is_weekend == weekend:
            midnight = _local_midnight(meter, day)
            means.append(_mean_power(meter, midnight + hours[0] * 3600, midnight + hours[1] * 3600))
    return sum(means) / len(means)


@pytest.mark.parametrize("seed", range(8))
def test_feeder_day_has_night_valley_evening_peak_and_lower_weekends(seed: int) -> None:
    meter = MeterSimulator(seed, "feeder")
    night = _weekly_means(meter, (2, 5), weekend=False)
    morning = _weekly_means(meter, (9, 11), weekend=False)
    evening = _weekly_means(meter, (19, 21), weekend=False)
    assert night < 0.65 * evening
    assert night < morning < evening * 1.1
    assert _weekly_means(meter, (10, 16), weekend=True) < 0.9 * _weekly_means(meter, (10, 16), weekend=False)


@pytest.mark.parametrize("seed", range(8))
def test_household_day_near_zero_at_night_peaks_and_busier_weekend_middays(seed: int) -> None:
    meter = MeterSimulator(seed, "household")
    night = _weekly_means(meter, (1, 4), weekend=False)
    morning = _weekly_means(meter, (6, 9), weekend=False)
    evening = _weekly_means(meter, (19, 22), weekend=False)
    assert night < 0.4 * morning
    assert night < 0.35 * evening
    assert night < 0.05 * 3 * meter.rated.voltage * meter.rated.current
    assert _weekly_means(meter, (11, 15), weekend=True) > 1.1 * _weekly_means(meter, (11, 15), weekend=False)


@pytest.mark.parametrize("seed", range(4))
def test_household_load_is_spiky(seed: int) -> None:
    """Appliance runs: within a day, 1-minute power often jumps by more than a kilowatt."""
    meter = MeterSimulator(seed, "household")
    midnight = _local_midnight(meter, 3)
    power = [meter.instantaneous(midnight + 60 * k).active_power_import for k in range(1440)]
    jumps = sum(1 for a, b in itertools.pairwise(power) if abs(b - a) > 1000.0)
    assert jumps >= 2
    assert max(power) > 5 * min(power)


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_voltage_drops_at_peak_load(shape: str) -> None:
    for seed in range(4):
        meter = MeterSimulator(seed, shape)
        drops = []
        for day in range(35):
            midnight = _local_midnight(meter, day)
            night = meter.interval(midnight + 4 * 3600, 3600)
            peak = meter.interval(midnight + 21 * 3600, 3600)
            volts = (night.avg_voltage_l1 + night.avg_voltage_l2 + night.avg_voltage_l3) - (
                peak.avg_voltage_l1 + peak.avg_voltage_l2 + peak.avg_voltage_l3
            )
            drops.append(volts / 3 / meter.rated.voltage)
        assert 0.005 < sum(drops) / len(drops) < 0.08


def test_some_feeders_lead_at_night_households_never_lead() -> None:
    leading = 0
    for seed in range(20):
        meter = MeterSimulator(seed, "feeder")
        midnight = _local_midnight(meter, 10)
        night = [meter.instantaneous(midnight + 600 * k) for k in range(48)]
        if any(now.reactive_power < 0.0 for now in night):
            leading += 1
            assert meter.cumulative(T_START + WINDOW_S).reactive_energy_lead > 0.0
        else:
            assert meter.cumulative(T_START + WINDOW_S).reactive_energy_lead == 0.0
        day = [meter.instantaneous(midnight + 8 * 3600 + 600 * k) for k in range(96)]
        assert all(now.reactive_power > 0.0 for now in day)
    assert 2 <= leading <= 14
    for seed in range(10):
        meter = MeterSimulator(seed, "household")
        assert meter.cumulative(T_START + WINDOW_S).reactive_energy_lead == 0.0
        assert meter.interval(T_START + WINDOW_S, 86400).avg_power_factor > 0.0


def test_idle_reactive_register_stays_exactly_constant() -> None:
    """While leading the lag register does not move, while lagging the lead register does not."""
    seen_leading = False
    for seed in range(20):
        meter = MeterSimulator(seed, "feeder")
        midnight = _local_midnight(meter, 20)
        readings = [(meter.instantaneous(midnight + 60 * k), meter.cumulative(midnight + 60 * k)) for k in range(480)]
        for (now, before), (nxt, after) in itertools.pairwise(readings):
            if now.reactive_power < 0.0 and nxt.reactive_power < 0.0:
                seen_leading = True
                assert after.reactive_energy_lag == before.reactive_energy_lag
                assert after.reactive_energy_lead > before.reactive_energy_lead
            elif now.reactive_power > 0.0 and nxt.reactive_power > 0.0:
                assert after.reactive_energy_lead == before.reactive_energy_lead
                assert after.reactive_energy_lag > before.reactive_energy_lag
    assert seen_leading


def _switching_second(meter: MeterSimulator, lo: int, hi: int) -> int:
    """The first whole second in (lo, hi] whose reactive power sign differs from lo's."""
    leading = meter.instantaneous(lo).reactive_power < 0.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (meter.instantaneous(mid).reactive_power < 0.0) == leading:
            lo = mid
        else:
            hi = mid
    return hi


def test_registers_monotonic_where_the_capacitor_bank_switches() -> None:
    """At a switching instant two closed forms meet: no register steps back there."""
    switches = 0
    for seed in range(30):
        meter = MeterSimulator(seed, "feeder")
        for day in range(7):
            midnight = int(_local_midnight(meter, day))
            grid = [midnight + 300 * k for k in range(97)]
            for lo, hi in itertools.pairwise(grid):
                if (meter.instantaneous(lo).reactive_power < 0.0) == (meter.instantaneous(hi).reactive_power < 0.0):
                    continue
                switch = _switching_second(meter, lo, hi)
                switches += 1
                readings = [meter.cumulative(switch + ms / 1000) for ms in range(-50, 51)]
                for before, after in itertools.pairwise(readings):
                    for name in ENERGIES:
                        assert getattr(after, name) >= getattr(before, name), (seed, switch, name)
    assert switches >= 40


def test_leading_interval_has_negative_power_factor() -> None:
    for seed in range(20):
        meter = MeterSimulator(seed, "feeder")
        midnight = _local_midnight(meter, 5)
        for k in range(1, 49):
            block = meter.interval(midnight + 300 * k * 2, 600)
            if block.reactive_energy_lead > block.reactive_energy_lag:
                assert block.avg_power_factor < 0.0
                assert meter.instantaneous(midnight + 300 * k * 2 - 300).power_factor < 0.0
                return
    pytest.fail("no feeder among 20 seeds leads at night")


def test_rating_scales_currents_and_energies() -> None:
    one = MeterSimulator(9, "feeder")
    five = MeterSimulator(9, "feeder", Rating(63.5, 5.0))
    t = T_START + 12345.0
    a, b = one.instantaneous(t), five.instantaneous(t)
    assert b.voltage_l2 == pytest.approx(a.voltage_l2, rel=1e-12)
    assert b.current_l2 == pytest.approx(5 * a.current_l2, rel=1e-12)
    assert b.power_factor == pytest.approx(a.power_factor, rel=1e-12)
    assert five.cumulative(t).apparent_energy == pytest.approx(5 * one.cumulative(t).apparent_energy, rel=1e-9)
    household = MeterSimulator(9, "household", Rating(240.0, 5.0)).instantaneous(t)
    assert 216.0 <= household.voltage_l1 <= 264.0


# -- installation, power-on time and failures --------------------------------------------


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_installation_one_to_three_years_before_2025(shape: str) -> None:
    for seed in range(30):
        meter = MeterSimulator(seed, shape)
        years = (1735689600 - meter.installed) / (365 * 86400)
        assert 1.0 <= years <= 3.01
        assert (meter.installed + meter.utc_offset) % 86400 == 0  # local midnight
        zero = Cumulative(0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
        assert meter.cumulative(meter.installed) == zero
        assert meter.cumulative(meter.installed - 86400 * 400) == zero
        block = meter.interval(meter.installed, 900)
        assert block.active_energy_import == 0.0 and block.avg_power_factor == 1.0


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_power_failures_a_few_per_month_and_power_on_minutes(shape: str) -> None:
    for seed in range(20):
        meter = MeterSimulator(seed, shape)
        start, end = meter.cumulative(T_START), meter.cumulative(T_START + 30 * 86400)
        failures = end.power_failures - start.power_failures
        assert 2 <= failures <= 6
        on = end.power_on_minutes - start.power_on_minutes
        assert 30 * 1440 - (failures + 1) * 180 <= on <= 30 * 1440 + 1
        since = (T_START - meter.installed) / 60
        assert since - start.power_failures * 180 - 1 <= start.power_on_minutes <= since


def test_power_on_minutes_stop_during_an_outage() -> None:
    meter = MeterSimulator(5, "household")
    lo, hi = int(T_START), int(T_START + WINDOW_S)
    target = meter.cumulative(lo).power_failures + 1
    while hi - lo > 1:  # the second at which the next failure starts
        mid = (lo + hi) // 2
        if meter.cumulative(mid).power_failures >= target:
            hi = mid
        else:
            lo = mid
    at_failure = meter.cumulative(hi)
    assert meter.cumulative(hi + 59).power_on_minutes == at_failure.power_on_minutes
    later = [meter.cumulative(hi + 60 * k).power_on_minutes for k in range(300)]
    assert later == sorted(later)
    assert later[-1] - later[0] < 299  # the outage took at least a minute


# -- arguments, memory and the shape tables ------------------------------------------------


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown load shape 'factory'"):
        MeterSimulator(1, "factory")
    with pytest.raises(ValueError, match="positive"):
        MeterSimulator(1, "feeder", Rating(63.5, 0.0))
    with pytest.raises(ValueError, match="period_s"):
        MeterSimulator(1).interval(T_START, 0)


def test_a_meter_stays_small() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        meters = [MeterSimulator(seed, SHAPE_NAMES[seed % 2]) for seed in range(100)]
        for meter in meters:
            meter.interval(T_START + 900, 900)
            meter.instantaneous(T_START + 450)
        per_meter = (tracemalloc.get_traced_memory()[0] - before) / len(meters)
    finally:
        tracemalloc.stop()
    assert per_meter < 8 * 1024


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_templates_join_at_midnight_and_stay_positive(shape: str) -> None:
    for weekday, weekend in SHAPES[shape].templates:
        for knot in NIGHT_KNOTS:
            assert weekday.values[knot] == weekend.values[knot]
        for tpl in (weekday, weekend):
            assert min(tpl.values) >= SHAPES[shape].minimum > 0.0
            assert tpl.prefix[-1] == tpl.full
            assert tpl.values[48] == tpl.values[0]


def test_no_shape_has_both_appliances_and_capacitor_banks() -> None:
    for shape in SHAPES.values():
        assert not (shape.appliances and shape.capacitor_probability > 0.0), shape.name


def test_day_template_tables() -> None:
    tpl = day_template(tuple(float(k % 2) for k in range(48)))
    assert tpl.values[:3] == (0.0, 1.0, 0.0) and len(tpl.values) == 50
    assert tpl.slopes[0] == 1.0 / 1800 and tpl.slopes[1] == -1.0 / 1800
    assert tpl.prefix[2] == 1800.0 and tpl.full == 0.5 * 86400
    with pytest.raises(ValueError):
        day_template((1.0,) * 47)


def test_appliance_runs_fit_their_windows() -> None:
    for app in SHAPES["household"].appliances:
        assert 2 * app.rise_s < SPLIT[0] * app.total_s
        for windows in app.windows:
            if windows is not None:
                (a0, a1), (b0, b1) = windows
                assert 0 <= a0 < a1 <= b0 < b1 < 86400
                assert SPLIT[1] * app.total_s <= min(a1 - a0, b1 - b0)


@pytest.mark.parametrize("seed", range(3))
def test_registers_follow_appliance_switching_edges(seed: int) -> None:
    """Through each switching ramp (on and off) the registers grow at the instantaneous rate."""
    meter = MeterSimulator(seed, "household")
    midnight = _local_midnight(meter, 2)
    power = [meter.instantaneous(midnight + 60 * k).active_power_import for k in range(1441)]
    edges = [k for k in range(1440) if abs(power[k + 1] - power[k]) > 500.0]
    assert any(power[k + 1] > power[k] for k in edges) and any(power[k + 1] < power[k] for k in edges)
    d = 0.005
    for k in edges:
        lo, hi = midnight + 60 * k, midnight + 60 * (k + 1)
        while hi - lo > 0.25:  # close in on the ramp
            mid = (lo + hi) / 2
            if abs(meter.instantaneous(mid).active_power_import - power[k]) > 250.0:
                hi = mid
            else:
                lo = mid
        for step in range(-40, 41):
            t = lo + step * 0.25
            before, after = meter.cumulative(t - d), meter.cumulative(t + d)
            now = meter.instantaneous(t)
            rate = 3600.0 / (2 * d)
            assert (after.active_energy_import - before.active_energy_import) * rate == pytest.approx(
                now.active_power_import, rel=1e-3, abs=0.5
            )
            assert (after.reactive_energy_lag - before.reactive_energy_lag) * rate == pytest.approx(
                now.reactive_power, rel=1e-3, abs=0.5
            )


def test_household_appliance_runs_move_from_day_to_day() -> None:
    meter = MeterSimulator(3, "household")
    switch_ons = set()
    for day in range(14):
        midnight = _local_midnight(meter, day)
        power = [meter.instantaneous(midnight + 60 * k).active_power_import for k in range(1440)]
        switch_ons.add(tuple(k for k, (a, b) in enumerate(itertools.pairwise(power)) if b - a > 500.0))
    assert len(switch_ons) == 14

"""Anomaly decisions (dlmstw.simulator.anomalies): reproducible per (seed, object, instant), at the
configured rates, none at rate 0, and spoiled values that are exactly the A-XDR type's boundaries
(Blue Book 4.1.5 integer ranges) or a negated, signed-counterpart value."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmstw.codec.axdr import decode_data, encode_data
from dlmstw.config import parse_anomalies
from dlmstw.enums import DataType
from dlmstw.simulator.anomalies import (CLOCK_JUMP, DUPLICATE, FLAGGED, INTEGER_RANGES, MISSING, SIGNED_COUNTERPART,
                                        Anomalies, boundary_values, stable_hash)

PROFILE = bytes((1, 0, 99, 1, 0, 255))
REGISTER = bytes((1, 0, 1, 8, 0, 255))
START = 1_767_225_600  # 2026-01-01T00:00:00Z
ALL = "negative:0.05, boundary:0.03, gaps:0.04, clock-jump:0.02, duplicates:0.03, out-of-range:0.02"


def anomalies(text: str = ALL, seed: int = 42) -> Anomalies:
    found = Anomalies.of(seed, [(rate.kind, rate.rate) for rate in parse_anomalies(text)])
    assert found is not None
    return found


def test_no_rates_or_zero_rates_mean_no_anomalies() -> None:
    assert Anomalies.of(1, []) is None
    assert Anomalies.of(1, [(rate.kind, rate.rate) for rate in parse_anomalies("gaps:0, negative:0")]) is None


@pytest.mark.parametrize(("rates", "message"), [
    ([("spikes", 0.1)], "unknown anomaly kind 'spikes'"),
    ([("gaps", 1.5)], "not within 0..1"),
    ([("gaps", -0.1)], "not within 0..1"),
    ([("negative", 0.6), ("boundary", 0.6)], "value anomaly rates add up"),
    ([("gaps", 0.7), ("clock-jump", 0.4)], "row anomaly rates add up"),
])
def test_bad_rates_are_refused(rates: list[tuple[str, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Anomalies.of(1, rates)


def test_the_hash_is_splitmix64_of_seed_salt_name_and_second() -> None:
    """Stable across runs and processes (no PYTHONHASHSEED): fixed values, whole seconds only."""
    assert stable_hash(42, 0x52, PROFILE, START) == stable_hash(42, 0x52, PROFILE, START + 0.999)
    assert stable_hash(42, 0x52, PROFILE, START) != stable_hash(42, 0x52, PROFILE, START + 1)
    assert stable_hash(42, 0x52, PROFILE, START) != stable_hash(43, 0x52, PROFILE, START)
    assert stable_hash(42, 0x52, PROFILE, START) != stable_hash(42, 0x56, PROFILE, START)
    assert stable_hash(42, 0x52, PROFILE, START) == 0x4E705CDE0192A76F
    mask = (1 << 64) - 1

    def splitmix64_output(z: int) -> int:
        """The output function of splitmix64 (Steele, Lea, Flood 2014), written out again."""
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    for seed, salt, name, t in [(42, 0x52, PROFILE, START), (7, 0x56, REGISTER, 123), (2**64 - 1, 1, PROFILE, 2**40)]:
        key = splitmix64_output((seed * 0x9E3779B97F4A7C15 + salt) & mask)
        key = splitmix64_output(key ^ int.from_bytes(name, "big"))
        assert stable_hash(seed, salt, name, t) == splitmix64_output(key ^ t)


def test_decisions_are_reproducible_and_independent_of_the_order_asked() -> None:
    first = anomalies()
    again = anomalies()
    instants = [START + 300 * k for k in range(2000)]
    forward = [first.row(PROFILE, t) for t in instants]
    backward = [again.row(PROFILE, t) for t in reversed(instants)][::-1]
    assert forward == backward
    assert [first.value_kind(REGISTER, t) for t in instants] == [again.value_kind(REGISTER, t) for t in instants]
    other_seed = anomalies(seed=43)
    assert forward != [other_seed.row(PROFILE, t) for t in instants]


def test_each_kind_fires_at_its_rate() -> None:
    """Over 200 000 instants each kind's frequency is within 5 standard deviations of its rate;
    a gap is a missing or a flagged row about half and half."""
    spoiled = anomalies()
    n = 200_000
    rows: dict[str | None, int] = {}
    values: dict[str | None, int] = {}
    for k in range(n):
        t = START + 60 * k
        row = spoiled.row(PROFILE, t)
        rows[row] = rows.get(row, 0) + 1
        value = spoiled.value_kind(REGISTER, t)
        values[value] = values.get(value, 0) + 1
    expected_rows = {MISSING: 0.02, FLAGGED: 0.02, DUPLICATE: 0.03, CLOCK_JUMP: 0.02}
    expected_values = {"negative": 0.05, "boundary": 0.03, "out-of-range": 0.02}
    for kind, rate in [*expected_rows.items(), *expected_values.items()]:
        observed = rows.get(kind, values.get(kind, 0))
        sigma = math.sqrt(n * rate * (1 - rate))
        assert abs(observed - n * rate) < 5 * sigma, f"{kind}: {observed} of {n}, rate {rate}"


def test_a_kind_at_rate_zero_never_fires() -> None:
    only_gaps = anomalies("gaps:0.5")
    instants = [START + 60 * k for k in range(5000)]
    assert {only_gaps.row(PROFILE, t) for t in instants} == {None, MISSING, FLAGGED}
    assert {only_gaps.value_kind(REGISTER, t) for t in instants} == {None}
    only_values = anomalies("negative:0.5")
    assert {only_values.row(PROFILE, t) for t in instants} == {None}
    assert {only_values.value_kind(REGISTER, t) for t in instants} == {None, "negative"}


@pytest.mark.parametrize(("value_type", "expected"), [
    (DataType.INTEGER, (-128, 127, 0, -1)),
    (DataType.LONG, (-32768, 32767, 0, -1)),
    (DataType.DOUBLE_LONG, (-2147483648, 2147483647, 0, -1)),
    (DataType.LONG64, (-(1 << 63), (1 << 63) - 1, 0, -1)),
    (DataType.UNSIGNED, (0, 255)),
    (DataType.LONG_UNSIGNED, (0, 65535)),
    (DataType.DOUBLE_LONG_UNSIGNED, (0, 4294967295)),
    (DataType.LONG64_UNSIGNED, (0, 18446744073709551615)),
    (DataType.FLOAT32, (-3.4028234663852886e38, 3.4028234663852886e38, 0.0)),
])
def test_boundary_values_of_each_type(value_type: DataType, expected: tuple[float, ...]) -> None:
    """min, max, zero and all-ones (the max of an unsigned type, -1 of a signed one)."""
    assert boundary_values(value_type) == expected


def _spoiled(kind: str, value_type: DataType, value: int) -> tuple[DataType, int | float]:
    spoiler = anomalies(f"{kind}:1")
    result = spoiler.spoil_value(REGISTER, START, value_type, value)
    assert result is not None
    return result


def test_negative_values_of_unsigned_types_use_the_signed_counterpart() -> None:
    assert _spoiled("negative", DataType.DOUBLE_LONG_UNSIGNED, 123456) == (DataType.DOUBLE_LONG, -123456)
    assert _spoiled("negative", DataType.LONG_UNSIGNED, 0) == (DataType.LONG, -1)
    assert _spoiled("negative", DataType.LONG_UNSIGNED, 65535) == (DataType.LONG, -32768)
    assert _spoiled("negative", DataType.LONG, 950) == (DataType.LONG, -950)
    assert _spoiled("negative", DataType.LONG, -950) == (DataType.LONG, -950)
    assert SIGNED_COUNTERPART[DataType.UNSIGNED] == DataType.INTEGER


def test_out_of_range_values_are_a_hundred_times_larger_within_the_type() -> None:
    assert _spoiled("out-of-range", DataType.LONG_UNSIGNED, 23012) == (DataType.LONG_UNSIGNED, 65535)
    assert _spoiled("out-of-range", DataType.LONG_UNSIGNED, 500) == (DataType.LONG_UNSIGNED, 50000)
    assert _spoiled("out-of-range", DataType.DOUBLE_LONG, -1000) == (DataType.DOUBLE_LONG, -100000)
    assert _spoiled("out-of-range", DataType.DOUBLE_LONG_UNSIGNED, 0) == (DataType.DOUBLE_LONG_UNSIGNED,
                                                                          2147483647)


def test_boundary_values_cover_every_choice() -> None:
    spoiler = anomalies("boundary:1")
    seen = {spoiler.spoil_value(REGISTER, START + k, DataType.LONG, 5) for k in range(200)}
    assert seen == {(DataType.LONG, v) for v in (-32768, 32767, 0, -1)}


def test_clock_shifts_are_never_whole_minutes() -> None:
    spoiler = anomalies("clock-jump:1")
    shifts = [spoiler.clock_shift(PROFILE, START + 300 * k) for k in range(2000)]
    assert all(61 <= abs(shift) <= 29 * 60 + 59 and shift % 60 for shift in shifts)
    assert min(shifts) < 0 < max(shifts)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), t=st.integers(0, 2**40),
       value_type=st.sampled_from(sorted(INTEGER_RANGES, key=int)), data=st.data())
def test_spoiled_values_always_encode_in_their_type(seed: int, t: int, value_type: DataType,
                                                    data: st.DataObject) -> None:
    """Whatever the seed, instant, type and value, a spoiled value is a valid A-XDR Data."""
    low, high = INTEGER_RANGES[value_type]
    value = data.draw(st.integers(low, high))
    spoiler = Anomalies(seed, negative=0.3, boundary=0.3, out_of_range=0.3)
    spoiled = spoiler.spoil_value(REGISTER, t, value_type, value)
    if spoiled is None:
        assert spoiler.value_kind(REGISTER, t) is None
        return
    encoded = encode_data(spoiled)
    assert decode_data(encoded) == (spoiled, len(encoded))

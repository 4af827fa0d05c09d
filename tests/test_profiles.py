"""Profile generic (Blue Book 4.3.6) served in-process: periodic buffers on the capture grid,
entry_descriptor and range_descriptor selective access in every corner, capture_period changed by
SET, the reset and capture methods, rows spoiled by anomalies exactly as the simulator decides, and
a property test that rows are consistent for any seed, window and interval."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlmstw.codec.axdr import CosemDateTime, datetime_bytes_from_timestamp
from dlmstw.enums import ActionResult, DataAccessResult, DataType
from dlmstw.simulator.anomalies import CLOCK_JUMP, DUPLICATE, FLAGGED, MISSING
from interop_support import LocalMeter

NOW = 1_767_268_800.0 + 123.4  # 2026-01-01T12:02:03.4Z, 17:32:03.4 IST
BLOCK = "1.0.99.1.0.255"
DAILY = "1.0.99.2.0.255"
INSTANTANEOUS = "1.0.94.91.0.255"
POWER_EVENTS = "0.0.99.98.2.255"
CLOCK = (8, bytes((0, 0, 1, 0, 0, 255)), 2, 0)
IST = -330  # deviation, Blue Book 4.1.6.1: UTC minus local, minutes


def lab(model: str = "is15959-abt", interval: int = 15, days: int = 3, seed: int = 5, anomalies: str = "") -> str:
    return f"""
[meters:m]
model = {model}
load_profile_interval = {interval}
load_profile_days = {days}
seed = {seed}
anomalies = {anomalies}

[association:admin]
client_sap = 48
authentication = lls
lls_password = ADMIN001
access = full
"""


def rows(meter: LocalMeter, ln: str = BLOCK, selective: tuple[int, Any] | None = None) -> list[list[Any]]:
    value = meter.get(ln, 7, 2, selective)
    assert not isinstance(value, DataAccessResult), value
    assert value[0] == DataType.ARRAY
    return [[cell[1] for cell in row[1]] for row in value[1]]


def stamp(cell: bytes) -> float:
    return CosemDateTime.from_bytes(cell).to_datetime().timestamp()


def entry(from_entry: int, to_entry: int, from_value: int = 1, to_value: int = 0) -> tuple[int, Any]:
    return (2, (DataType.STRUCTURE, [(DataType.DOUBLE_LONG_UNSIGNED, from_entry),
                                     (DataType.DOUBLE_LONG_UNSIGNED, to_entry),
                                     (DataType.LONG_UNSIGNED, from_value), (DataType.LONG_UNSIGNED, to_value)]))


def date_time(t: float, deviation: int = IST) -> tuple[DataType, bytes]:
    return (DataType.OCTET_STRING, datetime_bytes_from_timestamp(t, deviation, 0))


def by_range(low: Any, high: Any, restricting: tuple[int, bytes, int, int] = CLOCK,
             columns: list[tuple[int, bytes, int, int]] | None = None) -> tuple[int, Any]:
    def definition(c: tuple[int, bytes, int, int]) -> Any:
        return (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, c[0]), (DataType.OCTET_STRING, c[1]),
                                     (DataType.INTEGER, c[2]), (DataType.LONG_UNSIGNED, c[3])])
    return (1, (DataType.STRUCTURE, [definition(restricting), low, high,
                                     (DataType.ARRAY, [definition(c) for c in columns or []])]))


def grid(meter: LocalMeter, period: int = 900, count: int = 3 * 96) -> list[float]:
    """The capture instants a periodic buffer holds at the meter's clock (local-time grid)."""
    now = meter.runtime.now()
    last = now - (now + meter.runtime.utc_offset) % period
    return [last - (count - 1 - k) * period for k in range(count)]


# =========================================================================== periodic buffers


def test_a_periodic_buffer_holds_the_last_profile_entries_boundaries() -> None:
    """Block load profile, 15 minutes, 3 days: 288 entries ending at the last boundary of IST,
    stamped in IST (deviation -330), entries_in_use = profile_entries."""
    meter = LocalMeter(lab(), now=NOW)
    buffer = rows(meter)
    assert [stamp(row[0]) for row in buffer] == grid(meter)
    assert buffer[-1][0] == bytes.fromhex("07EA010104111E0000FEB600")
    assert meter.get(BLOCK, 7, 7) == (DataType.DOUBLE_LONG_UNSIGNED, 288)
    assert meter.get(BLOCK, 7, 8) == (DataType.DOUBLE_LONG_UNSIGNED, 288)
    assert meter.get(BLOCK, 7, 4) == (DataType.DOUBLE_LONG_UNSIGNED, 900)
    assert meter.get(BLOCK, 7, 5) == (DataType.ENUM, 1)
    daily = rows(meter, DAILY)
    assert [stamp(row[0]) for row in daily] == grid(meter, 86400, 3)
    assert all(row[0][5:8] == b"\x00\x00\x00" for row in daily), "daily rows at local midnight"


@pytest.mark.parametrize(("selector", "expected"), [
    (entry(1, 3), (0, 3, 0, 13)),
    (entry(0, 0), (0, 288, 0, 13)),
    (entry(287, 400), (286, 288, 0, 13)),
    (entry(288, 0), (287, 288, 0, 13)),
    (entry(5, 4), (0, 0, 0, 13)),
    (entry(289, 300), (0, 0, 0, 13)),
    (entry(10, 12, 2, 4), (9, 12, 1, 4)),
    (entry(10, 12, 13, 0), (9, 12, 12, 13)),
    (entry(10, 12, 0, 1), (9, 12, 0, 1)),
])
def test_entry_descriptor_picks_entries_and_columns(selector: tuple[int, Any], expected: tuple[int, ...]) -> None:
    """from/to entry (1-based; 0 or beyond entries_in_use = up to the last; none in range = an
    empty array) and from/to selected value (columns, 1-based; 0 = the last)."""
    meter = LocalMeter(lab(), now=NOW)
    everything = rows(meter)
    first, stop, first_column, stop_column = expected
    assert rows(meter, BLOCK, selector) == [row[first_column:stop_column] for row in everything[first:stop]]


@pytest.mark.parametrize(("parameters", "result"), [
    (entry(1, 2, 1, 14)[1], DataAccessResult.SCOPE_OF_ACCESS_VIOLATED),
    (entry(1, 2, 5, 4)[1], DataAccessResult.SCOPE_OF_ACCESS_VIOLATED),
    ((DataType.STRUCTURE, entry(1, 2)[1][1][:3]), DataAccessResult.TYPE_UNMATCHED),
    ((DataType.ARRAY, entry(1, 2)[1][1]), DataAccessResult.TYPE_UNMATCHED),
    ((DataType.STRUCTURE, [(DataType.OCTET_STRING, b"\x01")] + entry(1, 2)[1][1][1:]), DataAccessResult.TYPE_UNMATCHED),
])
def test_bad_entry_descriptors_are_refused(parameters: Any, result: DataAccessResult) -> None:
    assert LocalMeter(lab(), now=NOW).get(BLOCK, 7, 2, (2, parameters)) == result


def test_range_descriptor_on_the_clock_selects_by_capture_instant() -> None:
    """Inclusive bounds on the grid; bounds between grid instants; from after to = no rows; the
    columns asked for, in the order asked."""
    meter = LocalMeter(lab(), now=NOW)
    everything = rows(meter)
    instants = grid(meter)
    assert rows(meter, BLOCK, by_range(date_time(instants[10]), date_time(instants[20]))) == everything[10:21]
    assert rows(meter, BLOCK, by_range(date_time(instants[10] + 1), date_time(instants[20] - 1))) == everything[11:20]
    assert rows(meter, BLOCK, by_range(date_time(instants[20]), date_time(instants[10]))) == []
    assert rows(meter, BLOCK, by_range(date_time(instants[0] - 86400), date_time(instants[1]))) == everything[:2]
    columns = [(3, bytes((1, 0, 1, 29, 0, 255)), 2, 0), CLOCK]
    chosen = rows(meter, BLOCK, by_range(date_time(instants[5]), date_time(instants[6]), columns=columns))
    assert chosen == [[row[8], row[0]] for row in everything[5:7]]


def test_range_bounds_with_unspecified_parts() -> None:
    """Blue Book 4.1.6.1: a bound whose date is not specified leaves that side open; unspecified
    time parts count as 0; deviation 0x8000 means the meter's own (IST here)."""
    meter = LocalMeter(lab(), now=NOW)
    everything = rows(meter)
    instants = grid(meter)
    open_end = (DataType.OCTET_STRING, bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF"))
    assert rows(meter, BLOCK, by_range(date_time(instants[-3]), open_end)) == everything[-3:]
    assert rows(meter, BLOCK, by_range(open_end, date_time(instants[2]))) == everything[:3]
    # 2026-01-01 with hour, minute, second and hundredths unspecified, deviation unspecified: IST midnight.
    midnight = (DataType.OCTET_STRING, bytes.fromhex("07EA0101FFFFFFFFFF8000FF"))
    start = instants.index(1_767_205_800.0)  # 2026-01-01T00:00 IST
    assert rows(meter, BLOCK, by_range(midnight, date_time(instants[start + 1]))) == everything[start:start + 2]
    as_date_time = (DataType.DATE_TIME, datetime_bytes_from_timestamp(instants[start], IST, 0))
    assert rows(meter, BLOCK, by_range(as_date_time, as_date_time)) == everything[start:start + 1]


def test_range_descriptor_on_a_value_column_filters_rows() -> None:
    """The restricting object may be any captured column (here block active energy): the rows
    whose value lies within [from, to]."""
    meter = LocalMeter(lab(), now=NOW)
    everything = rows(meter)
    energies = sorted(row[8] for row in everything)
    low, high = energies[100], energies[150]
    energy = (3, bytes((1, 0, 1, 29, 0, 255)), 2, 0)
    chosen = rows(meter, BLOCK, by_range((DataType.DOUBLE_LONG_UNSIGNED, low), (DataType.DOUBLE_LONG_UNSIGNED, high),
                                         restricting=energy))
    assert chosen == [row for row in everything if low <= row[8] <= high]
    assert len(chosen) >= 51


@pytest.mark.parametrize(("selector", "result"), [
    (by_range(date_time(NOW - 3600), date_time(NOW), restricting=(3, bytes((1, 0, 99, 99, 0, 255)), 2, 0)),
     DataAccessResult.SCOPE_OF_ACCESS_VIOLATED),
    (by_range(date_time(NOW - 3600), date_time(NOW), columns=[(3, bytes((1, 0, 99, 99, 0, 255)), 2, 0)]),
     DataAccessResult.SCOPE_OF_ACCESS_VIOLATED),
    (by_range((DataType.DOUBLE_LONG_UNSIGNED, 1), date_time(NOW)), DataAccessResult.TYPE_UNMATCHED),
    (by_range((DataType.OCTET_STRING, b"\x07\xea"), date_time(NOW)), DataAccessResult.TYPE_UNMATCHED),
    (by_range((DataType.OCTET_STRING, bytes.fromhex("07EA0D01FF000000FF8000FF")), date_time(NOW)),
     DataAccessResult.TYPE_UNMATCHED),
    ((1, (DataType.STRUCTURE, [])), DataAccessResult.TYPE_UNMATCHED),
    ((3, (DataType.STRUCTURE, [])), DataAccessResult.SCOPE_OF_ACCESS_VIOLATED),
])
def test_bad_range_descriptors_are_refused(selector: tuple[int, Any], result: DataAccessResult) -> None:
    """An object not captured, a bound that is not a date-time on a clock column, month 13, a
    structure of the wrong size and an unknown selector."""
    assert LocalMeter(lab(), now=NOW).get(BLOCK, 7, 2, selector) == result


# =========================================================================== SET capture_period


def test_capture_period_set_regrids_the_rows_and_logs_a_transaction() -> None:
    """SET of attribute 4 (double-long-unsigned dividing the day): the buffer follows the new
    period at once, entries = days / period, block values are over the new period; IS 15959
    transaction event 153 is logged."""
    meter = LocalMeter(lab(), now=NOW)
    assert meter.set(BLOCK, 7, 4, (DataType.DOUBLE_LONG_UNSIGNED, 300)) == DataAccessResult.SUCCESS
    assert meter.get(BLOCK, 7, 4) == (DataType.DOUBLE_LONG_UNSIGNED, 300)
    assert meter.get(BLOCK, 7, 7) == (DataType.DOUBLE_LONG_UNSIGNED, 3 * 288)
    buffer = rows(meter)
    assert [stamp(row[0]) for row in buffer] == grid(meter, 300, 3 * 288)
    t = stamp(buffer[-1][0])
    interval = meter.runtime.simulator.interval(t, 300)
    assert buffer[-1][8] == math.floor(interval.active_energy_import * 10 + 0.5)
    events = rows(meter, "0.0.99.98.3.255")
    assert [row[1] for row in events] == [153]
    assert abs(stamp(events[0][0]) - NOW) < 0.01


@pytest.mark.parametrize(("ln", "value", "result"), [
    (BLOCK, (DataType.LONG_UNSIGNED, 300), DataAccessResult.TYPE_UNMATCHED),
    (BLOCK, (DataType.DOUBLE_LONG_UNSIGNED, 7), DataAccessResult.OTHER_REASON),
    (BLOCK, (DataType.DOUBLE_LONG_UNSIGNED, 86400 * 2), DataAccessResult.OTHER_REASON),
    (BLOCK, (DataType.DOUBLE_LONG_UNSIGNED, 0), DataAccessResult.OTHER_REASON),
    (POWER_EVENTS, (DataType.DOUBLE_LONG_UNSIGNED, 900), DataAccessResult.READ_WRITE_DENIED),
    (INSTANTANEOUS, (DataType.DOUBLE_LONG_UNSIGNED, 900), DataAccessResult.READ_WRITE_DENIED),
])
def test_bad_capture_periods_are_refused(ln: str, value: Any, result: DataAccessResult) -> None:
    meter = LocalMeter(lab(), now=NOW)
    assert meter.set(ln, 7, 4, value) == result
    assert meter.get(BLOCK, 7, 4) == (DataType.DOUBLE_LONG_UNSIGNED, 900)
    assert list(meter.runtime.events) == []


# =========================================================================== reset and capture


def test_reset_empties_the_buffer_from_that_instant() -> None:
    """Method 1 (integer 0): entries up to the reset disappear; later boundaries fill it again."""
    meter = LocalMeter(lab(), now=NOW)
    assert meter.action(BLOCK, 7, 1, (DataType.INTEGER, 0)) == (ActionResult.SUCCESS, None)
    assert rows(meter) == []
    assert meter.get(BLOCK, 7, 7) == (DataType.DOUBLE_LONG_UNSIGNED, 0)
    meter.now = NOW + 2 * 900
    assert [stamp(row[0]) for row in rows(meter)] == grid(meter, 900, 2)
    assert meter.get(BLOCK, 7, 8) == (DataType.DOUBLE_LONG_UNSIGNED, 288)
    assert meter.action(INSTANTANEOUS, 7, 1, (DataType.INTEGER, 0))[0] == ActionResult.SUCCESS
    assert rows(meter, INSTANTANEOUS) == []
    assert meter.action(BLOCK, 7, 1, (DataType.LONG, 0)) == (ActionResult.TYPE_UNMATCHED, None)


def test_reset_of_an_event_log_drops_earlier_events() -> None:
    """The power failure log after a reset holds only the outages that end or begin later, the
    same as a meter without reset shows for that time."""
    meter = LocalMeter(lab(days=35), now=NOW)
    assert len(rows(meter, POWER_EVENTS)) >= 4
    assert meter.action(POWER_EVENTS, 7, 1, (DataType.INTEGER, 0))[0] == ActionResult.SUCCESS
    assert rows(meter, POWER_EVENTS) == []
    meter.now = NOW + 30 * 86400
    fresh = LocalMeter(lab(days=35), now=NOW + 30 * 86400)
    expected = [row for row in rows(fresh, POWER_EVENTS) if stamp(row[0]) > NOW]
    assert expected and {row[1] for row in expected} <= {101, 102}
    assert rows(meter, POWER_EVENTS) == expected


def test_capture_freezes_a_row_of_a_read_time_profile() -> None:
    """Method 2 on a capture_period 0 profile: from then on the buffer holds the captured rows
    (values of the capture instant), as many as profile_entries (1), not the read-time row."""
    meter = LocalMeter(lab(), now=NOW)
    live = rows(meter, INSTANTANEOUS)
    assert stamp(live[0][0]) == pytest.approx(NOW, abs=0.01)
    assert meter.action(INSTANTANEOUS, 7, 2, (DataType.INTEGER, 0)) == (ActionResult.SUCCESS, None)
    meter.now = NOW + 600
    frozen = rows(meter, INSTANTANEOUS)
    assert frozen == live
    meter.now = NOW + 700
    meter.action(INSTANTANEOUS, 7, 2, (DataType.INTEGER, 0))
    meter.now = NOW + 900
    later = rows(meter, INSTANTANEOUS)
    assert len(later) == 1 and stamp(later[0][0]) == pytest.approx(NOW + 700, abs=0.01)


def test_capture_adds_a_row_to_a_periodic_profile() -> None:
    meter = LocalMeter(lab(), now=NOW)
    meter.action(BLOCK, 7, 2, None)
    buffer = rows(meter)
    assert len(buffer) == 288
    assert stamp(buffer[-1][0]) == pytest.approx(NOW, abs=0.01)
    assert [stamp(row[0]) for row in buffer[:-1]] == grid(meter)[1:]


# =========================================================================== anomalies


def test_spoiled_rows_are_exactly_the_simulators_decisions() -> None:
    """dlms-generic load profile 1 with row anomalies: a MISSING slot has no row, a DUPLICATE two
    equal rows, a FLAGGED one null values and AMR status bit 2 (data not valid), a CLOCK_JUMP one a
    stamp moved by the decided shift and status bit 5 (clock adjusted)."""
    meter = LocalMeter(lab("dlms-generic", interval=5, days=2, seed=11,
                           anomalies="gaps:0.05, duplicates:0.03, clock-jump:0.03"), now=NOW)
    anomalies = meter.runtime.anomalies
    assert anomalies is not None
    profile = PROFILE
    expected: list[tuple[float, str | None]] = []
    now = meter.runtime.now()
    last = now - now % 300
    for k in range(2 * 288):
        t = last - (2 * 288 - 1 - k) * 300
        kind = anomalies.row(profile, t)
        if kind == MISSING:
            continue
        expected += [(t, kind)] * (2 if kind == DUPLICATE else 1)
    buffer = rows(meter)
    assert len(buffer) == len(expected)
    kinds = set()
    for row, (t, kind) in zip(buffer, expected):
        kinds.add(kind)
        if kind == CLOCK_JUMP:
            assert stamp(row[0]) == t + anomalies.clock_shift(profile, t)
            assert row[1] & 0x20
        else:
            assert stamp(row[0]) == t
        if kind == FLAGGED:
            assert row[1] & 0x04 and row[2:] == [None] * 4
        else:
            assert not row[1] & 0x04 and None not in row
    assert kinds == {None, FLAGGED, DUPLICATE, CLOCK_JUMP}
    assert meter.get(BLOCK, 7, 7) == (DataType.DOUBLE_LONG_UNSIGNED, len(expected))


PROFILE = bytes((1, 0, 99, 1, 0, 255))
ENERGY_COLUMNS = (2, 3, 4, 5)
ENERGY_REGISTERS = [bytes((1, 0, c, 8, 0, 255)) for c in (1, 2, 5, 8)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), interval=st.sampled_from([1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120]),
       days=st.integers(1, 3), now=st.floats(1.6e9, 1.9e9), start=st.floats(0, 0.9), count=st.integers(1, 400),
       spoiled=st.booleans())
def test_profile_rows_are_consistent_for_any_seed_window_and_interval(
        seed: int, interval: int, days: int, now: float, start: float, count: int, spoiled: bool) -> None:
    """Timestamps lie on the capture grid (any period dividing the day, set by SET of
    capture_period) and energies never decrease from row to row, except where the simulator's
    anomaly decisions say otherwise (a clock jump, a spoiled value, a flagged gap)."""
    anomalies = "negative:0.05, boundary:0.03, out-of-range:0.02, gaps:0.05, duplicates:0.03, clock-jump:0.03"
    meter = LocalMeter(lab("dlms-generic", 15, days, seed, anomalies if spoiled else ""), now=now)
    period = interval * 60
    assert meter.set(BLOCK, 7, 4, (DataType.DOUBLE_LONG_UNSIGNED, period)) == DataAccessResult.SUCCESS
    first = 1 + int(start * days * 86400 // period)
    buffer = rows(meter, BLOCK, entry(first, first + count - 1))
    assert buffer, "the window holds entries"
    decisions = meter.runtime.anomalies
    assert (decisions is not None) == spoiled
    previous: list[int | None] = [None] * len(ENERGY_COLUMNS)
    for row in buffer:
        t = stamp(row[0])
        if t % period:
            assert decisions is not None and t % 60, f"{t} is off the grid without a clock jump"
            assert row[1] & 0x20, "a moved time stamp has the clock-adjusted status bit"
            continue
        if row[1] & 0x04:
            assert decisions is not None and decisions.row(PROFILE, t) == FLAGGED
            assert row[2:] == [None] * 4
            continue
        for index, (column, register) in enumerate(zip(ENERGY_COLUMNS, ENERGY_REGISTERS)):
            if decisions is not None and decisions.value_kind(register, t) is not None:
                continue
            value = row[column]
            assert value >= 0
            if previous[index] is not None:
                assert value >= previous[index], f"column {column} decreases at {t}"
            previous[index] = value

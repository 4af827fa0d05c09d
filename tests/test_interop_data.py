"""Metering data against the unmodified gurux-dlms client over real TCP (IEC 62056-47 wrapper).

One ``twistd -n dlmssim`` (module fixture ``data_lab``) runs one meter of each model
(is15959-abt, is15959-household, dlms-generic), each with a 35-day profile of 5-minute rows, and a
dlms-generic meter with anomalies. Expected values come from the meter's own code run in-process
for the same configuration and instant (``interop_support.LocalMeter``): the simulator's
expectation for the same seed. Failure messages carry the hex of the last frames exchanged.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms import GXDLMSException, GXReplyData
from gurux_dlms.objects import (
    GXDLMSDemandRegister,
    GXDLMSDisconnectControl,
    GXDLMSExtendedRegister,
    GXDLMSLimiter,
    GXDLMSObject,
    GXDLMSProfileGeneric,
    GXDLMSPushSetup,
    GXDLMSRegister,
)

from dlmstw.codec.axdr import CosemDateTime, datetime_bytes_from_timestamp
from dlmstw.enums import DataType, Unit
from dlmstw.simulator.anomalies import INTEGER_RANGES
from interop_support import LocalMeter, Lab, MeterSession, start_lab_from, stop_lab, to_utc

ADMIN_CLIENT = 48
ADMIN_PASSWORD = "ADMIN001"
READER_CLIENT = 32
READER_PASSWORD = "ABCD0001"
MODELS = ("is15959-abt", "is15959-household", "dlms-generic")
ANOMALOUS = 3
ANOMALIES = "negative:0.02, boundary:0.02, gaps:0.04, duplicates:0.01, clock-jump:0.01, out-of-range:0.01"
ANOMALOUS_DAYS = 10
INTERVAL = datetime.timedelta(minutes=5)
LOAD_PROFILE = "1.0.99.1.0.255"
DISCONNECT_CONTROL = "0.0.96.3.10.255"
#: Profiles whose whole buffer the read-everything test skips (35 days of 5-minute rows are read
#: whole by the core suite); their last rows are read by entry instead.
LONG_PROFILES = {"1.0.99.1.0.255"}


def lab_ini(base_port: int, directory: Path) -> str:
    """One meter per model on base_port.., then the anomalous dlms-generic meter."""
    groups = "".join(
        f"""
[meters:m{index}]
count = 1
port = {base_port + index}
model = {model}
serial = {2000001 + 100 * index}
system_title = 4D4D4D00000{index}0000
load_profile_interval = 5
load_profile_days = 35
seed = {7 + index}
"""
        for index, model in enumerate(MODELS)
    )
    return f"""\
[simulator]
console = tcp:0:interface=127.0.0.1
state_dir = {directory / "var" / "state"}
packet_log = -
{groups}
[meters:anomalous]
count = 1
port = {base_port + ANOMALOUS}
model = dlms-generic
serial = 2000901
system_title = 4D4D4D0000090000
load_profile_interval = 15
load_profile_days = {ANOMALOUS_DAYS}
seed = 99
anomalies = {ANOMALIES}

[association:public]
client_sap = 16
access = read

[association:reader]
client_sap = {READER_CLIENT}
authentication = lls
lls_password = {READER_PASSWORD}
access = read-write

[association:admin]
client_sap = {ADMIN_CLIENT}
authentication = lls
lls_password = {ADMIN_PASSWORD}
access = full
"""


@pytest.fixture(scope="module")
def data_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        running = start_lab_from(tmp_path_factory.mktemp("data-lab"), lab_ini, ANOMALOUS + 1)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield running
    finally:
        stop_lab(running)


def local(lab: Lab, meter: int, now: float) -> LocalMeter:
    """The in-process expectation of lab meter ``meter`` (group order) at ``now``."""
    return LocalMeter(lab.ini_path.read_text(), meter, now)


def admin(lab: Lab, meter: int) -> MeterSession:
    return MeterSession(lab.ports[meter], ADMIN_CLIENT, ADMIN_PASSWORD)


def find(objects: Any, ln: str) -> Any:
    for obj in objects:
        if obj.logicalName == ln:
            return obj
    pytest.fail(f"{ln} missing from the object list")


def readable(mode: int) -> bool:
    """access_mode read-only, read-and-write or their authenticated forms (Blue Book 4.4.4)."""
    return mode in (1, 3, 4, 6)


def plausibility_problem(ln: str, value: Any, unit: int) -> str | None:
    """Why a scaled register value is implausible for its OBIS code (value groups C and D, Blue
    Book 7.5), or None."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return f"{ln}: value {value!r} is not a finite number"
    a, _, c, d = (int(part) for part in ln.split(".")[:4])
    if a != 1:
        return None
    if c in (32, 52, 72) and d in (7, 27) and not (50 <= value <= 80 or 200 <= value <= 260):
        return f"{ln}: voltage {value} V"
    if c in (31, 51, 71) and d in (7, 27) and not 0 <= value <= 100:
        return f"{ln}: current {value} A"
    if c == 14 and d in (7, 27) and not 49.5 <= value <= 50.5:
        return f"{ln}: frequency {value} Hz"
    if c in (13, 33, 53, 73) and abs(value) > 1:
        return f"{ln}: power factor {value}"
    if d in (8, 29, 6, 4) and value < 0:
        return f"{ln}: energy or demand {value} < 0"
    if d in (8, 29) and unit not in (Unit.WATT_HOUR, Unit.VAR_HOUR, Unit.VOLT_AMPERE_HOUR):
        return f"{ln}: energy unit {unit}"
    return None


# =========================================================================== every object reads


@pytest.mark.parametrize("meter", range(len(MODELS)), ids=MODELS)
def test_every_object_reads_with_plausible_scaled_values(data_lab: Lab, meter: int) -> None:
    """Every readable attribute of every object in the object list reads without error and gurux
    parses it into its object; registers, extended and demand registers read with their scaler give
    plausible values; long profiles read their last rows by entry (Blue Book 4.3.6)."""
    problems: list[str] = []
    attributes = 0
    with admin(data_lab, meter) as session:
        raw, objects = session.read_object_list()
        for entry, obj in zip(raw, objects):
            access = [(int(item[0]), int(item[1])) for item in entry[3][0]]
            if isinstance(obj, (GXDLMSRegister, GXDLMSExtendedRegister, GXDLMSDemandRegister)):
                session.read(obj, 4 if isinstance(obj, GXDLMSDemandRegister) else 3)
            if isinstance(obj, GXDLMSProfileGeneric):
                session.read(obj, 3)
            for index, mode in access:
                if not readable(mode) or index == 1:
                    continue
                if index == 2 and isinstance(obj, GXDLMSProfileGeneric) and obj.logicalName in LONG_PROFILES:
                    entries = session.read(obj, 7)
                    rows = session.read_rows_by_entry(obj, max(1, entries - 5), 6)
                    if len(rows) != min(6, entries):
                        problems.append(f"{obj.logicalName}: {len(rows)} rows by entry of {entries}")
                    continue
                try:
                    value = session.read(obj, index)
                except (GXDLMSException, ValueError, TypeError) as error:
                    problems.append(f"{obj.logicalName} attr {index}: {error!r}\n{session.trace_text()}")
                    continue
                attributes += 1
                if isinstance(obj, (GXDLMSRegister, GXDLMSExtendedRegister)) and index == 2:
                    problem = plausibility_problem(obj.logicalName, value, int(obj.unit))
                    if problem:
                        problems.append(problem)
    assert problems == [], "\n".join(problems[:10])
    assert attributes > 150, f"only {attributes} attributes read"


# =========================================================================== selective access


def raw_rows(session: MeterSession, request: Any) -> list[list[Any]]:
    """A buffer read as gurux decodes its Data, without its object's conversions."""
    return [list(row) for row in session.exchange(request, GXReplyData()).value]


def local_rows(expected: LocalMeter, ln: str, selective: tuple[int, Any]) -> list[list[Any]]:
    """The same read from the in-process meter: each cell's payload (octet-strings as bytes)."""
    value = expected.get(ln, 7, 2, selective)
    assert not isinstance(value, int), f"local meter answered {value!r}"
    return [[cell[1] for cell in row[1]] for row in value[1]]


def comparable(row: list[Any]) -> list[Any]:
    return [bytes(cell) if isinstance(cell, (bytes, bytearray)) else cell for cell in row]


def meter_now(session: MeterSession, clock: Any) -> float:
    """The meter's clock (POSIX seconds) from Clock attribute 2."""
    encoded = bytes(session.read_raw(clock, 2))
    return CosemDateTime.from_bytes(encoded).to_datetime().timestamp()


def clear_of_boundary(period: int, margin: float = 8.0) -> None:
    """Wait until the wall clock is ``margin`` seconds past a capture boundary, so that a few reads
    see the same last entry."""
    into = time.time() % period
    if into < 2 or into > period - margin:
        time.sleep((period - into) % period + 2)


def range_parameters(restricting: tuple[int, bytes, int, int], start: float, end: float,
                     deviation: int) -> Any:
    """range_descriptor (Blue Book 4.3.6) over [start, end] on a clock column, every column."""
    class_id, ln, attribute, data_index = restricting
    return (DataType.STRUCTURE, [
        (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, class_id), (DataType.OCTET_STRING, ln),
                              (DataType.INTEGER, attribute), (DataType.LONG_UNSIGNED, data_index)]),
        (DataType.OCTET_STRING, datetime_bytes_from_timestamp(start, deviation, 0)),
        (DataType.OCTET_STRING, datetime_bytes_from_timestamp(end, deviation, 0)),
        (DataType.ARRAY, []),
    ])


def entry_parameters(first: int, last: int, first_column: int = 1, last_column: int = 0) -> Any:
    """entry_descriptor (Blue Book 4.3.6): entries and columns, 1-based, 0 = the last."""
    return (DataType.STRUCTURE, [(DataType.DOUBLE_LONG_UNSIGNED, first), (DataType.DOUBLE_LONG_UNSIGNED, last),
                                 (DataType.LONG_UNSIGNED, first_column), (DataType.LONG_UNSIGNED, last_column)])


@pytest.mark.parametrize("day", [0, 17, 34], ids=["first-day", "middle-day", "last-day"])
def test_selective_access_returns_exactly_the_rows_asked_for(data_lab: Lab, day: int) -> None:
    """A 35-day, 5-minute block load profile (is15959-abt): range_descriptor over one whole day and
    entry_descriptor over the same 288 entries give exactly those rows, equal cell for cell to the
    simulator's own rows for that seed and instant; entry_descriptor with columns 1..3 gives those
    columns of the same rows. (gurux sends to_selected_value as a column count, which the Blue Book
    defines as the last column's index: the two agree from column 1 only.)"""
    clear_of_boundary(300)
    with admin(data_lab, 0) as session:
        objects = session.read_objects()
        profile = find(objects, LOAD_PROFILE)
        session.read(profile, 3)
        entries = session.read(profile, 7)
        now = meter_now(session, find(objects, "0.0.1.0.0.255"))
        expected = local(data_lab, 0, now)
        last = now - (now + expected.runtime.utc_offset) % 300
        first = last - (entries - 1) * 300
        start = first + day * 86400
        end = start + 86400 - 300
        zone = datetime.timezone(datetime.timedelta(seconds=expected.runtime.utc_offset))
        by_range = raw_rows(session, session.client.readRowsByRange(
            profile, datetime.datetime.fromtimestamp(start, zone), datetime.datetime.fromtimestamp(end, zone)))
        by_entry = raw_rows(session, session.client.readRowsByEntry(profile, 1 + day * 288, 288))
        columns = [(obj, attribute) for obj, attribute in profile.captureObjects[0:3]]
        narrow = raw_rows(session, session.client.readRowsByEntry(profile, 1 + day * 288, 288, columns))
        trace = session.trace_text()
    assert entries == 35 * 288, f"entries_in_use {entries}"
    clock = (8, bytes((0, 0, 1, 0, 0, 255)), 2, 0)
    wanted = local_rows(expected, LOAD_PROFILE, (1, range_parameters(clock, start, end, expected.runtime.deviation)))
    assert len(wanted) == 288
    stamps = [row[0] for row in wanted]
    assert [comparable(row) for row in by_range] == wanted, f"by range differs\n{trace}"
    assert [comparable(row) for row in by_entry] == wanted, f"by entry differs\n{trace}"
    assert [comparable(row) for row in narrow] == [row[:3] for row in wanted], f"columns 1..3 differ\n{trace}"
    times = [CosemDateTime.from_bytes(stamp).to_datetime().timestamp() for stamp in stamps]
    assert times == [start + k * 300 for k in range(288)]


# =========================================================================== SET and ACTION


def write(session: MeterSession, obj: GXDLMSObject, attribute: int) -> None:
    """SET one attribute from the gurux object's value (Green Book 9.4.6.3); a refusal raises."""
    session.exchange(session.client.write(obj, attribute), GXReplyData())


def test_set_then_get_returns_the_new_value(data_lab: Lab) -> None:
    """On the household meter, a read-write association sets the block load profile's capture
    period (its rows then follow 15 minutes), the limiter's normal threshold, the disconnect
    control mode, the push destination and the demand period; each GET returns the new value, and
    the transaction event log gets capture-period (153), limit (158) and demand-period (152) events."""
    with MeterSession(data_lab.ports[1], READER_CLIENT, READER_PASSWORD) as session:
        objects = session.read_objects()
        profile = find(objects, LOAD_PROFILE)
        session.read(profile, 3)
        profile.capturePeriod = 900
        write(session, profile, 4)
        assert session.read(profile, 4) == 900, session.trace_text()
        entries = session.read(profile, 7)
        assert entries == 35 * 96, f"entries_in_use {entries} after the change"
        rows = session.read_rows_by_entry(profile, entries - 2, 3)
        assert [row[0].value.minute % 15 for row in rows] == [0, 0, 0], session.trace_text()
        steps = {(b[0].value - a[0].value).total_seconds() for a, b in zip(rows, rows[1:])}
        assert steps == {900.0}, steps

        limiter = find(objects, "0.0.17.0.0.255")
        assert isinstance(limiter, GXDLMSLimiter)
        assert session.read(limiter, 4) == 5000, session.trace_text()
        limiter.thresholdNormal = 4200
        write(session, limiter, 4)
        assert session.read(limiter, 4) == 4200, session.trace_text()
        assert session.read(limiter, 3) == 4200, "threshold_active follows the normal threshold"

        control = find(objects, DISCONNECT_CONTROL)
        assert isinstance(control, GXDLMSDisconnectControl)
        session.read(control, 4)
        control.controlMode = 2
        write(session, control, 4)
        assert int(session.read(control, 4)) == 2, session.trace_text()

        push = find(objects, "0.0.25.9.0.255")
        assert isinstance(push, GXDLMSPushSetup)
        session.read(push, 3)
        push.destination = "127.0.0.2:4059"
        write(session, push, 3)
        push.destination = None
        session.read(push, 3)
        assert push.destination == "127.0.0.2:4059", session.trace_text()

        demand = find(objects, "1.0.1.4.0.255")
        assert isinstance(demand, GXDLMSDemandRegister)
        session.read(demand, 8)
        demand.period = 1800
        write(session, demand, 8)
        assert session.read(demand, 8) == 1800, session.trace_text()

        transactions = find(objects, "0.0.99.98.3.255")
        session.read(transactions, 3)
        codes = [row[1] for row in session.read(transactions, 2)]
    assert codes[-3:] == [153, 158, 152], f"transaction events {codes}"


def test_disconnect_action_changes_output_state_and_logs_an_event(data_lab: Lab) -> None:
    """dlms-generic: remote_disconnect (Blue Book 4.5.8 method 1) makes output_state FALSE and
    control_state disconnected (0) and appends event 62 to the disconnector control log at the
    meter's time; remote_reconnect (method 2, control mode 1) makes it TRUE, connected, event 63."""
    with admin(data_lab, 2) as session:
        objects = session.read_objects()
        control = find(objects, DISCONNECT_CONTROL)
        log = find(objects, "0.0.99.98.2.255")
        session.read(log, 3)
        assert session.read(control, 2) is True, session.trace_text()
        session.exchange(control.remoteDisconnect(session.client), GXReplyData())
        after = datetime.datetime.now(datetime.timezone.utc)
        assert session.read(control, 2) is False, session.trace_text()
        assert int(session.read(control, 3)) == 0, session.trace_text()
        rows = session.read(log, 2)
        assert rows and rows[-1][1] == 62, f"disconnector log {rows}\n{session.trace_text()}"
        assert abs(to_utc(rows[-1][0]) - after) < datetime.timedelta(seconds=5), rows[-1]
        session.exchange(control.remoteReconnect(session.client), GXReplyData())
        assert session.read(control, 2) is True, session.trace_text()
        assert int(session.read(control, 3)) == 1, session.trace_text()
        codes = [row[1] for row in session.read(log, 2)]
    assert codes[-2:] == [62, 63], codes


# =========================================================================== anomalies


ENERGY_IMPORT_COLUMN = 2  # load profile 1: clock, AMR profile status, 1.0.1.8.0.255, ...
STATUS_COLUMN = 1
DATA_NOT_VALID = 0x04
UNSIGNED_32_MAX = INTEGER_RANGES[DataType.DOUBLE_LONG_UNSIGNED][1]


def load_profile(session: MeterSession) -> tuple[list[list[Any]], float]:
    """Load profile 1's whole buffer (gurux's decoding) and the meter's clock just before."""
    objects = session.read_objects()
    now = meter_now(session, find(objects, "0.0.1.0.0.255"))
    return raw_rows(session, session.client.read(find(objects, LOAD_PROFILE), 2)), now


def stamp(cell: Any) -> float:
    """A date-time cell as POSIX seconds."""
    return CosemDateTime.from_bytes(bytes(cell)).to_datetime().timestamp()


def test_anomalies_show_at_their_rates_and_match_the_simulator(data_lab: Lab) -> None:
    """The anomalous dlms-generic meter (lab.ini ``anomalies``): its load profile equals, row for
    row, what the simulator computes for the same seed and instant; energies show negative values,
    type boundary values (0 and 2**32-1 of double-long-unsigned) and gaps (missing rows, and rows
    whose AMR status says data not valid) at about the configured rates."""
    clear_of_boundary(900)
    with admin(data_lab, ANOMALOUS) as session:
        rows, now = load_profile(session)
    expected = local(data_lab, ANOMALOUS, now)
    wanted = local_rows(expected, LOAD_PROFILE, (2, entry_parameters(1, 0)))
    assert [comparable(row) for row in rows] == wanted
    slots = ANOMALOUS_DAYS * 96
    energies = [row[ENERGY_IMPORT_COLUMN] for row in rows]
    negative = sum(1 for value in energies if value is not None and value < 0)
    boundary = sum(1 for value in energies if value in (0, UNSIGNED_32_MAX))
    flagged = sum(1 for row in rows if row[STATUS_COLUMN] & DATA_NOT_VALID)
    on_grid = {stamp(row[0]) for row in rows if stamp(row[0]) % 900 == 0}
    missing = slots - len(on_grid) - sum(1 for row in rows if stamp(row[0]) % 900)
    within = {
        "negative": (negative / len(rows), 0.02),
        "boundary": (boundary / len(rows), 0.02),
        "gaps": ((missing + flagged) / slots, 0.04),
    }
    # About a thousand rows whose window slides with the clock: the boundary share
    # alone ranges 0.015..0.036 over a month of windows at rate 0.02. The rates
    # themselves are checked over many draws in test_anomalies.
    for kind, (observed, rate) in within.items():
        assert 0.25 * rate <= observed <= 2.5 * rate, f"{kind}: {observed:.4f} observed, rate {rate}"
    assert missing > 0 and flagged > 0, (missing, flagged)


def test_without_anomalies_there_are_none(data_lab: Lab) -> None:
    """The same model without ``anomalies``: 35 days of 5-minute rows, every slot present once, on
    the grid, energies never negative, never a type boundary, never flagged not valid, and never
    decreasing."""
    clear_of_boundary(300)
    with admin(data_lab, 2) as session:
        rows, now = load_profile(session)
    stamps = [stamp(row[0]) for row in rows]
    assert len(rows) == 35 * 288
    assert all(later - earlier == 300 for earlier, later in zip(stamps, stamps[1:]))
    energies = [row[ENERGY_IMPORT_COLUMN] for row in rows]
    assert all(0 < value < UNSIGNED_32_MAX for value in energies)
    assert all(a <= b for a, b in zip(energies, energies[1:]))
    assert not any(row[STATUS_COLUMN] & DATA_NOT_VALID for row in rows)

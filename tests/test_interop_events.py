"""The events a head-end handles (issue 16, item 4), over real sockets with the unmodified
gurux-dlms client: the simulated tamper attempts in the IS 15959 logs (other events, current and
voltage related events of an ABT meter, non-rollover events) and in the dlms-generic fraud
detection log, with the tamper count; the alarm push at a tamper attempt; a limiter trip and its
recovery as IS 15959 overload and load switch events; and a meter taken offline through the
console, which logs a power failure and its restoration at the meter's times and pushes.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from gurux_dlms import GXReplyData
from gurux_dlms.enums import DataType as GuruxDataType
from gurux_dlms.objects import GXDLMSData, GXDLMSLimiter, GXDLMSProfileGeneric, GXDLMSPushSetup

from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import decode_data_notification
from dlmstw.framing.wrapper import decode_wpdu
from dlmstw.simulator.events import COVER_OPENED, MAGNET, NEUTRAL_DISTURBANCE, TAMPERS, tamper_count, tampers
from dlmstw.simulator.sources import MeterSimulator

from interop_support import (FULL_ACCESS_ASSOCIATIONS, READER_CLIENT as READER, READER_PASSWORD as PASSWORD, Lab,
                             MeterSession, find_free_port_range, launch_lab, listening, receive_frame, set_clock,
                             stop_lab, to_utc)

SEED = 90
IST = 19800
ALARM_PUSH = "0.4.25.9.0.255"
LIMITER = "0.0.17.0.0.255"
#: The meters: two household (IS 15959, IST), an ABT meter, two dlms-generic (UTC).
HOUSEHOLD, LIMITED, ABT, GENERIC, OFFLINE = range(5)
IDS = ("household-0", "household-1", "abt-0", "generic-0", "generic-1")
SEEDS = (SEED, SEED + 1, SEED + 10, SEED + 20, SEED + 21)
SHAPES = ("household", "household", "feeder", "household", "household")
OFFSETS = (IST, IST, IST, 0, 0)
#: The test clock: 2026-05-04 06:00 UTC.
START = datetime.datetime(2026, 5, 4, 6, 0, tzinfo=datetime.timezone.utc)


def groups(base: int) -> str:
    return f"""\
[meters:household]
count = 2
port = {base}
model = is15959-household
load_profile_days = 1
seed = {SEED}

[meters:abt]
port = {base + 2}
model = is15959-abt
load_profile_days = 1
seed = {SEED + 10}

[meters:generic]
count = 2
port = {base + 3}
model = dlms-generic
load_profile_days = 1
seed = {SEED + 20}
"""


class EventsLab:
    def __init__(self, lab: Lab, console: int) -> None:
        self.lab = lab
        self.console = console

    def patch(self, meter: int, changes: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.console}/api/meters/{IDS[meter]}",
                                         data=json.dumps(changes).encode(), method="PATCH",
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def events_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsLab]:
    directory = tmp_path_factory.mktemp("events")
    base = find_free_port_range(6)
    console = base + 5
    text = (f"[simulator]\nconsole = tcp:{console}:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = -\n\n{groups(base)}\n{FULL_ACCESS_ASSOCIATIONS}")
    running = launch_lab(directory, text, tuple(range(base, base + 6)))
    try:
        yield EventsLab(running, console)
    finally:
        stop_lab(running)


def simulator(meter: int) -> MeterSimulator:
    return MeterSimulator(SEEDS[meter], SHAPES[meter], utc_offset=OFFSETS[meter])


def next_attempt(meter: int, kinds: set[str], after: datetime.datetime) -> tuple[float, str]:
    """The first simulated tamper attempt of ``kinds`` after ``after``: (instant, kind)."""
    t = after.timestamp()
    found = next(o for o in tampers(simulator(meter), t, t + 400 * 86400) if o.kind in kinds)
    return found.t, found.kind


def moment(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def log(session: MeterSession, ln: str) -> list[tuple[float, int]]:
    """An event log's (instant, code) rows, as gurux reads them."""
    profile = GXDLMSProfileGeneric(ln)
    session.read(profile, 3)
    return [(to_utc(row[0]).timestamp(), int(row[1])) for row in session.read(profile, 2)]


def aim_alarm(session: MeterSession, port: int) -> None:
    push = GXDLMSPushSetup(ALARM_PUSH)
    session.read(push, 3)
    push.destination = f"127.0.0.1:{port}"
    session.exchange(session.client.write(push, 3), GXReplyData())


def alarm_push(frame: bytes) -> bytes:
    """The push setup a pushed Data-Notification names first."""
    return decode_data_notification(decode_wpdu(frame).apdu).body[1][0][1]  # type: ignore[no-any-return,index]


def test_a_tamper_attempt_is_pushed_logged_and_counted(events_lab: EventsLab) -> None:
    """IS 15959 household: the clock set 3 s before the next magnet, neutral disturbance or cover
    opening; the alarm push setup pushes at its start, the other events log (201, 203) or the
    non-rollover log (251) holds it at that instant, and the tamper count counts it."""
    t, kind = next_attempt(HOUSEHOLD, {MAGNET, NEUTRAL_DISTURBANCE, COVER_OPENED}, START)
    port = find_free_port_range(1)
    with listening(port) as server, MeterSession(events_lab.lab.ports[HOUSEHOLD], READER, PASSWORD) as session:
        aim_alarm(session, port)
        set_clock(session, moment(t - 3))
        frame, _ = receive_frame(server, 10.0)
        ln, code = {MAGNET: ("0.0.99.98.4.255", 201), NEUTRAL_DISTURBANCE: ("0.0.99.98.4.255", 203),
                    COVER_OPENED: ("0.0.99.98.5.255", 251)}[kind]
        assert (t, code) in log(session, ln), session.trace_text()
        logged = [tamper for tamper in TAMPERS
                  if tamper.began in (MAGNET, NEUTRAL_DISTURBANCE, COVER_OPENED, "current-reversed")]
        count = session.read(GXDLMSData("0.0.94.91.0.255"), 2)
        assert count == tamper_count(simulator(HOUSEHOLD), t, logged)
    assert alarm_push(frame) == parse_obis(ALARM_PUSH)


def test_ct_and_pt_tampers_of_an_abt_meter(events_lab: EventsLab) -> None:
    """IS 15959 ABT: R phase CT open (57, restored 58) in the current related events and R phase
    voltage missing (1, restored 2) in the voltage related events, at the simulation's instants."""
    with MeterSession(events_lab.lab.ports[ABT], READER, PASSWORD) as session:
        for began, ended, ln, codes in (("ct-open", "ct-closed", "0.0.99.98.1.255", (57, 58)),
                                        ("pt-missing", "pt-restored", "0.0.99.98.0.255", (1, 2))):
            t, _ = next_attempt(ABT, {began}, START)
            end, _ = next_attempt(ABT, {ended}, moment(t))
            set_clock(session, moment(end + 60))
            rows = log(session, ln)
            assert (t, codes[0]) in rows and (end, codes[1]) in rows, session.trace_text()


def test_the_fraud_detection_log_of_dlms_generic(events_lab: EventsLab) -> None:
    """dlms-generic: a magnet is 42 (strong DC field detected) then 43 (no strong DC field
    anymore), a cover opening 44 (meter cover removed) then 45 (closed), in 0.0.99.98.1.255."""
    codes = {MAGNET: (42, 43), COVER_OPENED: (44, 45)}
    with MeterSession(events_lab.lab.ports[GENERIC], READER, PASSWORD) as session:
        for kind, (began, ended) in codes.items():
            t, _ = next_attempt(GENERIC, {kind}, START)
            end, _ = next_attempt(GENERIC, {"magnet-removed" if kind == MAGNET else "cover-closed"}, moment(t))
            set_clock(session, moment(end + 1))
            rows = log(session, "0.0.99.98.1.255")
            assert (t, began) in rows and (end, ended) in rows, session.trace_text()
        event_code = session.read(GXDLMSData("0.0.96.11.1.255"), 2)
        assert event_code == 45


def wait_for(condition: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_a_limiter_trip_and_recovery_as_is15959_events(events_lab: EventsLab) -> None:
    """IS 15959 household: a threshold of 0 W trips the limiter: 215 (overload) in the other
    events log and 301 (load switch disconnected) in the control events; a raised threshold later:
    216 (overload restored) and 302 (connected, the limiter's under-threshold action)."""
    with MeterSession(events_lab.lab.ports[LIMITED], READER, PASSWORD) as session:
        limiter = GXDLMSLimiter(LIMITER)
        limiter.minOverThresholdDuration = 1
        limiter.minUnderThresholdDuration = 1
        session.exchange(session.client.write(limiter, 6), GXReplyData())
        session.exchange(session.client.write(limiter, 7), GXReplyData())
        limiter.setDataType(4, GuruxDataType.INT32)
        limiter.thresholdNormal = 0
        session.exchange(session.client.write(limiter, 4), GXReplyData())
        assert wait_for(lambda: 215 in [code for _, code in log(session, "0.0.99.98.4.255")]), session.trace_text()
        assert 301 in [code for _, code in log(session, "0.0.99.98.6.255")]
        limiter.thresholdNormal = 1_000_000
        session.exchange(session.client.write(limiter, 4), GXReplyData())
        assert wait_for(lambda: 216 in [code for _, code in log(session, "0.0.99.98.4.255")]), session.trace_text()
        assert [code for _, code in log(session, "0.0.99.98.6.255")][-2:] == [301, 302]


def test_a_meter_taken_offline_logs_a_power_failure_and_pushes(events_lab: EventsLab) -> None:
    """The console takes a meter offline: the alarm push setup pushes (a last gasp) and the meter
    stops listening; back online, its standard event log holds 1 (power down) and 2 (power up) at
    the meter's times of the change."""
    port = find_free_port_range(1)
    meter_port = events_lab.lab.ports[OFFLINE]
    with MeterSession(meter_port, READER, PASSWORD) as session:
        aim_alarm(session, port)
    with listening(port) as server:
        down = time.time()
        assert events_lab.patch(OFFLINE, {"state": "offline"})["state"] == "offline"
        frame, _ = receive_frame(server, 10.0)
    assert alarm_push(frame) == parse_obis(ALARM_PUSH)
    time.sleep(1.5)
    up = time.time()
    assert events_lab.patch(OFFLINE, {"state": "online"})["state"] == "online"
    with MeterSession(meter_port, READER, PASSWORD) as session:
        rows = [row for row in log(session, "0.0.99.98.0.255") if row[0] >= down - 1]
    assert [code for _, code in rows] == [1, 2], rows
    assert abs(rows[0][0] - down) < 2 and abs(rows[1][0] - up) < 2, rows

"""A load that obeys the meter, and its events, over real sockets (issue 16, items 3 and 4): the
unmodified gurux-dlms client disconnects a meter and moves its clock (the test clock) over two
capture periods: the energy registers and the load profile stay flat; a limiter set below the
load trips, disconnects the meter and logs it, and the alarm push setup pushes; a power failure
of the simulation is logged and pushed.
"""

from __future__ import annotations

import datetime
import socket
from collections.abc import Iterator

import pytest
from gurux_dlms import GXReplyData
from gurux_dlms.enums import DataType as GuruxDataType
from gurux_dlms.objects import (GXDLMSDisconnectControl, GXDLMSLimiter,
                                GXDLMSProfileGeneric, GXDLMSPushSetup, GXDLMSRegister)

from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import decode_data_notification
from dlmstw.framing.wrapper import decode_wpdu
from dlmstw.simulator.events import outages
from dlmstw.simulator.sources import MeterSimulator

from interop_support import (READER_CLIENT as READER, READER_PASSWORD as PASSWORD, Lab, MeterSession, listening,
                             receive_frame, set_clock, simple_lab)

SEED = 70
DISCONNECT_CONTROL = "0.0.96.3.10.255"
LIMITER = "0.0.17.0.0.255"
ALARM_PUSH = "0.4.25.9.0.255"
ENERGY = "1.0.1.8.0.255"
LOAD_PROFILE = "1.0.99.1.0.255"
STANDARD_LOG = "0.0.99.98.0.255"
DISCONNECTOR_LOG = "0.0.99.98.2.255"
#: The test clock: 2026-03-03 09:00 UTC (dlms-generic keeps UTC); capture period 5 min.
START = datetime.datetime(2026, 3, 3, 9, 0, tzinfo=datetime.timezone.utc)


def groups(base: int) -> str:
    return f"""\
[meters:generic]
count = 3
port = {base}
model = dlms-generic
load_profile_interval = 5
load_profile_days = 1
seed = {SEED}
"""


@pytest.fixture(scope="module")
def load_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from simple_lab(tmp_path_factory, "load", groups, 3)


def energy(session: MeterSession) -> int:
    return session.read_raw(GXDLMSRegister(ENERGY), 2)


def event_codes(session: MeterSession, log: str, since: datetime.datetime) -> list[int]:
    profile = GXDLMSProfileGeneric(log)
    session.read(profile, 3)
    rows = session.read_rows_by_range(profile, since.replace(tzinfo=None),
                                      (since + datetime.timedelta(days=1)).replace(tzinfo=None))
    return [row[1] for row in rows]


def aim_alarm(session: MeterSession, port: int) -> None:
    push = GXDLMSPushSetup(ALARM_PUSH)
    session.read(push, 3)
    push.destination = f"127.0.0.1:{port}"
    session.exchange(session.client.write(push, 3), GXReplyData())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_disconnected_meter_measures_no_energy(load_lab: Lab) -> None:
    """remote_disconnect: over the next two capture periods the energy register and the load
    profile's energy column do not move; after remote_reconnect they grow again."""
    with MeterSession(load_lab.ports[0], READER, PASSWORD) as session:
        set_clock(session, START)
        control = GXDLMSDisconnectControl(DISCONNECT_CONTROL)
        session.exchange(control.remoteDisconnect(session.client), GXReplyData())
        session.read(control, 2)
        assert control.outputState is False
        before = energy(session)
        set_clock(session, START + datetime.timedelta(minutes=11))
        assert energy(session) == before
        assert session.read_raw(GXDLMSRegister("1.0.31.7.0.255"), 2) == 0  # no current
        profile = GXDLMSProfileGeneric(LOAD_PROFILE)
        session.read(profile, 3)
        columns = [c[0].logicalName for c in profile.captureObjects]
        rows = session.read_rows_by_range(profile, (START + datetime.timedelta(minutes=5)).replace(tzinfo=None),
                                          (START + datetime.timedelta(minutes=10)).replace(tzinfo=None))
        assert len(rows) == 2
        assert [row[columns.index(ENERGY)] for row in rows] == [before, before]
        session.exchange(control.remoteReconnect(session.client), GXReplyData())
        set_clock(session, START + datetime.timedelta(minutes=30))
        assert energy(session) > before
        assert event_codes(session, DISCONNECTOR_LOG, START - datetime.timedelta(minutes=1))[-2:] == [62, 63]


def test_a_limiter_trip_disconnects_logs_and_pushes(load_lab: Lab) -> None:
    """threshold_normal 0 W over 1 s: the limiter trips, the meter is disconnected, the
    disconnector control log has the trip (65, limiter threshold exceeded) and the disconnection (62), and the alarm
    push setup pushes."""
    port = free_port()
    with listening(port) as server, MeterSession(load_lab.ports[1], READER, PASSWORD) as session:
        aim_alarm(session, port)
        limiter = GXDLMSLimiter(LIMITER)
        limiter.minOverThresholdDuration = 1
        session.exchange(session.client.write(limiter, 6), GXReplyData())
        limiter.thresholdNormal = 0
        limiter.setDataType(4, GuruxDataType.UINT32)
        session.exchange(session.client.write(limiter, 4), GXReplyData())
        frame, _ = receive_frame(server, 10.0)
        control = GXDLMSDisconnectControl(DISCONNECT_CONTROL)
        session.read(control, 2)
        assert control.outputState is False
        now = datetime.datetime.now(datetime.timezone.utc)
        codes = event_codes(session, DISCONNECTOR_LOG, now - datetime.timedelta(minutes=5))
        assert 65 in codes and 62 in codes
    notification = decode_data_notification(decode_wpdu(frame).apdu)
    assert notification.body[1][0][1] == parse_obis(ALARM_PUSH)


def test_a_power_failure_is_logged_and_pushed(load_lab: Lab) -> None:
    """The clock set 3 s before the simulation's next power outage: the alarm push setup pushes
    at its start, and the standard event log holds the power failure (1)."""
    simulator = MeterSimulator(SEED + 2, "household", utc_offset=0)
    at = START + datetime.timedelta(days=1)
    start = min(s for s, _ in outages(simulator, at.timestamp(), at.timestamp() + 15 * 86400) if s > at.timestamp())
    outage = datetime.datetime.fromtimestamp(start, datetime.timezone.utc)
    port = free_port()
    with listening(port) as server, MeterSession(load_lab.ports[2], READER, PASSWORD) as session:
        aim_alarm(session, port)
        set_clock(session, outage - datetime.timedelta(seconds=3))
        frame, _ = receive_frame(server, 10.0)
        assert 1 in event_codes(session, STANDARD_LOG, outage - datetime.timedelta(minutes=1))
    notification = decode_data_notification(decode_wpdu(frame).apdu)
    assert notification.body[1][0][1] == parse_obis(ALARM_PUSH)

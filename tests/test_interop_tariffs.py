"""Tariffs over real sockets (issue 16, item 2): the unmodified gurux-dlms client writes a
passive activity calendar with two tariffs switching at 10:00, activates it, and moves the
meter's clock (the test clock) across the switch; the energy goes to the tariff register of the
tariff active then, and a billing capture holds the per-tariff values.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from gurux_dlms import GXDateTime, GXReplyData, GXTime
from gurux_dlms.objects import (GXDLMSActivityCalendar, GXDLMSData, GXDLMSDayProfile,
                                GXDLMSDayProfileAction, GXDLMSProfileGeneric, GXDLMSRegister, GXDLMSScriptTable,
                                GXDLMSSeasonProfile, GXDLMSWeekProfile)

from interop_support import (READER_CLIENT as READER, READER_PASSWORD as PASSWORD, Lab, MeterSession, set_clock,
                             simple_lab)

CALENDAR = "0.0.13.0.0.255"
TARIFF_SCRIPTS = "0.0.10.0.100.255"
BILLING_SCRIPTS = "0.0.10.0.1.255"
BILLING_PROFILE = "1.0.98.1.0.255"
LOAD_PROFILE = "1.0.99.1.0.255"
TOTAL = "1.0.1.8.0.255"
TARIFF = ["1.0.1.8.1.255", "1.0.1.8.2.255"]
#: The test clock: a Tuesday, 09:50 UTC (dlms-generic keeps UTC).
START = datetime.datetime(2026, 3, 3, 9, 50, tzinfo=datetime.timezone.utc)
SWITCH = START.replace(minute=0, hour=10)


@pytest.fixture(scope="module")
def tariff_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from simple_lab(tmp_path_factory, "tariffs", lambda base: (
        f"[meters:generic]\nport = {base}\nmodel = dlms-generic\nload_profile_days = 1\n"), 1)


def energies(session: MeterSession) -> tuple[int, int, int]:
    """(total, tariff 1, tariff 2) in Wh (scaler 0)."""
    total, first, second = (session.read_raw(GXDLMSRegister(ln), 2) for ln in (TOTAL, *TARIFF))
    return total, first, second


def active_tariff(session: MeterSession) -> int:
    return session.read_raw(GXDLMSData("0.0.96.14.0.255"), 2)


def two_tariffs() -> GXDLMSActivityCalendar:
    """Every day: tariff 1 from 00:00, tariff 2 from 10:00 (scripts 1 and 2 of the tariff script table)."""
    calendar = GXDLMSActivityCalendar(CALENDAR)
    calendar.calendarNamePassive = "TWO"
    calendar.seasonProfilePassive = [GXDLMSSeasonProfile(b"ALL", GXDateTime(datetime.datetime(2020, 1, 1)), b"WEEK")]
    week = GXDLMSWeekProfile()
    week.name = b"WEEK"
    week.monday = week.tuesday = week.wednesday = week.thursday = week.friday = week.saturday = week.sunday = 7
    calendar.weekProfileTablePassive = [week]
    calendar.dayProfileTablePassive = [GXDLMSDayProfile(7, [
        GXDLMSDayProfileAction(GXTime(datetime.datetime(2000, 1, 1, 0, 0)), TARIFF_SCRIPTS, 1),
        GXDLMSDayProfileAction(GXTime(datetime.datetime(2000, 1, 1, 10, 0)), TARIFF_SCRIPTS, 2),
    ])]
    return calendar


def test_a_passive_calendar_switches_tariffs_and_billing_captures_them(tariff_lab: Lab) -> None:
    with MeterSession(tariff_lab.ports[0], READER, PASSWORD) as session:
        set_clock(session, START)
        calendar = two_tariffs()
        for attribute in (6, 7, 8, 9):
            session.exchange(session.client.write(calendar, attribute), GXReplyData())
        session.exchange(calendar.activatePassiveCalendar(session.client), GXReplyData())
        active = GXDLMSActivityCalendar(CALENDAR)
        session.read(active, 2)
        assert active.calendarNameActive == "TWO"
        assert active_tariff(session) == 1
        before = energies(session)
        assert before[0] == before[1] + before[2] + sum(
            session.read_raw(GXDLMSRegister(f"1.0.1.8.{e}.255"), 2) for e in range(3, 9))

        set_clock(session, SWITCH + datetime.timedelta(minutes=5))
        assert active_tariff(session) == 2
        after = energies(session)
        profile = GXDLMSProfileGeneric(LOAD_PROFILE)
        session.read(profile, 3)
        rows = session.read_rows_by_range(profile, SWITCH.replace(tzinfo=None), SWITCH.replace(tzinfo=None))
        columns = [c[0].logicalName for c in profile.captureObjects]
        assert len(rows) == 1
        at_switch = rows[0][columns.index(TOTAL)]
        assert abs((after[1] - before[1]) - (at_switch - before[0])) <= 2
        assert abs((after[2] - before[2]) - (after[0] - at_switch)) <= 2
        assert after[1] - before[1] > 0 and after[2] - before[2] > 0

        script = GXDLMSScriptTable(BILLING_SCRIPTS)
        session.exchange(session.client.method(script, 1, 2, 18), GXReplyData())  # execute script 2: bill now
        billed = energies(session)
        billing = GXDLMSProfileGeneric(BILLING_PROFILE)
        session.read(billing, 3)
        names = [c[0].logicalName for c in billing.captureObjects]
        last = session.read_rows_by_entry(billing, 0, 0)[-1]
        for index, ln in enumerate((TOTAL, *TARIFF)):
            assert abs(last[names.index(ln)] - billed[index]) <= 1

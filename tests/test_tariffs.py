"""Time-of-use tariffs without sockets (Activity calendar 20, Special days table 11, tariff
registers 1.0.1.8.e.255): a meter served in-process on a test clock. The tariff registers add up
to the total, follow the calendar's day profile, a special day's profile and a calendar
activated at its activate_passive_calendar_time (the edge's timer), and survive a restart."""

from __future__ import annotations

import calendar
from types import SimpleNamespace

from twisted.internet.testing import MemoryReactorClock

from dlmstw.enums import ActionResult, DataType
from dlmstw.server.edge import MeterEdge

from interop_support import LocalMeter

CALENDAR = "0.0.13.0.0.255"
SPECIAL_DAYS = "0.0.11.0.0.255"
TARIFF_SCRIPTS = bytes((0, 0, 10, 0, 100, 255))
#: 2026-03-03 (a Tuesday) 00:00 UTC.
MIDNIGHT = float(calendar.timegm((2026, 3, 3, 0, 0, 0)))


def ini(model: str = "dlms-generic") -> str:
    return f"""
[meters:m]
model = {model}
port = 4100
load_profile_days = 1

[association:utility]
client_sap = 1
access = full
"""


def tariffs(meter: LocalMeter) -> list[int]:
    return [meter.get(f"1.0.1.8.{e}.255", 3, 2)[1] for e in range(1, 9)]


def total(meter: LocalMeter) -> int:
    return meter.get("1.0.1.8.0.255", 3, 2)[1]


def day_profile(day_id: int, *switches: tuple[int, int]) -> tuple[DataType, list]:
    """A day profile whose actions run tariff script ``tariff`` at ``hour``."""
    return (DataType.STRUCTURE, [(DataType.UNSIGNED, day_id), (DataType.ARRAY, [
        (DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes((hour, 0, 0, 0))), (DataType.OCTET_STRING, TARIFF_SCRIPTS),
                              (DataType.LONG_UNSIGNED, tariff)]) for hour, tariff in switches])])


def write_passive(meter: LocalMeter, *profiles: tuple[DataType, list]) -> None:
    """Passive calendar: one season from 2020, every weekday day profile 1."""
    meter.set(CALENDAR, 20, 7, (DataType.ARRAY, [(DataType.STRUCTURE, [
        (DataType.OCTET_STRING, b"S"), (DataType.OCTET_STRING, bytes.fromhex("07E40101FF000000FF8000FF")),
        (DataType.OCTET_STRING, b"W")])]))
    meter.set(CALENDAR, 20, 8, (DataType.ARRAY, [(DataType.STRUCTURE, [(DataType.OCTET_STRING, b"W")] + [
        (DataType.UNSIGNED, 1)] * 7)]))
    assert meter.set(CALENDAR, 20, 9, (DataType.ARRAY, list(profiles))) == 0


def test_the_tariff_registers_add_up_to_the_total_on_every_model() -> None:
    for model in ("is15959-household", "dlms-generic"):
        meter = LocalMeter(ini(model), now=MIDNIGHT + 12 * 3600)
        assert abs(sum(tariffs(meter)) - total(meter)) <= 8  # each register rounds on its own


def test_energy_goes_to_the_tariff_of_the_day_profile() -> None:
    """Tariff 1 until 10:00, 2 after: an hour either side fills only its own register."""
    meter = LocalMeter(ini(), now=MIDNIGHT + 8 * 3600)
    write_passive(meter, day_profile(1, (0, 1), (10, 2)))
    assert meter.action(CALENDAR, 20, 1, (DataType.INTEGER, 0))[0] == ActionResult.SUCCESS
    first = tariffs(meter), total(meter)
    meter.now = MIDNIGHT + 10 * 3600
    second = tariffs(meter), total(meter)
    meter.now = MIDNIGHT + 11 * 3600
    third = tariffs(meter), total(meter)
    assert meter.get("0.0.96.14.0.255", 1, 2) == (DataType.UNSIGNED, 2)
    assert abs((second[0][0] - first[0][0]) - (second[1] - first[1])) <= 1 and second[0][1] == first[0][1]
    assert abs((third[0][1] - second[0][1]) - (third[1] - second[1])) <= 1 and third[0][0] == second[0][0]


def test_a_special_day_has_its_own_day_profile() -> None:
    """On 2026-03-03 (special day, day profile 2: tariff 3 all day) the energy goes to tariff 3."""
    meter = LocalMeter(ini(), now=MIDNIGHT)
    write_passive(meter, day_profile(1, (0, 1)), day_profile(2, (0, 3)))
    meter.action(CALENDAR, 20, 1, (DataType.INTEGER, 0))
    entry = (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 1), (DataType.OCTET_STRING, bytes.fromhex("07EA0303FF")),
                                  (DataType.UNSIGNED, 2)])
    assert meter.action(SPECIAL_DAYS, 11, 1, entry)[0] == ActionResult.SUCCESS
    before = tariffs(meter)
    meter.now = MIDNIGHT + 6 * 3600
    after = tariffs(meter)
    assert after[0] - before[0] <= 1 and after[2] > before[2]
    assert meter.action(SPECIAL_DAYS, 11, 2, (DataType.LONG_UNSIGNED, 1))[0] == ActionResult.SUCCESS
    assert meter.get(SPECIAL_DAYS, 11, 2) == (DataType.ARRAY, [])


def test_the_passive_calendar_activates_at_its_time() -> None:
    """activate_passive_calendar_time = 10:00 IST: the edge's timer activates the passive calendar
    then; the time is not specified again, and the transaction log has the change (155)."""
    meter = LocalMeter(ini("is15959-household"), now=MIDNIGHT + 4 * 3600)
    reactor = MemoryReactorClock()
    reactor.advance(meter.now)
    edge = MeterEdge(reactor, meter.runtime, meter.directory,  # type: ignore[arg-type]
                     SimpleNamespace(stop=lambda: None, push=lambda request: None),
                     "", None)
    meter.runtime.edge = edge
    edge.start()
    write_passive(meter, day_profile(1, (0, 3)))
    assert meter.set(CALENDAR, 20, 10, (DataType.OCTET_STRING, bytes.fromhex("07EA0303FF0A0000FFFEB600"))) == 0
    reactor.advance(1799)
    meter.now = reactor.seconds()
    assert meter.get("0.0.96.14.0.255", 1, 2) == (DataType.UNSIGNED, 2)
    reactor.advance(1)
    meter.now = reactor.seconds() + 60
    assert meter.get("0.0.96.14.0.255", 1, 2) == (DataType.UNSIGNED, 3)
    assert meter.get(CALENDAR, 20, 10) == (DataType.OCTET_STRING, bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF"))
    assert meter.get("0.0.96.11.3.255", 1, 2) == (DataType.LONG_UNSIGNED, 155)
    edge.stop()


def test_tariff_registers_read_the_same_after_a_restart() -> None:
    meter = LocalMeter(ini(), now=MIDNIGHT + 8 * 3600)
    write_passive(meter, day_profile(1, (0, 1), (9, 2)))
    meter.action(CALENDAR, 20, 1, (DataType.INTEGER, 0))
    meter.now = MIDNIGHT + 12 * 3600
    expected = tariffs(meter)
    again = LocalMeter(ini(), now=MIDNIGHT + 12 * 3600)
    again.runtime.restore(meter.runtime.state())
    assert tariffs(again) == expected

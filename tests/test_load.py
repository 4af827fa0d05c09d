"""The simulated load obeys the Disconnect control (issue 16, item 3), without sockets: energy,
currents, block energies and tariff registers stop while the output is off, the periods survive
a restart, and a limiter trips only once a client configured it."""

from __future__ import annotations

import calendar
from types import SimpleNamespace

from twisted.internet.testing import MemoryReactorClock

from dlmstw.enums import ActionResult, DataType
from dlmstw.server.edge import MeterEdge

from interop_support import LocalMeter

NOW = float(calendar.timegm((2026, 3, 3, 9, 0, 0)))
CONTROL = "0.0.96.3.10.255"
INI = """
[meters:m]
model = dlms-generic
port = 4100
load_profile_interval = 5
load_profile_days = 1

[association:utility]
client_sap = 1
access = full
"""


def readings(meter: LocalMeter) -> tuple[int, int, int]:
    return (meter.get("1.0.1.8.0.255", 3, 2)[1], meter.get("1.0.31.7.0.255", 3, 2)[1],
            sum(meter.get(f"1.0.1.8.{e}.255", 3, 2)[1] for e in range(1, 9)))


def test_energy_stops_while_disconnected_and_resumes_after() -> None:
    meter = LocalMeter(INI, now=NOW)
    assert meter.action(CONTROL, 70, 1, (DataType.INTEGER, 0))[0] == ActionResult.SUCCESS
    frozen = readings(meter)
    meter.now = NOW + 1800
    assert readings(meter)[0] == frozen[0] and readings(meter)[1] == 0
    assert abs(readings(meter)[2] - frozen[0]) <= 8
    meter.action(CONTROL, 70, 2, (DataType.INTEGER, 0))
    meter.now = NOW + 3600
    after = readings(meter)
    assert after[0] > frozen[0] and after[1] > 0
    again = LocalMeter(INI, now=NOW + 3600)
    again.runtime.restore(meter.runtime.state())
    assert readings(again) == after
    raw = again.runtime.simulator.cumulative(NOW + 3600).active_energy_import
    withheld = (again.runtime.simulator.cumulative(NOW + 1800).active_energy_import
                - again.runtime.simulator.cumulative(NOW).active_energy_import)
    assert abs(after[0] - (raw - withheld)) <= 1


def test_a_block_energy_is_what_the_registers_measured() -> None:
    """A period that was partly off: its block energy is the difference of the register readings."""
    meter = LocalMeter(INI, now=NOW + 120)
    meter.action(CONTROL, 70, 1, (DataType.INTEGER, 0))
    snapshot = meter.runtime.snapshot(NOW + 300)
    before = meter.runtime.snapshot(NOW).cumulative.active_energy_import
    assert abs(snapshot.interval.active_energy_import - (snapshot.cumulative.active_energy_import - before)) < 1e-6


def test_an_unconfigured_limiter_does_not_watch() -> None:
    meter = LocalMeter(INI, now=NOW)
    reactor = MemoryReactorClock()
    pushed: list[object] = []
    edge = MeterEdge(reactor, meter.runtime, meter.directory,  # type: ignore[arg-type]
                     SimpleNamespace(stop=lambda: None, push=pushed.append), "", None)
    meter.runtime.edge = edge
    edge.start()
    assert not any(call.func == edge._check_limiter for call in reactor.getDelayedCalls())
    meter.set("0.0.17.0.0.255", 71, 6, (DataType.DOUBLE_LONG_UNSIGNED, 5))
    assert any(call.func == edge._check_limiter for call in reactor.getDelayedCalls())
    meter.set("0.0.17.0.0.255", 71, 4, (DataType.DOUBLE_LONG_UNSIGNED, 0))
    reactor.advance(5)
    assert meter.get(CONTROL, 70, 2) == (DataType.BOOLEAN, False)
    assert pushed  # the trip and the disconnection push the alarm push setup
    edge.stop()

"""Events of issue 16, item 4, without sockets: the simulated tamper attempts are a pure function
of the seed and the time (the same seed gives the same attempts, whatever window is asked for),
rare (one per slot of each kind); the models log them with the codes of their standards and
count them; the alarm push setup pushes at their start; a limiter's recovery, a failed image
activation and a meter taken offline and back are recorded, logged and pushed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from twisted.internet.testing import MemoryReactorClock

from dlmstw.codec.axdr import CosemDateTime
from dlmstw.config import parse_lab
from dlmstw.cosem.directory import ModelDirectory
from dlmstw.enums import DataAccessResult, DataType
from dlmstw.models import dlms_generic
from dlmstw.server.assembly import Meter
from dlmstw.server.edge import MeterEdge
from dlmstw.server.reconfigure import reconfigure
from dlmstw.simulator import events
from dlmstw.simulator.events import COVER_OPENED, MAGNET, MAGNET_REMOVED, TAMPERS, tamper_count, tampers
from dlmstw.simulator.sources import MeterSimulator
from interop_support import LocalMeter, _registry

NOW = 1_767_268_800.0  # 2026-01-01T12:00:00Z
YEAR = 365 * 86400


def simulator(seed: int, shape: str = "household") -> MeterSimulator:
    return MeterSimulator(seed, shape, utc_offset=0)


# =========================================================================== the simulation


def test_the_same_seed_gives_the_same_attempts_and_another_seed_others() -> None:
    first = tampers(simulator(11), NOW - YEAR, NOW)
    assert first == tampers(simulator(11), NOW - YEAR, NOW)
    assert first != tampers(simulator(12), NOW - YEAR, NOW)
    assert first == sorted(first)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.floats(0, YEAR, allow_nan=False), min_size=1, max_size=6))
def test_attempts_do_not_depend_on_the_window(seed: int, cuts: list[float]) -> None:
    """A year's attempts are those of any split of the year into windows (after, until]."""
    sim = simulator(seed)
    edges = [NOW - YEAR, *sorted(NOW - cut for cut in cuts), NOW]
    pieces = [occurrence for after, until in zip(edges, edges[1:]) for occurrence in tampers(sim, after, until)]
    assert pieces == tampers(sim, NOW - YEAR, NOW)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_kind_is_rare_one_per_slot_and_ends_after_it_began(seed: int) -> None:
    sim = simulator(seed)
    start = sim.installed
    found = tampers(sim, start, start + 2 * YEAR)
    for tamper in TAMPERS:
        began = [o.t for o in found if o.kind == tamper.began]
        ended = [o.t for o in found if o.kind == tamper.ended]
        slots = 2 * YEAR // (tamper.slot_days * 86400)
        assert slots <= len(began) <= slots + 1
        for t0, t1 in zip(began, ended):
            assert tamper.shortest <= t1 - t0 <= tamper.longest
            slot = (t0 - start) // (tamper.slot_days * 86400)
            assert (t1 - start) // (tamper.slot_days * 86400) == slot


def test_none_before_installation_and_the_count_matches_the_attempts() -> None:
    sim = simulator(4)
    assert tampers(sim, sim.installed - YEAR, sim.installed) == []
    assert tamper_count(sim, sim.installed - 1) == 0
    for t in (sim.installed + 86400, NOW, NOW + 0.5 * YEAR):
        began = {tamper.began for tamper in TAMPERS}
        assert tamper_count(sim, t) == sum(1 for o in tampers(sim, sim.installed - 1, t) if o.kind in began)


def test_every_new_kind_is_in_the_occurrence_table() -> None:
    """Scenarios record the same kinds: each tamper's start and end is a kind of the table."""
    kinds = {value for name, value in vars(events).items() if name.isupper() and isinstance(value, str)}
    assert {kind for tamper in TAMPERS for kind in (tamper.began, tamper.ended)} <= kinds
    assert {"limiter-ok", "firmware-activation-failed"} <= kinds


# =========================================================================== the models


def lab(model: str, seed: int = 7, days: int = 35) -> str:
    return f"""
[meters:m]
model = {model}
port = 4100
load_profile_days = {days}
seed = {seed}

[association:admin]
client_sap = 48
authentication = lls
lls_password = ADMIN001
access = full
"""


def stamp(cell: bytes) -> float:
    return CosemDateTime.from_bytes(cell).to_datetime().timestamp()


def log(meter: LocalMeter, ln: str) -> list[tuple[float, int]]:
    value = meter.get(ln, 7, 2)
    assert not isinstance(value, DataAccessResult), value
    return [(stamp(row[1][0][1]), row[1][1][1]) for row in value[1]]


#: (model, event log, its tamper codes) as the models' standards number them.
TAMPER_LOGS = (
    ("is15959-household", "0.0.99.98.4.255", {MAGNET: 201, MAGNET_REMOVED: 202, "neutral-disturbance": 203,
                                               "neutral-restored": 204}),
    ("is15959-abt", "0.0.99.98.4.255", {MAGNET: 201, MAGNET_REMOVED: 202, "neutral-disturbance": 203,
                                         "neutral-restored": 204}),
    ("is15959-household", "0.0.99.98.1.255", {"current-reversed": 51, "current-reverse-ended": 52}),
    ("is15959-abt", "0.0.99.98.1.255", {"current-reversed": 51, "current-reverse-ended": 52, "ct-open": 57,
                                         "ct-closed": 58}),
    ("is15959-abt", "0.0.99.98.0.255", {"pt-missing": 1, "pt-restored": 2}),
    ("dlms-generic", "0.0.99.98.1.255", {MAGNET: 42, MAGNET_REMOVED: 43, COVER_OPENED: 44, "cover-closed": 45}),
)


@pytest.mark.parametrize("model, ln, codes", TAMPER_LOGS)
def test_tamper_logs_hold_the_simulated_attempts(model: str, ln: str, codes: dict[str, int]) -> None:
    """Over a year of reads (a 35-day window a month apart) each log holds exactly the attempts of
    its kinds since its oldest entry, with its standard's codes, next to its other events."""
    wanted = set(codes.values())
    seen = 0
    for month in range(12):
        at = NOW - month * 30 * 86400
        meter = LocalMeter(lab(model), now=at)
        entries = log(meter, ln)
        oldest = entries[0][0] if entries else at
        attempts = tampers(meter.runtime.simulator, at - 35 * 86400, at)
        found = [event for event in entries if event[1] in wanted]
        assert found == [(o.t, codes[o.kind]) for o in attempts if o.kind in codes and o.t >= oldest]
        seen += len(found)
    assert seen > 0


def test_the_non_rollover_log_keeps_the_last_cover_opening() -> None:
    """IS 15959 non-rollover events: 251 meter cover opening, kept for the meter's life, and its
    event code object says so months later."""
    meter = LocalMeter(lab("is15959-household", days=1), now=NOW)
    sim = meter.runtime.simulator
    openings = [o.t for o in tampers(sim, sim.installed, NOW) if o.kind == COVER_OPENED]
    assert openings
    assert log(meter, "0.0.99.98.5.255") == [(openings[-1], 251)]
    assert NOW - openings[-1] > 35 * 86400  # beyond the daily look-back of the event code object
    assert meter.get("0.0.96.11.5.255", 1, 2) == (DataType.LONG_UNSIGNED, 251)


def test_the_household_tamper_count_counts_the_attempts_it_logs() -> None:
    meter = LocalMeter(lab("is15959-household"), now=NOW)
    sim = meter.runtime.simulator
    logged = [t for t in TAMPERS if t.began in (MAGNET, "neutral-disturbance", COVER_OPENED, "current-reversed")]
    count = tamper_count(sim, NOW, logged)
    assert count > 0
    assert meter.get("0.0.94.91.0.255", 1, 2) == (DataType.LONG_UNSIGNED, count)
    meter.runtime.record(MAGNET)
    assert meter.get("0.0.94.91.0.255", 1, 2) == (DataType.LONG_UNSIGNED, count + 1)


# =========================================================================== pushes and faults


class Sender:
    """Takes the pushes, and when (on the reactor's clock) each came."""

    def __init__(self, reactor: MemoryReactorClock) -> None:
        self.reactor = reactor
        self.requests: list[Any] = []
        self.times: list[float] = []

    def push(self, request: Any) -> None:
        self.requests.append(request)
        self.times.append(self.reactor.seconds())

    def stop(self) -> None:
        pass


def edge_meter(model: str, reactor: MemoryReactorClock) -> tuple[Meter, MeterEdge, Sender]:
    config = list(parse_lab(lab(model)).meters())[0]
    registry = _registry()
    meter = Meter(config, registry.object_sets[config.model[0]], reactor.seconds)
    directory = ModelDirectory([registry.object_sets[name] for name in config.model], registry.classes,
                               config.associations, registry.mechanisms, 0x00501F, 1024)
    sender = Sender(reactor)
    meter.edge = MeterEdge(reactor, meter, directory, sender)  # type: ignore[arg-type]
    return meter, meter.edge, sender


@pytest.mark.parametrize("model", ["dlms-generic", "is15959-household"])
def test_a_tamper_attempt_pushes_the_alarm_at_its_start(model: str) -> None:
    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    meter, edge, sender = edge_meter(model, reactor)
    began = {tamper.began for tamper in edge.objects.tampers}
    assert MAGNET in began and COVER_OPENED in began and "ct-open" not in began
    edge.start()
    first = next(o.t for o in tampers(meter.simulator, NOW, NOW + 400 * 86400, edge.objects.tampers)
                 if o.kind in began)
    for _ in range(200):
        delays = [call.getTime() for call in reactor.getDelayedCalls()]
        if not delays or min(delays) > first:
            break
        reactor.advance(min(delays) - reactor.seconds())
    assert first in sender.times
    assert sender.requests[sender.times.index(first)].push_setup == bytes((0, 4, 25, 9, 0, 255))
    edge.stop()


def test_taking_a_meter_offline_logs_a_power_failure_and_pushes() -> None:
    """The server hands the runtime a power down when a meter goes offline (the alarm pushes, as
    a last gasp) and a power up when it comes back; the standard event log holds 1 and 2 there."""

    class Factory:
        online = True
        protocols: dict[Any, None] = {}
        associations: dict[int, Any] = {}

    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    meter, edge, sender = edge_meter("dlms-generic", reactor)
    edge.running = True
    factory = Factory()
    factory.meter = meter  # type: ignore[attr-defined]
    states: list[bool] = []
    reconfigure(factory, {"state": "offline"}, states.append)  # type: ignore[arg-type]
    assert sender.times == [NOW]
    reactor.advance(90)
    reconfigure(factory, {"state": "online"}, states.append)  # type: ignore[arg-type]
    assert states == [False, True] and len(sender.requests) == 1
    assert [(o.t, o.kind) for o in meter.events] == [(NOW, "power-down"), (NOW + 90, "power-up")]


LIMITER = "0.0.17.0.0.255"


@pytest.mark.parametrize("model, threshold_type, logs", [
    ("dlms-generic", DataType.DOUBLE_LONG_UNSIGNED, {"0.0.99.98.2.255": [62, 65, 66]}),
    ("is15959-household", DataType.DOUBLE_LONG, {"0.0.99.98.4.255": [215, 216], "0.0.99.98.6.255": [301, 302]}),
])
def test_a_limiter_trip_and_its_recovery_are_logged(model: str, threshold_type: DataType,
                                                    logs: dict[str, list[int]]) -> None:
    """A threshold of 0 W trips the limiter (IDIS 65 limiter threshold exceeded, IS 15959 215
    overload) and disconnects; the load under a raised threshold later is ok again (66, 216), and
    the household meter's under-threshold action reconnects (301, 302)."""
    meter = LocalMeter(lab(model, seed=21), now=NOW)
    assert meter.set(LIMITER, 71, 6, (DataType.DOUBLE_LONG_UNSIGNED, 1)) == DataAccessResult.SUCCESS
    assert meter.set(LIMITER, 71, 7, (DataType.DOUBLE_LONG_UNSIGNED, 60)) == DataAccessResult.SUCCESS
    assert meter.set(LIMITER, 71, 4, (threshold_type, 0)) == DataAccessResult.SUCCESS
    limiter = meter.directory.objects[bytes((0, 0, 17, 0, 0, 255))]
    assert limiter.interface_class.check(limiter, meter._context()) is not None
    meter.now += 120
    assert meter.set(LIMITER, 71, 4, (threshold_type, 1_000_000)) == DataAccessResult.SUCCESS
    assert limiter.interface_class.check(limiter, meter._context()) is not None
    meter.now += 1
    for ln, codes in logs.items():
        assert [code for _, code in log(meter, ln) if code in codes] == codes


def test_an_event_recorded_by_code_goes_to_the_dlms_generic_log_that_takes_it() -> None:
    recorded = [events.Occurrence(5.0, events.coded(44)), events.Occurrence(6.0, events.coded(1)),
                events.Occurrence(7.0, events.coded(62))]
    logs = {"standard": (dlms_generic.STANDARD_EVENTS, dlms_generic.STANDARD_CODES),
            "fraud": (dlms_generic.FRAUD_EVENTS, dlms_generic.FRAUD_CODES),
            "disconnector": (dlms_generic.DISCONNECTOR_EVENTS, dlms_generic.DISCONNECTOR_CODES)}
    found = {name: events.occurrence_events(recorded, dict(codes), 0.0, taken)
             for name, (codes, taken) in logs.items()}
    assert found == {"standard": [(6.0, 1)], "fraud": [(5.0, 44)], "disconnector": [(7.0, 62)]}

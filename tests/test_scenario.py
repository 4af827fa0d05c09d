"""Scenarios, deterministic: a test clock drives the runner, meters are
reached through StringTransport, and the packet log's records are made as
the writer makes them (``packet_record``).

Each step happens at its time on the meters it selects and ends after its
duration; the same scenario and seed give the same (time offset, meter,
step, result) sequence twice, another seed another one; a bad file is one
line naming the step and key."""

from __future__ import annotations

import datetime
import io
import json
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, FirstError, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from dlmstw.codec import acse, axdr, services, xdlms
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import CosemAttributeDescriptor, GetRequestNormal
from dlmstw.config import load_lab, parse_lab
from dlmstw.cosem.base import Context
from dlmstw.dissector.record import packet_record
from dlmstw.enums import Conformance, DataType
from dlmstw.framing.wrapper import WrapperDecoder, encode_wpdu
from dlmstw.monitor.capture import CaptureBus, Exchange
from dlmstw.monitor.records import decode_exchanges, encode_exchanges
from dlmstw.plugins.registry import load_registry
from dlmstw.server import meter as server_meter
from dlmstw.server.listen import MeterListener
from dlmstw.server.reconfigure import ReconfigureError
from dlmstw.server.scenario import ResetFailed, ScenarioRunner, check_scenario
from dlmstw.server.service import LabService
from dlmstw.server.channel import ScenarioApply, ScenarioReset, Start
from dlmstw.server.workers import WorkerPool
from dlmstw.web.console import Console as ConsoleApp
from dlmstw.simulator.events import coded
from dlmstw.simulator.scenario import (MAX_SCENARIO_BYTES, ScenarioError, Selections, groups_of, load_scenario,
                                      parse_duration, parse_scenario, parse_selector, select)

ROOT = Path(__file__).resolve().parents[1]
#: A whole number no 64-bit field holds.
BIG = "9" * 400
NOW = 1_767_225_600.0
LAB = """
[meters:a]
count = 10
port = 4501
load_profile_days = 1

[meters:b]
count = 4
port = 4521
model = dlms-generic
load_profile_days = 1

[association:reader]
client_sap = 33
authentication = lls
lls_password = STORMY01

[association:public]
client_sap = 16
"""
SCENARIO = """
seed = {seed}

[[step]]
name = "outage"
at = "10s"
meters = "a:30%"
action = "offline"
duration = "20s"

[[step]]
at = "15s"
meters = "b:1"
action = "clock-jump"
seconds = 3600

[[step]]
at = "20s"
meters = "b:0..1"
action = "fault"
faults = "timeout:1"
duration = "10s"

[[step]]
name = "power-failure"
at = "25s"
meters = ["a:0", "b:3"]
action = "alarm"
code = 101

[[step]]
name = "stuck"
at = "30s"
meters = "a:9"
action = "value"
obis = "1.0.1.8.0.255"
value = 4242
duration = "5s"

[[step]]
at = "40s"
meters = "b"
action = "key-change"
association = "reader"
keys = {{ lls_password = "NEWPASS1" }}
"""
AARQ = acse.encode_aarq(acse.AARQ(application_context_name=1, user_information=xdlms.encode_initiate_request(
    xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00FFFF), 0x04B0))))
ENERGY = CosemAttributeDescriptor(3, parse_obis("1.0.1.8.0.255"), 2)
GET_ENERGY = services.encode_request(GetRequestNormal(0xC1, ENERGY, None))


class MemoryPort:
    """A meter's port that listens nowhere: the tests reach meters through StringTransport."""

    def stopListening(self) -> None:
        pass


class Lab:
    """A lab of LAB in this process (its ports in memory), its scenario runner
    on a test clock, and every capture record (timed by that clock)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, seed: int = 3, text: str = SCENARIO) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(NOW)
        monkeypatch.setattr(MeterListener, "_open", lambda listener: MemoryPort())
        monkeypatch.setattr(server_meter, "now", self.reactor.seconds)
        self.config = parse_lab(LAB)
        self.capture = CaptureBus(self.reactor.callLater)
        self.records: list[Exchange] = []
        self.capture.subscribe(self.records.append)
        self.service = LabService(self.config, load_registry(), self.capture, clock=self.reactor.seconds,
                                  reactor=self.reactor)
        self.service.privilegedStartService()
        self.service.startService()
        self.scenario = parse_scenario(text.format(seed=seed), "storm.toml", self.config)
        self.runner = ScenarioRunner(self.reactor, self.config, self.service, self.scenario,
                                     partial(check_scenario, lab=self.config, factories=self.service.factories))
        self.runner.startService()

    def at(self, seconds: float) -> None:
        """Advance the clock to ``seconds`` after the scenario's start."""
        self.reactor.advance(NOW + seconds - self.reactor.seconds())

    def online(self) -> set[str]:
        return {m for m, f in self.service.factories.items() if f.online}

    def listening(self) -> set[str]:
        return {service.name for service in self.service if service.running}

    def events(self, meter_id: str, event_log: str) -> list[tuple[bytes, int]]:
        """The entries (clock, code) of the meter's event log, read now."""
        factory = self.service.factories[meter_id]
        model = factory.directory.model
        obj = model.objects[parse_obis(event_log)]
        buffer = obj.interface_class.get(obj, 2, Context(factory.meter, None, model, factory.meter.now()))
        rows = axdr.decode_data(buffer if isinstance(buffer, bytes) else b"".join(buffer))[0][1]
        return [(row[1][0][1], int(row[1][1][1])) for row in rows]

    def read_energy(self, meter_id: str) -> Any:
        """The active energy import of ``meter_id`` read by a public client (its Data), or None when unanswered."""
        protocol = self.service.factories[meter_id].buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 50000))
        protocol.makeConnection(transport)
        protocol.dataReceived(encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_ENERGY))
        frames = WrapperDecoder().feed(transport.value())
        protocol.connectionLost(None)  # type: ignore[arg-type]
        if len(frames) < 2:
            return None
        response = services.decode_response(frames[1].apdu)
        return axdr.decode_data(response.result)[0]


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90s", "10m", "1h", "500ms", "1m30s", 12, 1.5)] == \
        [90, 600, 3600, 0.5, 90, 12, 1.5]
    for bad in ("", "ten", "10x", "-5s", True, -1):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_selectors_are_seeded_nested_and_in_lab_order() -> None:
    lab = parse_lab(LAB)
    scenario = parse_scenario(SCENARIO.format(seed=3), "s.toml", lab)
    outage = scenario.steps[0].selector
    chosen = select(lab, outage, 3)
    assert len(chosen) == 3 and all(m.startswith("a-") for m in chosen)
    assert chosen == sorted(chosen, key=lambda m: int(m[2:])) and chosen == select(lab, outage, 3)
    assert select(lab, outage, 4) != chosen
    wider = parse_scenario(SCENARIO.format(seed=3).replace('"a:30%"', '"a:60%"'), "s.toml", lab).steps[0].selector
    assert set(chosen) < set(select(lab, wider, 3))
    fleet = parse_scenario(SCENARIO.format(seed=3).replace('"a:30%"', '["50%", "b:2"]'), "s.toml", lab)
    assert len(set(select(lab, fleet.steps[0].selector, 3)) - {"b-2"}) in (6, 7)
    assert select(lab, scenario.steps[2].selector, 3) == ["b-0", "b-1"]
    many = parse_lab("".join(f"[meters:g{index}]\ncount = 1\nport = {4600 + index}\n\n" for index in range(12))
                     + "[association:public]\nclient_sap = 16\n")
    reversed_groups = parse_selector([f"g{index}" for index in reversed(range(12))], many)
    assert groups_of(reversed_groups, many) == [f"g{index}" for index in range(12)]


def test_each_step_happens_at_its_time_on_the_selected_meters(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(monkeypatch)
    everyone = set(lab.service.factories)
    outage = set(select(lab.config, lab.scenario.steps[0].selector, 3))
    assert lab.runner.status()["state"] == "running" and lab.runner.status()["next"] == 1

    lab.at(9.999)
    assert lab.online() == everyone and lab.capture.scenario == {}
    lab.at(10)
    assert lab.online() == everyone - outage and not outage & lab.listening()
    assert lab.capture.scenario == dict.fromkeys(outage, "outage")

    meter = lab.service.factories["b-1"].meter
    lab.at(14.9)
    assert meter.now() == lab.reactor.seconds()
    lab.at(15)
    assert meter.now() == lab.reactor.seconds() + 3600 and meter.clock_offset == 0.0 and not meter.changed
    assert lab.service.factories["b-0"].meter.now() == lab.reactor.seconds()

    lab.at(20)
    for meter_id in ("b-0", "b-1"):
        assert lab.service.factories[meter_id].faults.timeout_rate == 1.0
        assert lab.read_energy(meter_id) is None
    assert lab.service.factories["b-2"].faults is None
    assert lab.capture.scenario["b-1"] == "3-fault"

    pushes = len(lab.reactor.tcpClients)
    logs = {"a-0": "0.0.99.98.2.255", "b-3": "0.0.99.98.0.255"}
    before = {meter_id: lab.events(meter_id, log) for meter_id, log in logs.items()}
    lab.at(25)
    for meter_id in ("a-0", "b-3"):
        assert lab.service.factories[meter_id].meter.events[-1].kind == coded(101)
    # One more entry, code 101, in the log that takes it: IS 15959's power failure log, the DLMS generic
    # standard event log.
    for meter_id, log in logs.items():
        after = lab.events(meter_id, log)
        assert after[:-1][-1:] == before[meter_id][-1:] and after[-1][1] == 101, (before[meter_id][-3:], after[-3:])
    assert lab.service.factories["a-1"].meter._events is None
    lab.at(26 + 300)  # past the alarm push setup's randomisation interval
    # b-3 (dlms-generic) pushes its alarm push setup; a-0's model has none, so it only logs the event.
    assert [(host, port) for host, port, *_ in lab.reactor.tcpClients[pushes:]] == [("127.0.0.1", 4058)]


def test_durations_end_steps_and_values_are_fixed_until_then(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(monkeypatch)
    everyone = set(lab.service.factories)
    before = lab.read_energy("a-9")
    lab.at(29.9)
    assert lab.online() != everyone
    lab.at(30)
    # The outage (10 s + 20 s) and the fault (20 s + 10 s) ended; the value is fixed.
    assert lab.online() == everyone and everyone == lab.listening()
    assert lab.service.factories["b-0"].faults is None and lab.read_energy("b-0") is not None
    assert lab.read_energy("a-9") == (DataType.DOUBLE_LONG_UNSIGNED, 4242)
    # The fault ended on b-1; its clock jump (no duration) is still in force and marks it again.
    assert lab.capture.scenario == {"a-9": "stuck", "a-0": "power-failure", "b-3": "power-failure",
                                    "b-1": "2-clock-jump"}
    lab.at(34.9)
    assert lab.read_energy("a-9") == (DataType.DOUBLE_LONG_UNSIGNED, 4242)
    lab.at(35)
    assert lab.read_energy("a-9") != (DataType.DOUBLE_LONG_UNSIGNED, 4242)
    assert lab.read_energy("a-9")[0] == before[0] == DataType.DOUBLE_LONG_UNSIGNED

    lab.at(40)
    assert all(lab.service.factories[f"b-{i}"].security.keys["reader"]["lls_password"] == b"NEWPASS1"
               for i in range(4))
    status = lab.runner.status()
    assert status["state"] == "finished" and status["next"] is None and status["elapsed"] == 40.0
    assert [(s["name"], s["hits"], s["ran"]) for s in status["steps"]] == [
        ("outage", 3, True), ("2-clock-jump", 1, True), ("3-fault", 2, True), ("power-failure", 2, True),
        ("stuck", 1, True), ("6-key-change", 4, True)]


OVERLAPPING = """
[[step]]
at = "1s"
meters = "a:0"
action = "offline"
duration = "10s"

[[step]]
at = "5s"
meters = "a:0..1"
action = "offline"
duration = "20s"

[[step]]
at = "6s"
meters = "a:0"
action = "alarm"
code = 101

[[step]]
at = "7s"
meters = "b:0"
action = "fault"
faults = "timeout:1"
duration = "10s"

[[step]]
at = "8s"
meters = "b:0"
action = "fault"
faults = "timeout:0.5"
duration = "20s"

[[step]]
at = "9s"
meters = "a:5"
action = "value"
obis = "1.0.1.8.0.255"
value = 111
duration = "10s"

[[step]]
at = "10s"
meters = "a:5"
action = "value"
obis = "1.0.1.8.0.255"
value = 222
duration = "2s"
"""


def test_overlapping_steps_give_way_to_the_latest_still_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(monkeypatch, text=OVERLAPPING)
    lab.at(6)
    # The alarm is momentary: the offline step in force still marks the meter.
    assert lab.capture.scenario["a-0"] == "2-offline"
    lab.at(10)
    assert lab.read_energy("a-5") == (DataType.DOUBLE_LONG_UNSIGNED, 222)
    lab.at(12)
    # Step 1 ended; step 2 still holds a-0 offline.
    assert "a-0" not in lab.online() and lab.capture.scenario["a-0"] == "2-offline"
    # The second value ended: the first one, still in force, is served again.
    assert lab.read_energy("a-5") == (DataType.DOUBLE_LONG_UNSIGNED, 111)
    assert lab.capture.scenario["a-5"] == "6-value"
    lab.at(17)
    assert lab.service.factories["b-0"].faults.timeout_rate == 0.5 and lab.capture.scenario["b-0"] == "5-fault"
    lab.at(19)
    assert lab.read_energy("a-5") != (DataType.DOUBLE_LONG_UNSIGNED, 111) and "a-5" not in lab.capture.scenario
    lab.at(25)
    assert "a-0" in lab.online() and "a-1" in lab.online()
    assert lab.capture.scenario["a-0"] == "3-alarm" and "a-1" not in lab.capture.scenario
    lab.at(28)
    assert lab.service.factories["b-0"].faults is None and "b-0" not in lab.capture.scenario


def test_pause_holds_the_timeline_and_reset_undoes_the_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(monkeypatch)
    everyone = set(lab.service.factories)
    lab.at(12)
    lab.runner.pause()
    assert lab.runner.status()["elapsed"] == 12.0
    lab.at(100)
    assert lab.service.factories["b-1"].meter.clock_jump == 0.0  # the jump at 15 s waits
    lab.runner.start()
    lab.reactor.advance(3)
    assert lab.service.factories["b-1"].meter.clock_jump == 3600.0
    lab.reactor.advance(5)  # 20 s of the scenario: the fault
    assert lab.runner.status()["elapsed"] == 20.0
    assert lab.service.factories["b-0"].faults is not None and lab.online() != everyone
    lab.runner.reset()
    assert lab.online() == everyone and lab.service.factories["b-0"].faults is None
    assert lab.service.factories["b-1"].meter.clock_jump == 0.0 and lab.capture.scenario == {}
    status = lab.runner.status()
    assert status["state"] == "idle" and not any(s["ran"] for s in status["steps"])
    with pytest.raises(ValueError):
        lab.runner.pause()


def _polled(seed: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str, str | None, str]]:
    """Every meter read once a second for 45 s across the scenario; the packet
    log's (time offset, meter, step, result) of every record."""
    lab = Lab(monkeypatch, seed)
    for second in range(46):
        lab.at(second)
        for meter_id in sorted(lab.service.factories):
            if lab.service.factories[meter_id].online:
                lab.read_energy(meter_id)
    lab.reactor.advance(0)
    # As the packet log writer has them, after crossing a worker's channel.
    records = [json.loads(json.dumps(packet_record(e, describe=False)))
               for e in decode_exchanges(encode_exchanges(lab.records))]
    return [(round(datetime.datetime.fromisoformat(record["time_req"]).timestamp() - NOW, 6), record["meter"],
             record["scenario"], record["result"]) for record in records]


def test_the_same_seed_gives_the_same_packet_log(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _polled(3, monkeypatch)
    assert first == _polled(3, monkeypatch)
    assert first != _polled(4, monkeypatch)
    steps = {(step, result) for _, _, step, result in first}
    assert {("3-fault", "fault-timeout"), ("stuck", "success"), ("power-failure", "success"),
            (None, "success")} <= steps
    # A meter the outage took offline has no record while it lasts, and the mark once it is back.
    down = [m for m in select(parse_lab(LAB), parse_scenario(SCENARIO.format(seed=3), "s", parse_lab(LAB)).steps[0]
                                                              .selector, 3)]
    assert not [r for r in first if r[1] in down and 10 < r[0] < 30]
    assert [r for r in first if r[1] == down[0] and r[0] >= 30 and r[3] == "success"][0][2] is None


@pytest.mark.parametrize(("text", "where"), [
    ("seed = 1\nsped = 2\n", "storm.toml sped: unknown key"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'explode'\n", "storm.toml step 1 action: one of offline"),
    ("[[step]]\nmeters = 'a'\naction = 'offline'\n", "storm.toml step 1 (1-offline) at: required"),
    ("[[step]]\nat = 'soon'\nmeters = 'a'\naction = 'offline'\n", "step 1 (1-offline) at: expected a duration"),
    ("[[step]]\nat = '1s'\nmeters = 'c'\naction = 'offline'\n", "step 1 (1-offline) meters: no meter group 'c'"),
    ("[[step]]\nat = '1s'\nmeters = 'a:3..12'\naction = 'offline'\n", "meters: 'a:3..12': group a has meters 0..9"),
    ("[[step]]\nat = '1s'\nmeters = 'a:120%'\naction = 'offline'\n", "meters: a percentage 0% to 100%"),
    ("[[step]]\nname = 'x'\nat = '1s'\nmeters = 'a'\naction = 'fault'\nfaults = 'drip:1'\n",
     "step 1 (x) faults: unknown fault 'drip'"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'fault'\nfaults = 'offline:5%'\n", "faults: offline is not"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'fault'\n", "step 1 (1-fault) faults: required by the fault"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'offline'\nseconds = 3\n", "step 1 (1-offline) seconds: not a key"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'alarm'\ncode = 70000\n", "step 1 (1-alarm) code: an event code"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'clock-jump'\nseconds = 0\n", "seconds: a number of seconds"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'value'\nobis = '1.0.1.8'\nvalue = 1\n", "obis: not an OBIS"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'key-change'\nassociation = 'utility'\nkeys = {}\n",
     "association: no association 'utility'"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'key-change'\nassociation = 'reader'\nkeys = {pin = '1'}\n",
     "step 1 (1-key-change) keys.pin: one of"),
    ("[[step]]\nname = 'x'\nat = '1s'\nmeters = 'a'\naction = 'online'\n"
     "[[step]]\nname = 'x'\nat = '2s'\nmeters = 'a'\naction = 'online'\n", "step 2 (x) name: another step"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'offline'\nduration = '0s'\n", "duration: more than 0"),
    (f"[[step]]\nname = '{'n' * 65}'\nat = '1s'\nmeters = 'a'\naction = 'offline'\n",
     "storm.toml step 1 name: a name of letters, digits and _ . : - (at most 64)"),
    ("[[step]\n", "storm.toml: not TOML"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'key-change'\nassociation = 'reader'\n"
     "keys = {authentication_key = 'zz'}\n", "step 1 (1-key-change) keys.authentication_key: expected hex digits"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'key-change'\nassociation = 'reader'\n"
     "keys = {lls_password = 'caf\u00e9'}\n", "keys.lls_password: not printable ASCII"),
    # Wrong TOML types and huge or non-finite numbers: one line, never a traceback.
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = ['offline']\n", "step 1 action: one of offline"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'key-change'\nassociation = ['reader']\nkeys = {}\n",
     "step 1 (1-key-change) association: no association ['reader']"),
    (f"[[step]]\nat = {BIG}\nmeters = 'a'\naction = 'offline'\n", "step 1 (1-offline) at: expected a duration of 0"),
    (f"[[step]]\nat = '1s'\nmeters = 'a'\naction = 'offline'\nduration = {BIG}\n", "duration: expected a duration"),
    (f"[[step]]\nat = '{BIG}s'\nmeters = 'a'\naction = 'offline'\n", "at: expected a duration of at most"),
    ("[[step]]\nat = 'inf'\nmeters = 'a'\naction = 'offline'\n", "at: expected a duration such as"),
    ("[[step]]\nat = inf\nmeters = 'a'\naction = 'offline'\n", "at: expected a duration of 0"),
    ("[[step]]\nat = nan\nmeters = 'a'\naction = 'offline'\n", "at: expected a duration of 0"),
    ("[[step]]\nat = '3651d'\nmeters = 'a'\naction = 'offline'\n", "at: expected a duration such as"),
    ("[[step]]\nat = '87601h'\nmeters = 'a'\naction = 'offline'\n", "at: expected a duration of at most"),
    (f"[[step]]\nat = '1s'\nmeters = 'a'\naction = 'clock-jump'\nseconds = {BIG}\n", "seconds: a number of seconds"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'clock-jump'\nseconds = 1e300\n", "seconds: a number of seconds"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'clock-jump'\nseconds = -inf\n", "seconds: a number of seconds"),
    (f"[[step]]\nat = '1s'\nmeters = 'a'\naction = 'value'\nobis = '1.0.1.8.0.255'\nvalue = {BIG}\n",
     "value: a finite number within 64 bits"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'value'\nobis = '1.0.1.8.0.255'\nvalue = nan\n",
     "value: a finite number"),
    ("[[step]]\nat = '1s'\nmeters = 'a'\naction = 'value'\nobis = '1.0.1.8.0.255'\nvalue = inf\n",
     "value: a finite number"),
    (f"seed = {BIG}\n", "storm.toml seed: a whole number within 64 bits"),
    (f"[[step]]\nat = '1s'\nmeters = 'a'\naction = 'online'\nseed = {BIG}\n", "seed: a whole number within 64"),
    (f"seed = {'9' * 5000}\n", "storm.toml: not TOML"),
])
def test_bad_scenarios_are_one_line(text: str, where: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(text, "storm.toml", parse_lab(LAB))
    line = str(error.value)
    assert "\n" not in line and line.startswith("storm.toml") and where in line and len(line) < 300, line


def test_a_missing_or_unreadable_scenario_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^.*storm\.toml: the file does not exist$"):
        load_scenario(str(tmp_path / "storm.toml"), parse_lab(LAB))
    (tmp_path / "latin.toml").write_bytes(b"seed = 1 # caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"latin\.toml: not UTF-8 text \(byte 14\)$"):
        load_scenario(str(tmp_path / "latin.toml"), parse_lab(LAB))


def test_the_example_scenario_fits_the_sample_lab() -> None:
    """etc/storm.toml, as README shows it, against etc/lab.ini: its steps, times and meters."""
    lab = load_lab(str(ROOT / "etc" / "lab.ini"))
    with (ROOT / "etc" / "storm.toml").open() as stream:
        scenario = parse_scenario(stream.read(), "etc/storm.toml", lab)
    assert [(s.name, s.at, s.action) for s in scenario.steps][:3] == [
        ("storm-offline", 600, "offline"), ("clock-jump", 600, "clock-jump"), ("power-failure-alarm", 660, "alarm")]
    assert select(lab, scenario.steps[1].selector, scenario.seed) == ["abt-3"]
    assert len(select(lab, scenario.steps[0].selector, scenario.seed)) == 2
    # Every step, as twistd checks it at start against the models of etc/lab.ini's meters.
    service = LabService(lab, load_registry(), CaptureBus(Clock().callLater), clock=lambda: NOW,
                         reactor=MemoryReactorClock())
    check_scenario(scenario, lab, service.factories)
    assert [s.action for s in scenario.steps] == [
        "offline", "clock-jump", "alarm", "fault", "value", "key-change"]


@pytest.mark.parametrize(("step", "where"), [
    ("obis = '0.0.99.99.99.255'\nvalue = 1", "storm.toml step 1 (fixed) obis: the model of group a has no object"),
    ("obis = '1.0.1.8.0.255'\nvalue = 'lots'",
     "storm.toml step 1 (fixed) value: the attribute is a double-long-unsigned; 'lots' does not fit it (group a)"),
    ("obis = '1.0.1.8.0.255'\nvalue = -5", "value: double-long-unsigned cannot hold -5 (group a)"),
    ("obis = '0.0.1.0.0.255'\nattribute = 99\nvalue = 1",
     "value: attribute 99 of 0000010000ff cannot be read (object-undefined) (group a)"),
    ("obis = '1.0.99.1.0.255'\nvalue = 1", "value: attribute 2 of 0100630100ff is not a simple value (group a)"),
    ("obis = '0.0.40.0.0.255'\nvalue = 1", "value: attribute 2 of 0000280000ff is not a simple value"),
])
def test_value_steps_are_checked_against_the_models(monkeypatch: pytest.MonkeyPatch, step: str, where: str) -> None:
    lab = Lab(monkeypatch)
    text = f"[[step]]\nname = 'fixed'\nat = '1s'\nmeters = 'a:1'\naction = 'value'\n{step}\n"
    with pytest.raises(ScenarioError) as error:
        lab.runner.parse(text, "storm.toml")
    assert "\n" not in str(error.value) and where in str(error.value), str(error.value)
    assert lab.runner.parse(text.replace(step, "obis = '1.0.1.8.0.255'\nvalue = 7"), "ok.toml").steps[0].name == "fixed"


class Channel:
    """A worker's channel that answers Start and every ScenarioApply, and keeps the ScenarioApply calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.transport = SimpleNamespace(pid=4242)

    def callRemote(self, command: Any, **arguments: Any) -> Any:
        if command is Start:
            return succeed({"meters": 4, "listening": 4})
        assert command is ScenarioApply
        self.calls.append(arguments)
        return succeed({"reached": len(arguments["meters"]), "refusal": "",
                        "status": {"meters": {}, "published": 0, "dropped": 0}})


def test_a_step_on_50000_meters_is_one_call_per_worker() -> None:
    """With workers, a step reaches its meters in one ScenarioApply per worker, each with its share."""
    lab = parse_lab("[meters:big]\ncount = 50000\nport = 10000\n\n[association:public]\nclient_sap = 16\n")
    pool = WorkerPool("lab.ini", lab, CaptureBus(Clock().callLater), 4, Clock(), {}, lambda line: None)
    channels = {index: Channel() for index in range(4)}
    pool.channels = channels  # type: ignore[assignment]
    for worker in pool.workers:
        worker.state = "running"
    scenario = parse_scenario("seed = 1\n[[step]]\nat = '1s'\nmeters = '*'\naction = 'offline'\n", "s", lab)
    runner = ScenarioRunner(Clock(), lab, pool, scenario)
    assert len(runner.meters(0)) == 50000
    reached: list[int] = []
    pool.apply_scenario(runner.meters(0), scenario.steps[0].operation(), "1-offline", False).addCallback(
        reached.append)
    assert reached == [50000]
    assert [len(channel.calls) for channel in channels.values()] == [1, 1, 1, 1]
    assert {m for c in channels.values() for m in c.calls[0]["meters"]} == set(runner.meters(0))
    assert all(int(m.rpartition("-")[2]) % 4 == index for index, c in channels.items() for m in c.calls[0]["meters"])


def test_a_worker_started_again_gets_the_state_the_steps_left() -> None:
    """A worker that ended serves its meters from lab.ini again: the steps run so far that left
    something on them (not events or keys, which its saved state has) are done again, in order."""
    lab = parse_lab("[meters:m]\ncount = 8\nport = 10000\n\n[association:public]\nclient_sap = 16\n")
    pool = WorkerPool("lab.ini", lab, CaptureBus(Clock().callLater), 2, Clock(), {}, lambda line: None)
    pool.channels = {index: Channel() for index in range(2)}  # type: ignore[assignment]
    for worker in pool.workers:
        worker.state = "running"
    clock = Clock()
    scenario = parse_scenario("[[step]]\nat = '1s'\nmeters = 'm:0..3'\naction = 'offline'\n"
                              "[[step]]\nat = '2s'\nmeters = 'm'\naction = 'alarm'\ncode = 5\n"
                              "[[step]]\nat = '3s'\nmeters = 'm:1'\naction = 'clock-jump'\nseconds = 60\n"
                              "duration = '1s'\n"
                              "[[step]]\nat = '9s'\nmeters = 'm'\naction = 'online'\n", "s", lab)
    runner = ScenarioRunner(clock, lab, pool, scenario)
    pool.on_restart = runner.replay
    runner.start()
    clock.advance(5)
    worker = pool.workers[1]
    worker.restarts, worker.state = 1, "restarting"
    fresh = Channel()
    pool._started(worker, fresh)  # type: ignore[arg-type]
    assert worker.state == "running"
    assert [(call["step"], call["revert"], call["meters"], call["operation"]) for call in fresh.calls] == [
        ("1-offline", False, ["m-1", "m-3"], {"state": "offline"}),
        ("3-clock-jump", False, ["m-1"], {"clock_jump": 60}),
        ("3-clock-jump", True, ["m-1"], {"clock_jump": -60})]


def test_a_long_scenario_on_a_large_fleet_loads_quickly(tmp_path: Path) -> None:
    """A thousand percentage steps on 50,000 meters rank the fleet once per seed and share one
    selection, a thousand different index ranges cost the meters they hold: each loads in well
    under a second; more steps, or a longer file, are refused."""
    lab = parse_lab("[meters:big]\ncount = 50000\nport = 10000\n\n[association:public]\nclient_sap = 16\n")
    steps = "".join(f"[[step]]\nat = '{index}s'\nmeters = '5%'\naction = 'alarm'\ncode = 7\n" for index in range(1000))
    scenario = parse_scenario("seed = 1\n" + steps, "s", lab)
    target = SimpleNamespace(factories=dict.fromkeys(f"big-{index}" for index in range(50000)))
    began = time.process_time()
    runner = ScenarioRunner(Clock(), lab, target, scenario)  # type: ignore[arg-type]
    assert time.process_time() - began < 1.0
    assert runner.hits == [2500] * 1000 and runner.meters(999) is runner.meters(0)
    ranges = "".join(f"[[step]]\nat = '{index}s'\nmeters = 'big:{index}..49999'\naction = 'alarm'\ncode = 7\n"
                     for index in range(1000))
    began = time.process_time()
    runner = ScenarioRunner(Clock(), lab, target, parse_scenario(ranges, "s", lab))  # type: ignore[arg-type]
    assert time.process_time() - began < 1.0
    assert runner.hits == [50000 - index for index in range(1000)] and runner.meters(999)[0] == "big-999"
    seeds = "".join(f"[[step]]\nat = '{index}s'\nmeters = 'big:50%'\nseed = {index}\naction = 'alarm'\ncode = 7\n"
                    for index in range(1000))
    began = time.process_time()
    runner = ScenarioRunner(Clock(), lab, target, parse_scenario(seeds, "s", lab))  # type: ignore[arg-type]
    assert time.process_time() - began < 1.0 and runner.hits == [25000] * 1000
    assert len(runner.meters(7)) == 25000 and runner.meters(7) != runner.meters(8)
    overlapping = parse_selector(["big:5..20", "big:0..9", "big:30", "big:18..25"], lab)
    assert Selections(lab).count(overlapping, 0) == len(select(lab, overlapping, 0)) == 27
    with pytest.raises(ScenarioError, match=r"^s step: 1001 steps; a scenario has at most 1000$"):
        parse_scenario(steps + steps[:steps.index("[[step]]", 1)], "s", lab)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * MAX_SCENARIO_BYTES + "\n")
    with pytest.raises(ScenarioError, match=r"big\.toml: the file is longer than 262144 bytes$"):
        load_scenario(str(big), lab)


def test_a_reset_a_meter_refuses_resets_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """A meter whose port is taken when it comes back online: every other meter is reset, the marks
    cleared, the runner idle, and the reset fails with one line naming the meter."""
    lab = Lab(monkeypatch)
    everyone = set(lab.service.factories)
    lab.at(21)
    outage = sorted(everyone - lab.online())
    assert len(outage) == 3
    taken = lab.service.factories[outage[0]]

    def open_port(listener: MeterListener) -> MemoryPort:
        if listener.factory is taken:
            raise CannotListenError("127.0.0.1", 4501, OSError("taken"))
        return MemoryPort()

    monkeypatch.setattr(MeterListener, "_open", open_port)
    failures: list[Failure] = []
    lab.runner.reset().addErrback(failures.append)
    assert len(failures) == 1 and failures[0].check(ResetFailed)
    line = failures[0].getErrorMessage()
    assert "\n" not in line and line.startswith(f"the scenario's reset did not finish: meter {outage[0]}: "), line
    assert lab.online() == everyone - {outage[0]} and lab.capture.scenario == {}
    assert lab.service.factories["b-0"].faults is None and lab.runner.state == "idle"


def test_nothing_starts_or_loads_while_a_reset_is_pending() -> None:
    """The workers' reset is pending: start, pause, another reset and an upload are refused with 409;
    a worker's refusal is a 502 of one line."""
    lab = parse_lab(LAB)
    pending: list[Deferred[None]] = []
    target = SimpleNamespace(factories={"a-0": None}, reset_scenario=lambda: pending.append(Deferred()) or pending[-1])
    runner = ScenarioRunner(Clock(), lab, target, parse_scenario(SCENARIO.format(seed=1), "s", lab))  # type: ignore[arg-type]
    app = ConsoleApp.__new__(ConsoleApp)
    app.token, app.scenario = "secret", runner

    def send(path: str, body: bytes = b"") -> Callable[[], tuple[int, dict[str, Any]]]:
        """POST to the scenario's API; the answer (0 while pending)."""
        request = DummyRequest([b""])
        request.method = b"POST"
        request.requestHeaders.addRawHeader(b"authorization", b"Bearer secret")
        request.content = io.BytesIO(body)
        answers: list[bytes] = []
        if path == "upload":
            app.scenario_upload(request).addCallback(answers.append)
        else:
            app.scenario_command(request, path).addCallback(answers.append)
        return lambda: (request.responseCode, json.loads(answers[0])) if answers else (0, {})

    def post(path: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
        return send(path, body)()

    assert post("start")[0] == 200
    assert post("reset") == (0, {}) and runner.state == "resetting"
    for command in ("start", "pause", "reset", "upload"):
        status, answer = post(command, SCENARIO.format(seed=2).encode())
        assert status == 409 and "\n" not in answer["error"], (command, answer)
    assert runner.scenario is not None and runner.scenario.seed == 1
    line = "the scenario's reset did not finish: meter a-0: the port is taken"
    answered = send("reset")
    assert answered()[0] == 409
    pending[0].errback(FirstError(Failure(ReconfigureError("meter a-0: the port is taken")), 0))
    assert runner.state == "idle"
    upload = send("upload", SCENARIO.format(seed=2).encode())
    assert upload() == (0, {}) and runner.state == "resetting"
    pending[1].errback(ReconfigureError("meter a-0: the port is taken"))
    # The reset a meter refused: the scenario is not replaced; one line, 502.
    assert upload() == (502, {"error": line}) and runner.scenario.seed == 1 and runner.state == "idle"
    upload = send("upload", SCENARIO.format(seed=2).encode())
    pending[2].callback(None)
    assert upload()[0] == 201 and runner.scenario.seed == 2


def test_an_event_code_no_log_takes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """IS 15959 logs take codes 1..350, DLMS generic's 1..255: code 300 suits group a, not group b."""
    lab = Lab(monkeypatch)
    text = "[[step]]\nname = 'odd'\nat = '1s'\nmeters = '{meters}'\naction = '{action}'\ncode = {code}\n"
    assert lab.runner.parse(text.format(meters="a", action="event", code=300), "ok.toml").steps[0].name == "odd"
    for meters, action in (("b:1", "event"), ("*", "alarm")):
        with pytest.raises(ScenarioError) as error:
            lab.runner.parse(text.format(meters=meters, action=action, code=300), "storm.toml")
        assert str(error.value) == "storm.toml step 1 (odd) code: no event log of the model takes event code 300 (group b)"
    with pytest.raises(ScenarioError, match=r"takes event code 351 \(group a\)$"):
        lab.runner.parse(text.format(meters="a:2", action="event", code=351), "storm.toml")


def test_key_lengths_are_checked_against_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(monkeypatch)
    text = "[[step]]\nname = 'rekey'\nat = '1s'\nmeters = 'b'\naction = 'key-change'\nassociation = 'reader'\n" \
           "keys = {{ block_cipher_key = '{key}' }}\n"
    with pytest.raises(ScenarioError) as error:
        lab.runner.parse(text.format(key="0011"), "storm.toml")
    assert str(error.value) == ("storm.toml step 1 (rekey) keys.block_cipher_key: 16 bytes for security suite 0, "
                                "not 2 (group b)"), str(error.value)
    assert lab.runner.parse(text.format(key="00" * 16), "ok.toml").steps[0].name == "rekey"


def test_an_offline_meter_pushes_only_its_last_gasp(monkeypatch: pytest.MonkeyPatch) -> None:
    """b-3's alarm push setup pushes when it goes offline (the last gasp), not for an alarm while
    offline; online again, an alarm pushes."""
    lab = Lab(monkeypatch, text="[[step]]\nat = '1s'\nmeters = 'b:3'\naction = 'offline'\nduration = '500s'\n"
                                "[[step]]\nat = '2s'\nmeters = 'b:3'\naction = 'alarm'\ncode = 101\n"
                                "[[step]]\nat = '600s'\nmeters = 'b:3'\naction = 'alarm'\ncode = 101\n")
    pushes = len(lab.reactor.tcpClients)
    lab.at(400)
    assert [(host, port) for host, port, *_ in lab.reactor.tcpClients[pushes:]] == [("127.0.0.1", 4058)]
    lab.at(1000)
    assert len(lab.reactor.tcpClients) - pushes == 2


def test_a_worker_that_refuses_a_reset_fails_it_once_every_worker_answered() -> None:
    lab = parse_lab("[meters:m]\ncount = 4\nport = 10000\n\n[association:public]\nclient_sap = 16\n")
    pool = WorkerPool("lab.ini", lab, CaptureBus(Clock().callLater), 2, Clock(), {}, lambda line: None)
    status = {"meters": {}, "published": 0, "dropped": 0}
    answers = {0: {"refusal": "", "status": status}, 1: {"refusal": "meter m-1: the port is taken", "status": status}}
    asked: list[int] = []

    def channel(index: int) -> SimpleNamespace:
        def call(command: Any, **arguments: Any) -> Any:
            assert command is ScenarioReset
            asked.append(index)
            return succeed(answers[index])
        return SimpleNamespace(callRemote=call, transport=SimpleNamespace(pid=4242))

    pool.channels = {index: channel(index) for index in range(2)}  # type: ignore[assignment]
    for worker in pool.workers:
        worker.state = "running"
    failures: list[Failure] = []
    pool.reset_scenario().addErrback(failures.append)
    assert sorted(asked) == [0, 1] and len(failures) == 1
    assert failures[0].check(ReconfigureError) and failures[0].getErrorMessage() == "meter m-1: the port is taken"
    answers[1]["refusal"] = ""
    done: list[object] = []
    pool.reset_scenario().addCallback(done.append)
    assert done == [None]

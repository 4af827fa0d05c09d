"""What a user changes on a meter survives a restart: the clock offset and
values set by clients are saved in state_dir and restored at start."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from twisted.internet.task import Clock

from dlmstw.codec import services
from dlmstw.codec.axdr import CosemDateTime
from dlmstw.codec.services import CosemAttributeDescriptor, SetRequestNormal, SetResponseNormal
from dlmstw.config import parse_lab
from dlmstw.enums import DataAccessResult, DataType
from dlmstw.monitor.capture import CaptureBus
from dlmstw.plugins.registry import load_registry
from dlmstw.server.service import LabService
from dlmstw.server.state import StateStore

from test_server import AARQ

LAB = """
[meters:abt]
count = 2
load_profile_days = 1

[association:reader]
client_sap = 32
authentication = none
access = read-write
"""
NOW = 1_767_225_600.0
CLOCK_TIME = CosemAttributeDescriptor(8, bytes((0, 0, 1, 0, 0, 255)), 2)
PERIOD = CosemAttributeDescriptor(5, bytes((1, 0, 1, 4, 0, 255)), 8)


def lab(clock: Clock) -> LabService:
    return LabService(parse_lab(LAB), load_registry(), CaptureBus(clock.callLater), clock=lambda: NOW)


def set_attribute(service: LabService, attribute: CosemAttributeDescriptor, value: tuple[DataType, object]) -> object:
    session = service.factories["abt-0"].session(32)
    session.receive(AARQ).answer
    answer = session.receive(services.encode_request(SetRequestNormal(0xC1, attribute, None, value))).answer
    return services.decode_response(answer or b"")


def test_changes_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = lab(clock)
    store = StateStore(str(tmp_path), [f.meter for f in first.factories.values()], clock)
    store.startService()
    ist = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    one_hour_later = CosemDateTime.from_datetime(datetime.datetime(2026, 1, 1, 6, 30, tzinfo=ist)).to_bytes()
    assert set_attribute(first, CLOCK_TIME, (DataType.OCTET_STRING, one_hour_later)) == \
        SetResponseNormal(0xC1, DataAccessResult.SUCCESS)
    assert set_attribute(first, PERIOD, (DataType.DOUBLE_LONG_UNSIGNED, 1800)) == \
        SetResponseNormal(0xC1, DataAccessResult.SUCCESS)
    clock.advance(1.0)
    saved = json.loads((tmp_path / "abt-0.json").read_text())
    assert saved["clock_offset"] == 3600.0
    assert not (tmp_path / "abt-1.json").exists()
    store.stopService()

    second = lab(Clock())
    meter = second.factories["abt-0"].meter
    assert meter.clock_offset == 0.0
    StateStore(str(tmp_path), [f.meter for f in second.factories.values()], Clock()).load()
    assert meter.clock_offset == 3600.0 and meter.now() == NOW + 3600
    assert meter.values[(PERIOD.instance_id, 8)] == (DataType.DOUBLE_LONG_UNSIGNED, 1800)
    assert not meter.changed


def test_profile_resets_and_events_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = lab(clock)
    meter = first.factories["abt-0"].meter
    profile = bytes((1, 0, 99, 1, 0, 255))
    meter.object_state[(profile, "reset")] = NOW - 600
    meter.object_state[(profile, "captures")] = (NOW - 300, NOW - 200)
    meter.object_state[(b"", "maximum-demand")] = {NOW: (1.0,)}
    meter.record("disconnect")
    store = StateStore(str(tmp_path), [meter], clock)
    store.save()
    second = lab(Clock()).factories["abt-0"].meter
    StateStore(str(tmp_path), [second], Clock()).load()
    assert second.object_state == {(profile, "reset"): NOW - 600, (profile, "captures"): (NOW - 300, NOW - 200)}
    assert [(o.t, o.kind) for o in second.events] == [(NOW, "disconnect")]

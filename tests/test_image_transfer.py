"""Image transfer (class 18, Blue Book 4.4.6) without sockets: a meter served in-process with
its edge on a test clock and a temporary state_dir. The image lives in the state_dir file, the
transfer state in the meter's saved state (a restart resumes it), a waiting activation completes
at the next start, the faults' draws repeat, and bad lab.ini values are one-line errors."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock

from dlmstw.codec.obis import parse_obis
from dlmstw.config import ConfigError, parse_lab
from dlmstw.cosem.classes.image_transfer import IMAGE_BLOCK_SIZE
from dlmstw.enums import ActionResult, DataType
from dlmstw.server.edge import MeterEdge

from interop_support import LocalMeter

NOW = 1_780_000_000.0
IMAGE = "0.0.44.0.0.255"


def ini(extra: str = "", delay: str = "30") -> str:
    return f"""
[meters:m]
model = dlms-generic
port = 4100
load_profile_days = 1
activation_delay = {delay}
{extra}

[association:utility]
client_sap = 1
access = full
"""


class Connections:
    """The meter's factory as its edge sees it: online, one open connection, which the restart aborts."""

    def __init__(self) -> None:
        self.aborted = 0
        self.online = True
        self.protocols = [SimpleNamespace(transport=SimpleNamespace(abortConnection=self.abort))]

    def abort(self) -> None:
        self.aborted += 1


def served(tmp_path: Path, extra: str = "") -> tuple[LocalMeter, MeterEdge, MemoryReactorClock, Connections]:
    reactor = MemoryReactorClock()
    meter = LocalMeter(ini(extra), now=NOW)
    connections = Connections()
    edge = MeterEdge(reactor, meter.runtime, meter.directory,  # type: ignore[arg-type]
                     SimpleNamespace(stop=lambda: None, push=lambda request: None),
                     str(tmp_path), connections)
    meter.runtime.edge = edge
    edge.start()
    return meter, edge, reactor, connections


def initiate(meter: LocalMeter, identifier: bytes, size: int) -> Any:
    return meter.action(IMAGE, 18, 1, (DataType.STRUCTURE, [(DataType.OCTET_STRING, identifier),
                                                          (DataType.DOUBLE_LONG_UNSIGNED, size)]))[0]


def block(meter: LocalMeter, image: bytes, number: int) -> Any:
    value = image[number * IMAGE_BLOCK_SIZE:(number + 1) * IMAGE_BLOCK_SIZE]
    return meter.action(IMAGE, 18, 2, (DataType.STRUCTURE, [(DataType.DOUBLE_LONG_UNSIGNED, number),
                                                          (DataType.OCTET_STRING, value)]))[0]


def status(meter: LocalMeter) -> int:
    return meter.get(IMAGE, 18, 6)[1]


IMAGE_BYTES = bytes(range(200)) * 7
SIGNED = IMAGE_BYTES + hashlib.sha256(IMAGE_BYTES).digest()
BLOCKS = -(-len(SIGNED) // IMAGE_BLOCK_SIZE)


def test_the_image_is_on_disk_and_the_state_survives_a_restart(tmp_path: Path) -> None:
    meter, _, _, _ = served(tmp_path)
    assert initiate(meter, b"FW-9", len(SIGNED)) == ActionResult.SUCCESS
    for number in (0, 2):
        assert block(meter, SIGNED, number) == ActionResult.SUCCESS
    assert (tmp_path / "images" / "m-0.img").stat().st_size <= len(SIGNED)
    saved = meter.runtime.state()
    again, _, _, _ = served(tmp_path)
    again.runtime.restore(saved)
    assert again.get(IMAGE, 18, 4) == (DataType.DOUBLE_LONG_UNSIGNED, 1)
    assert initiate(again, b"FW-9", len(SIGNED)) == ActionResult.SUCCESS
    assert again.get(IMAGE, 18, 4) == (DataType.DOUBLE_LONG_UNSIGNED, 1)
    for number in range(1, BLOCKS):
        if number != 2:
            assert block(again, SIGNED, number) == ActionResult.SUCCESS
    assert again.action(IMAGE, 18, 3, (DataType.INTEGER, 0))[0] == ActionResult.SUCCESS


def test_a_wrong_block_is_refused(tmp_path: Path) -> None:
    """A block number beyond the image, a block of the wrong length, or a block before any
    initiate: other-reason; nothing is written."""
    meter, _, _, _ = served(tmp_path)
    assert block(meter, SIGNED, 0) == ActionResult.OTHER_REASON
    initiate(meter, b"FW-9", len(SIGNED))
    assert block(meter, SIGNED, BLOCKS) == ActionResult.OTHER_REASON
    assert block(meter, SIGNED[:-1], BLOCKS - 1) == ActionResult.OTHER_REASON
    assert meter.action(IMAGE, 18, 2, (DataType.INTEGER, 0))[0] == ActionResult.TYPE_UNMATCHED
    assert meter.get(IMAGE, 18, 4) == (DataType.DOUBLE_LONG_UNSIGNED, 0)


def test_image_transfer_enabled_false_refuses_the_methods(tmp_path: Path) -> None:
    meter, _, _, _ = served(tmp_path)
    meter.set(IMAGE, 18, 5, (DataType.BOOLEAN, False))
    assert initiate(meter, b"FW-9", len(SIGNED)) == ActionResult.OTHER_REASON


def test_activation_waits_its_delay_then_restarts_the_meter(tmp_path: Path) -> None:
    """Status (5) for activation_delay seconds; then the connections drop, the firmware
    identifier changes, status (6), and the meter has recorded the image ready for activation
    (verified by the activation), power down, firmware activated and power up."""
    meter, _, reactor, connections = served(tmp_path)
    initiate(meter, b"FW-9", len(SIGNED))
    for number in range(BLOCKS):
        block(meter, SIGNED, number)
    assert meter.action(IMAGE, 18, 4, (DataType.INTEGER, 0))[0] == ActionResult.SUCCESS
    assert status(meter) == 5
    reactor.advance(29)
    assert connections.aborted == 0 and status(meter) == 5
    reactor.advance(1)
    assert connections.aborted == 1
    assert status(meter) == 6
    assert meter.get("1.0.0.2.0.255", 1, 2) == (DataType.OCTET_STRING, b"FW-9")
    assert [o.kind for o in meter.runtime.events] == ["firmware-ready", "power-down", "firmware-activated",
                                                      "power-up"]


def test_an_activation_cut_short_by_a_stop_completes_at_the_next_start(tmp_path: Path) -> None:
    meter, edge, reactor, _ = served(tmp_path)
    initiate(meter, b"FW-9", len(SIGNED))
    for number in range(BLOCKS):
        block(meter, SIGNED, number)
    meter.action(IMAGE, 18, 4, (DataType.INTEGER, 0))
    edge.stop()
    reactor.advance(60)
    assert status(meter) == 5
    again, _, _, _ = served(tmp_path)
    again.runtime.restore(meter.runtime.state())
    again.runtime.edge.start()  # type: ignore[union-attr]
    assert status(again) == 6
    assert again.get("0.0.0.2.0.255", 1, 2) == (DataType.OCTET_STRING, b"FW-9")


def test_the_faults_draws_repeat(tmp_path: Path) -> None:
    """image-verify-fail:0.5 fails about half the attempts, the same ones on every run."""
    first, _, _, _ = served(tmp_path, "faults = image-verify-fail:0.5")
    second, _, _, _ = served(tmp_path, "faults = image-verify-fail:0.5")
    draws = [first.runtime.fails("image-verify-fail", n) for n in range(1, 201)]
    assert draws == [second.runtime.fails("image-verify-fail", n) for n in range(1, 201)]
    assert 60 < sum(draws) < 140
    assert not any(first.runtime.fails("image-activate-fail", n) for n in range(1, 50))


def test_a_configured_digest_is_checked(tmp_path: Path) -> None:
    """image_digest = <SHA-256>: only that image verifies."""
    meter, _, _, _ = served(tmp_path, f"image_digest = {hashlib.sha256(IMAGE_BYTES).hexdigest()}")
    initiate(meter, b"FW-9", len(SIGNED))
    for number in range(BLOCKS):
        block(meter, SIGNED, number)
    assert meter.action(IMAGE, 18, 3, (DataType.INTEGER, 0))[0] == ActionResult.OTHER_REASON
    assert status(meter) == 4
    initiate(meter, b"FW-A", len(IMAGE_BYTES))
    for number in range(-(-len(IMAGE_BYTES) // IMAGE_BLOCK_SIZE)):
        block(meter, IMAGE_BYTES, number)
    assert meter.action(IMAGE, 18, 3, (DataType.INTEGER, 0))[0] == ActionResult.SUCCESS
    assert meter.get(IMAGE, 18, 7)[1][0][1][2] == (DataType.OCTET_STRING, hashlib.sha256(IMAGE_BYTES).digest())


@pytest.mark.parametrize("line, delay, problem", [
    ("image_digest = md5", "30", "expected sha256-trailer, none or a SHA-256"),
    ("image_max_size = lots", "30", "expected a size"),
    ("", "soon", "expected a duration"),
    ("faults = image-verify-fail:2", "30", "image-verify-fail"),
])
def test_bad_image_settings_are_one_line_errors(line: str, delay: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_lab(ini(line, delay))
    assert problem in str(error.value)
    assert "\n" not in str(error.value)


def test_the_models_have_an_image_transfer_object() -> None:
    for model in ("is15959-abt", "is15959-household", "dlms-generic"):
        meter = LocalMeter(ini().replace("dlms-generic", model), now=NOW)
        assert parse_obis(IMAGE) in meter.directory.objects
        assert meter.get("0.0.0.2.0.255", 1, 2)[1].startswith(b"dlmstw ")


def test_a_failed_activation_is_recorded_and_pushes_the_alarm(tmp_path: Path) -> None:
    """image-activate-fail: status (7), the old firmware stays, the meter records the failure
    after the verification that made the image ready, and the alarm push setup pushes (for the
    failure only)."""
    meter, edge, _, _ = served(tmp_path, "faults = image-activate-fail:1.0")
    pushed: list[Any] = []
    edge.sender = SimpleNamespace(stop=lambda: None, push=pushed.append)  # type: ignore[assignment]
    initiate(meter, b"FW-9", len(SIGNED))
    for number in range(BLOCKS):
        block(meter, SIGNED, number)
    assert meter.action(IMAGE, 18, 4, (DataType.INTEGER, 0))[0] == ActionResult.OTHER_REASON
    assert status(meter) == 7
    assert [o.kind for o in meter.runtime.events] == ["firmware-ready", "firmware-activation-failed"]
    assert [request.push_setup for request in pushed] == [parse_obis("0.4.25.9.0.255")]

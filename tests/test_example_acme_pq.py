"""examples/acme-pq, a third party's package (README "Extending"): its
interface class and object set serve power-quality values from the meter's
simulator, and once pip has installed it beside dlmstw in a fresh virtual
environment, ``twistd -n dlmssim`` serves its lab.ini and the unmodified
gurux-dlms client reads its objects over TCP."""

from __future__ import annotations

import configparser
import importlib
import io
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from gurux_dlms.objects import GXDLMSData, GXDLMSObject, GXDLMSRegister
from interop_support import PUBLIC_CLIENT, LocalMeter, MeterSession, find_free_port_range, launch_lab, stop_lab

from dlmstw.enums import DataType, Unit
from dlmstw.plugins.registry import load_registry

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "acme-pq"
LAB_INI = (EXAMPLE / "lab.ini").read_text()
NOW = 1_767_225_600.0 + 50_000  # 2026-01-01T13:53:20Z, 19:23:20 in IST (the ABT meters' time)
IST = 19800
FLICKER = "1.0.128.7.0.255"
FLICKER_CLASS = 8192
PHASES = ((1, 32, 31), (2, 52, 51), (3, 72, 71))  # phase, value group C of its voltage and its current


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example's ``acme_pq.objects``, imported from its folder."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return importlib.import_module("acme_pq.objects")


def local_meter(objects: ModuleType) -> LocalMeter:
    """The first meter of the example's lab.ini in-process, at NOW, with the example's plugins."""
    flicker = importlib.import_module("acme_pq.flicker")
    installed = load_registry()
    registry = replace(installed, classes={**installed.classes, FLICKER_CLASS: flicker.FlickerSeverity()},
                       object_sets={**installed.object_sets, "acme-pq": objects.AcmePowerQuality()})
    return LocalMeter(LAB_INI, now=NOW, access="read", registry=registry)


def test_sags_and_swells_count_the_limit_crossings_since_local_midnight(acme: ModuleType) -> None:
    meter = local_meter(acme)
    simulator = meter.runtime.simulator
    step = acme.VOLTAGE_GRID
    midnight = NOW - (NOW + IST) % 86400
    grid = range(int(midnight) + step, int(NOW) + 1, step)
    counted = 0
    for phase, voltage, _ in PHASES:
        def share(t: float, phase: int = phase) -> float:
            return float(getattr(simulator.instantaneous(t), f"voltage_l{phase}")) / simulator.rated.voltage
        sags = sum(1 for g in grid if share(g) < acme.SAG_LIMIT <= share(g - step))
        swells = sum(1 for g in grid if share(g) > acme.SWELL_LIMIT >= share(g - step))
        assert meter.get(f"1.0.{voltage}.32.0.255", 1, 2) == (DataType.LONG_UNSIGNED, sags)
        assert meter.get(f"1.0.{voltage}.36.0.255", 1, 2) == (DataType.LONG_UNSIGNED, swells)
        counted += sags + swells
    assert counted, "the simulated day has no sag and no swell to count"


def test_long_term_flicker_aggregates_twelve_short_term_intervals(acme: ModuleType) -> None:
    """Plt is the cube root of the mean cube of the last 12 Pst (IEC 61000-4-15)."""
    meter = local_meter(acme)
    assert meter.get(FLICKER, FLICKER_CLASS, 4) == (DataType.STRUCTURE, [(DataType.INTEGER, -3),
                                                                          (DataType.ENUM, Unit.COUNT)])
    long_term = [value for _, value in meter.get(FLICKER, FLICKER_CLASS, 3)[1]]
    intervals = []
    for k in range(12):
        meter.now = NOW - 600 * k
        intervals.append([value / 1000 for _, value in meter.get(FLICKER, FLICKER_CLASS, 2)[1]])
    assert len({tuple(pst) for pst in intervals}) > 1, "Pst does not change between intervals"
    for plt, phase in zip(long_term, zip(*intervals)):
        assert abs(plt - 1000 * (sum(pst ** 3 for pst in phase) / 12) ** (1 / 3)) <= 1


def moved(ini_text: str, port: int, directory: Path) -> str:
    """The example's lab.ini on ``port`` and a free console port, its state and log in ``directory``."""
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    parser.read_string(ini_text)
    parser["simulator"].update(console="tcp:0:interface=127.0.0.1", state_dir=str(directory / "state"),
                               packet_log=str(directory / "packets.jsonl"))
    parser["meters:pq"]["port"] = str(port)
    text = io.StringIO()
    parser.write(text)
    return text.getvalue()


def test_installed_with_pip_it_is_served_by_twistd_and_read_by_gurux(tmp_path: Path) -> None:
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    example = shutil.copytree(EXAMPLE, tmp_path / "acme-pq")  # pip builds it there, not in the checkout
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(REPO), str(example)], check=True, cwd=tmp_path, capture_output=True, timeout=300)
    port = find_free_port_range(2)
    directory = tmp_path / "lab"
    directory.mkdir()
    # The venv's own dlmstw and plugins, not the checkout's.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    lab = launch_lab(directory, moved(LAB_INI, port, directory), (port, port + 1), str(python), env)
    try:
        with MeterSession(port, PUBLIC_CLIENT) as session:
            raw, _ = session.read_object_list()
            listed = {(bytes(entry[2]), int(entry[0]), int(entry[1])) for entry in raw}
            flicker = GXDLMSObject(FLICKER_CLASS, FLICKER)
            short_term = session.read_raw(flicker, 2)
            long_term = session.read_raw(flicker, 3)
            scaler_unit = session.read_raw(flicker, 4)
            current, voltage_thd, current_thd = session.read_list([
                (GXDLMSRegister("1.0.31.7.0.255"), 2), (GXDLMSRegister("1.0.32.7.124.255"), 2),
                (GXDLMSRegister("1.0.31.7.124.255"), 2)])
            thd_scaler_unit = session.read_raw(GXDLMSRegister("1.0.32.7.124.255"), 3)
            counts = [session.read_raw(GXDLMSData(f"1.0.{c}.{d}.0.255"), 2) for _, c, _ in PHASES for d in (32, 36)]
    finally:
        stop_lab(lab)
    assert (bytes((1, 0, 128, 7, 0, 255)), FLICKER_CLASS, 0) in listed
    for _, voltage, current_c in PHASES:
        assert (bytes((1, 0, voltage, 7, 124, 255)), 3, 0) in listed
        assert (bytes((1, 0, current_c, 7, 124, 255)), 3, 0) in listed
        assert (bytes((1, 0, voltage, 32, 0, 255)), 1, 0) in listed
    assert (bytes((1, 0, 1, 8, 0, 255)), 3, 0) in listed, "the IS 15959 ABT objects are there too"
    assert len(short_term) == len(long_term) == 3
    assert all(150 <= value < 5000 for value in [*short_term, *long_term])
    assert list(scaler_unit) == [-3, Unit.COUNT]
    assert list(thd_scaler_unit) == [-2, Unit.PERCENTAGE]
    # One GET-with-list reads one instant: the THD follow the current of L1 (rated 1 A).
    load = current / 1000
    assert abs(voltage_thd - 100 * (1.2 + 2.0 * min(load, 2.0))) <= 1
    assert abs(current_thd - 100 * (4.0 + 16.0 / (1.0 + 5.0 * load))) <= 5
    assert all(isinstance(count, int) and count >= 0 for count in counts)

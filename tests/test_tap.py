"""``twistd dlmssim``'s options only parse and check the lab; ``makeService``
builds it (the start errors of a real twistd are in test_operations_errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmstw import tap
from dlmstw.server.scenario import ScenarioRunner
from dlmstw.server.service import LabService
from dlmstw.server.workers import WorkerPool


def lab_ini(directory: Path, model: str = "is15959-abt", workers: int = 1) -> Path:
    path = directory / "lab.ini"
    path.write_text(f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
                    f"packet_log = -\nworkers = {workers}\n\n[meters:abt]\ncount = 3\nport = 4059\nmodel = {model}\n\n"
                    "[association:public]\nclient_sap = 16\n")
    return path


def test_options_check_the_lab_and_build_nothing(tmp_path: Path) -> None:
    options = tap.Options()
    options.parseOptions(["-c", str(lab_ini(tmp_path))])
    assert [group.name for group in options.lab.groups] == ["abt"] and options.workers == 1
    assert "is15959-abt" in options.registry.object_sets
    assert not [name for name, value in vars(options).items() if isinstance(value, (LabService, WorkerPool))]
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(("workers", "kind", "meters"), [(1, LabService, 3), (2, WorkerPool, 3)])
def test_make_service_builds_the_lab(tmp_path: Path, workers: int, kind: type, meters: int) -> None:
    options = tap.Options()
    options.parseOptions(["-c", str(lab_ini(tmp_path, workers=workers))])
    root = tap.makeService(options)
    *_, lab, scenario = list(root)  # type: ignore[call-overload]
    assert isinstance(lab, kind) and len(lab.factories) == meters and not root.running
    # The scenario runner comes last, so that it stops first, and drives the meters.
    assert isinstance(scenario, ScenarioRunner) and scenario.target is lab and scenario.scenario is None
    if isinstance(lab, WorkerPool):
        assert lab.on_restart == scenario.replay  # a worker started again gets the steps run so far


def test_a_model_no_plugin_provides_stops_at_the_options(tmp_path: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    path = lab_ini(tmp_path, model="no-such-model")
    with pytest.raises(SystemExit) as stopped:
        tap.Options().parseOptions(["-c", str(path)])
    assert stopped.value.code == 1
    line = capfd.readouterr().err
    assert line.startswith(f"dlmssim: {path} [meters:abt] model: no object set named 'no-such-model'")
    assert line.count("\n") == 1

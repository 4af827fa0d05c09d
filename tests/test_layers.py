"""The architecture, checked mechanically: the layer contract of setup.cfg
(import-linter), and sans-I/O layers that never import the reactor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_layer_contract_holds() -> None:
    result = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                             "lint_imports_command()"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("package", ["dlmstw.monitor", "dlmstw.framing", "dlmstw.codec", "dlmstw.security",
                                     "dlmstw.association", "dlmstw.dissector", "dlmstw.simulator", "dlmstw.cosem",
                                     "dlmstw.models"])
def test_pure_layers_never_import_the_reactor(package: str) -> None:
    probe = (f"import importlib, pkgutil, sys; import {package} as p\n"
             "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'): importlib.import_module(m.name)\n"
             "print('twisted.internet.reactor' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stdout + result.stderr

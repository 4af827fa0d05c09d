"""``twistd`` finds the ``dlmssim`` plugin, and ``serverFromString`` the
meters' ``dlmstw-tcp`` endpoint type, after a plain and after an editable
install (Twisted scans only real folders on sys.path for ``twisted/plugins``),
the Wireshark dissector is installed with the package, and the built-in
plugins are found by ``getPlugins``."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from dlmstw.plugins.registry import load_registry

REPO = Path(__file__).resolve().parent.parent
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"
TEMPLATE = ("from dlmstw.web.console import ASSETS, templates; "
            "print('console page', len(templates().get_template('console.html').render(first_page={'total': 0, 'meters': []}, token='')), "
            "'meter page' if templates().get_template('meter.html') else '', "
            "'scenario page' if templates().get_template('scenario.html') else '', "
            "'assets', *sorted(p.name for p in ASSETS.iterdir()))")
PLUGIN = ("import io, contextlib; from pathlib import Path; from dlmstw.client.cli import main; out = io.StringIO()\n"
          "with contextlib.redirect_stdout(out): code = main(['wireshark', '--path'])\n"
          "path = Path(out.getvalue().strip()); print('wireshark plugin', code, path.name, "
          "path.read_text().startswith('-- dlms.lua'))")
ENDPOINT = ("from twisted.internet.endpoints import serverFromString; from twisted.internet.task import Clock; "
            "print('meter endpoint', type(serverFromString(Clock(), 'dlmstw-tcp:4059:interface=127.0.0.1')).__name__)")


def test_builtin_plugins_are_found() -> None:
    registry = load_registry()
    assert {1, 3, 4, 5, 7, 8, 15, 17} <= set(registry.classes)
    assert {"none", "lls", "hls-gmac", "hls-ecdsa"} <= set(registry.mechanisms)
    assert {0, 1, 2} <= set(registry.suites)
    assert "is15959-abt" in registry.object_sets


def _fresh_venv(directory: Path) -> Path:
    """A new virtual environment whose dependencies are those of the interpreter
    running the tests: its site-packages directories (a virtual environment's
    own, or the system's) are added after the new environment's own by a .pth
    file. ``system_site_packages`` alone would give the base interpreter's,
    which lack the dependencies when the tests run in a virtual environment."""
    venv.EnvBuilder(with_pip=False).create(directory)
    python = directory / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    inherited = [path for path in site.getsitepackages() + [site.getusersitepackages()] if Path(path).is_dir()]
    (Path(purelib) / "zz_running_interpreter.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in inherited))
    return python


def _twistd_help_in_fresh_venv(directory: Path, *install: str) -> str:
    """Install the checkout into a new virtual environment (``_fresh_venv``) and
    return what ``twistd --help`` says."""
    python = _fresh_venv(directory)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", *install], check=True, cwd=REPO,
                   capture_output=True, timeout=300)
    result = subprocess.run([str(python), "-c", TWISTD, "--help"], cwd=directory, capture_output=True,
                            text=True, timeout=120)
    probes = [subprocess.run([str(python), "-c", probe], cwd=directory, capture_output=True, text=True, timeout=120)
              for probe in (TEMPLATE, ENDPOINT, PLUGIN)]
    return result.stdout + result.stderr + "".join(probe.stdout + probe.stderr for probe in probes)


@pytest.mark.parametrize("install", [
    (str(REPO),),
    ("-e", str(REPO), "--config-settings", "editable_mode=strict"),
], ids=["plain", "editable"])
def test_twistd_lists_dlmssim_after_install(tmp_path: Path, install: tuple[str, ...]) -> None:
    listing = _twistd_help_in_fresh_venv(tmp_path / "venv", *install)
    assert "dlmssim" in listing, listing
    assert "console page" in listing and "meter page" in listing and "scenario page" in listing, listing
    assert "assets campaigns.js common.js console.css console.js favicon.svg meter.js scenario.js" in listing, listing
    assert "meter endpoint MeterEndpoint" in listing, listing
    assert "wireshark plugin 0 dlms.lua True" in listing, listing

"""Every command block of README.md runs, against a lab this test starts.

The lab is ``twistd -n dlmssim`` on etc/lab.ini, as the README starts it,
with free ports instead of 4059..4063 and 8080, and its state and packet log
in a temporary folder. Each ``dlmstw-client`` command of a ``sh`` block runs
as a subprocess from the repository root, its addresses moved to those
ports, and must exit 0; the README's TOML plan is written where its command
expects it. The commands that install packages or run the suite are run by
the tests named in ``ELSEWHERE``; a README command that is in neither place
fails this test.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_support import REPO_ROOT, Lab, find_free_port_range, launch_lab, stop_lab, twistd_env

from dlmstw.config import load_lab
from dlmstw.simulator.scenario import parse_scenario

README = (REPO_ROOT / "README.md").read_text()
BLOCK = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
SAMPLE_PORTS = range(4059, 4064)
SAMPLE_CONSOLE = 8080

ELSEWHERE = {
    "python -m pip install .": "tests/test_packaging.py installs the checkout and finds the plugin",
    "export DEBIAN_FRONTEND=noninteractive": "CI: the set-up of the machine the suite runs on",
    "apt-get update -qq": "CI",
    "apt-get install -y -qq tshark chromium valgrind > /dev/null": "CI",
    "python -m pip install --quiet '.[test]'": "CI",
    "python -m pytest -q -p no:cacheprovider tests": "CI: the suite itself",
    "python -m pip install . examples/acme-pq": "tests/test_example_acme_pq.py installs both in a fresh venv",
    "twistd -n dlmssim -c examples/acme-pq/lab.ini": "tests/test_example_acme_pq.py serves that lab",
    "twistd -n dlmssim -c etc/hdlc.ini": "tests/test_interop_hdlc.py serves etc/hdlc.ini and reads it with gurux",
    "dlmstw-client clone 127.0.0.1:4059 --client 32 --auth lls --password ABCD0001 --output acme.toml":
        "tests/test_templates.py clones a meter with it, serves the file and reads both with gurux",
    "dlmstw-client import-gurux device.xml --output acme.toml":
        "tests/test_templates.py runs it on a device file gurux-dlms writes, serves it and reads it with gurux",
    "tshark -X lua_script:$(dlmstw-client wireshark --path) -r dlmstw-packets.pcap -V":
        "tests/test_wireshark.py runs it where the console's pcap was downloaded",
    ("tshark -X lua_script:$(dlmstw-client wireshark --path) -o dlms.block_cipher_key:000102030405060708090A0B0C0D0E0F"
     " -o dlms.authentication_key:D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF -r dlmstw-packets.pcap -V"):
        "tests/test_wireshark.py runs it where the console's pcap was downloaded",
}
"""README commands run by other tests (or by CI), and where."""

LAB_COMMAND = "twistd -n dlmssim -c etc/lab.ini"
"""Run here: the fixture starts it (on other ports)."""


def blocks(language: str) -> list[str]:
    """The text of README's fenced blocks in ``language``, unindented."""
    found = []
    for match in BLOCK.finditer(README):
        if match.group(2) == language:
            indent = len(match.group(1))
            found.append("\n".join(line[indent:] for line in match.group(3).splitlines()))
    return found


def commands() -> list[str]:
    """Each shell command of the ``sh`` blocks: continuation lines joined, split at ``&&`` and ``;``."""
    found = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            found.extend(" ".join(part.split()) for part in re.split(r"&&|;", line) if part.strip())
    return found


def test_every_readme_command_is_run_somewhere() -> None:
    listed = commands()
    assert any(c.startswith("dlmstw-client read") for c in listed) and LAB_COMMAND in listed
    for command in listed:
        assert command.startswith("dlmstw-client ") or command == LAB_COMMAND or command in ELSEWHERE, (
            f"README command not run by any test: {command!r}")
    stale = set(ELSEWHERE) - set(listed)
    assert not stale, f"no longer in README: {stale}"


@pytest.fixture(scope="module")
def sample_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, int, int]]:
    """etc/lab.ini on free ports, as ``twistd -n dlmssim -c etc/lab.ini`` runs it."""
    directory = tmp_path_factory.mktemp("readme-lab")
    port = find_free_port_range(len(SAMPLE_PORTS) + 1)
    console = port + len(SAMPLE_PORTS)
    text = (REPO_ROOT / "etc" / "lab.ini").read_text()
    for key, value in (("port", str(port)), ("console", f"tcp:{console}:interface=127.0.0.1"),
                       ("state_dir", str(directory / "state")), ("packet_log", str(directory / "packets.jsonl"))):
        text, replaced = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert replaced == 1, key
    lab = launch_lab(directory, text, tuple(range(port, console + 1)))
    try:
        yield lab, port, console
    finally:
        stop_lab(lab)


def _moved(text: str, lab: Lab, port: int, console: int) -> str:
    """README text with the sample lab's addresses and file moved to the running lab's."""
    text = text.replace(f"127.0.0.1:{SAMPLE_PORTS[0]}-{SAMPLE_PORTS[-1]}", f"127.0.0.1:{port}-{port + 4}")
    text = re.sub(r"127\.0\.0\.1:(40[56]\d)\b", lambda m: f"127.0.0.1:{port + int(m.group(1)) - SAMPLE_PORTS[0]}",
                  text)
    text = text.replace(f"127.0.0.1:{SAMPLE_CONSOLE}", f"127.0.0.1:{console}")
    return text.replace("etc/lab.ini", str(lab.ini_path))


CLIENT_COMMANDS = [c for c in commands() if c.startswith("dlmstw-client ") and c not in ELSEWHERE]


@pytest.mark.parametrize("command", CLIENT_COMMANDS)
def test_readme_client_command_runs(command: str, sample_lab: tuple[Lab, int, int], tmp_path: Path) -> None:
    lab, port, console = sample_lab
    arguments = shlex.split(_moved(command, lab, port, console))[1:]
    for position, argument in enumerate(arguments):
        if argument == "--plan":
            (plan,) = [block for block in blocks("toml") if "[template]" not in block and "[[step]]" not in block]
            written = tmp_path / arguments[position + 1]
            written.write_text(_moved(plan, lab, port, console))
            arguments[position + 1] = str(written)
        elif argument == "--csv":
            arguments[position + 1] = str(tmp_path / arguments[position + 1])
    result = subprocess.run([sys.executable, "-m", "dlmstw.client.cli", *arguments], cwd=REPO_ROOT,
                            env=twistd_env(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr


def test_readme_scenario_fits_the_sample_lab() -> None:
    """The scenario README shows is checked against etc/lab.ini as twistd checks it, and is etc/storm.toml's start."""
    (scenario,) = [block for block in blocks("toml") if "[[step]]" in block]
    lab = load_lab(str(REPO_ROOT / "etc" / "lab.ini"))
    steps = parse_scenario(scenario, "README.md", lab).steps
    example = parse_scenario((REPO_ROOT / "etc" / "storm.toml").read_text(), "etc/storm.toml", lab)
    assert [(s.name, s.at, s.selector, s.action, s.arguments, s.duration) for s in steps] == [
        (s.name, s.at, s.selector, s.action, s.arguments, s.duration) for s in example.steps[:len(steps)]]

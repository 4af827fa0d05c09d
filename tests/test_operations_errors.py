"""Operating the lab: a real ``twistd -n dlmssim`` that cannot start says why in
one line on standard error and exits with status 1 (a meter port in use, a bad
key, a missing lab.ini), and groups without ``serial`` or ``system_title``
number their meters one after another, as gurux-dlms reads them over TCP."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.objects import GXDLMSData
from gurux_dlms.secure import GXDLMSSecureClient

from interop_support import (
    PUBLIC_CLIENT,
    SERIAL_NUMBER,
    MeterSession,
    find_free_port_range,
    launch_lab,
    stop_lab,
    twistd_command,
    twistd_env,
)

RUN_TIMEOUT = 60
GMAC_CLIENT = 0x30
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EK = "000102030405060708090A0B0C0D0E0F"
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
GROUPS = ("a", "b", "c")
GROUP_COUNT = 2


def lab_ini(directory: Path, groups: str) -> str:
    """A lab of ``groups`` with a public and an HLS-GMAC association (the AARE of
    GMAC carries the meter's system title)."""
    return (
        f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
        f"packet_log = {directory / 'packets.jsonl'}\n\n{groups}\n"
        f"[association:public]\nclient_sap = {PUBLIC_CLIENT}\n\n"
        f"[association:gmac]\nclient_sap = {GMAC_CLIENT}\nauthentication = hls-gmac\n"
        f"authentication_key = {AK}\nblock_cipher_key = {EK}\n"
    )


def run_twistd(directory: Path, ini_path: Path) -> subprocess.CompletedProcess[str]:
    """``twistd -n dlmssim -c INI`` in ``directory``, to its end."""
    return subprocess.run(twistd_command(ini_path), cwd=directory, env=twistd_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)


def failure_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed start writes to standard error, checked: exit
    status 1, no traceback and no usage text anywhere."""
    output = f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    assert result.returncode == 1, output
    assert "Traceback" not in result.stdout + result.stderr, output
    assert "Usage:" not in result.stdout + result.stderr, output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), output
    return lines[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_meter_port_in_use(tmp_path: Path, workers: int) -> None:
    port = find_free_port_range(3)
    ini_path = tmp_path / "lab.ini"
    ini_path.write_text(lab_ini(tmp_path, f"[meters:abt]\ncount = 3\nport = {port}\n").replace(
        "[simulator]\n", f"[simulator]\nworkers = {workers}\n"))
    with socket.create_server(("127.0.0.1", port + 1)):
        line = failure_line(run_twistd(tmp_path, ini_path))
    assert line == f"dlmssim: [meters:abt] meter abt-1 cannot listen on 127.0.0.1:{port + 1}: address already in use"


def test_a_bad_key(tmp_path: Path) -> None:
    ini_path = tmp_path / "lab.ini"
    ini_path.write_text(lab_ini(tmp_path, "[meters:abt]\ncuont = 3\n"))
    line = failure_line(run_twistd(tmp_path, ini_path))
    assert line == f"dlmssim: {ini_path} [meters:abt] cuont: unknown key; did you mean 'count'?"


def test_a_missing_config_file(tmp_path: Path) -> None:
    ini_path = tmp_path / "missing.ini"
    line = failure_line(run_twistd(tmp_path, ini_path))
    assert line == f"dlmssim: {ini_path}: the file does not exist"


def meter_identity(port: int) -> tuple[str, bytes]:
    """The serial number (0.0.96.1.0.255 attribute 2) and the responding AP title
    of the AARE, through an HLS-GMAC association."""
    client = GXDLMSSecureClient(True, GMAC_CLIENT, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
    client.ciphering.security = Security.NONE
    client.ciphering.systemTitle = CLIENT_TITLE
    client.ciphering.blockCipherKey = bytes.fromhex(EK)
    client.ciphering.authenticationKey = bytes.fromhex(AK)
    session = MeterSession(port, GMAC_CLIENT)
    session.client = client
    try:
        session.associate()
        title = bytes(client.settings.sourceSystemTitle)
        session.authenticate()
        serial = bytes(session.read_raw(GXDLMSData(SERIAL_NUMBER), 2)).decode()
        session.release()
    finally:
        session.close()
    return serial, title


def test_groups_without_serial_or_system_title_number_their_meters_in_turn(tmp_path: Path) -> None:
    first_port = find_free_port_range(len(GROUPS) * GROUP_COUNT)
    groups = "".join(f"[meters:{name}]\ncount = {GROUP_COUNT}\nport = {first_port + index * GROUP_COUNT}\n"
                     for index, name in enumerate(GROUPS))
    ports = tuple(range(first_port, first_port + len(GROUPS) * GROUP_COUNT))
    try:
        lab = launch_lab(tmp_path, lab_ini(tmp_path, groups), ports)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        identities = [meter_identity(port) for port in ports]
    finally:
        stop_lab(lab)
    first_title = int.from_bytes(bytes.fromhex("4D4D4D0000BC614E"), "big")
    assert identities == [(str(1000001 + meter), (first_title + meter).to_bytes(8, "big")) for meter in range(len(ports))]


@pytest.mark.parametrize("arguments", [["--bogus"], ["-c", "lab.ini", "stray"]])
def test_a_command_line_twistd_cannot_use(tmp_path: Path, arguments: list[str]) -> None:
    command = twistd_command(tmp_path / "lab.ini")
    result = subprocess.run(command[:command.index("dlmssim") + 1] + arguments, cwd=tmp_path, env=twistd_env(),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    output = f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    assert result.returncode == 2, output
    assert "Traceback" not in result.stdout + result.stderr and "Usage:" not in result.stdout, output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("dlmssim: "), output


def test_the_console_port_in_use(tmp_path: Path) -> None:
    port, console = find_free_port_range(1), find_free_port_range(1)
    ini_path = tmp_path / "lab.ini"
    ini_path.write_text(lab_ini(tmp_path, f"[meters:abt]\ncount = 1\nport = {port}\n").replace(
        "console = tcp:0:", f"console = tcp:{console}:"))
    with socket.create_server(("127.0.0.1", console)):
        line = failure_line(run_twistd(tmp_path, ini_path))
    assert line == f"dlmssim: [simulator] console cannot listen on 127.0.0.1:{console}: address already in use"

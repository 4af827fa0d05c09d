"""Crash safety: the whole service killed with SIGKILL in the middle of
ciphered reads and of a global_key_transfer, then started again. The meter
never sends an invocation counter twice or goes back, refuses a replay of the
last request it accepted, accepts a client that goes on with its next
counter, and holds either all the old keys or all the new ones. A state file
that cannot be read is moved aside with one log line."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from gurux_dlms import GXDLMSException
from gurux_dlms.objects import GXDLMSSecuritySetup
from gurux_dlms.objects.enums import GlobalKeyType

from interop_support import Lab, MeterSession, find_free_port_range, launch_lab, receive_wpdu, stop_lab
from test_operations import AK, EK, CipheredReader

MASTER_KEY = "101112131415161718191A1B1C1D1E1F"
NEW_EK = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"
NEW_AK = "B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"
#: The association whose keys the transfer changes, and the one that reads meanwhile.
UTILITY, READER = 48, 49


def lab_ini(directory: Path, port: int) -> str:
    keys = f"authentication = hls-gmac\ncontext = ln-ciphered\nsecurity = authenticated-encryption\n" \
           f"authentication_key = {AK}\nblock_cipher_key = {EK}\n"
    return (f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = -\n\n[meters:abt]\ncount = 1\nport = {port}\nload_profile_days = 1\n\n"
            "[association:public]\nclient_sap = 16\n\n"
            f"[association:utility]\nclient_sap = {UTILITY}\naccess = full\nmaster_key = {MASTER_KEY}\n{keys}\n"
            f"[association:reader]\nclient_sap = {READER}\naccess = read\n{keys}")


def kill_all(lab: Lab) -> None:
    os.killpg(lab.process.pid, signal.SIGKILL)
    lab.process.wait(timeout=10)


def opens(port: int, keys: tuple[str, str], counter: int) -> bool:
    """Whether an HLS-GMAC association of the utility client with ``keys`` succeeds."""
    client = CipheredReader(port, UTILITY, keys)
    client.client.ciphering.invocationCounter = counter
    try:
        client.read_once()
    except (GXDLMSException, OSError, ValueError):
        return False
    return True


@pytest.mark.parametrize("answered", [False, True])
def test_a_killed_service_keeps_its_counters_and_keys(tmp_path: Path, answered: bool) -> None:
    port = find_free_port_range(1)
    ini = lab_ini(tmp_path, port)
    lab = launch_lab(tmp_path, ini, (port,))
    reader = CipheredReader(port, READER)
    try:
        for _ in range(5):
            reader.read_once()
        stop = threading.Event()
        thread = reader.in_background(stop, retry=False)
        # The key transfer: its request goes out, and the whole service dies at
        # once, or once the meter has answered it.
        transfer = CipheredReader(port, UTILITY)
        session = MeterSession(port, UTILITY, timeout=2.0)
        session.client = transfer.client
        session.associate()
        session.authenticate()
        request = GXDLMSSecuritySetup("0.0.43.0.2.255").globalKeyTransfer(
            transfer.client, bytes.fromhex(MASTER_KEY),
            [(GlobalKeyType.UNICAST_ENCRYPTION, bytes.fromhex(NEW_EK)),
             (GlobalKeyType.AUTHENTICATION, bytes.fromhex(NEW_AK))])
        assert session.sock is not None
        session.sock.sendall(request[0] if isinstance(request, list) else request)
        if answered:
            assert receive_wpdu(session.sock)[2][0] == 0xCF  # glo-action-response
        kill_all(lab)
        stop.set()
        thread.join(timeout=10)
        session.close()
        before = list(reader.meter_counters)
        assert len(before) >= 10
    finally:
        stop_lab(lab)

    lab = launch_lab(tmp_path, ini, (port,))
    try:
        # Keys: all old or all new, never a mix.
        counter = transfer.client.ciphering.invocationCounter + 100
        old, new = opens(port, (EK, AK), counter), opens(port, (NEW_EK, NEW_AK), counter + 10)
        assert old != new, (old, new)
        assert new or not answered  # keys confirmed to the client were saved before the answer left
        assert not opens(port, (EK, NEW_AK), counter + 20) and not opens(port, (NEW_EK, AK), counter + 30)
        # The last request the meter answered before the crash is refused again.
        replay = CipheredReader(port, READER)
        replay.client.ciphering.invocationCounter = reader.last_answered
        with pytest.raises(GXDLMSException):
            replay.read_once()
        # The reader goes on with its own next counter, and the meter's counters never repeat or go back.
        for _ in range(3):
            reader.read_once()
        after = reader.meter_counters[len(before):]
        assert after and min(after) > max(before)
        assert len(set(reader.meter_counters)) == len(reader.meter_counters)
    finally:
        stop_lab(lab)
    assert "Traceback" not in lab.log_text(limit=10_000_000)


def test_a_corrupt_state_file_is_moved_aside_and_named(tmp_path: Path) -> None:
    port = find_free_port_range(1)
    ini = lab_ini(tmp_path, port)
    state = tmp_path / "state"
    state.mkdir()
    (state / "abt-0.security.json").write_text('{"keys": {"utility": {"block_cipher_key": "zz"')
    lab = launch_lab(tmp_path, ini, (port,))
    try:
        assert opens(port, (EK, AK), 1000)  # lab.ini's keys
    finally:
        stop_lab(lab)
    log = lab.log_text()
    lines = [line for line in log.splitlines() if "abt-0.security.json" in line]
    assert len(lines) == 1 and "unreadable" in lines[0] and "moved to abt-0.security.json.corrupt-" in lines[0], log
    assert "lab.ini" in lines[0] and "Traceback" not in log
    assert [p.name for p in state.glob("abt-0.security.json.corrupt-*")]

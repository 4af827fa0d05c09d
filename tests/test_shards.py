"""Shards (``shard = i/n``, ``twistd dlmssim --shard i/n``): identical configs
on n instances serve the fleet exactly once; the command line overrides
lab.ini's console, state folder and packet log, so two shards share a host."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dlmstw import tap
from dlmstw.config import parse_lab, with_overrides
from dlmstw.server.workers import first_of_each_group
from interop_support import Lab, find_free_port_range, launch_lab, receive_wpdu, stop_lab, twistd_command, wrap
from test_console import Console

#: An AARQ of the public client: LN referencing, no security, lowest authentication.
PUBLIC_AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
LAB = """\
[simulator]
shard = {shard}
max_connections = {max_connections}

[meters:a]
count = 7

[meters:b]
count = 2
port = 5059

[association:public]
client_sap = 16
"""


def lab(shard: str = "0/1", max_connections: int = 4000):  # type: ignore[no-untyped-def]
    return parse_lab(LAB.format(shard=shard, max_connections=max_connections))


@pytest.mark.parametrize("shards", [1, 2, 3, 4, 9, 10])
def test_shards_cover_every_meter_once(shards: int) -> None:
    everything = [m.id for m in lab().meters()]
    served = [m.id for i in range(shards) for m in lab(f"{i}/{shards}").meters()]
    assert sorted(served) == sorted(everything) and len(served) == len(set(served))
    assert all(m.index % shards == 1 for m in lab(f"1/{shards}").meters()) if shards > 1 else True


def test_a_meter_keeps_its_port_serial_and_title_in_its_shard() -> None:
    whole = {m.id: m for m in lab().meters()}
    for meter in lab("2/3").meters():
        assert meter == whole[meter.id]


def test_the_first_meter_of_each_group_is_found_in_a_shard() -> None:
    sharded = lab("1/3")
    meters = list(sharded.meters())
    first = first_of_each_group(sharded)
    assert [m.id for position, m in enumerate(meters) if first(position)] == ["a-1", "b-1"]


@pytest.mark.parametrize(("text", "problem"), [
    ("2/2", "shard 2 of 2: expected 0 <= i < n"), ("1/0", "shard 1 of 0"), ("one/2", "expected i/n such as 0/4"),
])
def test_a_bad_shard_is_one_line(text: str, problem: str) -> None:
    with pytest.raises(Exception) as error:
        lab(text)
    assert "[simulator] shard" in str(error.value) and problem in str(error.value)
    with pytest.raises(ValueError, match=f"--shard '{text}': .*{problem}"):
        with_overrides(lab(), {"shard": text})


def test_overrides_replace_the_files_keys() -> None:
    changed = with_overrides(lab(), {"shard": "1/2", "console": "tcp:0:interface=127.0.0.1", "state_dir": "s1",
                                     "packet_log": "-"})
    assert changed.simulator.shard == (1, 2) and changed.simulator.packet_log is None
    assert changed.simulator.state_dir == str(Path("s1").absolute())
    assert with_overrides(lab(), {"console": None}).simulator.console == lab().simulator.console
    with pytest.raises(ValueError, match="--console 'tcp:8080': listens beyond loopback"):
        with_overrides(lab(), {"console": "tcp:8080"})
    with pytest.raises(ValueError, match="--console 'tcp:4060:interface=127.0.0.1': port 4060 is a meter port"):
        with_overrides(lab(), {"console": "tcp:4060:interface=127.0.0.1"})


def test_the_command_line_overrides_lab_ini(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lab.ini"
    path.write_text(LAB.format(shard="0/1", max_connections=4000))
    options = tap.Options()
    options.parseOptions(["-c", str(path), "--shard", "1/2", "--state-dir", str(tmp_path / "s"), "--packet-log",
                          "-", "--console", "tcp:0:interface=127.0.0.1"])
    assert [m.id for m in options.lab.meters()] == ["a-1", "a-3", "a-5", "b-1"]
    assert options.lab.simulator.packet_log is None and options.lab.simulator.state_dir == str(tmp_path / "s")
    with pytest.raises(SystemExit) as stopped:
        tap.Options().parseOptions(["-c", str(path), "--shard", "4/4"])
    assert stopped.value.code == 2
    line = capfd.readouterr().err
    assert line.startswith("dlmssim: --shard '4/4': shard 4 of 4") and line.count("\n") == 1


def associates(port: int) -> bool:
    """Whether the meter on ``port`` accepts the public client's AARQ."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(wrap(16, 1, PUBLIC_AARQ))
        _, _, aare = receive_wpdu(sock)
    return aare[:1] == b"\x61" and bytes.fromhex("A203020100") in aare


def test_two_shards_side_by_side_serve_every_meter_once(tmp_path: Path) -> None:
    """One lab.ini, two twistd on one host, each with two worker processes:
    consoles, state and packet logs from the command line."""
    count = 6
    first_port = find_free_port_range(count)
    consoles = [find_free_port_range(1), find_free_port_range(1)]
    ini = tmp_path / "lab.ini"
    ini.write_text(f"[simulator]\nconsole = tcp:{consoles[0]}:interface=127.0.0.1\nworkers = 2\n\n"
                   f"[meters:a]\ncount = {count}\nport = {first_port}\n\n[association:public]\nclient_sap = 16\n")
    labs: list[Lab] = []
    try:
        for shard in range(2):
            folder = tmp_path / f"shard-{shard}"
            folder.mkdir()
            ports = tuple(range(first_port + shard, first_port + count, 2))
            argv = ["--shard", f"{shard}/2", "--console", f"tcp:{consoles[shard]}:interface=127.0.0.1",
                    "--state-dir", str(folder / "state"), "--packet-log", str(folder / "packets.jsonl")]
            labs.append(launch_lab(folder, ini.read_text(), ports, command=twistd_command(folder / "lab.ini") + argv))
        served = [[m["id"] for m in Console(running, port).json("/api/meters")]
                  for running, port in zip(labs, consoles)]
        assert served == [["a-0", "a-2", "a-4"], ["a-1", "a-3", "a-5"]]
        assert all(associates(port) for port in range(first_port, first_port + count))
    finally:
        for running in labs:
            stop_lab(running)
    for shard, running in enumerate(labs):
        assert running.process.returncode == 0, running.log_text()
        assert (tmp_path / f"shard-{shard}" / "packets.jsonl").stat().st_size > 0
        assert any((tmp_path / f"shard-{shard}" / "state").iterdir())


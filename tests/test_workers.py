"""A lab served by several processes (lab.ini ``workers``): every meter
answers, the console sees them all, PATCH reaches the process serving the
meter, and the packet log gets every process's exchanges."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric

from dlmstw.config import parse_lab
from dlmstw.server.workers import FILES_PER_WORKER, first_of_each_group, placement, worker_count
from interop_support import MeterSession, find_free_port_range, launch_lab, stop_lab
from test_console import Console, patch


def test_auto_keeps_each_process_below_its_file_budget() -> None:
    small = parse_lab("[meters:a]\ncount = 5\n[association:p]\nclient_sap = 16\n")
    assert worker_count(small) == 1
    # A listening socket per meter, plus one budget of max_connections per process (not max_clients per meter).
    large = parse_lab(f"[meters:a]\ncount = {2 * (FILES_PER_WORKER - 4000) + 1}\nport = 10000\nmax_clients = 10\n"
                      "[association:p]\nclient_sap = 16\n")
    assert worker_count(large) == 3
    budgeted = parse_lab("[simulator]\nmax_connections = 18000\n[meters:a]\ncount = 3000\n"
                         "[association:p]\nclient_sap = 16\n")
    assert worker_count(budgeted) == 3
    fixed = parse_lab("[simulator]\nworkers = 4\n[meters:a]\n[association:p]\nclient_sap = 16\n")
    assert worker_count(fixed) == 4
    seven = parse_lab("[meters:a]\ncount = 7\n[association:p]\nclient_sap = 16\n")
    assert [p for p, worker in enumerate(placement(seven, 3)) if worker == 1] == [1, 4]
    gateway = parse_lab("[meters:a]\ncount = 2\n[meters:g]\ncount = 3\ntransport = hdlc\ngateway = 5000\n"
                        "serial = 9\nsystem_title = 4D4D4D0000000099\n[association:p]\nclient_sap = 16\n")
    assert placement(gateway, 2) == [0, 1, 0, 0, 0]  # the gateway's meters go with its first
    two_groups = parse_lab("[meters:a]\ncount = 3\n[meters:b]\ncount = 2\nport = 5000\nserial = 9\n"
                           "system_title = 4D4D4D0000000099\n[association:p]\nclient_sap = 16\n")
    assert [p for p in range(5) if first_of_each_group(two_groups)(p)] == [0, 3]


def test_a_lab_in_two_processes(tmp_path: Path) -> None:
    meter_port = find_free_port_range(4)
    console_port = find_free_port_range(1)
    ini = (f"[simulator]\nconsole = tcp:{console_port}:interface=127.0.0.1\nstate_dir = {tmp_path / 'state'}\n"
           f"packet_log = {tmp_path / 'packets.jsonl'}\nworkers = 2\n\n"
           f"[meters:abt]\ncount = 4\nport = {meter_port}\nload_profile_days = 1\n\n"
           "[association:public]\nclient_sap = 16\n")
    lab = launch_lab(tmp_path, ini, tuple(range(meter_port, meter_port + 4)) + (console_port,))
    try:
        for index, port in enumerate(lab.ports[:4]):
            with MeterSession(port, 16) as session:
                assert session.read(GXDLMSData("0.0.96.1.0.255"), 2) == str(1000001 + index).encode()
                session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
        console = Console(lab, console_port)
        deadline = time.monotonic() + 10
        while True:
            meters = console.json("/api/meters")
            if all(m["counters"].get("success", 0) >= 3 for m in meters) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [m["id"] for m in meters] == ["abt-0", "abt-1", "abt-2", "abt-3"]
        assert all(m["counters"]["success"] >= 3 for m in meters), meters
        status, detail = patch(console, "abt-3", {"load_profile_interval": 5})
        assert status == 200 and detail["load_profile_interval"] == 5
        assert patch(console, "abt-3", {"load_profile_days": 99})[0] == 400
        with MeterSession(lab.ports[3], 16) as session:
            assert session.read(GXDLMSProfileGeneric("1.0.99.1.0.255"), 4) == 300
        packets = [r for r in console.json("/api/packets") if r["kind"] == "get-request-normal"]
        assert {r["meter"] for r in packets} == {"abt-0", "abt-1", "abt-2", "abt-3"}
    finally:
        stop_lab(lab)
    records = [json.loads(line) for line in (tmp_path / "packets.jsonl").read_text().splitlines()]
    assert {r["meter"] for r in records if r["kind"] == "aarq"} == {"abt-0", "abt-1", "abt-2", "abt-3"}
    assert len({r["sequence"] for r in records}) == len(records)

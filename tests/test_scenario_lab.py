"""Scenarios end to end, over real sockets: ``twistd -n dlmssim`` with two
worker processes and a scenario of a few seconds; ``dlmstw-client campaign``
runs across it (started from the console just before) and records the
failures the scenario caused, and the packet log marks the records of the
step in force; the console shows the timeline and runs uploaded scenarios;
a bad scenario file stops the lab with one line."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from interop_support import Lab, find_free_port_range, launch_lab, stop_lab
from test_operations_errors import failure_line, run_twistd

from dlmstw.client.cli import main

METERS = 4
#: The storm: meters 0 and 1 offline, meter 2 hanging (every request unanswered), from 2 s for 3 s.
STORM = """\
seed = 11
autostart = false

[[step]]
name = "outage"
at = "2s"
meters = "g:0..1"
action = "offline"
duration = "3s"

[[step]]
name = "hang"
at = "2s"
meters = "g:2"
action = "fault"
faults = "timeout:1"
duration = "3s"
"""


@pytest.fixture(scope="module")
def storm_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, int]]:
    directory = tmp_path_factory.mktemp("scenario-lab")
    port = find_free_port_range(METERS + 1)
    (directory / "storm.toml").write_text(STORM)
    ini = (f"[simulator]\nconsole = tcp:{port + METERS}:interface=127.0.0.1\nworkers = 2\n"
           f"state_dir = {directory / 'state'}\npacket_log = {directory / 'packets.jsonl'}\n"
           "scenario = storm.toml\n\n"
           f"[meters:g]\ncount = {METERS}\nport = {port}\nload_profile_days = 1\n\n"
           "[association:public]\nclient_sap = 16\n")
    running = launch_lab(directory, ini, tuple(range(port, port + METERS + 1)))
    try:
        yield running, port
    finally:
        stop_lab(running)


def call(port: int, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     method="GET" if body is None else "POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text.startswith(b"{") else text.decode()


def test_the_console_uploads_starts_pauses_and_resets_a_scenario(storm_lab: tuple[Lab, int]) -> None:
    _, port = storm_lab
    console = port + METERS
    # lab.ini's scenario waits for the console (autostart = false).
    status, waiting = call(console, "/api/scenario")
    assert status == 200 and waiting["state"] == "idle" and waiting["source"].endswith("storm.toml")
    status, refused = call(console, "/api/scenario", b"[[step]]\nat = 'soon'\nmeters = 'g'\naction = 'offline'\n")
    assert status == 400 and refused["error"] == (
        "uploaded scenario step 1 (1-offline) at: expected a duration such as 90s, 10m or 1m30s, got 'soon'")
    # A browser's write needs the page's CSRF token, as every console write does.
    status, _ = call(console, "/api/scenario/start", b"", {"origin": f"http://127.0.0.1:{console}"})
    assert status == 403
    later = b"[[step]]\nname = 'late'\nat = '1h'\nmeters = 'g:3'\naction = 'offline'\n"
    status, loaded = call(console, "/api/scenario", later)
    assert status == 201 and loaded["state"] == "idle" and loaded["source"] == "uploaded scenario"
    assert [(s["name"], s["hits"], s["ran"]) for s in loaded["steps"]] == [("late", 1, False)]
    assert call(console, "/api/scenario/pause", b"")[0] == 409
    status, running = call(console, "/api/scenario/start", b"")
    assert status == 200 and running["state"] == "running" and running["next"] == 1
    status, paused = call(console, "/api/scenario/pause", b"")
    assert status == 200 and paused["state"] == "paused" and 0 <= paused["elapsed"] < 60
    status, reset = call(console, "/api/scenario/reset", b"")
    assert status == 200 and reset["state"] == "idle" and reset["elapsed"] == 0
    assert call(console, "/api/scenario/explode", b"")[0] == 404


def test_a_campaign_across_the_scenario_records_the_failures_it_caused(
        storm_lab: tuple[Lab, int], capsys: pytest.CaptureFixture[str]) -> None:
    """The last test of the lab (it stops it to read the whole packet log): the storm, uploaded
    again after the console's test, starts just before the campaign."""
    lab, port = storm_lab
    status, _ = call(port + METERS, "/api/scenario", STORM.encode())
    assert status == 201
    assert call(port + METERS, "/api/scenario/start", b"")[0] == 200
    code = main(["campaign", f"127.0.0.1:{port}-{port + METERS - 1}", "8/0.0.1.0.0.255:2", "--duration", "6.5",
                 "--interval", "0.25", "--timeout", "1.5", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    per_meter = {row["meter"]: row for row in json.loads(out)["per_meter"]}
    names = [per_meter[f"127.0.0.1:{port + index}"]["failures_by_name"] for index in range(METERS)]
    # Offline: refused connections; hanging: timeouts; meter 3, untouched, is never refused (a
    # timeout there could only come from a machine too busy to answer within 1.5 s).
    assert names[0]["connect-refused"] and names[1]["connect-refused"], (names, lab.log_text())
    assert set(names[0]) | set(names[1]) <= {"connect-refused", "timeout"}, names
    assert names[2]["timeout"] and "connect-refused" not in names[2], names
    assert "connect-refused" not in names[3], names
    assert all(per_meter[f"127.0.0.1:{port + index}"]["successes"] for index in range(METERS))

    status, timeline = call(port + METERS, "/api/scenario")
    assert status == 200 and timeline["state"] == "finished" and timeline["next"] is None
    assert [(s["name"], s["hits"], s["ran"], s["ended"]) for s in timeline["steps"]] == [
        ("outage", 2, True, True), ("hang", 1, True, True)]

    # The packet log marks the records of the step in force.
    stop_lab(lab)
    records = [json.loads(line) for line in (lab.directory / "packets.jsonl").read_text().splitlines()]
    marked = {(r["meter"], r["scenario"], r["result"]) for r in records if r["scenario"] is not None}
    assert ("g-2", "hang", "fault-timeout") in marked
    # The outage's meters record nothing while offline but the end of the connections it cut.
    assert {(meter, step) for meter, step, _ in marked} <= {("g-0", "outage"), ("g-1", "outage"), ("g-2", "hang")}
    assert {result for meter, _, result in marked if meter != "g-2"} <= {"closed"}
    assert all("scenario" in r for r in records)
    assert any(r["meter"] == "g-0" and r["result"] == "success" for r in records)


def test_a_bad_scenario_stops_the_lab_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "storm.toml").write_text("[[step]]\nname = 'x'\nat = '1s'\nmeters = 'g:9'\naction = 'offline'\n")
    ini_path = tmp_path / "lab.ini"
    ini_path.write_text("[simulator]\nconsole = tcp:0:interface=127.0.0.1\npacket_log = -\n"
                        f"state_dir = {tmp_path / 'state'}\nscenario = storm.toml\n\n"
                        "[meters:g]\ncount = 2\nport = 4059\n\n[association:public]\nclient_sap = 16\n")
    started = time.monotonic()
    line = failure_line(run_twistd(tmp_path, ini_path))
    assert line == f"dlmssim: {tmp_path / 'storm.toml'} step 1 (x) meters: 'g:9': group g has meters 0..1"
    assert time.monotonic() - started < 30

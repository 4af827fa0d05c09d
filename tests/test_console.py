"""The console's HTTP API against a running ``twistd -n dlmssim`` (DESIGN.md
"Console HTTP API"): meters, the capture buffer as JSON and pcap, the live
stream of server-sent events, metrics, and the console token; and the packet
log file the service writes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms import GXDLMSException
from gurux_dlms.objects import GXDLMSClock, GXDLMSProfileGeneric

from dlmstw.web.console import Console as ConsoleApp
from interop_support import Lab, MeterSession, find_free_port_range, launch_lab, stop_lab

TOKEN = "s3cret-console-token"
RECORD_FIELDS = {"time_req", "time_res", "meter", "peer", "client_sap", "server_sap", "request", "response",
                 "request_apdu", "response_apdu", "kind", "ciphered", "description_request",
                 "description_response", "result"}


def console_ini(meter_port: int, console_port: int, directory: Path, token: str = "") -> str:
    return (f"[simulator]\nconsole = tcp:{console_port}:interface=127.0.0.1\nconsole_token = {token}\n"
            f"state_dir = {directory / 'state'}\npacket_log = {directory / 'packets.jsonl'}\n\n"
            f"[meters:abt]\ncount = 2\nport = {meter_port}\nload_profile_days = 1\n\n"
            "[association:public]\nclient_sap = 16\n\n"
            "[association:reader]\nclient_sap = 32\nauthentication = lls\nlls_password = ABCD0001\n")


class Console:
    def __init__(self, lab: Lab, port: int, token: str = "") -> None:
        self.lab = lab
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()

    def json(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, body
        return json.loads(body)


def start(directory: Path, token: str = "") -> tuple[Lab, int]:
    meter_port = find_free_port_range(2)
    console_port = find_free_port_range(1)
    return launch_lab(directory, console_ini(meter_port, console_port, directory, token),
                      (meter_port, meter_port + 1, console_port)), console_port


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    lab, port = start(tmp_path_factory.mktemp("console"))
    try:
        with MeterSession(lab.ports[0], 32, "ABCD0001") as session:
            session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
        yield Console(lab, port)
    finally:
        stop_lab(lab)


def test_meters(console: Console) -> None:
    meters = console.json("/api/meters")
    assert [m["id"] for m in meters] == ["abt-0", "abt-1"]
    first = meters[0]
    assert first["serial"] == 1000001 and first["port"] == console.lab.ports[0]
    assert first["model"] == "is15959-abt" and first["state"] == "online"
    assert first["counters"]["success"] >= 2
    detail = console.json("/api/meters/abt-0")
    assert [a["name"] for a in detail["associations"]] == ["public", "reader"]
    assert console.get("/api/meters/nope")[0] == 404


def test_packets_follow_the_log_record_contract(console: Console) -> None:
    records = console.json("/api/packets?meter=abt-0")
    assert {"connect", "disconnect"} <= {r["kind"] for r in records}
    exchanges = [r for r in records if r["kind"] not in ("connect", "disconnect")]
    assert [r["kind"] for r in exchanges] == ["aarq", "get-request-normal", "rlrq"]
    aarq = exchanges[0]
    assert RECORD_FIELDS <= set(aarq)
    assert aarq["result"] == "success" and aarq["client_sap"] == 32 and aarq["peer"].startswith("127.0.0.1:")
    assert aarq["request"].startswith("0001002000010")
    names = [field["name"] for field in aarq["description_request"]["children"]]
    assert len(names) >= 2
    assert {r["kind"] for r in console.json("/api/packets?meter=abt-1")} <= {"connect", "disconnect"}
    assert len(console.json("/api/packets?limit=2")) == 2
    assert console.get("/api/packets?limit=x")[0] == 400


def test_json_download_and_pcap(console: Console, tmp_path: Path) -> None:
    """The pcap opens in tshark without complaint and has the JSON log's frames,
    in order, with their addresses and ports (issue 5), in whole TCP conversations (issue 15)."""
    status, headers, body = console.get("/api/packets.json")
    assert status == 200 and "attachment" in headers["content-disposition"]
    expected = []
    for record in json.loads(body):
        if record["kind"] in ("connect", "disconnect"):
            continue
        expected.append(f"{record['peer']}>{record['local']}")
        if record["response"]:
            expected.append(f"{record['local']}>{record['peer']}")
    status, headers, pcap = console.get("/api/packets.pcap")
    assert status == 200 and pcap[:4] == bytes.fromhex("d4c3b2a1")
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.fail("tshark is needed to open the pcap (Debian package tshark)")
    path = tmp_path / "capture.pcap"
    path.write_bytes(pcap)
    result = subprocess.run([tshark, "-r", str(path), "-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=,",
                             "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport"],
                            capture_output=True, text=True, timeout=60, check=True)
    opened = subprocess.run([tshark, "-r", str(path), "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0"],
                            capture_output=True, text=True, timeout=60, check=True)
    connections = {(r["peer"], r["local"]) for r in json.loads(body) if r["transport"] == "tcp"}
    assert len(opened.stdout.splitlines()) == len(connections)  # a SYN per connection
    complaints = [line for line in result.stderr.splitlines() if line and not line.startswith("Running as user")]
    assert complaints == []
    listed = []
    for line in result.stdout.splitlines():
        source, source_port, destination, destination_port = line.split(",")
        listed.append(f"{source}:{source_port}>{destination}:{destination_port}")
    assert listed == expected
    assert expected and str(console.lab.ports[0]) in expected[0]


def test_server_sent_events_stream_exchanges(console: Console) -> None:
    stream = urllib.request.urlopen(console.base + "/api/packets/stream?meter=abt-1", timeout=10)
    assert stream.headers["content-type"].startswith("text/event-stream")
    with MeterSession(console.lab.ports[1], 16) as session:
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
    events = []
    while len(events) < 2:
        line = stream.readline().decode()
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
    stream.close()
    assert [e["kind"] for e in events] == ["connect", "aarq"]
    assert events[1]["description_request"]["name"]
    assert all(e["meter"] == "abt-1" for e in events)


def test_metrics(console: Console) -> None:
    status, headers, body = console.get("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert 'dlmstw_exchanges_total{result="success"}' in text
    assert "dlmstw_capture_published_total" in text and "\ndlmstw_clients " in text
    assert "meter=" not in text  # one series per result, none per meter (DESIGN.md)


def test_packet_log_file(console: Console) -> None:
    lines = (console.lab.directory / "packets.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r["kind"] == "aarq" and r["result"] == "success" for r in records)
    assert all(RECORD_FIELDS <= set(r) for r in records)


def test_console_token_is_required_when_set(tmp_path: Path) -> None:
    lab, port = start(tmp_path, TOKEN)
    try:
        assert Console(lab, port).get("/api/meters")[0] == 401
        assert Console(lab, port, "wrong").get("/api/meters")[0] == 401
        assert Console(lab, port, TOKEN).get("/api/meters")[0] == 200
        assert Console(lab, port).get(f"/api/meters?token={TOKEN}")[0] == 200
        for rule in ConsoleApp.app.url_map.iter_rules():
            path = rule.rule.replace("<meter_id>", "abt-0")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"{}" if method == "PATCH"
                                                 else None, method=method)
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(request, timeout=10)
                assert refused.value.code == 401, (method, path)
    finally:
        stop_lab(lab)


def patch(console: Console, meter: str, changes: object) -> tuple[int, Any]:
    request = urllib.request.Request(f"{console.base}/api/meters/{meter}", data=json.dumps(changes).encode(),
                                     method="PATCH", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_patch_changes_a_running_meter(console: Console) -> None:
    status, detail = patch(console, "abt-1", {"load_profile_interval": 5, "load_profile_days": 2,
                                             "anomalies": "gaps:0.5", "faults": "delay:1ms..2ms"})
    assert status == 200 and detail["load_profile_interval"] == 5 and detail["load_profile_days"] == 2
    port = console.lab.ports[1]
    with MeterSession(port, 16) as session:
        profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
        assert session.read(profile, 4) == 300
        assert session.read(profile, 8) == 2 * 288
    status, _ = patch(console, "abt-1", {"associations": {"reader": {"lls_password": "NEWPASS1"}}})
    assert status == 200
    with pytest.raises(GXDLMSException):
        MeterSession(port, 32, "ABCD0001").associate()
    with MeterSession(port, 32, "NEWPASS1") as session:
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
    assert patch(console, "abt-1", {"state": "offline"}) == (200, patch(console, "abt-1", {})[1])
    assert console.json("/api/meters/abt-1")["state"] == "offline"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert patch(console, "abt-1", {"state": "online"})[0] == 200
    with MeterSession(port, 32, "NEWPASS1") as session:
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)


@pytest.mark.parametrize(("changes", "message"), [
    ({"load_profile_interval": 7}, "load_profile_interval"),
    ({"load_profile_days": 36}, "load_profile_days"),
    ({"anomalies": "purple:0.1"}, "purple"),
    ({"faults": "offline:10%"}, "state"),
    ({"state": "asleep"}, "state"),
    ({"associations": {"nobody": {"lls_password": "x"}}}, "nobody"),
    ({"associations": {"public": {"authentication_key": "0011"}}}, "16 bytes"),
    ({"colour": "red"}, "colour"),
    ([1, 2], "JSON object"),
])
def test_patch_refuses_bad_changes_whole(console: Console, changes: object, message: str) -> None:
    before = console.json("/api/meters/abt-0")
    status, body = patch(console, "abt-0", changes)
    assert status == 400 and message in body["error"]
    assert console.json("/api/meters/abt-0")["load_profile_interval"] == before["load_profile_interval"]

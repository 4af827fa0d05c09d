"""The console's HTTP API against a running ``twistd -n dlmssim`` (DESIGN.md
"Console HTTP API"): meters, the capture buffer as JSON and pcap, the live
stream of server-sent events, metrics, and the console token; and the packet
log file the service writes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms import GXDLMSException
from gurux_dlms.objects import GXDLMSClock, GXDLMSProfileGeneric

from dlmstw.monitor.capture import NORMAL_RESULTS
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
    """The log's writer is a low-priority process: on a busy machine its first batch takes a moment."""
    path = console.lab.directory / "packets.jsonl"
    deadline = time.monotonic() + 10
    while not (path.exists() and '"aarq"' in path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    records = [json.loads(line) for line in path.read_text().splitlines()]
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


def test_meters_page_shape_and_filters(console: Console) -> None:
    """Without paging parameters /api/meters is the plain list (tested above); with any of
    them, one page and the total (DESIGN.md)."""
    page = console.json("/api/meters?limit=1")
    assert page["total"] == 2 and [m["id"] for m in page["meters"]] == ["abt-0"]
    assert [m["id"] for m in console.json("/api/meters?offset=1")["meters"]] == ["abt-1"]
    assert console.json("/api/meters?offset=0")["limit"] == 50
    assert [m["id"] for m in console.json("/api/meters?q=1000002")["meters"]] == ["abt-1"]
    assert console.json("/api/meters?q=abt")["total"] == 2
    assert console.json(f"/api/meters?q={console.lab.ports[0]}")["meters"][0]["id"] == "abt-0"
    assert console.json("/api/meters?state=offline")["total"] == 0
    first = console.json("/api/meters?state=online")["meters"][0]
    assert {"requests", "errors", "last_seen", "faults", "anomalies", "clients"} <= set(first)
    assert first["requests"] >= 3 and first["last_seen"] > 0
    for bad in ("limit=0", "limit=1001", "offset=-1", "state=asleep", "limit=x"):
        status, _, body = console.get(f"/api/meters?{bad}")
        assert status == 400 and json.loads(body)["error"], bad


def test_packet_filters(console: Console) -> None:
    assert [r["kind"] for r in console.json("/api/packets?meter=abt-0&kind=aarq")] == ["aarq"]
    assert {r["result"] for r in console.json("/api/packets?result=released")} == {"released"}
    problems = console.json("/api/packets?errors=1")
    assert all(r["result"] not in NORMAL_RESULTS for r in problems)
    assert len(problems) < len(console.json("/api/packets"))
    assert console.json("/api/packets?kind=nothing") == []
    status, _, pcap = console.get("/api/packets.pcap?kind=get-request-normal")
    assert status == 200 and len(pcap) > 24
    status, _, body = console.get("/api/packets.json?kind=aarq")
    assert {r["kind"] for r in json.loads(body)} == {"aarq"}


def test_stream_starts_from_the_buffer(console: Console) -> None:
    stream = urllib.request.urlopen(console.base + "/api/packets/stream?meter=abt-0&kind=aarq&backfill=5",
                                    timeout=10)
    line = ""
    while not line.startswith("data: "):
        line = stream.readline().decode()
    stream.close()
    record = json.loads(line[6:])
    assert record["kind"] == "aarq" and record["meter"] == "abt-0"
    assert console.get("/api/packets/stream?backfill=501")[0] == 400


def test_meter_values_and_page(console: Console) -> None:
    values = console.json("/api/meters/abt-0/values")
    assert values["clock"][:2] == "20"
    voltage = next(r for r in values["registers"] if r["obis"] == "1.0.32.7.0.255")
    assert voltage["unit"] == "V" and isinstance(voltage["value"], float)
    assert values["profile"]["columns"][0] == "Clock" and 1 <= len(values["profile"]["rows"]) <= 5
    status, headers, body = console.get("/meters/abt-0")
    assert status == 200 and b"meter abt-0" in body and headers["content-type"].startswith("text/html")
    assert console.get("/meters/nope")[0] == 404


def test_keys_are_shown_on_loopback_only(console: Console) -> None:
    from twisted.internet.address import IPv4Address
    from twisted.web.test.requesthelper import DummyRequest

    keys = console.json("/api/meters/abt-0")["keys"]
    assert keys["reader"]["lls_password"] == "ABCD0001" and keys["public"]["lls_password"] is None
    app = ConsoleApp.__new__(ConsoleApp)
    app.token = None
    request = DummyRequest([b""])
    request.client = IPv4Address("TCP", "192.0.2.7", 40000)
    assert not app.shows_keys(request)
    request.client = IPv4Address("TCP", "127.0.0.1", 40000)
    assert app.shows_keys(request)
    app.token = TOKEN
    request.client = IPv4Address("TCP", "192.0.2.7", 40000)
    assert app.shows_keys(request)


def test_the_page_changes_meters_only_with_its_csrf_token(console: Console) -> None:
    """A browser's state-changing request (it names its origin) needs the page's token;
    a script's (no Origin) does not, as README documents."""
    def send(headers: dict[str, str]) -> int:
        request = urllib.request.Request(f"{console.base}/api/meters/abt-0", data=b"{}", method="PATCH",
                                         headers={"content-type": "application/json", **headers})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    page = console.get("/")[2].decode()
    csrf = page.split('data-csrf="')[1].split('"')[0]
    assert send({"origin": "http://evil.example"}) == 403
    assert send({"origin": "http://evil.example", "x-csrf-token": "guess"}) == 403
    assert send({"origin": console.base, "x-csrf-token": csrf}) == 200
    assert send({}) == 200


def test_assets_come_from_the_package(console: Console) -> None:
    status, headers, body = console.get("/static/console.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript") and b"EventSource" in body
    assert console.get("/static/favicon.svg")[1]["content-type"] == "image/svg+xml"
    assert console.get("/static/nope.js")[0] == 404
    assert console.get("/static/..%2Fconsole.py")[0] == 404


def post(console: Console, path: str, value: object, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(console.base + path, data=json.dumps(value).encode(), method="POST",
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if body.startswith(b"{") else body.decode()


@pytest.mark.parametrize(("plan", "message"), [
    ({"meters": "nope", "association": "public", "attributes": ["0.0.1.0.0.255:2"]}, "meters"),
    ({"meters": "abt", "association": "nobody", "attributes": ["0.0.1.0.0.255:2"]}, "association"),
    ({"meters": "abt", "association": "public", "attributes": ["9.9.9.9.9.9:2"]}, "attributes"),
    ({"meters": "abt", "association": "public", "attributes": ["0.0.1.0.0.255:2"], "concurrency": 0}, "concurrency"),
    ({"meters": "abt", "association": "public", "attributes": ["0.0.1.0.0.255:2"], "colour": "red"}, "colour"),
])
def test_campaign_plans_are_checked(console: Console, plan: dict[str, Any], message: str) -> None:
    status, body = post(console, "/api/campaigns", plan)
    assert status == 400 and message in body["error"]


def test_a_campaign_runs_in_the_lab(console: Console) -> None:
    status, started = post(console, "/api/campaigns", {"meters": "abt-0", "association": "reader",
                                                       "attributes": ["0.0.1.0.0.255:2"], "repetitions": 3})
    assert status == 201 and started["state"] == "running" and started["planned"] == 3
    deadline = time.monotonic() + 20
    while (found := console.json(f"/api/campaigns/{started['id']}"))["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert found["state"] == "done" and found["kpis"]["successes"] == 3, found
    assert found["kpis"]["acquisition_time_ms"]["total"]["p50"] > 0 and found["timeline"]
    assert started["id"] in [c["id"] for c in console.json("/api/campaigns")]
    assert console.get("/api/campaigns/999")[0] == 404
    # a browser's POST needs the page's CSRF token
    assert post(console, "/api/campaigns", {}, {"origin": "http://evil.example"})[0] == 403


def test_a_console_without_token_answers_loopback_hosts_only(console: Console) -> None:
    """DNS rebinding: a site whose name resolves to 127.0.0.1 must not read the console."""
    def status(host: str) -> int:
        request = urllib.request.Request(console.base + "/api/meters/abt-0", headers={"host": host})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status("evil.example:8080") == 403
    assert status("127.0.0.1") == status("localhost:8080") == status("[::1]:8080") == 200

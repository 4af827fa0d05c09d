"""``dlmstw-client campaign`` against a lab with faults: the KPIs a head-end
engineer measures (data acquisition time, communication failure rate) must be
right. One lab, two groups of 100 meters: ``faulty`` with
``offline:5%, drop:0.01, delay:50ms..200ms`` and ``clean`` without faults.

Which meters are offline follows from the lab (``offline_meters``), so the
test knows them exactly. A dropped request ends its attempt in a ``timeout``;
each attempt of an online meter sends 5 requests (AARQ, 3 GETs, RLRQ), so the
number of such attempts is binomial and must lie in its 99 % interval.
"""

from __future__ import annotations

import csv
import io
import json
import math
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from interop_support import Lab, find_free_port_range, launch_lab, stop_lab, twistd_env
from twisted.internet import error
from twisted.internet.task import Clock

from dlmstw.client.campaign import CSV_FIELDS, CampaignRun, figures
from dlmstw.client.cli import main
from dlmstw.client.outcomes import DataAccessFailed, ReleaseFailed, describe, exit_code, failure_name
from dlmstw.client.plan import parse_duration, parse_window
from dlmstw.client.progress import ProgressLine
from dlmstw.client.protocol import (
    AssociationRefused,
    AuthenticationRefused,
    ConnectionClosed,
    ResponseTimeout,
    ServiceRefused,
)
from dlmstw.client.session import AssociationRejected, AuthenticationFailed, ServiceFailed
from dlmstw.codec.acse import AARE
from dlmstw.codec.services import CosemAttributeDescriptor, ExceptionResponse
from dlmstw.enums import ActionResult, AssociationResult, DataAccessResult, ServiceError, StateError
from dlmstw.config import parse_lab
from dlmstw.server.faults import offline_meters

METERS = 100
ASSOCIATIONS = 3
DROP = 0.01
REQUESTS = 5
"""Per association: AARQ, three GET-Request-Normal, RLRQ."""
TARGETS = ["8/0.0.1.0.0.255:2", "1/0.0.96.1.0.255:2", "3/1.0.32.7.0.255:2"]
TIMEOUT = "2"


def binomial_interval(n: int, p: float, confidence: float = 0.99) -> tuple[int, int]:
    """The central ``confidence`` interval of Binomial(n, p): the smallest lo and hi with
    P(X < lo) <= (1 - confidence) / 2 and P(X > hi) <= (1 - confidence) / 2."""
    tail = (1 - confidence) / 2
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    below = 0.0
    lo = 0
    while below + pmf[lo] <= tail:
        below += pmf[lo]
        lo += 1
    above = 0.0
    hi = n
    while above + pmf[hi] <= tail:
        above += pmf[hi]
        hi -= 1
    return lo, hi


def test_binomial_interval() -> None:
    """Checked against the exact tails: Binomial(100, 0.5) 99 % is 37..63."""
    assert binomial_interval(100, 0.5) == (37, 63)
    assert binomial_interval(10, 0.0) == (0, 0)


@pytest.fixture(scope="module")
def fault_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, int, set[int]]]:
    directory = tmp_path_factory.mktemp("campaign-lab")
    port = find_free_port_range(2 * METERS + 1)
    ini = (f"[simulator]\nconsole = tcp:{port + 2 * METERS}:interface=127.0.0.1\n"
           f"state_dir = {directory / 'state'}\npacket_log = -\n\n"
           f"[meters:faulty]\ncount = {METERS}\nport = {port}\nload_profile_days = 2\n"
           f"faults = offline:5%, drop:{DROP}, delay:50ms..200ms\n\n"
           f"[meters:clean]\ncount = {METERS}\nport = {port + METERS}\nload_profile_days = 2\n\n"
           "[association:public]\nclient_sap = 16\n\n"
           "[association:reader]\nclient_sap = 32\nauthentication = lls\nlls_password = ABCD0001\n")
    offline = {port + int(meter_id.rpartition("-")[2]) for meter_id in offline_meters(parse_lab(ini))}
    assert len(offline) == 5
    listening = tuple(p for p in range(port, port + 2 * METERS + 1) if p not in offline)
    running = launch_lab(directory, ini, listening)
    try:
        yield running, port, offline
    finally:
        stop_lab(running)


def _campaign(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["campaign", *arguments, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_faults_show_in_the_kpis_and_the_csv_agrees(fault_lab: tuple[Lab, int, set[int]], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, port, offline = fault_lab
    table = tmp_path / "attempts.csv"
    kpis = _campaign([f"127.0.0.1:{port}-{port + METERS - 1}", *TARGETS, "--count", str(ASSOCIATIONS),
                      "--concurrency", "20", "--timeout", TIMEOUT, "--csv", str(table)], capsys)
    assert (kpis["meters"], kpis["attempts"], kpis["concurrency"]) == (METERS, METERS * ASSOCIATIONS, 20)
    names = kpis["failures_by_name"]
    assert set(names) <= {"connect-refused", "timeout"}, names

    # connect-refused: exactly the offline meters, every time.
    refused = {meter["meter"] for meter in kpis["per_meter"] if meter["failures_by_name"].get("connect-refused")}
    assert refused == {f"127.0.0.1:{p}" for p in offline}
    assert names["connect-refused"] == len(offline) * ASSOCIATIONS

    # timeouts: an attempt of an online meter is lost when any of its requests is dropped.
    online_attempts = (METERS - len(offline)) * ASSOCIATIONS
    lo, hi = binomial_interval(online_attempts, 1 - (1 - DROP) ** REQUESTS)
    assert lo <= names.get("timeout", 0) <= hi, (names, lo, hi)

    # The delay (50..200 ms on each of the five answers) is in the acquisition time; the connect has none.
    times = kpis["acquisition_time_ms"]
    # Lower bounds are facts; upper bounds leave room for a busy machine.
    assert times["total"]["min"] >= 5 * 50
    assert 4 * 125 <= times["total"]["p50"] <= 5 * 125 + 375
    assert 50 <= times["association"]["min"] and times["association"]["p50"] <= 125 + 125
    assert 3 * 50 <= times["reads"]["min"] and 50 <= times["release"]["min"]
    assert times["connect"]["p50"] < 100

    # The CSV: one row per attempt, and the JSON's overall figures follow from it.
    with table.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0]) == CSV_FIELDS and len(rows) == kpis["attempts"]
    results = Counter(row["result"] for row in rows)
    assert results["success"] == kpis["successes"] and results.total() - results["success"] == kpis["failures"]
    assert {name: count for name, count in results.items() if name != "success"} == names
    successes = [row for row in rows if row["result"] == "success"]
    for phase, column in (("total", "acquisition_ms"), ("connect", "connect_ms"), ("association", "association_ms"),
                          ("reads", "reads_ms"), ("release", "release_ms")):
        assert figures(float(row[column]) / 1000 for row in successes) == pytest.approx(times[phase], abs=0.002)
    for field in ("bytes_sent", "bytes_received", "rows"):
        assert sum(int(row[field]) for row in rows) == kpis[field]
    assert Counter(row["meter"] for row in rows) == {f"127.0.0.1:{p}": ASSOCIATIONS for p in range(port, port + METERS)}
    assert all(row["phase"] == "connect" for row in rows if row["result"] == "connect-refused")
    assert kpis["meters_per_s"] == pytest.approx(METERS / kpis["elapsed_s"], rel=0.01)


def test_the_same_campaign_without_faults_has_no_failures(fault_lab: tuple[Lab, int, set[int]],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, port, _ = fault_lab
    first = port + METERS
    kpis = _campaign([f"127.0.0.1:{first}-{first + METERS - 1}", *TARGETS, "--count", str(ASSOCIATIONS),
                      "--concurrency", "20", "--timeout", TIMEOUT], capsys)
    assert (kpis["attempts"], kpis["successes"], kpis["failures"], kpis["failures_by_name"]) == (300, 300, 0, {})
    # Below the floor of five delayed answers (5 x 50 ms) of the faulty group.
    assert kpis["acquisition_time_ms"]["total"]["p50"] < 5 * 50


def test_a_plan_with_the_consoles_meters_and_the_labs_association(fault_lab: tuple[Lab, int, set[int]],
                                                                  tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Meters from GET /api/meters, the reader's password from the lab, a one-day profile window."""
    lab, port, offline = fault_lab
    plan = tmp_path / "plan.toml"
    plan.write_text(f'console = "http://127.0.0.1:{port + 2 * METERS}/api/meters"\n'
                    f'lab = "{lab.ini_path}"\nassociation = "reader"\n'
                    'read = ["0.0.96.1.0.255:2", {target = "7/1.0.99.1.0.255:2", last = "1 day"}]\n'
                    f"repetitions = 1\nconcurrency = 64\ntimeout = \"{TIMEOUT}s\"\nretries = 1\n")
    kpis = _campaign(["--plan", str(plan)], capsys)
    assert kpis["meters"] == 2 * METERS and kpis["attributes"] == ["1/0.0.96.1.0.255:2", "7/1.0.99.1.0.255:2"]
    clean = [meter for meter in kpis["per_meter"] if int(meter["meter"].rpartition(":")[2]) >= port + METERS]
    assert all(meter["failures"] == 0 for meter in clean)
    assert set(kpis["failures_by_name"]) <= {"connect-refused", "timeout"}
    # A one-day window of a 15-minute profile: 96 or 97 rows, on every successful association.
    assert 96 * kpis["successes"] <= kpis["rows"] <= 97 * kpis["successes"]
    # Each offline meter: one attempt and one retry, both refused.
    assert kpis["failures_by_name"]["connect-refused"] == 2 * len(offline) and kpis["retries"] >= len(offline)


def test_plan_and_campaign_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.toml"
    for text, message in (("meters = 5\n", "meters: expected a string or a list of strings"),
                          ("speed = 3\n", "speed: unknown key"),
                          ('meters = "127.0.0.1:1"\nread = ["x"]\n', "read: 'x': expected [CLASS/]OBIS:ATTRIBUTE"),
                          ('meters = "127.0.0.1:1"\nread = ["8/0.0.1.0.0.255:2"]\nassociation = "reader"\n',
                           "association 'reader': needs --lab"),
                          ("meters = [\n", "not TOML")):
        plan.write_text(text)
        assert main(["campaign", "--plan", str(plan)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and message in err, err
    assert main(["campaign", "8/0.0.1.0.0.255:2"]) == 2
    assert "no meters" in capsys.readouterr().err
    assert main(["campaign", "127.0.0.1:1", "--concurrency", "0", "8/0.0.1.0.0.255:2"]) == 2
    assert main(["campaign", "--lab", str(tmp_path / "missing.ini"), "8/0.0.1.0.0.255:2", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "usage"
    assert main(["campaign", "127.0.0.1:1", "8/0.0.1.0.0.255:2", "--csv", str(tmp_path), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "usage" and "Is a directory" in captured.err


def test_concurrency_bounds_the_open_associations_and_the_wait_is_not_timed(
        fault_lab: tuple[Lab, int, set[int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """From the CSV: never more than --concurrency attempts between connect and release
    at once. Had the wait for a slot been timed, the timed spans of the 100 attempts
    (all queued at the start) would overlap far more than that."""
    _, port, _ = fault_lab
    first = port + METERS
    for concurrency in (5, 1):
        table = tmp_path / f"c{concurrency}.csv"
        kpis = _campaign([f"127.0.0.1:{first}-{first + METERS - 1}", *TARGETS, "--concurrency", str(concurrency),
                          "--csv", str(table)], capsys)
        assert kpis["failures"] == 0
        with table.open(newline="") as stream:
            spans = [(float(row["start_s"]), float(row["start_s"]) + float(row["acquisition_ms"]) / 1000)
                     for row in csv.DictReader(stream)]
        events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans],
                        key=lambda event: (event[0], event[1]))
        open_now = peak = 0
        for _, step in events:
            open_now += step
            peak = max(peak, open_now)
        assert peak <= concurrency


def test_failure_names_and_exit_codes() -> None:
    """Each failure in DESIGN.md's words, with the exit status of its kind."""
    aare = AARE(application_context_name=1, result=AssociationResult.REJECTED_PERMANENT,
                result_source_diagnostic=(1, 13))
    rejected = AssociationRefused(AssociationRejected(AssociationResult.REJECTED_PERMANENT, (1, 13), None, aare))
    cases = [
        (error.ConnectionRefusedError(), "connect-refused", 3),
        (error.TimeoutError(), "timeout", 3),
        (error.DNSLookupError("nosuchhost.invalid"), "connect-refused", 3),
        (ResponseTimeout("no answer"), "timeout", 3),
        (ConnectionClosed("gone"), "connection-lost", 3),
        (rejected, "association-rejected:authentication-failure", 4),
        (AuthenticationRefused(AuthenticationFailed(ActionResult.READ_WRITE_DENIED, "the meter refused f(StoC)")),
         "authentication-failure", 4),
        (DataAccessFailed(CosemAttributeDescriptor(3, bytes(6), 2), DataAccessResult.READ_WRITE_DENIED),
         "data-access-result:read-write-denied", 5),
        (ServiceRefused(ServiceFailed(ExceptionResponse(StateError.SERVICE_NOT_ALLOWED,
                                                        ServiceError.OPERATION_NOT_POSSIBLE))),
         "exception-response:service-not-allowed/operation-not-possible", 5),
        (ReleaseFailed(ResponseTimeout("no answer")), "timeout", 6),
        (ValueError("bug"), None, 1),
    ]
    for failure, name, code in cases:
        assert (failure_name(failure), exit_code(failure)) == (name, code), failure
        assert "\n" not in describe(failure)
    assert describe(rejected) == "association rejected: authentication-failure"


def test_the_progress_line_draws_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    clock, run = Clock(), CampaignRun()
    piped = io.StringIO()
    quiet = ProgressLine(clock, run, 10, piped)
    quiet.start()
    clock.advance(1)
    quiet.stop()
    assert piped.getvalue() == "" and clock.getDelayedCalls() == []
    terminal = Terminal()
    line = ProgressLine(clock, run, 10, terminal)
    line.start()
    run.failures = 1
    clock.advance(1)
    line.stop()
    assert "campaign" in terminal.getvalue() and "1 failed" in terminal.getvalue()
    assert clock.getDelayedCalls() == []


def test_ctrl_c_ends_a_campaign_with_the_report_of_what_was_measured(
        fault_lab: tuple[Lab, int, set[int]]) -> None:
    _, port, _ = fault_lab
    first = port + METERS
    campaign = subprocess.Popen([sys.executable, "-m", "dlmstw.client.cli", "campaign",
                                 f"127.0.0.1:{first}-{first + METERS - 1}", *TARGETS, "--duration", "120",
                                 "--interval", "0.05", "--json"], env=twistd_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    campaign.send_signal(signal.SIGINT)
    out, err = campaign.communicate(timeout=30)
    assert campaign.returncode == 0, err
    kpis = json.loads(out)
    assert kpis["interrupted"] and kpis["attempts"] > 0 and kpis["failures"] == 0, err
    assert kpis["elapsed_s"] < 20 and "interrupted; finishing the associations under way" in err


def test_the_readable_table(fault_lab: tuple[Lab, int, set[int]], capsys: pytest.CaptureFixture[str]) -> None:
    _, port, offline = fault_lab
    down = min(offline)
    assert main(["campaign", f"127.0.0.1:{down},127.0.0.1:{port + METERS}-{port + METERS + 3}", *TARGETS,
                 "--with-list", "--timeout", TIMEOUT]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "5 meters, 1 client(s) each, 1 repetitions, concurrency 256, 3 attribute(s) an association"
    assert lines[2].startswith("attempts 5, successes 4, failures 1 (20.00%), retries 0, rows 0, bytes sent ")
    assert lines[3].split() == ["acquisition", "time", "(ms)", "min", "p50", "p90", "p99", "max", "mean"]
    assert [line.split()[0] for line in lines[4:9]] == ["total", "connect", "association", "reads", "release"]
    assert lines[9:] == ["failures by name", f"  {'connect-refused':<50}{1:>8}", "meters with failures: 1",
                         f"  127.0.0.1:{down}: 1/1 failed (connect-refused 1)"]


@pytest.mark.parametrize(("text", "seconds"), [
    ("10", 10.0), (2.5, 2.5), ("50ms", 0.05), ("1.5 s", 1.5), ("15min", 900.0), ("3 mins", 180.0),
    ("2 hours", 7200.0), ("6h", 21600.0), ("1 day", 86400.0), ("5 secs", 5.0)])
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["x", "5 parsecs", "-1s", "1e3", float("inf"), float("nan"), -1])
def test_bad_durations(text: str | float) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_windows() -> None:
    assert parse_window("1 day").seconds == parse_window("last 24 hours").seconds == 86400
    assert parse_window("90").seconds == 90 * 86400  # a bare number counts days
    with pytest.raises(ValueError):
        parse_window("last 0 min")

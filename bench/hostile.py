"""Hostile input under load: ``twistd -n dlmssim`` (one worker process, packet
log on) with N meters that take malformed and mutated frames from many
parallel attack sessions, and one more meter that the unmodified gurux-dlms
client reads meanwhile (``gurux_reader.py``: clock, registers and two hours
of the load profile, over LLS, in a loop).

The attack (``hostile_sender.py``, scenarios in ``hostile_scenarios.py``)
runs in two parts: a warm-up of 10 % of the frames (at least 20,000, so that
the console's capture buffer of 10,000 exchanges fills), then the rest. The
resident memory of twistd and all its child processes is measured a few
seconds after each. Then every meter must still answer a public AARQ and a
GET of the clock, and twistd is stopped (SIGTERM) and its log read.

It prints the frames sent by scenario, the answers by kind (ApduTag names,
"closed by the meter", "no answer"), the connections, the reader's reads and
errors, the RSS after the warm-up and after the run, the service log's lines
at error or critical level, and whether a Traceback appears. PASS when the
reader saw no error, every meter answers, the log has no Traceback and the
RSS after the run is within 10 % of the RSS after the warm-up.

    python bench/hostile.py [--frames 100000] [--meters 50] [--seconds 600] [--seed 1] [--concurrency 64]
    python bench/hostile.py --quick      # 5,000 frames, 5 meters: about 30 s

Exit status: 0 PASS, 1 FAIL, 2 it could not run, 130 interrupted.
Only 127.0.0.1 is used; every process it starts is stopped, also on Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import harness
from dlmstw.codec import acse
from dlmstw.enums import ApduTag, AssociationResult
from dlmstw.errors import DecodeError
from harness import BenchError, free_port_range, run_main, stop_group, tree_rss, twistd, verdict, wait_listening
from hostile_scenarios import ANSWER_WAIT, CLOCK, INVOKE_ID_AND_PRIORITY, SCENARIOS, Clients, Meter, get
from hostile_sender import Sender, Tally

#: The associations the lab takes from the sample lab, as lab.ini has them.
SAMPLE_LAB = harness.REPO_ROOT / "etc" / "lab.ini"
ASSOCIATIONS = ("public", "reader", "utility")
WARMUP_SHARE = 10
WARMUP_LEAST = 20_000
QUICK = {"frames": 5_000, "meters": 5, "warmup": 4_000}
#: The RSS after the run may differ from the RSS after the warm-up by this share.
RSS_LIMIT = 0.10
#: Seconds between the end of a part and the RSS reading.
SETTLE = 3.0
#: Seconds the reader has to finish its read in progress and report.
READER_STOP = 60.0
#: Markers of twistd's log lines at error and critical level.
ERROR_MARKERS = ("#error]", "#critical]")
LINES_SHOWN = 5
TRACEBACK_LINES = 20
MIB = 1 << 20


def sample_associations() -> dict[str, dict[str, str]]:
    """The public, reader and utility associations of etc/lab.ini, key by key."""
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    if not parser.read(SAMPLE_LAB):
        raise BenchError(f"cannot read {SAMPLE_LAB}")
    try:
        return {name: dict(parser[f"association:{name}"]) for name in ASSOCIATIONS}
    except KeyError as missing:
        raise BenchError(f"{SAMPLE_LAB} has no section {missing}") from None


def clients_of(associations: dict[str, dict[str, str]]) -> Clients:
    public, reader, utility = (associations[name] for name in ASSOCIATIONS)
    return Clients(int(public["client_sap"]), int(reader["client_sap"]), reader["lls_password"].encode(),
                   int(utility["client_sap"]), bytes.fromhex(utility["block_cipher_key"]),
                   bytes.fromhex(utility["authentication_key"]))


def lab_text(first_port: int, meters: int, directory: Path, associations: dict[str, dict[str, str]],
             max_clients: int) -> str:
    """One group of ``meters`` meters, workers = 1, the packet log on."""
    sections = "\n".join(f"[association:{name}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())
                         for name, keys in associations.items())
    return harness.lab_ini(first_port, meters, directory / "state", max_clients=max_clients, associations=sections,
                           packet_log=str(directory / "packets.jsonl"), workers=1)


class Reader:
    """``gurux_reader.py`` as a child process; it reads until its standard input closes."""

    def __init__(self, directory: Path, port: int, clients: Clients, seconds: float) -> None:
        self.argv = [sys.executable, str(harness.BENCH_DIR / "gurux_reader.py"), "--port", str(port),
                     "--client-sap", str(clients.reader_sap), "--password", clients.reader_password.decode(),
                     "--seconds", str(seconds)]
        self.log_path = directory / "reader.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Reader:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            env=harness.child_env(), start_new_session=True)
        return self

    def finish(self) -> dict[str, Any]:
        """Close its input and return the JSON it prints."""
        assert self.process is not None
        try:
            out, _ = self.process.communicate(timeout=READER_STOP)
        except subprocess.TimeoutExpired:
            raise BenchError(f"the gurux reader did not stop within {READER_STOP:.0f} s") from None
        lines = out.decode(errors="replace").strip().splitlines()
        if self.process.returncode != 0 or not lines:
            raise BenchError(f"the gurux reader exited with {self.process.returncode}:\n"
                             f"{self.log_path.read_text(errors='replace')[-3000:]}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def probe(port: int) -> str | None:
    """None when the meter accepts a public AARQ and answers a GET of the clock with
    data; else what went wrong."""
    try:
        with harness.BlockingClient(port, timeout=ANSWER_WAIT) as client:
            aare = acse.decode_aare(client.exchange(harness.PUBLIC_AARQ))
            if aare.result != AssociationResult.ACCEPTED:
                return f"the AARQ was refused: {aare}"
            answer = client.exchange(get(CLOCK))
    except (OSError, BenchError, DecodeError) as error:
        return f"{type(error).__name__}: {error}"
    if answer[:4] != bytes((ApduTag.GET_RESPONSE, 1, INVOKE_ID_AND_PRIORITY, 0)):
        return f"the GET of the clock was answered {answer.hex()}"
    return None


def memory_text(twistd_pid: int) -> str:
    """The RSS of twistd and its children now: in all, and by process."""
    resident = tree_rss(twistd_pid)
    parts = ", ".join(f"{'twistd' if pid == twistd_pid else f'child {pid}'} {size / MIB:.1f}"
                      for pid, size in resident.items())
    return f"{sum(resident.values()) / MIB:.1f} MiB ({parts})"


def error_lines(log: str) -> list[str]:
    """twistd's log lines at error or critical level."""
    return [line for line in log.splitlines() if any(marker in line for marker in ERROR_MARKERS)]


def first_traceback(log: str) -> list[str]:
    """The lines of the log's first Traceback and the line before it (empty when there is none)."""
    lines = log.splitlines()
    start = next((number for number, line in enumerate(lines) if "Traceback" in line), None)
    return [] if start is None else lines[max(0, start - 1):start + TRACEBACK_LINES]


def kinds_text(kinds: Counter[str]) -> str:
    return ", ".join(f"{kind} {count:,}" for kind, count in kinds.most_common())


def print_tally(tally: Tally, seconds: float) -> None:
    sent = tally.frames_sent
    print(f"frames sent: {sent:,} in {seconds:.1f} s ({sent / max(seconds, 1e-9):,.0f}/s), "
          f"{sum(tally.sessions.values()):,} connections")
    print(f"  {'scenario':<24} {'connections':>11} {'frames':>8}  answers")
    for name in SCENARIOS:
        print(f"  {name:<24} {tally.sessions[name]:>11,} {tally.frames[name]:>8,}  "
              f"{kinds_text(tally.by_scenario[name]) or '-'}")
    print("answers by kind:")
    for kind, count in tally.answers.most_common():
        print(f"  {kind:<32} {count:>9,}")
    failures = kinds_text(tally.connect_failures) or "none"
    print(f"connections: {sum(tally.sessions.values()):,} opened; could not connect: {failures}")
    unanswered = sum(tally.unanswered.values())
    detail = f" ({kinds_text(tally.unanswered)})" if unanswered else ""
    print(f"well-formed requests with neither an answer nor a close within {ANSWER_WAIT:.0f} s: "
          f"{unanswered:,}{detail}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames to send in all")
    parser.add_argument("--meters", type=int, default=50, help="meters under attack (one more is read by gurux)")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop sending after this long at the latest")
    parser.add_argument("--seed", type=int, default=1, help="seed of the scenario draws")
    parser.add_argument("--concurrency", type=int, default=64, help="attack sessions in flight")
    parser.add_argument("--warmup", type=int, help="frames before the first RSS reading "
                        f"(default {WARMUP_SHARE} %% of --frames, at least {WARMUP_LEAST:,})")
    parser.add_argument("--rss-every", type=int, default=20_000, help="frames between RSS readings after the warm-up")
    parser.add_argument("--quick", action="store_true", help="5,000 frames to 5 meters, 4,000 of them as warm-up")
    parser.add_argument("--directory", type=Path, help="run the lab in this folder and keep it (default: a "
                        "temporary folder, removed)")
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    if min(args.frames, args.meters, args.concurrency, args.rss_every) < 1:
        parser.error("--frames, --meters, --concurrency and --rss-every must be at least 1")
    warmup = min(args.frames, args.warmup if args.warmup is not None
                 else max(args.frames // WARMUP_SHARE, WARMUP_LEAST))
    associations = sample_associations()
    clients = clients_of(associations)
    with contextlib.ExitStack() as stack:
        if args.directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dlmstw-hostile-")))
        else:
            directory = args.directory.resolve()
            directory.mkdir(parents=True, exist_ok=True)
        first = free_port_range(args.meters + 1)
        (directory / "lab.ini").write_text(lab_text(first, args.meters + 1, directory, associations,
                                                    max_clients=args.concurrency + 4))
        lab = twistd(directory)
        stack.callback(stop_group, lab)
        started = wait_listening(lab, directory, 1)
        meters = [Meter(index, first + index) for index in range(args.meters)]
        reader_port = first + args.meters
        print(f"hostile input: {args.meters} meters under attack and 1 read by gurux-dlms "
              f"(127.0.0.1:{first}-{reader_port}), one worker process, packet log on; "
              f"listening {started:.1f} s after start")
        print(f"  {args.frames:,} frames ({warmup:,} of them as warm-up), {args.concurrency} sessions in flight, "
              f"seed {args.seed}, at most {args.seconds:.0f} s", flush=True)
        reader = stack.enter_context(Reader(directory, reader_port, clients, args.seconds + 300))
        sender = Sender(meters, clients, args.seed, args.concurrency)
        stack.callback(sender.close)
        began = time.monotonic()
        deadline = began + args.seconds
        sender.run(warmup, deadline)
        warm_seconds = time.monotonic() - began
        time.sleep(SETTLE)
        rss_warm = sum(tree_rss(lab.pid).values())
        print(f"warm-up: {sender.tally.frames_sent:,} frames in {warm_seconds:.1f} s; RSS {memory_text(lab.pid)}",
              flush=True)
        resumed = time.monotonic()
        for mark in [*range(warmup + args.rss_every, args.frames, args.rss_every), args.frames]:
            sender.run(mark, deadline)
            print(f"  {sender.tally.frames_sent:,} frames after {warm_seconds + time.monotonic() - resumed:.0f} s: "
                  f"RSS {memory_text(lab.pid)}", flush=True)
            if sender.tally.frames_sent < mark:
                break
        seconds = warm_seconds + time.monotonic() - resumed
        time.sleep(SETTLE)
        rss_after = sum(tree_rss(lab.pid).values())
        if sender.tally.frames_sent < args.frames:
            print(f"note: stopped by --seconds {args.seconds:.0f} before --frames {args.frames:,}")
        unanswering = {index: failure for index, failure in enumerate(map(probe, range(first, reader_port + 1)))
                       if failure is not None}
        reading = reader.finish()
        status = stop_group(lab)
        log = (directory / "twistd.log").read_text(errors="replace")

    print_tally(sender.tally, seconds)
    print(f"gurux-dlms reader: {reading['reads']:,} reads in {reading['seconds']:.0f} s ({reading['rows']:,} profile "
          f"rows), {reading['errors']:,} errors")
    for text in reading["first_errors"]:
        print(f"  {text}")
    ratio = rss_after / rss_warm
    print(f"RSS of twistd and its children: {rss_warm / MIB:.1f} MiB after the warm-up, {rss_after / MIB:.1f} MiB "
          f"after the run: ratio {ratio:.3f} (limit {1 - RSS_LIMIT:.2f}..{1 + RSS_LIMIT:.2f})")
    errors = error_lines(log)
    traceback = "Traceback" in log
    print(f"service log: {len(errors):,} lines at error or critical level; "
          f"{'a Traceback' if traceback else 'no Traceback'}; twistd stopped with status {status}")
    for line in errors[:LINES_SHOWN] + first_traceback(log):
        print(f"  {line}")
    print(f"every meter answers: {args.meters + 1 - len(unanswering)} of {args.meters + 1}")
    for index, failure in sorted(unanswering.items()):
        print(f"  meter {index}: {failure}")
    checks = {
        "reader errors 0": reading["errors"] == 0 and reading["reads"] > 0,
        "every meter answers": not unanswering,
        "no Traceback": not traceback,
        f"RSS within {RSS_LIMIT:.0%}": abs(ratio - 1) <= RSS_LIMIT,
    }
    passed = all(checks.values())
    print("hostile input: " + ", ".join(f"{name} {verdict(ok)}" for name, ok in checks.items())
          + f": {verdict(passed)}")
    return 0 if passed else 1


if __name__ == "__main__":
    harness.stop_on_sigterm()
    run_main(main)

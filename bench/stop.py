"""Stopping a busy lab: ``twistd -n dlmssim`` with N meters (W worker
processes) and the packet log on, a campaign reading every meter, then
SIGINT to the whole process group as a terminal's Ctrl-C sends it: during
the campaign, and again in a new lab right after a campaign ends.

It prints, for each stop, the seconds from SIGINT to twistd's end, the exit
status, the exchanges captured, dropped and written (the lab's last log line)
and the records in the log file. Target: every stop within 5 s, status 0,
and every record not counted as dropped in the file.

    python bench/stop.py [--meters 1000] [--workers 2] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import BenchError, child_env, free_port_range, lab_ini, run_main, twistd, verdict, wait_listening

STOP_TARGET = 5.0
STOPPED = re.compile(r"lab stopped: (\d+) exchanges captured, (\d+) dropped before the log; "
                     r"packet log: (\d+) written, (\d+) dropped")


def campaign(first: int, meters: int, *how: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dlmstw.client.cli", "campaign",
                             f"127.0.0.1:{first}-{first + meters - 1}", "0.0.1.0.0.255:2", "0.0.96.1.0.255:2", *how],
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(lab: subprocess.Popen[bytes], directory: Path, label: str) -> bool:
    began = time.monotonic()
    os.killpg(lab.pid, signal.SIGINT)
    try:
        status = lab.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(lab.pid, signal.SIGKILL)
        raise BenchError(f"{label}: twistd did not end within 60 s of SIGINT") from None
    seconds = time.monotonic() - began
    text = (directory / "twistd.log").read_text(errors="replace")
    found = STOPPED.findall(text)
    if not found:
        raise BenchError(f"{label}: no 'lab stopped' line\n{text[-3000:]}")
    captured, capture_dropped, written, log_dropped = map(int, found[-1])
    lines = sum(len(path.read_bytes().splitlines()) for path in directory.glob("packets.jsonl*"))
    complete = lines == written == captured - capture_dropped - log_dropped
    passed = seconds <= STOP_TARGET and status == 0 and complete and "Traceback" not in text
    print(f"  {label:<16} stopped in {seconds:5.2f} s, status {status}; captured {captured:,}, dropped "
          f"{capture_dropped:,} + {log_dropped:,}, written {written:,}, in the file {lines:,}  {verdict(passed)}")
    return passed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="campaign time before the first SIGINT")
    parser.add_argument("--quick", action="store_true",
                        help="a check that it runs, not a measurement: 20 meters, 1 worker, 1 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.meters, args.workers, args.seconds = 20, 1, 1.0
    passed = True
    print(f"{args.meters:,} meters, {args.workers} worker process(es), packet log on")
    for when in ("during", "right after"):
        with tempfile.TemporaryDirectory(prefix="dlmstw-stop-") as folder:
            directory = Path(folder)
            first = free_port_range(args.meters)
            (directory / "lab.ini").write_text(lab_ini(first, args.meters, directory / "state", max_clients=4,
                                                       load_profile_days=1, packet_log=str(directory / "packets.jsonl"),
                                                       workers=args.workers))
            lab = twistd(directory)
            try:
                listening = wait_listening(lab, directory, max(1, args.workers))
                print(f"  {when}: {args.meters:,} meters listening {listening:.1f} s after start")
                if when == "during":
                    reads = campaign(first, args.meters, "--duration", str(args.seconds + 30))
                    time.sleep(args.seconds)
                else:
                    reads = campaign(first, args.meters, "--count", "3")
                    reads.wait(timeout=args.seconds * 10 + 60)
                passed &= stop(lab, directory, f"SIGINT {when}")
                reads.kill()
                reads.wait()
            finally:
                if lab.poll() is None:
                    os.killpg(lab.pid, signal.SIGKILL)
                    lab.wait()
    print(f"stopping a busy lab: within {STOP_TARGET:.0f} s, status 0, nothing lost: {verdict(passed)}")
    return 0 if passed else 1


if __name__ == "__main__":
    run_main(main)

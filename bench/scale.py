"""Fleet scale: a lab of N idle meters (default 100,000; ``--quick`` 2,000),
then a sweep of every meter with a bounded-concurrency campaign.

``twistd -n dlmssim`` (``workers = auto``, packet log off, ``max_clients =
2``, the public association) serves N is15959-abt meters spread over loopback
addresses 127.0.0.2, 127.0.0.3, ..., at most ``--per-address`` (25,000) on
each, on ports below the kernel's ephemeral range. The script reports:

- the seconds from starting twistd until every worker says its meters
  listen, and the total resident memory (VmRSS) of every process of the lab
  (twistd, its workers, the packet-log writer when there is one);
- the sweep: ``dlmstw-client campaign --concurrency 256 --json`` over every
  meter (connect, associate, read the serial number 0.0.96.1.0.255:2 and the
  clock 0.0.1.0.0.255:2, release), its seconds, meters/s and failures by name;
- the total resident memory after the sweep.

Targets (issue "Fleet scale"), for up to 100,000 meters: listening within
30 s, at most 1.5 GiB idle, the sweep within 90 s with no failure, at most
2 GiB after it. ``--meters 1000000`` (or any count above 100,000) reports
the listen time and the memory only, with no sweep and no verdict.

    python bench/scale.py [--meters 100000 | --quick] [--concurrency 256] [--per-address 25000]

Every run is bounded (the lab's start, the sweep) and stops the lab it
started, also on Ctrl-C, SIGTERM or an error. ``DLMSTW_BENCH_PRIORITY=high``
gives the lab's session (twistd and its workers) and the campaign's the
highest scheduling weight, as for the other benchmarks. Only loopback addresses are
used. Exit status: 0 PASS (or figures only), 1 FAIL, 2 the benchmark could
not run.
"""

from __future__ import annotations

import argparse
import json
import resource
import math
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
from harness import BenchError, child_env, cpu_seconds, process_tree, stop_group, tree_rss, twistd, verdict

from dlmstw.config import parse_lab
from dlmstw.server.workers import worker_count

TARGET_METERS = 100_000
QUICK_METERS = 2_000
#: A short run still has several addresses and worker processes.
QUICK_PER_ADDRESS = 1_000
QUICK_WORKERS = "2"
LISTEN_TARGET = 30.0
IDLE_RSS_TARGET = 1.5 * 2**30
SWEEP_TARGET = 90.0
SWEPT_RSS_TARGET = 2 * 2**30
#: Meters on one loopback address: ports FIRST_PORT .. FIRST_PORT + 24,999 stay below 32768.
PER_ADDRESS = 25_000
FIRST_PORT = 5_000
#: What the sweep reads of every meter: the serial number and the clock.
SWEEP_ATTRIBUTES = ("0.0.96.1.0.255:2", "0.0.1.0.0.255:2")
#: Seconds the lab has to listen, and the sweep to end, before the run is given up.
START_TIMEOUT = 600.0
SWEEP_TIMEOUT = 600.0
SETTLE_SECONDS = 2.0
WORKER_LISTENING = re.compile(r"worker \d+ \(pid \d+\): \d+ of \d+ meters listening")
GROUP_LISTENING = re.compile(r"\[meters:\S+\] \d+ meters .* \d+ listening$", re.MULTILINE)


def lab_text(meters: int, per_address: int, first_port: int, first_address: int, state_dir: Path,
             workers: str = "auto") -> str:
    """The lab: one group per loopback address, ``per_address`` meters each (the last one the rest)."""
    groups = []
    for number in range(math.ceil(meters / per_address)):
        count = min(per_address, meters - number * per_address)
        groups.append(f"""
[meters:a{number}]
count = {count}
interface = 127.0.0.{first_address + number}
port = {first_port}
model = is15959-abt
max_clients = 2
""")
    return f"""\
[simulator]
console = tcp:0:interface=127.0.0.1
state_dir = {state_dir}
packet_log = -
workers = {workers}
{"".join(groups)}
[association:public]
client_sap = {harness.PUBLIC_CLIENT}
authentication = none
context = ln
access = read
"""


def free_on(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def quick_place(meters: int, per_address: int) -> tuple[int, int]:
    """For a short run: a loopback address and first port where the lab's ports are all free now
    (tests may run beside other labs on this machine)."""
    addresses = math.ceil(meters / per_address)
    for _ in range(50):
        first_address = random.randint(2, 250 - addresses)
        first_port = random.randint(10_000, harness.EPHEMERAL_FIRST - per_address)
        if all(free_on(f"127.0.0.{first_address + a}", first_port + p)
               for a in range(addresses) for p in range(min(per_address, meters))):
            return first_address, first_port
    raise BenchError("no free loopback ports found for the lab")


def wait_listening(lab: subprocess.Popen[bytes], log: Path, workers: int, groups: int) -> float:
    """Seconds from now until the log says every worker (or, in one process, every group) listens."""
    began = time.monotonic()
    while True:
        text = log.read_text(errors="replace")
        done = (len(WORKER_LISTENING.findall(text)) >= workers if workers > 1
                else len(GROUP_LISTENING.findall(text)) >= groups)
        if done:
            return time.monotonic() - began
        if lab.poll() is not None or time.monotonic() - began > START_TIMEOUT:
            raise BenchError(f"the lab did not start\n{text[-3000:]}")
        time.sleep(0.1)


def lab_cpu(pid: int) -> float:
    """CPU seconds (user + system) that ``pid`` and its descendants used so far."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += cpu_seconds(member)
        except OSError:
            continue  # ended meanwhile
    return total


def total_rss(pid: int) -> tuple[int, int]:
    """The summed VmRSS (bytes) of ``pid`` and its descendants, and how many processes that is."""
    resident = tree_rss(pid)
    return sum(resident.values()), len(resident)


def sweep(ranges: list[str], concurrency: int) -> dict[str, object]:
    """``dlmstw-client campaign`` over every meter once; its JSON report."""
    argv = [sys.executable, "-m", "dlmstw.client.cli", "campaign", ",".join(ranges), *SWEEP_ATTRIBUTES,
            "--concurrency", str(concurrency), "--timeout", "20", "--json"]
    campaign = subprocess.Popen(argv, env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    try:
        harness.place(campaign.pid, None)
        stdout, stderr = campaign.communicate(timeout=SWEEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the sweep did not end within {SWEEP_TIMEOUT:.0f} s") from None
    finally:
        if campaign.poll() is None:
            campaign.kill()
            campaign.wait()
    try:
        report = json.loads(stdout)
    except ValueError:
        raise BenchError(f"the campaign printed no JSON report (status {campaign.returncode}): "
                         f"{stderr.decode(errors='replace')[-2000:]}") from None
    if not isinstance(report, dict):
        raise BenchError(f"the campaign's report is not a JSON object: {stdout[:200]!r}")
    return report


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=TARGET_METERS, help="meters in the lab (default 100,000)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_METERS:,} meters, on free ports")
    parser.add_argument("--concurrency", type=int, default=256, help="the sweep's open associations (default 256)")
    parser.add_argument("--per-address", type=int, default=PER_ADDRESS,
                        help=f"meters per loopback address (default {PER_ADDRESS:,})")
    args = parser.parse_args(argv)
    meters = QUICK_METERS if args.quick else args.meters
    per_address = QUICK_PER_ADDRESS if args.quick else args.per_address
    if meters < 1 or args.concurrency < 1 or not 1 <= per_address <= harness.EPHEMERAL_FIRST - FIRST_PORT:
        raise BenchError("--meters, --concurrency and --per-address must be positive "
                         f"(--per-address at most {harness.EPHEMERAL_FIRST - FIRST_PORT})")
    addresses = math.ceil(meters / per_address)
    if addresses > 248:
        raise BenchError(f"{meters:,} meters need {addresses} loopback addresses: raise --per-address")
    first_address, first_port = quick_place(meters, per_address) if args.quick else (2, FIRST_PORT)
    with_sweep = meters <= TARGET_METERS
    harness.stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="dlmstw-scale-") as folder:
        directory = Path(folder)
        text = lab_text(meters, per_address, first_port, first_address, directory / "state",
                        QUICK_WORKERS if args.quick else "auto")
        (directory / "lab.ini").write_text(text)
        workers = worker_count(parse_lab(text))
        print(f"{meters:,} idle is15959-abt meters on 127.0.0.{first_address}..127.0.0.{first_address + addresses - 1}"
              f" from port {first_port}, {workers} worker process{'es' if workers > 1 else ''}, packet log off")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run"
              f"{', DLMSTW_BENCH_PRIORITY=high' if harness.PRIORITY == 'high' else ''}", flush=True)
        lab = twistd(directory)
        try:
            harness.place(lab.pid, None)
            listen = wait_listening(lab, directory / "twistd.log", workers, addresses)
            started_cpu = lab_cpu(lab.pid)
            time.sleep(SETTLE_SECONDS)
            idle, processes = total_rss(lab.pid)
            print(f"  listening after {listen:.1f} s ({started_cpu:.1f} CPU seconds of the lab); resident "
                  f"{gib(idle)} in {processes} processes ({idle / meters / 1024:.1f} KiB per meter)", flush=True)
            if not with_sweep:
                print("\nfigures only (the targets are for 100,000 meters; no sweep above that)")
                return 0
            ranges = [f"127.0.0.{first_address + a}:{first_port}-"
                      f"{first_port + min(per_address, meters - a * per_address) - 1}"
                      for a in range(addresses)]
            before_cpu, client_before = lab_cpu(lab.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
            report = sweep(ranges, args.concurrency)
            client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            sweep_cpu = lab_cpu(lab.pid) - before_cpu
            client_cpu = (client_after.ru_utime + client_after.ru_stime
                          - client_before.ru_utime - client_before.ru_stime)
            swept, _ = total_rss(lab.pid)
        finally:
            status = stop_group(lab)
        if status != 0:
            raise BenchError(f"twistd ended with status {status}\n"
                             f"{(directory / 'twistd.log').read_text(errors='replace')[-3000:]}")
    elapsed = float(report.get("elapsed_s", math.inf))  # type: ignore[arg-type]
    failures = int(report.get("failures", -1))  # type: ignore[call-overload]
    print(f"  sweep of {report.get('meters')} meters (concurrency {args.concurrency}): {elapsed:.1f} s, "
          f"{report.get('meters_per_s')} meters/s, {failures} failures {report.get('failures_by_name') or ''}")
    print(f"  CPU seconds during the sweep: the lab {sweep_cpu:.1f}, the campaign client {client_cpu:.1f}; "
          f"load average {os.getloadavg()[0]:.1f} after")
    print(f"  resident after the sweep {gib(swept)}")
    checks = [
        (f"listening within {LISTEN_TARGET:.0f} s", listen <= LISTEN_TARGET),
        (f"idle resident memory at most {gib(IDLE_RSS_TARGET)}", idle <= IDLE_RSS_TARGET),
        (f"sweep within {SWEEP_TARGET:.0f} s with no failure", elapsed <= SWEEP_TARGET and failures == 0),
        (f"resident memory after the sweep at most {gib(SWEPT_RSS_TARGET)}", swept <= SWEPT_RSS_TARGET),
    ]
    print()
    for label, passed in checks:
        print(f"{label}: {verdict(passed)}")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    harness.run_main(main)

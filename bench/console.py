"""The console on a large lab: ``twistd -n dlmssim`` with N meters (100,000 by
default, in groups of 50,000 on 127.77.0.1, 127.77.0.2... so that each has
ports enough, on addresses other benchmarks leave alone; worker processes as ``workers = auto`` chooses), then

- ``GET /api/meters?limit=50``: the slowest of 10 answers, 10 s after the
  lab listens and one warm-up request;
- the console page in headless Chromium (Playwright) at 1280×800: from the
  start of the navigation to the first page of meters shown (the page's own
  performance mark), the slowest of 3 loads after a first one.

Targets: the API under 200 ms, the page under 1 s. Exit status 0 when both
hold, 1 when one does not, 2 when the benchmark could not run.

    python bench/console.py [--meters 100000]

On a machine other jobs share, ``DLMSTW_BENCH_PRIORITY=high`` gives the lab's
processes the highest scheduling weight (``harness.place``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import (LAB_START_TIMEOUT, BenchError, free_port_range, place, process_tree, run_main, stop_group,
                     twistd, verdict, wait_listening)

from dlmstw.config import parse_lab
from dlmstw.server.workers import worker_count

API_TARGET = 0.200
PAGE_TARGET = 1.0
GROUP_SIZE = 50_000
FIRST_PORT = 10_000
LOOPBACK_NET = "127.77.0"
#: Seconds between "listening" and the first timing: the workers' first statuses of every meter.
SETTLE_SECONDS = 10.0
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def lab_ini(meters: int, console_port: int, directory: Path) -> str:
    groups = []
    for index, start in enumerate(range(0, meters, GROUP_SIZE)):
        groups.append(f"[meters:g{index}]\ncount = {min(GROUP_SIZE, meters - start)}\n"
                      f"interface = {LOOPBACK_NET}.{index + 1}\nport = {FIRST_PORT}\nload_profile_days = 1\n")
    return (f"[simulator]\nconsole = tcp:{console_port}:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            "packet_log = -\n\n" + "\n".join(groups) + "\n[association:public]\nclient_sap = 16\n")


def wait_workers(lab: subprocess.Popen[bytes], directory: Path, workers: int, groups: int) -> float:
    """Seconds until twistd's log says every worker process (or, with one, every group) listens."""
    if workers == 1:
        return wait_listening(lab, directory, groups)
    began = time.monotonic()
    while True:
        text = (directory / "twistd.log").read_text(errors="replace")
        if text.count(" meters listening\n") >= workers:
            return time.monotonic() - began
        if lab.poll() is not None or time.monotonic() - began > LAB_START_TIMEOUT:
            raise BenchError(f"the lab did not start\n{text[-3000:]}")
        time.sleep(0.5)


def timed_get(url: str) -> float:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
    return time.perf_counter() - began


def page_load(url: str) -> float:
    """The slowest of three loads of the console page until its first page of meters shows."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise BenchError("Debian's chromium is needed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        for pid in process_tree(os.getpid()):  # the browser's processes, with the lab's weight
            place(pid, None)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            times = []
            for _ in range(4):
                page.goto(url, wait_until="commit")
                page.wait_for_function("performance.getEntriesByName('dlmstw-meters-shown').length > 0",
                                       timeout=30_000)
                if page.locator("tr.meter").count() != 50:
                    raise BenchError("the console page does not show the first 50 meters")
                # from the start of the navigation to the meters shown, as the page measured it
                times.append(page.evaluate("performance.getEntriesByName('dlmstw-meters-shown')[0].startTime") / 1000)
            return max(times[1:])
        finally:
            browser.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="200 meters: a check that the script works")
    args = parser.parse_args(argv)
    if args.quick:
        args.meters = 200
    if args.meters < 50:
        raise BenchError("--meters must be at least 50 (one page)")
    with tempfile.TemporaryDirectory(prefix="dlmstw-console-") as temporary:
        directory = Path(temporary)
        console_port = free_port_range(1)
        text = lab_ini(args.meters, console_port, directory)
        (directory / "lab.ini").write_text(text)
        lab = twistd(directory)
        place(lab.pid, None)
        try:
            started = wait_workers(lab, directory, worker_count(parse_lab(text)), -(-args.meters // GROUP_SIZE))
            base = f"http://127.0.0.1:{console_port}"
            print(f"{args.meters:,} meters in {worker_count(parse_lab(text))} worker processes listening "
                  f"after {started:.1f} s")
            time.sleep(SETTLE_SECONDS)
            timed_get(base + "/api/meters?limit=50")
            api = max(timed_get(base + "/api/meters?limit=50") for _ in range(10))
            last = max(timed_get(f"{base}/api/meters?offset={args.meters - 50}&limit=50") for _ in range(3))
            found = max(timed_get(f"{base}/api/meters?q=99&state=online") for _ in range(3))
            page = page_load(base + "/")
        finally:
            stop_group(lab)
    api_ok, page_ok = api < API_TARGET, page < PAGE_TARGET
    print(f"GET /api/meters?limit=50: {api * 1000:.0f} ms (target < {API_TARGET * 1000:.0f} ms)  {verdict(api_ok)}")
    print(f"  the last page {last * 1000:.0f} ms, a search (q=99&state=online) {found * 1000:.0f} ms")
    print(f"console page, first page of meters shown: {page * 1000:.0f} ms (target < {PAGE_TARGET * 1000:.0f} ms)  "
          f"{verdict(page_ok)}")
    return 0 if api_ok and page_ok else 1


if __name__ == "__main__":
    run_main(main)

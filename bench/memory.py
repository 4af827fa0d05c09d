"""Memory target 3: ≤ 20 KiB resident per idle meter.

Starts ``meter_server.py`` with a few meters and then with many (is15959-abt,
5-minute 35-day profiles, public and LLS associations), each time idle with no
client, and reads VmRSS from /proc/<pid>/status once the process has settled.
Per meter = (RSS(many) − RSS(few)) / (many − few): what one more meter costs,
without the interpreter, the plugins and the shared object model. Kernel
socket buffers of the listening ports are not in RSS and not counted.

    python bench/memory.py [--meters 10,2000] [--model template:acme.toml]

Exit status: 0 PASS, 1 FAIL, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import harness
from harness import BenchError, ServerProcess, verdict

TARGET = 20 * 1024
#: The per-process open-files limit the lab must stay well below (DESIGN.md, workers).
OPEN_FILES_LIMIT = 20_000
SETTLE_SECONDS = 1.0
ASSOCIATIONS = f"""\
[association:public]
client_sap = {harness.PUBLIC_CLIENT}
authentication = none
context = ln
access = read

[association:reader]
client_sap = 32
authentication = lls
lls_password = ABCD0001
access = read-write
"""


def idle_rss(count: int, directory: Path, model: str) -> int:
    """VmRSS in bytes of a meter process with ``count`` idle meters, after it settled."""
    first_port = harness.free_port_range(count)
    ini = directory / f"lab-{count}.ini"
    ini.write_text(harness.lab_ini(first_port, count, directory / f"state-{count}", load_profile_interval=5,
                                   associations=ASSOCIATIONS, model=model))
    with ServerProcess(f"meter process with {count} meters", [str(harness.BENCH_DIR / "meter_server.py"), str(ini)],
                       log_path=directory / f"meter-{count}.log", start_timeout=300) as meter:
        time.sleep(SETTLE_SECONDS)
        rss = harness.proc_status(meter.pid)["VmRSS"]
    return rss


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", default="10,2000",
                        help="comma-separated meter counts; the first and last give the slope (default 10,2000)")
    parser.add_argument("--model", default="is15959-abt",
                        help="the meters' model, e.g. template:/path/acme.toml (a device template; absolute path)")
    parser.add_argument("--quick", action="store_true", help="a check that it runs, not a measurement: 2 and 20 meters")
    args = parser.parse_args(argv)
    if args.quick:
        args.meters = "2,20"
    counts = sorted({int(text) for text in args.meters.split(",")})
    if len(counts) < 2:
        raise BenchError("--meters needs at least two different counts")
    if counts[-1] > OPEN_FILES_LIMIT // 2:
        raise BenchError(f"{counts[-1]} meters is not well below the {OPEN_FILES_LIMIT} open files of a process")
    harness.stop_on_sigterm()
    print(f"idle meters ({args.model}, 5-minute 35-day profile), one process each count, VmRSS after "
          f"{SETTLE_SECONDS:g} s")
    rss: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="dlmstw-bench-") as folder:
        for count in counts:
            rss[count] = idle_rss(count, Path(folder), args.model)
            print(f"  {count:>6} meters   VmRSS {rss[count] / 2**20:>8.1f} MiB", flush=True)
    few, many = counts[0], counts[-1]
    per_meter = (rss[many] - rss[few]) / (many - few)
    passed = per_meter <= TARGET
    print(f"\nresident per idle meter = ({rss[many] / 2**20:.1f} MiB − {rss[few] / 2**20:.1f} MiB) / "
          f"({many} − {few}) = {per_meter / 1024:.1f} KiB, target ≤ {TARGET // 1024} KiB: {verdict(passed)}")
    return 0 if passed else 1


if __name__ == "__main__":
    harness.run_main(main)

"""Every bench/ script runs in its quick mode: it starts its servers, measures
briefly, prints its verdict line and stops every process it started. A quick
run is a check that the script works, not a measurement: its verdict may be
FAIL (status 1), never a crash or "could not run" (status 2).
bench/hostile.py --quick, bench/scale.py --quick and bench/fuzz_meter.py
have their own tests (test_hostile_bench.py, test_bench_scale.py,
test_fuzz_target.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: script -> the start of its verdict line.
VERDICTS = {
    "get_normal.py": "GET-normal ciphered: meter/baseline per server CPU-second = ",
    "associations.py": "HLS-GMAC associations per CPU-second of the meter process = ",
    "memory.py": "resident per idle meter = ",
    "profile_memory.py": "memory growth reading the 35-day profile ",
    "stop.py": "stopping a busy lab: within 5 s, status 0, nothing lost: ",
    "console.py": "console page, first page of meters shown: ",
}


def test_each_bench_script_runs_quickly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    runs = {script: subprocess.Popen([sys.executable, str(REPO / "bench" / script), "--quick"], cwd=tmp_path,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for script in VERDICTS}
    failures = []
    for script, run in runs.items():
        output, _ = run.communicate(timeout=240)
        verdicts = [line for line in output.splitlines() if line.startswith(VERDICTS[script])]
        if run.returncode not in (0, 1) or len(verdicts) != 1 or not verdicts[0].endswith(("PASS", "FAIL")):
            failures.append(f"{script} exited {run.returncode}:\n{output[-3000:]}")
    assert not failures, "\n".join(failures)


def test_every_bench_script_has_a_smoke_run() -> None:
    """A new script in bench/ gets a quick run here (or is a server or client
    process the benchmarks start)."""
    scripts = {path.name for path in (REPO / "bench").glob("*.py") if 'if __name__ == "__main__":' in path.read_text()}
    assert scripts == set(VERDICTS) | OWN_TESTS | HELPERS


#: Scripts with a quick run in a test of their own.
OWN_TESTS = {"hostile.py", "scale.py", "fuzz_meter.py", "mutants.py", "instructions.py"}
#: Processes the benchmarks start (and so run in their quick runs).
HELPERS = {"meter_server.py", "baseline_server.py", "loadgen.py", "gurux_reader.py"}


def test_mutants_quick_run_needs_mutmut(tmp_path: Path) -> None:
    """bench/mutants.py --quick mutates one small file when mutmut is installed;
    without it, it says so and exits 2."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "mutants.py"), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    if importlib.util.find_spec("mutmut") is None:
        assert (done.returncode, done.stdout) == (2, "mutmut is not installed: pip install 'mutmut==3.8.1'\n")
    else:
        assert done.returncode in (0, 1) and " survivors (" in done.stdout, done.stdout[-3000:] + done.stderr


def test_instructions_are_counted_the_same_twice() -> None:
    """bench/instructions.py --quick --base HEAD counts this checkout's meter and
    HEAD's under callgrind. When dlmstw/ has no change against HEAD (as on CI's
    clean clone) the two agree within the tool's resolution (a few per cent:
    the two checkouts' files differ in where they lie). A meter always costs
    more than the do-nothing server."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "instructions.py"), "--quick", "--base", "HEAD"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = re.search(r"GET-normal ping-pong: meter ([\d,]+), do-nothing server ([\d,]+) instructions per request; "
                      r"HEAD ([\d,]+), this checkout/HEAD = ([\d.]+)$", done.stdout, re.M)
    assert found is not None, done.stdout
    meter, baseline, head = (int(found.group(n).replace(",", "")) for n in (1, 2, 3))
    assert meter > baseline > 0 and head > baseline
    unchanged = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "dlmstw"]).returncode == 0
    if unchanged:
        assert abs(meter / head - 1) < 0.05 and abs(float(found.group(4)) - 1) < 0.05

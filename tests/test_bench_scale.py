"""``bench/scale.py --quick``: 2,000 meters in two worker processes on two
loopback addresses, listening, their memory, a campaign sweep of every
meter with no failure, and PASS against the fleet targets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_scale_run_sweeps_every_meter_and_passes() -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "scale.py"), "--quick"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"^2,000 idle is15959-abt meters on 127\.0\.0\.\d+\.\.127\.0\.0\.\d+ from port \d+, "
                     r"2 worker processes, packet log off$", out, re.M), out
    assert re.search(r"^  listening after [\d.]+ s \([\d.]+ CPU seconds of the lab\); resident [\d.]+ GiB in 3 processes",
                     out, re.M), out
    assert re.search(r"^  sweep of 2000 meters \(concurrency 256\): [\d.]+ s, [\d.]+ meters/s, 0 failures", out,
                     re.M), out
    verdicts = [line for line in out.splitlines() if line.endswith(("PASS", "FAIL"))]
    assert len(verdicts) == 4 and all(line.endswith("PASS") for line in verdicts), out

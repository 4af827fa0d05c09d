"""``bench/hostile.py --quick``: 5,000 malformed and mutated frames to 5 meters
of a real ``twistd -n dlmssim`` while gurux-dlms reads a sixth; the tool
exits 0 (PASS) and prints every part of its summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: A line of each part of the summary, as it begins.
SUMMARY = ("warm-up: 4,000 frames", "frames sent: 5,000 ", "answers by kind:", "  closed by the meter ",
           "  no answer ", "connections: ", "well-formed requests with neither an answer nor a close within 10 s: 0",
           "gurux-dlms reader: ", "RSS of twistd and its children: ", "service log: ", "every meter answers: 6 of 6",
           "hostile input: reader errors 0 PASS, every meter answers PASS, no Traceback PASS, RSS within 10% PASS: PASS")


def test_quick_hostile_run_passes_and_prints_its_summary() -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "hostile.py"), "--quick"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    missing = [start for start in SUMMARY if not any(line.startswith(start) for line in lines)]
    assert not missing, f"{missing} not in\n{result.stdout}"
    scenario_rows = [line for line in lines if line.startswith("  ") and line.split()[0] in (
        "random-bytes", "bit-flips", "length-65535", "get-blocks", "ciphered-association", "absurd-aarq")]
    assert len(scenario_rows) == 6, result.stdout
    assert "0 errors" in next(line for line in lines if line.startswith("gurux-dlms reader: "))

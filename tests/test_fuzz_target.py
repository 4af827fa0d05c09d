"""The atheris target of the meter's frame-to-response path (bench/fuzz_meter.py)
writes its seed corpus from tests/vectors and runs over it and its mutations,
in every session state, without an internal error or an error logged; and an
exception inside a COSEM object does fail it. bench/README.md says how to run
it for longer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "bench" / "fuzz_meter.py"


def run(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(TARGET), *arguments], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240)


def test_the_fuzz_target_runs_over_its_corpus_without_an_internal_error(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    made = run("corpus", str(corpus), cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert len(list(corpus.iterdir())) >= 50
    fuzzed = run(str(corpus), "-runs=20000", "-seed=1", cwd=tmp_path)
    output = fuzzed.stdout + fuzzed.stderr
    assert fuzzed.returncode == 0, output[-4000:]
    assert "Done 20000 runs" in output


FAILING_OBJECT = """
import sys
sys.path.insert(0, "bench")
import fuzz_meter
from dlmstw.cosem.directory import MeterDirectory
from dlmstw.framing.wrapper import encode_wpdu

def broken(*arguments):
    raise RuntimeError("a COSEM object broke")

MeterDirectory.reader = MeterDirectory.get = broken
get_clock = encode_wpdu(16, 1, bytes.fromhex("C001C100080000010000FF0200"))
try:
    fuzz_meter.feed(fuzz_meter.METERS[0], fuzz_meter.OPENINGS[1][1]() + get_clock, 64)
except AssertionError as failure:
    print(failure)
"""


def test_an_exception_inside_a_cosem_object_fails_the_fuzz_target(tmp_path: Path) -> None:
    """The meter answers other-reason, but the error it logs (naming the object
    and the attribute) is a finding."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", FAILING_OBJECT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "error logged for" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert "GET of class 8 0.0.1.0.0.255 attribute 2 failed" in done.stdout
    assert "RuntimeError: a COSEM object broke" in done.stdout

"""The atheris target of the meter's frame-to-response path (bench/fuzz_meter.py)
writes its seed corpus from tests/vectors and runs over it and its mutations
without an internal error; bench/README.md says how to run it for longer."""

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

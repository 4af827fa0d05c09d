"""``dlmstw-client dissect`` (issue 5, part 4).

Frames: the paper's figure 4 AARQ (tests/vectors/acse.json) and the Green Book
glo-get-request with the keys of tests/vectors/security.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlmstw.client.cli import is_wrapper_frame, main

VECTORS = Path(__file__).parent / "vectors"
ACSE = json.loads((VECTORS / "acse.json").read_text())
SUITE0 = json.loads((VECTORS / "security.json").read_text())["suite0_gcm"]
AARQ_FRAME = ACSE["paper_figure4_lls_aarq_wrapped"]["hex"]
GLO = SUITE0["authenticated_encryption"]["glo_get_request"]


def test_frame_prints_an_indented_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dissect", AARQ_FRAME]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"frame [0+76] {AARQ_FRAME[:64]}…  wrapper frame, wPort 32 -> wPort 1: ")
    assert lines[1] == "  wrapper-header [0+8] 0001002000010044  wPort 32 -> wPort 1, 68 octets"
    assert "      value [50+8] 4142434430303031  password 4142434430303031 (\"ABCD0001\")" in lines
    assert "        client-max-receive-pdu-size [74+2] FFFF  65535 octets" in lines


def test_bare_apdu_with_blanks_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dissect", "C4 01 C1", "00 06 00001391", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["name"], document["offset"], document["length"]) == ("get-response", 0, 9)
    assert document["meaning"] == "get-response-normal: double-long-unsigned: 5009"


def test_keys_decipher(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["dissect", GLO, "--key", SUITE0["encryption_key"], "--auth-key", SUITE0["authentication_key"],
            "--system-title", SUITE0["system_title"], "--json"]
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    deciphered = next(c for c in document["children"] if c["name"] == "deciphered")
    assert deciphered["children"][0]["hex"] == SUITE0["plain_apdu"]
    assert main(argv[:-1] + ["--system-title", "4D4D4D0000000001"]) == 1
    out = capsys.readouterr().out
    assert "!! authentication tag mismatch (keys of system title 4D4D4D0000000001)" in out


def test_partial_frame_prints_the_tree_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dissect", "000100200001000DC001C100010000"]) == 1
    out = capsys.readouterr().out
    assert "unparsed" in out and "!! at byte " in out
    assert "wrapper-header [0+8] 000100200001000D" in out


@pytest.mark.parametrize("argv", [[], ["dissect"], ["dissect", "XYZ"], ["dissect", "C001", "--key"],
                                  ["dissect", "C001", "--key", "QQ"], ["frobnicate", "C001"]])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """One line that says what is wrong, no usage block."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("dlmstw-client") and "usage:" not in err, err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dissect", "--help"]) == 0
    assert "--system-title ST" in capsys.readouterr().out


def test_frame_detection() -> None:
    assert is_wrapper_frame(bytes.fromhex(AARQ_FRAME))
    assert is_wrapper_frame(bytes.fromhex(AARQ_FRAME)[:-1])  # truncated: still a frame, reported as such
    assert not is_wrapper_frame(bytes.fromhex("00"))
    assert not is_wrapper_frame(bytes.fromhex(GLO))


def test_module_runs_as_a_program() -> None:
    result = subprocess.run([sys.executable, "-m", "dlmstw.client.cli", "dissect", "D80101"],
                            capture_output=True, text=True, cwd=Path(__file__).parent.parent, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "exception-response [0+3] D80101  exception-response: service-not-allowed, operation-not-possible")
    bad = subprocess.run([sys.executable, "-m", "dlmstw.client.cli", "dissect", "D801"],
                         capture_output=True, text=True, cwd=Path(__file__).parent.parent, check=False)
    assert bad.returncode == 1

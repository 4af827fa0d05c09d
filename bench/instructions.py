"""Instructions per request under callgrind: the meter's cost of a GET-normal
counted, not timed, so that two versions compare on a busy machine.

Each series runs in a child process under ``valgrind --tool=callgrind``: a
meter's protocol (built as the lab builds it, with the console's ring buffer
subscribed, as in a lab) or the do-nothing server of ``baseline_server.py``
over an in-memory transport. The child serves N requests, then 2N; the
difference over N is the cost of one request, start-up and set-up cancelled
(a ciphered child makes its requests for 2N in both runs). Series:

* ``ping-pong``: one GET-Request-Normal per read, the capture delivered after each;
* ``pipelined``: 8 per read, delivered every 8 reads;
* ``ciphered``: one glo-get-request per read (HLS-GMAC association,
  authenticated encryption, a new invocation counter each).

``--base REV`` also measures the meter of another revision (a git worktree of
this repository, made and removed here) and prints this checkout's count
against it. The children run without address randomisation and with a fixed
hash seed, so a count repeats; two checkouts of the same code still differ
by a few per cent (where their files lie moves allocations), which is the
resolution of a comparison.

    python bench/instructions.py [--requests 2000] [--base REV] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import harness
from harness import BenchError

SERIES = ("ping-pong", "pipelined", "ciphered")
#: Requests per read in the pipelined series (bench/get_normal.py's default depth).
PIPELINE = 8
GET_APDU = bytes.fromhex("C001C1000301000107" "00FF0200")  # register 1.0.1.7.0.255, value
LAB = """\
[simulator]
state_dir = {state_dir}
[meters:bench]
count = 1
port = 4059
model = is15959-abt
seed = 42
{associations}"""
COLLECTED = re.compile(r"Collected : (\d+)")
#: The checkout whose dlmstw a child measures (this one when unset); the bench code is this checkout's.
CHECKOUT = "DLMSTW_INSTRUCTIONS_CHECKOUT"


def child(series: str, server: str, requests: int, planned: int) -> None:
    """Serve ``requests`` requests of ``series`` (``planned`` are made) on ``server``: meter or baseline."""
    code = os.environ.get(CHECKOUT)
    if code is not None:  # dlmstw from that checkout, imported below
        sys.path[:] = [code] + [entry for entry in sys.path if entry != str(harness.REPO_ROOT)]
    if server == "baseline":
        import baseline_server  # installs the epoll reactor: before anything imports the reactor
        from twisted.internet.testing import StringTransport
        protocol = baseline_server.FixedAnswerFactory(bytes(17)).buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        frames = [harness.wrap(harness.PUBLIC_CLIENT, harness.METER_WPORT, GET_APDU)] * planned
        deliver = list.clear
        pending: list = []
    else:
        protocol, transport, frames, pending = _meter(series, planned)
        deliver = _run_all
    depth = PIPELINE if series == "pipelined" else 1
    reads = [b"".join(frames[i:i + depth]) for i in range(0, requests, depth)]
    # What start-up and set-up left is kept out of the collector's way, so that
    # both runs collect only what the requests make (a full collection of start-up
    # objects falling in one run and not the other would not cancel).
    gc.collect()
    gc.freeze()
    for number, read in enumerate(reads, 1):
        protocol.dataReceived(read)
        transport.clear()
        if depth == 1 or number % PIPELINE == 0:
            deliver(pending)


def _run_all(pending: list) -> None:
    while pending:
        pending.pop()()


def _meter(series: str, planned: int) -> tuple:
    """A meter's protocol on an in-memory transport, associated; ``planned`` request frames."""
    from twisted.internet.testing import StringTransport

    from associations import associations_ini
    from dlmstw.config import parse_lab
    from dlmstw.monitor.capture import CaptureBus, RingBuffer
    from dlmstw.plugins.registry import load_registry
    from dlmstw.server.service import LabService
    from hls_gmac import GREEN_BOOK_AUTHENTICATION_KEY, GREEN_BOOK_BLOCK_CIPHER_KEY, CipheredGetDriver, Keys

    client = 48
    associations = (associations_ini(client, 1, "ln-ciphered") if series == "ciphered" else
                    f"[association:public]\nclient_sap = {harness.PUBLIC_CLIENT}\n")
    lab = parse_lab(LAB.format(state_dir=tempfile.mkdtemp(prefix="dlmstw-instructions-"), associations=associations))
    pending: list = []
    bus = CaptureBus(lambda delay, call: pending.append(call))
    bus.subscribe_batches(RingBuffer().extend)  # as the console's ring buffer does in a lab
    service = LabService(lab, load_registry(), bus)
    service.state_store("instructions").load()
    protocol = next(iter(service.factories.values())).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)

    def exchange(frame: bytes) -> bytes:
        protocol.dataReceived(frame)
        answer = transport.value()
        transport.clear()
        _run_all(pending)
        return answer

    if series == "ciphered":
        keys = Keys(bytes.fromhex(GREEN_BOOK_BLOCK_CIPHER_KEY), bytes.fromhex(GREEN_BOOK_AUTHENTICATION_KEY))
        driver = CipheredGetDriver(client, keys, GET_APDU, 1, True)
        driver.setup(exchange)
        frames = [driver._request() for _ in range(planned)]
    else:
        answer = exchange(harness.wrap(harness.PUBLIC_CLIENT, harness.METER_WPORT, harness.PUBLIC_AARQ))
        if answer[harness.HEADER_SIZE:harness.HEADER_SIZE + 1] != b"\x61":
            raise BenchError(f"the meter answered the AARQ with {answer.hex()}")
        frames = [harness.wrap(harness.PUBLIC_CLIENT, harness.METER_WPORT, GET_APDU)] * planned
    check = exchange(frames.pop(0))
    if check[harness.HEADER_SIZE:harness.HEADER_SIZE + 1] not in (b"\xc4", b"\xcc"):
        raise BenchError(f"the meter answered a GET with {check.hex()}")
    return protocol, transport, frames, pending


def instructions(series: str, server: str, requests: int, checkout: Path) -> float:
    """Instructions per request of ``series`` on ``server``, code from ``checkout``:
    the runs of N and 2N requests side by side."""
    env = {**os.environ, "PYTHONHASHSEED": "0", CHECKOUT: str(checkout)}  # the same dict layouts in both runs
    runs = [subprocess.Popen(["setarch", "-R", "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              os.path.realpath(sys.executable), str(harness.BENCH_DIR / "instructions.py"),
                              "--child", series, server, str(served), str(2 * requests + 1)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            for served in (requests, 2 * requests)]
    counts = []
    for run in runs:
        _, stderr = run.communicate(timeout=900)
        found = COLLECTED.search(stderr)
        if run.returncode != 0 or found is None:
            raise BenchError(f"{series} on the {server} exited {run.returncode}:\n{stderr[-2000:]}")
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / requests


def worktree(revision: str, folder: Path) -> Path:
    """A checkout of ``revision`` of this repository in ``folder``."""
    path = folder / "base"
    made = subprocess.run(["git", "-C", str(harness.REPO_ROOT), "worktree", "add", "--detach", str(path), revision],
                          capture_output=True, text=True)
    if made.returncode != 0:
        raise BenchError(f"no worktree of {revision}: {made.stderr.strip()}")
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="N: requests of the shorter run (default 2000)")
    parser.add_argument("--series", choices=SERIES, action="append", help="only these series (default all)")
    parser.add_argument("--base", metavar="REV", help="also measure the meter of this git revision")
    parser.add_argument("--quick", action="store_true", help="a check that it runs: 1000 requests, ping-pong only")
    parser.add_argument("--child", nargs=4, metavar=("SERIES", "SERVER", "SERVED", "PLANNED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        series, server, served, planned = args.child
        child(series, server, int(served), int(planned))
        return 0
    if shutil.which("valgrind") is None:
        raise BenchError("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.quick:
        args.requests, args.series = 1000, ["ping-pong"]
    chosen = args.series or list(SERIES)
    with tempfile.TemporaryDirectory(prefix="dlmstw-instructions-") as folder:
        base = worktree(args.base, Path(folder)) if args.base else None
        # Measured against a revision, this checkout's dlmstw is measured from a copy at a path
        # as long as the revision's: the paths alone move allocations and change the counts.
        this = harness.REPO_ROOT
        if base is not None:
            this = Path(folder) / "this"
            shutil.copytree(harness.REPO_ROOT / "dlmstw", this / "dlmstw", ignore=shutil.ignore_patterns("__pycache__"))
        try:
            print(f"instructions per request under callgrind, {args.requests} and {2 * args.requests} requests")
            for series in chosen:
                meter = instructions(series, "meter", args.requests, this)
                baseline = instructions(series if series != "ciphered" else "ping-pong", "baseline", args.requests,
                                        this)
                line = (f"GET-normal {series}: meter {meter:,.0f}, do-nothing server {baseline:,.0f} "
                        f"instructions per request")
                if base is not None:
                    before = instructions(series, "meter", args.requests, base)
                    line += f"; {args.base} {before:,.0f}, this checkout/{args.base} = {meter / before:.3f}"
                print(line, flush=True)
        finally:
            if base is not None:
                subprocess.run(["git", "-C", str(harness.REPO_ROOT), "worktree", "remove", "--force", str(base)],
                               capture_output=True)
    return 0


if __name__ == "__main__":
    harness.run_main(main)

"""What every benchmark shares: the checkout on ``sys.path``, free loopback
ports, the lab.ini of a benchmark lab, server processes that always stop,
``/proc`` readings, and a blocking wrapper client for probes.

Only 127.0.0.1 is ever used. Nothing here is timed: the load itself is
``loadgen.py``.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pstats
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import NoReturn

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    # The benchmarks measure this checkout, installed or not.
    sys.path.insert(0, str(REPO_ROOT))

LOOPBACK = "127.0.0.1"
#: The meter's wPort: the management logical device (Green Book 7.3.3.4).
METER_WPORT = 1
#: The public client (no authentication) of the benchmark labs.
PUBLIC_CLIENT = 16
#: IEC 62056-47 wrapper header: version 1, source wPort, destination wPort, APDU length.
WRAPPER = struct.Struct(">HHHH")
#: The no-security AARQ of public-vectors.md §3.3 ([U] test_aarq.py): LN context, InitiateRequest
#: with conformance 007E1F and client-max-receive-pdu-size 1200.
PUBLIC_AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
HEADER_SIZE = WRAPPER.size
#: A ready server prints this line on stdout.
READY = "READY"


class BenchError(RuntimeError):
    """A benchmark could not run as designed (not a failed target)."""

    headline = "the benchmark could not run"


class UnexpectedResponse(BenchError):
    """A response that is not what the client expects: the run is void."""


def wrap(source_wport: int, destination_wport: int, apdu: bytes) -> bytes:
    """One WPDU: the 8-byte wrapper header, then the APDU (IEC 62056-47)."""
    return WRAPPER.pack(1, source_wport, destination_wport, len(apdu)) + apdu


def child_env() -> dict[str, str]:
    """The environment of a child process: this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _ephemeral_first() -> int:
    """The first port of the kernel's ephemeral range: meters listen below it, so
    that no client's own port can take a meter's (Linux; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


EPHEMERAL_FIRST = _ephemeral_first()


#: Port ranges handed out by ``free_port_range`` and not yet given back, across every benchmark
#: process on this machine: one line "PID FIRST COUNT" each (benchmarks run side by side in the
#: quick test, and a range checked free is only taken once its server listens).
CLAIMS = Path(tempfile.gettempdir()) / "dlmstw-bench-ports"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port_range(count: int, attempts: int = 50) -> int:
    """A first port such that ``count`` consecutive loopback ports are free now
    and not claimed by another benchmark process still running (``CLAIMS``)."""
    with open(CLAIMS, "a+") as claims:
        fcntl.flock(claims, fcntl.LOCK_EX)
        claims.seek(0)
        held = [tuple(map(int, line.split())) for line in claims.read().splitlines() if len(line.split()) == 3]
        held = [claim for claim in held if _alive(claim[0])]
        for _ in range(attempts):
            first = random.randint(10000, EPHEMERAL_FIRST - count)
            if any(first < start + length and start < first + count for _, start, length in held):
                continue
            if all(_port_is_free(first + offset) for offset in range(count)):
                held.append((os.getpid(), first, count))
                claims.seek(0)
                claims.truncate()
                claims.write("".join(f"{pid} {start} {length}\n" for pid, start, length in held))
                return first
    raise BenchError(f"no {count} consecutive free loopback ports found in {attempts} tries")


def lab_ini(first_port: int, count: int, state_dir: Path, *, max_clients: int = 64,
            load_profile_interval: int = 15, load_profile_days: int = 35,
            associations: str | None = None, packet_log: str = "-", workers: int | None = None,
            model: str = "is15959-abt") -> str:
    """A benchmark lab in the keys of DESIGN.md "lab.ini (contract)": ``count``
    meters of ``model`` (default is15959-abt) from ``first_port``, no console traffic, no packet log
    unless ``packet_log`` names a file, and by default the public association only
    (``workers``: lab.ini's ``workers``, else auto)."""
    if associations is None:
        associations = f"""\
[association:public]
client_sap = {PUBLIC_CLIENT}
authentication = none
context = ln
access = read
"""
    return f"""\
[simulator]
console = tcp:0:interface=127.0.0.1
state_dir = {state_dir}
packet_log = {packet_log}
{"" if workers is None else f"workers = {workers}"}
[meters:bench]
count = {count}
interface = 127.0.0.1
port = {first_port}
model = {model}
serial = 1000001
system_title = 4D4D4D0000BC614E
max_clients = {max_clients}
inactivity_timeout = 600
load_profile_interval = {load_profile_interval}
load_profile_days = {load_profile_days}
seed = 42

{associations}"""


def stop_on_sigterm() -> None:
    """Make SIGTERM and SIGHUP raise SystemExit, so that every ``with ServerProcess``
    block stops its process as it does on Ctrl-C."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def cpus() -> list[int]:
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


class ServerProcess:
    """A child process that prints ``READY`` once it listens; stopped (SIGTERM,
    then SIGKILL) on exit from the ``with`` block, whatever happened."""

    def __init__(self, name: str, argv: Sequence[str], *, log_path: Path, cpu: int | None = None,
                 start_timeout: float = 120.0) -> None:
        self.name = name
        self.argv = list(argv)
        self.cpu = cpu
        self.start_timeout = start_timeout
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> ServerProcess:
        with open(self.log_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, *self.argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=stderr, env=child_env(), start_new_session=True)
        try:
            place(self.process.pid, self.cpu)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        output = self.process.stdout.fileno()
        pending = b""
        while time.monotonic() < deadline:
            if select.select([output], [], [], 0.1)[0]:
                pending += os.read(output, 4096)
                if any(line.startswith(READY) for line in pending.decode(errors="replace").splitlines()):
                    return
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode} before it was ready"
                                 f"{self._log_tail()}")
        raise BenchError(f"{self.name} not ready after {self.start_timeout:.0f} s{self._log_tail()}")

    def _log_tail(self) -> str:
        if not self.log_path.exists():
            return ""
        return "\n--- its stderr:\n" + self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; the process is reaped either way."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


#: ``DLMSTW_BENCH_PRIORITY=high``: measure on a machine other jobs share (see ``place``).
PRIORITY = os.environ.get("DLMSTW_BENCH_PRIORITY", "")


def place(pid: int, cpu: int | None) -> None:
    """Pin a benchmark process to ``cpu`` (when given). With ``DLMSTW_BENCH_PRIORITY=high``
    (root, Linux with autogroup scheduling) also give its session's autogroup the
    highest weight (nice -20): each process here starts its own session, and other
    sessions' work then takes little of its CPU, as on a quiet machine."""
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})
    if PRIORITY == "high":
        try:
            Path(f"/proc/{pid}/autogroup").write_text("-20")
        except OSError as error:
            raise BenchError(f"DLMSTW_BENCH_PRIORITY=high: cannot raise the priority of {pid}: {error}") from None


def twistd(directory: Path) -> subprocess.Popen[bytes]:
    """``twistd -n dlmssim -c lab.ini`` in ``directory`` (which holds lab.ini), in
    its own process group as a terminal starts it, its log in ``twistd.log``;
    it gets SIGTERM if this process dies without stopping it."""
    with open(directory / "twistd.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
             "-n", "--pidfile=", "dlmssim", "-c", str(directory / "lab.ini")],
            cwd=directory, env=child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_terminate_with_parent)


def _terminate_with_parent() -> None:
    """In a child before exec: SIGTERM when the parent ends (prctl PR_SET_PDEATHSIG, Linux)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


#: prctl option: the signal a process gets when its parent ends (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds ``wait_listening`` gives a lab to start.
LAB_START_TIMEOUT = 300.0


def wait_listening(lab: subprocess.Popen[bytes], directory: Path, groups: int) -> float:
    """Seconds until twistd's log says every group (of every worker) listens."""
    began = time.monotonic()
    while True:
        text = (directory / "twistd.log").read_text(errors="replace")
        if text.count(" listening\n") >= groups:
            return time.monotonic() - began
        if lab.poll() is not None or time.monotonic() - began > LAB_START_TIMEOUT:
            raise BenchError(f"the lab did not start\n{text[-3000:]}")
        time.sleep(0.2)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM to ``process``'s process group, SIGKILL to the group after ``timeout``
    seconds; its exit status (the process is reaped either way)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it, from the parent ids in ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                parent = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, ()))
    return tree


def tree_rss(pid: int) -> dict[int, int]:
    """The resident memory (VmRSS, bytes) of ``pid`` and of each of its descendants, by pid."""
    resident = {}
    for member in process_tree(pid):
        try:
            resident[member] = proc_status(member).get("VmRSS", 0)
        except OSError:
            continue  # ended meanwhile
    return resident


def proc_status(pid: int) -> dict[str, int]:
    """The ``kB`` fields of ``/proc/<pid>/status`` (VmRSS, VmHWM, ...), in bytes."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0]) * 1024
    return fields


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM to the current RSS (writing 5 to clear_refs, Linux ≥ 4.0)."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time all processes of the machine used so far, every CPU (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_json(argv: Sequence[str], *, cpu: int | None, timeout: float) -> dict[str, object]:
    """Run a bench script as a child process and return the JSON object it prints last.

    The child is killed when ``timeout`` passes or this process is interrupted."""
    process = subprocess.Popen([sys.executable, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=child_env(), text=True, start_new_session=True)
    try:
        place(process.pid, cpu)
        out, err = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise BenchError(f"{' '.join(argv)} exited with {process.returncode}:\n{err.strip()[-4000:]}")
    result: dict[str, object] = json.loads(lines[-1])
    return result


class BlockingClient:
    """A plain blocking wrapper client for probes and slow reads (not for load)."""

    def __init__(self, port: int, client_sap: int = PUBLIC_CLIENT, timeout: float = 30.0) -> None:
        self.client_sap = client_sap
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _exactly(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise BenchError(f"the server closed the connection ({len(data)} of {size} bytes read)")
            data += chunk
        return bytes(data)

    def transfer(self, frame: bytes) -> bytes:
        """Send one whole frame, return the whole response frame (header included)."""
        self.sock.sendall(frame)
        header = self._exactly(HEADER_SIZE)
        return header + self._exactly(WRAPPER.unpack(header)[3])

    def exchange_frame(self, apdu: bytes) -> bytes:
        """Send one APDU, return the whole response frame."""
        return self.transfer(wrap(self.client_sap, METER_WPORT, apdu))

    def exchange(self, apdu: bytes) -> bytes:
        """Send one APDU, return the response APDU."""
        return self.exchange_frame(apdu)[HEADER_SIZE:]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def profile_meter(ini: Path, loadgen_argv: Sequence[str], directory: Path, top: int,
                  server_cpu: int | None, loadgen_cpu: int | None, timeout: float) -> None:
    """Run ``meter_server.py`` on ``ini`` under cProfile through one load generator
    window (``loadgen_argv`` without ``--server-pid``), then print the ``top``
    functions by own time: where the meter's time goes."""
    stats_path = directory / "meter.prof"
    with ServerProcess("profiled meter", [str(BENCH_DIR / "meter_server.py"), str(ini), "--profile",
                                          str(stats_path)], cpu=server_cpu,
                       log_path=directory / "profiled-meter.log") as meter:
        result = run_json([str(BENCH_DIR / "loadgen.py"), "--server-pid", str(meter.pid), *loadgen_argv],
                          cpu=loadgen_cpu, timeout=timeout)
    if not stats_path.exists():
        raise BenchError(f"the profiled meter wrote no statistics to {stats_path}")
    stats = pstats.Stats(str(stats_path))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in rows:
        area = _area(filename)
        areas[area] = areas.get(area, 0.0) + own
    print(f"\nthe meter under cProfile: {float(str(result['rate'])):,.0f} units/s (slowed by the profiler), "
          f"{total:.2f} s of own time in all")
    print("  own time by package:")
    for area, own in sorted(areas.items(), key=lambda item: item[1], reverse=True)[:12]:
        print(f"    {own / total:>6.1%}  {area}")
    print(f"  top {top} functions by own time:")
    print(f"    {'own s':>7} {'own %':>6} {'cum s':>7} {'calls':>10}  function")
    for (filename, line, function), (_, calls, own, cumulative, _) in rows[:top]:
        print(f"    {own:>7.2f} {own / total:>6.1%} {cumulative:>7.2f} {calls:>10,}  {function} "
              f"({_place(filename)}:{line})")


def _place(filename: str) -> str:
    """A profiled function's file: relative to the checkout, or its last three parts."""
    path = Path(filename)
    if path.is_relative_to(REPO_ROOT):
        return str(path.relative_to(REPO_ROOT))
    return "/".join(path.parts[-3:])


def _area(filename: str) -> str:
    """What a profiled function belongs to: a dlmstw package, a third-party
    package, the standard library, or the built-ins (C functions, system calls)."""
    path = Path(filename)
    if filename == "~":
        return "built-in functions (system calls, C code)"
    if not path.is_absolute():
        return "generated code (dataclass methods ...)"
    if path.is_relative_to(REPO_ROOT):
        parts = path.relative_to(REPO_ROOT).parts
        return ".".join(parts[:2]).removesuffix(".py") if len(parts) > 2 else ".".join(parts).removesuffix(".py")
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].removesuffix(".py")
    return "python standard library"


def per_server_cpu(rate: float, result: dict[str, object]) -> float:
    """Units per CPU-second of the server: its efficiency, steadier than the rate
    when other work takes CPU time from the server."""
    return rate / max(float(str(result["server_cpu"])), 1e-9)


def window_line(label: str, rate: float, result: dict[str, object]) -> str:
    """One measured window: its rate, per server CPU-second, and who used the CPUs meanwhile."""
    return (f"    {label:<30} {rate:>9,.0f} /s  {per_server_cpu(rate, result):>9,.0f} /server-CPU-s   "
            f"CPU: server {float(str(result['server_cpu'])):>4.0%}, load generator "
            f"{float(str(result['loadgen_cpu'])):>4.0%}, other {float(str(result['other_cpu'])):>4.0%}")


def window_notes(results: Sequence[dict[str, object]]) -> list[str]:
    """Warnings about windows whose rate may understate a server."""
    notes = []
    if any(float(str(result["server_cpu"])) < 0.9 for result in results):
        notes.append("note: a server used < 90 % of its CPU in some window: something else limited that run")
    if any(float(str(result["other_cpu"])) > 0.1 for result in results):
        notes.append("note: other work used > 10 % of a CPU in some window (other processes, kernel): "
                     "re-run on a quiet machine for firm figures")
    return notes


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def run_main(main: Callable[[list[str]], int]) -> NoReturn:
    """Exit with ``main``'s status (0 PASS, 1 FAIL), 2 when the benchmark could
    not run, 130 on Ctrl-C; the ``with`` blocks have stopped every process by then."""
    try:
        status = main(sys.argv[1:])
    except BenchError as error:
        print(f"\n{error.headline}: {error}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    sys.exit(status)

"""Speed target 2: ≥ 3,000 HLS-GMAC associations per second per process.

One is15959-abt meter (``meter_server.py``) with one HLS-GMAC association per
load connection (client SAPs 48, 49, ...; the Green Book keys of
tests/vectors/security.json), in its own process on one CPU. The load
generator (``loadgen.py hls-gmac``) runs on the other CPU: C connections,
each doing AARQ → AARE → reply_to_HLS_authentication → its response → RLRQ →
RLRE back to back, every step checked (f(CtoS) verified); an association counts
once the meter's f(CtoS) verifies. Each round continues the client's
invocation counters where the previous round left them.

Beside it, in the same run: the do-nothing baseline server under the same
connections at 3 round trips per association, the ceiling any wrapper server
reaches on this machine.

The verdict takes the meter's associations per CPU-second it used: its rate
on a quiet machine, where it saturates its CPU, and the steadier figure when
other work takes CPU time from it.

Before any load, the client is checked against the public vectors, and one
probe association must succeed; when the meter offers no working HLS-GMAC
the script says so and exits 2.

    python bench/associations.py [--context ln-ciphered|ln] [--rounds 3] [--duration 5]

Exit status: 0 PASS, 1 FAIL, 2 the benchmark could not run (HLS-GMAC not available).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import harness
from harness import BenchError, BlockingClient, ServerProcess, median, verdict
from hls_gmac import GREEN_BOOK_AUTHENTICATION_KEY, GREEN_BOOK_BLOCK_CIPHER_KEY, HlsGmacDriver, Keys, check_vectors

TARGET = 3000.0
FIRST_CLIENT_SAP = 48
ROUND_TRIPS_PER_ASSOCIATION = 3


class NotAvailable(BenchError):
    """The meter offers no working HLS-GMAC association."""

    headline = "HLS-GMAC is not available on this meter yet (or does not work)"


def associations_ini(first_sap: int, count: int, context: str) -> str:
    """One hls-gmac association per client SAP (``security`` follows the context), and the public one."""
    security = "authenticated-encryption" if context == "ln-ciphered" else "none"
    sections = [f"""\
[association:public]
client_sap = {harness.PUBLIC_CLIENT}
authentication = none
context = ln
access = read
"""]
    for index in range(count):
        sections.append(f"""
[association:hls{index}]
client_sap = {first_sap + index}
authentication = hls-gmac
context = {context}
security = {security}
security_suite = 0
access = read
authentication_key = {GREEN_BOOK_AUTHENTICATION_KEY}
block_cipher_key = {GREEN_BOOK_BLOCK_CIPHER_KEY}
""")
    return "".join(sections)


def installed_mechanisms() -> list[str]:
    """The names of the installed authentication mechanism plugins."""
    from dlmstw.plugins.registry import load_registry
    return sorted(load_registry().mechanisms)


def probe(port: int, client_sap: int, keys: Keys, ciphered: bool) -> None:
    """One whole association, blocking, with its own client SAP: NotAvailable says why it failed."""
    driver = HlsGmacDriver(client_sap, keys, ciphered)
    try:
        with BlockingClient(port, client_sap, timeout=10) as client:
            frame = driver.start()
            for _ in range(ROUND_TRIPS_PER_ASSOCIATION):
                response = client.transfer(frame)
                frame = driver.answer(response, 0, len(response))
    except (BenchError, OSError) as error:
        raise NotAvailable(str(error)) from None
    if driver.count != 1:
        raise NotAvailable("the probe association did not complete")


def hls_argv(port: int, args: argparse.Namespace, first_invocation_counter: int) -> list[str]:
    """The load generator's arguments for HLS-GMAC associations, but its path and ``--server-pid``."""
    return ["--port", str(port), "--connections", str(args.connections), "--warmup", str(args.warmup),
            "--duration", str(args.duration), "hls-gmac", "--first-client-sap", str(FIRST_CLIENT_SAP),
            "--context", args.context, "--first-invocation-counter", str(first_invocation_counter)]


def measure(label: str, server_pid: int, argv: list[str], per_unit: int, args: argparse.Namespace,
            cpu: int | None) -> dict[str, object]:
    """One load generator window; ``per_second`` is its rate divided by ``per_unit``."""
    result = harness.run_json([str(harness.BENCH_DIR / "loadgen.py"), "--server-pid", str(server_pid), *argv],
                              cpu=cpu, timeout=args.warmup + args.duration + 60)
    rate = float(str(result["rate"])) / per_unit
    print(harness.window_line(label, rate, result), flush=True)
    result["per_second"] = rate
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", choices=("ln-ciphered", "ln"), default="ln-ciphered",
                        help="application context of the HLS-GMAC associations (default ln-ciphered, "
                             "with authenticated encryption, as etc/lab.ini's utility client)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load generator to CPUs")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="afterwards, run the meter under cProfile for one window and print its top N functions")
    parser.add_argument("--quick", action="store_true",
                        help="a check that it runs, not a measurement: 2 connections, one 0.2 + 0.5 s window, not pinned")
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.warmup, args.duration, args.rounds, args.no_pin = 2, 0.2, 0.5, 1, True
    harness.stop_on_sigterm()
    problems = check_vectors()
    if problems:
        raise BenchError("the benchmark's HLS-GMAC client disagrees with the public vectors: "
                         + "; ".join(problems))
    mechanisms = installed_mechanisms()
    if "hls-gmac" not in mechanisms:
        raise NotAvailable("no installed authentication mechanism is named 'hls-gmac' (installed: "
                           f"{', '.join(mechanisms) or 'none: did the plugins load?'})")
    available = harness.cpus()
    pin = not args.no_pin and len(available) >= 2
    server_cpu, loadgen_cpu = (available[0], available[1]) if pin else (None, None)
    keys = Keys(bytes.fromhex(GREEN_BOOK_BLOCK_CIPHER_KEY), bytes.fromhex(GREEN_BOOK_AUTHENTICATION_KEY))
    ciphered = args.context == "ln-ciphered"
    probe_sap = FIRST_CLIENT_SAP + args.connections
    with tempfile.TemporaryDirectory(prefix="dlmstw-bench-") as folder:
        directory = Path(folder)
        meter_port = harness.free_port_range(1)
        ini = directory / "lab.ini"
        ini.write_text(harness.lab_ini(meter_port, 1, directory / "state", max_clients=args.connections + 8,
                                       associations=associations_ini(FIRST_CLIENT_SAP, args.connections + 1,
                                                                     args.context)))
        with ServerProcess("meter", [str(harness.BENCH_DIR / "meter_server.py"), str(ini)], cpu=server_cpu,
                           log_path=directory / "meter.log") as meter:
            probe(meter_port, probe_sap, keys, ciphered)
            baseline_port = harness.free_port_range(1)
            # Any fixed frame will do: the baseline only frames and answers.
            fixed = harness.wrap(harness.METER_WPORT, FIRST_CLIENT_SAP, bytes(40))
            with ServerProcess("baseline", [str(harness.BENCH_DIR / "baseline_server.py"), str(baseline_port),
                                            fixed.hex()], cpu=server_cpu,
                               log_path=directory / "baseline.log") as baseline:
                print(f"HLS-GMAC associations, context {args.context}, {args.connections} connections "
                      f"(client SAPs {FIRST_CLIENT_SAP}..{FIRST_CLIENT_SAP + args.connections - 1}), "
                      f"{args.warmup:g} s warm-up + {args.duration:g} s per window, {args.rounds} rounds")
                print("servers on CPU " + (f"{server_cpu}, load generator on CPU {loadgen_cpu}" if pin
                                           else "(not pinned)"))
                rates: dict[str, list[float]] = {"baseline": [], "meter": []}
                efficiency: dict[str, list[float]] = {"baseline": [], "meter": []}
                loaded: list[dict[str, object]] = []
                counter = 0
                for number in range(1, args.rounds + 1):
                    print(f"  round {number}", flush=True)
                    ceiling = measure("baseline (3 round trips each)", baseline.pid, [
                        "--port", str(baseline_port), "--connections", str(args.connections),
                        "--warmup", str(args.warmup), "--duration", str(args.duration),
                        "get", "--request", fixed.hex(), "--expect", fixed.hex()],
                        ROUND_TRIPS_PER_ASSOCIATION, args, loadgen_cpu)
                    rates["baseline"].append(float(str(ceiling["per_second"])))
                    efficiency["baseline"].append(harness.per_server_cpu(float(str(ceiling["per_second"])), ceiling))
                    loaded.append(ceiling)
                    result = measure("meter, HLS-GMAC", meter.pid, hls_argv(meter_port, args, counter + 1), 1, args,
                                     loadgen_cpu)
                    counter = int(str(result["last_invocation_counter"]))
                    rates["meter"].append(float(str(result["per_second"])))
                    efficiency["meter"].append(harness.per_server_cpu(float(str(result["per_second"])), result))
                    loaded.append(result)
                for note in harness.window_notes(loaded):
                    print(f"  {note}", flush=True)
        if args.profile:
            harness.profile_meter(ini, hls_argv(meter_port, args, counter + 1), directory, args.profile,
                                  server_cpu, loadgen_cpu, args.warmup + args.duration + 60)
    base, rate = median(rates["baseline"]), median(rates["meter"])
    print("\nmedians")
    print(f"  baseline ceiling {base:>9,.0f} associations/s   meter {rate:>9,.0f} associations/s   "
          f"ratio {rate / base:.2f}")
    print(f"  per server CPU-second: baseline {median(efficiency['baseline']):>9,.0f}   meter "
          f"{median(efficiency['meter']):>9,.0f}")
    capacity = median(efficiency["meter"])
    passed = capacity >= TARGET
    print(f"\nHLS-GMAC associations per CPU-second of the meter process = {capacity:,.0f} (measured rate "
          f"{rate:,.0f}/s), target ≥ {TARGET:,.0f}/s per process: {verdict(passed)}")
    return 0 if passed else 1


if __name__ == "__main__":
    harness.run_main(main)

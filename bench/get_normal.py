"""Speed target 1: a plain GET-normal is answered at ≥ 0.6× the rate of a
do-nothing Twisted server that returns a fixed frame of the same length, under
the same load, in the same run; pipelined at ≥ 0.3×, and ciphered (HLS-GMAC,
authenticated encryption, a global key) at ≥ 0.45×.

Two servers, each in its own process on the epoll reactor, pinned to one CPU:
the meter (``meter_server.py``: one is15959-abt meter, public association) and
the baseline (``baseline_server.py``, answering with the meter's own response
frame, captured by a probe first). The load generator (``loadgen.py``) runs in
a third process on the other CPU with C connections, each associated once and
then sending one GET at a time (ping-pong); the rounds alternate baseline and
meter. Then the same with ``--pipeline`` requests in flight per connection,
and then ciphered ping-pong: each connection an HLS-GMAC association of its
own with authenticated encryption, every GET ciphered with a new invocation
counter and every meter answer deciphered and checked (the baseline answers
a ciphered response frame of the meter's, whose tag byte alone is checked).

The verdict compares the servers' rates per CPU-second they used: with each
server saturating its CPU (a quiet machine) that is the ratio of the rates, and
when other work takes CPU time from a server it stays the steadier figure.

    python bench/get_normal.py [--rounds 3] [--duration 5] [--connections 16]

Exit status: 0 PASS, 1 FAIL, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import harness
from dlmstw.codec import services
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import CosemAttributeDescriptor, GetRequestNormal
from dlmstw.enums import ApduTag
from associations import associations_ini
from harness import BenchError, ServerProcess, median, verdict
from hls_gmac import GREEN_BOOK_AUTHENTICATION_KEY, GREEN_BOOK_BLOCK_CIPHER_KEY, CipheredGetDriver, Keys

#: Meter/baseline per server CPU-second, at least: ping-pong, pipelined, ciphered.
TARGETS = {"ping-pong": 0.6, "pipelined": 0.3, "ciphered": 0.45}
#: The ciphered series' client SAPs: connection i uses FIRST_CLIENT_SAP + i, the probe the next after them.
FIRST_CLIENT_SAP = 48
#: Invocation counters one connection may use in one window, at the most.
COUNTERS_PER_WINDOW = 10_000_000
INVOKE_ID_AND_PRIORITY = 0xC1


def get_request(attribute: str) -> bytes:
    """GET-Request-Normal for ``CLASS/OBIS/ATTRIBUTE``, e.g. ``3/1.0.1.7.0.255/2``."""
    class_id, logical_name, attribute_id = attribute.split("/")
    return services.encode_request(GetRequestNormal(
        INVOKE_ID_AND_PRIORITY, CosemAttributeDescriptor(int(class_id), parse_obis(logical_name), int(attribute_id)),
        None))


def probe(port: int, request: bytes) -> bytes:
    """Associate as the public client and GET once: the meter's whole response frame,
    which must be a GET-Response-Normal with data (``C4 01 <invoke> 00``)."""
    with harness.BlockingClient(port) as client:
        aare = client.exchange(harness.PUBLIC_AARQ)
        if aare[:1] != bytes((ApduTag.AARE,)):
            raise BenchError(f"the meter answered the AARQ with {aare.hex()}")
        frame = client.exchange_frame(request)
    apdu = frame[harness.HEADER_SIZE:]
    if apdu[:4] != bytes((ApduTag.GET_RESPONSE, 1, INVOKE_ID_AND_PRIORITY, 0)):
        raise BenchError(f"the meter answered {request.hex()} with {apdu.hex()}, not data")
    return frame


def ciphered_probe(port: int, client_sap: int, request: bytes) -> bytes:
    """One ciphered GET in an HLS-GMAC association of its own: the meter's whole
    response frame (a glo-get-response), deciphered and checked once."""
    driver = CipheredGetDriver(client_sap, GREEN_BOOK_KEYS, request, 1, verify=True)
    try:
        with harness.BlockingClient(port, client_sap, timeout=10) as client:
            driver.setup(client.transfer)
            response = client.transfer(driver.start())
            driver.answer(response, 0, len(response))
    except OSError as error:
        raise BenchError(f"the ciphered probe failed: {error}") from None
    return response


GREEN_BOOK_KEYS = Keys(bytes.fromhex(GREEN_BOOK_BLOCK_CIPHER_KEY), bytes.fromhex(GREEN_BOOK_AUTHENTICATION_KEY))


def window_argv(port: int, args: argparse.Namespace) -> list[str]:
    return ["--port", str(port), "--connections", str(args.connections), "--warmup", str(args.warmup),
            "--duration", str(args.duration)]


def loadgen_argv(port: int, request: bytes, expect: bytes, args: argparse.Namespace, pipeline: int,
                 check_aare: bool) -> list[str]:
    """The load generator's arguments for plain GETs, but its path and ``--server-pid``."""
    argv = window_argv(port, args) + [
        "get", "--request", request.hex(), "--expect", expect.hex(),
        "--setup", harness.wrap(harness.PUBLIC_CLIENT, harness.METER_WPORT, harness.PUBLIC_AARQ).hex(),
        "--pipeline", str(pipeline)]
    return argv + ["--check-aare"] if check_aare else argv


def ciphered_argv(port: int, request: bytes, args: argparse.Namespace, verify: bool, window: int) -> list[str]:
    """The load generator's arguments for ciphered GETs in measured window
    ``window`` (1, 2...), but its path and ``--server-pid``: each window's
    invocation counters start above every earlier window's."""
    argv = window_argv(port, args) + ["ciphered-get", "--first-client-sap", str(FIRST_CLIENT_SAP),
                                      "--get", request.hex(), "--first-invocation-counter",
                                      str(window * COUNTERS_PER_WINDOW)]
    return argv + ["--verify"] if verify else argv


def measure(label: str, server_pid: int, loadgen: list[str], args: argparse.Namespace,
            cpu: int | None) -> dict[str, object]:
    argv = [str(harness.BENCH_DIR / "loadgen.py"), "--server-pid", str(server_pid), *loadgen]
    result = harness.run_json(argv, cpu=cpu, timeout=args.warmup + args.duration + 60)
    print(harness.window_line(label, float(str(result["rate"])), result), flush=True)
    return result


class Series:
    """The medians of one series: rates, and rates per server CPU-second."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rates: dict[str, list[float]] = {"baseline": [], "meter": []}
        self.efficiency: dict[str, list[float]] = {"baseline": [], "meter": []}

    def add(self, label: str, result: dict[str, object]) -> None:
        rate = float(str(result["rate"]))
        self.rates[label].append(rate)
        self.efficiency[label].append(harness.per_server_cpu(rate, result))

    def ratio(self) -> float:
        return median(self.rates["meter"]) / median(self.rates["baseline"])

    def efficiency_ratio(self) -> float:
        return median(self.efficiency["meter"]) / median(self.efficiency["baseline"])

    def lines(self) -> list[str]:
        rates, efficiency = self.rates, self.efficiency
        return [f"  {self.title:<11} baseline {median(rates['baseline']):>9,.0f} /s   meter "
                f"{median(rates['meter']):>9,.0f} /s   ratio {self.ratio():.2f}",
                f"  {'':<11} per server CPU-second: baseline {median(efficiency['baseline']):>9,.0f}   meter "
                f"{median(efficiency['meter']):>9,.0f}   ratio {self.efficiency_ratio():.2f}"]


def series(title: str, name: str, meter: ServerProcess, baseline: ServerProcess,
           loadgen: dict[str, Callable[[int], list[str]]], args: argparse.Namespace, cpu: int | None) -> Series:
    """Alternate baseline and meter for ``args.rounds`` rounds; ``loadgen`` gives
    each its load generator arguments for a round."""
    print(f"\n{title}", flush=True)
    figures = Series(name)
    loaded: list[dict[str, object]] = []
    for number in range(1, args.rounds + 1):
        print(f"  round {number}", flush=True)
        for label, server in (("baseline", baseline), ("meter", meter)):
            result = measure(label, server.pid, loadgen[label](number), args, cpu)
            figures.add(label, result)
            loaded.append(result)
    for note in harness.window_notes(loaded):
        print(f"  {note}", flush=True)
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attribute", default="3/1.0.1.7.0.255/2",
                        help="CLASS/OBIS/ATTRIBUTE to GET (default: active power, a Register)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each measured window")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each measured window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pipeline", type=int, default=8,
                        help="requests in flight per connection for the pipelined series (0: skip it)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load generator to CPUs")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="afterwards, run the meter under cProfile for one window and print its top N functions")
    parser.add_argument("--no-ciphered", action="store_true", help="skip the ciphered series")
    parser.add_argument("--packet-log", action="store_true",
                        help="run the meter with its packet log on (every exchange described and written)")
    parser.add_argument("--quick", action="store_true",
                        help="a check that it runs, not a measurement: 2 connections, one 0.2 + 0.5 s window, not pinned")
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.warmup, args.duration, args.rounds, args.no_pin = 2, 0.2, 0.5, 1, True
    harness.stop_on_sigterm()
    available = harness.cpus()
    pin = not args.no_pin and len(available) >= 2
    server_cpu, loadgen_cpu = (available[0], available[1]) if pin else (None, None)
    request_apdu = get_request(args.attribute)
    request = harness.wrap(harness.PUBLIC_CLIENT, harness.METER_WPORT, request_apdu)
    with tempfile.TemporaryDirectory(prefix="dlmstw-bench-") as folder:
        directory = Path(folder)
        meter_port = harness.free_port_range(1)
        ini = directory / "lab.ini"
        ini.write_text(harness.lab_ini(meter_port, 1, directory / "state", max_clients=args.connections + 8,
                                       packet_log=str(directory / "packets.jsonl") if args.packet_log else "-",
                                       associations=associations_ini(FIRST_CLIENT_SAP, args.connections + 1,
                                                                     "ln-ciphered")))
        with ServerProcess("meter", [str(harness.BENCH_DIR / "meter_server.py"), str(ini)], cpu=server_cpu,
                           log_path=directory / "meter.log") as meter:
            response = probe(meter_port, request_apdu)
            baseline_port = harness.free_port_range(1)
            with ServerProcess("baseline", [str(harness.BENCH_DIR / "baseline_server.py"), str(baseline_port),
                                            response.hex()], cpu=server_cpu,
                               log_path=directory / "baseline.log") as baseline:
                # The wrapper header and "C4 01 <invoke> 00": a GET-Response-Normal with data.
                expect = response[:harness.HEADER_SIZE + 4]
                print(f"GET-Request-Normal {request_apdu.hex().upper()} ({args.attribute}), response "
                      f"{len(response)} bytes; {args.connections} connections, {args.warmup:g} s warm-up + "
                      f"{args.duration:g} s per window, {args.rounds} rounds")
                print("servers on CPU " + (f"{server_cpu}, load generator on CPU {loadgen_cpu}" if pin
                                           else "(not pinned)"))
                plain = {"baseline": lambda _: loadgen_argv(baseline_port, request, expect, args, 1, False),
                         "meter": lambda _: loadgen_argv(meter_port, request, expect, args, 1, True)}
                measured = [series("ping-pong (1 request in flight per connection)", "ping-pong", meter, baseline,
                                   plain, args, loadgen_cpu)]
                if args.pipeline > 1:
                    piped = {"baseline": lambda _: loadgen_argv(baseline_port, request, expect, args, args.pipeline,
                                                                False),
                             "meter": lambda _: loadgen_argv(meter_port, request, expect, args, args.pipeline, True)}
                    measured.append(series(f"pipelined ({args.pipeline} requests in flight per connection)",
                                           "pipelined", meter, baseline, piped, args, loadgen_cpu))
            if not args.no_ciphered:
                ciphered_response = ciphered_probe(meter_port, FIRST_CLIENT_SAP + args.connections, request_apdu)
                ciphered_port = harness.free_port_range(1)
                with ServerProcess("baseline", [str(harness.BENCH_DIR / "baseline_server.py"), str(ciphered_port),
                                                ciphered_response.hex()], cpu=server_cpu,
                                   log_path=directory / "baseline-ciphered.log") as ciphered_baseline:
                    ciphered = {"baseline": lambda n: ciphered_argv(ciphered_port, request_apdu, args, False, n),
                                "meter": lambda n: ciphered_argv(meter_port, request_apdu, args, True, n)}
                    measured.append(series("ciphered ping-pong (HLS-GMAC, authenticated encryption, global key; "
                                           "a new invocation counter for every GET)", "ciphered", meter,
                                           ciphered_baseline, ciphered, args, loadgen_cpu))
        if args.profile:
            harness.profile_meter(ini, loadgen_argv(meter_port, request, expect, args, 1, True), directory,
                                  args.profile, server_cpu, loadgen_cpu, args.warmup + args.duration + 60)
    print("\nmedians")
    for figures in measured:
        print("\n".join(figures.lines()))
    print()
    passed = True
    for figures in measured:
        ratio, target = figures.efficiency_ratio(), TARGETS[figures.title]
        passed &= ratio >= target
        print(f"GET-normal {figures.title}: meter/baseline per server CPU-second = {ratio:.2f} (of the rates "
              f"{figures.ratio():.2f}), target ≥ {target}: {verdict(ratio >= target)}")
    return 0 if passed else 1


if __name__ == "__main__":
    harness.run_main(main)

"""The load generator: C connections to one server on 127.0.0.1, each keeping
``depth`` requests in flight (depth 1 is request/response ping-pong), driven
by one ``select.epoll`` loop over non-blocking sockets.

What to send is a driver's business: a driver gets every complete response
frame and returns the next request frame(s), and counts its units (responses
for GET, established associations for HLS). The loop is identical for every
server, so the meter and the baseline see the same load.

The run is a warm-up, then a measured window; the result is one JSON object:
units and their rate in the window, and the CPU share the server and the load
generator used in it (a server near 100 % is the bottleneck, as intended), and
what everything else on the machine used (other work disturbs the figures).

    python bench/loadgen.py get --port P --request HEX --expect HEX [--setup HEX --check-aare]
    python bench/loadgen.py hls-gmac --port P --first-client-sap 48 [--context ln-ciphered]
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import harness
from dlmstw.codec import acse
from dlmstw.enums import AssociationResult
from dlmstw.errors import DecodeError
from harness import HEADER_SIZE, UnexpectedResponse
from hls_gmac import GREEN_BOOK_AUTHENTICATION_KEY, GREEN_BOOK_BLOCK_CIPHER_KEY, CipheredGetDriver, HlsGmacDriver, Keys

#: Bytes read per recv; ping-pong responses are far smaller.
RECV_SIZE = 65536


class Driver(Protocol):
    """One connection's side of the conversation."""

    count: int
    """Units done so far (responses, associations)."""

    def setup(self, exchange: Callable[[bytes], bytes]) -> None:
        """Before the load: blocking exchanges (``exchange(frame) -> response frame``)."""

    def start(self) -> bytes:
        """The first request frame(s) of the load (as many as it keeps in flight)."""

    def answer(self, buffer: bytes, start: int, stop: int) -> bytes:
        """The response frame ``buffer[start:stop]`` arrived: the next request frame(s)."""


class GetDriver:
    """A fixed GET request, each response checked against a fixed prefix
    (wrapper header and the GET-Response-Normal head ``C4 01 <invoke> 00``)."""

    __slots__ = ("request", "expect", "depth", "setup_frame", "check_aare", "count")

    def __init__(self, request: bytes, expect: bytes, depth: int = 1, setup_frame: bytes | None = None,
                 check_aare: bool = False) -> None:
        self.request = request
        self.expect = expect
        self.depth = depth
        self.setup_frame = setup_frame
        self.check_aare = check_aare
        self.count = 0

    def setup(self, exchange: Callable[[bytes], bytes]) -> None:
        if self.setup_frame is None:
            return
        response = exchange(self.setup_frame)
        if self.check_aare:
            try:
                aare = acse.decode_aare(response[HEADER_SIZE:])
            except DecodeError as error:
                raise UnexpectedResponse(f"set-up response {response.hex()} is not an AARE: {error}") from None
            if aare.result != AssociationResult.ACCEPTED:
                raise UnexpectedResponse(f"association refused: {aare}")

    def start(self) -> bytes:
        return self.request * self.depth

    def answer(self, buffer: bytes, start: int, stop: int) -> bytes:
        if not buffer.startswith(self.expect, start):
            raise UnexpectedResponse(f"response {buffer[start:stop].hex()} does not start with {self.expect.hex()}")
        self.count += 1
        return self.request


class Connection:
    __slots__ = ("sock", "driver", "pending")

    def __init__(self, sock: socket.socket, driver: Driver) -> None:
        self.sock = sock
        self.driver = driver
        self.pending = b""


def _exchange(sock: socket.socket) -> Callable[[bytes], bytes]:
    def exchange(frame: bytes) -> bytes:
        sock.sendall(frame)
        response = b""
        while len(response) < HEADER_SIZE or len(response) < HEADER_SIZE + harness.WRAPPER.unpack_from(response)[3]:
            chunk = sock.recv(RECV_SIZE)
            if not chunk:
                raise UnexpectedResponse("the server closed the connection during set-up")
            response += chunk
        return response
    return exchange


def _send(sock: socket.socket, data: bytes) -> None:
    """Requests are small and at most ``depth`` are in flight, so the socket
    buffer always takes them whole; anything else voids the run."""
    if sock.send(data) != len(data):
        raise harness.BenchError("a request did not fit the socket's send buffer")


def run(port: int, drivers: Sequence[Driver], warmup: float, duration: float,
        server_pid: int | None = None) -> dict[str, object]:
    """Connect one socket per driver, run the load, return the figures."""
    connections: dict[int, Connection] = {}
    poller = select.epoll()
    try:
        for driver in drivers:
            sock = socket.create_connection((harness.LOOPBACK, port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connections[sock.fileno()] = Connection(sock, driver)
            driver.setup(_exchange(sock))
        for fd, connection in connections.items():
            connection.sock.setblocking(False)
            poller.register(fd, select.EPOLLIN)
        for connection in connections.values():
            _send(connection.sock, connection.driver.start())
        measured = _loop(poller, connections, warmup, duration, server_pid)
    finally:
        poller.close()
        for connection in connections.values():
            connection.sock.close()
    return measured


def _loop(poller: select.epoll, connections: dict[int, Connection], warmup: float, duration: float,
          server_pid: int | None) -> dict[str, object]:
    drivers = [connection.driver for connection in connections.values()]
    clock = time.perf_counter
    now = clock()
    window_start = now + warmup
    window_end = window_start + duration
    in_window = False
    start_count = 0
    start_cpu = server_start_cpu = machine_start_cpu = 0.0
    poll = poller.poll
    while now < window_end:
        for fd, _ in poll(0.05):
            connection = connections[fd]
            data = connection.sock.recv(RECV_SIZE)
            if not data:
                raise UnexpectedResponse("the server closed a connection")
            buffer = connection.pending + data if connection.pending else data
            end = len(buffer)
            pos = 0
            answers = []
            answer = connection.driver.answer
            while end - pos >= HEADER_SIZE:
                stop = pos + HEADER_SIZE + ((buffer[pos + 6] << 8) | buffer[pos + 7])
                if stop > end:
                    break
                answers.append(answer(buffer, pos, stop))
                pos = stop
            connection.pending = buffer[pos:]
            if answers:
                _send(connection.sock, answers[0] if len(answers) == 1 else b"".join(answers))
        now = clock()
        if not in_window and now >= window_start:
            in_window = True
            window_start = now
            window_end = now + duration
            start_count = sum(driver.count for driver in drivers)
            start_cpu = time.process_time()
            server_start_cpu = harness.cpu_seconds(server_pid) if server_pid else 0.0
            machine_start_cpu = harness.busy_cpu_seconds()
    seconds = now - window_start
    units = sum(driver.count for driver in drivers) - start_count
    loadgen_cpu = time.process_time() - start_cpu
    server_cpu = harness.cpu_seconds(server_pid) - server_start_cpu if server_pid else 0.0
    machine_cpu = harness.busy_cpu_seconds() - machine_start_cpu
    result: dict[str, object] = {
        "units": units,
        "seconds": seconds,
        "rate": units / seconds,
        "loadgen_cpu": loadgen_cpu / seconds,
        "connections": len(connections),
        # Everything else the machine ran in the window, kernel network work included.
        "other_cpu": max(0.0, machine_cpu - loadgen_cpu - server_cpu) / seconds,
    }
    if server_pid:
        result["server_cpu"] = server_cpu / seconds
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--server-pid", type=int, help="report this process's CPU share in the window")
    modes = parser.add_subparsers(dest="mode", required=True)
    get = modes.add_parser("get", help="one fixed request per response")
    get.add_argument("--request", required=True, help="request frame, hex")
    get.add_argument("--expect", required=True, help="prefix of every response frame, hex")
    get.add_argument("--setup", help="frame sent once per connection before the load, hex")
    get.add_argument("--check-aare", action="store_true", help="the set-up response must be an accepted AARE")
    get.add_argument("--pipeline", type=int, default=1, help="requests in flight per connection")
    hls = modes.add_parser("hls-gmac", help="HLS-GMAC associations: AARQ, reply_to_HLS_authentication, RLRQ")
    hls.add_argument("--first-client-sap", type=int, required=True,
                     help="connection i uses client SAP first + i (one association each)")
    hls.add_argument("--context", choices=("ln", "ln-ciphered"), default="ln-ciphered")
    hls.add_argument("--first-invocation-counter", type=int, default=1,
                     help="the client's first invocation counter (continue a previous run's)")
    hls.add_argument("--block-cipher-key", default=GREEN_BOOK_BLOCK_CIPHER_KEY)
    hls.add_argument("--authentication-key", default=GREEN_BOOK_AUTHENTICATION_KEY)
    ciphered = modes.add_parser("ciphered-get", help="a GET ciphered anew for every send, in an HLS-GMAC "
                                                      "association with authenticated encryption per connection")
    ciphered.add_argument("--first-client-sap", type=int, required=True,
                          help="connection i associates as client SAP first + i")
    ciphered.add_argument("--get", required=True, help="the plain GET-Request-Normal APDU, hex")
    ciphered.add_argument("--pipeline", type=int, default=1, help="requests in flight per connection")
    ciphered.add_argument("--verify", action="store_true", help="decipher and check every answer")
    ciphered.add_argument("--first-invocation-counter", type=int, default=1,
                          help="the clients' first invocation counter (above a previous run's)")
    ciphered.add_argument("--block-cipher-key", default=GREEN_BOOK_BLOCK_CIPHER_KEY)
    ciphered.add_argument("--authentication-key", default=GREEN_BOOK_AUTHENTICATION_KEY)
    args = parser.parse_args(argv)
    drivers: Sequence[Driver]
    associations: list[HlsGmacDriver] = []
    if args.mode == "get":
        drivers = [GetDriver(bytes.fromhex(args.request), bytes.fromhex(args.expect), args.pipeline,
                             bytes.fromhex(args.setup) if args.setup else None, args.check_aare)
                   for _ in range(args.connections)]
    elif args.mode == "ciphered-get":
        keys = Keys(bytes.fromhex(args.block_cipher_key), bytes.fromhex(args.authentication_key))
        drivers = [CipheredGetDriver(args.first_client_sap + i, keys, bytes.fromhex(args.get), args.pipeline,
                                     args.verify, args.first_invocation_counter) for i in range(args.connections)]
    else:
        keys = Keys(bytes.fromhex(args.block_cipher_key), bytes.fromhex(args.authentication_key))
        drivers = associations = [HlsGmacDriver(args.first_client_sap + i, keys, args.context == "ln-ciphered",
                                                args.first_invocation_counter)
                                  for i in range(args.connections)]
    try:
        result = run(args.port, drivers, args.warmup, args.duration, args.server_pid)
    except harness.BenchError as error:
        print(f"loadgen: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as error:
        print(f"loadgen: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    if associations:
        result["last_invocation_counter"] = max(driver.invocation_counter for driver in associations)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])

"""The capture bus: observers are called in a later turn, never inside a
meter; below its bound nothing is lost, above it records are dropped and
counted. And end to end: 5 meters × 10 clients reading continuously, every
exchange reaches the packet log."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gurux_dlms.objects import GXDLMSClock, GXDLMSRegister
from twisted.internet.task import Clock

from dlmstw.monitor.capture import CaptureBus, Exchange, RingBuffer
from interop_support import MeterSession, find_free_port_range, launch_lab, stop_lab
from test_console import Console


def exchange(sequence: int, meter: str = "abt-0", peer: str = "127.0.0.1:5000") -> Exchange:
    return Exchange(sequence, 1.0, 1.1, meter, peer, "127.0.0.1:4059", 16, 1, b"\x00", b"\x01", b"\x00", b"\x01",
                    "get-request-normal", False, "success")


def test_delivery_is_in_a_later_turn_and_in_order() -> None:
    clock = Clock()
    bus = CaptureBus(clock.callLater, max_pending=10)
    seen: list[int] = []
    bus.subscribe(lambda e: seen.append(e.sequence))
    for n in range(10):
        bus.publish(exchange(n))
    assert seen == []
    clock.advance(0)
    assert seen == list(range(10)) and bus.dropped == 0


def test_above_the_bound_records_are_dropped_and_counted() -> None:
    clock = Clock()
    bus = CaptureBus(clock.callLater, max_pending=10)
    seen: list[int] = []
    bus.subscribe(lambda e: seen.append(e.sequence))
    for n in range(15):
        bus.publish(exchange(n))
    clock.advance(0)
    assert seen == list(range(10)) and bus.dropped == 5
    bus.publish(exchange(15))
    clock.advance(0)
    assert seen[-1] == 15


def test_a_failing_observer_does_not_stop_the_others() -> None:
    clock = Clock()
    bus = CaptureBus(clock.callLater)
    seen: list[int] = []

    def broken(e: Exchange) -> None:
        raise RuntimeError("observer bug")

    bus.subscribe(broken)
    bus.subscribe(lambda e: seen.append(e.sequence))
    bus.publish(exchange(1))
    clock.advance(0)
    assert seen == [1] and bus.failures == 1


def test_nobody_listening_costs_nothing() -> None:
    """A meter's record is numbered, counted and queued only while somebody listens."""
    clock = Clock()
    bus = CaptureBus(clock.callLater)
    fields = exchange(0)[1:-1]  # the bus numbers a record and marks its scenario step itself
    bus.record(*fields)
    assert (bus.published, bus.sequence) == (0, 0)
    seen: list[Exchange] = []
    unsubscribe = bus.subscribe(seen.append)
    bus.record(*fields)
    clock.advance(0)
    assert (bus.published, [e.sequence for e in seen]) == (1, [1])
    unsubscribe()
    bus.record(*fields)
    assert bus.published == 1


def test_ring_buffer_filters() -> None:
    buffer = RingBuffer(size=3)
    for n, (meter, peer) in enumerate([("a", "p1"), ("b", "p1"), ("a", "p2"), ("a", "p1")]):
        buffer(exchange(n, meter, peer))
    assert [e.sequence for e in buffer.select()] == [1, 2, 3]
    assert [e.sequence for e in buffer.select(meter="a")] == [2, 3]
    assert [e.sequence for e in buffer.select(peer="p1", limit=1)] == [3]


def test_a_limited_selection_takes_the_connections_it_reaches_into_whole() -> None:
    """The newest 2 records reach into connection p1 (opened by record 1) and p2 (opened
    among them); p1 is taken from its connect. p3 reused the ports of a closed connection:
    only the new one is taken. A UDP record is never widened."""
    buffer = RingBuffer()
    plan = [("p1", "connect"), ("p3", "connect"), ("p1", "get-request-normal"), ("p3", "disconnect"),
            ("p3", "get-request-normal"), ("p1", "get-request-normal"), ("p2", "connect"), ("p3", "rlrq"),
            ("p1", "rlrq")]
    for n, (peer, kind) in enumerate(plan, 1):
        buffer(exchange(n, "a", peer)._replace(kind=kind))
    assert [e.sequence for e in buffer.select(limit=2)] == [8, 9]
    assert [e.sequence for e in buffer.select(limit=2, whole_connections=True)] == [1, 3, 5, 6, 8, 9]
    assert [e.sequence for e in buffer.select(limit=3, whole_connections=True)] == [1, 3, 5, 6, 7, 8, 9]
    assert [e.sequence for e in buffer.select(peer="p2", limit=1, whole_connections=True)] == [7]
    udp = RingBuffer()
    for n in range(1, 4):
        udp(exchange(n, "a", "p1")._replace(kind="data-notification", transport="udp"))
    assert [e.sequence for e in udp.select(limit=1, whole_connections=True)] == [3]


def test_fifty_clients_reading_lose_nothing(tmp_path: Path) -> None:
    meter_port = find_free_port_range(5)
    console_port = find_free_port_range(1)
    ini = (f"[simulator]\nconsole = tcp:{console_port}:interface=127.0.0.1\nstate_dir = {tmp_path / 'state'}\n"
           f"packet_log = {tmp_path / 'packets.jsonl'}\n\n[meters:abt]\ncount = 5\nport = {meter_port}\n"
           # 10 clients a meter, and room for the start-up probe's connection until the meter sees it close.
           "max_clients = 12\nload_profile_days = 1\n\n[association:public]\nclient_sap = 16\n")
    lab = launch_lab(tmp_path, ini, tuple(range(meter_port, meter_port + 5)) + (console_port,))
    errors: list[BaseException] = []
    reads = 20

    def client(port: int) -> None:
        try:
            with MeterSession(port, 16) as session:
                for _ in range(reads):
                    session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
                    session.read(GXDLMSRegister("1.0.1.8.0.255"), 2)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    try:
        threads = [threading.Thread(target=client, args=(port,)) for port in lab.ports[:5] for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors[:3]
        console = Console(lab, console_port)
        # The counters count connections opened and closed too, by their results.
        answered = sum(count for m in console.json("/api/meters") for result, count in m["counters"].items()
                       if result not in ("accepted", "closed"))
        assert answered == 50 * (2 + 2 * reads)
        metrics = console.get("/metrics")[2].decode()
        assert "dlmstw_capture_dropped_total 0" in metrics
        assert 'dlmstw_packet_log_records_total{outcome="dropped"} 0' in metrics
    finally:
        stop_lab(lab)
    records = [json.loads(line) for line in (tmp_path / "packets.jsonl").read_text().splitlines()]
    exchanges = [r for r in records if r["kind"] not in ("connect", "disconnect")]
    assert len(exchanges) == answered
    # A connection is its peer and the meter it reached: the kernel may give two
    # connections to different meters the same local port.
    assert len({(r["peer"], r["meter"]) for r in exchanges}) == 50


def test_ring_buffer_is_bounded_in_bytes() -> None:
    buffer = RingBuffer(size=100, max_bytes=10)
    for n in range(20):
        buffer(exchange(n))  # 4 bytes of frames and APDUs each
    assert [e.sequence for e in buffer.select()] == [18, 19] and buffer.bytes == 8

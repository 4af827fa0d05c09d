"""The packet log's hand-over to its writer: records wait in batches and in
flight within a bound of records and of bytes, so that large frames from a
hostile client (up to 64 KiB each) are dropped and counted rather than held
in the twistd process while the writer falls behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from dlmstw.monitor.capture import CaptureBus, Exchange, weight
from dlmstw.server.packet_log import BATCH_BYTES, BATCH_SECONDS, MAX_IN_FLIGHT_BYTES, PacketLog

#: A refused 64 KiB APDU: its frame and its APDU are both kept in the record.
APDU = bytes(0xFFFF)


class SlowWriter:
    """The writer's end of the channel: it confirms nothing until told."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[Any], Deferred[dict[str, int]]]] = []

    def callRemote(self, command: object, records: list[Any]) -> Deferred[dict[str, int]]:
        answer: Deferred[dict[str, int]] = Deferred()
        self.batches.append((records, answer))
        return answer


def large(sequence: int) -> Exchange:
    return Exchange(sequence, 1.0, 1.1, "abt-0", "127.0.0.1:5000", "127.0.0.1:4059", 16, 1,
                    bytes(8) + APDU, b"\x00\x01\x00\x01\x00\x10\x00\x03\xd8\x01\x03", APDU, b"\xd8\x01\x03",
                    "malformed", False, "exception-response:service-not-allowed/operation-not-possible")


def test_large_records_waiting_for_the_writer_are_bounded_in_bytes(tmp_path: Path) -> None:
    clock = Clock()
    packet_log = PacketLog(str(tmp_path / "packets.jsonl"), CaptureBus(clock.callLater), {}, clock, 0, 1)
    writer = SlowWriter()
    packet_log.channel = writer  # type: ignore[assignment]
    count = 1000
    for sequence in range(count):
        packet_log._collect(large(sequence))
    clock.advance(BATCH_SECONDS)
    handed = sum(len(records) for records, _ in writer.batches)
    assert 0 < packet_log.in_flight_bytes <= MAX_IN_FLIGHT_BYTES
    assert packet_log.in_flight_bytes == handed * weight(large(0))
    assert all(sum(weight(e) for e in records) < BATCH_BYTES + weight(large(0)) for records, _ in writer.batches)
    assert packet_log.dropped == count - handed > 0
    for records, answer in writer.batches:
        answer.callback({"written": len(records)})
    assert (packet_log.in_flight, packet_log.in_flight_bytes, packet_log.written) == (0, 0, handed)
    packet_log._collect(large(count))
    clock.advance(BATCH_SECONDS)
    assert packet_log.in_flight == 1 and len(writer.batches[-1][0]) == 1

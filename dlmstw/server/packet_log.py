"""The packet log: every captured exchange as one JSON object a line
(DESIGN.md "Packet log record"), described byte by byte.

Describing an exchange costs far more than serving it, so a child process
does it (``server.log_writer``, started with ``ProcessEndpoint``, talking AMP):
this service only batches records and hands them over. At most
``MAX_IN_FLIGHT`` records and ``MAX_IN_FLIGHT_BYTES`` of frames and APDUs
wait for the writer; beyond that, records are dropped and counted: a meter
never waits for its log, and large frames never pile up in this process. A
writer that ends unexpectedly is started again (the records it had not
confirmed count as dropped). On stop, every record handed over is written before the writer
closes the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import ProcessEndpoint, connectProtocol
from twisted.internet.error import ProcessExitedAlready
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..monitor.capture import CaptureBus, Exchange, weight
from .channel import child_argv, unless_gone, ProcessChannel, Close, Names, Write

log = Logger()
#: Records handed over in one piece, at the most, and their frames' and APDUs' bytes.
BATCH = 2000
BATCH_BYTES = 256 << 10
#: Seconds a record waits for its batch to be handed over, at the most.
BATCH_SECONDS = 0.1
#: Records handed over and not yet written, at the most (about 2 s of the writer's work).
MAX_IN_FLIGHT = 12_000
#: Bytes of frames and APDUs of the records handed over and not yet written, at the most: without
#: it, a client sending 64 KiB APDUs would have this process hold 12,000 records of 128 KiB each.
MAX_IN_FLIGHT_BYTES = 4 << 20
#: Seconds the writer has, on stop, to write what it holds and end.
STOP_SECONDS = 4.0


class WriterChannel(ProcessChannel):
    def __init__(self, on_end: Callable[[WriterChannel, Failure], None]) -> None:
        super().__init__()
        self.on_end = on_end

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        self.on_end(self, reason)


class PacketLog(Service):
    """Subscribes to the capture bus while running and feeds the writer process."""

    def __init__(self, path: str, capture: CaptureBus, names: dict[bytes, str], reactor: Any, max_bytes: int,
                 keep: int) -> None:
        self.path = os.path.abspath(path)
        self.capture = capture
        self.names = names
        self.reactor = reactor
        self.max_bytes = max_bytes
        self.keep = keep
        self.batch: list[Exchange] = []
        self.batch_bytes = 0
        self.timer: Any = None
        #: Records written, dropped (the writer fell behind, or ended holding them), waiting for the writer.
        self.written = 0
        self.dropped = 0
        self.in_flight = 0
        self.in_flight_bytes = 0
        self.restarts = 0
        self.channel: WriterChannel | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._idle: list[Deferred[None]] = []
        self._ended: Deferred[None] | None = None
        self.stopping = False

    def startService(self) -> None:
        super().startService()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._start()
        self._unsubscribe = self.capture.subscribe(self._collect)

    def _start(self) -> None:
        argv = child_argv("dlmstw.server.log_writer", self.path, str(self.max_bytes), str(self.keep))
        channel = WriterChannel(self._writer_ended)
        connected = connectProtocol(ProcessEndpoint(self.reactor, sys.executable, argv, env=os.environ), channel)

        def started(_: object) -> None:
            self.channel = channel
            channel.callRemote(Names, names={n.hex(): text for n, text in self.names.items()}).addErrback(
                unless_gone("packet log: handing the object names to the writer"))

        connected.addCallbacks(started, lambda failure: log.error(
            "packet log: the writer could not start: {error}", error=failure.getErrorMessage()))

    def _writer_ended(self, channel: WriterChannel, reason: Failure) -> None:
        if self.channel is channel:
            self.channel = None
        if self._ended is not None:
            ended, self._ended = self._ended, None
            ended.callback(None)
            return
        if not self.stopping:
            self.restarts += 1
            log.error("packet log: the writer ended ({why}); starting it again", why=reason.getErrorMessage())
            self._start()

    def _collect(self, exchange: Exchange) -> None:
        if not self.batch:
            self.timer = self.reactor.callLater(BATCH_SECONDS, self._hand_over)
        self.batch.append(exchange)
        self.batch_bytes += weight(exchange)
        if len(self.batch) >= BATCH or self.batch_bytes >= BATCH_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        """Send the batch to the writer, or count it dropped when the writer is behind or away."""
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None
        batch, self.batch = self.batch, []
        size, self.batch_bytes = self.batch_bytes, 0
        if not batch:
            return
        if (self.channel is None or self.in_flight + len(batch) > MAX_IN_FLIGHT
                or self.in_flight_bytes + size > MAX_IN_FLIGHT_BYTES):
            self.dropped += len(batch)
            return
        self.in_flight += len(batch)
        self.in_flight_bytes += size

        def written(answer: dict[str, int]) -> None:
            self.written += answer["written"]
            self.dropped += len(batch) - answer["written"]

        def lost(failure: Failure) -> None:
            self.dropped += len(batch)

        def settled(_: object) -> None:
            self.in_flight -= len(batch)
            self.in_flight_bytes -= size
            if not self.in_flight:
                idle, self._idle = self._idle, []
                for waiting in idle:
                    waiting.callback(None)

        self.channel.callRemote(Write, records=batch).addCallbacks(written, lost).addBoth(settled)

    def _drained(self) -> Deferred[None]:
        if not self.in_flight:
            return succeed(None)
        waiting: Deferred[None] = Deferred()
        self._idle.append(waiting)
        return waiting

    def stopService(self) -> Deferred[None]:
        """Hand over what the bus still holds, wait until the writer has written
        everything, then let it close the file and end."""
        super().stopService()
        self.stopping = True
        self.capture.flush()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._hand_over()
        channel = self.channel
        if channel is None:
            return succeed(None)
        ended: Deferred[None] = Deferred()
        self._ended = ended
        timer = self.reactor.callLater(STOP_SECONDS, self._kill, channel)
        self._drained().addCallback(lambda _: channel.callRemote(Close)).addBoth(
            lambda _: channel.transport.loseConnection())
        return ended.addBoth(lambda _: timer.cancel() if timer.active() else None)

    def _kill(self, channel: WriterChannel) -> None:
        log.error("packet log: the writer did not finish in {seconds} s; {count} records lost",
                  seconds=STOP_SECONDS, count=self.in_flight)
        try:
            channel.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

"""The packet log: every captured exchange as one JSON object a line
(DESIGN.md "Packet log record"), described byte by byte.

Describing an exchange costs far more than serving it, so it happens in a
process of its own: the meter process only hands batches of records to a
bounded queue (one pickling per batch, in a feeder thread); the writer
process dissects and writes them. When the writer falls behind and the
queue is full, records are dropped and counted: a meter never waits for its
log.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
from pathlib import Path
from typing import Any, Callable

from twisted.application.service import Service
from twisted.logger import Logger

from ..dissector import Keys
from ..dissector.record import packet_record
from ..monitor.capture import CaptureBus, Exchange

log = Logger()
#: Records handed over in one piece, at the most.
BATCH = 2000
#: Seconds a record waits for its batch to be handed over, at the most.
BATCH_SECONDS = 0.1
#: How much lower the writer's scheduling priority is than the meters'.
NICENESS = 15
#: Batches waiting for the writer, at the most.
MAX_PENDING_BATCHES = 64

#: An exchange as the tuple of its fields (cheaper to pickle than the
#: dataclass) and the keys that decipher it.
Item = tuple[tuple[Any, ...], tuple[Keys | None, Keys | None]]
FIELDS = Exchange.__slots__


def write_log(path: str, batches: Any, names: dict[bytes, str]) -> None:
    """The writer process: describe and append every record until ``None``
    arrives; at a low priority, so that it only uses CPU the meters leave."""
    os.nice(NICENESS)
    with Path(path).open("a", encoding="utf-8") as out:
        while True:
            batch: list[Item] | None = batches.get()
            if batch is None:
                return
            for fields, keys in batch:
                record = packet_record(Exchange(*fields), keys_for=lambda _, keys=keys: keys, names=names.get)
                out.write(json.dumps(record) + "\n")
            out.flush()


class PacketLog(Service):
    """Subscribes to the capture bus while running and feeds the writer process."""

    def __init__(self, path: str, capture: CaptureBus, keys_for: Callable[[Exchange], tuple[Keys | None, Keys | None]],
                 names: dict[bytes, str], call_later: Callable[[float, Callable[[], None]], object]) -> None:
        self.path = path
        self.capture = capture
        self.keys_for = keys_for
        self.names = names
        self.call_later = call_later
        self.batch: list[Item] = []
        self.dropped = 0
        self.written = 0
        self._process: Any = None
        self._queue: Any = None
        self._unsubscribe: Callable[[], None] | None = None

    def startService(self) -> None:
        super().startService()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.path).touch()
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue(MAX_PENDING_BATCHES)
        self._process = context.Process(target=write_log, args=(self.path, self._queue, self.names),
                                        name="dlmstw packet log", daemon=True)
        self._process.start()
        self._unsubscribe = self.capture.subscribe(self._collect)

    def _collect(self, exchange: Exchange) -> None:
        if not self.batch:
            self.call_later(BATCH_SECONDS, self._hand_over)
        self.batch.append((tuple([getattr(exchange, name) for name in FIELDS]), self.keys_for(exchange)))
        if len(self.batch) >= BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        """Queue the batch (a timer may find it already handed over: nothing to do)."""
        batch, self.batch = self.batch, []
        if not batch or self._queue is None:
            return
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.dropped += len(batch)
        else:
            self.written += len(batch)

    def stopService(self) -> None:
        super().stopService()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._process is None:
            return
        self._hand_over()
        try:
            self._queue.put(None, timeout=10)
        except queue.Full:
            log.error("packet log: the writer does not keep up; stopping it")
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
        self._queue.close()
        self._queue.join_thread()
        # Dropping the queue lets its semaphores go before the interpreter ends.
        self._queue = self._process = None

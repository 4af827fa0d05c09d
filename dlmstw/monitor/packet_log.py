"""The packet log: every captured exchange as one JSON object a line
(DESIGN.md "Packet log record"), written by a thread of its own so that
describing and writing never delay a meter. Records beyond a bounded queue
are dropped and counted."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any, Callable

from twisted.application.service import Service
from twisted.logger import Logger

from .capture import CaptureBus, Exchange

log = Logger()
_STOP = object()


class PacketLog(Service):
    """Subscribes to the capture bus while running; ``describe`` turns an
    exchange into its JSON record (the dissector, injected from above)."""

    def __init__(self, path: str, capture: CaptureBus, describe: Callable[[Exchange], dict[str, Any]],
                 max_pending: int = 50_000) -> None:
        self.path = Path(path)
        self.capture = capture
        self.describe = describe
        self.queue: queue.Queue[object] = queue.Queue(max_pending)
        self.written = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def startService(self) -> None:
        super().startService()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._write, name="dlmstw packet log", daemon=True)
        self._thread.start()
        self._unsubscribe = self.capture.subscribe(self._enqueue)

    def stopService(self) -> None:
        super().stopService()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self.queue.put(_STOP)
            self._thread.join(timeout=10)

    def _enqueue(self, exchange: Exchange) -> None:
        try:
            self.queue.put_nowait(exchange)
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            while True:
                item = self.queue.get()
                if item is _STOP:
                    return
                try:
                    out.write(json.dumps(self.describe(item)) + "\n")  # type: ignore[arg-type]
                except Exception:
                    log.failure("packet log: cannot write an exchange")
                    continue
                self.written += 1
                if self.queue.empty():
                    out.flush()

"""Persistence of what users change on meters (clock offsets, values set by
clients), in ``state_dir``: one JSON file per changed meter, written
atomically, at most once a second per meter and on shutdown, and read back at
start, so a restart of ``twistd`` loses nothing a user changed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ..simulator.meter import MeterRuntime

log = Logger()
SAVE_INTERVAL = 1.0


class StateStore(Service):
    def __init__(self, directory: str, meters: Iterable[MeterRuntime], clock: object | None = None) -> None:
        self.directory = Path(directory)
        self.meters = list(meters)
        self._loop = LoopingCall(self.save)
        if clock is not None:
            self._loop.clock = clock  # type: ignore[assignment]

    def path(self, meter: MeterRuntime) -> Path:
        return self.directory / f"{meter.id}.json"

    def load(self) -> None:
        """Restore every meter that has a saved state."""
        for meter in self.meters:
            path = self.path(meter)
            if not path.exists():
                continue
            try:
                meter.restore(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.error("meter {meter}: ignoring unreadable saved state {path}: {error}",
                          meter=meter.id, path=str(path), error=error)

    def save(self) -> None:
        """Write the meters changed since the last save."""
        for meter in self.meters:
            if not meter.changed:
                continue
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.path(meter)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(meter.state()), encoding="utf-8")
            os.replace(temporary, path)
            meter.changed = False

    def startService(self) -> None:
        super().startService()
        self.load()
        self._loop.start(SAVE_INTERVAL, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        self.save()

"""Persistence of what users change on meters (clock offsets, values set by
clients, keys, invocation counters), in ``state_dir``: one JSON file per
changed part, written atomically, at most once a second and on shutdown, and
read back at start, so a restart of ``twistd`` loses nothing a user changed.
Invocation counters cannot wait a second: they go to the counter journal
(``server.journal``) first, which the store replays at start and empties
once it has saved."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Protocol

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from .journal import CounterJournal, replay


log = Logger()
SAVE_INTERVAL = 1.0


class Persistent(Protocol):
    """A part of a meter whose changes are saved: a meter's runtime, its security."""

    id: str
    changed: bool

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


class StateStore(Service):
    def __init__(self, directory: str, parts: Iterable[Persistent], clock: object | None = None,
                 journal: CounterJournal | None = None) -> None:
        self.directory = Path(directory)
        self.parts = list(parts)
        self.journal = journal
        self._loop = LoopingCall(self.save)
        if clock is not None:
            self._loop.clock = clock  # type: ignore[assignment]

    def path(self, meter: Persistent) -> Path:
        return self.directory / f"{meter.id}.json"

    def load(self) -> None:
        """Restore every part that has a saved state."""
        for meter in self.parts:
            path = self.path(meter)
            if not path.exists():
                continue
            try:
                meter.restore(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.error("meter {meter}: ignoring unreadable saved state {path}: {error}",
                          meter=meter.id, path=str(path), error=error)
        by_id = {part.id: part for part in self.parts}

        def apply(part: str, association: str | None, counter: int) -> None:
            target = by_id.get(part)
            if target is not None:
                target.replay(association, counter)  # type: ignore[attr-defined]

        replay(self.directory, apply)
        if self.journal is not None:
            self.journal.open()
            self.save()

    def save(self) -> None:
        """Write the parts changed since the last save."""
        for meter in self.parts:
            if not meter.changed:
                continue
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.path(meter)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(meter.state()), encoding="utf-8")
            os.replace(temporary, path)
            meter.changed = False
        if self.journal is not None:
            self.journal.empty()

    def startService(self) -> None:
        super().startService()
        self.load()
        self._loop.start(SAVE_INTERVAL, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        self.save()
        if self.journal is not None:
            self.journal.close()

"""Persistence of what users change on meters (clock offsets, values set by
clients, keys, invocation counters), in ``state_dir``: one JSON file per
changed part, written atomically, at most once a second and on shutdown, and
read back at start, so a restart of ``twistd`` loses nothing a user changed.
Invocation counters cannot wait a second: they live in the counter journal
(``server.journal``), which the store replays at start and compacts when it
has grown."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Protocol

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from .journal import COMPACT_BYTES, CounterJournal, Line, replay


log = Logger()
SAVE_INTERVAL = 1.0


class Counted(Protocol):
    """A part of a meter with invocation counters (``MeterSecurity``)."""

    id: str

    def counters(self) -> Iterable[tuple[str | None, int]]: ...

    def replay(self, association: str | None, counter: int) -> None: ...


class Persistent(Protocol):
    """A part of a meter whose changes are saved: a meter's runtime, its security."""

    id: str
    changed: bool

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


class StateStore(Service):
    def __init__(self, directory: str, parts: Iterable[Persistent], clock: object | None = None,
                 journal: CounterJournal | None = None, counted: Iterable[Counted] = ()) -> None:
        self.directory = Path(directory)
        self.parts = list(parts)
        self.journal = journal
        self.counted = list(counted)
        self._loop = LoopingCall(self.save)
        if clock is not None:
            self._loop.clock = clock  # type: ignore[assignment]

    def path(self, meter: Persistent) -> Path:
        return self.directory / f"{meter.id}.json"

    def load(self) -> None:
        """Restore every part that has a saved state; a file that cannot be
        read back is moved aside with one log line, and that part starts from
        lab.ini."""
        try:
            saved = {entry.name for entry in os.scandir(self.directory)}
        except OSError:
            saved = set()
        for meter in self.parts if saved else ():
            if f"{meter.id}.json" not in saved:
                continue
            path = self.path(meter)
            try:
                meter.restore(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
                os.replace(path, aside)
                log.error("meter {meter}: saved state {path} is unreadable ({error}); moved to {aside}, "
                          "starting from lab.ini's settings", meter=meter.id, path=str(path),
                          error=str(error) or type(error).__name__, aside=aside.name)
        by_id = {part.id: part for part in self.counted}

        def apply(part: str, association: str | None, counter: int) -> None:
            target = by_id.get(part)
            if target is not None:
                target.replay(association, counter)

        replay(self.directory, apply)
        self.compact()

    def compact(self) -> None:
        """Rewrite the journal with the counters as they are now."""
        if self.journal is not None:
            self.journal.compact(self._counter_lines())

    def _counter_lines(self) -> Iterable[Line]:
        for part in self.counted:
            for association, counter in part.counters():
                if counter > 0 or association is not None:
                    yield part.id, association, counter

    def save(self) -> None:
        """Write the parts changed since the last save."""
        for meter in self.parts:
            if meter.changed:
                self.save_part(meter)
        if self.journal is not None and self.journal.size > COMPACT_BYTES:
            self.compact()

    def save_part(self, part: Persistent) -> None:
        """Write one part atomically: a whole new file or the old one, whatever
        happens to the process or the machine (write, fsync, rename, fsync the folder)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(part)
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as out:
            out.write(json.dumps(part.state()))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        folder = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        part.changed = False

    def startService(self) -> None:
        super().startService()
        self.load()
        self._loop.start(SAVE_INTERVAL, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        self.save()
        self.compact()
        if self.journal is not None:
            self.journal.close()

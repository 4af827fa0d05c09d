"""The counter journal: invocation counters written down before the answer
that depends on them leaves the meter, so that a process killed at any
moment never reuses a counter it sent nor accepts one it accepted.

One append-only file per process in ``state_dir`` (``counters-NAME.journal``),
a line per counter: ``PART<TAB>ASSOCIATION<TAB>COUNTER`` (``-`` for the
meter's own reservation, which moves ahead in steps, so that ciphered reads
write rarely). A line reaches the kernel with one ``write``, which survives
the process. When the file has grown past ``COMPACT_BYTES`` it is rewritten
with one line per counter (written, synced, then renamed over the old one).
At start every journal in the folder is replayed over the saved state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from twisted.logger import Logger

log = Logger()
SUFFIX = ".journal"
#: The journal line of the meter's own counter reservation.
OWN = "-"
#: A journal longer than this is rewritten with the last counters only.
COMPACT_BYTES = 1 << 20
#: (meter part id, association or None, counter).
Line = tuple[str, str | None, int]


def _line(part: str, association: str | None, counter: int) -> bytes:
    return f"{part}\t{OWN if association is None else association}\t{counter}\n".encode()


class CounterJournal:
    def __init__(self, directory: str | Path, name: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"counters-{name}{SUFFIX}"
        self.size = 0
        self._fd: int | None = None

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self._fd).st_size

    def record(self, part: str, association: str | None, counter: int) -> None:
        """Write one counter down (``MeterSecurity.journal``)."""
        if self._fd is None:
            self.open()
        assert self._fd is not None
        line = _line(part, association, counter)
        os.write(self._fd, line)
        self.size += len(line)

    def compact(self, lines: Iterable[Line]) -> None:
        """Replace the journal with ``lines``, the counters as they are now."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as out:
            for line in lines:
                out.write(_line(*line))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        self.close()
        self.open()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def replay(directory: str | Path, apply: Callable[[str, str | None, int], None]) -> int:
    """Hand every journalled counter of every journal in ``directory`` to
    ``apply(part, association or None, counter)``; the number of lines."""
    folder, count = Path(directory), 0
    if not folder.is_dir():
        return 0
    for path in sorted(folder.glob(f"counters-*{SUFFIX}")):
        for line in _lines(path):
            fields = line.split("\t")
            if len(fields) != 3 or not fields[2].isdigit():
                continue  # the torn last line of a process killed mid-write
            apply(fields[0], None if fields[1] == OWN else fields[1], int(fields[2]))
            count += 1
    return count


def _lines(path: Path) -> Iterable[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        log.error("cannot read the counter journal {path}: {error}", path=str(path), error=error)
        return []

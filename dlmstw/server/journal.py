"""The counter journal: invocation counters written down before the answer
that depends on them leaves the meter, so that a process killed at any
moment never reuses a counter it sent nor accepts one it accepted.

One append-only file per process in ``state_dir`` (``counters-NAME.journal``),
a line per counter: ``PART<TAB>ASSOCIATION<TAB>COUNTER`` (``-`` for the
meter's own reservation, which moves ahead in steps, so that ciphered reads
write rarely). The file is mapped into memory (``MAP_SHARED``): a line is a
copy into the kernel's page cache, which outlives the process, with no system
call per counter (a ``write`` per ciphered request cost more than the
ciphering). Its newline is stored last, so only whole lines count; what
follows the last line is zeros, up to the mapped capacity. When the file has
grown past ``COMPACT_BYTES`` it is rewritten with one line per counter
(written, synced, then renamed over the old one). At start every journal in
the folder is replayed over the saved state.
"""

from __future__ import annotations

import mmap
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
#: The mapped size of a journal at first; it doubles when lines come faster than compaction.
CAPACITY = 2 * COMPACT_BYTES
NEWLINE = ord("\n")
#: (meter part id, association or None, counter).
Line = tuple[str, str | None, int]


def _prefix(part: str, association: str | None) -> bytes:
    """A journal line up to its counter."""
    return f"{part}\t{OWN if association is None else association}\t".encode()


def _line(part: str, association: str | None, counter: int) -> bytes:
    """A whole journal line."""
    return b"%s%d\n" % (_prefix(part, association), counter)


class CounterJournal:
    """One process's journal file, mapped: ``record`` appends a line."""

    def __init__(self, directory: str | Path, name: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"counters-{name}{SUFFIX}"
        #: The bytes of whole lines in the file.
        self.size = 0
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        #: The mapped length.
        self.capacity = 0
        #: The start of each (part, association)'s lines, made once.
        self._prefixes: dict[tuple[str, str | None], bytes] = {}

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        length = os.fstat(fd).st_size
        with os.fdopen(os.dup(fd), "rb") as existing:
            self.size = _written(existing.read())
        self._fd = fd
        self._map_at(max(CAPACITY, length))

    def _map_at(self, capacity: int) -> None:
        assert self._fd is not None
        if self._map is not None:
            self._map.close()
        os.ftruncate(self._fd, capacity)
        self._map = mmap.mmap(self._fd, capacity)
        self.capacity = capacity

    def record(self, part: str, association: str | None, counter: int) -> None:
        """Write one counter down (``MeterSecurity.journal``): the line, then its newline."""
        journal = self._map
        if journal is None:
            self.open()
            journal = self._map
            assert journal is not None
        prefix = self._prefixes.get((part, association))
        if prefix is None:
            prefix = self._prefixes[part, association] = _prefix(part, association)
        text = b"%s%d" % (prefix, counter)
        start = self.size
        end = start + len(text)
        if end >= self.capacity:
            self._map_at(2 * self.capacity)
            journal = self._map
            assert journal is not None
        journal[start:end] = text
        journal[end] = NEWLINE
        self.size = end + 1

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
        """Unmap the journal and cut the file to its lines."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd is not None:
            os.ftruncate(self._fd, self.size)
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


def _written(content: bytes) -> int:
    """The length of the whole lines at the start of a journal's ``content``:
    up to its last newline before the zeros of unused capacity."""
    end = content.find(b"\0")
    return content.rfind(b"\n", 0, len(content) if end < 0 else end) + 1


def _lines(path: Path) -> Iterable[str]:
    try:
        content = path.read_bytes()
        return content[:_written(content)].decode("utf-8", errors="replace").splitlines()
    except OSError as error:
        log.error("cannot read the counter journal {path}: {error}", path=str(path), error=error)
        return []

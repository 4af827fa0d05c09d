"""The packet-log writer process (``server.packet_log``): describes every
record byte by byte and appends it to the JSONL log, rotating the file at
``packet_log_max`` bytes and keeping ``packet_log_keep`` rotated files
(``packets.jsonl.1`` the newest).

    python -m dlmstw.server.log_writer PATH MAX_BYTES KEEP

It runs at a low priority, so that it only uses the CPU the meters leave,
ignores SIGINT and SIGTERM (the twistd process stops it in order), and ends
when its standard input closes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from ..dissector.record import packet_record
from ..monitor.capture import Exchange
from .channel import ProcessChannel, run_child, Close, Names, Write

#: How much lower the writer's scheduling priority is than the meters'.
NICENESS = 15


class RotatingFile:
    """A text file appended to, moved aside to ``PATH.1`` (``PATH.2``...) when it would pass ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int, keep: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self.out: IO[bytes] = self.path.open("ab")
        self.size = self.out.tell()

    def write(self, line: bytes) -> None:
        if self.max_bytes and self.size and self.size + len(line) > self.max_bytes:
            self.rotate()
        self.out.write(line)
        self.size += len(line)

    def rotate(self) -> None:
        self.out.close()
        for index in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self.out = self.path.open("ab")
        self.size = 0

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.out.close()


class Writer(ProcessChannel):
    def __init__(self, out: RotatingFile, reactor: Any) -> None:
        super().__init__()
        self.out = out
        self.reactor = reactor
        self.names: dict[bytes, str] = {}

    @Names.responder
    def take_names(self, names: dict[str, str]) -> dict[str, Any]:
        self.names = {bytes.fromhex(n): text for n, text in names.items()}
        return {}

    @Write.responder
    def write(self, records: list[Exchange]) -> dict[str, int]:
        names = self.names.get
        for exchange in records:
            record = packet_record(exchange, names=names)
            self.out.write(json.dumps(record).encode() + b"\n")
        self.out.flush()
        return {"written": len(records)}

    @Close.responder
    def close(self) -> dict[str, Any]:
        self.out.close()
        return {}

    def ended(self) -> None:
        if not self.out.out.closed:
            self.out.close()
        if self.reactor.running:
            self.reactor.stop()


def main(argv: list[str]) -> None:
    os.nice(NICENESS)
    path, max_bytes, keep = argv[0], int(argv[1]), int(argv[2])
    out = RotatingFile(path, max_bytes, keep)
    run_child(lambda reactor: Writer(out, reactor))


if __name__ == "__main__":
    main(sys.argv[1:])

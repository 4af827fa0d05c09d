"""The dissector's field tree: what ``dlmstw-client dissect`` prints, the console
shows and the packet log records. Sans-I/O: no Twisted import."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

HEX_LIMIT: Final = 64
"""Octets of hex a field with children (or a summary of skipped elements) shows before "…"."""

Names = Callable[[bytes], "str | None"]
"""Maps a 6-octet logical name to the name of the object in the meter's model."""


def hex_of(raw: bytes | memoryview, capped: bool = False) -> str:
    """Upper-case hex of ``raw``; ``capped`` shows at most :data:`HEX_LIMIT` octets then "…"."""
    if capped and len(raw) > HEX_LIMIT:
        return bytes(raw[:HEX_LIMIT]).hex().upper() + "…"
    return bytes(raw).hex().upper()


@dataclass(frozen=True, slots=True)
class Field:
    """One dissected field: ``offset`` and ``length`` in octets from the start of the
    frame handed to the dissector, ``hex`` the upper-case hex of those octets.

    A field with children, and a summary of skipped elements, shows at most
    the first :data:`HEX_LIMIT` octets followed by "…" in ``hex``; its
    children show the rest. ``error`` is set on the field where parsing
    stopped (an "unparsed" field holding the octets not understood).
    """

    name: str
    offset: int
    length: int
    hex: str
    meaning: str
    children: tuple[Field, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The field as a JSON-ready dict: name, offset, length, hex, meaning,
        children (and error when set)."""
        out: dict[str, Any] = {
            "name": self.name,
            "offset": self.offset,
            "length": self.length,
            "hex": self.hex,
            "meaning": self.meaning,
            "children": [child.to_json() for child in self.children],
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    def walk(self) -> Iterator[Field]:
        """This field and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def errors(self) -> list[str]:
        """Every ``error`` in the tree, in byte order of the fields that carry them."""
        return [f.error for f in self.walk() if f.error is not None]

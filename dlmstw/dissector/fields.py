"""The dissector's field tree and the one byte walk that builds it.

The codecs decode values but do not report where each value sits, so the
dissector walks the bytes itself. All of that walk goes through :class:`Walk`:
a cursor over one buffer that turns consumed byte ranges into :class:`Field`
nodes, checks every read against the end of the current region, and turns a
:class:`DecodeError` into an "unparsed" field that says where and why parsing
stopped. Sans-I/O: no Twisted import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from dlmstw.codec.axdr import decode_length
from dlmstw.errors import DecodeError

if TYPE_CHECKING:
    from dlmstw.dissector.ciphered import Keys

HEX_LIMIT: Final = 64
"""Octets of hex a field with children (or a summary of skipped elements) shows before "…"."""

DATA_BUDGET: Final = 20_000
"""Most A-XDR Data fields one dissection shows in full; beyond it arrays are only summarised."""

Names = Callable[[bytes], "str | None"]
"""Maps a 6-octet logical name to the name of the object in the meter's model."""

Dispatch = Callable[["Walk", int], "Field"]
"""Dissects the APDU at the walk's position up to the given end (``dissect.dissect_apdu_at``)."""


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


@dataclass(slots=True)
class Node:
    """A field under construction: its meaning may be set once its children are known."""

    name: str
    start: int
    meaning: str = ""
    children: list[Field] = field(default_factory=list)
    made: Field | None = None


def is_truncation(reason: str) -> bool:
    """True when a decode error only says the octets ran out (a datablock's data
    continuing in the next block), not that they are malformed."""
    return reason.startswith("truncated") or "exceed" in reason or "runs past" in reason


class Walk:
    """A cursor over ``buf[pos:end]`` that records what it reads as fields.

    Positions are indexes into ``buf``; a field's offset is ``base`` plus its
    position, so a deciphered APDU walked in its own buffer reports the offsets
    of the ciphertext octets it came from (GCM keeps octet positions).
    ``DecodeError`` offsets raised inside a walk are positions in ``buf``.
    """

    __slots__ = (
        "_stack",
        "base",
        "budget",
        "buf",
        "dispatch",
        "end",
        "keys",
        "mechanism",
        "names",
        "partial",
        "pos",
        "sender_title",
    )

    def __init__(self, buf: bytes, dispatch: Dispatch, keys: Keys | None = None, names: Names | None = None,
                 base: int = 0, budget: list[int] | None = None) -> None:
        self.buf = buf
        self.base = base
        self.pos = 0
        self.end = len(buf)
        self.keys = keys
        self.names = names
        self.dispatch = dispatch
        self.budget = budget if budget is not None else [DATA_BUDGET]
        self.sender_title: bytes | None = None
        self.mechanism: int | None = None
        self.partial = False
        self._stack: list[list[Field]] = [[]]

    def spawn(self, buf: bytes, base: int) -> Walk:
        """A walk over another buffer (a deciphered APDU) sharing keys, names and budget."""
        other = Walk(buf, self.dispatch, self.keys, self.names, base, self.budget)
        other.sender_title = self.sender_title
        return other

    # -- reading -------------------------------------------------------------

    def left(self) -> int:
        return self.end - self.pos

    def need(self, n: int, what: str) -> None:
        """Raise DecodeError unless ``n`` octets are left before the end of the region."""
        if self.pos + n > self.end:
            raise DecodeError(f"truncated: {what} needs {n} octet(s), {self.end - self.pos} left", self.pos)

    def peek(self, what: str) -> int:
        self.need(1, what)
        return self.buf[self.pos]

    def window(self) -> bytes:
        """The buffer cut at the end of the current region, for the codecs' decoders.

        A memoryview, not a copy: the decoders only index and slice it (typed
        ``bytes`` for them).
        """
        return cast(bytes, memoryview(self.buf)[: self.end])

    def hex(self, start: int, stop: int, capped: bool = False) -> str:
        return hex_of(memoryview(self.buf)[start:stop], capped)

    # -- recording -----------------------------------------------------------

    def add(self, name: str, start: int, meaning: str, *, children: tuple[Field, ...] = (),
            error: str | None = None, capped: bool = False) -> Field:
        """Record ``buf[start:pos]`` as a field of the current node."""
        made = Field(name, self.base + start, self.pos - start,
                     self.hex(start, self.pos, capped or bool(children)), meaning, children, error)
        self._stack[-1].append(made)
        return made

    def bit(self, name: str, at: int, meaning: str) -> None:
        """Record one bit (or bit group) of the octet at ``at`` as a field of that octet."""
        self._stack[-1].append(Field(name, self.base + at, 1, self.hex(at, at + 1), meaning))

    def adopt(self, made: Field) -> None:
        """Record a field built elsewhere (by a spawned walk) in the current node."""
        self._stack[-1].append(made)

    def leaf(self, name: str, n: int, meaning: Callable[[bytes], str] | str, what: str | None = None) -> bytes:
        """Read ``n`` octets as one field; ``meaning`` may be computed from them."""
        self.need(n, what or name)
        start = self.pos
        raw = bytes(self.buf[start : start + n])
        self.pos += n
        self.add(name, start, meaning(raw) if callable(meaning) else meaning)
        return raw

    def u8(self, name: str, meaning: Callable[[int], str] | None = None) -> int:
        """One octet as a field, its meaning the decimal value unless given."""
        self.need(1, name)
        value = self.buf[self.pos]
        self.pos += 1
        self.add(name, self.pos - 1, meaning(value) if meaning else str(value))
        return value

    def uint(self, name: str, size: int, meaning: Callable[[int], str] | None = None) -> int:
        """A big-endian unsigned integer of ``size`` octets as a field."""
        self.need(size, name)
        start = self.pos
        value = int.from_bytes(self.buf[start : start + size], "big")
        self.pos += size
        self.add(name, start, meaning(value) if meaning else str(value))
        return value

    def length(self, name: str = "length", unit: str = "octets") -> int:
        """An A-XDR length (IEC 61334-6, via ``axdr.decode_length``) as a field."""
        self.need(1, name)
        first = self.buf[self.pos]
        if first & 0x80 and 0 < first & 0x7F <= 4:
            self.need(1 + (first & 0x7F), name)
        value, stop = decode_length(self.window(), self.pos)
        start = self.pos
        self.pos = stop
        self.add(name, start, f"{value} {unit}")
        return value

    @contextmanager
    def limit(self, stop: int) -> Iterator[None]:
        """Reads inside the ``with`` block end at ``stop`` (a BER or A-XDR length's end)."""
        saved = self.end
        self.end = min(stop, saved)
        try:
            yield
        finally:
            self.end = saved

    @contextmanager
    def group(self, name: str) -> Iterator[Node]:
        """A field whose children are read inside the ``with`` block.

        It is recorded even when the block raises, holding what was read
        before the error, so a partial tree survives.
        """
        node = Node(name, self.pos)
        self._stack.append(node.children)
        try:
            yield node
        finally:
            self._stack.pop()
            node.made = self.add(node.name, node.start, node.meaning, children=tuple(node.children))

    # -- regions -------------------------------------------------------------

    def region(self, name: str, stop: int, parse: Callable[[Walk], str], continued: bool = False) -> Field:
        """Run ``parse`` over ``buf[pos:stop]`` as one field named ``name``.

        A DecodeError inside, or octets left over, end the region with an
        "unparsed" field carrying the error; the walk then continues after
        ``stop``. ``parse`` returns the field's meaning. With ``continued``
        (the first datablock of a longer Data) running out of octets is no
        error: the rest is in the next block.
        """
        saved_end, saved_partial = self.end, self.partial
        self.end = stop
        self.partial = saved_partial or continued
        node = Node(name, self.pos)
        self._stack.append(node.children)
        try:
            node.meaning = parse(self)
            if self.pos < stop:
                raise DecodeError(f"{stop - self.pos} unexpected octets after the {name}", self.pos)
        except DecodeError as exc:
            if continued and is_truncation(exc.reason):
                self.unparsed(exc, "the Data continues in the next block")
                node.meaning = node.meaning or "the first part of a Data continued in the next blocks"
            else:
                self.unparsed(exc)
        finally:
            self._stack.pop()
            self.end, self.partial = saved_end, saved_partial
        self.pos = stop
        return self.add(node.name, node.start, node.meaning, children=tuple(node.children))

    def unparsed(self, exc: DecodeError, note: str | None = None) -> None:
        """Record the octets from the position to the end of the region as not understood.

        With ``note`` (a datablock's first part running out) the octets are an
        incomplete element, not an error.
        """
        start = self.pos
        self.pos = self.end
        where = self.base + max(exc.offset, 0)
        if note is not None:
            self.add("incomplete", start, note)
        else:
            self.add("unparsed", start, "octets not parsed", error=f"at byte {where}: {exc.reason}")

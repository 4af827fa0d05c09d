"""The dissector's tracer: it hears the codecs' decoders (``dlmstw.interfaces.Tracer``)
and keeps what they read as a tree of :class:`Node`, to be worded later.

Two things happen here and nowhere in the codecs: arrays show their first
:data:`SHOWN_ELEMENTS` elements and one summary node for the rest (so a
profile buffer of thousands of rows stays small), and a decoder that stops
with a ``DecodeError`` leaves an "unparsed" node saying where and why.
Sans-I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from dlmstw.dissector.fields import hex_of
from dlmstw.errors import DecodeError

SHOWN_ELEMENTS: Final = 64
"""Elements of one array, list or compact-array shown in full before the summary node."""

DATA_BUDGET: Final = 20_000
"""Most elements one dissection shows in full; beyond it every list is only summarised."""


@dataclass(slots=True, eq=False)
class Node:
    """What a decoder read: a field (``value`` as decoded) or a group of them.

    ``offset`` counts from the start of the frame handed to the dissector.
    The dissection may add a ``note`` (what checking a tag found, why octets
    stay opaque), an ``error``, and nodes of its own making: an embedded
    APDU in place of the octets that carry it, "deciphered", "incomplete",
    "unparsed", and "more" (``value``: how many elements it stands for).
    """

    name: str
    offset: int
    length: int = 0
    value: Any = None
    hex: str = ""
    children: list[Node] = field(default_factory=list)
    note: str | None = None
    error: str | None = None
    apdu: bool = False
    """True for the node of a whole APDU (its ``value`` is the APDU tag)."""

    def child(self, name: str) -> Node | None:
        """The first child named ``name``."""
        for child in self.children:
            if child.name == name:
                return child
        return None

    def value_of(self, name: str) -> Any:
        """The value of the first child named ``name``, None when there is none."""
        found = self.child(name)
        return None if found is None else found.value


CARRIERS: Final = frozenset(("apdu", "protected", "information"))
"""Fields whose octets hold a structure of their own: an xDLMS APDU (``apdu``), a
protected text ``SH || body || T`` (``protected``), an HDLC frame's information
field (``information``: link parameters, or an LLC header and an APDU or a
segment of one). The dissection reads them in turn."""


class Hooks(Protocol):
    """What a dissection does with some of the fields and groups it hears."""

    def carried(self, tracer: TreeTracer, name: str, offset: int, octets: bytes) -> None:
        """Read the octets of the carrier field ``name`` at ``offset`` of the tracer's buffer."""

    def closed(self, group: Node, parent: Node) -> None:
        """Called when ``group`` (a child of ``parent``) is complete."""

    def budget(self) -> list[int]:
        """The elements the dissection may still show in full (shared, decremented)."""


def _element_index(name: str) -> int | None:
    if name[:1] == "[" and name[-1:] == "]" and name[1:-1].isdigit():
        return int(name[1:-1])
    return None


class TreeTracer:
    """Builds the nodes of one buffer decoded by one decoder call, under ``root``.

    ``base`` is the offset of ``buf`` in the dissected frame. Groups still
    open when the decoder raises are closed where reading stopped.
    """

    def __init__(self, buf: bytes, base: int, root: Node, hooks: Hooks) -> None:
        self.buf = buf
        self.base = base
        self._stack = [root]
        self._hooks = hooks
        self._budget = hooks.budget()
        self.pos = 0
        """Where reading stopped: the end of the last field or group heard."""
        self._more: Node | None = None
        self._depth = 0
        self._first_skipped = 0
        self._announced: int | None = None
        self._skipped_to = 0

    def _node(self, name: str, offset: int, length: int, value: Any) -> Node:
        """A field: ``length`` octets at ``offset`` of the buffer, with their hex."""
        return Node(name, self.base + offset, length, value, self.buf[offset : offset + length].hex().upper())

    def _shown(self, name: str, offset: int) -> bool:
        """False when ``name`` is an element beyond what is shown: the summary starts."""
        index = _element_index(name)
        if index is None:
            return True
        if index < SHOWN_ELEMENTS and self._budget[0] > 0:
            self._budget[0] -= 1
            return True
        parent = self._stack[-1]
        self._more = Node("more", self.base + offset, value=0)
        self._first_skipped = index
        self._skipped_to = offset
        announced = parent.value_of("count")
        self._announced = announced if isinstance(announced, int) else None
        parent.children.append(self._more)
        return False

    # -- the Tracer protocol ------------------------------------------------

    def enter(self, name: str, offset: int) -> None:
        if self._more is not None or not self._shown(name, offset):
            self._skip(1)
            return
        group = Node(name, self.base + offset)
        self._stack[-1].children.append(group)
        self._stack.append(group)

    def field(self, name: str, offset: int, length: int, value: object) -> None:
        self.pos = offset + length
        if self._more is not None or not self._shown(name, offset):
            self._skip(0)
            if self._depth == 0:
                self._skipped_to = self.pos
            return
        if name in CARRIERS and isinstance(value, bytes):
            self._hooks.carried(self, name, offset, value)
            return
        self._stack[-1].children.append(self._node(name, offset, length, value))

    def leave(self, end: int) -> None:
        self.pos = end
        if self._more is not None:
            self._depth -= 1
            if self._depth > 0:
                return
            if self._depth == 0:
                self._skipped_to = end
                return
            self._end_summary(end)
        self._close(end)

    # -- summaries and closing --------------------------------------------------

    def _skip(self, opened: int) -> None:
        """One more event inside the summarised elements (``opened`` 1 enters a group);
        ``_skipped_to`` follows the end of the last whole element skipped."""
        more = self._more
        assert more is not None  # set by _shown
        if self._depth == 0:
            more.value += 1
        self._depth += opened

    def _end_summary(self, end: int, cut: bool = False) -> None:
        more = self._more
        assert more is not None  # only called while summarising
        start = more.offset - self.base
        more.length = end - start
        more.hex = hex_of(memoryview(self.buf)[start:end], True)
        if self._announced is not None:
            more.value = self._announced - self._first_skipped
        more.note = (f"… {more.value} more elements from byte {more.offset}" if cut
                     else f"… {more.value} more elements, bytes {more.offset}..{self.base + end - 1}")
        self._more = None
        self._depth = 0

    def _close(self, end: int) -> None:
        group = self._stack.pop()
        start = group.offset - self.base
        group.length = end - start
        group.hex = hex_of(memoryview(self.buf)[start:end], True)
        self._hooks.closed(group, self._stack[-1])

    @property
    def group(self) -> Node:
        """The group being read (what a carrier's own fields go under)."""
        return self._stack[-1]

    def adopt(self, node: Node) -> None:
        """Add a node made elsewhere (an APDU a field carries) to the current group."""
        self._stack[-1].children.append(node)

    def unparsed(self, error: DecodeError, stop: int) -> None:
        """The octets from where reading stopped to ``stop`` as an "unparsed" node of
        the current group, saying where and why ``error`` stopped it."""
        unparsed = self._node("unparsed", self.pos, max(stop - self.pos, 0), None)
        unparsed.error = f"at byte {self.base + max(error.offset, 0)}: {error.reason}"
        self._stack[-1].children.append(unparsed)
        self.pos = max(stop, self.pos)

    def finish(self, error: DecodeError | None, stop: int) -> None:
        """Close what is open where reading stopped; with ``error``, the octets
        from there to ``stop`` become an "unparsed" node of the root."""
        if self._more is not None:
            self.pos = self._skipped_to
            self._end_summary(self.pos, cut=True)
        while len(self._stack) > 1:
            self._close(self.pos)
        if error is not None:
            self.unparsed(error, stop)

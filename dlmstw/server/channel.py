"""The AMP commands between the twistd process and its children (the
worker processes and the packet-log writer), over the children's standard
input and output (``twisted.protocols.amp``; no pickle: every argument is
bytes, text, a number or JSON).

An AMP value holds at most 65,535 bytes, so record batches and JSON travel
as ``Chunked`` arguments spread over as many keys as they need.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from twisted.internet.error import ConnectionDone, ConnectionLost, ProcessDone, ProcessTerminated
from twisted.internet.stdio import StandardIO
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from ..monitor.capture import Exchange
from ..monitor.records import decode_exchanges, encode_exchanges

log = Logger()
#: The largest AMP value (a 16-bit length).
MAX_VALUE = 0xFFFF


class ProcessChannel(amp.AMP):
    """AMP over a process's standard input and output: a pipe has no peer
    address to log, and a lab's channels open and close without a log line."""

    def makeConnection(self, transport: Any) -> None:
        amp.BinaryBoxProtocol.makeConnection(self, transport)

    def connectionLost(self, reason: Any) -> None:
        amp.BinaryBoxProtocol.connectionLost(self, reason)
        self.transport = None
        self.ended()

    def ended(self) -> None:
        """The other end is gone (a child then stops its reactor)."""


#: How a call fails when the process at the other end ended: nothing to report
#: there, the end of the process is reported on its own.
GONE = (ConnectionDone, ConnectionLost, ProcessDone, ProcessTerminated)


def unless_gone(what: str) -> Callable[[Failure], None]:
    """An errback that logs a failed call, unless the other end is simply gone."""
    def report(failure: Failure) -> None:
        if not failure.check(*GONE):
            log.failure("{what} failed", failure, what=what)
    return report


#: A child's first statements: SIGINT and SIGTERM ignored before anything is
#: imported (a Ctrl-C during its start must not end it), then its module run.
_CHILD_BOOT = ("import signal, runpy, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
               "signal.signal(signal.SIGTERM, signal.SIG_IGN); sys.argv[0] = sys.argv[1]; del sys.argv[1]; "
               "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")


def child_argv(module: str, *args: str) -> list[str]:
    """The command line of a child process running ``module`` (see ``run_child``)."""
    return [sys.executable, "-c", _CHILD_BOOT, module, *args]


def run_child(channel: Callable[[Any], ProcessChannel]) -> None:
    """A child's main loop: the channel ``channel(reactor)`` on standard input
    and output. The twistd process stops its children in order, so a
    terminal's Ctrl-C or a SIGTERM to the process group must not end one
    first: both are ignored from the child's first statement
    (``child_argv``), and the child ends when its input closes."""
    from twisted.internet import reactor

    StandardIO(channel(reactor))
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]


class Chunked(amp.Argument):
    """Bytes of any length, split over the keys ``name.0``, ``name.1``, ..."""

    def fromBox(self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any], proto: Any) -> None:
        parts, index = [], 0
        while (key := b"%s.%d" % (name, index)) in strings:
            parts.append(strings.pop(key))
            index += 1
        objects[name.decode("ascii")] = self.decode(b"".join(parts))

    def toBox(self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any], proto: Any) -> None:
        data = self.encode(objects[name.decode("ascii")])
        for index, start in enumerate(range(0, max(len(data), 1), MAX_VALUE)):
            strings[b"%s.%d" % (name, index)] = data[start:start + MAX_VALUE]

    def decode(self, data: bytes) -> Any:
        return data

    def encode(self, value: Any) -> bytes:
        return bytes(value)


class Json(Chunked):
    """A JSON value (objects, lists, text, numbers)."""

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


class Records(Chunked):
    """A batch of capture records (``monitor.records``)."""

    def decode(self, data: bytes) -> list[Exchange]:
        return decode_exchanges(data)

    def encode(self, value: list[Exchange]) -> bytes:
        return encode_exchanges(value)


class ListenError(Exception):
    """A meter could not listen; the message is the one line a person reads."""


class RefusedChange(Exception):
    """A PATCH the worker refused; the message says why."""


# -- worker → twistd ---------------------------------------------------------------


class Captured(amp.Command):
    """Exchanges the worker's meters captured since the last batch."""

    arguments = [(b"records", Records())]
    requiresAnswer = False


class Status(amp.Command):
    """The worker's meters (connections, counters, keys...) and its capture counts."""

    arguments = [(b"status", Json())]
    requiresAnswer = False


class Log(amp.Command):
    """One line of the worker's log, at its level."""

    arguments = [(b"level", amp.Unicode()), (b"text", amp.Unicode())]
    requiresAnswer = False


# -- twistd → worker ---------------------------------------------------------------


class Start(amp.Command):
    """Listen on the worker's meters; fails with the line naming a port that is in use."""

    arguments: list[tuple[bytes, amp.Argument]] = []
    response = [(b"meters", amp.Integer()), (b"listening", amp.Integer())]
    errors = {ListenError: b"LISTEN"}


class Reconfigure(amp.Command):
    """A console PATCH for one of the worker's meters."""

    arguments = [(b"meter", amp.Unicode()), (b"changes", Json())]
    response = [(b"status", Json())]
    errors = {RefusedChange: b"REFUSED"}


class Values(amp.Command):
    """One of the worker's meters' live values (``server.values``), for the console."""

    arguments = [(b"meter", amp.Unicode())]
    response = [(b"values", Json())]
    errors = {RefusedChange: b"REFUSED"}


class ChangedKeys(amp.Command):
    """The keys changed since lab.ini (key transfer, the console) of some of
    the worker's meters: ``{meter: {association: {key name: hex}}}``."""

    arguments = [(b"meters", Json())]
    response = [(b"keys", Json())]


class ScenarioApply(amp.Command):
    """A scenario step on some of the worker's meters (``scenario.ScenarioMeters.apply``):
    one call per worker and step, whatever the number of meters."""

    arguments = [(b"meters", Json()), (b"operation", Json()), (b"step", amp.Unicode()), (b"revert", amp.Boolean())]
    response = [(b"reached", amp.Integer()), (b"refusal", amp.Unicode()), (b"status", Json())]


class ScenarioReset(amp.Command):
    """Undo the scenario on the worker's meters (``scenario.ScenarioMeters.reset``);
    ``refusal``: the first a meter made ("" when none)."""

    arguments: list[tuple[bytes, amp.Argument]] = []
    response = [(b"refusal", amp.Unicode()), (b"status", Json())]


class Stop(amp.Command):
    """Stop the meters, hand over the last records, save the state; the
    answer comes when all of that is done (the records arrive before it)."""

    arguments: list[tuple[bytes, amp.Argument]] = []
    response = [(b"status", Json())]


# -- twistd → packet-log writer ------------------------------------------------------


class Names(amp.Command):
    """The descriptions of the lab's objects by logical name (hex), for the dissector."""

    arguments = [(b"names", Json())]
    response: list[tuple[bytes, amp.Argument]] = []


class Write(amp.Command):
    """Describe and append a batch of records; answers once they are written."""

    arguments = [(b"records", Records())]
    response = [(b"written", amp.Integer())]


class Close(amp.Command):
    """Close the log file; the writer ends when its input closes."""

    arguments: list[tuple[bytes, amp.Argument]] = []
    response: list[tuple[bytes, amp.Argument]] = []

"""The hostile sender of ``hostile.py``: one ``select.epoll`` loop over
non-blocking loopback sockets with a bounded number of attack sessions in
flight. A session connects to one meter, plays one scenario
(``hostile_scenarios``) step by step, and ends when the scenario does, when
the meter closes the connection, or when the frame budget or the time is
spent (the step in progress still gets its wait). Everything is counted in a
``Tally``.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import random
import select
import socket
import struct
import time
from collections import Counter
from collections.abc import Sequence

from dlmstw.enums import ApduTag
from harness import HEADER_SIZE, LOOPBACK, WRAPPER
from hostile_scenarios import ONE_PER_METER, SCENARIOS, Clients, Meter, Scenario, Send

#: Answer kinds that are not an APDU.
CLOSED = "closed by the meter"
NO_ANSWER = "no answer"
NOT_A_WRAPPER = "not a wrapper frame"
#: Bytes read per recv.
RECV_SIZE = 65536
#: SO_LINGER on, 0 s: close() resets the connection.
RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def answer_kind(apdu: bytes) -> str:
    """The ApduTag name of an answer's first byte."""
    if not apdu:
        return "empty APDU"
    try:
        return ApduTag(apdu[0]).name
    except ValueError:
        return f"unknown tag 0x{apdu[0]:02X}"


class Tally:
    """What the sender did and what came back, in all and per scenario."""

    def __init__(self) -> None:
        self.frames: Counter[str] = Counter()
        self.sessions: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.by_scenario: dict[str, Counter[str]] = {name: Counter() for name in SCENARIOS}
        self.connect_failures: Counter[str] = Counter()
        #: Well-formed requests whose wait ran out without an answer or a close.
        self.unanswered: Counter[str] = Counter()

    @property
    def frames_sent(self) -> int:
        return sum(self.frames.values())

    def answer(self, scenario: str, kind: str) -> None:
        self.answers[kind] += 1
        self.by_scenario[scenario][kind] += 1


class Session:
    """One connection playing one scenario."""

    __slots__ = ("sock", "name", "meter", "scenario", "step", "started", "received", "outbox", "inbox", "token")

    def __init__(self, sock: socket.socket, name: str, meter: Meter, scenario: Scenario) -> None:
        self.sock = sock
        self.name = name
        self.meter = meter
        self.scenario = scenario
        self.step: Send | None = None
        self.started = False
        self.received: list[bytes] = []
        self.outbox = b""
        self.inbox = b""
        #: Which wait a timer belongs to (a step's wait ends once).
        self.token = 0


class Sender:
    """The loop. ``run`` may be called several times (warm-up, then the rest);
    the ``tally`` adds up over all of them."""

    def __init__(self, meters: Sequence[Meter], clients: Clients, seed: int, concurrency: int) -> None:
        self.meters = meters
        self.clients = clients
        self.rng = random.Random(seed)
        self.concurrency = concurrency
        self.tally = Tally()
        self.poller = select.epoll()
        self.sessions: dict[int, Session] = {}
        self.timers: list[tuple[float, int, int, Session]] = []
        self.order = itertools.count()
        self.budget = 0
        self.deadline = 0.0

    def close(self) -> None:
        for session in list(self.sessions.values()):
            self._end(session)
        self.poller.close()

    def run(self, frames: int, deadline: float) -> None:
        """Send until ``frames`` frames in all or the monotonic ``deadline``, then
        let the sessions in flight finish their step."""
        self.budget, self.deadline = frames, deadline
        while True:
            while self._sending() and len(self.sessions) < self.concurrency:
                self._start()
            if not self.sessions:
                return
            timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else 1.0
            for fd, events in self.poller.poll(timeout):
                session = self.sessions.get(fd)
                if session is None:
                    continue
                if events & select.EPOLLOUT:
                    self._writable(session)
                if events & ~select.EPOLLOUT and self.sessions.get(fd) is session:
                    self._readable(session)
            self._expire(time.monotonic())

    def _sending(self) -> bool:
        return self.tally.frames_sent < self.budget and time.monotonic() < self.deadline

    def _start(self) -> None:
        meter = self.rng.choice(self.meters)
        name = self.rng.choice(list(SCENARIOS))
        while name in ONE_PER_METER and meter.ciphered_session:
            name = self.rng.choice(list(SCENARIOS))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        failure = sock.connect_ex((LOOPBACK, meter.port))
        if failure not in (0, errno.EINPROGRESS):
            self.tally.connect_failures[errno.errorcode.get(failure, str(failure))] += 1
            sock.close()
            return
        if name in ONE_PER_METER:
            meter.ciphered_session = True
        session = Session(sock, name, meter, SCENARIOS[name](self.rng, meter, self.clients))
        self.sessions[sock.fileno()] = session
        self.poller.register(sock, select.EPOLLOUT)

    def _writable(self, session: Session) -> None:
        if session.started:
            self._flush(session)
            return
        failure = session.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if failure:
            self.tally.connect_failures[errno.errorcode.get(failure, str(failure))] += 1
            self._end(session)
            return
        session.started = True
        self._advance(session)

    def _advance(self, session: Session) -> None:
        """The scenario's next step, given the answers to the last one; or the end."""
        if not self._sending():
            self._end(session)
            return
        try:
            if session.step is None:
                step = next(session.scenario)
                self.tally.sessions[session.name] += 1
            else:
                step = session.scenario.send(session.received)
        except StopIteration:
            self._end(session)
            return
        session.step, session.received, session.outbox = step, [], step.data
        session.token += 1
        self.tally.frames[session.name] += step.frames
        self._flush(session)

    def _flush(self, session: Session) -> None:
        try:
            sent = session.sock.send(session.outbox)
        except (BrokenPipeError, ConnectionResetError):
            self._closed(session)
            return
        session.outbox = session.outbox[sent:]
        if session.outbox:
            self.poller.modify(session.sock, select.EPOLLIN | select.EPOLLOUT)
            return
        self.poller.modify(session.sock, select.EPOLLIN)
        step = session.step
        assert step is not None
        if step.abort:
            self._end(session, reset=True)
        elif step.wait <= 0 or len(session.received) >= step.answers:
            self._advance(session)
        else:
            heapq.heappush(self.timers, (time.monotonic() + step.wait, next(self.order), session.token, session))

    def _readable(self, session: Session) -> None:
        try:
            data = session.sock.recv(RECV_SIZE)
        except ConnectionResetError:
            data = b""
        if not data:
            self._closed(session)
            return
        inbox = session.inbox + data
        while len(inbox) >= HEADER_SIZE:
            version, _, _, length = WRAPPER.unpack_from(inbox)
            if version != 1:
                self.tally.answer(session.name, NOT_A_WRAPPER)
                self._end(session)
                return
            if len(inbox) < HEADER_SIZE + length:
                break
            frame, inbox = inbox[:HEADER_SIZE + length], inbox[HEADER_SIZE + length:]
            self.tally.answer(session.name, answer_kind(frame[HEADER_SIZE:]))
            session.received.append(frame)
        session.inbox = inbox
        step = session.step
        if step is not None and not session.outbox and len(session.received) >= step.answers:
            self._advance(session)

    def _expire(self, now: float) -> None:
        while self.timers and self.timers[0][0] <= now:
            _, _, token, session = heapq.heappop(self.timers)
            if self.sessions.get(session.sock.fileno()) is not session or token != session.token:
                continue
            step = session.step
            assert step is not None
            if not session.received:
                self.tally.answer(session.name, NO_ANSWER)
                if step.well_formed:
                    self.tally.unanswered[session.name] += 1
            self._advance(session)

    def _closed(self, session: Session) -> None:
        self.tally.answer(session.name, CLOSED)
        self._end(session)

    def _end(self, session: Session, reset: bool = False) -> None:
        fd = session.sock.fileno()
        if self.sessions.pop(fd, None) is None:
            return
        self.poller.unregister(fd)
        if reset:
            session.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        session.sock.close()
        session.scenario.close()
        if session.name in ONE_PER_METER:
            session.meter.ciphered_session = False

"""Transport faults on demand (lab.ini ``faults``), to measure how a head-end
system copes: slow answers, meters offline, lost requests, hung connections.

- ``delay:50ms..200ms``: every answer waits a uniform time in the range
  (answers on one connection keep their order);
- ``offline:10%``: that share of the group's meters does not listen at all
  (connections are refused), the same meters on every start;
- ``drop:0.001``: a request is lost: no answer, nothing done;
- ``timeout:0.001``: the connection hangs: that request and every later one
  on it go unanswered until the client gives up.

Draws come from a random generator seeded with the meter's seed, so a run is
reproducible for the same sequence of requests.

The per-request faults are a ``ProtocolWrapper`` around the meter's protocol,
built only for a meter that has some: a meter without them pays nothing.
Each lost request is captured (``fault-drop``, ``fault-timeout``).
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from typing import Any, Iterable, Sequence

from twisted.internet.interfaces import IAddress, IDelayedCall
from twisted.internet.protocol import connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

from ..config import Fault, Lab, MeterConfig
from ..errors import DecodeError
from .meter import MeterFactory, MeterProtocol

#: The faults drawn for each request or answer; ``offline`` is chosen at start (``offline_meters``).
PER_REQUEST = ("delay", "drop", "timeout")


class FaultyConnection(ProtocolWrapper):
    """One connection to a meter with faults, between its transport and its
    ``MeterProtocol``: it reads whole frames (WPDUs, or HDLC frames: the
    protocol's ``splitter``) to lose or hold back whole requests, and holds
    answers back for their delay.

    The meter's protocol writes to this wrapper, which is its transport."""

    factory: FaultInjector
    wrappedProtocol: MeterProtocol

    def __init__(self, factory: FaultInjector, wrappedProtocol: MeterProtocol) -> None:
        super().__init__(factory, wrappedProtocol)
        self.split = wrappedProtocol.splitter()
        #: The connection hangs: every later request goes unanswered.
        self.hung = False
        #: Answers waiting for their delay, in order, and the call that sends the first.
        self.delayed: deque[bytes] = deque()
        self.delayed_call: IDelayedCall | None = None

    def callLater(self, delay: float, function: Any) -> IDelayedCall:
        """The reactor's callLater (tests replace it with a Clock's)."""
        from twisted.internet import reactor
        return reactor.callLater(delay, function)  # type: ignore[attr-defined,no-any-return]

    def dataReceived(self, data: bytes) -> None:
        """Hand the meter the requests the faults let through, whole, in order."""
        if self.disconnecting:
            return
        meter = self.wrappedProtocol
        try:
            frames = self.split(data)
        except DecodeError as error:
            meter.malformed(data, error)
            return
        # Lost requests still count as activity for the inactivity timeout.
        meter.resetTimeout()
        faults = self.factory
        for raw, kind in frames:
            if kind is not None:
                if self.hung or faults.hangs():
                    self.hung = True
                    meter.event(kind, "fault-timeout", raw)
                    continue
                if faults.drops():
                    meter.event(kind, "fault-drop", raw)
                    continue
            meter.dataReceived(raw)
            if self.disconnecting:
                return

    def write(self, data: bytes) -> None:
        """An answer: sent now, or after its delay once those before it are sent."""
        if self.factory.delay_range is None:
            self.transport.write(data)
            return
        self.delayed.append(data)
        if len(self.delayed) == 1:
            self.delayed_call = self.callLater(self.factory.delay(), self._send_delayed)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def _send_delayed(self) -> None:
        self.transport.write(self.delayed.popleft())
        self.delayed_call = None
        if self.delayed:
            self.delayed_call = self.callLater(self.factory.delay(), self._send_delayed)

    def abortConnection(self) -> None:
        self.disconnecting = 1
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.delayed_call is not None:
            self.delayed_call.cancel()
            self.delayed_call = None
        self.delayed.clear()
        super().connectionLost(reason)


class FaultInjector(WrappingFactory):
    """The per-request faults of one meter, and the factory of the
    ``FaultyConnection`` around each of its connections.

    Changing a meter's faults at run time (``reconfigure``) gives it a new
    injector: connections opened from then on have the new faults, and those
    already open keep the ones they were opened with until they close."""

    protocol = FaultyConnection
    wrappedFactory: MeterFactory

    def __init__(self, meter: MeterFactory, faults: Sequence[Fault], seed: int) -> None:
        super().__init__(meter)
        self.delay_range: tuple[float, float] | None = None
        self.drop_rate = self.timeout_rate = 0.0
        for fault in faults:
            if fault.kind == "delay":
                self.delay_range = (fault.min_delay, fault.max_delay)
            elif fault.kind == "drop":
                self.drop_rate = fault.rate
            elif fault.kind == "timeout":
                self.timeout_rate = fault.rate
        self.random = random.Random(seed)

    @classmethod
    def of(cls, meter: MeterFactory, faults: Sequence[Fault]) -> FaultInjector | None:
        """The injector of ``faults`` for ``meter`` (seeded with its seed), or
        None when none of them acts per request: the meter then has no wrapper."""
        if not any(f.kind in PER_REQUEST for f in faults):
            return None
        return cls(meter, faults, meter.meter.seed)

    def buildProtocol(self, addr: IAddress | None) -> FaultyConnection:
        """A connection of the meter (``MeterFactory.serve``), behind its faults."""
        return self.protocol(self, self.wrappedFactory.serve(addr))

    def delay(self) -> float:
        """An answer's delay in seconds, drawn in ``delay_range``."""
        low, high = self.delay_range or (0.0, 0.0)
        return self.random.uniform(low, high)

    def drops(self) -> bool:
        return self.drop_rate > 0 and self.random.random() < self.drop_rate

    def hangs(self) -> bool:
        return self.timeout_rate > 0 and self.random.random() < self.timeout_rate


def offline_meters(lab: Lab) -> set[str]:
    """The ids of the meters kept offline: in each group, the share its
    ``offline`` rate names (rounded), picked by a stable hash of each meter's seed."""
    chosen: set[str] = set()
    groups: dict[str, list[MeterConfig]] = {}
    rates = {group.name: max((f.rate for f in group.faults if f.kind == "offline"), default=0.0)
             for group in lab.groups}
    for meter in lab.meters(groups={name for name, rate in rates.items() if rate > 0}):
        groups.setdefault(meter.group, []).append(meter)
    for members in groups.values():
        count = round(rates[members[0].group] * len(members))
        ranked = sorted(members, key=lambda m: hashlib.blake2b(f"offline:{m.seed}:{m.id}".encode(),
                                                                digest_size=8).digest())
        chosen.update(m.id for m in ranked[:count])
    return chosen

"""A meter, assembled in one place from its lab.ini section and its model:
the simulated state (``simulator.meter.MeterRuntime``), its security store
(``security.store.MeterSecurity``) and what its TCP-UDP and IPv4 setup
objects report of its port. Together they are the ``MeterState`` COSEM
objects read."""

from __future__ import annotations

import hashlib
import time
from typing import Callable

from ..config import Fault, MeterConfig, inside
from ..interfaces import IMeterEdge, IObjectSet
from ..security.store import MeterSecurity
from ..simulator.meter import MeterRuntime


class Meter(MeterRuntime):
    """One meter of the lab: the simulation plus its security and its port."""

    __slots__ = ("security", "port", "address", "max_clients", "inactivity_timeout", "push_destinations", "edge",
                 "physical_address", "address_size", "image_policy", "faults")

    def __init__(self, config: MeterConfig, model: IObjectSet, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config.id, config.serial, config.system_title, config.seed, model.load_shape,
                         config.load_profile_interval, config.load_profile_days, model.utc_offset, clock,
                         anomalies=[(a.kind, a.rate) for a in config.anomalies])
        #: Keys, invocation counters and certificates (saved apart: see ``server.state``).
        self.security = MeterSecurity(config.id)
        self.port = config.port
        self.address = config.interface
        self.max_clients = config.max_clients
        self.inactivity_timeout = config.inactivity_timeout
        #: The HDLC server address's lower part and size (lab.ini ``transport = hdlc``).
        self.physical_address = config.physical_address
        self.address_size = config.address_size
        self.push_destinations = config.push_destinations
        #: Pushes and schedule timers (``server.push``); None for a meter served without a reactor.
        self.edge: IMeterEdge | None = None
        #: How the meter takes firmware images (lab.ini ``image_max_size``, ``image_digest``, ``activation_delay``).
        self.image_policy = config.image_policy
        #: lab.ini ``faults`` (the group's; a PATCH replaces them).
        self.faults: tuple[Fault, ...] = config.faults

    def fails(self, kind: str, attempt: int) -> bool:
        """Whether attempt number ``attempt`` of what fault ``kind`` names
        (``image-verify-fail``...) fails: a stable draw from the meter's seed,
        so a run repeats."""
        rate = max((fault.rate for fault in self.faults if fault.kind == kind), default=0.0)
        if rate <= 0:
            return False
        draw = hashlib.blake2b(f"{kind}:{self.seed}:{attempt}".encode(), digest_size=8).digest()
        return int.from_bytes(draw, "big") < rate * 2**64

    def may_push_to(self, host: str) -> bool:
        """Whether lab.ini's ``push_destinations`` hold ``host``."""
        return inside(host, self.push_destinations)

    def record(self, kind: str) -> None:
        """Remember ``kind`` for the event logs; the edge may push an alarm for it."""
        super().record(kind)
        if self.edge is not None:
            self.edge.occurred(kind)

    def set_clock(self, t: float) -> None:
        """Set the clock; the schedules' timers follow it."""
        super().set_clock(t)
        if self.edge is not None:
            self.edge.schedule_changed()

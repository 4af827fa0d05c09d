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
"""

from __future__ import annotations

import hashlib
import random
from typing import Sequence

from ..config import Fault, MeterConfig


class FaultInjector:
    """The faults of one meter."""

    __slots__ = ("delay_range", "drop_rate", "timeout_rate", "random")

    def __init__(self, faults: Sequence[Fault], seed: int) -> None:
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
    def of(cls, meter: MeterConfig) -> FaultInjector | None:
        """The meter's injector, or None when it has no per-request fault."""
        if not any(f.kind in ("delay", "drop", "timeout") for f in meter.faults):
            return None
        return cls(meter.faults, meter.seed)

    def delay(self) -> float:
        if self.delay_range is None:
            return 0.0
        return self.random.uniform(*self.delay_range)

    def drops(self) -> bool:
        return self.drop_rate > 0 and self.random.random() < self.drop_rate

    def hangs(self) -> bool:
        return self.timeout_rate > 0 and self.random.random() < self.timeout_rate


def offline_meters(meters: Sequence[MeterConfig]) -> set[str]:
    """The ids of the meters kept offline: in each group, the share its
    ``offline`` rate names (rounded), picked by a stable hash of each meter's seed."""
    chosen: set[str] = set()
    groups: dict[str, list[MeterConfig]] = {}
    for meter in meters:
        groups.setdefault(meter.group, []).append(meter)
    for members in groups.values():
        rate = max((f.rate for f in members[0].faults if f.kind == "offline"), default=0.0)
        count = round(rate * len(members))
        ranked = sorted(members, key=lambda m: hashlib.blake2b(f"offline:{m.seed}:{m.id}".encode(),
                                                                digest_size=8).digest())
        chosen.update(m.id for m in ranked[:count])
    return chosen

"""A meter's runtime state: its identity, its clock and the simulated
quantities COSEM objects read (the ``MeterState`` of the COSEM layer).

Kept small on purpose (≤ 20 KiB per idle meter): a few slots, the simulator's
constants, and a dict of the values that clients SET.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..codec.axdr import decode_data, encode_data
from .sources import Cumulative, Instantaneous, Interval, MeterSimulator


class Snapshot:
    """The simulated quantities of one instant, each computed at most once."""

    __slots__ = ("simulator", "t", "period", "_instantaneous", "_cumulative", "_interval")

    def __init__(self, simulator: MeterSimulator, t: float, period: int) -> None:
        self.simulator = simulator
        self.t = t
        self.period = period
        self._instantaneous: Instantaneous | None = None
        self._cumulative: Cumulative | None = None
        self._interval: Interval | None = None

    @property
    def instantaneous(self) -> Instantaneous:
        if self._instantaneous is None:
            self._instantaneous = self.simulator.instantaneous(self.t)
        return self._instantaneous

    @property
    def cumulative(self) -> Cumulative:
        if self._cumulative is None:
            self._cumulative = self.simulator.cumulative(self.t)
        return self._cumulative

    @property
    def interval(self) -> Interval:
        """The load-profile period that ends at this instant."""
        if self._interval is None:
            self._interval = self.simulator.interval(self.t, self.period)
        return self._interval


class TrackedValues(dict[tuple[bytes, int], Any]):
    """The values clients SET on a meter; any change marks the meter for saving."""

    __slots__ = ("owner",)

    def __init__(self, owner: MeterRuntime) -> None:
        super().__init__()
        self.owner = owner

    def __setitem__(self, key: tuple[bytes, int], value: Any) -> None:
        super().__setitem__(key, value)
        self.owner.changed = True

    def __delitem__(self, key: tuple[bytes, int]) -> None:
        super().__delitem__(key)
        self.owner.changed = True


class MeterRuntime:
    """One simulated meter. ``clock`` gives real time (injectable for tests);
    the meter's clock runs at the same pace from its own offset."""

    __slots__ = ("id", "serial", "system_title", "logical_device_name", "load_profile_period",
                 "load_profile_days", "utc_offset", "deviation", "clock_status", "simulator", "clock_offset",
                 "values", "changed", "_clock")

    def __init__(self, meter_id: str, serial: int, system_title: bytes, seed: int, shape: str,
                 load_profile_interval: int, load_profile_days: int, utc_offset: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.id = meter_id
        self.serial = serial
        self.system_title = system_title
        self.logical_device_name = b"DTW" + str(serial).zfill(13).encode("ascii")
        self.load_profile_period = load_profile_interval * 60
        self.load_profile_days = load_profile_days
        self.utc_offset = utc_offset
        #: Blue Book 4.1.6.1: the deviation is UTC minus local time, in minutes.
        self.deviation = -utc_offset // 60
        self.clock_status = 0
        self.simulator = MeterSimulator(seed, shape, utc_offset=utc_offset)
        self.clock_offset = 0.0
        #: Attribute values clients SET on this meter, by (logical name, attribute).
        self.values: dict[tuple[bytes, int], Any] = TrackedValues(self)
        #: Whether something a user changed is not saved yet (see ``state``).
        self.changed = False
        self._clock = clock

    def now(self) -> float:
        return self._clock() + self.clock_offset

    def set_clock(self, t: float) -> None:
        self.clock_offset = t - self._clock()
        self.changed = True

    def state(self) -> dict[str, Any]:
        """What a user changed on this meter, as JSON-ready values (A-XDR hex for Data)."""
        return {
            "clock_offset": self.clock_offset,
            "values": [[ln.hex(), attribute, encode_data(value).hex()]
                       for (ln, attribute), value in self.values.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what ``state`` returned before a restart."""
        self.clock_offset = float(state.get("clock_offset", 0.0))
        for ln, attribute, encoded in state.get("values", []):
            dict.__setitem__(self.values, (bytes.fromhex(ln), int(attribute)),
                             decode_data(bytes.fromhex(encoded))[0])
        self.changed = False

    def snapshot(self, t: float) -> Snapshot:
        return Snapshot(self.simulator, t, self.load_profile_period)

"""A meter's runtime state: its identity, its clock and the simulated
quantities COSEM objects read (the ``MeterState`` of the COSEM layer).

Kept small on purpose (≤ 20 KiB per idle meter): a few slots, the simulator's
constants, and a dict of the values that clients SET.
"""

from __future__ import annotations

import time
from typing import Any, Callable

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


class MeterRuntime:
    """One simulated meter. ``clock`` gives real time (injectable for tests);
    the meter's clock runs at the same pace from its own offset."""

    __slots__ = ("id", "serial", "system_title", "logical_device_name", "load_profile_period",
                 "load_profile_days", "utc_offset", "deviation", "clock_status", "simulator", "clock_offset",
                 "values", "_clock")

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
        self.values: dict[tuple[bytes, int], Any] = {}
        self._clock = clock

    def now(self) -> float:
        return self._clock() + self.clock_offset

    def set_clock(self, t: float) -> None:
        self.clock_offset = t - self._clock()

    def snapshot(self, t: float) -> Snapshot:
        return Snapshot(self.simulator, t, self.load_profile_period)

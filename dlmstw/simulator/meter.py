"""A meter's simulated state: its identity, its clock and the simulated
quantities COSEM objects read, all values of its seed and the time (the
server assembles the whole ``MeterState`` of the COSEM layer from it, its
security store and its port: ``server.assembly``).

Kept small on purpose (a 100,000-meter lab holds them all): a few slots, a
dict of the values that clients SET and a dict of the little state some
objects keep per meter (a profile's reset time, a demand register's period
start...). What a meter only needs once it is read is made on first use:
the simulator's constants (a pure function of the seed, so made at any time
they are the same) and the bounded list of what clients made the meter do.
"""

from __future__ import annotations

import collections
import functools
import math
import time
from typing import Any, Callable, Iterable

from ..codec.axdr import decode_data, encode_data
from ..cosem.classes.disconnect_control import DISCONNECTIONS
from .anomalies import Anomalies
from .events import CLOCK_NEW, CLOCK_OLD, Occurrence
from .shapes import SHAPES
from .sources import Cumulative, Instantaneous, Interval, MeterSimulator

#: Occurrences a meter remembers (disconnections, clock sets...): the oldest go first.
MAX_OCCURRENCES = 256


#: The Cumulative fields a disconnected meter does not measure (energies).
ENERGIES = ("active_energy_import", "active_energy_export", "reactive_energy_lag", "reactive_energy_lead",
            "apparent_energy")
#: The Instantaneous fields that are zero while the output is off (no load).
LOAD = ("current_l1", "current_l2", "current_l3", "active_power_import", "active_power_export", "reactive_power",
        "apparent_power")


@functools.lru_cache(maxsize=4096)
def _used(simulator: MeterSimulator, start: float, stop: float) -> tuple[float, ...]:
    """The energies the simulated load used in [start, stop] (a closed period's, computed once)."""
    first, last = simulator.cumulative(start), simulator.cumulative(stop)
    return tuple(getattr(last, name) - getattr(first, name) for name in ENERGIES)


def withheld(simulator: MeterSimulator, periods: Iterable[Any], t: float) -> list[float]:
    """The energies (ENERGIES order) the simulated load used while the output
    was off ([start, end] ``periods``, end None while it lasts) up to ``t``."""
    total = [0.0] * len(ENERGIES)
    for start, end in periods:
        if start >= t:
            break
        used = _used(simulator, start, t if end is None or end > t else end)
        for index, value in enumerate(used):
            total[index] += value
    return total


class Snapshot:
    """The simulated quantities of one instant, each computed at most once.
    ``off``: the periods the meter's output was off (Disconnect control):
    energy is not measured in them, and no current flows."""

    __slots__ = ("simulator", "t", "period", "off", "_instantaneous", "_cumulative", "_interval")

    def __init__(self, simulator: MeterSimulator, t: float, period: int, off: Any = ()) -> None:
        self.simulator = simulator
        self.t = t
        self.period = period
        self.off = off
        self._instantaneous: Instantaneous | None = None
        self._cumulative: Cumulative | None = None
        self._interval: Interval | None = None

    def _is_off(self, t: float) -> bool:
        return any(start <= t and (end is None or t < end) for start, end in self.off)

    @property
    def instantaneous(self) -> Instantaneous:
        if self._instantaneous is None:
            values = self.simulator.instantaneous(self.t)
            if self.off and self._is_off(self.t):
                values = values._replace(**dict.fromkeys(LOAD, 0.0), power_factor_l1=1.0, power_factor_l2=1.0,
                                         power_factor_l3=1.0, power_factor=1.0)
            self._instantaneous = values
        return self._instantaneous

    def _measured(self, t: float) -> Cumulative:
        values = self.simulator.cumulative(t)
        if not self.off:
            return values
        less = withheld(self.simulator, self.off, t)
        return values._replace(**{name: getattr(values, name) - less[i] for i, name in enumerate(ENERGIES)})

    @property
    def cumulative(self) -> Cumulative:
        if self._cumulative is None:
            self._cumulative = self._measured(self.t)
        return self._cumulative

    @property
    def interval(self) -> Interval:
        """The load-profile period that ends at this instant."""
        if self._interval is None:
            interval = self.simulator.interval(self.t, self.period)
            start = self.t - self.period
            if any(begin < self.t and (end is None or end > start) for begin, end in self.off):
                now, then = self.cumulative, self._measured(start)
                measured = {name: getattr(now, name) - getattr(then, name) for name in ENERGIES}
                share = measured["apparent_energy"] / interval.apparent_energy if interval.apparent_energy else 0.0
                interval = interval._replace(**measured, avg_current_l1=interval.avg_current_l1 * share,
                                             avg_current_l2=interval.avg_current_l2 * share,
                                             avg_current_l3=interval.avg_current_l3 * share)
            self._interval = interval
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


class FixedValues(TrackedValues):
    """The values of a meter some of whose attributes a scenario fixed
    (``MeterRuntime.fix``): a fixed value wins over everything, a client's SET
    included, until it is released; the values clients SET stay underneath
    (and are what is saved). Only such a meter pays for the look-up."""

    __slots__ = ("fixed",)

    def __init__(self, owner: MeterRuntime) -> None:
        super().__init__(owner)
        self.fixed: dict[tuple[bytes, int], Any] = {}

    def get(self, key: tuple[bytes, int], default: Any = None) -> Any:  # type: ignore[override]
        fixed = self.fixed.get(key)
        return fixed if fixed is not None else super().get(key, default)


class ObjectState(dict[tuple[bytes, str], Any]):
    """What objects keep per meter besides attribute values. The entries a
    user caused (``PERSISTENT`` keys: a profile's reset and captures, a demand
    register's restart) mark the meter for saving; caches do not."""

    __slots__ = ("owner",)
    PERSISTENT = frozenset({"reset", "captures", "anchor", "image", "firmware", "calendars", "disconnections",
                            "tripped"})

    def __init__(self, owner: MeterRuntime) -> None:
        super().__init__()
        self.owner = owner

    def __setitem__(self, key: tuple[bytes, str], value: Any) -> None:
        super().__setitem__(key, value)
        if key[1] in self.PERSISTENT:
            self.owner.changed = True

    def pop(self, key: tuple[bytes, str], *default: Any) -> Any:
        if key[1] in self.PERSISTENT and key in self:
            self.owner.changed = True
        return super().pop(key, *default)


class MeterRuntime:
    """One simulated meter. ``clock`` gives real time (injectable for tests);
    the meter's clock runs at the same pace from its own offset.
    ``anomalies`` are the meter group's (kind, rate) pairs (lab.ini
    ``anomalies``)."""

    __slots__ = ("id", "serial", "seed", "system_title", "logical_device_name", "load_profile_period",
                 "load_profile_days", "utc_offset", "deviation", "clock_status", "shape", "_simulator", "clock_offset", "clock_jump",
                 "values", "changed", "object_state", "_events", "anomalies", "_snapshot", "_clock")

    def __init__(self, meter_id: str, serial: int, system_title: bytes, seed: int, shape: str,
                 load_profile_interval: int, load_profile_days: int, utc_offset: int = 0,
                 clock: Callable[[], float] = time.time, anomalies: Iterable[tuple[str, float]] = ()) -> None:
        self.id = meter_id
        self.serial = serial
        self.seed = seed
        self.system_title = system_title
        self.logical_device_name = b"DTW" + str(serial).zfill(13).encode("ascii")
        self.load_profile_period = load_profile_interval * 60
        self.load_profile_days = load_profile_days
        self.utc_offset = utc_offset
        #: Blue Book 4.1.6.1: the deviation is UTC minus local time, in minutes.
        self.deviation = -utc_offset // 60
        self.clock_status = 0
        if shape not in SHAPES:
            raise ValueError(f"unknown load shape {shape!r}; known: {', '.join(sorted(SHAPES))}")
        self.shape = shape
        self._simulator: MeterSimulator | None = None
        self.clock_offset = 0.0
        #: Seconds a scenario moved the clock (``server.scenario``): not saved, undone when the scenario is reset.
        self.clock_jump = 0.0
        #: Attribute values clients SET on this meter, by (logical name, attribute).
        self.values: dict[tuple[bytes, int], Any] = TrackedValues(self)
        #: Whether something a user changed is not saved yet (see ``state``).
        self.changed = False
        #: What objects keep for this meter besides attribute values, by (logical name, key).
        self.object_state: dict[tuple[bytes, str], Any] = ObjectState(self)
        self._events: collections.deque[Occurrence] | None = None
        self.anomalies = Anomalies.of(seed, anomalies)
        self._snapshot: Snapshot | None = None
        self._clock = clock

    @property
    def simulator(self) -> MeterSimulator:
        """The simulated quantities of this meter's seed, made on first use."""
        simulator = self._simulator
        if simulator is None:
            simulator = self._simulator = MeterSimulator(self.seed, self.shape, utc_offset=self.utc_offset)
        return simulator

    @property
    def events(self) -> collections.deque[Occurrence]:
        """What clients made the meter do, for its event logs (``simulator.events``), made on first use."""
        events = self._events
        if events is None:
            events = self._events = collections.deque(maxlen=MAX_OCCURRENCES)
        return events

    def now(self) -> float:
        return self._clock() + self.clock_offset + self.clock_jump

    def set_clock(self, t: float) -> None:
        """Set the clock; the event logs get the time before and after."""
        before = self.now()
        self.clock_offset = t - self._clock() - self.clock_jump
        self.changed = True
        self.events.append(Occurrence(before, CLOCK_OLD))
        self.events.append(Occurrence(t, CLOCK_NEW))

    def fix(self, key: tuple[bytes, int], value: Any) -> None:
        """Serve ``value`` (A-XDR ``Data``) for the attribute ``key`` until ``release``."""
        values = self.values
        if not isinstance(values, FixedValues):
            values = FixedValues(self)
            dict.update(values, self.values)
            self.values = values
        values.fixed[key] = value

    def release(self, key: tuple[bytes, int] | None = None) -> None:
        """Serve the attribute ``key`` (every fixed one when None) as before ``fix``."""
        values = self.values
        if not isinstance(values, FixedValues):
            return
        if key is None:
            values.fixed.clear()
        else:
            values.fixed.pop(key, None)
        if not values.fixed:
            plain = TrackedValues(self)
            dict.update(plain, values)
            self.values = plain

    def record(self, kind: str) -> None:
        """Remember that ``kind`` (``simulator.events`` occurrence kinds) happened now."""
        self.events.append(Occurrence(self.now(), kind))
        self.changed = True

    def state(self) -> dict[str, Any]:
        """What a user changed on this meter, as JSON-ready values (A-XDR hex for Data)."""
        return {
            "clock_offset": self.clock_offset,
            "values": [[ln.hex(), attribute, encode_data(value).hex()]
                       for (ln, attribute), value in self.values.items()],
            "object_state": [[ln.hex(), key, value] for (ln, key), value in self.object_state.items()
                             if key in ObjectState.PERSISTENT],
            "events": [[occurrence.t, occurrence.kind] for occurrence in self._events or ()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what ``state`` returned before a restart."""
        self.clock_offset = float(state.get("clock_offset", 0.0))
        for ln, attribute, encoded in state.get("values", []):
            dict.__setitem__(self.values, (bytes.fromhex(ln), int(attribute)),
                             decode_data(bytes.fromhex(encoded))[0])
        for ln, key, value in state.get("object_state", []):
            saved = tuple(value) if isinstance(value, list) else value
            dict.__setitem__(self.object_state, (bytes.fromhex(ln), str(key)), saved)
        saved = state.get("events", [])
        if saved:
            self.events.extend(Occurrence(float(t), str(kind)) for t, kind in saved)
        self.changed = False

    def snapshot(self, t: float) -> Snapshot:
        """The quantities at ``t`` to the whole second, as a meter refreshes
        them: the snapshot of the second last asked for serves every request
        in it, so a burst of reads computes the simulation once."""
        second = float(math.floor(t))
        cached = self._snapshot
        off = self.object_state.get(DISCONNECTIONS, ())
        if (cached is not None and cached.t == second and cached.period == self.load_profile_period
                and cached.off is off):
            return cached
        cached = self._snapshot = Snapshot(self.simulator, second, self.load_profile_period, off)
        return cached

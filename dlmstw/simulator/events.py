"""Events of a simulated meter, deterministic from its seed, for any window.

Pure functions of the simulator (no stored history):

* ``outages``: the simulator's power outages (``sources`` module docstring:
  one per seed-derived slot), so a power-failure log holds the very
  interruptions the power-on time and failure count registers count;
* ``tampers``: tamper attempts (a magnet, a neutral disturbance, an opened
  cover, a reversed current, an open CT, a missing PT phase), each kind one
  per seed-derived slot of ``Tamper.slot_days`` (``TAMPERS``), so they are
  rare and their rate is that slot; an attempt is a pair of occurrences (its
  start and its end) that the models map to event codes as they map those a
  client causes;
* ``crossings``: threshold conditions on the instantaneous values (voltage,
  current, ...) tested on a fixed grid of the POSIX time line; an event is
  logged where a condition differs from its value one grid step before, so an
  event depends only on two neighbouring grid instants, never on the window
  asked for.

What clients cause (a disconnection, a clock set, a changed capture
period...) cannot be computed: the meter keeps those ``Occurrence`` records in
a small bounded list (``MeterRuntime.events``) and the object models merge
them into their logs.
"""

from __future__ import annotations

import math
from typing import Callable, Container, Iterable, NamedTuple, Sequence

from .sources import _GOLDEN, _MASK, _OUTAGE_MAX, _OUTAGES, Instantaneous, MeterSimulator, Rating, _mix64

#: Occurrence kinds a meter records (``MeterRuntime.record``). The COSEM classes that record
#: them (below this layer) use the same strings.
CLOCK_OLD = "clock-old"
"""The clock was set: recorded at the meter's time before the change."""
CLOCK_NEW = "clock-new"
"""The clock was set: recorded at the meter's time after the change."""
DISCONNECT = "disconnect"
RECONNECT = "reconnect"
CAPTURE_PERIOD = "capture-period"
DEMAND_PERIOD = "demand-period"
DEMAND_RESET = "demand-reset"
LIMITER_THRESHOLD = "limiter-threshold"
FIRMWARE_ACTIVATED = "firmware-activated"
"""A new firmware image became active (Image transfer, class 18)."""
LIMITER_TRIP = "limiter-trip"
"""The limiter found the load over its threshold and ran its over-threshold action."""
CALENDAR_ACTIVATED = "calendar-activated"
"""A new activity calendar (tariff programme) became active."""
POWER_DOWN = "power-down"
"""The meter went down (a restart on new firmware, or taken offline), not a simulated outage."""
POWER_UP = "power-up"
LIMITER_OK = "limiter-ok"
"""A tripped limiter found the load under its threshold again and ran its under-threshold action."""
FIRMWARE_READY = "firmware-ready"
"""An image was verified and is ready for activation (Image transfer, class 18)."""
FIRMWARE_ACTIVATION_FAILED = "firmware-activation-failed"
"""image_activate failed (lab.ini fault ``image-activate-fail``): the old firmware stays active."""
MAGNET = "magnet"
"""A strong magnet (or AC/DC electromagnet) influences the meter."""
MAGNET_REMOVED = "magnet-removed"
NEUTRAL_DISTURBANCE = "neutral-disturbance"
"""DC or high-frequency signal injected in the neutral."""
NEUTRAL_RESTORED = "neutral-restored"
COVER_OPENED = "cover-opened"
"""The meter cover was removed."""
COVER_CLOSED = "cover-closed"
CURRENT_REVERSED = "current-reversed"
"""The R (L1) phase current flows reversed (its connection swapped)."""
CURRENT_REVERSE_ENDED = "current-reverse-ended"
CT_OPEN = "ct-open"
"""The R (L1) phase current transformer circuit is open (CT-operated meters)."""
CT_CLOSED = "ct-closed"
PT_MISSING = "pt-missing"
"""The R (L1) phase voltage (potential transformer link) is missing (PT-operated meters)."""
PT_RESTORED = "pt-restored"
#: The kind of an event given by its code (a scenario's ``event`` and ``alarm`` steps): this prefix and the code.
CODED = "code:"


def coded(code: int) -> str:
    """The occurrence kind of event code ``code``; a log takes it when the code is one of its own."""
    return f"{CODED}{code}"

#: One logged event: its instant (POSIX seconds) and its event code.
Event = tuple[float, int]


class Occurrence(NamedTuple):
    """Something a client made the meter do, at the meter's time ``t``."""

    t: float
    kind: str


class Tamper(NamedTuple):
    """A kind of tamper attempt the simulation raises: one in each slot of
    ``slot_days`` (at a seed-derived instant in it, the first slot starting
    at the simulator's installation), lasting ``shortest`` to ``longest``
    seconds; ``began`` is recorded at its start, ``ended`` at its end."""

    began: str
    ended: str
    slot_days: int
    shortest: int
    longest: int
    salt: int


#: The tamper attempts of every simulated meter (its model logs those its tables have codes for).
TAMPERS = (
    Tamper(MAGNET, MAGNET_REMOVED, 30, 120, 7200, 0x4D41),
    Tamper(NEUTRAL_DISTURBANCE, NEUTRAL_RESTORED, 45, 300, 14400, 0x4E44),
    Tamper(COVER_OPENED, COVER_CLOSED, 180, 60, 1200, 0x434F),
    Tamper(CURRENT_REVERSED, CURRENT_REVERSE_ENDED, 90, 600, 21600, 0x5256),
    Tamper(CT_OPEN, CT_CLOSED, 60, 600, 21600, 0x4354),
    Tamper(PT_MISSING, PT_RESTORED, 60, 600, 21600, 0x5054),
)


class Condition(NamedTuple):
    """A condition on the instantaneous values: ``occurred`` is logged when it
    becomes true, ``restored`` when it becomes false again."""

    occurred: int
    restored: int
    test: Callable[[Instantaneous, Rating], bool]


def outages(simulator: MeterSimulator, t0: float, t1: float) -> list[tuple[float, float]]:
    """The power outages (start, end) of ``simulator`` that overlap [t0, t1],
    in order: exactly the interruptions its power-on time and failure count
    registers count (``MeterSimulator.cumulative``)."""
    installed = int(simulator.installed)
    slot_len = simulator._outage_slot
    first_slot = max(0, (math.floor(t0) - installed) // slot_len - 1)
    last_slot = max(-1, (math.floor(t1) - installed) // slot_len)
    found = []
    for slot in range(first_slot, last_slot + 1):
        z = _mix64(simulator._outage_key ^ ((slot * _GOLDEN) & _MASK))
        begins = installed + slot * slot_len + (z >> 11) % (slot_len - _OUTAGE_MAX)
        lasts = _OUTAGES[(simulator._outage_start + slot) % len(_OUTAGES)]
        if begins <= t1 and begins + lasts >= t0:
            found.append((float(begins), float(begins + lasts)))
    return found


def _attempt(simulator: MeterSimulator, tamper: Tamper, slot: int) -> tuple[float, float]:
    """The (start, end) of ``tamper``'s attempt in slot number ``slot``."""
    slot_len = tamper.slot_days * 86400
    z = _mix64(_mix64(simulator._outage_key ^ tamper.salt) ^ ((slot * _GOLDEN) & _MASK))
    begins = simulator.installed + slot * slot_len + (z >> 11) % (slot_len - tamper.longest)
    lasts = tamper.shortest + (z & 0x7FF_FFFF) % (tamper.longest - tamper.shortest + 1)
    return float(begins), float(begins + lasts)


def tampers(simulator: MeterSimulator, t0: float, t1: float,
            kinds: Sequence[Tamper] = TAMPERS) -> list[Occurrence]:
    """The starts and ends of the tamper attempts of ``kinds`` within (t0, t1],
    in order: a pure function of the seed, whatever the window."""
    found: list[Occurrence] = []
    for tamper in kinds:
        slot_len = tamper.slot_days * 86400
        first = max(0, math.floor((t0 - simulator.installed) / slot_len) - 1)
        last = math.floor((t1 - simulator.installed) / slot_len)
        for slot in range(first, last + 1):
            start, end = _attempt(simulator, tamper, slot)
            if t0 < start <= t1:
                found.append(Occurrence(start, tamper.began))
            if t0 < end <= t1:
                found.append(Occurrence(end, tamper.ended))
    return sorted(found)


def tamper_count(simulator: MeterSimulator, t: float, kinds: Sequence[Tamper] = TAMPERS) -> int:
    """How many tamper attempts of ``kinds`` began at or before ``t`` since installation."""
    count = 0
    for tamper in kinds:
        slot_len = tamper.slot_days * 86400
        slot = math.floor((t - simulator.installed) / slot_len)
        if slot >= 0:
            count += slot + (_attempt(simulator, tamper, slot)[0] <= t)
    return count


def power_events(simulator: MeterSimulator, t0: float, t1: float, down: int, up: int) -> list[Event]:
    """Power failure (``down`` at each outage start) and restoration (``up``
    at its end) events within (t0, t1], in order."""
    events: list[Event] = []
    for start, end in outages(simulator, t0, t1):
        if t0 < start <= t1:
            events.append((start, down))
        if t0 < end <= t1:
            events.append((end, up))
    return events


def crossings(simulator: MeterSimulator, conditions: Sequence[Condition], t0: float, t1: float,
              step: int) -> list[Event]:
    """Events of ``conditions`` within (t0, t1] on the grid of ``step``
    seconds (multiples of ``step`` in POSIX time). Condition i's events are
    stamped i seconds after the grid instant, so no two share an instant."""
    first = math.floor(t0 / step) * step
    if first <= t0 - len(conditions):
        first += step
    rated = simulator.rated
    before = simulator.instantaneous(first - step)
    state = [condition.test(before, rated) for condition in conditions]
    events: list[Event] = []
    g = first
    while g <= t1:
        values = simulator.instantaneous(g)
        for index, condition in enumerate(conditions):
            now = condition.test(values, rated)
            if now != state[index]:
                state[index] = now
                stamp = g + index
                if t0 < stamp <= t1:
                    events.append((float(stamp), condition.occurred if now else condition.restored))
        g += step
    return events


def occurrence_events(occurrences: Iterable[Occurrence], codes: dict[str, int], after: float,
                      taken: Container[int] = ()) -> list[Event]:
    """The recorded occurrences this log holds later than ``after``, as
    events, in order: those of a kind in ``codes``, and those given by their
    code (``coded``) when the code is ``taken`` by this log."""
    found = []
    for o in occurrences:
        if o.t <= after:
            continue
        code = codes.get(o.kind)
        if code is None and o.kind.startswith(CODED):
            number = int(o.kind[len(CODED):])
            code = number if number in taken else None
        if code is not None:
            found.append((o.t, code))
    return sorted(found)


def merge(*streams: Iterable[Event]) -> list[Event]:
    """Events of several sources, in time order."""
    return sorted(event for stream in streams for event in stream)

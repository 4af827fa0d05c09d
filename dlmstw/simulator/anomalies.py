"""Data anomalies on demand (lab.ini ``anomalies``): which values and profile
rows a meter spoils, and how. Pure: no I/O, no Twisted, no clock.

Every decision is a stable hash of (meter seed, object logical name, instant
in whole seconds) mapped to [0, 1) and compared with the rates: the same
(seed, object, instant) always gets the same answer, whatever window a client
reads and in whatever order, and a rate of 0 never fires. The value kinds
share one draw, so do the row kinds: a value (a row) has at most one anomaly,
each kind at exactly its rate. The hash is splitmix64, so it does not depend
on PYTHONHASHSEED.

Kinds (``dlmstw.config.ANOMALY_KINDS``):

* value anomalies, decided per (seed, register, instant) and applied to the
  register's encoded value: ``negative`` (the value negated; an unsigned type
  is sent as its signed counterpart of the same width, Blue Book 4.1.5),
  ``boundary`` (the minimum, maximum, zero or all-ones of the value's A-XDR
  type), ``out-of-range`` (100 times the value, clipped to the type);
* row anomalies, decided per (seed, profile, capture instant): ``gaps`` (the
  row is missing, or, on a profile with a status column, present with its
  values null and its status flagging missing data), ``duplicates`` (the row
  is sent twice), ``clock-jump`` (the row's time stamp is off the capture
  grid by a few minutes and seconds).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable

from ..enums import DataType

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_UNIT = 1.0 / (1 << 53)

VALUE_KINDS = ("boundary", "out-of-range", "negative")
"""Value anomaly kinds, in the order they take precedence."""

ROW_KINDS = ("gaps", "duplicates", "clock-jump")
"""Row anomaly kinds, in the order they take precedence."""

KINDS = VALUE_KINDS + ROW_KINDS

#: What ``Anomalies.row`` answers for a spoiled row.
MISSING = "missing"
FLAGGED = "flagged"
DUPLICATE = "duplicate"
CLOCK_JUMP = "clock-jump"

#: Smallest and largest value of each integer A-XDR type (Blue Book 4.1.5).
INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INTEGER: (-(1 << 7), (1 << 7) - 1),
    DataType.LONG: (-(1 << 15), (1 << 15) - 1),
    DataType.DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    DataType.LONG64: (-(1 << 63), (1 << 63) - 1),
    DataType.UNSIGNED: (0, (1 << 8) - 1),
    DataType.LONG_UNSIGNED: (0, (1 << 16) - 1),
    DataType.DOUBLE_LONG_UNSIGNED: (0, (1 << 32) - 1),
    DataType.LONG64_UNSIGNED: (0, (1 << 64) - 1),
    DataType.ENUM: (0, (1 << 8) - 1),
}

#: The signed type of the same width as each unsigned one.
SIGNED_COUNTERPART: dict[DataType, DataType] = {
    DataType.UNSIGNED: DataType.INTEGER,
    DataType.LONG_UNSIGNED: DataType.LONG,
    DataType.DOUBLE_LONG_UNSIGNED: DataType.DOUBLE_LONG,
    DataType.LONG64_UNSIGNED: DataType.LONG64,
}

#: Largest finite value of the floating-point types.
FLOAT_LIMITS: dict[DataType, float] = {
    DataType.FLOAT32: 3.4028234663852886e38,
    DataType.FLOAT64: 1.7976931348623157e308,
}

_VALUE_SALT = 0x56
_ROW_SALT = 0x52
_SHAPE_SALT = 0x51
_OUT_OF_RANGE_FACTOR = 100


def _mix64(z: int) -> int:
    """The splitmix64 output function: a bijective 64-bit mix."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


@functools.lru_cache(maxsize=4096)
def _object_key(seed: int, salt: int, logical_name: bytes) -> int:
    return _mix64(_mix64(((seed & _MASK) * _GOLDEN + salt) & _MASK) ^ int.from_bytes(logical_name, "big"))


def stable_hash(seed: int, salt: int, logical_name: bytes, t: float) -> int:
    """A 64-bit hash of (seed, salt, logical name, whole second of ``t``)."""
    return _mix64(_object_key(seed, salt, logical_name) ^ (math.floor(t) & _MASK))


def _draw(seed: int, salt: int, logical_name: bytes, t: float) -> float:
    """A uniform draw in [0, 1) from the stable hash."""
    return (stable_hash(seed, salt, logical_name, t) >> 11) * _UNIT


def boundary_values(value_type: DataType) -> tuple[int | float, ...]:
    """The boundary values of an A-XDR numeric type: minimum, maximum, zero
    and all-ones (which is the maximum of an unsigned type and -1 of a signed one)."""
    if value_type in FLOAT_LIMITS:
        limit = FLOAT_LIMITS[value_type]
        return (-limit, limit, 0.0)
    low, high = INTEGER_RANGES[value_type]
    if low == 0:
        return (0, high)
    return (low, high, 0, -1)


@dataclass(frozen=True, slots=True)
class Anomalies:
    """The anomaly rates of one meter and the decisions they lead to.

    Built with ``Anomalies.of``, which gives None when every rate is 0, so
    that a meter without anomalies skips all of this with one test.
    """

    seed: int
    negative: float = 0.0
    boundary: float = 0.0
    out_of_range: float = 0.0
    gaps: float = 0.0
    duplicates: float = 0.0
    clock_jump: float = 0.0

    @classmethod
    def of(cls, seed: int, rates: Iterable[tuple[str, float]]) -> Anomalies | None:
        """From (kind, rate) pairs (``config.AnomalyRate`` items); None when
        no rate is above 0. ValueError for an unknown kind or a rate outside 0..1."""
        values: dict[str, float] = {}
        for kind, rate in rates:
            if kind not in KINDS:
                raise ValueError(f"unknown anomaly kind {kind!r}; known: {', '.join(KINDS)}")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"anomaly rate {rate!r} of {kind!r} is not within 0..1")
            values[kind.replace("-", "_")] = float(rate)
        if not any(values.values()):
            return None
        if values.get("boundary", 0.0) + values.get("out_of_range", 0.0) + values.get("negative", 0.0) > 1.0:
            raise ValueError("the value anomaly rates add up to more than 1")
        if values.get("gaps", 0.0) + values.get("duplicates", 0.0) + values.get("clock_jump", 0.0) > 1.0:
            raise ValueError("the row anomaly rates add up to more than 1")
        return cls(seed, **values)

    def rate(self, kind: str) -> float:
        """The configured rate of ``kind``."""
        return float(getattr(self, kind.replace("-", "_")))

    # -- values ----------------------------------------------------------------

    def value_kind(self, logical_name: bytes, t: float) -> str | None:
        """The value anomaly of register ``logical_name`` at ``t``, or None."""
        u = _draw(self.seed, _VALUE_SALT, logical_name, t)
        if u < self.boundary:
            return "boundary"
        u -= self.boundary
        if u < self.out_of_range:
            return "out-of-range"
        u -= self.out_of_range
        return "negative" if u < self.negative else None

    def spoil_value(self, logical_name: bytes, t: float, value_type: DataType,
                    value: int | float) -> tuple[DataType, int | float] | None:
        """The (type, value) a register sends instead of ``value`` at ``t``, or
        None when no value anomaly hits it there."""
        kind = self.value_kind(logical_name, t)
        if kind is None:
            return None
        if kind == "boundary":
            choices = boundary_values(value_type)
            pick = stable_hash(self.seed, _SHAPE_SALT, logical_name, t) % len(choices)
            return value_type, choices[pick]
        if kind == "negative":
            if value_type in FLOAT_LIMITS:
                return value_type, -abs(value) if value else -1.0
            signed = SIGNED_COUNTERPART.get(value_type, value_type)
            low = INTEGER_RANGES[signed][0]
            return signed, max(-max(abs(int(value)), 1), low)
        if value_type in FLOAT_LIMITS:
            return value_type, value * _OUT_OF_RANGE_FACTOR if value else FLOAT_LIMITS[value_type] / 2
        low, high = INTEGER_RANGES[value_type]
        spoiled = int(value) * _OUT_OF_RANGE_FACTOR if value else high // 2
        return value_type, min(max(spoiled, low), high)

    # -- profile rows ------------------------------------------------------------

    def row(self, logical_name: bytes, t: float) -> str | None:
        """The row anomaly of profile ``logical_name`` at capture instant ``t``:
        MISSING, FLAGGED (a gap a status column can flag), DUPLICATE,
        CLOCK_JUMP, or None."""
        u = _draw(self.seed, _ROW_SALT, logical_name, t)
        if u < self.gaps:
            return FLAGGED if stable_hash(self.seed, _SHAPE_SALT, logical_name, t) & 1 else MISSING
        u -= self.gaps
        if u < self.duplicates:
            return DUPLICATE
        u -= self.duplicates
        return CLOCK_JUMP if u < self.clock_jump else None

    def clock_shift(self, logical_name: bytes, t: float) -> int:
        """Seconds a clock-jump row's time stamp is off its instant: ±(1 to 29
        minutes and 1 to 59 seconds), never a whole number of minutes, so the
        stamp is off every capture grid."""
        z = stable_hash(self.seed, _SHAPE_SALT + 1, logical_name, t)
        shift = 60 * (1 + z % 29) + 1 + (z >> 8) % 59
        return shift if (z >> 16) & 1 else -shift

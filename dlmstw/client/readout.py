"""What ``dlmstw-client read`` asks one meter for, on an open association.

Each target is read with what makes its value readable (Blue Book 4.3):
a Register's scaler_unit (class 3, 4, 5); a Profile generic buffer's
capture_objects and the scaler_unit of each register column; and, when a
range selects no row, the first and last entries of the buffer (entries_in_use
and entry_descriptor), so that the reader learns which window the profile holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from twisted.internet.defer import inlineCallbacks

from dlmstw.client.protocol import DlmsClientProtocol
from dlmstw.client.reading import (
    ENTRIES_IN_USE,
    OBJECT_LIST,
    PROFILE_GENERIC,
    SCALED_ATTRIBUTES,
    SCALER_UNIT_ATTRIBUTE,
    Target,
    classes_from_object_list,
    clock_column,
    column_targets,
    entry_access,
    range_access,
)
from dlmstw.client.session import GetValue
from dlmstw.codec.axdr import CosemDateTime, Data
from dlmstw.codec.services import CosemAttributeDescriptor
from dlmstw.enums import DataAccessResult, DataType

ScalerUnit = tuple[int, int]
"""(scaler, unit) of a register (Blue Book 4.3.2)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One target's outcome.

    ``scaler_unit`` for registers; for profile buffers ``capture_objects``, the
    ``column_scalers`` of its register columns (None for others, or with
    ``raw``), the ``window`` asked for, and ``held``: the first and last capture
    times the profile holds, read when the window selected no row.
    """

    target: Target
    class_id: int | None
    value: GetValue | None
    scaler_unit: GetValue | None = None
    capture_objects: GetValue | None = None
    column_scalers: tuple[ScalerUnit | None, ...] | None = None
    window: tuple[CosemDateTime | None, CosemDateTime | None] | None = None
    held: tuple[Data, Data] | None = None
    problem: str | None = None


def scaler_unit_of(value: GetValue | None) -> ScalerUnit | None:
    """(scaler, unit) of a scaler_unit structure, None for anything else."""
    if value is None or isinstance(value, DataAccessResult) or value[0] != DataType.STRUCTURE or len(value[1]) != 2:
        return None
    scaler, unit = value[1][0][1], value[1][1][1]
    return (scaler, unit) if isinstance(scaler, int) and isinstance(unit, int) else None


@inlineCallbacks
def _column_scalers(protocol: DlmsClientProtocol, capture: Data) -> Any:
    """The scaler_unit of every register column of a profile (one GET per register), None elsewhere."""
    scalers: list[ScalerUnit | None] = []
    for class_id, logical_name, attribute_id in column_targets(capture):
        found = None
        if attribute_id in SCALED_ATTRIBUTES.get(class_id, ()):
            found = scaler_unit_of((yield protocol.get(CosemAttributeDescriptor(
                class_id, logical_name, SCALER_UNIT_ATTRIBUTE[class_id]))))
        scalers.append(found)
    return tuple(scalers)


@inlineCallbacks
def _held(protocol: DlmsClientProtocol, descriptor: CosemAttributeDescriptor, capture: Data) -> Any:
    """The capture times of a profile's first and last entries, or None when it holds none."""
    column = clock_column(capture)
    entries = yield protocol.get(CosemAttributeDescriptor(PROFILE_GENERIC, descriptor.instance_id, ENTRIES_IN_USE))
    if column is None or isinstance(entries, DataAccessResult) or not isinstance(entries[1], int) or entries[1] < 1:
        return None
    index = capture[1].index(column)
    ends = []
    for entry in (1, entries[1]):
        rows = yield protocol.get(descriptor, entry_access(entry, entry))
        if isinstance(rows, DataAccessResult) or rows[0] != DataType.ARRAY or not rows[1]:
            return None
        ends.append(rows[1][0][1][index])
    return tuple(ends)


@inlineCallbacks
def read_targets(protocol: DlmsClientProtocol, targets: Sequence[Target], start: CosemDateTime | None = None,
                 end: CosemDateTime | None = None, raw: bool = False) -> Any:
    """Read ``targets`` on an open association; fires with one :class:`Reading` each.

    Classes missing from a target come from the object list; ``start``/``end``
    select a profile buffer's rows by range on its clock column.
    """
    classes: dict[bytes, int] = {}
    if any(target.class_id is None for target in targets):
        listing = yield protocol.get(OBJECT_LIST)
        if not isinstance(listing, DataAccessResult):
            classes = classes_from_object_list(listing)
    readings = []
    for target in targets:
        class_id = target.class_id if target.class_id is not None else classes.get(target.logical_name)
        if class_id is None:
            readings.append(Reading(target, None, None, problem="not in the object list; give CLASS/OBIS:ATTR"))
            continue
        descriptor = target.descriptor(class_id)
        reading = Reading(target, class_id, None)
        access = None
        if target.attribute_id in SCALED_ATTRIBUTES.get(class_id, ()):
            scaler_unit = yield protocol.get(CosemAttributeDescriptor(
                class_id, target.logical_name, SCALER_UNIT_ATTRIBUTE[class_id]))
            reading = replace(reading, scaler_unit=scaler_unit)
        profile = class_id == PROFILE_GENERIC and target.attribute_id == 2
        capture: Data | None = None
        if profile:
            got = yield protocol.get(CosemAttributeDescriptor(class_id, target.logical_name, 3))
            capture = None if isinstance(got, DataAccessResult) else got
            reading = replace(reading, capture_objects=got)
            if capture is not None and not raw:
                reading = replace(reading, column_scalers=(yield _column_scalers(protocol, capture)))
            if start is not None or end is not None:
                column = None if capture is None else clock_column(capture)
                if column is None:
                    readings.append(replace(reading, problem="no clock column to select a range on"))
                    continue
                access = range_access(column, start, end)
                reading = replace(reading, window=(start, end))
        value = yield protocol.get(descriptor, access)
        reading = replace(reading, value=value)
        if (access is not None and capture is not None and not isinstance(value, DataAccessResult)
                and value[0] == DataType.ARRAY and not value[1]):
            reading = replace(reading, held=(yield _held(protocol, descriptor, capture)))
        readings.append(reading)
    return readings

"""What the client simulator reads: targets given on the command line, the
classes of the object list, a Register's scaler, and the range of a profile
buffer (Blue Book 4.3.2 to 4.3.6 and 4.4.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dlmstw.codec.obis import CURRENT_ASSOCIATION
from dlmstw.codec.axdr import CosemDateTime, Data
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import CosemAttributeDescriptor, SelectiveAccess
from dlmstw.enums import DataType

OBJECT_LIST: Final = CosemAttributeDescriptor(15, CURRENT_ASSOCIATION, 2)
"""object_list of the current association (Association LN attribute 2, Blue Book 4.4.4)."""

PROFILE_GENERIC: Final = 7
CLOCK_CLASS: Final = 8
RANGE_DESCRIPTOR: Final = 1
"""Profile generic selective access by range (Blue Book 4.3.6, access_selector 1)."""
ENTRY_DESCRIPTOR: Final = 2
"""Profile generic selective access by entry (Blue Book 4.3.6, access_selector 2)."""
ENTRIES_IN_USE: Final = 7
"""Profile generic attribute 7, entries_in_use (Blue Book 4.3.6)."""
CLOCK_COLUMN: Final[Data] = (DataType.STRUCTURE, [
    (DataType.LONG_UNSIGNED, 8), (DataType.OCTET_STRING, bytes((0, 0, 1, 0, 0, 255))), (DataType.INTEGER, 2),
    (DataType.LONG_UNSIGNED, 0)])
"""The capture_object_definition of the Clock's time (0.0.1.0.0.255 attribute 2), the usual first column."""

SCALER_UNIT_ATTRIBUTE: Final = {3: 3, 4: 3, 5: 4}
"""Where scaler_unit lives: Register and Extended register attribute 3, Demand register 4 (Blue Book 4.3.2-4.3.4)."""

SCALED_ATTRIBUTES: Final = {3: (2,), 4: (2,), 5: (2, 3)}
"""Attributes the scaler applies to: value; current and last average value of a Demand register."""


@dataclass(frozen=True, slots=True)
class Target:
    """One attribute to read: ``CLASS/OBIS:ATTR`` with the class optional (looked up in the object list)."""

    logical_name: bytes
    attribute_id: int
    class_id: int | None = None

    def descriptor(self, class_id: int | None = None) -> CosemAttributeDescriptor:
        """The Cosem-Attribute-Descriptor, with ``class_id`` when the target names none."""
        chosen = self.class_id if self.class_id is not None else class_id
        if chosen is None:
            raise LookupError("class of the target unknown")
        return CosemAttributeDescriptor(chosen, self.logical_name, self.attribute_id)


def parse_target(text: str) -> Target:
    """``[CLASS/]OBIS:ATTR``, e.g. ``1.0.99.1.0.255:2`` or ``3/1.0.32.7.0.255:2``; ValueError otherwise."""
    rest, colon, attribute = text.rpartition(":")
    if not colon or not attribute.isdigit():
        raise ValueError(f"{text!r}: expected [CLASS/]OBIS:ATTRIBUTE")
    class_text, slash, obis = rest.rpartition("/")
    if slash and not class_text.isdigit():
        raise ValueError(f"{text!r}: the class before '/' must be a number")
    attribute_id = int(attribute)
    if not 0 < attribute_id < 128:
        raise ValueError(f"{text!r}: attribute must be 1..127")
    return Target(parse_obis(obis), attribute_id, int(class_text) if slash else None)


def classes_from_object_list(object_list: Data) -> dict[bytes, int]:
    """logical name -> class id from an object_list (Blue Book 4.4.4: each entry a structure
    {class_id, version, logical_name, access_rights})."""
    classes: dict[bytes, int] = {}
    for entry in object_list[1] if object_list[0] == DataType.ARRAY else []:
        fields: list[Data] = entry[1] if entry[0] == DataType.STRUCTURE else []
        if len(fields) >= 3 and isinstance(fields[0][1], int) and isinstance(fields[2][1], bytes):
            classes[fields[2][1]] = fields[0][1]
    return classes


def clock_column(capture_objects: Data) -> Data | None:
    """The capture_object_definition of the first Clock time column (class 8, attribute 2), or None."""
    for definition in capture_objects[1] if capture_objects[0] == DataType.ARRAY else []:
        fields: list[Data] = definition[1] if definition[0] == DataType.STRUCTURE else []
        if len(fields) == 4 and fields[0][1] == CLOCK_CLASS and fields[2][1] == 2:
            return definition
    return None


def range_access(restricting: Data, start: CosemDateTime | None, end: CosemDateTime | None) -> SelectiveAccess:
    """range_descriptor (Blue Book 4.3.6): the restricting column, from/to date-times as
    octet-string(12) (an open end is a date-time with every field not specified), all columns."""
    unspecified = CosemDateTime(None, None, None, None, None, None, None, None, None, None)
    low = (start or unspecified).to_bytes()
    high = (end or unspecified).to_bytes()
    return SelectiveAccess(RANGE_DESCRIPTOR, (DataType.STRUCTURE, [
        restricting, (DataType.OCTET_STRING, low), (DataType.OCTET_STRING, high), (DataType.ARRAY, []),
    ]))


def entry_access(first: int, last: int) -> SelectiveAccess:
    """entry_descriptor (Blue Book 4.3.6): entries ``first`` to ``last`` (from 1), all columns."""
    return SelectiveAccess(ENTRY_DESCRIPTOR, (DataType.STRUCTURE, [
        (DataType.DOUBLE_LONG_UNSIGNED, first), (DataType.DOUBLE_LONG_UNSIGNED, last),
        (DataType.LONG_UNSIGNED, 1), (DataType.LONG_UNSIGNED, 0),
    ]))


def column_targets(capture_objects: Data) -> list[tuple[int, bytes, int]]:
    """(class_id, logical_name, attribute_id) of each capture_object_definition (Blue Book 4.3.6)."""
    columns = []
    for definition in capture_objects[1] if capture_objects[0] == DataType.ARRAY else []:
        fields: list[Data] = definition[1] if definition[0] == DataType.STRUCTURE else []
        if len(fields) < 3:
            raise ValueError("a capture_object_definition has class_id, logical_name, attribute_index")
        columns.append((fields[0][1], fields[1][1], fields[2][1]))
    return columns

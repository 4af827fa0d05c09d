"""COSEM ``Data`` as typed tables a person can read and edit (TOML, JSON),
kept exact: a table read back encodes to the same A-XDR bytes as the Data it
was made from (Green Book 9.5, Blue Book 4.1.5).

A table names the CHOICE of the Data (``type``, as the Blue Book spells it)
and carries its payload in the one key that type uses:

=======================================  ==========================================
null-data, dont-care                     nothing else
boolean, integers, enum, bcd, floats     ``value``; ``hex`` of the octets for a NaN
                                         and a long64-unsigned above TOML's integers
octet-string, visible-string             ``text`` (printable ASCII) or ``hex``
utf8-string                              ``text``
bit-string                               ``bits`` ("0101...")
date-time, date, time                    ``hex`` of the 12, 5, 4 octets
array, structure                         ``items``, a list of tables
compact-array                            ``hex`` of its whole encoding (tag included)
=======================================  ==========================================
"""

from __future__ import annotations

import math
from typing import Any, Final

from dlmstw.codec.axdr import MAX_DEPTH, BitString, Data, decode_data, encode_data
from dlmstw.enums import DataType, enum_name
from dlmstw.errors import DecodeError

#: The Blue Book's name of each Data type, and back.
TYPE_NAMES: Final = {t: enum_name(t) for t in DataType}
TYPES_BY_NAME: Final = {name: t for t, name in TYPE_NAMES.items()}

_NUMBERS: Final = frozenset({DataType.INTEGER, DataType.LONG, DataType.DOUBLE_LONG, DataType.LONG64,
                             DataType.UNSIGNED, DataType.LONG_UNSIGNED, DataType.DOUBLE_LONG_UNSIGNED,
                             DataType.LONG64_UNSIGNED, DataType.ENUM, DataType.BCD})
_FLOATS: Final = frozenset({DataType.FLOAT32, DataType.FLOAT64})
_OCTETS: Final = frozenset({DataType.OCTET_STRING, DataType.VISIBLE_STRING})
_FIXED: Final = {DataType.DATE_TIME: 12, DataType.DATE: 5, DataType.TIME: 4}
_SEQUENCES: Final = frozenset({DataType.ARRAY, DataType.STRUCTURE})
#: The types whose ``value`` may instead be the ``hex`` of their octets: a NaN keeps
#: its sign and payload, a long64-unsigned above TOML's largest integer fits.
_HEX_WIDTHS: Final = {DataType.FLOAT32: 4, DataType.FLOAT64: 8, DataType.LONG64_UNSIGNED: 8}
TOML_INTEGER_MAX: Final = 2**63 - 1


def _printable(octets: bytes) -> bool:
    return bool(octets) and all(0x20 <= b < 0x7F for b in octets)


def to_table(value: Data) -> dict[str, Any]:
    """The typed table of ``value``."""
    kind, payload = value
    table: dict[str, Any] = {"type": TYPE_NAMES[DataType(kind)]}
    if kind in _SEQUENCES:
        table["items"] = [to_table(item) for item in payload]
    elif (kind in _FLOATS and math.isnan(payload)) or (kind == DataType.LONG64_UNSIGNED and payload > TOML_INTEGER_MAX):
        table["hex"] = encode_data(value)[1:].hex().upper()
    elif kind == DataType.BOOLEAN or kind in _NUMBERS or kind in _FLOATS:
        table["value"] = payload
    elif kind in _OCTETS:
        if _printable(payload):
            table["text"] = payload.decode("ascii")
        else:
            table["hex"] = payload.hex().upper()
    elif kind == DataType.UTF8_STRING:
        table["text"] = payload
    elif kind == DataType.BIT_STRING:
        table["bits"] = payload.bits
    elif kind in _FIXED:
        table["hex"] = payload.hex().upper()
    elif kind == DataType.COMPACT_ARRAY:
        table["hex"] = encode_data(value).hex().upper()
    elif kind not in (DataType.NULL_DATA, DataType.DONT_CARE):
        raise ValueError(f"{table['type']} is not written in a typed table")
    return table


def from_table(table: Any, where: str = "value", depth: int = 0) -> Data:
    """The Data a typed table describes; ValueError naming ``where`` and what is wrong
    (arrays and structures nested deeper than A-XDR's MAX_DEPTH included)."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table with 'type', not {table!r}")
    name = table.get("type")
    kind = TYPES_BY_NAME.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"{where}: unknown type {name!r} (one of {', '.join(TYPES_BY_NAME)})")

    def field(key: str, expected: type | tuple[type, ...]) -> Any:
        found = table.get(key)
        if not isinstance(found, expected) or (expected is int and isinstance(found, bool)):
            raise ValueError(f"{where}: {name} needs '{key}'")
        return found

    if kind in _SEQUENCES:
        if depth >= MAX_DEPTH:
            raise ValueError(f"{where}: nested deeper than {MAX_DEPTH}")
        items = field("items", list)
        return (kind, [from_table(item, f"{where}.items[{i}]", depth + 1) for i, item in enumerate(items)])
    if kind in _HEX_WIDTHS and "hex" in table:
        octets = _hex(field("hex", str), where)
        if len(octets) != _HEX_WIDTHS[kind]:
            raise ValueError(f"{where}: {name} has {_HEX_WIDTHS[kind]} octets, not {len(octets)}")
        value: Data = decode_data(bytes((kind,)) + octets)[0]
    elif kind in (DataType.NULL_DATA, DataType.DONT_CARE):
        value = (kind, None)
    elif kind == DataType.BOOLEAN:
        value = (kind, field("value", bool))
    elif kind in _NUMBERS:
        value = (kind, field("value", int))
    elif kind in _FLOATS:
        number = table.get("value")
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ValueError(f"{where}: {name} needs 'value'")
        value = (kind, float(number))
    elif kind in _OCTETS:
        value = (kind, _octets(table, where, name))
    elif kind == DataType.UTF8_STRING:
        value = (kind, field("text", str))
    elif kind == DataType.BIT_STRING:
        value = (kind, BitString(field("bits", str)))
    elif kind in _FIXED:
        octets = _hex(field("hex", str), where)
        if len(octets) != _FIXED[kind]:
            raise ValueError(f"{where}: {name} has {_FIXED[kind]} octets, not {len(octets)}")
        value = (kind, octets)
    elif kind == DataType.COMPACT_ARRAY:
        encoded = _hex(field("hex", str), where)
        try:
            value, end = decode_data(encoded)
        except DecodeError as error:
            raise ValueError(f"{where}: not a compact-array: {error}") from None
        if value[0] != kind or end != len(encoded):
            raise ValueError(f"{where}: 'hex' is not one whole compact-array")
    else:
        raise ValueError(f"{where}: values of type {name} are not read from typed tables")
    try:
        encode_data(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return value


def _hex(text: str, where: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{where}: 'hex' is not hex digits: {text!r}") from None


def _octets(table: dict[str, Any], where: str, name: str) -> bytes:
    if isinstance(table.get("text"), str):
        try:
            return str(table["text"]).encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: {name} 'text' must be ASCII (else give 'hex')") from None
    if isinstance(table.get("hex"), str):
        return _hex(table["hex"], where)
    raise ValueError(f"{where}: {name} needs 'text' or 'hex'")

"""OBIS codes (Blue Book 7, IEC 62056-6-1): six value groups A..F as the 6-octet
logical name, and their text forms."""

from __future__ import annotations

import re
from typing import Final

CURRENT_ASSOCIATION: Final = bytes((0, 0, 40, 0, 0, 255))
"""The Association LN object that always describes the association a request
arrives on (Blue Book 4.4.4)."""
CLOCK: Final = bytes((0, 0, 1, 0, 0, 255))
"""The meter's Clock object (Blue Book 4.5.1)."""

_GROUP = r"([0-9]{1,3})"
_DOTTED = re.compile(r"\.".join([_GROUP] * 6))
_REDUCED = re.compile(rf"{_GROUP}-{_GROUP}:{_GROUP}\.{_GROUP}\.{_GROUP}[*.]{_GROUP}")
_HEX = re.compile(r"[0-9A-Fa-f]{12}")


def parse_obis(text: str) -> bytes:
    """The 6-octet logical name of ``text``.

    Accepts "1.0.99.1.0.255", "1-0:99.1.0*255", "1-0:99.1.0.255" and 12 hex
    digits ("0100630100FF"); surrounding blanks are ignored. ValueError otherwise.
    """
    stripped = text.strip()
    match = _DOTTED.fullmatch(stripped) or _REDUCED.fullmatch(stripped)
    if match is not None:
        groups = [int(group) for group in match.groups()]
        if max(groups) > 255:
            raise ValueError(f"OBIS value group above 255 in {text!r}")
        return bytes(groups)
    if _HEX.fullmatch(stripped):
        return bytes.fromhex(stripped)
    raise ValueError(f"not an OBIS code: {text!r}")


def _checked(logical_name: bytes) -> bytes:
    if len(logical_name) != 6:
        raise ValueError(f"a logical name has 6 octets, got {len(logical_name)}")
    return logical_name


def format_obis(logical_name: bytes) -> str:
    """ "A.B.C.D.E.F" in decimal, e.g. "1.0.99.1.0.255"."""
    return "{}.{}.{}.{}.{}.{}".format(*_checked(logical_name))


def format_obis_reduced(logical_name: bytes) -> str:
    """The IEC 62056-6-1 display form "A-B:C.D.E*F", e.g. "1-0:99.1.0*255"."""
    return "{}-{}:{}.{}.{}*{}".format(*_checked(logical_name))

"""Names of APDU kinds for capture records (``kind`` of the packet log), from
an APDU's tag and, for xDLMS services, its CHOICE byte (Green Book 9.5).

The names are the standard's, spelled from ``enums.ApduTag`` and the
services' request and response types.
"""

from __future__ import annotations

from enum import IntEnum

from ..enums import (ActionRequestType, ActionResponseType, ApduTag, GetRequestType, GetResponseType,
                     SetRequestType, SetResponseType, enum_name)

#: The xDLMS services whose second byte is a CHOICE of the service's forms.
_CHOICES: dict[ApduTag, type[IntEnum]] = {
    ApduTag.GET_REQUEST: GetRequestType, ApduTag.GET_RESPONSE: GetResponseType,
    ApduTag.SET_REQUEST: SetRequestType, ApduTag.SET_RESPONSE: SetResponseType,
    ApduTag.ACTION_REQUEST: ActionRequestType, ApduTag.ACTION_RESPONSE: ActionResponseType,
}
#: Every other tag's name: ``aarq``, ``glo-get-request``, ``exception-response``...
_BY_TAG = {int(tag): enum_name(tag) for tag in ApduTag if tag not in _CHOICES}
#: Every service's (tag, choice) prefix named once, so the hot path is one lookup.
_BY_PREFIX = {bytes((tag, choice)): f"{enum_name(tag)}-{enum_name(choice)}"
              for tag, forms in _CHOICES.items() for choice in forms}


def apdu_kind(apdu: bytes | None) -> str:
    """``get-request-normal``, ``aarq``, ``glo-get-request``... or ``unknown``."""
    if not apdu:
        return "empty"
    kind = _BY_PREFIX.get(apdu[:2]) or _BY_TAG.get(apdu[0])
    if kind is not None:
        return kind
    return f"{enum_name(ApduTag(apdu[0]))}-unknown" if apdu[0] in _CHOICES else "unknown"

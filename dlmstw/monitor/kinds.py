"""Names of APDU kinds for capture records (``kind`` of the packet log), from
an APDU's tag and, for xDLMS services, its CHOICE byte (Green Book 9.5),
spelled as ``dlmstw.enums`` spells them."""

from __future__ import annotations

from dlmstw.enums import SERVICE_CHOICES, ApduTag, enum_name, named

#: The kind of a push a meter sent (Green Book 9.3.10: a Data-Notification, no answer).
PUSH_KIND = "data-notification"
#: The kinds of a meter's connection events, and the results with which the meter
#: aborts a connection (a TCP reset) rather than closing it.
CONNECT = "connect"
DISCONNECT = "disconnect"
REFUSED_MAX_CLIENTS = "refused-max-clients"
REFUSED_MAX_CONNECTIONS = "refused-max-connections"
INACTIVITY_TIMEOUT = "inactivity-timeout"
ABORTED: frozenset[str] = frozenset((REFUSED_MAX_CONNECTIONS, INACTIVITY_TIMEOUT))
#: Every service's (tag, choice) prefix named once, so the hot path is one lookup.
_BY_PREFIX = {bytes((tag, member)): f"{enum_name(ApduTag(tag))}-{enum_name(member)}"
              for tag, choices in SERVICE_CHOICES.items() for member in choices}


def _kind(apdu: bytes) -> str:
    tag = apdu[0]
    name = named(ApduTag, tag)
    if name is None:
        return "unknown"
    if tag not in SERVICE_CHOICES:
        return name
    return f"{name}-unknown"


def apdu_kind(apdu: bytes | None) -> str:
    """``get-request-normal``, ``aarq``, ``glo-get-request``... or ``unknown``."""
    return _BY_PREFIX.get(apdu[:2]) or _kind(apdu) if apdu else "empty"

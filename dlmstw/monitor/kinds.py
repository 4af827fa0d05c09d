"""Names of APDU kinds for capture records (``kind`` of the packet log), from
an APDU's tag and, for xDLMS services, its CHOICE byte (Green Book 9.5)."""

from __future__ import annotations

_SIMPLE = {
    0x60: "aarq", 0x61: "aare", 0x62: "rlrq", 0x63: "rlre",
    0x01: "initiate-request", 0x08: "initiate-response", 0x0E: "confirmed-service-error",
    0xD8: "exception-response", 0xDB: "general-glo-ciphering", 0xDC: "general-ded-ciphering",
    0xDD: "general-ciphering", 0xDF: "general-signing", 0xE0: "general-block-transfer",
    0x0F: "data-notification",
}
_CIPHERED = {
    0xC8: "glo-get-request", 0xC9: "glo-set-request", 0xCB: "glo-action-request",
    0xCC: "glo-get-response", 0xCD: "glo-set-response", 0xCF: "glo-action-response",
    0xD0: "ded-get-request", 0xD1: "ded-set-request", 0xD3: "ded-action-request",
    0xD4: "ded-get-response", 0xD5: "ded-set-response", 0xD7: "ded-action-response",
}
_SERVICES = {
    0xC0: ("get-request", ("normal", "next", "with-list")),
    0xC4: ("get-response", ("normal", "with-datablock", "with-list")),
    0xC1: ("set-request", ("normal", "with-first-datablock", "with-datablock", "with-list",
                           "with-list-and-first-datablock")),
    0xC5: ("set-response", ("normal", "datablock", "last-datablock", "last-datablock-with-list", "with-list")),
    0xC3: ("action-request", ("normal", "next-pblock", "with-list", "with-first-pblock",
                              "with-list-and-first-pblock", "with-pblock")),
    0xC7: ("action-response", ("normal", "with-pblock", "with-list", "next-pblock")),
}


def _kind(apdu: bytes | None) -> str:
    if not apdu:
        return "empty"
    tag = apdu[0]
    simple = _SIMPLE.get(tag) or _CIPHERED.get(tag)
    if simple is not None:
        return simple
    service = _SERVICES.get(tag)
    if service is None:
        return "unknown"
    name, choices = service
    if len(apdu) > 1 and 1 <= apdu[1] <= len(choices):
        return f"{name}-{choices[apdu[1] - 1]}"
    return f"{name}-unknown"


#: Every service's (tag, choice) prefix named once, so the hot path is one lookup.
_BY_PREFIX = {bytes((tag, choice)): f"{name}-{choices[choice - 1]}"
              for tag, (name, choices) in _SERVICES.items() for choice in range(1, len(choices) + 1)}


def apdu_kind(apdu: bytes | None) -> str:
    """``get-request-normal``, ``aarq``, ``glo-get-request``... or ``unknown``."""
    return _BY_PREFIX.get(apdu[:2]) or _kind(apdu) if apdu else "empty"

"""Dissection of ciphered xDLMS APDUs (Green Book 9.5 and 9.2.7.2): glo- and
ded-ciphered APDUs, general-glo- and general-ded-ciphering, general-ciphering
and general-signing; deciphered with ``dlmstw.security.ciphering`` when the
keys allow.

The deciphered APDU is dissected in its own buffer, but its fields carry the
offsets of the ciphertext octets they came from: GCM encrypts octet for
octet, so plain octet i sits where ciphertext octet i does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dlmstw.dissector.acse import system_title, usage_flag
from dlmstw.dissector.data import octets_text
from dlmstw.dissector.fields import Field, Walk, hex_of
from dlmstw.enums import ApduTag, named
from dlmstw.errors import DecodeError
from dlmstw.security.ciphering import (
    AUTHENTICATION,
    BROADCAST,
    COMPRESSION,
    DEDICATED_TAGS,
    ENCRYPTION,
    PLAIN_TAG,
    SUITE_MASK,
    TAG_LENGTH,
    SecurityError,
    unprotect,
)

_SUITES: Final = {0: "AES-GCM-128", 1: "ECDH-ECDSA-AES-GCM-128-SHA-256", 2: "ECDH-ECDSA-AES-GCM-256-SHA-384"}
"""Security suites (Green Book 9.2.3)."""
_KEY_INFO: Final = {0: "identified-key", 1: "wrapped-key", 2: "agreed-key"}


@dataclass(frozen=True, slots=True)
class Keys:
    """Keys to decipher one APDU. ``system_title`` is the title of the SENDER of that
    APDU (the client's for requests, the meter's for responses); None means use
    the AP title the AARQ/AARE itself carries. ``authentication_key`` may be
    empty when only encrypted (SC 0x2x) APDUs are to be read."""

    block_cipher_key: bytes
    authentication_key: bytes
    system_title: bytes | None
    dedicated_key: bytes | None = None


def apdu_name(tag: int) -> str:
    """ "glo-get-request" for 0xC8 (Green Book 9.5 APDU names)."""
    return named(ApduTag, tag) or f"0x{tag:02X}"


def _security_control(w: Walk) -> int:
    """The security control byte split into its bits (Green Book 9.2.7.2.3)."""
    sc = w.peek("security-control")
    at = w.pos
    with w.group("security-control") as node:
        w.pos += 1
        suite = sc & SUITE_MASK
        w.bit("security-suite", at, f"bits 0-3: suite {suite} ({_SUITES.get(suite, 'unknown')})")
        w.bit("authentication", at, f"bit 4: {'yes' if sc & AUTHENTICATION else 'no'}")
        w.bit("encryption", at, f"bit 5: {'yes' if sc & ENCRYPTION else 'no'}")
        w.bit("key-set", at, f"bit 6: {'broadcast' if sc & BROADCAST else 'unicast'}")
        w.bit("compression", at, f"bit 7: {'yes' if sc & COMPRESSION else 'no'}")
        kinds = [k for bit, k in ((AUTHENTICATION, "authentication"), (ENCRYPTION, "encryption")) if sc & bit]
        node.meaning = f"0x{sc:02X}: suite {suite}, {' and '.join(kinds) or 'no protection'}"
    return sc


def protected(w: Walk, stop: int, dedicated: bool, title: bytes | None) -> str:
    """``SH || (ciphertext or plain APDU) || T`` up to ``stop`` (Green Book 9.2.7.2.4),
    deciphered when the walk's keys allow; returns the meaning."""
    start = w.pos
    sc = _security_control(w)
    w.uint("invocation-counter", 4, lambda n: f"{n} (0x{n:08X})")
    tag_size = TAG_LENGTH if sc & AUTHENTICATION else 0
    body_start = w.pos
    body = stop - body_start - tag_size
    if body < 0:
        raise DecodeError(f"protected content of {stop - start} octets leaves no room for the authentication tag",
                          w.pos)
    plain, note, failure = _unprotect(w, bytes(w.buf[start:stop]), dedicated, title)
    if sc & ENCRYPTION:
        w.leaf("ciphertext", body, f"{body} octets")
    else:
        w.dispatch(w, body_start + body)
    if tag_size:
        at = w.pos
        w.need(tag_size, "authentication-tag")
        w.pos += tag_size
        w.add("authentication-tag", at, note, error=failure)
    if sc & ENCRYPTION and plain is not None:
        inner = w.spawn(plain, w.base + body_start)
        apdu = inner.dispatch(inner, len(plain))
        w.adopt(Field("deciphered", w.base + body_start, len(plain), hex_of(plain, True),
                      "the plain APDU; its offsets are those of the ciphertext octets it replaces", (apdu,)))
        return f"encrypted; deciphered: {apdu.meaning}"
    protection = "encrypted" if sc & ENCRYPTION else "authenticated"
    if sc & ENCRYPTION and failure is not None and not tag_size:
        w.adopt(Field("deciphered", w.base + body_start, 0, "", "not deciphered", error=failure))
    return f"{protection}; {note}"


def _unprotect(w: Walk, text: bytes, dedicated: bool, title: bytes | None) -> tuple[bytes | None, str, str | None]:
    """(plain text or None, what happened, error or None) for the protected ``text``."""
    keys = w.keys
    if keys is None:
        return None, "not checked: no keys given", None
    key = keys.dedicated_key if dedicated else keys.block_cipher_key
    title = title or w.sender_title or keys.system_title
    if key is None:
        return None, "not checked: no dedicated key given", None
    if title is None:
        return None, "not checked: the sender's system title is not known", None
    authentication_key = keys.authentication_key
    if not authentication_key and not text[0] & AUTHENTICATION:
        authentication_key = bytes(len(key))  # not used without authentication; unprotect checks its length
    try:
        _, _, plain = unprotect(text, system_title=title, block_cipher_key=key,
                                authentication_key=authentication_key)
    except SecurityError as exc:
        return None, f"does not verify: {exc.reason}", f"{exc.reason} (keys of system title {title.hex().upper()})"
    return plain, "verified with the given keys", None


def glo_ded(w: Walk) -> str:
    """A glo- or ded-ciphered APDU: tag, A-XDR length, protected content (Green Book 9.5)."""
    tag = w.u8("tag", lambda t: f"{apdu_name(t)} [{t}]")
    size = w.length()
    w.need(size, "ciphered content")
    with w.limit(w.pos + size):
        text = protected(w, w.pos + size, tag in DEDICATED_TAGS, None)
    carried = apdu_name(PLAIN_TAG[tag])
    return f"{apdu_name(tag)} (ciphered {carried}): {text}"


def _octet_string(w: Walk, name: str) -> bytes:
    """An A-XDR OCTET STRING (length, octets) as one field with two children."""
    with w.group(name) as node:
        size = w.length()
        raw = w.leaf("value", size, octets_text, name)
        node.meaning = octets_text(raw)
    return raw


def general_glo_ded(w: Walk) -> str:
    """general-glo-ciphering / general-ded-ciphering: tag, system-title, ciphered-content
    (Green Book 9.5); the system title in the APDU is the sender's."""
    tag = w.u8("tag", lambda t: f"{apdu_name(t)} [{t}]")
    with w.group("system-title") as node:
        size = w.length()
        title = system_title(w, "value", size)
        node.meaning = title.hex().upper()
    with w.group("ciphered-content") as node:
        size = w.length()
        w.need(size, "ciphered-content")
        with w.limit(w.pos + size):
            node.meaning = protected(w, w.pos + size, tag == ApduTag.GENERAL_DED_CIPHERING, title)
    return f"{apdu_name(tag)}: {node.meaning}"


def _general_header(w: Walk) -> None:
    """transaction-id, originator- and recipient-system-title, date-time, other-information."""
    for name in ("transaction-id", "originator-system-title", "recipient-system-title", "date-time",
                 "other-information"):
        _octet_string(w, name)


def general_ciphering(w: Walk) -> str:
    """general-ciphering (Green Book 9.5): the key comes from key-info; shown, not deciphered."""
    w.u8("tag", lambda t: f"general-ciphering [{t}]")
    _general_header(w)
    with w.group("key-info") as node:
        node.meaning = "absent"
        if usage_flag(w, "key-info"):
            choice = w.peek("key-info choice")
            if choice not in _KEY_INFO:
                raise DecodeError(f"unknown key-info choice {choice}", w.pos)
            w.u8("choice", lambda c: f"{_KEY_INFO[c]} [{c}]")
            node.meaning = _KEY_INFO[choice]
            if choice == 0:
                w.u8("key-id", lambda k: {0: "0 global-unicast-encryption-key",
                                          1: "1 global-broadcast-encryption-key"}.get(k, str(k)))
            elif choice == 1:
                w.u8("kek-id", lambda k: "0 master-key" if k == 0 else str(k))
                _octet_string(w, "key-ciphered-data")
            else:
                _octet_string(w, "key-parameters")
                _octet_string(w, "key-ciphered-data")
    with w.group("ciphered-content") as content:
        size = w.length()
        w.leaf("value", size, f"{size} octets (general-ciphering is not deciphered here)", "ciphered-content")
        content.meaning = f"{size} octets"
    return f"general-ciphering: key-info {node.meaning}"


def general_signing(w: Walk) -> str:
    """general-signing (Green Book 9.5): the signed content is an APDU, then the signature."""
    w.u8("tag", lambda t: f"general-signing [{t}]")
    _general_header(w)
    with w.group("content") as node:
        size = w.length()
        w.need(size, "content")
        node.meaning = w.dispatch(w, w.pos + size).meaning
    _octet_string(w, "signature")
    return f"general-signing: {node.meaning}"

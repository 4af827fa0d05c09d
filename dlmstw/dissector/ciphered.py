"""Keys to read ciphered xDLMS APDUs in a dissection (Green Book 9.2.7.2), and the
check of their protection with ``dlmstw.security.ciphering.unprotect``.

The deciphered APDU is dissected in its own buffer, but its fields carry the
offsets of the ciphertext octets they came from: GCM encrypts octet for
octet, so plain octet i sits where ciphertext octet i does.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlmstw.security.ciphering import AUTHENTICATION, SecurityError, unprotect


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


@dataclass(frozen=True, slots=True)
class Unprotected:
    """What checking one protected text found: the plain text when it could be
    read, what happened in words, and the error when it does not verify."""

    plain: bytes | None
    note: str
    failure: str | None = None


def check(keys: Keys | None, protected: bytes, dedicated: bool, title: bytes | None) -> Unprotected:
    """Check and remove the protection of ``protected`` with the given keys and
    the sender's ``title`` (the one the APDU names, else one known from the
    exchange, else the keys')."""
    if keys is None:
        return Unprotected(None, "not checked: no keys given")
    key = keys.dedicated_key if dedicated else keys.block_cipher_key
    title = title or keys.system_title
    if key is None:
        return Unprotected(None, "not checked: no dedicated key given")
    if title is None:
        return Unprotected(None, "not checked: the sender's system title is not known")
    authentication_key = keys.authentication_key
    if not authentication_key and not protected[0] & AUTHENTICATION:
        authentication_key = bytes(len(key))  # not used without authentication; unprotect checks its length
    try:
        _, _, plain = unprotect(protected, system_title=title, block_cipher_key=key,
                                authentication_key=authentication_key)
    except SecurityError as exc:
        return Unprotected(None, f"does not verify: {exc.reason}",
                           f"{exc.reason} (keys of system title {title.hex().upper()})")
    return Unprotected(plain, "verified with the given keys")

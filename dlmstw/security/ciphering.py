"""Cryptographic protection of xDLMS APDUs with AES-GCM (security suites 0, 1 and 2).

Rules: Green Book 9.2.7.2 (security header: security control byte and invocation
counter), 9.2.7.2.4 (AES-GCM: IV = system title || invocation counter, 12-byte
authentication tags), 9.2.3 (security suites: AES-GCM-128 for suites 0 and 1,
AES-GCM-256 for suite 2) and 9.5 (glo-, ded- and general-ciphering APDUs).

A protected text is ``SH || (ciphertext or plain text) || T`` with the security
header ``SH = SC || IC`` (one byte, then the invocation counter in 4 bytes):

========================  =========================  ======================
security control           authenticated data A       after SH
========================  =========================  ======================
authentication (0x10)      SC || AK || plain text     plain text || T
encryption (0x20)          none                       ciphertext
both (0x30)                SC || AK                   ciphertext || T
========================  =========================  ======================

Sans-I/O: pure functions over ``bytes``; no Twisted import.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from hmac import compare_digest
from types import MappingProxyType
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dlmstw.codec.axdr import decode_length, encode_length
from dlmstw.enums import SECURITY_POLICIES, ApduTag, SecurityPolicy
from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

SUITE_KEY_LENGTHS: Final[Mapping[int, int]] = MappingProxyType({0: 16, 1: 16, 2: 32})
"""Length in bytes of the block cipher and authentication keys per security suite
(Green Book 9.2.3, security suites: 0 and 1 use AES-GCM-128, 2 AES-GCM-256)."""

SYSTEM_TITLE_LENGTH: Final = 8
"""A system title is 8 octets (Green Book 4.3.4); it is the fixed field of the IV."""

TAG_LENGTH: Final = 12
"""Authentication tags are truncated to 12 octets (Green Book 9.2.7.2.4)."""

HEADER_LENGTH: Final = 5
"""The security header: security control byte, then a 4-byte invocation counter."""

AUTHENTICATION: Final = 0x10
"""Security control bit 4: authentication (Green Book 9.2.7.2.3)."""
ENCRYPTION: Final = 0x20
"""Security control bit 5: encryption."""
BROADCAST: Final = 0x40
"""Security control bit 6: key set, 0 = unicast, 1 = broadcast."""
COMPRESSION: Final = 0x80
"""Security control bit 7: compression (not supported here)."""
SUITE_MASK: Final = 0x0F
"""Security control bits 0..3: the security suite id."""

POLICY_CONTROL: Final[Mapping[str, int]] = MappingProxyType({
    name: (AUTHENTICATION if policy & SecurityPolicy.AUTHENTICATED_REQUEST else 0)
    | (ENCRYPTION if policy & SecurityPolicy.ENCRYPTED_REQUEST else 0)
    for name, policy in SECURITY_POLICIES.items()})
"""A security policy (lab.ini ``security``) -> the security control bits every
protected request must carry at least (Green Book 9.2.7.2.2 and 9.2.7.2.3)."""

_MAX_INVOCATION_COUNTER: Final = 0xFFFFFFFF
_HEADER = struct.Struct(">BI")
_GCM_TAG_LENGTH: Final = 16
_BOTH: Final = AUTHENTICATION | ENCRYPTION


class SecurityError(DecodeError):
    """A protected APDU that cannot be accepted: bad tag, truncated, or a
    security control byte asking for something unsupported (Green Book 9.2.7.2)."""


@dataclass(frozen=True, slots=True)
class SecurityControl:
    """The fields of a security control byte (Green Book 9.2.7.2.3)."""

    suite: int
    authentication: bool
    encryption: bool
    broadcast: bool
    compression: bool


def security_control(suite: int, authentication: bool, encryption: bool, broadcast: bool = False) -> int:
    """Build the security control byte (Green Book 9.2.7.2.3); compression is never set."""
    if not 0 <= suite <= SUITE_MASK:
        raise ValueError(f"security suite id {suite} does not fit in 4 bits")
    return (suite | (AUTHENTICATION if authentication else 0) | (ENCRYPTION if encryption else 0)
            | (BROADCAST if broadcast else 0))


_PARSED: Final = tuple(
    SecurityControl(sc & SUITE_MASK, bool(sc & AUTHENTICATION), bool(sc & ENCRYPTION),
                    bool(sc & BROADCAST), bool(sc & COMPRESSION))
    for sc in range(256))


def parse_security_control(sc: int) -> SecurityControl:
    """Split a security control byte into its fields (Green Book 9.2.7.2.3)."""
    if not 0 <= sc <= 0xFF:
        raise ValueError(f"security control {sc} is not a byte")
    return _PARSED[sc]


#: The key length of each 4-bit suite id of a security control byte; None for an unknown suite.
_KEY_LENGTH_BY_SUITE: Final = tuple(SUITE_KEY_LENGTHS.get(suite) for suite in range(SUITE_MASK + 1))


class Cipher:
    """AES-GCM under one block cipher key and one authentication key of one
    security suite (Green Book 9.2.7.2.4), checked and prepared once: an
    association protects and unprotects every APDU with the same one.

    Raises ValueError for an unknown suite or keys of the wrong length for it.
    """

    __slots__ = ("_authentication_key", "_controls", "_gcm", "suite")

    def __init__(self, suite: int, block_cipher_key: bytes, authentication_key: bytes) -> None:
        length = _KEY_LENGTH_BY_SUITE[suite] if 0 <= suite <= SUITE_MASK else None
        if length is None:
            raise ValueError(f"unknown security suite {suite}")
        if len(block_cipher_key) != length or len(authentication_key) != length:
            raise ValueError(f"security suite {suite} needs {length}-byte keys, got {len(block_cipher_key)} "
                             f"and {len(authentication_key)}")
        self.suite = suite
        #: The security controls ``unprotect`` takes: this suite, some protection, no compression.
        self._controls = frozenset(suite | protection | broadcast for protection in (AUTHENTICATION, ENCRYPTION, _BOTH)
                                   for broadcast in (0, BROADCAST))
        self._gcm = AESGCM(block_cipher_key)
        self._authentication_key = authentication_key

    def authentication_tag(self, security_control: int, system_title: bytes, invocation_counter: int,
                           data: bytes) -> bytes:
        """The 12-byte GMAC tag over ``SC || AK || data`` with IV = system title || IC
        (Green Book 9.2.7.2.4; also f(StoC) and f(CtoS) of HLS-GMAC, 9.2.7.4)."""
        header = self._header(security_control, system_title, invocation_counter)
        return self._gcm.encrypt(system_title + header[1:], b"",
                                 header[:1] + self._authentication_key + data)[:TAG_LENGTH]

    def _header(self, security_control: int, system_title: bytes, invocation_counter: int) -> bytes:
        """Check the sender-side parameters; return the security header."""
        if _suite_of(security_control) != self.suite:
            raise ValueError(f"security control {security_control:#04x} is not of suite {self.suite}")
        if security_control & COMPRESSION:
            raise ValueError("compression is not supported")
        if len(system_title) != SYSTEM_TITLE_LENGTH:
            raise ValueError(f"system title must be {SYSTEM_TITLE_LENGTH} bytes, got {len(system_title)}")
        if not 0 <= invocation_counter <= _MAX_INVOCATION_COUNTER:
            raise ValueError(f"invocation counter {invocation_counter} does not fit in 4 bytes")
        return _HEADER.pack(security_control, invocation_counter)

    def protect(self, plain: bytes, security_control: int, system_title: bytes, invocation_counter: int) -> bytes:
        """Return ``SH || (ciphertext or plain text) || T`` (Green Book 9.2.7.2.4).

        Raises ValueError for a security control without protection, with
        compression or of another suite, a system title that is not 8 bytes,
        or a counter beyond 4 bytes.
        """
        header = self._header(security_control, system_title, invocation_counter)
        if not security_control & (AUTHENTICATION | ENCRYPTION):
            raise ValueError(f"security control {security_control:#04x} asks for no protection")
        iv = system_title + header[1:]
        if not security_control & AUTHENTICATION:
            return header + self._gcm.encrypt(iv, plain, b"")[:-_GCM_TAG_LENGTH]
        if not security_control & ENCRYPTION:
            tag = self._gcm.encrypt(iv, b"", header[:1] + self._authentication_key + plain)[:TAG_LENGTH]
            return b"".join((header, plain, tag))
        return header + self._gcm.encrypt(iv, plain, header[:1] + self._authentication_key)[
            :TAG_LENGTH - _GCM_TAG_LENGTH]

    def unprotect(self, protected: bytes, system_title: bytes) -> tuple[int, int, bytes]:
        """Check and remove the protection; return (security control, invocation counter, plain text).

        ``system_title`` is the sender's. Raises SecurityError, and nothing else,
        on a truncated text, a bad tag, a security control asking for
        compression, of another suite or for no protection, or a system title
        that is not 8 bytes (Green Book 9.2.7.2.4). The caller checks the
        counter against the last one accepted.
        """
        security_control, invocation_counter, end = split_protected(protected, 0, len(protected))
        if security_control not in self._controls:
            raise self._refusal(security_control)
        if len(system_title) != SYSTEM_TITLE_LENGTH:
            raise SecurityError(f"system title must be {SYSTEM_TITLE_LENGTH} bytes, got {len(system_title)}", 0)
        iv = system_title + protected[1:HEADER_LENGTH]
        body = protected[HEADER_LENGTH:end]
        gcm = self._gcm
        if security_control & _BOTH == _BOTH:
            # GCTR is its own inverse; the tag is recomputed over the plain text,
            # because AESGCM.decrypt takes only full 16-byte tags.
            plain = gcm.encrypt(iv, body, b"")[:-_GCM_TAG_LENGTH]
            length = end - HEADER_LENGTH
            expected = gcm.encrypt(iv, plain, protected[:1] + self._authentication_key)[length:length + TAG_LENGTH]
        elif security_control & AUTHENTICATION:
            plain = body
            expected = gcm.encrypt(iv, b"", protected[:1] + self._authentication_key + body)[:TAG_LENGTH]
        else:
            return security_control, invocation_counter, gcm.encrypt(iv, body, b"")[:-_GCM_TAG_LENGTH]
        if not compare_digest(expected, protected[end:]):
            raise SecurityError("authentication tag mismatch", end)
        return security_control, invocation_counter, plain

    def _refusal(self, security_control: int) -> SecurityError:
        """Why ``unprotect`` refuses a security control that is not in ``_controls``."""
        if security_control & COMPRESSION:
            return SecurityError("compression is not supported", 0)
        if security_control & SUITE_MASK != self.suite:
            return SecurityError(f"security control {security_control:#04x} is not of suite {self.suite}", 0)
        return SecurityError(f"security control {security_control:#04x} asks for no protection", 0)


def _suite_of(security_control: int) -> int:
    """The suite id of a security control byte; ValueError when it is not a byte."""
    if not 0 <= security_control <= 0xFF:
        raise ValueError(f"security control {security_control} is not a byte")
    return security_control & SUITE_MASK


@functools.lru_cache(maxsize=1024)
def cipher(suite: int, block_cipher_key: bytes, authentication_key: bytes) -> Cipher:
    """The ``Cipher`` of these keys, made once (ValueError as ``Cipher``)."""
    return Cipher(suite, block_cipher_key, authentication_key)


def protect(plain: bytes, *, security_control: int, system_title: bytes, invocation_counter: int,
            block_cipher_key: bytes, authentication_key: bytes) -> bytes:
    """``Cipher.protect`` under the suite of ``security_control`` (ValueError as it,
    and for keys unfit for the suite)."""
    return cipher(_suite_of(security_control), block_cipher_key, authentication_key).protect(
        plain, security_control, system_title, invocation_counter)


def unprotect(protected: bytes, *, system_title: bytes, block_cipher_key: bytes,
              authentication_key: bytes) -> tuple[int, int, bytes]:
    """``Cipher.unprotect`` under the suite its security control names;
    SecurityError, and nothing else, also for keys unfit for that suite."""
    if not protected:
        raise SecurityError("truncated: security header expected", 0)
    try:
        keyed = cipher(protected[0] & SUITE_MASK, block_cipher_key, authentication_key)
    except ValueError as error:
        raise SecurityError(str(error), 0) from None
    return keyed.unprotect(protected, system_title)


def split_protected(buf: bytes, start: int, end: int, tracer: Tracer | None = None) -> tuple[int, int, int]:
    """Split the protected text ``SH || body || T`` in ``buf[start:end]`` (Green Book
    9.2.7.2.4), as ``unprotect`` does: return its security control, its invocation
    counter and where its body ends (where the 12-octet tag starts when the
    security control asks for authentication, else ``end``). Raises
    SecurityError when it is too short.

    A tracer hears ``security-control``, ``invocation-counter``, the body
    (``ciphertext`` when encrypted, ``compressed-apdu`` when compressed, else
    ``apdu``) and ``authentication-tag``.
    """
    t = tracer
    if end <= start:
        raise SecurityError("truncated: security header expected", end)
    security_control = buf[start]
    if t is not None:
        t.field("security-control", start, 1, security_control)
    body = start + HEADER_LENGTH
    if end < body:
        raise SecurityError("truncated: security header expected", end)
    invocation_counter = int.from_bytes(buf[start + 1 : body], "big")
    if t is not None:
        t.field("invocation-counter", start + 1, 4, invocation_counter)
    body_end = end
    if security_control & AUTHENTICATION:
        body_end = end - TAG_LENGTH
        if body_end < body:
            raise SecurityError("truncated: authentication tag expected", end)
    if t is not None:
        name = ("ciphertext" if security_control & ENCRYPTION
                else "compressed-apdu" if security_control & COMPRESSION else "apdu")
        t.field(name, body, body_end - body, bytes(buf[body:body_end]))
        if body_end < end:
            t.field("authentication-tag", body_end, TAG_LENGTH, bytes(buf[body_end:end]))
    return security_control, invocation_counter, body_end


# ---------------------------------------------------------------------------
# Ciphered APDUs (Green Book 9.5): tag, A-XDR length, protected text

_T = ApduTag

GLOBAL_CIPHERED_TAG: Final[Mapping[int, int]] = MappingProxyType({
    _T.INITIATE_REQUEST: _T.GLO_INITIATE_REQUEST,
    _T.INITIATE_RESPONSE: _T.GLO_INITIATE_RESPONSE,
    _T.CONFIRMED_SERVICE_ERROR: _T.GLO_CONFIRMED_SERVICE_ERROR,
    _T.GET_REQUEST: _T.GLO_GET_REQUEST,
    _T.SET_REQUEST: _T.GLO_SET_REQUEST,
    _T.EVENT_NOTIFICATION_REQUEST: _T.GLO_EVENT_NOTIFICATION_REQUEST,
    _T.ACTION_REQUEST: _T.GLO_ACTION_REQUEST,
    _T.GET_RESPONSE: _T.GLO_GET_RESPONSE,
    _T.SET_RESPONSE: _T.GLO_SET_RESPONSE,
    _T.ACTION_RESPONSE: _T.GLO_ACTION_RESPONSE,
})
"""Plain APDU tag -> glo-ciphered tag (global key). EXCEPTION-Response has none: it is sent plain."""

DEDICATED_CIPHERED_TAG: Final[Mapping[int, int]] = MappingProxyType({
    _T.INITIATE_REQUEST: _T.DED_INITIATE_REQUEST,
    _T.INITIATE_RESPONSE: _T.DED_INITIATE_RESPONSE,
    _T.CONFIRMED_SERVICE_ERROR: _T.DED_CONFIRMED_SERVICE_ERROR,
    _T.GET_REQUEST: _T.DED_GET_REQUEST,
    _T.SET_REQUEST: _T.DED_SET_REQUEST,
    _T.EVENT_NOTIFICATION_REQUEST: _T.DED_EVENT_NOTIFICATION_REQUEST,
    _T.ACTION_REQUEST: _T.DED_ACTION_REQUEST,
    _T.GET_RESPONSE: _T.DED_GET_RESPONSE,
    _T.SET_RESPONSE: _T.DED_SET_RESPONSE,
    _T.ACTION_RESPONSE: _T.DED_ACTION_RESPONSE,
})
"""Plain APDU tag -> ded-ciphered tag (dedicated key of the association)."""

PLAIN_TAG: Final[Mapping[int, int]] = MappingProxyType(
    {ciphered: plain for table in (GLOBAL_CIPHERED_TAG, DEDICATED_CIPHERED_TAG) for plain, ciphered in table.items()})
"""Glo- or ded-ciphered tag -> the plain APDU tag it carries."""

CIPHERED_TAGS: Final = frozenset(PLAIN_TAG)
"""The glo- and ded-ciphered tags."""

_TAG_OCTETS: Final = tuple(bytes((tag,)) for tag in range(256))

DEDICATED_TAGS: Final = frozenset(DEDICATED_CIPHERED_TAG.values())
"""The ded-ciphered tags: their content is protected with the dedicated key."""

GENERAL_CIPHERING_TAGS: Final = frozenset((_T.GENERAL_GLO_CIPHERING, _T.GENERAL_DED_CIPHERING))


def encode_ciphered_apdu(tag: int, protected: bytes) -> bytes:
    """A glo- or ded-ciphered APDU: tag, A-XDR length, protected text (Green Book 9.5)."""
    if tag not in CIPHERED_TAGS:
        raise ValueError(f"{tag:#04x} is not a glo- or ded-ciphered APDU tag")
    return b"".join((_TAG_OCTETS[tag], encode_length(len(protected)), protected))


def _length_field(apdu: bytes, pos: int, t: Tracer | None) -> tuple[int, int]:
    """An A-XDR length, reported as the field ``length``."""
    length, stop = decode_length(apdu, pos)
    if t is not None:
        t.field("length", pos, stop - pos, length)
    return length, stop


def _check_tag(apdu: bytes, tags: frozenset[int] | Mapping[int, int], expected: str, what: str,
               t: Tracer | None) -> int:
    if not apdu:
        raise DecodeError(f"truncated: {expected} tag expected", 0)
    tag = apdu[0]
    if tag not in tags:
        raise DecodeError(f"{tag:#04x} is not {what}", 0)
    if t is not None:
        t.field("tag", 0, 1, tag)
    return tag


def decode_ciphered_apdu(apdu: bytes, tracer: Tracer | None = None) -> tuple[int, bytes]:
    """Split a glo- or ded-ciphered APDU into (tag, protected text) (Green Book 9.5).

    A tracer hears ``tag``, ``length`` and the protected text as ``protected``
    (``split_protected`` reads it, as ``unprotect`` does).
    """
    if tracer is None and len(apdu) > 1 and apdu[1] < 0x80 and apdu[1] + 2 == len(apdu) and apdu[0] in CIPHERED_TAGS:
        return apdu[0], apdu[2:]  # the short length form, as every APDU up to 127 octets has it
    tag = _check_tag(apdu, CIPHERED_TAGS, "ciphered APDU", "a glo- or ded-ciphered APDU tag", tracer)
    length, pos = _length_field(apdu, 1, tracer)
    if pos + length != len(apdu):
        raise DecodeError(f"ciphered content length {length} but {len(apdu) - pos} bytes follow", 1)
    if tracer is not None:
        tracer.field("protected", pos, length, apdu[pos:])
    return tag, apdu[pos:]


def encode_general_ciphering(tag: int, system_title: bytes, protected: bytes) -> bytes:
    """general-glo-ciphering (0xDB) or general-ded-ciphering (0xDC): tag, system-title
    octet string, ciphered content octet string (Green Book 9.5)."""
    if tag not in GENERAL_CIPHERING_TAGS:
        raise ValueError(f"{tag:#04x} is not general-glo-ciphering or general-ded-ciphering")
    return b"".join((bytes((tag,)), encode_length(len(system_title)), system_title,
                     encode_length(len(protected)), protected))


def _octet_string(apdu: bytes, pos: int, name: str, t: Tracer | None, traced_as: str = "value") -> tuple[bytes, int]:
    """An A-XDR OCTET STRING, reported as the group ``name``: its length, then its
    octets as the field ``traced_as``."""
    if t is not None:
        t.enter(name, pos)
    length, start = _length_field(apdu, pos, t)
    stop = start + length
    if stop > len(apdu):
        raise DecodeError(f"truncated: {name.replace('-', ' ')} of {length} bytes", start)
    value = bytes(apdu[start:stop])
    if t is not None:
        t.field(traced_as, start, length, value)
        t.leave(stop)
    return value, stop


def _ciphered_content(apdu: bytes, pos: int, t: Tracer | None) -> bytes:
    """ciphered-content OCTET STRING, the last component: it must end the APDU. A
    tracer hears the group ``ciphered-content``: ``length``, then ``protected``."""
    if t is not None:
        t.enter("ciphered-content", pos)
    length, start = _length_field(apdu, pos, t)
    if start + length != len(apdu):
        raise DecodeError(f"ciphered content length {length} but {len(apdu) - start} bytes follow", pos)
    if t is not None:
        t.field("protected", start, length, apdu[start:])
        t.leave(len(apdu))
    return apdu[start:]


def decode_general_ciphering(apdu: bytes, tracer: Tracer | None = None) -> tuple[int, bytes, bytes]:
    """Split a general-glo- or general-ded-ciphering APDU into (tag, system title,
    protected text) (Green Book 9.5). A tracer hears ``tag``, the group
    ``system-title`` and the group ``ciphered-content``."""
    tag = _check_tag(apdu, GENERAL_CIPHERING_TAGS, "general-ciphering",
                     "general-glo-ciphering or general-ded-ciphering", tracer)
    system_title, pos = _octet_string(apdu, 1, "system-title", tracer)
    return tag, system_title, _ciphered_content(apdu, pos, tracer)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Key-Info CHOICE of general-ciphering (Green Book 9.5): identified-key [0]
    names a global key (``key_id``), wrapped-key [1] a key wrapped under the
    KEK ``key_id`` (``key_ciphered_data``), agreed-key [2] a key agreed with
    ``key_parameters`` (and ``key_ciphered_data``)."""

    choice: int
    key_id: int | None = None
    key_parameters: bytes | None = None
    key_ciphered_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class GeneralCiphering:
    """general-ciphering [221] (Green Book 9.5): the key comes from ``key_info``."""

    transaction_id: bytes
    originator_system_title: bytes
    recipient_system_title: bytes
    date_time: bytes
    other_information: bytes
    key_info: KeyInfo | None
    ciphered_content: bytes


@dataclass(frozen=True, slots=True)
class GeneralSigning:
    """general-signing [223] (Green Book 9.5): an APDU ``content`` and its ``signature``."""

    transaction_id: bytes
    originator_system_title: bytes
    recipient_system_title: bytes
    date_time: bytes
    other_information: bytes
    content: bytes
    signature: bytes


GENERAL_HEADER: Final = ("transaction-id", "originator-system-title", "recipient-system-title", "date-time",
                          "other-information")
"""The OCTET STRINGs general-ciphering and general-signing start with (Green Book 9.5)."""


def _general_header(apdu: bytes, t: Tracer | None) -> tuple[list[bytes], int]:
    values = []
    pos = 1
    for name in GENERAL_HEADER:
        value, pos = _octet_string(apdu, pos, name, t)
        values.append(value)
    return values, pos


def _key_info(apdu: bytes, pos: int, t: Tracer | None) -> tuple[KeyInfo | None, int]:
    """OPTIONAL Key-Info, reported as the group ``key-info``."""
    if pos >= len(apdu):
        raise DecodeError("truncated: key-info usage flag expected", pos)
    if t is not None:
        t.enter("key-info", pos)
        t.field("usage-flag", pos, 1, apdu[pos] != 0)
    info = None
    pos += 1
    if apdu[pos - 1]:
        if pos >= len(apdu):
            raise DecodeError("truncated: key-info choice expected", pos)
        choice = apdu[pos]
        if choice > 2:
            raise DecodeError(f"unknown key-info choice {choice}", pos)
        if t is not None:
            t.field("choice", pos, 1, choice)
        pos += 1
        if choice == 2:
            parameters, pos = _octet_string(apdu, pos, "key-parameters", t)
            data, pos = _octet_string(apdu, pos, "key-ciphered-data", t)
            info = KeyInfo(choice, key_parameters=parameters, key_ciphered_data=data)
        else:
            if pos >= len(apdu):
                raise DecodeError("truncated: key-id expected", pos)
            if t is not None:
                t.field("key-id" if choice == 0 else "kek-id", pos, 1, apdu[pos])
            info = KeyInfo(choice, key_id=apdu[pos])
            pos += 1
            if choice == 1:
                data, pos = _octet_string(apdu, pos, "key-ciphered-data", t)
                info = KeyInfo(choice, key_id=info.key_id, key_ciphered_data=data)
    if t is not None:
        t.leave(pos)
    return info, pos


def decode_keyed_general_ciphering(apdu: bytes, tracer: Tracer | None = None) -> GeneralCiphering:
    """Decode a general-ciphering APDU (tag 0xDD, Green Book 9.5); raises ``DecodeError``."""
    _check_tag(apdu, frozenset((_T.GENERAL_CIPHERING,)), "general-ciphering", "general-ciphering", tracer)
    header, pos = _general_header(apdu, tracer)
    key_info, pos = _key_info(apdu, pos, tracer)
    return GeneralCiphering(*header, key_info, _ciphered_content(apdu, pos, tracer))


def decode_general_signing(apdu: bytes, tracer: Tracer | None = None) -> GeneralSigning:
    """Decode a general-signing APDU (tag 0xDF, Green Book 9.5); raises ``DecodeError``.
    A tracer hears the signed ``content`` as an ``apdu``."""
    _check_tag(apdu, frozenset((_T.GENERAL_SIGNING,)), "general-signing", "general-signing", tracer)
    header, pos = _general_header(apdu, tracer)
    content, pos = _octet_string(apdu, pos, "content", tracer, "apdu")
    signature, pos = _octet_string(apdu, pos, "signature", tracer)
    if pos != len(apdu):
        raise DecodeError(f"{len(apdu) - pos} bytes after the signature", pos)
    return GeneralSigning(*header, content, signature)

"""The protection of one association's APDUs, in either role (Green Book
9.2.7: security policy, glo-/ded- and general-glo/ded-ciphering, the
invocation counter rule); the keys and counters it uses on the meter's side
are the meter's security store (``security.store``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


from ..enums import ApduTag
from ..errors import DecodeError
from ..interfaces import ISecurityStore, ISecuritySuite
from ..security import ciphering
from ..security.store import Keys, SecuredAssociation
from ..security.ciphering import (DEDICATED_CIPHERED_TAG, GENERAL_CIPHERING_TAGS, GLOBAL_CIPHERED_TAG, CIPHERED_TAGS,
                                  POLICY_CONTROL, SecurityError)

#: Bytes protection adds to an APDU at the most: tag, length (3), system title
#: (general ciphering, 9), security header (5) and authentication tag (12).
PROTECTION_OVERHEAD = 1 + 3 + 9 + 5 + 12


class CounterError(SecurityError):
    """A protected APDU whose invocation counter is not above the last one
    accepted from that client (Green Book 9.2.7.2.4: replay)."""


class PolicyError(SecurityError):
    """An APDU less protected than the association's security policy requires."""


@dataclass(frozen=True, slots=True)
class Wrapping:
    """How an APDU is protected (Green Book 9.5): its ciphered tag, security
    control byte, key (global or dedicated) and form (glo-/ded- or general
    ciphering). The meter answers as the request was wrapped."""

    tag: int
    security_control: int
    dedicated: bool
    general: bool


_wrapping = functools.lru_cache(maxsize=64)(Wrapping)
"""A ``Wrapping``, made once for each of the few an association meets."""


class CounterRule:
    """The counter rule for one peer (Green Book 9.2.7.2.4): only an invocation
    counter above the last one accepted passes."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = -1

    def accept(self, counter: int) -> bool:
        """True, and remembered, when ``counter`` is above the last one accepted."""
        if counter <= self.last:
            return False
        self.last = counter
        return True


class Protection:
    """Protects the APDUs one party of an association sends and unprotects those
    its peer sends (Green Book 9.2.7.2), in either role. The meter unprotects
    requests under the client's system title and protects its responses under
    its own; the client protects its requests under its own and unprotects the
    responses under the meter's (learnt from the AARE). The party's own
    invocation counter comes from ``next_counter`` and only grows; a peer's
    counter must pass ``accept_counter``. ``required`` is the security policy
    as security control bits: the least protection a peer's APDU must carry;
    ``suite`` the ``ISecuritySuite`` plugin of the association's security_suite."""

    __slots__ = ("accept_counter", "dedicated_cipher", "global_cipher", "next_counter", "own_title", "peer_title",
                 "required")

    def __init__(self, required: int, suite: ISecuritySuite, block_cipher_key: bytes | None,
                 authentication_key: bytes | None, own_title: bytes, peer_title: bytes | None,
                 dedicated_key: bytes | None, next_counter: Callable[[], int],
                 accept_counter: Callable[[int], bool]) -> None:
        self.required = required
        #: The ciphering under the global and the dedicated key, made once; None without a usable key.
        self.global_cipher = _cipher(suite, block_cipher_key, authentication_key)
        self.dedicated_cipher = _cipher(suite, dedicated_key, authentication_key)
        self.own_title = own_title
        self.peer_title = peer_title
        self.next_counter = next_counter
        self.accept_counter = accept_counter

    @classmethod
    def of_meter(cls, association: SecuredAssociation, suite: ISecuritySuite, meter: ISecurityStore, keys: Keys,
                 client_system_title: bytes, server_system_title: bytes, dedicated_key: bytes | None) -> Protection:
        """The meter's side: its own counter and the counters it accepted from
        the association's client are ``meter``'s (saved and journalled)."""
        return cls(POLICY_CONTROL[association.security], suite, keys.block_cipher_key, keys.authentication_key,
                   server_system_title, client_system_title, dedicated_key, meter.next_counter,
                   functools.partial(meter.accept_client_counter, association.name))

    @classmethod
    def of_client(cls, policy: int, suite: ISecuritySuite, block_cipher_key: bytes | None,
                  authentication_key: bytes | None, client_system_title: bytes, dedicated_key: bytes | None,
                  counters: Iterator[int]) -> Protection:
        """The client's side: its own counters from ``counters`` (share one
        iterator between the associations of one client), the meter's under the
        counter rule; ``peer_title`` is set from the AARE."""
        return cls(policy, suite, block_cipher_key, authentication_key, client_system_title, None, dedicated_key,
                   functools.partial(next, counters), CounterRule().accept)

    def unwrap(self, apdu: bytes) -> tuple[bytes, Wrapping | None]:
        """The plain APDU and how it was protected; ``PolicyError``,
        ``CounterError`` or ``SecurityError`` when it may not be used."""
        if not apdu:
            raise DecodeError("an empty APDU")
        tag = apdu[0]
        if tag in GENERAL_CIPHERING_TAGS:
            tag, system_title, protected = ciphering.decode_general_ciphering(apdu)
            if system_title != self.peer_title:
                raise SecurityError("general ciphering from another system title")
            dedicated, general = tag == ApduTag.GENERAL_DED_CIPHERING, True
        elif tag in CIPHERED_TAGS:
            tag, protected = ciphering.decode_ciphered_apdu(apdu)
            dedicated, general = tag in ciphering.DEDICATED_TAGS, False
        else:
            if self.required:
                raise PolicyError("an unprotected APDU where the security policy requires protection")
            return apdu, None
        keyed = self.dedicated_cipher if dedicated else self.global_cipher
        if keyed is None or self.peer_title is None:
            raise SecurityError("no key, or no system title of the sender, for this kind of ciphering")
        control, counter, plain = keyed.unprotect(protected, self.peer_title)
        if control & self.required != self.required:
            raise PolicyError("protection weaker than the security policy")
        if not self.accept_counter(counter):
            raise CounterError(f"invocation counter {counter} not above the last one accepted")
        return plain, _wrapping(tag, control, dedicated, general)

    def wrap(self, plain: bytes, like: Wrapping) -> bytes:
        """``plain`` protected under the party's own system title and next
        invocation counter, as ``like`` says (the meter: as its request was;
        Green Book 9.2.7.2)."""
        keyed = self.dedicated_cipher if like.dedicated else self.global_cipher
        assert keyed is not None
        protected = keyed.protect(plain, like.security_control, self.own_title, self.next_counter())
        if like.general:
            return ciphering.encode_general_ciphering(like.tag, self.own_title, protected)
        tags = DEDICATED_CIPHERED_TAG if like.dedicated else GLOBAL_CIPHERED_TAG
        return ciphering.encode_ciphered_apdu(tags[plain[0]], protected)


def _cipher(suite: ISecuritySuite, key: bytes | None, authentication_key: bytes | None) -> Any:
    """``suite``'s ciphering under ``key``, or None when a key is missing or does not fit the suite."""
    if key is None or authentication_key is None:
        return None
    try:
        return suite.cipher(key, authentication_key)
    except ValueError:
        return None


def unwrap_initiate(user_information: bytes, association: SecuredAssociation, suite: ISecuritySuite,
                    meter: ISecurityStore, keys: Keys, client_system_title: bytes) -> tuple[bytes, Wrapping]:
    """The InitiateRequest of an AARQ in the ciphered context (glo-initiate-request
    or general-glo-ciphering), checked against the policy and the counter rule."""
    protection = Protection.of_meter(association, suite, meter, keys, client_system_title, b"", None)
    if not user_information or user_information[0] not in (ApduTag.GLO_INITIATE_REQUEST,
                                                           ApduTag.GENERAL_GLO_CIPHERING):
        raise PolicyError("the ciphered context needs a ciphered InitiateRequest")
    plain, wrapping = protection.unwrap(user_information)
    assert wrapping is not None
    if not plain or plain[0] != ApduTag.INITIATE_REQUEST:
        raise DecodeError("the ciphered user-information is not an InitiateRequest")
    return plain, wrapping

"""Security of associations: the keys and invocation counters a meter keeps
across associations and restarts, and the protection of one association's
APDUs (Green Book 9.2.7: security policy, glo-/ded- and general-glo/ded-
ciphering, the invocation counter rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..enums import ApduTag
from ..errors import DecodeError
from ..security import ciphering
from ..security.ciphering import (AUTHENTICATION, DEDICATED_CIPHERED_TAG, ENCRYPTION, GENERAL_CIPHERING_TAGS,
                                  GLOBAL_CIPHERED_TAG, PLAIN_TAG, SecurityError)

#: Security policy (lab.ini ``security``) → the security control bits every
#: protected APDU must carry at least (Green Book 9.2.7.2.2).
POLICY_BITS = {
    "none": 0,
    "authentication": AUTHENTICATION,
    "encryption": ENCRYPTION,
    "authenticated-encryption": AUTHENTICATION | ENCRYPTION,
}
#: The meter's invocation counter is saved this far ahead, so a restart never reuses one.
COUNTER_RESERVATION = 1000
#: Bytes protection adds to an APDU at the most: tag, length (3), system title
#: (general ciphering, 9), security header (5) and authentication tag (12).
PROTECTION_OVERHEAD = 1 + 3 + 9 + 5 + 12
KEY_NAMES = ("block_cipher_key", "authentication_key", "hls_secret", "lls_password", "master_key")


class CounterError(SecurityError):
    """A protected APDU whose invocation counter is not above the last one
    accepted from that client (Green Book 9.2.7.2.4: replay)."""


class PolicyError(SecurityError):
    """An APDU less protected than the association's security policy requires."""


class SecuredAssociation(Protocol):
    name: str
    security: str
    security_suite: int
    block_cipher_key: bytes | None
    authentication_key: bytes | None
    hls_secret: bytes | None
    lls_password: bytes | None
    master_key: bytes | None


@dataclass(frozen=True, slots=True)
class Keys:
    block_cipher_key: bytes | None
    authentication_key: bytes | None
    hls_secret: bytes | None
    lls_password: bytes | None
    master_key: bytes | None


class MeterSecurity:
    """Keys changed at run time, the meter's invocation counter and the last
    counter accepted from each association's client: saved in ``state_dir``."""

    __slots__ = ("id", "frame_counter", "reserved", "client_counters", "client_titles", "keys", "changed")

    def __init__(self, meter_id: str) -> None:
        self.id = f"{meter_id}.security"
        self.frame_counter = 0
        self.reserved = 0
        self.client_counters: dict[str, int] = {}
        #: The system title of the client last associated, per association.
        self.client_titles: dict[str, bytes] = {}
        self.keys: dict[str, dict[str, bytes]] = {}
        self.changed = False

    def keys_for(self, association: SecuredAssociation) -> Keys:
        """The association's keys: lab.ini's, unless a client changed them."""
        changed = self.keys.get(association.name, {})
        return Keys(*(changed.get(name, getattr(association, name)) for name in KEY_NAMES))

    def change_key(self, association: str, name: str, key: bytes) -> None:
        """A new key for the next associations (key_transfer, change_secret)."""
        self.keys.setdefault(association, {})[name] = key
        self.changed = True

    def next_counter(self) -> int:
        """The meter's next invocation counter; never one used before."""
        counter = self.frame_counter
        self.frame_counter += 1
        if self.frame_counter > self.reserved:
            self.reserved = self.frame_counter + COUNTER_RESERVATION
            self.changed = True
        return counter

    def accept_client_counter(self, association: str, counter: int) -> bool:
        """The counter rule: only a counter above the last accepted one passes."""
        if counter <= self.client_counters.get(association, -1):
            return False
        self.client_counters[association] = counter
        self.changed = True
        return True

    def state(self) -> dict[str, Any]:
        return {"frame_counter": self.reserved, "client_counters": dict(self.client_counters),
                "client_titles": {a: t.hex() for a, t in self.client_titles.items()},
                "keys": {a: {n: k.hex() for n, k in ks.items()} for a, ks in self.keys.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.frame_counter = self.reserved = int(state.get("frame_counter", 0))
        self.client_counters = {str(a): int(c) for a, c in state.get("client_counters", {}).items()}
        self.client_titles = {str(a): bytes.fromhex(t) for a, t in state.get("client_titles", {}).items()}
        self.keys = {str(a): {str(n): bytes.fromhex(k) for n, k in ks.items()}
                     for a, ks in state.get("keys", {}).items()}
        self.changed = False


@dataclass(frozen=True, slots=True)
class Wrapping:
    """How a request was protected, so that its response is protected alike."""

    tag: int
    security_control: int
    dedicated: bool
    general: bool


class Protection:
    """Protects and unprotects the APDUs of one association."""

    def __init__(self, association: SecuredAssociation, meter: MeterSecurity, keys: Keys,
                 client_system_title: bytes, server_system_title: bytes, dedicated_key: bytes | None) -> None:
        self.name = association.name
        self.required = POLICY_BITS[association.security]
        self.meter = meter
        self.keys = keys
        self.client_system_title = client_system_title
        self.server_system_title = server_system_title
        self.dedicated_key = dedicated_key

    def unwrap(self, apdu: bytes) -> tuple[bytes, Wrapping | None]:
        """The plain APDU and how it was protected; ``PolicyError``,
        ``CounterError`` or ``SecurityError`` when it may not be served."""
        tag = apdu[0]
        if tag in GENERAL_CIPHERING_TAGS:
            tag, system_title, protected = ciphering.decode_general_ciphering(apdu)
            if system_title != self.client_system_title:
                raise SecurityError("general ciphering from another system title")
            dedicated, general = tag == ApduTag.GENERAL_DED_CIPHERING, True
        elif tag in PLAIN_TAG:
            tag, protected = ciphering.decode_ciphered_apdu(apdu)
            dedicated, general = tag in ciphering.DEDICATED_TAGS, False
        else:
            if self.required:
                raise PolicyError("an unprotected APDU where the security policy requires protection")
            return apdu, None
        key = self.dedicated_key if dedicated else self.keys.block_cipher_key
        if key is None or self.keys.authentication_key is None:
            raise SecurityError("no key for this kind of ciphering")
        control, counter, plain = ciphering.unprotect(
            protected, system_title=self.client_system_title, block_cipher_key=key,
            authentication_key=self.keys.authentication_key)
        if control & self.required != self.required:
            raise PolicyError("protection weaker than the security policy")
        if not self.meter.accept_client_counter(self.name, counter):
            raise CounterError(f"invocation counter {counter} already used")
        return plain, Wrapping(tag, control, dedicated, general)

    def wrap(self, plain: bytes, like: Wrapping) -> bytes:
        """``plain`` protected as its request was (Green Book 9.2.7.2)."""
        key = self.dedicated_key if like.dedicated else self.keys.block_cipher_key
        assert key is not None and self.keys.authentication_key is not None
        protected = ciphering.protect(plain, security_control=like.security_control,
                                      system_title=self.server_system_title,
                                      invocation_counter=self.meter.next_counter(), block_cipher_key=key,
                                      authentication_key=self.keys.authentication_key)
        if like.general:
            return ciphering.encode_general_ciphering(like.tag, self.server_system_title, protected)
        tags = DEDICATED_CIPHERED_TAG if like.dedicated else GLOBAL_CIPHERED_TAG
        return ciphering.encode_ciphered_apdu(tags[plain[0]], protected)


def unwrap_initiate(user_information: bytes, association: SecuredAssociation, meter: MeterSecurity, keys: Keys,
                    client_system_title: bytes) -> tuple[bytes, Wrapping]:
    """The InitiateRequest of an AARQ in the ciphered context (glo-initiate-request
    or general-glo-ciphering), checked against the policy and the counter rule."""
    protection = Protection(association, meter, keys, client_system_title, b"", None)
    if not user_information or user_information[0] not in (ApduTag.GLO_INITIATE_REQUEST,
                                                           ApduTag.GENERAL_GLO_CIPHERING):
        raise PolicyError("the ciphered context needs a ciphered InitiateRequest")
    plain, wrapping = protection.unwrap(user_information)
    assert wrapping is not None
    if not plain or plain[0] != ApduTag.INITIATE_REQUEST:
        raise DecodeError("the ciphered user-information is not an InitiateRequest")
    return plain, wrapping

"""Security of associations: the keys, certificates and invocation counters a
meter keeps across associations and restarts, and the protection of one
association's APDUs (Green Book 9.2.7: security policy, glo-/ded- and
general-glo/ded-ciphering, the invocation counter rule).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..enums import ApduTag
from ..errors import DecodeError
from ..interfaces import ISecuritySuite
from ..security import ciphering
from ..security.certificates import (DIGITAL_SIGNATURE, SERVER, Classified, der,
                                     load_certificate, same_key, self_signed, system_title_of)
from ..security.ciphering import (DEDICATED_CIPHERED_TAG, GENERAL_CIPHERING_TAGS, GLOBAL_CIPHERED_TAG, PLAIN_TAG,
                                  POLICY_CONTROL, SecurityError)
from ..security.keys import SUITE_CURVES, generate_key_pair, public_key_from_bytes

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
    #: HLS-ECDSA: the client's public key (X || Y) for any client system title,
    #: or its certificate (DER) for the system title it names.
    client_public_key: bytes | None
    client_certificate: bytes | None


@functools.lru_cache(maxsize=64)
def _configured_certificate(data: bytes) -> x509.Certificate:
    """lab.ini's client_certificate, parsed once for every meter that shares it."""
    return load_certificate(data)


@dataclass(frozen=True, slots=True)
class Keys:
    block_cipher_key: bytes | None
    authentication_key: bytes | None
    hls_secret: bytes | None
    lls_password: bytes | None
    master_key: bytes | None


class MeterSecurity:
    """Keys changed at run time, the meter's invocation counter, the last
    counter accepted from each association's client, the meter's signing keys
    and certificates and the certificates imported per association: saved in
    ``state_dir``."""

    __slots__ = ("id", "frame_counter", "reserved", "client_counters", "client_titles", "keys", "signing_keys",
                 "server_certificates", "certificates", "changed", "journal", "persist")

    def __init__(self, meter_id: str) -> None:
        self.id = f"{meter_id}.security"
        #: Called with (meter part id, association or None, counter) before a
        #: counter is used: the shell writes it down so that a crash loses none
        #: (None names the meter's own reservation).
        self.journal: Callable[[str, str | None, int], None] | None = None
        #: Called once new keys are in place: the shell saves them before the
        #: answer that confirms them leaves (all old or all new after a crash).
        self.persist: Callable[[], None] | None = None
        self.frame_counter = 0
        self.reserved = 0
        self.client_counters: dict[str, int] = {}
        #: The system title of the client last associated, per association.
        self.client_titles: dict[str, bytes] = {}
        self.keys: dict[str, dict[str, bytes]] = {}
        #: The meter's digital signature key pair per security suite (1: P-256,
        #: 2: P-384), made when first needed (Green Book 9.2.3).
        self.signing_keys: dict[int, ec.EllipticCurvePrivateKey] = {}
        #: The certificate of each signing key: self-signed until a client imports
        #: one a certification authority issued (Blue Book 4.4.7, import_certificate).
        self.server_certificates: dict[int, x509.Certificate] = {}
        #: Client and certification authority certificates imported per association.
        self.certificates: dict[str, list[Classified]] = {}
        self.changed = False

    def keys_for(self, association: SecuredAssociation) -> Keys:
        """The association's keys: lab.ini's, unless a client changed them."""
        changed = self.keys.get(association.name, {})
        return Keys(*(changed.get(name, getattr(association, name)) for name in KEY_NAMES))

    def change_keys(self, association: str, keys: Mapping[str, bytes]) -> None:
        """New keys for the next associations (key_transfer, change_secret), taken together."""
        self.keys.setdefault(association, {}).update(keys)
        self.changed = True
        if self.persist is not None:
            self.persist()

    def signing_key(self, suite: int) -> ec.EllipticCurvePrivateKey:
        """The meter's digital signature key of ``suite`` (1 or 2), made on first use."""
        key = self.signing_keys.get(suite)
        if key is None:
            key = self.signing_keys[suite] = generate_key_pair(suite)
            self.changed = True
        return key

    def new_signing_key(self, suite: int) -> ec.EllipticCurvePrivateKey:
        """Replace the signing key of ``suite`` (Blue Book 4.4.7, generate_key_pair);
        its certificate goes with it."""
        key = self.signing_keys[suite] = generate_key_pair(suite)
        self.server_certificates.pop(suite, None)
        self.changed = True
        return key

    def server_certificate(self, suite: int, system_title: bytes, now: float) -> x509.Certificate:
        """The certificate of the signing key of ``suite``; a self-signed one is
        made when there is none for this key and system title."""
        key = self.signing_key(suite)
        certificate = self.server_certificates.get(suite)
        if certificate is None or not same_key(certificate, key) or system_title_of(certificate) != system_title:
            certificate = self.server_certificates[suite] = self_signed(key, system_title, now)
            self.changed = True
        return certificate

    def import_certificate(self, association: str, suite: int, classified: Classified) -> bool:
        """Keep an imported certificate (Blue Book 4.4.7, import_certificate): the
        meter's own replaces its certificate if it certifies the signing key
        (False otherwise); any other replaces the association's certificate of
        the same entity, type and system title."""
        if classified.entity == SERVER:
            if classified.certificate_type != DIGITAL_SIGNATURE or not same_key(
                    classified.certificate, self.signing_key(suite)):
                return False
            self.server_certificates[suite] = classified.certificate
        else:
            kept = [c for c in self.certificates.get(association, [])
                    if (c.entity, c.certificate_type, c.system_title) != (
                        classified.entity, classified.certificate_type, classified.system_title)]
            self.certificates[association] = kept + [classified]
        self.changed = True
        return True

    def remove_certificate(self, association: str, classified: Classified) -> None:
        """Forget an imported certificate (Blue Book 4.4.7, remove_certificate)."""
        self.certificates[association] = [c for c in self.certificates.get(association, []) if c is not classified]
        self.changed = True

    def client_public_key(self, association: SecuredAssociation, client_title: bytes | None
                          ) -> ec.EllipticCurvePublicKey | None:
        """The key that checks the HLS-ECDSA f(StoC) of the client ``client_title``
        (Green Book 9.2.7.4, mechanism 7): from the digital signature certificate
        imported for that system title, else lab.ini's ``client_certificate`` if
        it names that title, else lab.ini's ``client_public_key``; only a key on
        the curve of the association's security suite."""
        params = SUITE_CURVES.get(association.security_suite)
        if params is None:
            return None
        candidates = [c.certificate for c in self.certificates.get(association.name, ())
                      if c.entity != SERVER and c.certificate_type == DIGITAL_SIGNATURE
                      and c.system_title == client_title]
        if association.client_certificate is not None:
            configured = _configured_certificate(association.client_certificate)
            if system_title_of(configured) == client_title:
                candidates.append(configured)
        for certificate in candidates:
            public = certificate.public_key()
            if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == params.curve.name:
                return public
        if association.client_public_key is not None:
            return public_key_from_bytes(association.security_suite, association.client_public_key)
        return None

    def next_counter(self) -> int:
        """The meter's next invocation counter; never one used before."""
        counter = self.frame_counter
        self.frame_counter += 1
        if self.frame_counter > self.reserved:
            self.reserved = self.frame_counter + COUNTER_RESERVATION
            if self.journal is not None:
                self.journal(self.id, None, self.reserved)
        return counter

    def lowest_client_counter(self, association: str) -> int:
        """The lowest invocation counter the association's client may use next."""
        return self.client_counters.get(association, -1) + 1

    def accept_client_counter(self, association: str, counter: int) -> bool:
        """The counter rule: only a counter above the last accepted one passes."""
        if counter < self.lowest_client_counter(association):
            return False
        self.client_counters[association] = counter
        if self.journal is not None:
            self.journal(self.id, association, counter)
        return True

    def counters(self) -> Iterator[tuple[str | None, int]]:
        """The meter's counter reservation (None) and the last counter accepted per association."""
        yield None, self.reserved
        yield from self.client_counters.items()

    def replay(self, association: str | None, counter: int) -> None:
        """Take back a journalled counter (``journal``) newer than the saved state."""
        if association is None:
            if counter > self.reserved:
                self.frame_counter = self.reserved = counter
        elif counter > self.client_counters.get(association, -1):
            self.client_counters[association] = counter

    def state(self) -> dict[str, Any]:
        """JSON-ready: keys and certificates as hex (private keys as their scalar, certificates as DER)."""
        return {"frame_counter": self.reserved, "client_counters": dict(self.client_counters),
                "client_titles": {a: t.hex() for a, t in self.client_titles.items()},
                "keys": {a: {n: k.hex() for n, k in ks.items()} for a, ks in self.keys.items()},
                "signing_keys": {str(s): _private_hex(k) for s, k in self.signing_keys.items()},
                "server_certificates": {str(s): der(c).hex() for s, c in self.server_certificates.items()},
                "certificates": {a: [[c.entity, c.certificate_type, der(c.certificate).hex()] for c in cs]
                                 for a, cs in self.certificates.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what ``state`` returned before a restart."""
        self.frame_counter = self.reserved = int(state.get("frame_counter", 0))
        self.client_counters = {str(a): int(c) for a, c in state.get("client_counters", {}).items()}
        self.client_titles = {str(a): bytes.fromhex(t) for a, t in state.get("client_titles", {}).items()}
        self.keys = {str(a): {str(n): bytes.fromhex(k) for n, k in ks.items()}
                     for a, ks in state.get("keys", {}).items()}
        self.signing_keys = {int(s): _private_key(int(s), k) for s, k in state.get("signing_keys", {}).items()}
        self.server_certificates = {int(s): load_certificate(bytes.fromhex(c))
                                    for s, c in state.get("server_certificates", {}).items()}
        self.certificates = {str(a): [_classified(int(entity), int(kind), load_certificate(bytes.fromhex(c)))
                                      for entity, kind, c in cs]
                             for a, cs in state.get("certificates", {}).items()}
        self.changed = False


def _private_hex(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big").hex()


def _private_key(suite: int, text: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(text, 16), SUITE_CURVES[suite].curve)


def _classified(entity: int, kind: int, certificate: x509.Certificate) -> Classified:
    return Classified(entity, kind, system_title_of(certificate), certificate)


@dataclass(frozen=True, slots=True)
class Wrapping:
    """How an APDU is protected (Green Book 9.5): its ciphered tag, security
    control byte, key (global or dedicated) and form (glo-/ded- or general
    ciphering). The meter answers as the request was wrapped."""

    tag: int
    security_control: int
    dedicated: bool
    general: bool


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

    __slots__ = ("accept_counter", "authentication_key", "block_cipher_key", "dedicated_key", "next_counter",
                 "own_title", "peer_title", "required", "suite")

    def __init__(self, required: int, suite: ISecuritySuite, block_cipher_key: bytes | None,
                 authentication_key: bytes | None, own_title: bytes, peer_title: bytes | None,
                 dedicated_key: bytes | None, next_counter: Callable[[], int],
                 accept_counter: Callable[[int], bool]) -> None:
        self.required = required
        self.suite = suite
        self.block_cipher_key = block_cipher_key
        self.authentication_key = authentication_key
        self.own_title = own_title
        self.peer_title = peer_title
        self.dedicated_key = dedicated_key
        self.next_counter = next_counter
        self.accept_counter = accept_counter

    @classmethod
    def of_meter(cls, association: SecuredAssociation, suite: ISecuritySuite, meter: MeterSecurity, keys: Keys,
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
        elif tag in PLAIN_TAG:
            tag, protected = ciphering.decode_ciphered_apdu(apdu)
            dedicated, general = tag in ciphering.DEDICATED_TAGS, False
        else:
            if self.required:
                raise PolicyError("an unprotected APDU where the security policy requires protection")
            return apdu, None
        key = self.dedicated_key if dedicated else self.block_cipher_key
        if key is None or self.authentication_key is None or self.peer_title is None:
            raise SecurityError("no key, or no system title of the sender, for this kind of ciphering")
        control, counter, plain = self.suite.unprotect(
            protected, system_title=self.peer_title, block_cipher_key=key,
            authentication_key=self.authentication_key)
        if control & self.required != self.required:
            raise PolicyError("protection weaker than the security policy")
        if not self.accept_counter(counter):
            raise CounterError(f"invocation counter {counter} not above the last one accepted")
        return plain, Wrapping(tag, control, dedicated, general)

    def wrap(self, plain: bytes, like: Wrapping) -> bytes:
        """``plain`` protected under the party's own system title and next
        invocation counter, as ``like`` says (the meter: as its request was;
        Green Book 9.2.7.2)."""
        key = self.dedicated_key if like.dedicated else self.block_cipher_key
        assert key is not None and self.authentication_key is not None
        protected = self.suite.protect(plain, security_control=like.security_control, system_title=self.own_title,
                                       invocation_counter=self.next_counter(), block_cipher_key=key,
                                       authentication_key=self.authentication_key)
        if like.general:
            return ciphering.encode_general_ciphering(like.tag, self.own_title, protected)
        tags = DEDICATED_CIPHERED_TAG if like.dedicated else GLOBAL_CIPHERED_TAG
        return ciphering.encode_ciphered_apdu(tags[plain[0]], protected)


def unwrap_initiate(user_information: bytes, association: SecuredAssociation, suite: ISecuritySuite,
                    meter: MeterSecurity, keys: Keys, client_system_title: bytes) -> tuple[bytes, Wrapping]:
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

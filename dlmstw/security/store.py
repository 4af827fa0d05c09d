"""The meter's security store (Green Book 9.2): the keys its associations
use (lab.ini's, unless a client or the console changed them), its invocation
counter, the last counter accepted from each association's client, its
signing key pairs and certificates, and the certificates imported per
association. It is what ``interfaces.ISecurityStore`` describes; the server
saves it in ``state_dir`` (``state``/``restore``), with counters journalled
and new keys saved before the answers that depend on them leave."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from zope.interface import implementer

from ..interfaces import ISecurityStore
from .certificates import (DIGITAL_SIGNATURE, SERVER, Classified, der, load_certificate, same_key, self_signed,
                           system_title_of)
from .keys import SUITE_CURVES, generate_key_pair, public_key_from_bytes

#: The meter's invocation counter is saved this far ahead, so a restart never reuses one.
COUNTER_RESERVATION = 1000
KEY_NAMES = ("block_cipher_key", "authentication_key", "hls_secret", "lls_password", "master_key")


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


@implementer(ISecurityStore)
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
        #: Called with this store once new keys are in place: the shell saves
        #: them before the answer that confirms them leaves (all old or all new
        #: after a crash).
        self.persist: Callable[[MeterSecurity], None] | None = None
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
            self.persist(self)

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
        if counter <= self.client_counters.get(association, -1):
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

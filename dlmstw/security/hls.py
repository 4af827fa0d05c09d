"""High-level security authentication, the 4-pass exchange (Green Book 9.2.7.4).

Pass 1: the AARQ carries the client's challenge CtoS; pass 2: the AARE carries
the meter's challenge StoC; pass 3: the client sends f(StoC) with the ACTION
reply_to_HLS_authentication (Association LN method 1); pass 4: the meter checks
it and answers f(CtoS). The functions f per mechanism (Green Book 9.2.7.4,
table of HLS mechanisms; ST-C, ST-S are the client's and the server's system titles):

====  ==========  ==========================================  ==========================================
id    name        f(StoC), by the client                      f(CtoS), by the server
====  ==========  ==========================================  ==========================================
3     hls-md5     MD5(StoC || secret)                         MD5(CtoS || secret)
4     hls-sha1    SHA-1(StoC || secret)                       SHA-1(CtoS || secret)
5     hls-gmac    SC || IC || GMAC(ST-C || IC; SC||AK||StoC)  SC || IC || GMAC(ST-S || IC; SC||AK||CtoS)
6     hls-sha256  SHA-256(secret||ST-C||ST-S||StoC||CtoS)     SHA-256(secret||ST-S||ST-C||CtoS||StoC)
7     hls-ecdsa   ECDSA(ST-C || ST-S || StoC || CtoS)         ECDSA(ST-S || ST-C || CtoS || StoC)
====  ==========  ==========================================  ==========================================

With GMAC, SC = 0x10 | security suite (authentication only) and IC is the
sender's invocation counter; ECDSA uses P-256/SHA-256 (suite 1) or
P-384/SHA-384 (suite 2) with the signature as r || s. Mechanism 2 (HLS,
manufacturer specific) is not provided.

Challenges are random strings of 8 to 64 octets (Green Book 9.2.7.4); every
mechanism accepts a CtoS of that length. The meter sends 16 octets with
mechanisms 3 to 5 (a length every client handles) and 32 with 6 and 7 (the
security strength of SHA-256 and P-256).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from twisted.plugin import IPlugin
from zope.interface import implementer

from ..enums import AuthenticationMechanism
from ..interfaces import IAuthenticationMechanism, ISecuritySuite
from .ciphering import AUTHENTICATION, SYSTEM_TITLE_LENGTH, TAG_LENGTH

CHALLENGE_LENGTHS = range(8, 65)
"""Lengths in octets of an acceptable challenge (Green Book 9.2.7.4)."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class HlsInputs:
    """What f(StoC) and f(CtoS) are computed from; each mechanism uses some fields.

    ``secret`` (hls_secret) for mechanisms 3, 4 and 6; ``block_cipher_key``,
    ``authentication_key``, ``suite`` (the association's ``ISecuritySuite``
    plugin) and ``server_invocation_counter`` (the IC of the meter's f(CtoS))
    for 5; ``server_signing_key`` and ``client_public_key`` with a ``suite``
    of the public-key methods (1 or 2) for 7. The system
    titles are needed by 5 (the client's, then the server's), 6 and 7.
    """

    stoc: bytes
    ctos: bytes
    client_system_title: bytes | None = None
    server_system_title: bytes | None = None
    secret: bytes | None = None
    block_cipher_key: bytes | None = None
    authentication_key: bytes | None = None
    suite: ISecuritySuite | None = None
    server_invocation_counter: int = 0
    server_signing_key: ec.EllipticCurvePrivateKey | None = None
    client_public_key: ec.EllipticCurvePublicKey | None = None


def client_inputs(stoc: bytes, ctos: bytes, client_system_title: bytes | None, server_system_title: bytes | None,
                  *, secret: bytes | None = None, block_cipher_key: bytes | None = None,
                  authentication_key: bytes | None = None, suite: ISecuritySuite | None = None,
                  client_invocation_counter: int = 0,
                  client_signing_key: ec.EllipticCurvePrivateKey | None = None,
                  server_public_key: ec.EllipticCurvePublicKey | None = None) -> HlsInputs:
    """The client's side of the exchange as inputs of the meter's functions.

    Both parties compute the same f (Green Book 9.2.7.4), each over the peer's
    challenge, with its own system title, invocation counter and signing key
    first; so with the roles swapped here ``server_proof`` gives the client's
    f(StoC) and ``verify_client`` checks the meter's f(CtoS)."""
    return HlsInputs(stoc=ctos, ctos=stoc, client_system_title=server_system_title,
                     server_system_title=client_system_title, secret=secret, block_cipher_key=block_cipher_key,
                     authentication_key=authentication_key, suite=suite,
                     server_invocation_counter=client_invocation_counter, server_signing_key=client_signing_key,
                     client_public_key=server_public_key)


CLIENT_FIELDS: Final = {"server_system_title": "the client's system title",
                        "client_system_title": "the meter's system title",
                        "server_signing_key": "the client's signing key", "client_public_key": "the meter's public key"}
"""What the role-named fields of ``client_inputs`` hold for the client (the others hold the same for both)."""


class MissingInput(ValueError):
    """A mechanism's f needs an input it was not given; ``field`` names it in ``HlsInputs``."""

    def __init__(self, mechanism: str, field: str) -> None:
        super().__init__(f"{mechanism} needs {field}")
        self.field = field


def _required(value: _T | None, field: str, mechanism: str) -> _T:
    if value is None:
        raise MissingInput(mechanism, field)
    return value


class _HlsMechanism:
    """What the HLS mechanisms share: the challenge rules of Green Book 9.2.7.4."""

    mechanism_id: AuthenticationMechanism
    name: str
    hls = True
    titled = False
    required_keys: tuple[str, ...]
    asymmetric = False
    challenge_length: int
    """Octets of the StoC this meter sends."""

    def check_lls(self, configured_secret: bytes | None, calling_authentication_value: bytes | None) -> bool:
        """Pass 1: the AARQ must carry a CtoS of 8 to 64 octets."""
        return calling_authentication_value is not None and len(calling_authentication_value) in CHALLENGE_LENGTHS

    def new_challenge(self) -> bytes:
        """Pass 2: a fresh StoC from the operating system's random source."""
        return os.urandom(self.challenge_length)


class _ChallengeSecretDigest(_HlsMechanism):
    """f(challenge) = H(challenge || secret): mechanisms 3 and 4."""

    challenge_length = 16
    required_keys = ("hls_secret",)
    _digest: Callable[[bytes], hashlib._Hash]

    def server_proof(self, inputs: HlsInputs) -> bytes:
        return self._digest(inputs.ctos + _required(inputs.secret, "secret", self.name)).digest()

    def verify_client(self, inputs: HlsInputs, proof: bytes) -> int | None:
        expected = self._digest(inputs.stoc + _required(inputs.secret, "secret", self.name)).digest()
        return 0 if hmac.compare_digest(expected, proof) else None


@implementer(IPlugin, IAuthenticationMechanism)
class HlsMd5(_ChallengeSecretDigest):
    """HLS mechanism_id(3): MD5 over challenge || secret."""

    mechanism_id = AuthenticationMechanism.HLS_MD5
    name = "hls-md5"
    _digest = staticmethod(hashlib.md5)


@implementer(IPlugin, IAuthenticationMechanism)
class HlsSha1(_ChallengeSecretDigest):
    """HLS mechanism_id(4): SHA-1 over challenge || secret."""

    mechanism_id = AuthenticationMechanism.HLS_SHA1
    name = "hls-sha1"
    _digest = staticmethod(hashlib.sha1)


@implementer(IPlugin, IAuthenticationMechanism)
class HlsGmac(_HlsMechanism):
    """HLS mechanism_id(5): SC || IC || GMAC tag, SC = 0x10 | suite (Green Book 9.2.7.4)."""

    mechanism_id = AuthenticationMechanism.HLS_GMAC
    name = "hls-gmac"
    titled = True
    challenge_length = 16
    required_keys = ("authentication_key", "block_cipher_key")
    proof_length = 1 + 4 + TAG_LENGTH

    def _cipher(self, inputs: HlsInputs) -> tuple[int, Any]:
        """The security control of the proofs (0x10 | suite) and the suite's ciphering under the keys."""
        block_cipher_key = _required(inputs.block_cipher_key, "block_cipher_key", self.name)
        authentication_key = _required(inputs.authentication_key, "authentication_key", self.name)
        suite = _required(inputs.suite, "suite", self.name)
        return AUTHENTICATION | suite.suite_id, suite.cipher(block_cipher_key, authentication_key)

    def server_proof(self, inputs: HlsInputs) -> bytes:
        sc, cipher = self._cipher(inputs)
        counter = inputs.server_invocation_counter
        tag = cipher.authentication_tag(
            sc, _required(inputs.server_system_title, "server_system_title", self.name), counter, inputs.ctos)
        return b"".join((bytes((sc,)), counter.to_bytes(4, "big"), tag))

    def verify_client(self, inputs: HlsInputs, proof: bytes) -> int | None:
        sc, cipher = self._cipher(inputs)
        client_system_title = inputs.client_system_title
        if (len(proof) != self.proof_length or proof[0] != sc or client_system_title is None
                or len(client_system_title) != SYSTEM_TITLE_LENGTH):
            return None
        counter = int.from_bytes(proof[1:5], "big")
        expected = cipher.authentication_tag(sc, client_system_title, counter, inputs.stoc)
        return counter if hmac.compare_digest(expected, proof[5:]) else None


@implementer(IPlugin, IAuthenticationMechanism)
class HlsSha256(_HlsMechanism):
    """HLS mechanism_id(6): SHA-256 over secret, both system titles and both challenges."""

    mechanism_id = AuthenticationMechanism.HLS_SHA256
    name = "hls-sha256"
    titled = True
    challenge_length = 32
    required_keys = ("hls_secret",)

    def server_proof(self, inputs: HlsInputs) -> bytes:
        return hashlib.sha256(b"".join((
            _required(inputs.secret, "secret", self.name),
            _required(inputs.server_system_title, "server_system_title", self.name),
            _required(inputs.client_system_title, "client_system_title", self.name),
            inputs.ctos, inputs.stoc))).digest()

    def verify_client(self, inputs: HlsInputs, proof: bytes) -> int | None:
        secret = _required(inputs.secret, "secret", self.name)
        server_system_title = _required(inputs.server_system_title, "server_system_title", self.name)
        if inputs.client_system_title is None:
            return None
        expected = hashlib.sha256(b"".join((
            secret, inputs.client_system_title, server_system_title, inputs.stoc, inputs.ctos))).digest()
        return 0 if hmac.compare_digest(expected, proof) else None


@implementer(IPlugin, IAuthenticationMechanism)
class HlsEcdsa(_HlsMechanism):
    """HLS mechanism_id(7): ECDSA signatures over both system titles and both challenges."""

    mechanism_id = AuthenticationMechanism.HLS_ECDSA
    name = "hls-ecdsa"
    titled = True
    challenge_length = 32
    required_keys = ()
    asymmetric = True

    def server_proof(self, inputs: HlsInputs) -> bytes:
        data = b"".join((
            _required(inputs.server_system_title, "server_system_title", self.name),
            _required(inputs.client_system_title, "client_system_title", self.name),
            inputs.ctos, inputs.stoc))
        return _required(inputs.suite, "suite", self.name).sign(
            _required(inputs.server_signing_key, "server_signing_key", self.name), data)

    def verify_client(self, inputs: HlsInputs, proof: bytes) -> int | None:
        server_system_title = _required(inputs.server_system_title, "server_system_title", self.name)
        if inputs.client_system_title is None or inputs.client_public_key is None:
            return None
        data = b"".join((inputs.client_system_title, server_system_title, inputs.stoc, inputs.ctos))
        suite = _required(inputs.suite, "suite", self.name)
        return 0 if suite.verify(inputs.client_public_key, data, proof) else None

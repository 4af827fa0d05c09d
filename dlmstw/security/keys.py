"""Key handling: AES key wrap, the elliptic-curve primitives of suites 1 and 2,
and the security suites as ``ISecuritySuite`` plugins.

Rules: Green Book 9.2.3 (cryptographic algorithms and security suites: 0 =
AES-GCM-128 with AES-128 key wrap; 1 = ECDH-ECDSA-AES-GCM-128-SHA-256 on P-256;
2 = ECDH-ECDSA-AES-GCM-256-SHA-384 on P-384 with AES-256 key wrap; public keys
carried as the uncompressed point X || Y without the 04 prefix, signatures as
r || s), RFC 3394 (AES key wrap, as the Blue Book 4.4.7 security setup method
key_transfer uses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from twisted.plugin import IPlugin
from zope.interface import implementer

from ..interfaces import ISecuritySuite
from .ciphering import SUITE_KEY_LENGTHS, Cipher, SecurityError, cipher

_KEK_LENGTHS: Final = (16, 24, 32)


class Curve(NamedTuple):
    """The elliptic curve of a security suite with its ECDSA hash (Green Book 9.2.3)."""

    curve: ec.EllipticCurve
    hash: type[hashes.HashAlgorithm]
    size: int
    """Bytes of one coordinate, and of r and of s."""


SUITE_CURVES: Final[Mapping[int, Curve]] = MappingProxyType({
    1: Curve(ec.SECP256R1(), hashes.SHA256, 32),
    2: Curve(ec.SECP384R1(), hashes.SHA384, 48),
})
"""Suite 1: P-256 with SHA-256; suite 2: P-384 with SHA-384. Suite 0 has no curve."""


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """AES key wrap (RFC 3394) of ``key`` under the key encrypting key ``kek``."""
    if len(kek) not in _KEK_LENGTHS:
        raise ValueError(f"key encrypting key must be 16, 24 or 32 bytes, got {len(kek)}")
    if len(key) < 16 or len(key) % 8:
        raise ValueError(f"a wrapped key is a multiple of 8 bytes, at least 16; got {len(key)}")
    return aes_key_wrap(kek, key)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """Undo ``wrap_key``; raises SecurityError when the integrity check fails or
    ``wrapped`` has an impossible length (RFC 3394 2.2.3)."""
    if len(kek) not in _KEK_LENGTHS:
        raise ValueError(f"key encrypting key must be 16, 24 or 32 bytes, got {len(kek)}")
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise SecurityError(f"a wrapped key is a multiple of 8 bytes, at least 24; got {len(wrapped)}", 0)
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap:
        raise SecurityError("key unwrap integrity check failed", 0) from None


def _curve(suite: int) -> Curve:
    try:
        return SUITE_CURVES[suite]
    except KeyError:
        raise ValueError(f"security suite {suite} has no ECDSA/ECDH; only suites 1 and 2 do") from None


def _check_curve(suite: int, key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> Curve:
    params = _curve(suite)
    if key.curve.name != params.curve.name:
        raise ValueError(f"security suite {suite} uses {params.curve.name}, the key is on {key.curve.name}")
    return params


def generate_key_pair(suite: int) -> ec.EllipticCurvePrivateKey:
    """A new private key on the suite's curve (P-256 for suite 1, P-384 for suite 2)."""
    return ec.generate_private_key(_curve(suite).curve)


def public_key_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """The public key as X || Y, without the 04 prefix (Green Book 9.2.3)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    numbers = public.public_numbers()
    size = (public.curve.key_size + 7) // 8
    return numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")


def public_key_from_bytes(suite: int, data: bytes) -> ec.EllipticCurvePublicKey:
    """Parse X || Y on the suite's curve; SecurityError when it is not a point of it."""
    params = _curve(suite)
    if len(data) != 2 * params.size:
        raise SecurityError(f"a suite {suite} public key is {2 * params.size} bytes, got {len(data)}", 0)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(params.curve, b"\x04" + data)
    except ValueError:
        raise SecurityError(f"not a point of {params.curve.name}", 0) from None


def sign(suite: int, key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA signature of ``data`` as r || s (64 bytes for suite 1, 96 for suite 2)."""
    params = _check_curve(suite, key)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(params.hash())))
    return r.to_bytes(params.size, "big") + s.to_bytes(params.size, "big")


def verify(suite: int, public_key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` (r || s) is the ECDSA signature of ``data`` by ``public_key``."""
    params = _check_curve(suite, public_key)
    if len(signature) != 2 * params.size:
        return False
    r = int.from_bytes(signature[:params.size], "big")
    s = int.from_bytes(signature[params.size:], "big")
    if not (r and s):
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(params.hash()))
    except InvalidSignature:
        return False
    return True


def ecdh_shared_secret(suite: int, private: ec.EllipticCurvePrivateKey, peer_public: ec.EllipticCurvePublicKey) -> bytes:
    """The ECDH shared secret Z: the x coordinate of the shared point, 32 or 48 bytes
    (Green Book 9.2.3, key agreement; NIST SP 800-56A)."""
    _check_curve(suite, private)
    _check_curve(suite, peer_public)
    return private.exchange(ec.ECDH(), peer_public)


@implementer(IPlugin, ISecuritySuite)
class SecuritySuite:
    """Security suite 0, 1 or 2 (Green Book 9.2.3): AES-GCM with the suite's key
    length, AES key wrap under a KEK of that length, and for suites 1 and 2 ECDSA
    and ECDH on the suite's curve."""

    def __init__(self, suite_id: int) -> None:
        if suite_id not in SUITE_KEY_LENGTHS:
            raise ValueError(f"unknown security suite {suite_id}")
        self.suite_id = suite_id
        self.key_length = SUITE_KEY_LENGTHS[suite_id]
        self.asymmetric = suite_id in SUITE_CURVES

    def __repr__(self) -> str:
        return f"SecuritySuite({self.suite_id})"

    def cipher(self, block_cipher_key: bytes, authentication_key: bytes) -> Cipher:
        return cipher(self.suite_id, block_cipher_key, authentication_key)

    def _check_kek(self, kek: bytes) -> None:
        if len(kek) != self.key_length:
            raise ValueError(f"security suite {self.suite_id} wraps with a {self.key_length}-byte KEK, got {len(kek)}")

    def wrap_key(self, kek: bytes, key: bytes) -> bytes:
        self._check_kek(kek)
        return wrap_key(kek, key)

    def unwrap_key(self, kek: bytes, wrapped: bytes) -> bytes:
        self._check_kek(kek)
        return unwrap_key(kek, wrapped)

    def generate_key_pair(self) -> ec.EllipticCurvePrivateKey:
        return generate_key_pair(self.suite_id)

    def public_key_bytes(self, key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
        _check_curve(self.suite_id, key)
        return public_key_bytes(key)

    def public_key_from_bytes(self, data: bytes) -> ec.EllipticCurvePublicKey:
        return public_key_from_bytes(self.suite_id, data)

    def sign(self, private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
        return sign(self.suite_id, private_key, data)

    def verify(self, public_key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
        return verify(self.suite_id, public_key, data, signature)

    def key_agreement(self, private_key: ec.EllipticCurvePrivateKey, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        return ecdh_shared_secret(self.suite_id, private_key, peer_public_key)

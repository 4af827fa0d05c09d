"""Key wrap, the EC primitives of suites 1 and 2, and the security suite plugins
(dlmstw.security.keys).

Vectors: RFC 3394 section 4 (AES key wrap) and RFC 6979 appendix A.2.5 / A.2.6
(ECDSA on P-256 with SHA-256 and on P-384 with SHA-384, message "sample").
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from twisted.plugin import IPlugin, getPlugins
from zope.interface.verify import verifyObject

from dlmstw import plugins
from dlmstw.interfaces import ISecuritySuite
from dlmstw.security.ciphering import SecurityError
from dlmstw.security.keys import (
    SecuritySuite,
    ecdh_shared_secret,
    generate_key_pair,
    public_key_bytes,
    public_key_from_bytes,
    sign,
    unwrap_key,
    verify,
    wrap_key,
)

h = bytes.fromhex
KEK_128 = h("000102030405060708090A0B0C0D0E0F")
KEK_192 = h("000102030405060708090A0B0C0D0E0F1011121314151617")
KEK_256 = h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
KEY_128 = h("00112233445566778899AABBCCDDEEFF")
KEY_192 = h("00112233445566778899AABBCCDDEEFF0001020304050607")
KEY_256 = h("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")

# RFC 3394 4.1 .. 4.6
KEY_WRAP_VECTORS = [
    (KEK_128, KEY_128, "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"),
    (KEK_192, KEY_128, "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"),
    (KEK_256, KEY_128, "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"),
    (KEK_192, KEY_192, "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"),
    (KEK_256, KEY_192, "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"),
    (KEK_256, KEY_256, "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"),
]

# RFC 6979 A.2.5 (P-256) and A.2.6 (P-384): private key x, public key Ux || Uy, and the
# deterministic signature r || s of "sample" with SHA-256 / SHA-384.
RFC6979 = {
    1: (
        "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
        ("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
         "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"),
        ("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
         "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"),
    ),
    2: (
        "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5",
        ("EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13"
         "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720"),
        ("94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C81A648152E44ACF96E36DD1E80FABE46"
         "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94FA329C145786E679E7B82C71A38628AC8"),
    ),
}
CURVES = {1: (ec.SECP256R1, hashes.SHA256, 32), 2: (ec.SECP384R1, hashes.SHA384, 48)}


# ---------------------------------------------------------------------------
# AES key wrap (RFC 3394), as key_transfer uses it


@pytest.mark.parametrize(("kek", "key", "wrapped"), KEY_WRAP_VECTORS)
def test_key_wrap_vectors(kek: bytes, key: bytes, wrapped: str) -> None:
    assert wrap_key(kek, key) == h(wrapped)
    assert unwrap_key(kek, h(wrapped)) == key


def test_unwrap_refuses_every_flipped_byte() -> None:
    wrapped = h(KEY_WRAP_VECTORS[0][2])
    for i in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[i] ^= 0x01
        with pytest.raises(SecurityError, match="integrity check failed"):
            unwrap_key(KEK_128, bytes(tampered))


def test_unwrap_refuses_another_kek() -> None:
    with pytest.raises(SecurityError, match="integrity check failed"):
        unwrap_key(h("0F0E0D0C0B0A09080706050403020100"), h(KEY_WRAP_VECTORS[0][2]))


@pytest.mark.parametrize("length", [0, 8, 16, 23, 25, 31, 33])
def test_unwrap_refuses_impossible_lengths(length: int) -> None:
    with pytest.raises(SecurityError, match="multiple of 8"):
        unwrap_key(KEK_128, bytes(length))


def test_every_truncation_of_a_wrapped_key_is_refused() -> None:
    wrapped = h(KEY_WRAP_VECTORS[5][2])
    for end in range(len(wrapped)):
        with pytest.raises(SecurityError):
            unwrap_key(KEK_256, wrapped[:end])


@pytest.mark.parametrize(("kek", "key", "match"), [
    (KEK_128[:15], KEY_128, "key encrypting key"),
    (KEK_256 + b"\x00", KEY_128, "key encrypting key"),
    (KEK_128, KEY_128[:8], "at least 16"),
    (KEK_128, KEY_128 + b"\x00", "multiple of 8"),
])
def test_wrap_refuses(kek: bytes, key: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        wrap_key(kek, key)


def test_unwrap_refuses_a_bad_kek_length() -> None:
    with pytest.raises(ValueError, match="key encrypting key"):
        unwrap_key(KEK_128[:8], h(KEY_WRAP_VECTORS[0][2]))


# ---------------------------------------------------------------------------
# EC keys, ECDSA (raw r || s) and ECDH for suites 1 and 2


def _rfc6979_key(suite: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(RFC6979[suite][0], 16), CURVES[suite][0]())


@pytest.mark.parametrize("suite", [1, 2])
def test_rfc6979_public_key_bytes(suite: int) -> None:
    key = _rfc6979_key(suite)
    assert public_key_bytes(key) == h(RFC6979[suite][1])
    assert public_key_bytes(key.public_key()) == h(RFC6979[suite][1])


@pytest.mark.parametrize("suite", [1, 2])
def test_rfc6979_signature_verifies(suite: int) -> None:
    public = public_key_from_bytes(suite, h(RFC6979[suite][1]))
    signature = h(RFC6979[suite][2])
    assert verify(suite, public, b"sample", signature)
    assert not verify(suite, public, b"samplf", signature)
    for i in (0, len(signature) // 2, len(signature) - 1):
        tampered = bytearray(signature)
        tampered[i] ^= 0x01
        assert not verify(suite, public, b"sample", bytes(tampered))


@pytest.mark.parametrize(("suite", "size"), [(1, 32), (2, 48)])
def test_generated_key_signs_and_verifies(suite: int, size: int) -> None:
    key = generate_key_pair(suite)
    assert isinstance(key.curve, CURVES[suite][0])
    data = b"4D4D4D0000BC614E4D4D4D0000000001" + bytes(range(64))
    signature = sign(suite, key, data)
    assert len(signature) == 2 * size
    assert verify(suite, key.public_key(), data, signature)
    changed = bytearray(data)
    changed[10] ^= 0x40
    assert not verify(suite, key.public_key(), bytes(changed), signature)
    assert not verify(suite, generate_key_pair(suite).public_key(), data, signature)
    assert not verify(suite, key.public_key(), data, signature[:-1])
    assert not verify(suite, key.public_key(), data, signature + b"\x00")
    assert not verify(suite, key.public_key(), data, bytes(2 * size))
    assert not verify(suite, key.public_key(), data, bytes(size) + signature[size:])


def _der_of(signature: bytes, size: int) -> bytes:
    return encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))


@pytest.mark.parametrize("suite", [1, 2])
def test_signature_verifies_with_the_library_directly(suite: int) -> None:
    key = generate_key_pair(suite)
    _, digest, size = CURVES[suite]
    signature = sign(suite, key, b"data")
    key.public_key().verify(_der_of(signature, size), b"data", ec.ECDSA(digest()))


@pytest.mark.parametrize(("suite", "size"), [(1, 64), (2, 96)])
def test_public_key_bytes_round_trip(suite: int, size: int) -> None:
    key = generate_key_pair(suite)
    raw = public_key_bytes(key)
    assert len(raw) == size
    assert public_key_bytes(public_key_from_bytes(suite, raw)) == raw
    assert public_key_from_bytes(suite, raw).public_numbers() == key.public_key().public_numbers()


@pytest.mark.parametrize("suite", [1, 2])
def test_public_key_from_bytes_refuses_bad_input(suite: int) -> None:
    raw = h(RFC6979[suite][1])
    with pytest.raises(SecurityError, match="public key is"):
        public_key_from_bytes(suite, raw[:-1])
    with pytest.raises(SecurityError, match="public key is"):
        public_key_from_bytes(suite, b"\x04" + raw)
    with pytest.raises(SecurityError, match="not a point"):
        public_key_from_bytes(suite, raw[:-1] + bytes((raw[-1] ^ 0x01,)))
    with pytest.raises(SecurityError, match="not a point"):
        public_key_from_bytes(suite, bytes(len(raw)))


@pytest.mark.parametrize("suite", [1, 2])
def test_ecdh_both_sides_agree(suite: int) -> None:
    a, b = generate_key_pair(suite), generate_key_pair(suite)
    secret = ecdh_shared_secret(suite, a, b.public_key())
    assert len(secret) == CURVES[suite][2]
    assert secret == ecdh_shared_secret(suite, b, a.public_key())
    assert secret != ecdh_shared_secret(suite, a, generate_key_pair(suite).public_key())


def test_ecdh_known_answer_from_the_rfc6979_keys() -> None:
    """Z is the x coordinate of d_a * Q_b; with Q_b the generator's multiple it is
    the x coordinate of the public key of d_a * d_b."""
    a = _rfc6979_key(1)
    b = ec.derive_private_key(2, ec.SECP256R1())
    expected = ec.derive_private_key(2 * int(RFC6979[1][0], 16) % _P256_ORDER, ec.SECP256R1())
    assert ecdh_shared_secret(1, a, b.public_key()) == public_key_bytes(expected)[:32]


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_suite_0_has_no_public_key_algorithms() -> None:
    with pytest.raises(ValueError, match="suite 0 has no ECDSA"):
        generate_key_pair(0)
    with pytest.raises(ValueError, match="suite 0 has no ECDSA"):
        sign(0, _rfc6979_key(1), b"x")
    with pytest.raises(ValueError, match="suite 3 has no ECDSA"):
        public_key_from_bytes(3, bytes(64))


def test_keys_of_the_other_curve_are_refused() -> None:
    p256, p384 = _rfc6979_key(1), _rfc6979_key(2)
    with pytest.raises(ValueError, match="secp256r1"):
        sign(1, p384, b"x")
    with pytest.raises(ValueError, match="secp384r1"):
        verify(2, p256.public_key(), b"x", bytes(96))
    with pytest.raises(ValueError, match="secp256r1"):
        ecdh_shared_secret(1, p256, p384.public_key())


# ---------------------------------------------------------------------------
# The ISecuritySuite plugins


def test_the_suites_are_plugins() -> None:
    found = {suite.suite_id: suite for suite in getPlugins(ISecuritySuite, plugins)}
    assert sorted(found) == [0, 1, 2]
    for suite in found.values():
        assert IPlugin.providedBy(suite)
        assert verifyObject(ISecuritySuite, suite)
    assert [found[i].key_length for i in range(3)] == [16, 16, 32]


def test_unknown_suite() -> None:
    with pytest.raises(ValueError, match="unknown security suite 3"):
        SecuritySuite(3)


@pytest.mark.parametrize(("suite_id", "sc"), [(0, 0x30), (1, 0x31), (2, 0x32)])
def test_suite_protects_with_its_own_id_only(suite_id: int, sc: int) -> None:
    suite = SecuritySuite(suite_id)
    key = bytes(range(suite.key_length))
    title = h("4D4D4D0000BC614E")
    keyed = suite.cipher(key, key)
    protected = keyed.protect(b"\xc0\x01", sc, title, 5)
    assert keyed.unprotect(protected, title) == (sc, 5, b"\xc0\x01")
    other = (sc & 0xF0) | ((suite_id + 1) % 3)
    with pytest.raises(ValueError, match=f"not of suite {suite_id}"):
        keyed.protect(b"\xc0\x01", other, title, 5)
    with pytest.raises(SecurityError, match=f"not of suite {suite_id}"):
        keyed.unprotect(bytes((other,)) + protected[1:], title)
    with pytest.raises(SecurityError, match="security header"):
        keyed.unprotect(b"", title)


@pytest.mark.parametrize("suite_id", [0, 1, 2])
def test_suite_ciphers_only_with_keys_of_its_length(suite_id: int) -> None:
    suite = SecuritySuite(suite_id)
    wrong = bytes(48 - suite.key_length)
    with pytest.raises(ValueError, match=f"security suite {suite_id} needs {suite.key_length}-byte keys"):
        suite.cipher(wrong, wrong)


def test_suite_key_wrap_uses_a_kek_of_its_key_length() -> None:
    assert SecuritySuite(0).wrap_key(KEK_128, KEY_128) == h(KEY_WRAP_VECTORS[0][2])
    assert SecuritySuite(2).unwrap_key(KEK_256, h(KEY_WRAP_VECTORS[5][2])) == KEY_256
    with pytest.raises(ValueError, match="32-byte KEK"):
        SecuritySuite(2).wrap_key(KEK_128, KEY_128)
    with pytest.raises(ValueError, match="16-byte KEK"):
        SecuritySuite(1).unwrap_key(KEK_256, h(KEY_WRAP_VECTORS[5][2]))


@pytest.mark.parametrize("suite_id", [1, 2])
def test_suite_public_key_methods(suite_id: int) -> None:
    suite = SecuritySuite(suite_id)
    key = suite.generate_key_pair()
    peer = suite.generate_key_pair()
    raw = suite.public_key_bytes(key)
    public = suite.public_key_from_bytes(raw)
    assert suite.verify(public, b"data", suite.sign(key, b"data"))
    assert not suite.verify(public, b"datA", suite.sign(key, b"data"))
    assert suite.key_agreement(key, peer.public_key()) == suite.key_agreement(peer, public)
    other = SecuritySuite(3 - suite_id)
    with pytest.raises(ValueError):
        other.public_key_bytes(key)


def test_suite_0_public_key_methods_refuse() -> None:
    suite = SecuritySuite(0)
    with pytest.raises(ValueError, match="suite 0"):
        suite.generate_key_pair()
    with pytest.raises(ValueError, match="suite 0"):
        suite.public_key_from_bytes(bytes(64))
    with pytest.raises(ValueError, match="suite 0"):
        suite.key_agreement(_rfc6979_key(1), _rfc6979_key(1).public_key())

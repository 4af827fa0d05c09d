"""HLS mechanisms 3 to 7: challenges, f(StoC) and f(CtoS) (dlmstw.security.hls).

Vectors: tests/vectors/security.json ``hls_gmac_mechanism5`` (Green Book example,
recomputed; [J] GmacTest.java, [U] tests/test_security.py) and ``hls_hash_mechanisms``
(computed from the Green Book inputs); tests/vectors/public-vectors.md 3.2 and 3.5.
Cross-check: the unmodified gurux-dlms client computes f(StoC) for the same inputs
and checks our f(CtoS) with its own parseApplicationAssociationResponse.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms.ecdsa.GXPrivateKey import GXPrivateKey
from gurux_dlms.ecdsa.GXPublicKey import GXPublicKey
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.GXByteBuffer import GXByteBuffer
from gurux_dlms.secure import GXDLMSSecureClient
from twisted.plugin import IPlugin, getPlugins
from zope.interface.verify import verifyObject

from dlmstw import plugins
from dlmstw.codec.services import ActionRequestNormal, CosemMethodDescriptor, decode_request
from dlmstw.enums import DataType
from dlmstw.interfaces import IAuthenticationMechanism
from dlmstw.security import keys
from dlmstw.security.ciphering import cipher
from dlmstw.security.keys import SecuritySuite
from dlmstw.security.hls import CHALLENGE_LENGTHS, HlsEcdsa, HlsGmac, HlsInputs, HlsMd5, HlsSha1, HlsSha256

VECTORS = Path(__file__).parent / "vectors"
SECURITY: dict[str, Any] = json.loads((VECTORS / "security.json").read_text())
GMAC = SECURITY["hls_gmac_mechanism5"]
HASHES = SECURITY["hls_hash_mechanisms"]
h = bytes.fromhex

EK = h(SECURITY["suite0_gcm"]["encryption_key"])
AK = h(SECURITY["suite0_gcm"]["authentication_key"])
ST_C = h(GMAC["client_system_title"])
ST_S = h(GMAC["server_system_title"])
STOC = h(GMAC["StoC"])
CTOS = h(GMAC["CtoS"])
SECRET = h("3132333435363738")  # "12345678", hls_hash_mechanisms._inputs

GREEN_BOOK = HlsInputs(
    stoc=STOC, ctos=CTOS, client_system_title=ST_C, server_system_title=ST_S, secret=SECRET,
    block_cipher_key=EK, authentication_key=AK, suite=SecuritySuite(0),
    server_invocation_counter=int(GMAC["server_invocation_counter"], 16))

HASH_MECHANISMS: list[tuple[Any, str]] = [(HlsMd5(), "md5_mechanism3"), (HlsSha1(), "sha1_mechanism4"), (HlsSha256(), "sha256_mechanism6")]


def _with(**changes: Any) -> HlsInputs:
    return replace(GREEN_BOOK, **changes)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes((data[index] ^ 0x01,)) + data[index + 1:]


# ---------------------------------------------------------------------------
# The plugins and the challenge rules


def test_hls_mechanisms_are_plugins() -> None:
    found = {m.name: m for m in getPlugins(IAuthenticationMechanism, plugins)}
    expected = {"hls-md5": 3, "hls-sha1": 4, "hls-gmac": 5, "hls-sha256": 6, "hls-ecdsa": 7}
    for name, mechanism_id in expected.items():
        mechanism = found[name]
        assert mechanism.mechanism_id == mechanism_id
        assert mechanism.hls is True
        assert IPlugin.providedBy(mechanism)
        assert verifyObject(IAuthenticationMechanism, mechanism)
    assert "hls" not in found  # mechanism 2 is manufacturer specific: not provided
    assert isinstance(found["hls-ecdsa"], HlsEcdsa)


@pytest.mark.parametrize(("mechanism", "length"), [
    (HlsMd5(), 16), (HlsSha1(), 16), (HlsGmac(), 16), (HlsSha256(), 32), (HlsEcdsa(), 32)])
def test_new_challenge(mechanism: Any, length: int) -> None:
    first, second = mechanism.new_challenge(), mechanism.new_challenge()
    assert len(first) == len(second) == length
    assert first != second
    assert mechanism.check_lls(None, first)


@pytest.mark.parametrize("mechanism", [HlsMd5(), HlsSha1(), HlsGmac(), HlsSha256(), HlsEcdsa()])
def test_check_lls_accepts_a_ctos_of_8_to_64_octets(mechanism: Any) -> None:
    assert CHALLENGE_LENGTHS == range(8, 65)
    assert not mechanism.check_lls(None, None)
    assert not mechanism.check_lls(SECRET, b"")
    assert not mechanism.check_lls(SECRET, bytes(7))
    assert mechanism.check_lls(SECRET, bytes(8))
    assert mechanism.check_lls(None, bytes(64))
    assert not mechanism.check_lls(SECRET, bytes(65))


# ---------------------------------------------------------------------------
# HLS-GMAC, Green Book example (public-vectors.md 3.2)


def test_gmac_vectors() -> None:
    assert HlsGmac().server_proof(GREEN_BOOK) == h(GMAC["f_CtoS_sent_by_server"])
    assert HlsGmac().verify_client(GREEN_BOOK, h(GMAC["f_StoC_sent_by_client"])) == 1


def test_gmac_proof_is_sc_ic_and_the_tag_over_sc_ak_challenge() -> None:
    proof = h(GMAC["f_StoC_sent_by_client"])
    assert proof[:5] == h("1000000001")
    assert proof[5:] == cipher(0x10 & 0x0F, EK, AK).authentication_tag(0x10, ST_C, 1, STOC)


def test_gmac_refuses() -> None:
    proof = h(GMAC["f_StoC_sent_by_client"])
    gmac = HlsGmac()
    for i in range(len(proof)):
        assert gmac.verify_client(GREEN_BOOK, _flip(proof, i)) is None
    assert gmac.verify_client(GREEN_BOOK, proof[:-1]) is None
    assert gmac.verify_client(GREEN_BOOK, proof + b"\x00") is None
    assert gmac.verify_client(GREEN_BOOK, b"") is None
    assert gmac.verify_client(GREEN_BOOK, b"\x30" + proof[1:]) is None
    assert gmac.verify_client(_with(client_system_title=ST_S), proof) is None
    assert gmac.verify_client(_with(client_system_title=None), proof) is None
    assert gmac.verify_client(_with(client_system_title=ST_C[:7]), proof) is None
    assert gmac.verify_client(_with(stoc=CTOS), proof) is None
    assert gmac.verify_client(_with(authentication_key=EK), proof) is None
    assert gmac.verify_client(_with(suite=SecuritySuite(1)), proof) is None  # SC must be 0x11 then


def test_gmac_returns_the_clients_counter() -> None:
    counter = 0xFEDCBA98
    tag = cipher(0x10 & 0x0F, EK, AK).authentication_tag(0x10, ST_C, counter, STOC)
    assert HlsGmac().verify_client(GREEN_BOOK, h("10FEDCBA98") + tag) == counter


def test_gmac_suite_2_with_256_bit_keys() -> None:
    ek, ak = bytes(range(32)), bytes(range(100, 132))
    inputs = _with(block_cipher_key=ek, authentication_key=ak, suite=SecuritySuite(2), server_invocation_counter=9)
    server = HlsGmac().server_proof(inputs)
    assert server[:5] == h("1200000009")
    assert server[5:] == cipher(0x12 & 0x0F, ek, ak).authentication_tag(0x12, ST_S, 9, CTOS)
    client = h("1200000003") + cipher(0x12 & 0x0F, ek, ak).authentication_tag(0x12, ST_C, 3, STOC)
    assert HlsGmac().verify_client(inputs, client) == 3
    assert HlsGmac().verify_client(inputs, b"\x10" + client[1:]) is None


def test_gmac_needs_its_keys() -> None:
    with pytest.raises(ValueError, match="hls-gmac needs block_cipher_key"):
        HlsGmac().server_proof(_with(block_cipher_key=None))
    with pytest.raises(ValueError, match="hls-gmac needs authentication_key"):
        HlsGmac().verify_client(_with(authentication_key=None), h(GMAC["f_StoC_sent_by_client"]))
    with pytest.raises(ValueError, match="hls-gmac needs server_system_title"):
        HlsGmac().server_proof(_with(server_system_title=None))
    with pytest.raises(ValueError, match="16-byte keys"):
        HlsGmac().server_proof(_with(block_cipher_key=EK[:8]))


# ---------------------------------------------------------------------------
# MD5, SHA-1, SHA-256


@pytest.mark.parametrize(("mechanism", "key"), HASH_MECHANISMS)
def test_hash_vectors(mechanism: Any, key: str) -> None:
    assert mechanism.server_proof(GREEN_BOOK) == h(HASHES[key]["f_CtoS"])
    assert mechanism.verify_client(GREEN_BOOK, h(HASHES[key]["f_StoC"])) == 0


@pytest.mark.parametrize(("mechanism", "key"), HASH_MECHANISMS)
def test_hash_refuses(mechanism: Any, key: str) -> None:
    proof = h(HASHES[key]["f_StoC"])
    for i in range(len(proof)):
        assert mechanism.verify_client(GREEN_BOOK, _flip(proof, i)) is None
    assert mechanism.verify_client(GREEN_BOOK, proof[:-1]) is None
    assert mechanism.verify_client(GREEN_BOOK, b"") is None
    assert mechanism.verify_client(GREEN_BOOK, h(HASHES[key]["f_CtoS"])) is None
    assert mechanism.verify_client(_with(secret=b"12345679"), proof) is None


@pytest.mark.parametrize(("mechanism", "key"), HASH_MECHANISMS)
def test_hash_mechanisms_need_the_secret(mechanism: Any, key: str) -> None:
    with pytest.raises(ValueError, match="needs secret"):
        mechanism.server_proof(_with(secret=None))
    with pytest.raises(ValueError, match="needs secret"):
        mechanism.verify_client(_with(secret=None), h(HASHES[key]["f_StoC"]))


def test_sha256_binds_the_system_titles() -> None:
    proof = h(HASHES["sha256_mechanism6"]["f_StoC"])
    sha256 = HlsSha256()
    assert sha256.verify_client(_with(client_system_title=ST_S, server_system_title=ST_C), proof) is None
    assert sha256.verify_client(_with(client_system_title=None), proof) is None
    with pytest.raises(ValueError, match="needs client_system_title"):
        sha256.server_proof(_with(client_system_title=None))
    with pytest.raises(ValueError, match="needs server_system_title"):
        sha256.verify_client(_with(server_system_title=None), proof)


def test_md5_and_sha1_ignore_the_system_titles() -> None:
    for mechanism, key in HASH_MECHANISMS[:2]:
        inputs = _with(client_system_title=None, server_system_title=None)
        assert mechanism.verify_client(inputs, h(HASHES[key]["f_StoC"])) == 0


# ---------------------------------------------------------------------------
# ECDSA (suites 1 and 2)


def _ecdsa_inputs(suite: int) -> tuple[HlsInputs, Any]:
    client_key = keys.generate_key_pair(suite)
    inputs = _with(suite=SecuritySuite(suite), server_signing_key=keys.generate_key_pair(suite),
                   client_public_key=client_key.public_key(), stoc=bytes(range(32)), ctos=bytes(range(40, 72)))
    return inputs, client_key


@pytest.mark.parametrize(("suite", "size"), [(1, 64), (2, 96)])
def test_ecdsa_client_signature(suite: int, size: int) -> None:
    inputs, client_key = _ecdsa_inputs(suite)
    proof = keys.sign(suite, client_key, ST_C + ST_S + inputs.stoc + inputs.ctos)
    assert len(proof) == size
    ecdsa = HlsEcdsa()
    assert ecdsa.verify_client(inputs, proof) == 0
    for i in (0, size // 2, size - 1):
        assert ecdsa.verify_client(inputs, _flip(proof, i)) is None
    assert ecdsa.verify_client(inputs, proof[:-1]) is None
    assert ecdsa.verify_client(replace(inputs, stoc=bytes(32)), proof) is None
    assert ecdsa.verify_client(replace(inputs, client_public_key=None), proof) is None
    assert ecdsa.verify_client(replace(inputs, client_system_title=None), proof) is None
    swapped = keys.sign(suite, client_key, ST_S + ST_C + inputs.ctos + inputs.stoc)
    assert ecdsa.verify_client(inputs, swapped) is None


@pytest.mark.parametrize("suite", [1, 2])
def test_ecdsa_server_proof(suite: int) -> None:
    inputs, _ = _ecdsa_inputs(suite)
    assert inputs.server_signing_key is not None
    proof = HlsEcdsa().server_proof(inputs)
    server_public = inputs.server_signing_key.public_key()
    assert keys.verify(suite, server_public, ST_S + ST_C + inputs.ctos + inputs.stoc, proof)
    assert not keys.verify(suite, server_public, ST_C + ST_S + inputs.stoc + inputs.ctos, proof)


def test_ecdsa_needs_suite_1_or_2_and_its_keys() -> None:
    inputs, _ = _ecdsa_inputs(1)
    with pytest.raises(ValueError, match="suite 0 has no ECDSA"):
        HlsEcdsa().server_proof(replace(inputs, suite=SecuritySuite(0)))
    with pytest.raises(ValueError, match="needs server_signing_key"):
        HlsEcdsa().server_proof(replace(inputs, server_signing_key=None))
    with pytest.raises(ValueError, match="secp384r1"):
        HlsEcdsa().server_proof(replace(inputs, suite=SecuritySuite(2)))


# ---------------------------------------------------------------------------
# Cross-check with the unmodified gurux-dlms client

GURUX = {3: Authentication.HIGH_MD5, 4: Authentication.HIGH_SHA1, 5: Authentication.HIGH_GMAC,
         6: Authentication.HIGH_SHA256, 7: Authentication.HIGH_ECDSA}
WRAPPER_HEADER = h("00010010 0001")  # version 1, client wPort 16, server wPort 1; then the length


def _gurux_client(mechanism_id: int, inputs: HlsInputs, invocation_counter: int = 0) -> GXDLMSSecureClient:
    password = None if mechanism_id in (5, 7) else inputs.secret
    client = GXDLMSSecureClient(True, 16, 1, GURUX[mechanism_id], password, InterfaceType.WRAPPER)
    client.ciphering.securitySuite = inputs.suite.suite_id if inputs.suite is not None else 0
    client.ciphering.systemTitle = inputs.client_system_title
    client.ciphering.blockCipherKey = inputs.block_cipher_key
    client.ciphering.authenticationKey = inputs.authentication_key
    client.ciphering.invocationCounter = invocation_counter
    client.settings.sourceSystemTitle = inputs.server_system_title
    client.settings.ctoSChallenge = inputs.ctos
    client.settings.stoCChallenge = inputs.stoc
    return client


def _gurux_f_stoc(client: GXDLMSSecureClient) -> tuple[bytes, bytes]:
    """The ACTION reply_to_HLS_authentication gurux sends: (APDU, f(StoC))."""
    (frame,) = client.getApplicationAssociationRequest()
    frame = bytes(frame)
    assert frame[:6] == WRAPPER_HEADER
    apdu = frame[8:]
    request = decode_request(apdu)
    assert isinstance(request, ActionRequestNormal)
    assert request.method == CosemMethodDescriptor(15, h("0000280000FF"), 1)
    assert request.parameters is not None and request.parameters[0] == DataType.OCTET_STRING
    return apdu, request.parameters[1]


def _gurux_accepts(client: GXDLMSSecureClient, proof: bytes) -> bool:
    """gurux checks f(CtoS) from the ACTION response's return data (an octet-string)."""
    try:
        client.parseApplicationAssociationResponse(GXByteBuffer(bytes((DataType.OCTET_STRING, len(proof))) + proof))
    except Exception:  # noqa: BLE001 - gurux raises a bare Exception on a mismatch
        return False
    return True


def test_gurux_sends_the_green_book_action_request() -> None:
    apdu, proof = _gurux_f_stoc(_gurux_client(5, GREEN_BOOK, invocation_counter=1))
    # public-vectors.md 3.5, "request with Green Book f(StoC)"
    assert apdu == h("C301C1000F0000280000FF0101091110000000011A52FE7DD3E72748973C1E28")
    assert HlsGmac().verify_client(GREEN_BOOK, proof) == 1


@pytest.mark.parametrize("mechanism", [HlsMd5(), HlsSha1(), HlsGmac(), HlsSha256()])
def test_gurux_cross_check_with_the_green_book_inputs(mechanism: Any) -> None:
    client = _gurux_client(mechanism.mechanism_id, GREEN_BOOK, invocation_counter=7)
    _, proof = _gurux_f_stoc(client)
    assert mechanism.verify_client(GREEN_BOOK, proof) == (7 if mechanism.mechanism_id == 5 else 0)
    server_proof = mechanism.server_proof(GREEN_BOOK)
    assert _gurux_accepts(client, server_proof)
    assert not _gurux_accepts(client, _flip(server_proof, len(server_proof) - 1))


@pytest.mark.parametrize("mechanism", [HlsMd5(), HlsSha1(), HlsGmac(), HlsSha256()])
def test_gurux_cross_check_with_fresh_challenges(mechanism: Any) -> None:
    inputs = _with(stoc=mechanism.new_challenge(), ctos=bytes(range(200, 216)), secret=b"another secret",
                   client_system_title=h("4752580000000042"), server_invocation_counter=0x10000)
    client = _gurux_client(mechanism.mechanism_id, inputs, invocation_counter=0x2A)
    _, proof = _gurux_f_stoc(client)
    assert mechanism.verify_client(inputs, proof) == (0x2A if mechanism.mechanism_id == 5 else 0)
    assert mechanism.verify_client(replace(inputs, secret=b"wrong", authentication_key=EK),
                                   proof) is None
    assert _gurux_accepts(client, mechanism.server_proof(inputs))


def test_gurux_cross_check_ecdsa_suite_1() -> None:
    """gurux-dlms signs only on P-256 (its GXEcdsa.sign tests P256 twice), so suite 1 only."""
    inputs, client_key = _ecdsa_inputs(1)
    assert inputs.server_signing_key is not None
    client = _gurux_client(7, inputs)
    client.ciphering.signingKeyPair = (
        GXPublicKey.fromRawBytes(b"\x04" + keys.public_key_bytes(inputs.server_signing_key)),
        GXPrivateKey.fromRawBytes(client_key.private_numbers().private_value.to_bytes(32, "big")))
    _, proof = _gurux_f_stoc(client)
    assert HlsEcdsa().verify_client(inputs, proof) == 0
    server_proof = HlsEcdsa().server_proof(inputs)
    assert _gurux_accepts(client, server_proof)
    assert not _gurux_accepts(client, _flip(server_proof, 10))


class _WatchedSuite:
    """A security suite plugin that records what an HLS mechanism asks of it."""

    def __init__(self, suite_id: int) -> None:
        self.suite = SecuritySuite(suite_id)
        self.suite_id = suite_id
        self.calls: list[str] = []

    def cipher(self, block_cipher_key: bytes, authentication_key: bytes) -> Any:
        self.calls.append("cipher")
        return self.suite.cipher(block_cipher_key, authentication_key)

    def sign(self, private_key: Any, data: bytes) -> bytes:
        self.calls.append("sign")
        return self.suite.sign(private_key, data)

    def verify(self, public_key: Any, data: bytes, signature: bytes) -> bool:
        self.calls.append("verify")
        return self.suite.verify(public_key, data, signature)


def test_gmac_and_ecdsa_proofs_come_from_the_associations_suite_plugin() -> None:
    gmac_suite = _WatchedSuite(0)
    proof = HlsGmac().server_proof(_with(suite=gmac_suite))
    assert proof == HlsGmac().server_proof(GREEN_BOOK) and gmac_suite.calls == ["cipher"]
    inputs, client_key = _ecdsa_inputs(1)
    ecdsa_suite = _WatchedSuite(1)
    inputs = replace(inputs, suite=ecdsa_suite)
    HlsEcdsa().server_proof(inputs)
    assert HlsEcdsa().verify_client(inputs, keys.sign(1, client_key, ST_C + ST_S + inputs.stoc + inputs.ctos)) == 0
    assert ecdsa_suite.calls == ["sign", "verify"]

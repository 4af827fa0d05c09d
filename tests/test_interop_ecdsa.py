"""HLS-ECDSA (mechanism 7) and security suites 1 and 2 against the unmodified
gurux-dlms client over real TCP.

* Suites 1 and 2 with symmetric keys: HLS-GMAC with every security policy and
  global and dedicated keys (32-byte keys on suite 2), and LLS in the
  ciphered context.
* HLS-ECDSA on suite 1, driven by gurux end to end: a full-access client
  exports the meter's certificate (Security setup method 7) and imports the
  client's (method 6), as Green Book 9.2.6 provisions keys; then gurux
  associates with HIGH_ECDSA and checks the meter's f(CtoS). The key pair the
  meter made survives a restart of twistd. The lab.ini way (a client key in
  hex) is covered too.
* HLS-ECDSA on suite 2 (P-384): gurux-dlms 1.0.203 signs and verifies on P-256
  only (GXEcdsa.sign and .verify test ``Ecc.P256`` in both branches), so gurux
  frames and ciphers the exchange while f(StoC) is computed and f(CtoS) checked
  by the independent implementation (tests/independent_dlms.py, the Green Book
  formula with ``cryptography``; tests/test_security_matrix.py runs the whole
  exchange with it).

Client keys: RFC 6979 A.2.5 / A.2.6 (tests/certificate_support.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from gurux_dlms import GXDLMSException, GXReplyData
from gurux_dlms.ecdsa.GXPrivateKey import GXPrivateKey
from gurux_dlms.ecdsa.GXPublicKey import GXPublicKey
from gurux_dlms.ConnectionState import ConnectionState
from gurux_dlms.enums import Authentication, DataType, InterfaceType, Security
from gurux_dlms.objects import GXDLMSAssociationLogicalName, GXDLMSClock, GXDLMSSecuritySetup
from gurux_dlms.objects.enums import CertificateEntity, CertificateType
from gurux_dlms.secure import GXDLMSSecureClient

import independent_dlms as dlms
from certificate_support import RFC6979_PUBLIC, certificate, client_key
from interop_support import Lab, MeterSession, find_free_port_range, launch_lab, stop_lab
from test_interop_security import open_session, read_clock_and_profile

METER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
KEYS = {1: ("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF", "000102030405060708090A0B0C0D0E0F"),
        2: ("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF" * 2, "000102030405060708090A0B0C0D0E0F" * 2)}
DEDICATED = {1: "00112233445566778899AABBCCDDEEFF", 2: "00112233445566778899AABBCCDDEEFF" * 2}
POLICIES = {"authentication": Security.AUTHENTICATION, "encryption": Security.ENCRYPTION,
            "authenticated-encryption": Security.AUTHENTICATION_ENCRYPTION}


def ciphered(suite: int, policy: str = "authenticated-encryption") -> str:
    ak, ek = KEYS[suite]
    return (f"context = ln-ciphered\nsecurity = {policy}\nsecurity_suite = {suite}\n"
            f"authentication_key = {ak}\nblock_cipher_key = {ek}\n")


#: (association name, client SAP, lab.ini lines) of the test lab, in file order.
ASSOCIATIONS: list[tuple[str, int, str]] = [
    ("public", 16, "authentication = none\n"),
    ("manager", 48, "authentication = hls-gmac\naccess = full\n" + ciphered(1)),
    ("ecdsa-1", 0x50, "authentication = hls-ecdsa\n" + ciphered(1)),
    ("ecdsa-1-plain", 0x51, f"authentication = hls-ecdsa\nsecurity_suite = 1\nclient_public_key = {RFC6979_PUBLIC[1]}\n"),
    ("ecdsa-2", 0x52, "authentication = hls-ecdsa\nclient_certificate = {client_certificate}\n" + ciphered(2)),
    ("lls-1", 0x53, "authentication = lls\nlls_password = ABCD0001\n" + ciphered(1)),
    ("lls-2", 0x54, "authentication = lls\nlls_password = ABCD0001\n" + ciphered(2)),
]
for index, (suite, policy) in enumerate(itertools.product((1, 2), POLICIES)):
    ASSOCIATIONS.append((f"gmac-{suite}-{policy}", 0x60 + index, "authentication = hls-gmac\n" + ciphered(suite, policy)))
SAP = {name: sap for name, sap, _ in ASSOCIATIONS}
#: Security setup 0.0.43.0.x.255 of the x-th association (Blue Book 4.4.7).
SETUP = {name: f"0.0.43.0.{index + 1}.255" for index, (name, _, _) in enumerate(ASSOCIATIONS)}


def lab_ini(port: int, directory: Path) -> str:
    sections = "\n".join(f"[association:{name}]\nclient_sap = {sap}\n{lines}" for name, sap, lines in ASSOCIATIONS)
    return (f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = {directory / 'packets.jsonl'}\n\n"
            f"[meters:abt]\ncount = 1\nport = {port}\nload_profile_interval = 15\nload_profile_days = 1\n"
            f"max_clients = 20\n\n"
            + sections.replace("{client_certificate}", str(directory / "client-384.pem")))


def write_client_certificate(directory: Path) -> None:
    """The suite 2 client's certificate, self-signed, for lab.ini client_certificate."""
    key = client_key(2)
    pem = certificate(key.public_key(), CLIENT_TITLE.hex().upper(), key).public_bytes(serialization.Encoding.PEM)
    (directory / "client-384.pem").write_bytes(pem)


def start(directory: Path, port: int) -> Lab:
    try:
        return launch_lab(directory, lab_ini(port, directory), (port,))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def ecdsa_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("ecdsa-lab")
    write_client_certificate(directory)
    lab = start(directory, find_free_port_range(1))
    try:
        yield lab
    finally:
        stop_lab(lab)


_counters = itertools.count(1, 1000)


def client(association: str, authentication: Authentication = Authentication.NONE, suite: int = 0,
           security: Security = Security.NONE, password: str | None = None,
           dedicated: bool = False) -> GXDLMSSecureClient:
    """A gurux client of ``association`` with the lab's keys of ``suite``."""
    gurux = GXDLMSSecureClient(True, SAP[association], 1, authentication, password, InterfaceType.WRAPPER)
    gurux.ciphering.security = security
    gurux.ciphering.systemTitle = CLIENT_TITLE
    gurux.ciphering.invocationCounter = next(_counters)
    if suite:
        gurux.ciphering.securitySuite = suite
        ak, ek = KEYS[suite]
        gurux.ciphering.authenticationKey = bytes.fromhex(ak)
        gurux.ciphering.blockCipherKey = bytes.fromhex(ek)
    if dedicated:
        gurux.ciphering.dedicatedKey = bytes.fromhex(DEDICATED[suite])
    return gurux


def ecdsa_client(association: str, meter_key: ec.EllipticCurvePublicKey, signer: ec.EllipticCurvePrivateKey,
                 security: Security = Security.AUTHENTICATION_ENCRYPTION) -> GXDLMSSecureClient:
    """gurux with HIGH_ECDSA on suite 1: signingKeyPair is (the meter's public
    key, which checks f(CtoS); the client's private key, which signs f(StoC))."""
    gurux = client(association, Authentication.HIGH_ECDSA, 1, security)
    gurux.ciphering.signingKeyPair = (
        GXPublicKey.fromRawBytes(meter_key.public_bytes(serialization.Encoding.X962,
                                                        serialization.PublicFormat.UncompressedPoint)),
        GXPrivateKey.fromRawBytes(signer.private_numbers().private_value.to_bytes(32, "big")))
    return gurux


def manager(lab: Lab) -> tuple[MeterSession, GXDLMSSecureClient]:
    """The full-access client that manages certificates (HLS-GMAC, suite 1)."""
    gurux = client("manager", Authentication.HIGH_GMAC, 1, Security.AUTHENTICATION_ENCRYPTION)
    return open_session(lab, gurux), gurux


def export_meter_certificate(lab: Lab, association: str) -> bytes:
    """export_certificate by entity: server, digital signature, the meter's title."""
    session, gurux = manager(lab)
    try:
        request = GXDLMSSecuritySetup(SETUP[association]).exportCertificateByEntity(
            gurux, CertificateEntity.SERVER, CertificateType.DIGITAL_SIGNATURE, METER_TITLE)
        exported = bytes(session.exchange(request, GXReplyData()).value)
        session.release()
    finally:
        session.close()
    return exported


def meter_public_key(lab: Lab, association: str) -> ec.EllipticCurvePublicKey:
    public = x509.load_der_x509_certificate(export_meter_certificate(lab, association)).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def import_client_certificate(lab: Lab, association: str, der: bytes) -> None:
    session, gurux = manager(lab)
    try:
        session.exchange(gurux.method(GXDLMSSecuritySetup(SETUP[association]), 6, der, DataType.OCTET_STRING),
                         GXReplyData())
        session.release()
    finally:
        session.close()


def public_still_reads(lab: Lab) -> None:
    with MeterSession(lab.ports[0], 16) as session:
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)


def read_and_release(session: MeterSession) -> None:
    try:
        read_clock_and_profile(session)
        session.release()
    finally:
        session.close()


# ---------------------------------------------------------------------------
# Suites 1 and 2 with symmetric keys


@pytest.mark.parametrize("dedicated", [False, True], ids=["global", "dedicated"])
@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("suite", [1, 2])
def test_hls_gmac_on_suites_1_and_2(ecdsa_lab: Lab, suite: int, policy: str, dedicated: bool) -> None:
    gurux = client(f"gmac-{suite}-{policy}", Authentication.HIGH_GMAC, suite, POLICIES[policy], dedicated=dedicated)
    read_and_release(open_session(ecdsa_lab, gurux, max_pdu=256))


@pytest.mark.parametrize("suite", [1, 2])
def test_lls_in_the_ciphered_context_on_suites_1_and_2(ecdsa_lab: Lab, suite: int) -> None:
    gurux = client(f"lls-{suite}", Authentication.LOW, suite, Security.AUTHENTICATION_ENCRYPTION, password="ABCD0001")
    read_and_release(open_session(ecdsa_lab, gurux, max_pdu=256))


def test_suite_2_refuses_the_suite_1_keys(ecdsa_lab: Lab) -> None:
    gurux = client("gmac-2-authenticated-encryption", Authentication.HIGH_GMAC, 1, Security.AUTHENTICATION_ENCRYPTION)
    with pytest.raises(GXDLMSException) as refused:
        open_session(ecdsa_lab, gurux)
    assert (refused.value.result, refused.value.diagnostic) == (1, 1)  # rejected-permanent, no-reason-given
    public_still_reads(ecdsa_lab)


# ---------------------------------------------------------------------------
# HLS-ECDSA, suite 1, gurux end to end


def test_ecdsa_suite_1_with_certificates_exchanged_through_security_setup(tmp_path: Path) -> None:
    """Green Book 9.2.6: the client learns the meter's key from its certificate
    (export_certificate) and gives its own (import_certificate); the meter's
    key pair and the imported certificate survive a restart of twistd."""
    write_client_certificate(tmp_path)
    port = find_free_port_range(1)
    lab = start(tmp_path, port)
    signer = client_key(1)
    try:
        exported = export_meter_certificate(lab, "ecdsa-1")
        meter_key = x509.load_der_x509_certificate(exported).public_key()
        assert isinstance(meter_key, ec.EllipticCurvePublicKey) and meter_key.curve.name == "secp256r1"
        # Before the client's certificate is imported the meter has no key for it.
        with pytest.raises(GXDLMSException) as refused:
            open_session(lab, ecdsa_client("ecdsa-1", meter_key, signer))
        assert refused.value.errorCode == 3  # read-write-denied (Green Book 9.2.7.4)
        public_still_reads(lab)
        der = certificate(signer.public_key(), CLIENT_TITLE.hex().upper(), signer).public_bytes(
            serialization.Encoding.DER)
        import_client_certificate(lab, "ecdsa-1", der)
        read_and_release(open_session(lab, ecdsa_client("ecdsa-1", meter_key, signer), max_pdu=256))
    finally:
        stop_lab(lab)
    lab = start(tmp_path, port)
    try:
        assert export_meter_certificate(lab, "ecdsa-1") == exported
        read_and_release(open_session(lab, ecdsa_client("ecdsa-1", meter_key, signer), max_pdu=256))
    finally:
        stop_lab(lab)


def test_ecdsa_suite_1_with_the_lab_ini_client_key_in_the_plain_context(ecdsa_lab: Lab) -> None:
    meter_key = meter_public_key(ecdsa_lab, "ecdsa-1-plain")
    gurux = ecdsa_client("ecdsa-1-plain", meter_key, client_key(1), Security.NONE)
    read_and_release(open_session(ecdsa_lab, gurux, max_pdu=256))


def test_ecdsa_suite_1_wrong_client_key_is_refused(ecdsa_lab: Lab) -> None:
    meter_key = meter_public_key(ecdsa_lab, "ecdsa-1-plain")
    gurux = ecdsa_client("ecdsa-1-plain", meter_key, ec.generate_private_key(ec.SECP256R1()), Security.NONE)
    with pytest.raises(GXDLMSException) as refused:
        open_session(ecdsa_lab, gurux)
    assert refused.value.errorCode == 3  # read-write-denied (Green Book 9.2.7.4)
    public_still_reads(ecdsa_lab)


def test_f_ctos_checks_with_the_meter_key_only(ecdsa_lab: Lab) -> None:
    """The meter accepts the client's f(StoC) and answers f(CtoS) = ECDSA(ST-S ||
    ST-C || CtoS || StoC), checked here by the independent implementation
    (tests/independent_dlms.py) with the exported meter key, and not with
    another key. gurux, given the other key, refuses it too: gurux 1.0.203
    fails with a NameError while wording the mismatch, and raises
    GXDLMSException where that is fixed."""
    meter_key = meter_public_key(ecdsa_lab, "ecdsa-1-plain")
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    gurux = ecdsa_client("ecdsa-1-plain", other_key, client_key(1), Security.NONE)
    session = MeterSession(ecdsa_lab.ports[0], gurux.clientAddress)
    session.client = gurux
    try:
        session.associate()
        reply = session.exchange(gurux.getApplicationAssociationRequest(), GXReplyData())
        answer = session.last_response_apdu
        assert answer[:6] == bytes.fromhex("C701C1000100")  # success, with return data
        f_ctos = bytes(reply.value)
        settings = gurux.settings
        stoc, ctos = bytes(settings.stoCChallenge), bytes(settings.ctoSChallenge)
        signed = METER_TITLE + CLIENT_TITLE + ctos + stoc
        assert dlms.ecdsa_verify(1, meter_key, signed, f_ctos)
        assert not dlms.ecdsa_verify(1, other_key, signed, f_ctos)
        with pytest.raises((GXDLMSException, NameError)):
            gurux.parseApplicationAssociationResponse(reply.data)
    finally:
        session.close()


# ---------------------------------------------------------------------------
# HLS-ECDSA, suite 2: gurux frames and ciphers, the signatures are computed here


def suite_2_session(lab: Lab, signer: ec.EllipticCurvePrivateKey) -> tuple[MeterSession, bytes]:
    """Passes 1 to 4 of HLS-ECDSA on suite 2: the AARQ/AARE and the ciphered
    ACTION reply_to_HLS_authentication by gurux; f(StoC) = ECDSA-P-384(ST-C ||
    ST-S || StoC || CtoS) by ``signer``. Returns the session and f(CtoS)."""
    gurux = client("ecdsa-2", Authentication.HIGH_ECDSA, 2, Security.AUTHENTICATION_ENCRYPTION)
    gurux.maxReceivePDUSize = 256
    session = MeterSession(lab.ports[0], gurux.clientAddress)
    session.client = gurux
    session.associate()
    settings = gurux.settings
    assert bytes(settings.sourceSystemTitle) == METER_TITLE
    stoc, ctos = bytes(settings.stoCChallenge), bytes(settings.ctoSChallenge)
    proof = dlms.ecdsa_sign(2, signer, CLIENT_TITLE + METER_TITLE + stoc + ctos)
    request = gurux.method(GXDLMSAssociationLogicalName("0.0.40.0.0.255"), 1, proof, DataType.OCTET_STRING)
    f_ctos = bytes(session.exchange(request, GXReplyData()).value)
    return session, f_ctos


def test_ecdsa_suite_2(ecdsa_lab: Lab) -> None:
    meter_key = meter_public_key(ecdsa_lab, "ecdsa-2")
    assert meter_key.curve.name == "secp384r1"
    session, f_ctos = suite_2_session(ecdsa_lab, client_key(2))
    settings = session.client.settings
    stoc, ctos = bytes(settings.stoCChallenge), bytes(settings.ctoSChallenge)
    assert len(f_ctos) == 96
    assert dlms.ecdsa_verify(2, meter_key, METER_TITLE + CLIENT_TITLE + ctos + stoc, f_ctos)
    assert not dlms.ecdsa_verify(2, meter_key, CLIENT_TITLE + METER_TITLE + stoc + ctos, f_ctos)
    # What gurux's parseApplicationAssociationResponse records once f(CtoS) is right.
    settings.connected |= ConnectionState.DLMS
    read_and_release(session)


def test_ecdsa_suite_2_wrong_client_key_is_refused(ecdsa_lab: Lab) -> None:
    session = None
    with pytest.raises(GXDLMSException) as refused:
        session, _ = suite_2_session(ecdsa_lab, ec.generate_private_key(ec.SECP384R1()))
    assert session is None
    assert refused.value.errorCode == 3  # read-write-denied (Green Book 9.2.7.4)
    public_still_reads(ecdsa_lab)

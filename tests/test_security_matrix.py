"""The security matrix end to end over TCP (tests/security_matrix.py drives it):
every cell associates, runs GET, SET and ACTION, releases, and checks on the
wire the APDU tags and security control bytes of every request and answer,
so that a downgrade on either side fails. Then the security policy in both
directions, the invocation counter rule inside an association, HLS-ECDSA
against public vectors, and README's table against the one the matrix prints.

All cells share one lab (one association per mechanism, suite and policy)."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from gurux_dlms import GXReplyData
from gurux_dlms.ecdsa.GXPrivateKey import GXPrivateKey
from gurux_dlms.ecdsa.GXPublicKey import GXPublicKey
from gurux_dlms.enums import Authentication, Conformance, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock
from gurux_dlms.secure import GXDLMSSecureClient

import independent_dlms as dlms
from certificate_support import RFC6979_PRIVATE, RFC6979_PUBLIC, client_key
from interop_support import (Lab, MeterSession, check_protection, find_free_port_range, running_lab, twistd_command,
                             twistd_env)
from security_matrix import CELLS, FORBIDDEN, GURUX, INDEPENDENT, MECHANISMS, POLICIES, SUITES, Cell, table

REPO = Path(__file__).resolve().parent.parent
CLIENT_TITLE = bytes.fromhex("4943430000000001")
AK = {0: bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"), 1: bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")}
EK = {0: bytes.fromhex("000102030405060708090A0B0C0D0E0F"), 1: bytes.fromhex("101112131415161718191A1B1C1D1E1F")}
AK[2], EK[2] = AK[0] + AK[1], EK[0] + EK[1]
DEDICATED = {0: bytes.fromhex("00112233445566778899AABBCCDDEEFF"), 1: bytes.fromhex("FFEEDDCCBBAA99887766554433221100")}
DEDICATED[2] = DEDICATED[0] + DEDICATED[1]
SECRET = b"HLS-secret-0001"
PASSWORD = b"ABCD0001"
MECHANISM_ID = {"none": dlms.LOWEST, "lls": dlms.LLS, "hls-md5": dlms.HLS_MD5, "hls-sha1": dlms.HLS_SHA1,
                "hls-gmac": dlms.HLS_GMAC, "hls-sha256": dlms.HLS_SHA256, "hls-ecdsa": dlms.HLS_ECDSA}
GURUX_MECHANISM = {"none": Authentication.NONE, "lls": Authentication.LOW, "hls-md5": Authentication.HIGH_MD5,
                   "hls-sha1": Authentication.HIGH_SHA1, "hls-gmac": Authentication.HIGH_GMAC,
                   "hls-sha256": Authentication.HIGH_SHA256, "hls-ecdsa": Authentication.HIGH_ECDSA}
POLICY_SC = {"authentication": dlms.SC_AUTHENTICATION, "encryption": dlms.SC_ENCRYPTION,
             "authenticated-encryption": dlms.SC_AUTHENTICATION | dlms.SC_ENCRYPTION}
GURUX_POLICY = {"authentication": Security.AUTHENTICATION, "encryption": Security.ENCRYPTION,
                "authenticated-encryption": Security.AUTHENTICATION_ENCRYPTION}
CLOCK = bytes((0, 0, 1, 0, 0, 255))
TIME_ZONE = bytes.fromhex("10014A")  # long 330

#: The lab's associations: one per mechanism, suite and policy the standard allows, in lab.ini order.
ASSOCIATIONS = [(m, s, p) for m, s, p in itertools.product(MECHANISMS, SUITES, POLICIES)
                if not (m == "hls-ecdsa" and s == 0)]
SAP = {association: 0x20 + index for index, association in enumerate(ASSOCIATIONS)}
#: Security setup 0.0.43.0.x.255 of the x-th association (the public one is first).
SETUP = {association: bytes((0, 0, 43, 0, index + 2, 255)) for index, association in enumerate(ASSOCIATIONS)}


def section(mechanism: str, suite: int, policy: str) -> str:
    lines = [f"[association:{mechanism}-{suite}-{policy}]", f"client_sap = {SAP[(mechanism, suite, policy)]}",
             f"authentication = {mechanism}", "context = ln-ciphered", f"security = {policy}",
             f"security_suite = {suite}", f"authentication_key = {AK[suite].hex()}",
             f"block_cipher_key = {EK[suite].hex()}", "access = full"]
    if mechanism == "lls":
        lines.append(f"lls_password = {PASSWORD.decode()}")
    if mechanism in ("hls-md5", "hls-sha1", "hls-sha256"):
        lines.append(f"hls_secret = {SECRET.hex()}")
    if mechanism == "hls-ecdsa":
        lines.append(f"client_public_key = {RFC6979_PUBLIC[suite]}")
    return "\n".join(lines) + "\n"


def lab_ini(port: int, directory: Path) -> str:
    return (f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = {directory / 'packets.jsonl'}\n\n"
            f"[meters:abt]\ncount = 1\nport = {port}\nload_profile_interval = 15\nload_profile_days = 1\n"
            f"max_clients = 20\n\n[association:public]\nclient_sap = 16\n\n"
            + "\n".join(section(*association) for association in ASSOCIATIONS))


@pytest.fixture(scope="module")
def matrix_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from running_lab(tmp_path_factory.mktemp("matrix-lab"), lab_ini)


#: Every client starts its invocation counter above all earlier ones of the association.
_counters = itertools.count(1, 1000)


def credentials(mechanism: str, suite: int, dedicated: bool = False) -> dlms.Credentials:
    return dlms.Credentials(
        mechanism=MECHANISM_ID[mechanism], suite=suite, password=PASSWORD, secret=SECRET, ek=EK[suite], ak=AK[suite],
        dedicated_key=DEDICATED[suite] if dedicated else None,
        signing_key=client_key(suite) if mechanism == "hls-ecdsa" else None)


def independent(lab: Lab, mechanism: str, suite: int, policy: str, *, dedicated: bool = False,
                general: bool = False) -> dlms.Client:
    return dlms.Client(lab.ports[0], SAP[(mechanism, suite, policy)], credentials(mechanism, suite, dedicated),
                       title=CLIENT_TITLE, general=general, dedicated=dedicated, security_control=POLICY_SC[policy],
                       counter=next(_counters))


# --------------------------------------------------------------------------- wire checks


def expected_tag(plain: int, cell: Cell, dedicated: bool) -> int:
    if cell.form == "general":
        return dlms.GENERAL_DED_CIPHERING if dedicated else dlms.GENERAL_GLO_CIPHERING
    return dlms.CIPHERED[plain][1 if dedicated else 0]


def check_wire(exchanges: list[tuple[bytes, bytes]], cell: Cell) -> None:
    """Every APDU that crossed the wire carries the cell's form, key and security
    control: the AARQ's InitiateRequest and the AARE's InitiateResponse with the
    global key, every request after the AARE and its answer alike."""
    sc = POLICY_SC[cell.policy] | cell.suite
    dedicated = cell.key == "dedicated"
    (aarq, aare), *services, (rlrq, rlre) = exchanges
    assert dlms.protection_of(aarq) == (expected_tag(dlms.INITIATE_REQUEST, cell, False), sc), aarq.hex()
    assert dlms.protection_of(aare) == (expected_tag(dlms.INITIATE_RESPONSE, cell, False), sc), aare.hex()
    assert (rlrq[0], rlre[0]) == (dlms.RLRQ, dlms.RLRE)
    kinds = []
    for request, answer in services:
        tag, request_sc = dlms.protection_of(request)
        answer_tag, answer_sc = dlms.protection_of(answer)
        assert (request_sc, answer_sc) == (sc, sc), (request.hex(), answer.hex())
        if cell.form == "general":
            kinds.append(None)
            # HLS pass 3 may go before the dedicated key is in use; any other request uses it.
            assert tag == answer_tag and tag in (expected_tag(0, cell, dedicated), expected_tag(0, cell, False))
            continue
        plain = dlms.UNCIPHERED[tag]
        kinds.append(plain)
        assert answer_tag == expected_tag(plain + 4, cell, tag in (0xD0, 0xD1, 0xD3)), (request.hex(), answer.hex())
    service_tags = [dlms.protection_of(request)[0] for request, _ in services[-3:]]
    assert service_tags == [expected_tag(t, cell, dedicated) for t in
                            (dlms.GET_REQUEST, dlms.SET_REQUEST, dlms.ACTION_REQUEST)], service_tags


# --------------------------------------------------------------------------- the cells


def gurux_client(cell: Cell, meter_key: ec.EllipticCurvePublicKey | None) -> GXDLMSSecureClient:
    password = {"lls": PASSWORD.decode(), "none": None}.get(cell.mechanism, SECRET)
    if cell.mechanism in ("hls-gmac", "hls-ecdsa"):
        password = None
    gurux = GXDLMSSecureClient(True, SAP[(cell.mechanism, cell.suite, cell.policy)], 1,
                               GURUX_MECHANISM[cell.mechanism], password, InterfaceType.WRAPPER)
    gurux.proposedConformance &= ~Conformance.GENERAL_PROTECTION
    cipher = gurux.ciphering
    cipher.security = GURUX_POLICY[cell.policy]
    cipher.securitySuite = cell.suite
    cipher.systemTitle = CLIENT_TITLE
    cipher.blockCipherKey = EK[cell.suite]
    cipher.authenticationKey = AK[cell.suite]
    cipher.invocationCounter = next(_counters)
    if cell.key == "dedicated":
        cipher.dedicatedKey = DEDICATED[cell.suite]
    if cell.mechanism == "hls-ecdsa":
        assert meter_key is not None
        cipher.signingKeyPair = (
            GXPublicKey.fromRawBytes(meter_key.public_bytes(serialization.Encoding.X962,
                                                            serialization.PublicFormat.UncompressedPoint)),
            GXPrivateKey.fromRawBytes(RFC6979_PRIVATE[cell.suite].to_bytes(32, "big")))
    return gurux


def run_gurux(lab: Lab, cell: Cell, meter_key: ec.EllipticCurvePublicKey | None) -> list[tuple[bytes, bytes]]:
    gurux = gurux_client(cell, meter_key)
    session = MeterSession(lab.ports[0], gurux.clientAddress, trace_length=64)
    session.client = gurux
    try:
        session.associate()
        if cell.mechanism.startswith("hls"):
            session.authenticate()  # gurux checks the meter's f(CtoS)
        clock = GXDLMSClock("0.0.1.0.0.255")
        session.read(clock, 2)
        session.read(clock, 3)
        session.exchange(gurux.write(clock, 3), GXReplyData())
        session.exchange(clock.adjustToQuarter(gurux), GXReplyData())
        session.release()
    finally:
        session.close()
    frames = [frame[8:] for _, frame in session.trace]
    return list(zip(frames[::2], frames[1::2]))


def export_meter_key(client: dlms.Client, setup: bytes, suite: int) -> ec.EllipticCurvePublicKey:
    """export_certificate (Blue Book 4.4.7, method 7) by entity: server (0),
    digital signature (0), the meter's system title."""
    identification = (b"\x02\x02\x16\x00\x02\x03\x16\x00\x16\x00" + dlms.octet_string(client.server_title))
    answer = client.request(dlms.action_request(64, setup, 7, identification))
    assert answer.result == 0 and answer.data is not None and answer.data[0] == 0x09
    length, pos = dlms.read_length(answer.data, 1)
    public = x509.load_der_x509_certificate(answer.data[pos:pos + length]).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == dlms.CURVES[suite][0].name
    return public


def run_independent(lab: Lab, cell: Cell) -> tuple[list[tuple[bytes, bytes]], ec.EllipticCurvePublicKey | None]:
    client = independent(lab, cell.mechanism, cell.suite, cell.policy, dedicated=cell.key == "dedicated",
                         general=cell.form == "general")
    meter_key = None
    try:
        aare = client.associate()
        assert aare.result == 0, aare
        proof = None
        if cell.mechanism.startswith("hls"):
            answer, proof = client.authenticate()
            assert (answer.tag, answer.result) == (dlms.ACTION_RESPONSE, 0) and proof is not None
        get = client.request(dlms.get_request(8, CLOCK, 2))
        assert (get.tag, get.result) == (dlms.GET_RESPONSE, 0) and get.data[:2] == b"\x09\x0c"
        set_ = client.request(dlms.set_request(8, CLOCK, 3, TIME_ZONE))
        assert (set_.tag, set_.result) == (dlms.SET_RESPONSE, 0)
        action = client.request(dlms.action_request(8, CLOCK, 1, b"\x0f\x00"))
        assert (action.tag, action.result) == (dlms.ACTION_RESPONSE, 0)
        exchanges = [(e.request, e.answer) for e in client.wire]
        if cell.mechanism == "hls-ecdsa":
            meter_key = export_meter_key(client, SETUP[(cell.mechanism, cell.suite, cell.policy)], cell.suite)
        if proof is not None:
            assert dlms.check_f_ctos(client.credentials, proof, aare.stoc, client.ctos, client.title,
                                     client.server_title, meter_key), "the meter's f(CtoS) does not check"
        assert client.release()[0] == dlms.RLRE
        exchanges.append((client.wire[-1].request, client.wire[-1].answer))
    finally:
        client.close()
    return exchanges, meter_key


@pytest.fixture(scope="module")
def meter_keys(matrix_lab: Lab) -> dict[int, ec.EllipticCurvePublicKey]:
    """The meter's signing keys (suites 1 and 2), exported in an HLS-ECDSA
    association whose f(CtoS) is then checked with them."""
    found = {}
    for suite in (1, 2):
        _, key = run_independent(matrix_lab, Cell("hls-ecdsa", suite, "authenticated-encryption", "global", "glo"))
        assert key is not None
        found[suite] = key
    return found


@pytest.mark.parametrize("cell", [c for c in CELLS if c.driver != FORBIDDEN], ids=lambda c: c.id)
def test_cell(matrix_lab: Lab, meter_keys: dict[int, ec.EllipticCurvePublicKey], cell: Cell) -> None:
    if cell.driver == GURUX:
        exchanges = run_gurux(matrix_lab, cell, meter_keys.get(cell.suite))
    else:
        assert cell.driver == INDEPENDENT
        exchanges, _ = run_independent(matrix_lab, cell)
    check_wire(exchanges, cell)


def test_forbidden_cells_cannot_be_configured(tmp_path: Path) -> None:
    """HLS-ECDSA on suite 0 is refused at start with one line naming the key."""
    port = find_free_port_range(1)
    ini = (f"[simulator]\nstate_dir = {tmp_path / 'state'}\n\n[meters:abt]\ncount = 1\nport = {port}\n\n"
           f"[association:e]\nclient_sap = 32\nauthentication = hls-ecdsa\ncontext = ln-ciphered\n"
           f"security = authenticated-encryption\nauthentication_key = {AK[0].hex()}\n"
           f"block_cipher_key = {EK[0].hex()}\nclient_public_key = {RFC6979_PUBLIC[1]}\n")
    (tmp_path / "lab.ini").write_text(ini)
    done = subprocess.run(twistd_command(tmp_path / "lab.ini"), cwd=tmp_path, env=twistd_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1  # README: a configuration error, one line on standard error
    assert [c for c in CELLS if c.driver == FORBIDDEN] == [c for c in CELLS
                                                          if c.mechanism == "hls-ecdsa" and c.suite == 0]
    assert "[association:e] security_suite" in done.stderr and "suite 0 has no ECDSA" in done.stderr


# --------------------------------------------------------------------------- the security policy

PROTECTIONS = {"plain": 0, "authentication": dlms.SC_AUTHENTICATION, "encryption": dlms.SC_ENCRYPTION,
               "authenticated-encryption": dlms.SC_AUTHENTICATION | dlms.SC_ENCRYPTION}
#: AARE refusing an InitiateRequest weaker than the policy (Green Book 9.3.2): rejected-permanent (1),
#: acse-service-user no-reason-given (1), and a ConfirmedServiceError initiateError (1), initiate (6), other (0).
REFUSED_INITIATE = bytes.fromhex("0E010600")
#: EXCEPTION-Response service-not-allowed (1) / operation-not-possible (1) (Green Book 9.5).
REFUSED_SERVICE = bytes.fromhex("D80101")


def stronger_or_equal(protection: int, policy: int) -> bool:
    return protection != 0 and protection & policy == policy


@pytest.mark.parametrize("protection", list(PROTECTIONS))
@pytest.mark.parametrize("policy", POLICIES)
def test_initiate_request_weaker_than_the_policy_is_refused(matrix_lab: Lab, policy: str, protection: str) -> None:
    client = independent(matrix_lab, "none", 0, policy)
    try:
        if PROTECTIONS[protection]:
            aare = client.associate(initiate_sc=PROTECTIONS[protection])
        else:
            aare = dlms.parse_aare(client.transfer(dlms.aarq(dlms.CONTEXT_LN_CIPHERED, dlms.LOWEST, CLIENT_TITLE,
                                                             None, dlms.initiate_request(None))))
        if stronger_or_equal(PROTECTIONS[protection], POLICY_SC[policy]):
            assert (aare.result, aare.source, aare.diagnostic) == (0, 1, 0)
            assert dlms.protection_of(aare.user_information) == (dlms.GLO_INITIATE_RESPONSE, PROTECTIONS[protection])
        else:
            assert (aare.result, aare.source, aare.diagnostic) == (1, 1, 1)
            assert aare.user_information == REFUSED_INITIATE
    finally:
        client.close()


@pytest.mark.parametrize("protection", list(PROTECTIONS))
@pytest.mark.parametrize("policy", POLICIES)
def test_request_weaker_than_the_policy_is_refused(matrix_lab: Lab, policy: str, protection: str) -> None:
    """Inside an association: a weaker request gets the refusal and the
    association goes on; a stronger one is served, answered alike."""
    client = independent(matrix_lab, "none", 0, policy)
    try:
        assert client.associate().result == 0
        level = PROTECTIONS[protection]
        get = dlms.get_request(8, CLOCK, 2)
        answer = client.transfer(client.wrap(get, sc=level) if level else get)
        if stronger_or_equal(level, POLICY_SC[policy]):
            assert dlms.protection_of(answer) == (0xCC, level)
            plain, _ = client.unwrap(answer)
            assert dlms.parse_response(plain).result == 0
        else:
            assert answer == REFUSED_SERVICE
        assert client.request(get).result == 0
    finally:
        client.close()


# --------------------------------------------------------------------------- the counter rule


@pytest.mark.parametrize("general", [False, True], ids=["glo", "general-glo"])
@pytest.mark.parametrize("mechanism", ["none", "hls-gmac"])
def test_replayed_counter_inside_an_association(matrix_lab: Lab, mechanism: str, general: bool) -> None:
    """A repeated or lower invocation counter gets EXCEPTION-Response
    service-not-allowed (1) / invocation-counter-error (6) with the lowest
    counter the meter accepts (Green Book 9.5); the APDU is discarded and the
    association goes on."""
    client = independent(matrix_lab, mechanism, 0, "authenticated-encryption", general=general)
    try:
        assert client.associate().result == 0
        if mechanism == "hls-gmac":
            assert client.authenticate()[0].result == 0
        get = dlms.get_request(8, CLOCK, 2)
        assert client.request(get).result == 0
        used = client.counter - 1
        for counter in (used, used - 1, 0):
            answer = client.transfer(client.wrap(get, counter=counter))
            assert answer == bytes.fromhex("D80106") + (used + 1).to_bytes(4, "big"), answer.hex()
        assert client.request(get).result == 0
        assert client.release()[0] == dlms.RLRE
    finally:
        client.close()


def test_tampered_request_gets_a_deciphering_error(matrix_lab: Lab) -> None:
    """A request whose authentication tag does not check: EXCEPTION-Response
    service-not-allowed (1) / deciphering-error (5); the association goes on."""
    client = independent(matrix_lab, "none", 0, "authenticated-encryption")
    try:
        assert client.associate().result == 0
        apdu = bytearray(client.wrap(dlms.get_request(8, CLOCK, 2)))
        apdu[-1] ^= 1
        assert client.transfer(bytes(apdu)) == bytes.fromhex("D80105")
        assert client.request(dlms.get_request(8, CLOCK, 2)).result == 0
    finally:
        client.close()


def test_general_ciphering_under_another_system_title_is_refused(matrix_lab: Lab) -> None:
    client = independent(matrix_lab, "none", 0, "authenticated-encryption", general=True)
    try:
        assert client.associate().result == 0
        client.title = bytes.fromhex("4943430000000002")
        assert client.transfer(client.wrap(dlms.get_request(8, CLOCK, 2))) == bytes.fromhex("D80105")
    finally:
        client.close()


# --------------------------------------------------------------------------- refusals in HLS


@pytest.mark.parametrize("mechanism", ["hls-md5", "hls-sha1", "hls-gmac", "hls-sha256", "hls-ecdsa"])
def test_wrong_f_stoc_is_read_write_denied(matrix_lab: Lab, mechanism: str) -> None:
    """A wrong f(StoC): ACTION-Response read-write-denied (3) with no f(CtoS);
    then every request is refused (service-not-allowed / operation-not-possible)."""
    client = independent(matrix_lab, mechanism, 1, "authenticated-encryption")
    try:
        assert client.associate().result == 0
        answer, proof = client.authenticate(spoil=True)
        assert (answer.tag, answer.result, proof) == (dlms.ACTION_RESPONSE, 3, None)
        answer = client.transfer(client.wrap(dlms.get_request(8, CLOCK, 2)))
        assert dlms.parse_response(client.unwrap(answer)[0]) == dlms.Answer(dlms.EXCEPTION_RESPONSE, 0x0101, None)
    finally:
        client.close()


# --------------------------------------------------------------------------- ECDSA against public vectors

#: RFC 6979 A.2.5 (P-256, SHA-256) and A.2.6 (P-384, SHA-384), message "sample": r || s.
RFC6979_SAMPLE = {
    1: "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
       "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
    2: "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C81A648152E44ACF96E36DD1E80FABE46"
       "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94FA329C145786E679E7B82C71A38628AC8",
}


@pytest.mark.parametrize("suite", [1, 2])
def test_independent_ecdsa_checks_the_rfc6979_vectors(suite: int) -> None:
    public = client_key(suite).public_key()
    signature = bytes.fromhex(RFC6979_SAMPLE[suite])
    assert dlms.ecdsa_verify(suite, public, b"sample", signature)
    assert not dlms.ecdsa_verify(suite, public, b"samplf", signature)
    mine = dlms.ecdsa_sign(suite, client_key(suite), b"sample")
    assert len(mine) == 2 * dlms.CURVES[suite][2] and dlms.ecdsa_verify(suite, public, b"sample", mine)


# --------------------------------------------------------------------------- the independent implementation itself

VECTORS = json.loads((REPO / "tests" / "vectors" / "security.json").read_text())


def test_independent_ciphering_gives_the_green_book_example() -> None:
    """Green Book example (tests/vectors/security.json): the glo-get-request of
    the Clock's time with authenticated encryption, byte for byte."""
    v = VECTORS["suite0_gcm"]
    ek, ak, title = (bytes.fromhex(v[k]) for k in ("encryption_key", "authentication_key", "system_title"))
    plain, counter = bytes.fromhex(v["plain_apdu"]), int(v["invocation_counter"], 16)
    expected = bytes.fromhex(v["authenticated_encryption"]["glo_get_request"])
    assert dlms.tlv(0xC8, dlms.protect(0x30, counter, title, ek, ak, plain)) == expected
    assert dlms.unprotect(title, ek, ak, expected[2:]) == (0x30, counter, plain)
    assert dlms.protect(0x20, counter, title, ek, ak, plain)[5:].hex().upper() == v["encryption_only"]["ciphertext"]
    assert dlms.protect(0x10, counter, title, ek, ak, plain)[-12:].hex().upper() == v["authentication_only"]["tag"]


def test_independent_hls_gives_the_green_book_example() -> None:
    v, hashed = VECTORS["hls_gmac_mechanism5"], VECTORS["hls_hash_mechanisms"]
    key = VECTORS["suite0_gcm"]
    client, server = bytes.fromhex(v["client_system_title"]), bytes.fromhex(v["server_system_title"])
    stoc, ctos = bytes.fromhex(v["StoC"]), bytes.fromhex(v["CtoS"])
    gmac = dlms.Credentials(dlms.HLS_GMAC, 0, ek=bytes.fromhex(key["encryption_key"]),
                            ak=bytes.fromhex(key["authentication_key"]))
    assert dlms.f_stoc(gmac, stoc, ctos, client, server, 1).hex().upper() == v["f_StoC_sent_by_client"]
    assert dlms.check_f_ctos(gmac, bytes.fromhex(v["f_CtoS_sent_by_server"]), stoc, ctos, client, server)
    for mechanism, name in ((dlms.HLS_MD5, "md5_mechanism3"), (dlms.HLS_SHA1, "sha1_mechanism4"),
                            (dlms.HLS_SHA256, "sha256_mechanism6")):
        c = dlms.Credentials(mechanism, 0, secret=b"12345678")
        assert dlms.f_stoc(c, stoc, ctos, client, server, 0).hex().upper() == hashed[name]["f_StoC"]
        assert dlms.check_f_ctos(c, bytes.fromhex(hashed[name]["f_CtoS"]), stoc, ctos, client, server)


def test_the_independent_implementation_imports_nothing_of_dlmstw() -> None:
    tree = ast.parse((REPO / "tests" / "independent_dlms.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] not in ("hashlib", "hmac", "socket", "struct",
                                                                        "dataclasses", "cryptography", "__future__")}


# --------------------------------------------------------------------------- README


def test_readme_coverage_table_is_the_matrix() -> None:
    printed = subprocess.run([sys.executable, "tests/security_matrix.py"], cwd=REPO, capture_output=True,
                             text=True, timeout=60, check=True).stdout
    assert printed == table()
    readme = (REPO / "README.md").read_text()
    assert printed in readme, "README.md's coverage table differs from `python tests/security_matrix.py`"
    assert all(cell.driver in (GURUX, INDEPENDENT, FORBIDDEN) for cell in CELLS)


# --------------------------------------------------------------------------- the wire check of every gurux session

GLO_GET = bytes.fromhex("C81E30") + bytes(29)


@pytest.mark.parametrize(("request_apdu", "answer", "security_control", "passes"), [
    (GLO_GET, bytes.fromhex("CC1030") + bytes(15), 0x30, True),
    (GLO_GET, bytes.fromhex("D80101"), 0x30, True),  # EXCEPTION-Response goes plain
    (GLO_GET, bytes.fromhex("C401C100090100"), 0x30, False),  # the answer downgraded to plain
    (GLO_GET, bytes.fromhex("CC1010") + bytes(15), 0x30, False),  # the answer with less protection
    (GLO_GET, bytes.fromhex("D41030") + bytes(15), 0x30, False),  # the answer under the dedicated key
    (GLO_GET, bytes.fromhex("CC1030") + bytes(15), 0x10, False),  # the request with more than the client asked
    (bytes.fromhex("C001C100080000010000FF0200"), bytes.fromhex("C401C100090100"), 0x30, False),  # plain request
    (bytes.fromhex("C001C100080000010000FF0200"), bytes.fromhex("C401C100090100"), None, True),
    (bytes.fromhex("C001C100080000010000FF0200"), bytes.fromhex("CC1030") + bytes(15), None, False),
])
def test_the_wire_check_of_gurux_sessions(request_apdu: bytes, answer: bytes, security_control: int | None,
                                          passes: bool) -> None:
    if passes:
        check_protection(request_apdu, answer, security_control)
    else:
        with pytest.raises(AssertionError):
            check_protection(request_apdu, answer, security_control)

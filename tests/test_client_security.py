"""HLS (mechanisms 3 to 6) and ciphering in the client simulator.

Sans-I/O: the client's f(StoC) against the Green Book HLS-GMAC example and the
hash-mechanism vectors, and a protected GET-Request against the public
glo-get-request vector (tests/vectors/security.json). End to end:
``dlmstw-client read`` through ``main`` against a lab with every mechanism
and policy (the associations of tests/test_interop_security.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from interop_support import Lab, find_free_port_range, launch_lab, stop_lab
from test_interop_security import AK, EK, SAP, SECRET, lab_ini

from dlmstw.client.cli import main
from dlmstw.client.session import AuthenticationFailed, ClientSecurity, ClientSession, ClientState
from dlmstw.codec.acse import AARE, decode_aarq, encode_aare
from dlmstw.codec.axdr import encode_octet_string
from dlmstw.codec.services import (
    ActionRequestNormal,
    ActionResponseNormal,
    CosemAttributeDescriptor,
    GetRequestNormal,
    decode_request,
    encode_request,
    encode_response,
)
from dlmstw.codec.xdlms import InitiateResponse, encode_initiate_response
from dlmstw.enums import (
    ActionResult,
    ApduTag,
    ApplicationContextName,
    AssociationResult,
    AuthenticationMechanism,
    Conformance,
    DataType,
)
from dlmstw.errors import DecodeError
from dlmstw.plugins.registry import load_registry
from dlmstw.security.ciphering import (
    GLOBAL_CIPHERED_TAG,
    decode_ciphered_apdu,
    encode_ciphered_apdu,
    protect,
    unprotect,
)
from dlmstw.security.hls import HlsInputs, client_inputs

VECTORS = json.loads((Path(__file__).parent / "vectors" / "security.json").read_text())
GMAC = VECTORS["hls_gmac_mechanism5"]  # Green Book HLS-GMAC example (security.json)
HASHES = VECTORS["hls_hash_mechanisms"]
SUITE0 = VECTORS["suite0_gcm"]  # public suite 0 AES-GCM vector (security.json)
CLIENT_TITLE = bytes.fromhex(GMAC["client_system_title"])
SERVER_TITLE = bytes.fromhex(GMAC["server_system_title"])
STOC = bytes.fromhex(GMAC["StoC"])
CTOS = bytes.fromhex(GMAC["CtoS"])
VECTOR_SECRET = b"12345678"  # hls_hash_mechanisms._inputs
KEYS = ClientSecurity(CLIENT_TITLE, 0, bytes.fromhex(SUITE0["encryption_key"]),
                      bytes.fromhex(SUITE0["authentication_key"]))
MECHANISMS = load_registry().mechanisms
SUITE_0 = load_registry().suites[0]


def inputs(secret: bytes | None, counter: int) -> HlsInputs:
    """The client's side of the vectors' exchange, for the meter's functions (roles swapped)."""
    return client_inputs(STOC, CTOS, CLIENT_TITLE, SERVER_TITLE, secret=secret,
                         block_cipher_key=KEYS.block_cipher_key, authentication_key=KEYS.authentication_key,
                         suite=SUITE_0, client_invocation_counter=counter)


def client_proof(mechanism: str, secret: bytes | None, counter: int) -> bytes:
    return MECHANISMS[mechanism].server_proof(inputs(secret, counter))


# -- f(StoC) and f(CtoS) --------------------------------------------------


def test_gmac_f_stoc_is_the_green_book_example() -> None:
    counter = int(GMAC["client_invocation_counter"], 16)
    assert client_proof("hls-gmac", None, counter) == bytes.fromhex(GMAC["f_StoC_sent_by_client"])


@pytest.mark.parametrize(("mechanism", "vector"), [
    ("hls-md5", "md5_mechanism3"),
    ("hls-sha1", "sha1_mechanism4"),
    ("hls-sha256", "sha256_mechanism6"),
])
def test_hash_f_stoc_is_the_vector(mechanism: str, vector: str) -> None:
    assert client_proof(mechanism, VECTOR_SECRET, 0) == bytes.fromhex(HASHES[vector]["f_StoC"])


@pytest.mark.parametrize(("mechanism", "secret", "f_ctos"), [
    ("hls-gmac", None, GMAC["f_CtoS_sent_by_server"]),
    ("hls-md5", VECTOR_SECRET, HASHES["md5_mechanism3"]["f_CtoS"]),
    ("hls-sha1", VECTOR_SECRET, HASHES["sha1_mechanism4"]["f_CtoS"]),
    ("hls-sha256", VECTOR_SECRET, HASHES["sha256_mechanism6"]["f_CtoS"]),
])
def test_the_meters_f_ctos_checks_out_and_a_changed_one_does_not(mechanism: str, secret: bytes | None,
                                                                 f_ctos: str) -> None:
    proof = bytes.fromhex(f_ctos)
    assert MECHANISMS[mechanism].verify_client(inputs(secret, 0), proof) is not None
    assert MECHANISMS[mechanism].verify_client(inputs(secret, 0), proof[:-1] + bytes((proof[-1] ^ 1,))) is None


# -- the session, sans-I/O --------------------------------------------------


def ciphered_session(mechanism: str = "hls-gmac", policy: int = 0x30,
                     dedicated_key: bytes | None = None, start: int = 1) -> ClientSession:
    security = ClientSecurity(CLIENT_TITLE, policy, KEYS.block_cipher_key, KEYS.authentication_key, dedicated_key)
    return ClientSession(0x41, MECHANISMS[mechanism], SECRET, security=security,
                         invocation_counter=itertools.count(start), ctos=CTOS)


def meter_seal(plain: bytes, counter: int) -> bytes:
    """What the meter sends: glo-ciphered with its system title (SC 0x30, suite 0)."""
    ciphered_tag = GLOBAL_CIPHERED_TAG[plain[0]]
    assert KEYS.block_cipher_key is not None and KEYS.authentication_key is not None
    return encode_ciphered_apdu(ciphered_tag, protect(
        plain, security_control=0x30, system_title=SERVER_TITLE, invocation_counter=counter,
        block_cipher_key=KEYS.block_cipher_key, authentication_key=KEYS.authentication_key))


def client_open(apdu: bytes) -> tuple[int, int, bytes]:
    """The meter's view of a client request: (security control, IC, plain APDU)."""
    assert KEYS.block_cipher_key is not None and KEYS.authentication_key is not None
    _, protected = decode_ciphered_apdu(apdu)
    return unprotect(protected, system_title=CLIENT_TITLE, block_cipher_key=KEYS.block_cipher_key,
                     authentication_key=KEYS.authentication_key)


def pass_two(session: ClientSession, counter: int = 7) -> bytes:
    """The AARE of HLS pass 2: accepted, authentication-required, StoC, the meter's title."""
    initiate = encode_initiate_response(InitiateResponse(None, 6, Conformance(0x001E1D), 0x0400, 0x0007))
    return encode_aare(AARE(
        application_context_name=ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING,
        result=AssociationResult.ACCEPTED, result_source_diagnostic=(1, 14), responding_ap_title=SERVER_TITLE,
        responder_acse_requirements=True, mechanism_name=AuthenticationMechanism.HLS_GMAC,
        responding_authentication_value=STOC, user_information=meter_seal(initiate, counter)))


def test_a_protected_get_request_is_the_public_glo_get_request() -> None:
    """security.json suite0_gcm: that vector was made with 4D4D4D0000BC614E, so the client uses that title."""
    vector = SUITE0["authenticated_encryption"]
    security = ClientSecurity(bytes.fromhex(SUITE0["system_title"]), 0x30, KEYS.block_cipher_key,
                              KEYS.authentication_key)
    session = ClientSession(16, security=security,
                            invocation_counter=iter([int(SUITE0["invocation_counter"], 16)]))
    assert session.seal(bytes.fromhex(SUITE0["plain_apdu"])) == bytes.fromhex(vector["glo_get_request"])


def test_ciphered_aarq_carries_title_mechanism_ctos_and_glo_initiate_request() -> None:
    session = ciphered_session(dedicated_key=bytes(range(16)), start=5)
    session.request_association()
    aarq = decode_aarq(session.next_request() or b"")
    assert aarq.application_context_name == ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING
    assert aarq.calling_ap_title == CLIENT_TITLE
    assert aarq.mechanism_name == AuthenticationMechanism.HLS_GMAC
    assert aarq.calling_authentication_value == CTOS
    assert aarq.user_information is not None and aarq.user_information[0] == ApduTag.GLO_INITIATE_REQUEST
    control, counter, initiate = client_open(aarq.user_information)
    # InitiateRequest with the dedicated key (Green Book 9.5): 01, 01 10 <key>, ...
    assert (control, counter) == (0x30, 5)
    assert initiate[:3] == bytes((0x01, 0x01, 0x10)) and initiate[3:19] == bytes(range(16))


def test_hls_gmac_four_passes_in_the_ciphered_context() -> None:
    session = ciphered_session()
    session.request_association()
    session.next_request()  # AARQ: counter 1
    assert session.receive(pass_two(session)) is None
    assert session.state is ClientState.AUTHENTICATING
    control, counter, plain = client_open(session.next_request() or b"")
    assert (control, counter) == (0x30, 3)
    action = decode_request(plain)
    assert isinstance(action, ActionRequestNormal)
    assert (action.method.class_id, action.method.instance_id, action.method.method_id) == (
        15, bytes((0, 0, 40, 0, 0, 255)), 1)
    # f(StoC) under counter 2, drawn before the ACTION's own counter 3.
    assert action.parameters == (DataType.OCTET_STRING, client_proof("hls-gmac", None, 2))
    f_ctos = bytes.fromhex(GMAC["f_CtoS_sent_by_server"])
    reply = encode_response(ActionResponseNormal(action.invoke_id_and_priority, ActionResult.SUCCESS,
                                                 encode_octet_string(f_ctos)))
    event = session.receive(meter_seal(reply, 8))
    assert session.state is ClientState.ASSOCIATED and session.negotiated is event
    session.request_get(CosemAttributeDescriptor(8, bytes((0, 0, 1, 0, 0, 255)), 2))
    control, counter, plain = client_open(session.next_request() or b"")
    assert (control, counter) == (0x30, 4)
    assert plain == encode_request(GetRequestNormal(0xC2, CosemAttributeDescriptor(8, bytes((0, 0, 1, 0, 0, 255)), 2),
                                                    None))


def authenticating(f_ctos: bytes, result: ActionResult = ActionResult.SUCCESS) -> tuple[ClientSession, bytes]:
    session = ciphered_session()
    session.request_association()
    session.next_request()
    session.receive(pass_two(session))
    session.next_request()
    reply = encode_response(ActionResponseNormal(0xC1, result, encode_octet_string(f_ctos)))
    return session, reply


def test_a_wrong_f_ctos_fails_authentication() -> None:
    session, reply = authenticating(bytes.fromhex(GMAC["f_CtoS_sent_by_server"])[:-1] + b"\x00")
    event = session.receive(meter_seal(reply, 8))
    assert event == AuthenticationFailed(ActionResult.SUCCESS, "the meter's f(CtoS) does not check out")
    assert session.state is ClientState.FAILED


def test_a_refused_f_stoc_fails_authentication() -> None:
    session, reply = authenticating(b"", ActionResult.READ_WRITE_DENIED)
    event = session.receive(meter_seal(reply, 8))
    assert isinstance(event, AuthenticationFailed) and event.result is ActionResult.READ_WRITE_DENIED


def test_a_replayed_meter_counter_is_refused() -> None:
    session, reply = authenticating(bytes.fromhex(GMAC["f_CtoS_sent_by_server"]))
    with pytest.raises(DecodeError, match="not above"):
        session.receive(meter_seal(reply, 7))  # the AARE already used 7
    assert session.state is ClientState.FAILED


def test_a_response_with_a_bad_tag_is_refused() -> None:
    session, reply = authenticating(bytes.fromhex(GMAC["f_CtoS_sent_by_server"]))
    sealed = bytearray(meter_seal(reply, 8))
    sealed[-1] ^= 1
    with pytest.raises(DecodeError):
        session.receive(bytes(sealed))


def test_truncated_ciphered_response_at_every_byte_is_a_decode_error() -> None:
    sealed = meter_seal(encode_response(ActionResponseNormal(
        0xC1, ActionResult.SUCCESS, encode_octet_string(bytes.fromhex(GMAC["f_CtoS_sent_by_server"])))), 8)
    for end in range(len(sealed)):
        session, _ = authenticating(b"")
        with pytest.raises(DecodeError):
            session.receive(sealed[:end])


def test_plain_hls_without_stoc_is_a_protocol_error() -> None:
    session = ClientSession(0x60, MECHANISMS["hls-md5"], SECRET, ctos=CTOS)
    session.request_association()
    session.next_request()
    initiate = encode_initiate_response(InitiateResponse(None, 6, Conformance(0x001E1D), 0x0400, 0x0007))
    aare = encode_aare(AARE(application_context_name=ApplicationContextName.LOGICAL_NAME,
                            result=AssociationResult.ACCEPTED, result_source_diagnostic=(1, 0),
                            user_information=initiate))
    with pytest.raises(Exception, match="HLS: the AARE must ask for authentication"):
        session.receive(aare)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"mechanism": MECHANISMS["lls"]}, "lls needs a password"),
    ({"mechanism": MECHANISMS["hls-md5"]}, "hls-md5 needs secret"),
    ({"mechanism": MECHANISMS["hls-gmac"], "secret": SECRET, "invocation_counter": itertools.count()},
     "hls-gmac needs block_cipher_key"),
    ({"mechanism": MECHANISMS["hls-gmac"], "security": KEYS}, "hls-gmac needs the client's invocation counter"),
    ({"mechanism": MECHANISMS["hls-sha256"], "secret": SECRET}, "hls-sha256 needs the client's system title"),
    ({"mechanism": MECHANISMS["hls-ecdsa"], "security": ClientSecurity(CLIENT_TITLE, suite=1)},
     "hls-ecdsa needs the client's signing key"),
    ({"security": ClientSecurity(CLIENT_TITLE, 0x30, bytes(16), bytes(16))}, "invocation counter"),
])
def test_missing_material_is_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientSession(16, **arguments)


def test_client_security_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="8 octets"):
        ClientSecurity(bytes(7))
    with pytest.raises(ValueError, match="block cipher key"):
        ClientSecurity(CLIENT_TITLE, 0x30)
    with pytest.raises(ValueError, match="policy"):
        ClientSecurity(CLIENT_TITLE, 0x40, bytes(16), bytes(16))


# -- end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("client-security-lab")
    port = find_free_port_range(1)
    try:
        started = launch_lab(directory, lab_ini(port, directory), (port,))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield started
    finally:
        stop_lab(started)


_counters = itertools.count(1, 1000)
CIPHERING = ["--key", EK, "--auth-key", AK, "--system-title", "4D4D4D0000000001"]


def run_read(lab: Lab, capsys: pytest.CaptureFixture[str], association: str, *options: str) -> tuple[int, Any, str]:
    code = main(["read", f"127.0.0.1:{lab.ports[0]}", "8/0.0.1.0.0.255:2", "--client", str(SAP[association]),
                 "--json", "--timeout", "5", *options])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


@pytest.mark.parametrize(("association", "options"), [
    ("hls-gmac-authenticated-encryption", ["--auth", "hls-gmac", "--context", "ln-ciphered"]),
    ("hls-gmac-authenticated-encryption", ["--auth", "hls-gmac", "--context", "ln-ciphered",
                                           "--dedicated-key", "00112233445566778899AABBCCDDEEFF"]),
    ("hls-md5-encryption", ["--auth", "hls-md5", "--secret", SECRET.hex(), "--context", "ln-ciphered",
                            "--security", "encryption"]),
])
def test_read_in_the_ciphered_context(lab: Lab, capsys: pytest.CaptureFixture[str], association: str,
                                      options: list[str]) -> None:
    code, document, err = run_read(lab, capsys, association, *options, *CIPHERING,
                                   "--invocation-counter", str(next(_counters) + 10**7))
    assert code == 0, err
    assert [r["target"] for r in document["readings"]] == ["8/0.0.1.0.0.255:2"]
    assert "error" not in document["readings"][0] and len(document["readings"][0]["value"]) >= 19


def test_read_with_hls_sha256_in_the_plain_context(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, document, err = run_read(lab, capsys, "hls-sha256-plain", "--auth", "hls-sha256", "--secret", SECRET.hex(),
                                   "--system-title", "4D4D4D0000000001")
    assert code == 0, err
    assert "error" not in document["readings"][0]


def test_counter_object_gives_the_next_counter(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    association = "hls-sha1-authentication"
    index = next(i for i, name in enumerate(SAP) if name == association) + 1
    for _ in range(2):
        code, _, err = run_read(lab, capsys, association, "--auth", "hls-sha1", "--secret", SECRET.hex(),
                                "--context", "ln-ciphered", "--security", "authentication", *CIPHERING,
                                "--counter-object", f"0.0.43.1.{index}.255")
        assert code == 0, err


def test_a_wrong_secret_exits_4(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_read(lab, capsys, "hls-sha256-plain", "--auth", "hls-sha256", "--secret", "00" * 8,
                            "--system-title", "4D4D4D0000000001")
    assert code == 4
    assert "HLS authentication-failure: the meter refused f(StoC)" in err


def test_ciphering_without_a_counter_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["read", "127.0.0.1:1", "8/0.0.1.0.0.255:2", "--context", "ln-ciphered", *CIPHERING])
    assert code == 2
    assert "--invocation-counter" in capsys.readouterr().err


def test_campaign_keeps_each_clients_counter_increasing(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """Three reads by one client: three associations, each above the counters of the one before."""
    code = main(["campaign", f"127.0.0.1:{lab.ports[0]}", "8/0.0.1.0.0.255:2", "--count", "3", "--json",
                 "--client", str(SAP["hls-gmac-authentication"]), "--auth", "hls-gmac", "--context", "ln-ciphered",
                 "--security", "authentication", *CIPHERING, "--invocation-counter", str(next(_counters) + 10**7)])
    out, err = capsys.readouterr()
    assert code == 0, err
    kpis = json.loads(out)
    assert (kpis["attempts"], kpis["failures"]) == (3, 0)

"""Security against the unmodified gurux-dlms client over real TCP: HLS MD5,
SHA-1, GMAC and SHA-256, each in the ciphered context with authentication
only, encryption only and authenticated encryption, with global and dedicated
keys, and over the plain LN context; and the refusals: wrong password, wrong
secret, wrong keys, a replayed invocation counter — after which the meter
still serves other clients."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gurux_dlms import GXDLMSException, GXDLMSExceptionResponse, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric, GXDLMSSecuritySetup
from gurux_dlms.objects.enums import GlobalKeyType
from gurux_dlms.secure import GXDLMSSecureClient

from interop_support import Lab, MeterSession, find_free_port_range, launch_lab, running_lab, stop_lab, to_utc

AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EK = "000102030405060708090A0B0C0D0E0F"
SECRET = b"12345678"
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
MECHANISMS = {"hls-md5": Authentication.HIGH_MD5, "hls-sha1": Authentication.HIGH_SHA1,
              "hls-gmac": Authentication.HIGH_GMAC, "hls-sha256": Authentication.HIGH_SHA256}
POLICIES = {"authentication": Security.AUTHENTICATION, "encryption": Security.ENCRYPTION,
            "authenticated-encryption": Security.AUTHENTICATION_ENCRYPTION}

#: (association name, client SAP, lab.ini lines) of the test lab.
ASSOCIATIONS: list[tuple[str, int, str]] = [("public", 16, "authentication = none")]
ASSOCIATIONS.append(("lls-ciphered", 32, f"authentication = lls\nlls_password = ABCD0001\ncontext = ln-ciphered\n"
                                         f"security = authenticated-encryption\nauthentication_key = {AK}\n"
                                         f"block_cipher_key = {EK}\naccess = read-write"))
for index, (mechanism, policy) in enumerate(itertools.product(MECHANISMS, POLICIES)):
    ASSOCIATIONS.append((f"{mechanism}-{policy}", 0x40 + index,
                         f"authentication = {mechanism}\nhls_secret = {SECRET.hex()}\ncontext = ln-ciphered\n"
                         f"security = {policy}\nauthentication_key = {AK}\nblock_cipher_key = {EK}"))
for index, mechanism in enumerate(MECHANISMS):
    ASSOCIATIONS.append((f"{mechanism}-plain", 0x60 + index,
                         f"authentication = {mechanism}\nhls_secret = {SECRET.hex()}\n"
                         f"authentication_key = {AK}\nblock_cipher_key = {EK}"))
SAP = {name: sap for name, sap, _ in ASSOCIATIONS}


def lab_ini(port: int, directory: Path) -> str:
    sections = "\n".join(f"[association:{name}]\nclient_sap = {sap}\n{lines}\n" for name, sap, lines in ASSOCIATIONS)
    return (f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = {directory / 'packets.jsonl'}\n\n"
            f"[meters:abt]\ncount = 1\nport = {port}\nmodel = is15959-abt\nload_profile_interval = 15\n"
            f"load_profile_days = 1\nmax_clients = 20\n\n{sections}")


@pytest.fixture(scope="module")
def secure_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from running_lab(tmp_path_factory.mktemp("secure-lab"), lab_ini)


_counters = itertools.count(1, 1000)


def secure_client(association: str, security: Security = Security.NONE, secret: bytes | None = SECRET,
                  dedicated: bool = False, block_cipher_key: str = EK, invocation_counter: int | None = None,
                  password: str | None = None) -> GXDLMSSecureClient:
    mechanism = association.split("-")[0] + "-" + association.split("-")[1] if association.startswith("hls") else ""
    authentication = MECHANISMS.get(mechanism, Authentication.LOW if password else Authentication.NONE)
    client = GXDLMSSecureClient(True, SAP[association], 1, authentication,
                                password if password is not None else secret, InterfaceType.WRAPPER)
    client.ciphering.security = security
    client.ciphering.systemTitle = CLIENT_TITLE
    client.ciphering.blockCipherKey = bytes.fromhex(block_cipher_key)
    client.ciphering.authenticationKey = bytes.fromhex(AK)
    client.ciphering.invocationCounter = next(_counters) if invocation_counter is None else invocation_counter
    if dedicated:
        client.ciphering.dedicatedKey = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    return client


def open_session(lab: Lab, client: GXDLMSSecureClient, max_pdu: int | None = None) -> MeterSession:
    """Associate, and for HLS run passes 3 and 4 (gurux checks the meter's f(CtoS))."""
    session = MeterSession(lab.ports[0], client.clientAddress)
    session.client = client
    if max_pdu is not None:
        client.maxReceivePDUSize = max_pdu
    session.associate()
    if client.authentication > Authentication.LOW:
        session.authenticate()
    return session


def read_clock_and_profile(session: MeterSession) -> None:
    clock = GXDLMSClock("0.0.1.0.0.255")
    session.read(clock, 2)
    assert abs((to_utc(clock.time) - to_utc(session.read(GXDLMSClock("0.0.1.0.0.255"), 2))).total_seconds()) < 5
    profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
    session.read(profile, 3)
    rows = session.read(profile, 2)
    assert len(rows) == 96, session.trace_text()
    assert max(session.apdu_sizes) <= 256


@pytest.mark.parametrize("dedicated", [False, True], ids=["global", "dedicated"])
@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_hls_in_the_ciphered_context(secure_lab: Lab, mechanism: str, policy: str, dedicated: bool) -> None:
    client = secure_client(f"{mechanism}-{policy}", POLICIES[policy], dedicated=dedicated)
    session = open_session(secure_lab, client, max_pdu=256)
    try:
        read_clock_and_profile(session)
        session.release()
    finally:
        session.close()


@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_hls_in_the_plain_context(secure_lab: Lab, mechanism: str) -> None:
    session = open_session(secure_lab, secure_client(f"{mechanism}-plain"), max_pdu=256)
    try:
        read_clock_and_profile(session)
        session.release()
    finally:
        session.close()


def test_lls_in_the_ciphered_context(secure_lab: Lab) -> None:
    client = secure_client("lls-ciphered", Security.AUTHENTICATION_ENCRYPTION, password="ABCD0001")
    session = open_session(secure_lab, client, max_pdu=256)
    try:
        read_clock_and_profile(session)
        session.release()
    finally:
        session.close()


def public_still_reads(lab: Lab) -> None:
    with MeterSession(lab.ports[0], 16) as session:
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)


def test_wrong_lls_password_in_the_ciphered_context(secure_lab: Lab) -> None:
    client = secure_client("lls-ciphered", Security.AUTHENTICATION_ENCRYPTION, password="ABCD0002")
    with pytest.raises(GXDLMSException) as refused:
        open_session(secure_lab, client)
    assert refused.value.diagnostic == 13  # authentication-failure
    public_still_reads(secure_lab)


@pytest.mark.parametrize("mechanism", ["hls-md5", "hls-sha1", "hls-sha256"])
def test_wrong_secret_is_refused_and_leaves_the_association_unusable(secure_lab: Lab, mechanism: str) -> None:
    client = secure_client(f"{mechanism}-authenticated-encryption", Security.AUTHENTICATION_ENCRYPTION,
                           secret=b"87654321")
    session = MeterSession(secure_lab.ports[0], client.clientAddress)
    session.client = client
    try:
        session.associate()
        with pytest.raises(GXDLMSException) as refused:
            session.exchange(client.getApplicationAssociationRequest(), GXReplyData())
        assert refused.value.errorCode == 3  # read-write-denied (Green Book 9.2.7.4)
        with pytest.raises(GXDLMSExceptionResponse) as unusable:
            session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
        # EXCEPTION-Response service-not-allowed / operation-not-possible (Green Book 9.5)
        assert (unusable.value.exceptionStateError, unusable.value.exceptionServiceError) == (1, 1)
        assert session.last_response_apdu == bytes.fromhex("D80101")
    finally:
        session.close()
    public_still_reads(secure_lab)


def test_wrong_keys_are_refused(secure_lab: Lab) -> None:
    client = secure_client("hls-gmac-authenticated-encryption", Security.AUTHENTICATION_ENCRYPTION,
                           block_cipher_key="0F0E0D0C0B0A09080706050403020100")
    with pytest.raises(GXDLMSException) as refused:
        open_session(secure_lab, client)
    # rejected-permanent, no-reason-given: the InitiateRequest does not decipher (Green Book 9.3.2)
    assert (refused.value.result, refused.value.diagnostic) == (1, 1)
    public_still_reads(secure_lab)


def test_replayed_invocation_counter_is_refused(secure_lab: Lab) -> None:
    counter = next(_counters)
    first = open_session(secure_lab, secure_client("hls-gmac-authenticated-encryption",
                                                   Security.AUTHENTICATION_ENCRYPTION, invocation_counter=counter))
    first.release()
    first.close()
    replay = secure_client("hls-gmac-authenticated-encryption", Security.AUTHENTICATION_ENCRYPTION,
                           invocation_counter=counter)
    with pytest.raises(GXDLMSException) as refused:
        open_session(secure_lab, replay)
    # rejected-permanent, no-reason-given: the InitiateRequest's counter was used (Green Book 9.2.7.2.4)
    assert (refused.value.result, refused.value.diagnostic) == (1, 1)
    public_still_reads(secure_lab)


MASTER_KEY = "101112131415161718191A1B1C1D1E1F"
NEW_EK = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"
NEW_AK = "B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"


def utility_ini(port: int, directory: Path) -> str:
    return (f"[simulator]\nconsole = tcp:0:interface=127.0.0.1\nstate_dir = {directory / 'state'}\n"
            f"packet_log = {directory / 'packets.jsonl'}\n\n"
            f"[meters:abt]\ncount = 1\nport = {port}\nload_profile_days = 1\n\n"
            "[association:public]\nclient_sap = 16\n\n"
            f"[association:utility]\nclient_sap = 48\nauthentication = hls-gmac\ncontext = ln-ciphered\n"
            f"security = authenticated-encryption\naccess = full\nauthentication_key = {AK}\n"
            f"block_cipher_key = {EK}\nmaster_key = {MASTER_KEY}\n")


def utility_client(block_cipher_key: str, authentication_key: str, counter: int) -> GXDLMSSecureClient:
    client = GXDLMSSecureClient(True, 48, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
    client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    client.ciphering.systemTitle = CLIENT_TITLE
    client.ciphering.blockCipherKey = bytes.fromhex(block_cipher_key)
    client.ciphering.authenticationKey = bytes.fromhex(authentication_key)
    client.ciphering.invocationCounter = counter
    return client


def read_invocation_counter(lab: Lab) -> int:
    """What the public client reads to know the next counter to use (0.0.43.1.2.255: association 2)."""
    with MeterSession(lab.ports[0], 16) as session:
        return int(session.read(GXDLMSData("0.0.43.1.2.255"), 2))


def test_key_transfer_survives_a_restart_and_the_old_key_stops_working(tmp_path: Path) -> None:
    port = find_free_port_range(1)
    lab = launch_lab(tmp_path, utility_ini(port, tmp_path), (port,))
    try:
        client = utility_client(EK, AK, 100)
        session = open_session(lab, client)
        setup = GXDLMSSecuritySetup("0.0.43.0.2.255")
        transfer = setup.globalKeyTransfer(client, bytes.fromhex(MASTER_KEY), [
            (GlobalKeyType.UNICAST_ENCRYPTION, bytes.fromhex(NEW_EK)),
            (GlobalKeyType.AUTHENTICATION, bytes.fromhex(NEW_AK))])
        session.exchange(transfer, GXReplyData())
        session.release()
        session.close()
        last = read_invocation_counter(lab)
        assert last > 100
    finally:
        stop_lab(lab)
    lab = launch_lab(tmp_path, utility_ini(port, tmp_path), (port,))
    try:
        assert read_invocation_counter(lab) == last
        with pytest.raises(GXDLMSException) as old_keys:
            open_session(lab, utility_client(EK, AK, last + 1))
        replay = utility_client(NEW_EK, NEW_AK, last)
        with pytest.raises(GXDLMSException) as replayed:
            open_session(lab, replay)
        assert [(e.value.result, e.value.diagnostic) for e in (old_keys, replayed)] == [(1, 1), (1, 1)]
        session = open_session(lab, utility_client(NEW_EK, NEW_AK, last + 10), max_pdu=256)
        read_clock_and_profile(session)
        session.release()
        session.close()
    finally:
        stop_lab(lab)
    results = [json.loads(line)["result"] for line in (tmp_path / "packets.jsonl").read_text().splitlines()]
    # The old keys do not decipher the InitiateRequest (AARE no-reason-given); the replay is refused.
    assert "no-reason-given" in results and "invocation-counter-error" in results


def test_packet_log_shows_ciphered_exchanges_deciphered(secure_lab: Lab) -> None:
    log = secure_lab.directory / "packets.jsonl"
    sap = SAP["hls-gmac-authenticated-encryption"]

    def releases() -> list[dict[str, Any]]:
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return [r for r in records if r["kind"] == "rlrq" and r["client_sap"] == sap]

    deadline = time.monotonic() + 10
    while True:  # the exchanges of the earlier tests reach the log first
        before = len(releases())
        time.sleep(0.3)
        if len(releases()) == before or time.monotonic() > deadline:
            break
    session = open_session(secure_lab, secure_client("hls-gmac-authenticated-encryption",
                                                     Security.AUTHENTICATION_ENCRYPTION))
    session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
    session.release()
    session.close()
    deadline = time.monotonic() + 10
    while len(releases()) == before:
        assert time.monotonic() < deadline, "the packet log did not get the exchange"
        time.sleep(0.1)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    get = [r for r in records if r["kind"] == "get-request-normal" and r["client_sap"] == sap][-1]
    assert get["ciphered"] and get["request_apdu"].startswith("C001") and get["request"][16:18] == "C8"
    described = json.dumps(get["description_request"])
    assert "Clock" in described and get["request_apdu"][:26] in described.replace(" ", "")
    assert get["response_apdu"].startswith("C401")
    assert get["response_apdu"][:20] in json.dumps(get["description_response"]).replace(" ", "")
    # The AARQ's ciphered InitiateRequest and the AARE's InitiateResponse are
    # shown as the meter read and answered them, deciphered.
    aarq = [r for r in records if r["kind"] == "aarq" and r["client_sap"] == sap][-1]
    assert aarq["ciphered"] and aarq["result"] == "authentication-required"
    request, response = json.dumps(aarq["description_request"]), json.dumps(aarq["description_response"])
    assert '"name": "glo-initiate-request"' in request and '"name": "initiate-request"' in request
    assert '"name": "glo-initiate-response"' in response and '"name": "initiate-response"' in response
    assert "deciphered by the meter" in request and "deciphered by the meter" in response

"""The client simulator with HLS-ECDSA (mechanism 7) on suites 1 and 2, and
the client and the meter on the same layers in their two roles.

Sans-I/O: a ``ClientSession`` talks to the meter's ``Session`` in memory, so
the client's Protection, AARQ and f(StoC) meet the meter's, in the plain and
the ciphered context, with global and dedicated keys. End to end:
``dlmstw-client read`` through ``main`` associates with HLS-ECDSA against the
lab of tests/test_interop_ecdsa.py (suite 1 with lab.ini's client key in the
plain context; suite 2, ciphered with 32-byte keys, with lab.ini's client
certificate) and reads the clock; the meter's key, which checks f(CtoS),
comes from its certificate, exported by gurux-dlms.

Client keys: RFC 6979 A.2.5 / A.2.6 (tests/certificate_support.py).
"""

from __future__ import annotations

import datetime
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from certificate_support import RFC6979_PUBLIC, client_key
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from interop_support import REPO_ROOT, Lab, find_free_port_range, launch_lab, stop_lab
from test_ecdsa import CLIENT_TITLE, CLOCK, Meter
from test_interop_ecdsa import KEYS, SAP, ciphered, ecdsa_lab, meter_public_key

from dlmstw.client.cli import main
from dlmstw.client.session import (
    Associated,
    AuthenticationFailed,
    ClientEvent,
    ClientSecurity,
    ClientSession,
    ClientState,
    GetComplete,
    Released,
)
from dlmstw.enums import ActionResult, DataType
from dlmstw.plugins.registry import load_registry
from dlmstw.security.ciphering import PLAIN_TAG

__all__ = ["ecdsa_lab"]  # the lab fixture of tests/test_interop_ecdsa.py, one lab for this module

MECHANISMS = load_registry().mechanisms
DEDICATED = {1: bytes(range(16)), 2: bytes(range(32))}


#: client SAP -> (association lines): ECDSA plain and ciphered per suite, and HLS-GMAC per suite and policy.
PAIRS: dict[int, str] = {
    0x70: f"authentication = hls-ecdsa\nsecurity_suite = 1\nclient_public_key = {RFC6979_PUBLIC[1]}\n",
    0x71: f"authentication = hls-ecdsa\nsecurity_suite = 2\nclient_public_key = {RFC6979_PUBLIC[2]}\n",
    0x72: f"authentication = hls-ecdsa\nclient_public_key = {RFC6979_PUBLIC[1]}\n" + ciphered(1),
    0x73: f"authentication = hls-ecdsa\nclient_public_key = {RFC6979_PUBLIC[2]}\n" + ciphered(2),
    0x74: "authentication = hls-gmac\n" + ciphered(2, "authentication"),
    0x75: "authentication = hls-gmac\n" + ciphered(1, "encryption"),
}
PAIR_LAB = ("[meters:abt]\nmodel = is15959-abt\nload_profile_days = 1\n\n[association:public]\nclient_sap = 16\n\n"
            + "".join(f"[association:a{sap:x}]\nclient_sap = {sap}\n{lines}\n" for sap, lines in PAIRS.items()))


def pump(meter: Any, client: ClientSession) -> ClientEvent | None:
    """Hand every APDU the client has to send to the meter, and its answer back."""
    event = None
    while (apdu := client.next_request()) is not None:
        event = client.receive(meter.receive(apdu).answer or b"")
    return event


def security(suite: int, policy: int = 0, meter: Meter | None = None, dedicated: bool = False,
             signer: ec.EllipticCurvePrivateKey | None = None) -> ClientSecurity:
    """The client's material for ``suite``; the meter's public key when ``meter`` is given."""
    ak, ek = KEYS[suite]
    return ClientSecurity(CLIENT_TITLE, policy, bytes.fromhex(ek) if policy else None,
                          bytes.fromhex(ak) if policy else None, DEDICATED[suite] if dedicated else None, suite,
                          signer, None if meter is None else meter.security.signing_key(suite).public_key())


@pytest.mark.parametrize(("sap", "suite", "policy", "dedicated"), [
    (0x70, 1, 0, False), (0x71, 2, 0, False), (0x72, 1, 0x30, False), (0x73, 2, 0x30, True),
])
def test_ecdsa_client_and_meter_in_memory(sap: int, suite: int, policy: int, dedicated: bool) -> None:
    meter = Meter(PAIR_LAB)
    client = ClientSession(sap, MECHANISMS["hls-ecdsa"], security=security(suite, policy, meter, dedicated,
                                                                           client_key(suite)),
                           invocation_counter=itertools.count(1))
    server = meter.session(sap)
    client.request_association()
    associated = pump(server, client)
    assert isinstance(associated, Associated) and associated.ctos_checked
    assert client.state is ClientState.ASSOCIATED
    client.request_get(CLOCK)
    request = client.next_request() or b""
    assert (request[0] in PLAIN_TAG) is bool(policy)
    clock = client.receive(server.receive(request).answer or b"")
    assert isinstance(clock, GetComplete) and clock.values[0][0] == DataType.OCTET_STRING
    client.request_release()
    assert pump(server, client) == Released(0)


@pytest.mark.parametrize(("sap", "suite", "policy"), [(0x74, 2, 0x10), (0x75, 1, 0x20)])
def test_gmac_client_and_meter_in_memory_count_both_ways(sap: int, suite: int, policy: int) -> None:
    """Each side's counter grows and each checks the other's: the meter saw the
    client's, and a replayed meter answer is refused by the client."""
    meter = Meter(PAIR_LAB)
    client = ClientSession(sap, MECHANISMS["hls-gmac"], security=security(suite, policy, dedicated=True),
                           invocation_counter=itertools.count(5))
    server = meter.session(sap)
    client.request_association()
    assert isinstance(pump(server, client), Associated)
    client.request_get(CLOCK)
    request = client.next_request() or b""
    answer = server.receive(request).answer or b""
    assert isinstance(client.receive(answer), GetComplete)
    assert meter.security.lowest_client_counter(f"a{sap:x}") == 9  # AARQ 5, f(StoC) 6, ACTION 7, GET 8
    client.request_get(CLOCK)
    client.next_request()
    with pytest.raises(Exception, match="not above"):
        client.receive(answer)


def test_a_wrong_meter_key_fails_the_client_and_none_leaves_f_ctos_unchecked() -> None:
    meter = Meter(PAIR_LAB)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    wrong = ClientSession(0x70, MECHANISMS["hls-ecdsa"],
                          security=ClientSecurity(CLIENT_TITLE, suite=1, signing_key=client_key(1),
                                                  server_public_key=other))
    wrong.request_association()
    assert pump(meter.session(0x70), wrong) == AuthenticationFailed(
        ActionResult.SUCCESS, "the meter's f(CtoS) does not check out")
    unchecked = ClientSession(0x70, MECHANISMS["hls-ecdsa"], security=security(1, signer=client_key(1)))
    unchecked.request_association()
    associated = pump(meter.session(0x70), unchecked)
    assert isinstance(associated, Associated) and not associated.ctos_checked


def test_a_signing_key_off_the_suite_is_refused() -> None:
    with pytest.raises(ValueError, match="secp384r1 is not for security suite 1"):
        ClientSecurity(CLIENT_TITLE, suite=1, signing_key=client_key(2))


# -- dlmstw-client read against a lab -----------------------------------------

_counters = itertools.count(1, 1000)


@pytest.fixture(scope="module")
def files(ecdsa_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PEM files: the client's keys per suite, and the meter's certificate of each ECDSA association."""
    directory = tmp_path_factory.mktemp("client-ecdsa-keys")
    written: dict[str, Path] = {}
    for suite in (1, 2):
        path = written[f"client-{suite}"] = directory / f"client-{suite}.pem"
        path.write_bytes(client_key(suite).private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    for association in ("ecdsa-1-plain", "ecdsa-2"):
        path = written[association] = directory / f"{association}.pem"
        path.write_bytes(meter_public_key(ecdsa_lab, association).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return written


def options(files: dict[str, Path], association: str) -> list[str]:
    """What reads ``association`` with HLS-ECDSA: suite 1 plain, or suite 2 ciphered with 32-byte keys."""
    if association == "ecdsa-1-plain":
        return ["--signing-key", str(files["client-1"])]
    ak, ek = KEYS[2]
    return ["--signing-key", str(files["client-2"]), "--context", "ln-ciphered", "--key", ek, "--auth-key", ak,
            "--invocation-counter", str(next(_counters))]


def read_clock(lab: Lab, capsys: pytest.CaptureFixture[str], association: str, *extra: str) -> tuple[int, Any, str]:
    code = main(["read", f"127.0.0.1:{lab.ports[0]}", "8/0.0.1.0.0.255:2", "--client", str(SAP[association]),
                 "--auth", "hls-ecdsa", "--system-title", CLIENT_TITLE.hex(), "--json", "--timeout", "5", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


@pytest.mark.parametrize("association", ["ecdsa-1-plain", "ecdsa-2"])
def test_read_the_clock_with_hls_ecdsa(ecdsa_lab: Lab, files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                       association: str) -> None:
    code, document, err = read_clock(ecdsa_lab, capsys, association, *options(files, association),
                                     "--meter-key", str(files[association]))
    assert code == 0, err
    assert err == ""
    reading = document["readings"][0]
    assert reading["target"] == "8/0.0.1.0.0.255:2" and "error" not in reading
    clock = datetime.datetime.fromisoformat(reading["value"])
    assert abs(clock - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(minutes=1)


def test_without_the_meter_key_f_ctos_goes_unchecked_and_says_so(
        ecdsa_lab: Lab, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = read_clock(ecdsa_lab, capsys, "ecdsa-1-plain", *options(files, "ecdsa-1-plain"))
    assert code == 0
    assert "f(CtoS) was not checked (no --meter-key)" in err


def test_another_meter_key_or_client_key_fails_authentication(
        ecdsa_lab: Lab, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    other_meter = files["client-1"].with_name("other-meter-1.pem")
    other_meter.write_bytes(other.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    code, _, err = read_clock(ecdsa_lab, capsys, "ecdsa-1-plain", *options(files, "ecdsa-1-plain"),
                              "--meter-key", str(other_meter))
    assert code == 4 and "HLS authentication-failure: the meter's f(CtoS) does not check out" in err
    other_client = files["client-1"].with_name("other-client-1.pem")
    other_client.write_bytes(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    code, _, err = read_clock(ecdsa_lab, capsys, "ecdsa-1-plain", "--signing-key", str(other_client))
    assert code == 4 and "HLS authentication-failure: the meter refused f(StoC)" in err
    code, _, err = read_clock(ecdsa_lab, capsys, "ecdsa-2", *options(files, "ecdsa-2"),
                              "--meter-key", str(files["ecdsa-1-plain"]))
    assert code == 2 and "not for security suite 2" in err


def test_campaign_with_hls_ecdsa(ecdsa_lab: Lab, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["campaign", f"127.0.0.1:{ecdsa_lab.ports[0]}", "8/0.0.1.0.0.255:2", "--count", "2", "--json",
                 "--client", str(SAP["ecdsa-2"]), "--auth", "hls-ecdsa", "--system-title", CLIENT_TITLE.hex(),
                 *options(files, "ecdsa-2"), "--meter-key", str(files["ecdsa-2"])])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert (json.loads(out)["attempts"], json.loads(out)["failures"]) == (2, 0)


def test_the_readme_example_reads_the_sample_lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """etc/lab.ini's [association:ecdsa] (client SAP 54, suite 1, ciphered) trusts
    the key of etc/ecdsa-client-p256.pem: the README's command reads its clock."""
    port = find_free_port_range(5)
    text = (REPO_ROOT / "etc" / "lab.ini").read_text()
    for key, value in (("port", str(port)), ("console", "tcp:0:interface=127.0.0.1"),
                       ("state_dir", str(tmp_path / "state")), ("packet_log", "-")):
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    lab = launch_lab(tmp_path, text, tuple(range(port, port + 5)))
    try:
        code = main(["read", f"127.0.0.1:{port}", "--client", "54", "--auth", "hls-ecdsa",
                     "--signing-key", str(REPO_ROOT / "etc" / "ecdsa-client-p256.pem"),
                     "--system-title", "4D4D4D0000000001", "--context", "ln-ciphered",
                     "--key", "000102030405060708090A0B0C0D0E0F", "--auth-key", "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF",
                     "--invocation-counter", "1000", "0.0.1.0.0.255:2", "--json"])
    finally:
        stop_lab(lab)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["readings"][0]["target"] == "8/0.0.1.0.0.255:2"


@pytest.mark.parametrize(("arguments", "message"), [
    ([], "hls-ecdsa needs the client's signing key"),
    (["--signing-key", "/nonexistent.pem"], "No such file"),
    (["--signing-key", __file__], "not an unencrypted private key"),
    (["--auth", "hls-unknown"], "no such mechanism is installed"),
    (["--security-suite", "3"], "no such suite is installed"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], arguments: list[str], message: str) -> None:
    code = main(["read", "127.0.0.1:1", "8/0.0.1.0.0.255:2", "--client", "81", "--auth", "hls-ecdsa",
                 "--system-title", CLIENT_TITLE.hex(), *arguments])
    assert code == 2
    assert message in capsys.readouterr().err


def test_an_empty_apdu_in_a_ciphered_association_is_a_deciphering_error() -> None:
    meter = Meter(PAIR_LAB)
    client = ClientSession(0x75, MECHANISMS["hls-gmac"], security=security(1, 0x20),
                           invocation_counter=itertools.count(5))
    server = meter.session(0x75)
    client.request_association()
    assert isinstance(pump(server, client), Associated)
    assert server.receive(b"").answer == bytes.fromhex("D80105")  # service-not-allowed / deciphering-error
    assert server.result == "exception-response:service-not-allowed/deciphering-error"

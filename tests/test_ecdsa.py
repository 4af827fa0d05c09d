"""HLS-ECDSA (mechanism 7) inside the meter, sans-I/O: where the keys come
from (the meter's signing key per suite, made once and saved in state_dir;
the client's key from lab.ini or from an imported certificate), the 4-pass
exchange of Green Book 9.2.7.4 on suites 1 and 2, and the certificate
methods of Security setup (Blue Book 4.4.7, methods 4 to 8, attribute 6).

The client side is computed here with ``cryptography`` and the RFC 6979 A.2.5
/ A.2.6 keys (tests/certificate_support.py); gurux-dlms drives the same flow
over TCP in tests/test_interop_ecdsa.py.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certificate_support import RFC6979_PUBLIC, certificate, client_key, name, usage
from dlmstw.association.session import Outcome, ServerProfile, Session
from dlmstw.codec import acse, axdr, services, xdlms
from dlmstw.codec.services import (ActionRequestNormal, ActionResponseNormal, CosemAttributeDescriptor,
                                   CosemMethodDescriptor, GetRequestNormal, GetResponseNormal)
from dlmstw.config import parse_lab
from dlmstw.cosem.base import Context
from dlmstw.cosem.directory import ModelDirectory, MeterDirectory
from dlmstw.enums import (AcseServiceUserDiagnostic, ActionResult, ApplicationContextName, AssociationResult,
                          Conformance, DataType)
from dlmstw.security import keys
from dlmstw.security.certificates import CLIENT, SERVER, der, load_certificate
from dlmstw.plugins.registry import load_registry
from dlmstw.security.store import MeterSecurity
from dlmstw.server.assembly import Meter as AssembledMeter

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
METER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
OTHER_TITLE = bytes.fromhex("4D4D4D0000000002")
CTOS = bytes(range(0x30, 0x30 + 32))
SUITE_KEY = {1: "00112233445566778899AABBCCDDEEFF", 2: "00112233445566778899AABBCCDDEEFF" * 2}

LAB = f"""
[meters:abt]
model = is15959-abt
load_profile_days = 1

[association:public]
client_sap = 16

[association:ecdsa-1]
client_sap = 80
authentication = hls-ecdsa
security_suite = 1
client_public_key = {RFC6979_PUBLIC[1]}

[association:ecdsa-2]
client_sap = 81
authentication = hls-ecdsa
security_suite = 2
client_public_key = {RFC6979_PUBLIC[2]}

[association:manager-1]
client_sap = 82
authentication = lls
lls_password = 00000001
security_suite = 1
access = full

[association:reader-1]
client_sap = 83
authentication = lls
lls_password = 00000002
security_suite = 1
access = read-write
"""
SAP = {1: 80, 2: 81}
#: Security setup 0.0.43.0.x.255 of the x-th association: ecdsa-1 is x = 2, ecdsa-2 x = 3.
SETUP = {0: bytes((0, 0, 43, 0, 1, 255)), 1: bytes((0, 0, 43, 0, 2, 255)), 2: bytes((0, 0, 43, 0, 3, 255))}
MANAGER = 82
READER = 83
CLOCK = CosemAttributeDescriptor(8, bytes((0, 0, 1, 0, 0, 255)), 2)


class Watched:
    """A meter session that keeps the outcome of the last APDU it answered,
    for checks after a helper's exchange."""

    def __init__(self, session: Watched) -> None:
        self.session = session
        self.last: Outcome | None = None

    @property
    def plugins(self) -> Any:
        return self.session.plugins

    @plugins.setter
    def plugins(self, plugins: Any) -> None:
        self.session.plugins = plugins

    def receive(self, apdu: bytes) -> Outcome:
        self.last = self.session.receive(apdu)
        return self.last

    @property
    def result(self) -> str:
        assert self.last is not None
        return self.last.result


class Meter:
    """The first meter of LAB, in-process: its runtime (with its MeterSecurity)
    and directory, its clock at NOW."""

    def __init__(self, lab: str = LAB) -> None:
        config = next(parse_lab(lab).meters())
        self.registry = load_registry()
        self.model = ModelDirectory([self.registry.object_sets["is15959-abt"]], self.registry.classes,
                                    config.associations,
                                    self.registry.mechanisms,
                                    0x00501F, 1024)
        self.runtime = AssembledMeter(config, self.registry.object_sets["is15959-abt"], clock=lambda: NOW)
        self.associations = {a.client_sap: a for a in config.associations}
        self.security: MeterSecurity = self.runtime.security

    def session(self, client_sap: int) -> Watched:
        return Watched(Session(client_sap, 1, self.associations.get(client_sap),
                               MeterDirectory(self.model, self.runtime), self.registry,
                               ServerProfile(Conformance(0x00501F), 1024, METER_TITLE), self.security))

    def action(self, client_sap: int, setup: bytes, method: int, parameters: Any = None
               ) -> tuple[ActionResult, bytes | None]:
        """ACTION on a Security setup, as the association of ``client_sap``."""
        ctx = Context(self.runtime, SimpleNamespace(client_sap=client_sap), self.model, NOW)
        return self.model.action(ctx, CosemMethodDescriptor(64, setup, method), parameters)

    def read_certificates(self, setup: bytes) -> Any:
        ctx = Context(self.runtime, SimpleNamespace(client_sap=MANAGER), self.model, NOW)
        encoded = self.model.get(ctx, CosemAttributeDescriptor(64, setup, 6), None)
        assert isinstance(encoded, bytes)
        value, end = axdr.decode_data(encoded)
        assert end == len(encoded)
        return value

    def export(self, suite: int, entity: int = SERVER, title: bytes = METER_TITLE) -> tuple[ActionResult, bytes | None]:
        return self.action(MANAGER, SETUP[suite], 7, by_entity(entity, 0, title))


def by_entity(entity: int, kind: int, title: bytes) -> tuple[DataType, list[Any]]:
    """certificate_identification by entity (Blue Book 4.4.7)."""
    return (DataType.STRUCTURE, [(DataType.ENUM, 0), (DataType.STRUCTURE, [
        (DataType.ENUM, entity), (DataType.ENUM, kind), (DataType.OCTET_STRING, title)])])


def by_serial(serial: bytes, issuer: bytes) -> tuple[DataType, list[Any]]:
    return (DataType.STRUCTURE, [(DataType.ENUM, 1), (DataType.STRUCTURE, [
        (DataType.OCTET_STRING, serial), (DataType.OCTET_STRING, issuer)])])


def octets(result: tuple[ActionResult, bytes | None]) -> bytes:
    """The octet-string an ACTION returned (it must have succeeded)."""
    assert result[0] == ActionResult.SUCCESS
    assert result[1] is not None
    value, end = axdr.decode_data(result[1])
    assert value[0] == DataType.OCTET_STRING and end == len(result[1])
    return bytes(value[1])


def aarq(title: bytes | None = CLIENT_TITLE, mechanism: int = 7, ctos: bytes = CTOS) -> bytes:
    initiate = xdlms.encode_initiate_request(xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00501F), 1024))
    return acse.encode_aarq(acse.AARQ(
        application_context_name=ApplicationContextName.LOGICAL_NAME, calling_ap_title=title,
        sender_acse_requirements=True, mechanism_name=mechanism, calling_authentication_value=ctos,
        user_information=initiate))


def reply_to_hls(proof: bytes) -> bytes:
    return services.encode_request(ActionRequestNormal(
        0xC1, CosemMethodDescriptor(15, bytes((0, 0, 40, 0, 0, 255)), 1), (DataType.OCTET_STRING, proof)))


def challenge(session: Watched, title: bytes = CLIENT_TITLE) -> bytes:
    """Passes 1 and 2: the meter's StoC."""
    answer = acse.decode_aare(session.receive(aarq(title)).answer or b"")
    assert (answer.result, answer.result_source_diagnostic) == (
        AssociationResult.ACCEPTED, (acse.SOURCE_ACSE_SERVICE_USER, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED))
    assert answer.mechanism_name == 7 and answer.responding_ap_title == METER_TITLE
    assert session.result == "authentication-required"
    assert answer.responding_authentication_value is not None
    assert len(answer.responding_authentication_value) == 32
    return answer.responding_authentication_value


def exchange(session: Watched, suite: int, signer: ec.EllipticCurvePrivateKey,
             title: bytes = CLIENT_TITLE) -> tuple[ActionResponseNormal, bytes]:
    """Passes 1 to 4 with f(StoC) = ECDSA(ST-C || ST-S || StoC || CtoS) by
    ``signer``: the ACTION response and the StoC."""
    stoc = challenge(session, title)
    proof = keys.sign(suite, signer, title + METER_TITLE + stoc + CTOS)
    response = services.decode_response(session.receive(reply_to_hls(proof)).answer or b"")
    assert isinstance(response, ActionResponseNormal)
    return response, stoc


def authenticate(session: Watched, suite: int, signer: ec.EllipticCurvePrivateKey,
                 title: bytes = CLIENT_TITLE) -> ActionResponseNormal:
    return exchange(session, suite, signer, title)[0]


def server_proof(response: ActionResponseNormal) -> bytes:
    """f(CtoS), the octet-string of a successful reply_to_HLS_authentication."""
    assert response.result == ActionResult.SUCCESS and response.return_parameters is not None
    value, end = axdr.decode_data(bytes(response.return_parameters))
    assert value[0] == DataType.OCTET_STRING and end == len(response.return_parameters)
    return bytes(value[1])


def reads_clock(session: Watched) -> bool:
    answer = services.decode_response(session.receive(services.encode_request(
        GetRequestNormal(0xC1, CLOCK, None))).answer or b"")
    return isinstance(answer, GetResponseNormal) and isinstance(answer.result, bytes)


# ---------------------------------------------------------------------------
# The 4-pass exchange


@pytest.mark.parametrize("suite", [1, 2])
def test_ecdsa_association_with_the_lab_ini_client_key(suite: int) -> None:
    meter = Meter()
    session = meter.session(SAP[suite])
    response, stoc = exchange(session, suite, client_key(suite))
    proof = server_proof(response)
    assert len(proof) == {1: 64, 2: 96}[suite]  # r || s
    meter_key = meter.security.signing_keys[suite].public_key()
    # f(CtoS) = ECDSA(ST-S || ST-C || CtoS || StoC) with the meter's key of the suite's curve
    assert keys.verify(suite, meter_key, METER_TITLE + CLIENT_TITLE + CTOS + stoc, proof)
    assert meter_key.curve.name == {1: "secp256r1", 2: "secp384r1"}[suite]
    assert session.result == "success"
    assert reads_clock(session)


@pytest.mark.parametrize("suite", [1, 2])
def test_wrong_signature_is_refused_and_leaves_the_association_unusable(suite: int) -> None:
    meter = Meter()
    session = meter.session(SAP[suite])
    response = authenticate(session, suite, ec.generate_private_key(client_key(suite).curve))
    assert (response.result, response.return_parameters) == (ActionResult.READ_WRITE_DENIED, None)
    assert session.result == "authentication-failure"
    assert not reads_clock(session)


def test_signature_over_the_server_order_is_refused() -> None:
    """f(StoC) signs ST-C || ST-S || StoC || CtoS, not the server's order."""
    meter = Meter()
    session = meter.session(SAP[1])
    stoc = challenge(session)
    proof = keys.sign(1, client_key(1), METER_TITLE + CLIENT_TITLE + CTOS + stoc)
    response = services.decode_response(session.receive(reply_to_hls(proof)).answer or b"")
    assert isinstance(response, ActionResponseNormal) and response.result == ActionResult.READ_WRITE_DENIED


def test_only_reply_to_hls_authentication_is_served_while_authenticating() -> None:
    """Green Book 9.2.7.4: until f(StoC) is checked, other requests are refused
    and the association stays pending; the reply then still authenticates."""
    session = Meter().session(SAP[1])
    stoc = challenge(session)
    assert not reads_clock(session)
    assert session.result == "exception-response:service-not-allowed/operation-not-possible"
    proof = keys.sign(1, client_key(1), CLIENT_TITLE + METER_TITLE + stoc + CTOS)
    response = services.decode_response(session.receive(reply_to_hls(proof)).answer or b"")
    assert isinstance(response, ActionResponseNormal) and response.result == ActionResult.SUCCESS
    assert reads_clock(session)


def test_reply_to_hls_authentication_without_hls_pending_is_denied() -> None:
    """The Association LN method answers read-write-denied once the
    association is established, and the association stays usable."""
    session = Meter().session(SAP[1])
    assert authenticate(session, 1, client_key(1)).result == ActionResult.SUCCESS
    again = services.decode_response(session.receive(reply_to_hls(bytes(64))).answer or b"")
    assert isinstance(again, ActionResponseNormal) and again.result == ActionResult.READ_WRITE_DENIED
    assert session.result == "read-write-denied"
    assert reads_clock(session)


def test_ecdsa_needs_the_calling_ap_title() -> None:
    answer = acse.decode_aare(Meter().session(SAP[1]).receive(aarq(title=None)).answer or b"")
    assert answer.result == AssociationResult.REJECTED_PERMANENT
    assert answer.result_source_diagnostic[1] == AcseServiceUserDiagnostic.CALLING_AP_TITLE_NOT_RECOGNIZED


def test_the_meter_signing_key_is_made_once_and_survives_a_restart() -> None:
    meter = Meter()
    assert meter.security.signing_keys == {} and not meter.security.changed
    assert authenticate(meter.session(SAP[1]), 1, client_key(1)).result == ActionResult.SUCCESS
    assert authenticate(meter.session(SAP[2]), 2, client_key(2)).result == ActionResult.SUCCESS
    first = {s: keys.public_key_bytes(k) for s, k in meter.security.signing_keys.items()}
    assert sorted(first) == [1, 2] and meter.security.changed
    assert authenticate(meter.session(SAP[1]), 1, client_key(1)).result == ActionResult.SUCCESS
    assert keys.public_key_bytes(meter.security.signing_keys[1]) == first[1]
    certificate_der = octets(meter.export(1))
    saved = json.loads(json.dumps(meter.security.state()))
    restarted = Meter()
    restarted.security.restore(saved)
    assert {s: keys.public_key_bytes(k) for s, k in restarted.security.signing_keys.items()} == first
    assert octets(restarted.export(1)) == certificate_der
    response, stoc = exchange(restarted.session(SAP[2]), 2, client_key(2))
    assert keys.verify(2, keys.public_key_from_bytes(2, first[2]), METER_TITLE + CLIENT_TITLE + CTOS + stoc,
                       server_proof(response))


def test_existing_state_without_ecdsa_keys_still_restores() -> None:
    security = MeterSecurity("m")
    security.restore({"frame_counter": 7, "client_counters": {"a": 3}, "client_titles": {}, "keys": {}})
    assert (security.frame_counter, security.client_counters, security.signing_keys, security.certificates) == (
        7, {"a": 3}, {}, {})


# ---------------------------------------------------------------------------
# Security setup: the meter's certificate, its key pair and request


def test_export_the_meter_certificate_by_entity() -> None:
    meter = Meter()
    for suite in (1, 2):
        exported = load_certificate(octets(meter.export(suite)))
        assert exported.subject == exported.issuer == name("4D4D4D0000BC614E")
        assert exported.public_key().public_numbers() == meter.security.signing_keys[suite].public_key().public_numbers()
        key_usage = exported.extensions.get_extension_for_class(x509.KeyUsage)
        assert key_usage.critical and key_usage.value.digital_signature and not key_usage.value.key_agreement
        assert exported.signature_hash_algorithm is not None
        assert exported.signature_hash_algorithm.name == {1: "sha256", 2: "sha384"}[suite]
        exported.verify_directly_issued_by(exported)
        assert exported.not_valid_before_utc == datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)
        assert exported.not_valid_after_utc == datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
    assert meter.export(1, title=OTHER_TITLE) == (ActionResult.OTHER_REASON, None)
    assert meter.export(1, entity=CLIENT, title=CLIENT_TITLE) == (ActionResult.OTHER_REASON, None)


def test_export_by_serial_takes_the_integer_or_its_der() -> None:
    meter = Meter()
    exported = load_certificate(octets(meter.export(1)))
    serial = exported.serial_number.to_bytes((exported.serial_number.bit_length() + 7) // 8, "big")
    issuer = exported.issuer.public_bytes()
    assert octets(meter.action(MANAGER, SETUP[1], 7, by_serial(serial, issuer))) == der(exported)
    der_integer = bytes((0x02, len(serial) + (serial[0] >> 7))) + bytes(serial[0] >> 7) + serial
    assert octets(meter.action(MANAGER, SETUP[1], 7, by_serial(der_integer, issuer))) == der(exported)
    assert meter.action(MANAGER, SETUP[1], 7, by_serial(serial, name("other").public_bytes())) == (
        ActionResult.OTHER_REASON, None)


def test_certificates_attribute_lists_the_meter_and_imported_certificates() -> None:
    meter = Meter()
    assert meter.read_certificates(SETUP[0]) == (DataType.ARRAY, [])
    own = load_certificate(octets(meter.export(1)))
    client = certificate(client_key(1).public_key(), CLIENT_TITLE.hex().upper(), client_key(1), serial=0x0102)
    assert meter.action(MANAGER, SETUP[1], 6, (DataType.OCTET_STRING, der(client))) == (ActionResult.SUCCESS, None)
    serial = own.serial_number.to_bytes((own.serial_number.bit_length() + 7) // 8, "big")
    subject = name("4D4D4D0000BC614E").public_bytes()
    assert meter.read_certificates(SETUP[1]) == (DataType.ARRAY, [
        (DataType.STRUCTURE, [(DataType.ENUM, 0), (DataType.ENUM, 0), (DataType.OCTET_STRING, serial),
                              (DataType.OCTET_STRING, subject), (DataType.OCTET_STRING, subject),
                              (DataType.OCTET_STRING, b"")]),
        (DataType.STRUCTURE, [(DataType.ENUM, 1), (DataType.ENUM, 0), (DataType.OCTET_STRING, b"\x01\x02"),
                              (DataType.OCTET_STRING, name("4D4D4D0000000001").public_bytes()),
                              (DataType.OCTET_STRING, name("4D4D4D0000000001").public_bytes()),
                              (DataType.OCTET_STRING, b"")])])


def test_generate_key_pair_replaces_the_key_and_its_certificate() -> None:
    meter = Meter()
    before = octets(meter.export(1))
    old_key = keys.public_key_bytes(meter.security.signing_keys[1])
    assert meter.action(MANAGER, SETUP[1], 4, (DataType.ENUM, 0)) == (ActionResult.SUCCESS, None)
    assert keys.public_key_bytes(meter.security.signing_keys[1]) != old_key
    after = load_certificate(octets(meter.export(1)))
    assert der(after) != before
    assert after.public_key().public_numbers() == meter.security.signing_keys[1].public_key().public_numbers()
    assert authenticate(meter.session(SAP[1]), 1, client_key(1)).result == ActionResult.SUCCESS


@pytest.mark.parametrize("suite", [1, 2])
def test_generate_certificate_request(suite: int) -> None:
    meter = Meter()
    request = x509.load_der_x509_csr(octets(meter.action(MANAGER, SETUP[suite], 5, (DataType.ENUM, 0))))
    assert request.is_signature_valid
    assert request.subject == name("4D4D4D0000BC614E")
    assert request.public_key().public_numbers() == meter.security.signing_keys[suite].public_key().public_numbers()
    assert request.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert request.signature_hash_algorithm is not None
    assert request.signature_hash_algorithm.name == {1: "sha256", 2: "sha384"}[suite]


@pytest.mark.parametrize(("method", "parameters", "result"), [
    (4, (DataType.ENUM, 1), ActionResult.OTHER_REASON),  # key agreement key pairs are not provided
    (4, (DataType.ENUM, 2), ActionResult.OTHER_REASON),  # nor TLS
    (4, (DataType.UNSIGNED, 0), ActionResult.TYPE_UNMATCHED),
    (4, None, ActionResult.TYPE_UNMATCHED),
    (5, (DataType.ENUM, 1), ActionResult.OTHER_REASON),
    (5, (DataType.OCTET_STRING, b"\x00"), ActionResult.TYPE_UNMATCHED),
    (6, (DataType.ENUM, 0), ActionResult.TYPE_UNMATCHED),
    (6, None, ActionResult.TYPE_UNMATCHED),
    (7, (DataType.OCTET_STRING, b""), ActionResult.TYPE_UNMATCHED),
    (7, (DataType.STRUCTURE, [(DataType.ENUM, 0)]), ActionResult.TYPE_UNMATCHED),
    (7, (DataType.STRUCTURE, [(DataType.ENUM, 2), (DataType.STRUCTURE, [])]), ActionResult.TYPE_UNMATCHED),
    (7, (DataType.STRUCTURE, [(DataType.ENUM, 0), (DataType.STRUCTURE, [
        (DataType.ENUM, 0), (DataType.ENUM, 0)])]), ActionResult.TYPE_UNMATCHED),
    (7, (DataType.STRUCTURE, [(DataType.UNSIGNED, 0), (DataType.STRUCTURE, [])]), ActionResult.TYPE_UNMATCHED),
    (8, (DataType.STRUCTURE, [(DataType.ENUM, 1), (DataType.STRUCTURE, [
        (DataType.OCTET_STRING, b"\x01")])]), ActionResult.TYPE_UNMATCHED),
    (8, None, ActionResult.TYPE_UNMATCHED),
])
def test_malformed_method_parameters(method: int, parameters: Any, result: ActionResult) -> None:
    assert Meter().action(MANAGER, SETUP[1], method, parameters) == (result, None)


@pytest.mark.parametrize("method", [4, 5, 6, 7, 8])
def test_suite_0_has_no_certificate_methods(method: int) -> None:
    parameters = {4: (DataType.ENUM, 0), 5: (DataType.ENUM, 0), 6: (DataType.OCTET_STRING, b"\x30\x00"),
                  7: by_entity(SERVER, 0, METER_TITLE), 8: by_entity(CLIENT, 0, CLIENT_TITLE)}[method]
    assert Meter().action(MANAGER, SETUP[0], method, parameters) == (ActionResult.OTHER_REASON, None)


@pytest.mark.parametrize("method", [4, 5, 6, 7, 8])
def test_certificate_methods_need_full_access(method: int) -> None:
    assert Meter().action(READER, SETUP[1], method, (DataType.ENUM, 0)) == (ActionResult.READ_WRITE_DENIED, None)


# ---------------------------------------------------------------------------
# Security setup: imported certificates


def import_certificate(meter: Meter, suite: int, cert: x509.Certificate) -> tuple[ActionResult, bytes | None]:
    return meter.action(MANAGER, SETUP[suite], 6, (DataType.OCTET_STRING, der(cert)))


@pytest.mark.parametrize("suite", [1, 2])
def test_an_imported_client_certificate_authenticates_its_system_title(suite: int) -> None:
    meter = Meter()
    other = ec.generate_private_key(client_key(suite).curve)
    # Without a certificate for OTHER_TITLE the lab.ini key applies to every title.
    assert authenticate(meter.session(SAP[suite]), suite, other, OTHER_TITLE).result == ActionResult.READ_WRITE_DENIED
    cert = certificate(other.public_key(), OTHER_TITLE.hex().upper(), other)
    assert import_certificate(meter, suite, cert) == (ActionResult.SUCCESS, None)
    assert authenticate(meter.session(SAP[suite]), suite, other, OTHER_TITLE).result == ActionResult.SUCCESS
    # the certificate wins over the lab.ini key for its title, and only for it
    assert authenticate(meter.session(SAP[suite]), suite, client_key(suite), OTHER_TITLE).result == \
        ActionResult.READ_WRITE_DENIED
    assert authenticate(meter.session(SAP[suite]), suite, client_key(suite)).result == ActionResult.SUCCESS
    assert octets(meter.action(MANAGER, SETUP[suite], 7, by_entity(CLIENT, 0, OTHER_TITLE))) == der(cert)
    saved = json.loads(json.dumps(meter.security.state()))
    restarted = Meter()
    restarted.security.restore(saved)
    assert authenticate(restarted.session(SAP[suite]), suite, other, OTHER_TITLE).result == ActionResult.SUCCESS
    assert restarted.action(MANAGER, SETUP[suite], 8, by_entity(CLIENT, 0, OTHER_TITLE)) == (ActionResult.SUCCESS, None)
    assert authenticate(restarted.session(SAP[suite]), suite, other, OTHER_TITLE).result == \
        ActionResult.READ_WRITE_DENIED
    assert restarted.action(MANAGER, SETUP[suite], 8, by_entity(CLIENT, 0, OTHER_TITLE)) == (
        ActionResult.OTHER_REASON, None)


def test_a_new_certificate_for_the_same_title_replaces_the_old_one() -> None:
    meter = Meter()
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    for key in (first, second):
        assert import_certificate(meter, 1, certificate(key.public_key(), "4D4D4D0000000002", key)) == (
            ActionResult.SUCCESS, None)
    assert len(meter.security.certificates["ecdsa-1"]) == 1
    assert authenticate(meter.session(SAP[1]), 1, first, OTHER_TITLE).result == ActionResult.READ_WRITE_DENIED
    assert authenticate(meter.session(SAP[1]), 1, second, OTHER_TITLE).result == ActionResult.SUCCESS


def test_a_key_agreement_certificate_does_not_authenticate() -> None:
    meter = Meter()
    other = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(other.public_key(), "4D4D4D0000000002", other, key_usage=usage(key_agreement=True))
    assert import_certificate(meter, 1, cert) == (ActionResult.SUCCESS, None)
    assert octets(meter.action(MANAGER, SETUP[1], 7, by_entity(CLIENT, 1, OTHER_TITLE))) == der(cert)
    assert authenticate(meter.session(SAP[1]), 1, other, OTHER_TITLE).result == ActionResult.READ_WRITE_DENIED


def test_a_certification_authority_signed_meter_certificate_replaces_the_self_signed_one() -> None:
    meter = Meter()
    authority = ec.generate_private_key(ec.SECP384R1())
    root = certificate(authority.public_key(), "Lab root CA", authority, key_usage=usage(key_cert_sign=True), ca=True,
                       serial=1)
    assert import_certificate(meter, 1, root) == (ActionResult.SUCCESS, None)
    meter_key = meter.security.signing_key(1)
    issued = certificate(meter_key.public_key(), "4D4D4D0000BC614E", authority, issuer="Lab root CA", serial=2,
                         algorithm=hashes.SHA384())
    assert import_certificate(meter, 1, issued) == (ActionResult.SUCCESS, None)
    assert octets(meter.export(1)) == der(issued)
    assert octets(meter.action(MANAGER, SETUP[1], 7, by_serial(b"\x01", root.subject.public_bytes()))) == der(root)
    entities = [item[1][0][1] for item in meter.read_certificates(SETUP[1])[1]]
    assert entities == [0, 2]  # server, certification authority
    # the meter's own certificate cannot be removed
    assert meter.action(MANAGER, SETUP[1], 8, by_entity(SERVER, 0, METER_TITLE)) == (ActionResult.OTHER_REASON, None)
    assert meter.action(MANAGER, SETUP[1], 8, by_serial(b"\x01", root.subject.public_bytes())) == (
        ActionResult.SUCCESS, None)
    assert [item[1][0][1] for item in meter.read_certificates(SETUP[1])[1]] == [0]


def test_import_refusals() -> None:
    meter = Meter()
    key = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    good = certificate(key.public_key(), "4D4D4D0000000002", key)
    refused = {
        "the meter's title with another key": certificate(key.public_key(), "4D4D4D0000BC614E", key),
        "a P-384 key on a suite 1 setup": certificate(p384.public_key(), "4D4D4D0000000002", p384),
        "no system title": certificate(key.public_key(), "client", key),
        "both key usages": certificate(key.public_key(), "4D4D4D0000000002", key,
                                       key_usage=usage(digital_signature=True, key_agreement=True)),
        "no usage": certificate(key.public_key(), "4D4D4D0000000002", key, key_usage=usage()),
        "a CA without keyCertSign": certificate(key.public_key(), "CA", key, ca=True),
        "expired": certificate(key.public_key(), "4D4D4D0000000002", key,
                               not_after=datetime.datetime(2025, 12, 31, tzinfo=datetime.timezone.utc)),
        "not yet valid": certificate(key.public_key(), "4D4D4D0000000002", key,
                                     not_before=datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)),
        "signed with ecdsa-with-SHA512": certificate(key.public_key(), "4D4D4D0000000002", key,
                                                     algorithm=hashes.SHA512()),
    }
    for reason, cert in refused.items():
        assert import_certificate(meter, 1, cert) == (ActionResult.OTHER_REASON, None), reason
    assert meter.action(MANAGER, SETUP[1], 6, (DataType.OCTET_STRING, b"not a certificate")) == (
        ActionResult.OTHER_REASON, None)
    encoded = der(good)
    for marker, offset, value in (("A003020102", 4, 3),  # version 4
                                  ("2A8648CE3D0201", 6, 9)):  # an unknown key algorithm
        at = encoded.index(bytes.fromhex(marker)) + offset
        corrupted = encoded[:at] + bytes((value,)) + encoded[at + 1:]
        assert meter.action(MANAGER, SETUP[1], 6, (DataType.OCTET_STRING, corrupted)) == (
            ActionResult.OTHER_REASON, None)
    for cut in range(len(encoded)):
        assert meter.action(MANAGER, SETUP[1], 6, (DataType.OCTET_STRING, encoded[:cut])) == (
            ActionResult.OTHER_REASON, None)
    assert meter.security.certificates == {}
    assert import_certificate(meter, 1, good) == (ActionResult.SUCCESS, None)


def test_lab_ini_client_certificate_names_the_only_title_it_authenticates(tmp_path: Path) -> None:
    key = client_key(2)
    path = tmp_path / "client.pem"
    path.write_bytes(certificate(key.public_key(), "4D4D4D0000000001", key).public_bytes(serialization.Encoding.PEM))
    lab = LAB.replace(f"client_public_key = {RFC6979_PUBLIC[2]}", f"client_certificate = {path}")
    meter = Meter(lab)
    assert authenticate(meter.session(SAP[2]), 2, key).result == ActionResult.SUCCESS
    assert authenticate(meter.session(SAP[2]), 2, key, OTHER_TITLE).result == ActionResult.READ_WRITE_DENIED


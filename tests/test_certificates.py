"""The DLMS/COSEM certificate profile (dlmstw.security.certificates, Green
Book 9.2.6): parsing, classification by entity and type, the meter's
self-signed certificate and request, and the identification fields of
Security setup (Blue Book 4.4.7)."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certificate_support import certificate, client_key, name, usage
from dlmstw.errors import DecodeError
from dlmstw.security.certificates import (CERTIFICATION_AUTHORITY, CLIENT, DIGITAL_SIGNATURE, KEY_AGREEMENT, OTHER,
                                          SERVER, VALID_UNTIL, CertificateError, Classified, classify, der,
                                          issuer_bytes, load_certificate, same_key, self_signed, serial_number_bytes,
                                          serial_numbers_from, signing_request, subject_alt_name_bytes, subject_bytes,
                                          suite_of, system_title_of)

METER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
NOW = 1_767_225_600.0


@pytest.fixture(scope="module")
def client_certificate() -> x509.Certificate:
    key = client_key(1)
    return certificate(key.public_key(), "4D4D4D0000000001", key, serial=0x00F1)


def test_load_der_and_pem(client_certificate: x509.Certificate) -> None:
    encoded = der(client_certificate)
    assert load_certificate(encoded) == client_certificate
    assert load_certificate(client_certificate.public_bytes(serialization.Encoding.PEM)) == client_certificate


def test_truncated_or_trailing_bytes_are_decode_errors(client_certificate: x509.Certificate) -> None:
    encoded = der(client_certificate)
    for cut in range(len(encoded)):
        with pytest.raises(DecodeError):
            load_certificate(encoded[:cut])
    with pytest.raises(DecodeError):
        load_certificate(encoded + b"\x00")
    with pytest.raises(DecodeError):
        load_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_classify_a_client_certificate(client_certificate: x509.Certificate) -> None:
    assert classify(client_certificate, 1, METER_TITLE) == Classified(
        CLIENT, DIGITAL_SIGNATURE, bytes.fromhex("4D4D4D0000000001"), client_certificate)
    assert system_title_of(client_certificate) == bytes.fromhex("4D4D4D0000000001")
    assert serial_number_bytes(client_certificate) == b"\xf1"
    assert issuer_bytes(client_certificate) == subject_bytes(client_certificate) == name("4D4D4D0000000001").public_bytes()
    # DER of Name: SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String "4D4D4D0000000001" } } }
    assert subject_bytes(client_certificate) == bytes.fromhex("301B3119301706035504030C10") + b"4D4D4D0000000001"
    assert subject_alt_name_bytes(client_certificate) == b""


def test_classify_the_meter_a_key_agreement_and_an_authority() -> None:
    key = client_key(2)
    meter = certificate(key.public_key(), "4d4d4d0000bc614e", key)
    assert classify(meter, 2, METER_TITLE).entity == SERVER
    agreement = certificate(key.public_key(), "4D4D4D0000000001", key, key_usage=usage(key_agreement=True))
    assert classify(agreement, 2, METER_TITLE).certificate_type == KEY_AGREEMENT
    root = certificate(key.public_key(), "Root", key, key_usage=usage(key_cert_sign=True), ca=True)
    # an authority's key may be on P-384 for a suite 1 setup (Green Book 9.2.6)
    assert classify(root, 1, METER_TITLE) == Classified(CERTIFICATION_AUTHORITY, OTHER, None, root)


def test_subject_alt_name_is_its_der() -> None:
    key = client_key(1)
    alt = x509.SubjectAlternativeName([x509.DNSName("meter.example")])
    cert = (x509.CertificateBuilder().subject_name(name("4D4D4D0000000001")).issuer_name(name("CA"))
            .public_key(key.public_key()).serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1))
            .add_extension(usage(digital_signature=True), critical=True).add_extension(alt, critical=False)
            .sign(key, hashes.SHA256()))
    assert subject_alt_name_bytes(cert) == bytes.fromhex("300F820D") + b"meter.example"


@pytest.mark.parametrize(("build", "problem"), [
    (lambda k: certificate(k.public_key(), "4D4D4D0000000001", k, algorithm=hashes.SHA512()), "ecdsa-with-SHA256"),
    (lambda k: certificate(k.public_key(), "4D4D4D000000001", k), "16 hex digits"),
    (lambda k: certificate(k.public_key(), "4D4D4D000000000G", k), "16 hex digits"),
    (lambda k: certificate(k.public_key(), "4D4D4D0000000001", k, key_usage=usage()), "not both nor neither"),
    (lambda k: certificate(k.public_key(), "4D4D4D0000000001", k,
                           key_usage=usage(digital_signature=True, key_agreement=True)), "not both nor neither"),
    (lambda k: certificate(k.public_key(), "CA", k, ca=True), "without keyCertSign"),
    (lambda k: certificate(ec.generate_private_key(ec.SECP384R1()).public_key(), "4D4D4D0000000001", k),
     "security suite 2, this security setup uses 1"),
    (lambda k: certificate(ec.generate_private_key(ec.SECP521R1()).public_key(), "4D4D4D0000000001", k),
     "secp521r1"),
])
def test_profile_refusals(build: object, problem: str) -> None:
    cert = build(client_key(1))  # type: ignore[operator]
    with pytest.raises(CertificateError, match=problem):
        classify(cert, 1, METER_TITLE)


def test_no_key_usage_is_refused() -> None:
    key = client_key(1)
    cert = (x509.CertificateBuilder().subject_name(name("4D4D4D0000000001")).issuer_name(name("4D4D4D0000000001"))
            .public_key(key.public_key()).serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1)).sign(key, hashes.SHA256()))
    with pytest.raises(CertificateError, match="no keyUsage"):
        classify(cert, 1, METER_TITLE)


@pytest.mark.parametrize("suite", [1, 2])
def test_self_signed_meter_certificate(suite: int) -> None:
    key = ec.generate_private_key({1: ec.SECP256R1(), 2: ec.SECP384R1()}[suite])
    cert = self_signed(key, METER_TITLE, NOW)
    assert cert.version == x509.Version.v3
    assert cert.subject == cert.issuer == name("4D4D4D0000BC614E")
    assert cert.not_valid_before_utc.timestamp() == NOW and cert.not_valid_after_utc == VALID_UNTIL
    assert VALID_UNTIL.year == 2049  # the last UTCTime year (RFC 5280 4.1.2.5)
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).critical
    cert.verify_directly_issued_by(cert)
    assert classify(cert, suite, METER_TITLE) == Classified(SERVER, DIGITAL_SIGNATURE, METER_TITLE, cert)
    assert same_key(cert, key) and not same_key(cert, ec.generate_private_key(key.curve))
    assert suite_of(key) == suite_of(key.public_key()) == suite
    with pytest.raises(ValueError, match="8 bytes"):
        self_signed(key, METER_TITLE[:7], NOW)


def test_signing_request() -> None:
    key = client_key(1)
    request = x509.load_der_x509_csr(signing_request(key, METER_TITLE))
    assert request.is_signature_valid and request.subject == name("4D4D4D0000BC614E")
    assert request.public_key().public_numbers() == key.public_key().public_numbers()


def test_suite_of_refuses_other_keys() -> None:
    with pytest.raises(CertificateError, match="secp224r1"):
        suite_of(ec.generate_private_key(ec.SECP224R1()))
    with pytest.raises(CertificateError, match="not an elliptic-curve key"):
        suite_of(b"key")


@pytest.mark.parametrize(("data", "serials"), [
    (b"\x01\x02", {0x0102}),
    (b"\x02\x02\x01\x02", {0x02020102, 0x0102}),  # octets, or a DER INTEGER as gurux-dlms sends it
    (b"\x02\x02\x00\xf1", {0x020200F1, 0xF1}),
    (b"\x02\x05\x01", {0x020501}),  # not a DER INTEGER of that length: the octets only
    (b"", {0}),
])
def test_serial_numbers_from(data: bytes, serials: set[int]) -> None:
    assert serial_numbers_from(data) == serials


def corrupted(certificate_der: bytes, marker: str, offset: int, value: int) -> bytes:
    """``certificate_der`` with the byte at ``offset`` into the first ``marker`` set to ``value``."""
    at = certificate_der.index(bytes.fromhex(marker)) + offset
    return certificate_der[:at] + bytes((value,)) + certificate_der[at + 1:]


def test_an_unknown_version_is_a_decode_error(client_certificate: x509.Certificate) -> None:
    # version [0] EXPLICIT INTEGER 2 (v3) made 3
    with pytest.raises(DecodeError, match="not an X.509 certificate"):
        load_certificate(corrupted(der(client_certificate), "A003020102", 4, 3))


def test_an_unknown_key_algorithm_is_refused(client_certificate: x509.Certificate) -> None:
    # id-ecPublicKey 1.2.840.10045.2.1 made 1.2.840.10045.2.9
    cert = load_certificate(corrupted(der(client_certificate), "2A8648CE3D0201", 6, 9))
    with pytest.raises(CertificateError, match="unreadable key or extensions"):
        classify(cert, 1, METER_TITLE)


@pytest.mark.parametrize(("now", "not_before"), [
    (-1e12, datetime.datetime(1950, 1, 1, tzinfo=datetime.timezone.utc)),
    (4102444800.0, VALID_UNTIL),  # 2100-01-01: a meter clock set far ahead
])
def test_self_signed_validity_stays_in_utc_time(now: float, not_before: datetime.datetime) -> None:
    cert = self_signed(client_key(1), METER_TITLE, now)
    assert cert.not_valid_before_utc == not_before and cert.not_valid_after_utc == VALID_UNTIL

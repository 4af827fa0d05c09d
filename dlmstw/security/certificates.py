"""Public key certificates of security suites 1 and 2, as DLMS/COSEM profiles
X.509 v3 (Green Book 9.2.6, certificate and certificate extension profile):
the subject's commonName is its system title written as 16 hex digits, the
key is on P-256 (suite 1) or P-384 (suite 2), the certificate is signed with
ecdsa-with-SHA256 or ecdsa-with-SHA384, and keyUsage says what the key is
for (digitalSignature or keyAgreement; keyCertSign for a certification
authority).

The Security setup identifies certificates by entity, type and system title,
or by serial number and issuer (Blue Book 4.4.7, certificate_identification);
``Classified`` carries those facts for one certificate.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from ..errors import DecodeError
from .ciphering import SYSTEM_TITLE_LENGTH
from .keys import SUITE_CURVES

#: certificate_entity (Blue Book 4.4.7).
SERVER: Final = 0
CLIENT: Final = 1
CERTIFICATION_AUTHORITY: Final = 2
#: certificate_type and key_pair_type (Blue Book 4.4.7).
DIGITAL_SIGNATURE: Final = 0
KEY_AGREEMENT: Final = 1
OTHER: Final = 3

#: The security suite of each curve (Green Book 9.2.3).
SUITE_OF_CURVE: Final = {params.curve.name: suite for suite, params in SUITE_CURVES.items()}
_SIGNATURE_ALGORITHMS: Final = frozenset({SignatureAlgorithmOID.ECDSA_WITH_SHA256,
                                          SignatureAlgorithmOID.ECDSA_WITH_SHA384})
_SYSTEM_TITLE: Final = re.compile(r"[0-9A-Fa-f]{16}")
#: The last instant a UTCTime can carry (RFC 5280 4.1.2.5): later dates need a
#: GeneralizedTime, which some clients' parsers (gurux-dlms) do not read.
VALID_UNTIL: Final = datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
#: The first instant a UTCTime can carry (RFC 5280 4.1.2.5).
_UTC_TIME_FROM: Final = datetime.datetime(1950, 1, 1, tzinfo=datetime.timezone.utc).timestamp()


class CertificateError(ValueError):
    """A well-formed certificate that the DLMS/COSEM profile does not allow here."""


@dataclass(frozen=True, slots=True)
class Classified:
    """One certificate as the Security setup names it (Blue Book 4.4.7,
    certificate_info): entity, type, the subject's system title (None for a
    certification authority without one), and the certificate."""

    entity: int
    certificate_type: int
    system_title: bytes | None
    certificate: x509.Certificate


def _pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN")


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from its DER or PEM encoding; DecodeError when it is neither."""
    try:
        if _pem(data):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as error:
        raise DecodeError(f"not an X.509 certificate: {error}") from None


def load_private_key(data: bytes) -> ec.EllipticCurvePrivateKey:
    """An unencrypted elliptic-curve private key, PEM or DER (PKCS #8 or SEC 1);
    DecodeError when it is none."""
    try:
        key = (serialization.load_pem_private_key(data, None) if _pem(data)
               else serialization.load_der_private_key(data, None))
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise DecodeError(f"not an unencrypted private key: {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DecodeError("not an elliptic-curve private key")
    return key


def load_public_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """The elliptic-curve public key of a certificate or a SubjectPublicKeyInfo,
    PEM or DER; DecodeError when it holds none."""
    try:
        key = load_certificate(data).public_key()
    except DecodeError:
        try:
            key = serialization.load_pem_public_key(data) if _pem(data) else serialization.load_der_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise DecodeError("neither an X.509 certificate nor a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise DecodeError("not an elliptic-curve public key")
    return key


def der(certificate: x509.Certificate) -> bytes:
    """The DER encoding, as Security setup carries certificates (Blue Book 4.4.7)."""
    return certificate.public_bytes(serialization.Encoding.DER)


def suite_of(key: object) -> int:
    """The security suite whose curve ``key`` is on; CertificateError for any other key."""
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        suite = SUITE_OF_CURVE.get(key.curve.name)
        if suite is not None:
            return suite
        raise CertificateError(f"a key on {key.curve.name}; suites 1 and 2 use P-256 and P-384")
    raise CertificateError("not an elliptic-curve key; suites 1 and 2 use P-256 and P-384")


def system_title_of(certificate: x509.Certificate) -> bytes | None:
    """The system title in the subject's commonName (16 hex digits), or None."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return None
    value = names[0].value
    text = value if isinstance(value, str) else value.decode("ascii", "replace")
    return bytes.fromhex(text) if _SYSTEM_TITLE.fullmatch(text) else None


def _key_usage(extensions: x509.Extensions) -> x509.KeyUsage:
    try:
        return extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateError("no keyUsage extension (Green Book 9.2.6: mandatory)") from None


def _is_authority(extensions: x509.Extensions) -> bool:
    try:
        return extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def classify(certificate: x509.Certificate, suite: int, server_title: bytes) -> Classified:
    """Check ``certificate`` against the profile for a Security setup of
    ``suite`` and say what it is: a certification authority (keyCertSign and
    basicConstraints cA), else a server's or a client's end-entity certificate
    by its system title, of type digital signature or key agreement by its
    keyUsage (exactly one of the two). CertificateError names what is wrong."""
    if certificate.version != x509.Version.v3:
        raise CertificateError("not an X.509 v3 certificate")
    if certificate.signature_algorithm_oid not in _SIGNATURE_ALGORITHMS:
        raise CertificateError("not signed with ecdsa-with-SHA256 or ecdsa-with-SHA384")
    try:
        public_key, extensions = certificate.public_key(), certificate.extensions
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CertificateError(f"unreadable key or extensions: {error}") from None
    key_suite = suite_of(public_key)
    usage = _key_usage(extensions)
    title = system_title_of(certificate)
    if _is_authority(extensions):
        if not usage.key_cert_sign:
            raise CertificateError("a certification authority without keyCertSign")
        return Classified(CERTIFICATION_AUTHORITY, OTHER, title, certificate)
    if key_suite != suite:
        raise CertificateError(f"the key is for security suite {key_suite}, this security setup uses {suite}")
    if title is None:
        raise CertificateError("the subject's commonName is not a system title of 16 hex digits")
    if usage.digital_signature == usage.key_agreement:
        raise CertificateError("keyUsage must be digitalSignature or keyAgreement, not both nor neither")
    kind = DIGITAL_SIGNATURE if usage.digital_signature else KEY_AGREEMENT
    return Classified(SERVER if title == server_title else CLIENT, kind, title, certificate)


def _subject(system_title: bytes) -> x509.Name:
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise ValueError(f"a system title is {SYSTEM_TITLE_LENGTH} bytes, got {len(system_title)}")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, system_title.hex().upper())])


_SIGNATURE_USAGE: Final = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)


def self_signed(key: ec.EllipticCurvePrivateKey, system_title: bytes, now: float) -> x509.Certificate:
    """The meter's digital signature certificate, signed with its own key until a
    certification authority's replaces it: subject and issuer CN = the system
    title, valid from ``now`` (POSIX seconds, kept within the UTCTime years) to
    ``VALID_UNTIL``."""
    suite = suite_of(key)
    name = _subject(system_title)
    public = key.public_key()
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime.fromtimestamp(
                int(min(max(now, _UTC_TIME_FROM), VALID_UNTIL.timestamp())), datetime.timezone.utc))
            .not_valid_after(VALID_UNTIL)
            .add_extension(_SIGNATURE_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, SUITE_CURVES[suite].hash()))


def signing_request(key: ec.EllipticCurvePrivateKey, system_title: bytes) -> bytes:
    """PKCS #10 request (DER) for a digital signature certificate of ``key``
    (Blue Book 4.4.7, generate_certificate_request)."""
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(_subject(system_title))
            .add_extension(_SIGNATURE_USAGE, critical=True)
            .sign(key, SUITE_CURVES[suite_of(key)].hash())
            .public_bytes(serialization.Encoding.DER))


def serial_number_bytes(certificate: x509.Certificate) -> bytes:
    """The serial number as a big-endian unsigned integer (RFC 5280 4.1.2.2)."""
    serial = certificate.serial_number
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")


def serial_numbers_from(data: bytes) -> frozenset[int]:
    """The serial numbers a certificate_identification_by_serial may mean: its
    octets as a big-endian integer, and, when they have that form, the value of
    the DER INTEGER (tag 02, length, octets) some clients send instead."""
    serials = {int.from_bytes(data, "big")}
    if len(data) >= 3 and data[0] == 0x02 and data[1] == len(data) - 2:
        serials.add(int.from_bytes(data[2:], "big"))
    return frozenset(serials)


def issuer_bytes(certificate: x509.Certificate) -> bytes:
    """The issuer Name, DER (RFC 5280 4.1.2.4)."""
    return certificate.issuer.public_bytes()


def subject_bytes(certificate: x509.Certificate) -> bytes:
    """The subject Name, DER (RFC 5280 4.1.2.6)."""
    return certificate.subject.public_bytes()


def subject_alt_name_bytes(certificate: x509.Certificate) -> bytes:
    """The subjectAltName extension's value, DER, or empty (RFC 5280 4.2.1.6)."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return b""
    return extension.value.public_bytes()


def same_key(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    """Whether ``certificate`` certifies the public half of ``key``."""
    encoding, form = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    public = certificate.public_key()
    return (isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == key.curve.name
            and public.public_bytes(encoding, form) == key.public_key().public_bytes(encoding, form))

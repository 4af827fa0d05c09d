"""Client-side keys and certificates for the HLS-ECDSA tests, built with
``cryptography`` the way a head-end's certification authority would.

The client keys are the RFC 6979 appendix A.2.5 (P-256) and A.2.6 (P-384)
private keys, so that every f(StoC) input is public.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: RFC 6979 A.2.5 / A.2.6 private keys x, per security suite.
RFC6979_PRIVATE = {
    1: 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721,
    2: 0x6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5,
}
#: RFC 6979 A.2.5 / A.2.6 public keys Ux || Uy.
RFC6979_PUBLIC = {
    1: ("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
        "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"),
    2: ("EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13"
        "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720"),
}
CURVES: dict[int, ec.EllipticCurve] = {1: ec.SECP256R1(), 2: ec.SECP384R1()}
HASHES = {1: hashes.SHA256, 2: hashes.SHA384}
START = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
END = datetime.datetime(2049, 1, 1, tzinfo=datetime.timezone.utc)


def client_key(suite: int) -> ec.EllipticCurvePrivateKey:
    """The RFC 6979 private key of the suite's curve."""
    return ec.derive_private_key(RFC6979_PRIVATE[suite], CURVES[suite])


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def usage(digital_signature: bool = False, key_agreement: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=key_agreement, key_cert_sign=key_cert_sign,
                         crl_sign=False, encipher_only=False, decipher_only=False)


def certificate(public_key: ec.EllipticCurvePublicKey, subject: str, signer: ec.EllipticCurvePrivateKey,
                issuer: str | None = None, key_usage: x509.KeyUsage | None = None, ca: bool = False,
                not_before: datetime.datetime = START, not_after: datetime.datetime = END,
                serial: int = 0x1234, algorithm: hashes.HashAlgorithm | None = None) -> x509.Certificate:
    """An X.509 v3 certificate of ``public_key`` for ``subject`` (the commonName),
    signed by ``signer`` as ``issuer`` (the subject when None); keyUsage
    digitalSignature unless told, critical (Green Book 9.2.6)."""
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer or subject))
               .public_key(public_key).serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(key_usage or usage(digital_signature=True), critical=True))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    suite = 1 if signer.curve.name == "secp256r1" else 2
    return builder.sign(signer, algorithm or HASHES[suite]())

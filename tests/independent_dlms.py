"""A second DLMS/COSEM client, written in the tests from the Green Book alone
(IEC 62056-5-3, DLMS UA 1000-2 ed. 9) with ``cryptography``: it never imports
dlmstw, so that a mistake shared by the meter's codec and its tests shows.

What it covers is what gurux-dlms cannot drive: general-glo- and
general-ded-ciphering (9.5), HLS-ECDSA f(StoC)/f(CtoS) on P-256 and P-384
(9.2.7.4), and hand-built requests (a replayed invocation counter, a weaker
protection than the security policy). It speaks the TCP wrapper (8.4.2),
builds AARQ/RLRQ and GET/SET/ACTION-Request-Normal, and reads AARE and the
normal responses; BER and A-XDR are written out here from the standard.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# --------------------------------------------------------------------------- Green Book 9.5 tags

AARQ, AARE, RLRQ, RLRE = 0x60, 0x61, 0x62, 0x63
INITIATE_REQUEST, INITIATE_RESPONSE, CONFIRMED_SERVICE_ERROR = 0x01, 0x08, 0x0E
GLO_INITIATE_REQUEST, GLO_INITIATE_RESPONSE, GLO_CONFIRMED_SERVICE_ERROR = 0x21, 0x28, 0x2E
GET_REQUEST, SET_REQUEST, ACTION_REQUEST = 0xC0, 0xC1, 0xC3
GET_RESPONSE, SET_RESPONSE, ACTION_RESPONSE = 0xC4, 0xC5, 0xC7
EXCEPTION_RESPONSE = 0xD8
GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING = 0xDB, 0xDC
#: plain tag -> (glo-ciphered tag, ded-ciphered tag)
CIPHERED = {GET_REQUEST: (0xC8, 0xD0), SET_REQUEST: (0xC9, 0xD1), ACTION_REQUEST: (0xCB, 0xD3),
            GET_RESPONSE: (0xCC, 0xD4), SET_RESPONSE: (0xCD, 0xD5), ACTION_RESPONSE: (0xCF, 0xD7),
            INITIATE_REQUEST: (GLO_INITIATE_REQUEST, None), INITIATE_RESPONSE: (GLO_INITIATE_RESPONSE, None),
            CONFIRMED_SERVICE_ERROR: (GLO_CONFIRMED_SERVICE_ERROR, None)}
UNCIPHERED = {c: plain for plain, pair in CIPHERED.items() for c in pair if c is not None}

#: application-context-name and mechanism-name object identifiers (9.4.2.2.2 and 9.4.2.2.3)
CONTEXT_LN, CONTEXT_LN_CIPHERED = 1, 3
OID_PREFIX_CONTEXT = bytes.fromhex("608574050801")
OID_PREFIX_MECHANISM = bytes.fromhex("608574050802")
LOWEST, LLS, HLS_MD5, HLS_SHA1, HLS_GMAC, HLS_SHA256, HLS_ECDSA = 0, 1, 3, 4, 5, 6, 7

#: security control bits (9.2.7.2.3)
SC_AUTHENTICATION, SC_ENCRYPTION = 0x10, 0x20
#: The conformance block (9.4.6.1, bit 0 the leftmost of 24): get (19), set (20),
#: selective-access (21), action (23), block-transfer-with-get (11); general-protection (1).
CONFORMANCE = 0x000010 | 0x000008 | 0x000004 | 0x000001 | 0x001000
GENERAL_PROTECTION = 0x400000

WRAPPER = struct.Struct(">HHHH")
ASSOCIATION_LN = bytes((0, 0, 40, 0, 0, 255))


# --------------------------------------------------------------------------- BER / A-XDR pieces


def ber_length(n: int) -> bytes:
    """A definite length, short or long form (X.690 8.1.3)."""
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + ber_length(len(value)) + value


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    return int.from_bytes(data[pos + 1:pos + 1 + count], "big"), pos + 1 + count


def read_tlvs(data: bytes) -> dict[int, bytes]:
    """The components of a BER constructed value, by tag (one of each)."""
    found, pos = {}, 0
    while pos < len(data):
        tag = data[pos]
        length, start = read_length(data, pos + 1)
        found[tag] = data[start:start + length]
        pos = start + length
    return found


def octet_string(value: bytes) -> bytes:
    """A-XDR Data octet-string (tag 9)."""
    return b"\x09" + ber_length(len(value)) + value


# --------------------------------------------------------------------------- ciphering (9.2.7.2.4)


def gctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """GCM's counter mode from inc32(J0), J0 = IV || 0^31 || 1 (NIST SP 800-38D 7.1)."""
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def gcm_tag(key: bytes, iv: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """The 12-octet tag of GCM over ``aad`` and ``ciphertext``."""
    plain = gctr(key, iv, ciphertext)
    return AESGCM(key).encrypt(iv, plain, aad)[len(plain):len(plain) + 12]


def protect(sc: int, counter: int, title: bytes, ek: bytes, ak: bytes, plain: bytes) -> bytes:
    """SH || C || T (authentication: SH || P || T; encryption: SH || C)."""
    header = bytes((sc,)) + counter.to_bytes(4, "big")
    iv = title + header[1:]
    if sc & SC_ENCRYPTION:
        body = gctr(ek, iv, plain)
        aad = header[:1] + ak
    else:
        body, aad = plain, header[:1] + ak + plain
    tag = gcm_tag(ek, iv, body, aad) if sc & SC_ENCRYPTION else AESGCM(ek).encrypt(iv, b"", aad)[:12]
    return header + body + (tag if sc & SC_AUTHENTICATION else b"")


def unprotect(title: bytes, ek: bytes, ak: bytes, protected: bytes) -> tuple[int, int, bytes]:
    """(SC, IC, plain text); ValueError when the tag does not check."""
    sc, counter = protected[0], int.from_bytes(protected[1:5], "big")
    iv = title + protected[1:5]
    end = len(protected) - (12 if sc & SC_AUTHENTICATION else 0)
    body = protected[5:end]
    plain = gctr(ek, iv, body) if sc & SC_ENCRYPTION else body
    if sc & SC_AUTHENTICATION:
        aad = protected[:1] + ak + (b"" if sc & SC_ENCRYPTION else body)
        expected = gcm_tag(ek, iv, body, aad) if sc & SC_ENCRYPTION else AESGCM(ek).encrypt(iv, b"", aad)[:12]
        if not hmac.compare_digest(expected, protected[end:]):
            raise ValueError("authentication tag mismatch")
    return sc, counter, plain


# --------------------------------------------------------------------------- HLS (9.2.7.4)

CURVES = {1: (ec.SECP256R1(), hashes.SHA256(), 32), 2: (ec.SECP384R1(), hashes.SHA384(), 48)}


def ecdsa_sign(suite: int, key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA over ``data`` as r || s, each of the curve's size (9.2.3)."""
    _, digest, size = CURVES[suite]
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def ecdsa_verify(suite: int, key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    _, digest, size = CURVES[suite]
    if len(signature) != 2 * size:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
    try:
        key.verify(der, data, ec.ECDSA(digest))
    except Exception:
        return False
    return True


@dataclass
class Credentials:
    """What a client holds for one association."""

    mechanism: int = LOWEST
    suite: int = 0
    password: bytes | None = None
    secret: bytes | None = None
    ek: bytes | None = None
    ak: bytes | None = None
    dedicated_key: bytes | None = None
    signing_key: ec.EllipticCurvePrivateKey | None = None


def f_stoc(c: Credentials, stoc: bytes, ctos: bytes, client_title: bytes, server_title: bytes, counter: int) -> bytes:
    """The client's f(StoC) (Green Book 9.2.7.4, table of HLS mechanisms)."""
    if c.mechanism in (HLS_MD5, HLS_SHA1):
        digest = hashlib.md5 if c.mechanism == HLS_MD5 else hashlib.sha1
        return digest(stoc + c.secret).digest()
    if c.mechanism == HLS_SHA256:
        return hashlib.sha256(c.secret + client_title + server_title + stoc + ctos).digest()
    if c.mechanism == HLS_GMAC:
        sc = SC_AUTHENTICATION | c.suite
        iv = client_title + counter.to_bytes(4, "big")
        return bytes((sc,)) + counter.to_bytes(4, "big") + AESGCM(c.ek).encrypt(iv, b"", bytes((sc,)) + c.ak + stoc)[:12]
    if c.mechanism == HLS_ECDSA:
        return ecdsa_sign(c.suite, c.signing_key, client_title + server_title + stoc + ctos)
    raise ValueError(f"mechanism {c.mechanism} has no f(StoC)")


def check_f_ctos(c: Credentials, proof: bytes, stoc: bytes, ctos: bytes, client_title: bytes,
                 server_title: bytes, server_key: ec.EllipticCurvePublicKey | None = None) -> bool:
    """Whether the meter's f(CtoS) is right (ECDSA: with ``server_key``)."""
    if c.mechanism in (HLS_MD5, HLS_SHA1):
        digest = hashlib.md5 if c.mechanism == HLS_MD5 else hashlib.sha1
        return proof == digest(ctos + c.secret).digest()
    if c.mechanism == HLS_SHA256:
        return proof == hashlib.sha256(c.secret + server_title + client_title + ctos + stoc).digest()
    if c.mechanism == HLS_GMAC:
        sc, counter = proof[0], int.from_bytes(proof[1:5], "big")
        iv = server_title + proof[1:5]
        return sc == SC_AUTHENTICATION | c.suite and len(proof) == 17 and proof[5:] == AESGCM(c.ek).encrypt(
            iv, b"", bytes((sc,)) + c.ak + ctos)[:12] and counter >= 0
    if c.mechanism == HLS_ECDSA:
        return ecdsa_verify(c.suite, server_key, server_title + client_title + ctos + stoc, proof)
    raise ValueError(f"mechanism {c.mechanism} has no f(CtoS)")


# --------------------------------------------------------------------------- APDUs


def initiate_request(dedicated_key: bytes | None, conformance: int = CONFORMANCE, max_pdu: int = 0xFFFF) -> bytes:
    """xDLMS InitiateRequest (9.4.6.1), A-XDR: dedicated-key, response-allowed
    (default), proposed-quality-of-service (absent), dlms version 6,
    proposed-conformance ([APPLICATION 31] BIT STRING), client-max-receive-pdu-size."""
    key = b"\x00" if dedicated_key is None else b"\x01" + ber_length(len(dedicated_key)) + dedicated_key
    return (bytes((INITIATE_REQUEST,)) + key + b"\x00\x00\x06" + b"\x5F\x1F\x04\x00" + conformance.to_bytes(3, "big")
            + max_pdu.to_bytes(2, "big"))


def aarq(context: int, mechanism: int, calling_title: bytes | None, authentication_value: bytes | None,
         user_information: bytes, authentication_unit: bool = True) -> bytes:
    """AARQ (9.4.2.2.2, BER): context name, calling-AP-title, ACSE requirements
    (the authentication functional unit, unless told), mechanism name,
    calling-authentication-value, user-information."""
    parts = [tlv(0xA1, tlv(0x06, OID_PREFIX_CONTEXT + bytes((context,))))]
    if calling_title is not None:
        parts.append(tlv(0xA6, tlv(0x04, calling_title)))
    if mechanism != LOWEST:
        if authentication_unit:
            parts.append(tlv(0x8A, b"\x07\x80"))
        parts.append(tlv(0x8B, OID_PREFIX_MECHANISM + bytes((mechanism,))))
        if authentication_value is not None:
            parts.append(tlv(0xAC, tlv(0x80, authentication_value)))
    parts.append(tlv(0xBE, tlv(0x04, user_information)))
    return tlv(AARQ, b"".join(parts))


@dataclass(frozen=True)
class Aare:
    result: int
    source: int  # 1 acse-service-user, 2 acse-service-provider
    diagnostic: int
    responding_title: bytes | None
    stoc: bytes | None
    user_information: bytes | None


def parse_aare(apdu: bytes) -> Aare:
    assert apdu[0] == AARE, f"not an AARE: {apdu.hex()}"
    length, start = read_length(apdu, 1)
    parts = read_tlvs(apdu[start:start + length])
    result = parts[0xA2][-1]
    diagnostic = parts[0xA3]
    title = read_tlvs(parts[0xA4])[0x04] if 0xA4 in parts else None
    stoc = read_tlvs(parts[0xAA])[0x80] if 0xAA in parts else None
    info = read_tlvs(parts[0xBE])[0x04] if 0xBE in parts else None
    return Aare(result, diagnostic[0] - 0xA0, diagnostic[-1], title, stoc, info)


def get_request(class_id: int, ln: bytes, attribute: int, invoke: int = 0xC1) -> bytes:
    return bytes((GET_REQUEST, 1, invoke)) + class_id.to_bytes(2, "big") + ln + bytes((attribute, 0))


def set_request(class_id: int, ln: bytes, attribute: int, data: bytes, invoke: int = 0xC1) -> bytes:
    return bytes((SET_REQUEST, 1, invoke)) + class_id.to_bytes(2, "big") + ln + bytes((attribute, 0)) + data


def action_request(class_id: int, ln: bytes, method: int, data: bytes | None, invoke: int = 0xC1) -> bytes:
    parameters = b"\x00" if data is None else b"\x01" + data
    return bytes((ACTION_REQUEST, 1, invoke)) + class_id.to_bytes(2, "big") + ln + bytes((method,)) + parameters


RLRQ_NORMAL = tlv(RLRQ, tlv(0x80, b"\x00"))


@dataclass(frozen=True)
class Answer:
    """A normal response: its kind, result code (0 success) and Data, if any."""

    tag: int
    result: int
    data: bytes | None


def parse_response(apdu: bytes) -> Answer:
    """GET/SET/ACTION-Response-Normal, or EXCEPTION-Response (state-error,
    service-error and, for invocation-counter-error, the counter as data)."""
    tag = apdu[0]
    if tag == EXCEPTION_RESPONSE:
        return Answer(tag, (apdu[1] << 8) | apdu[2], apdu[3:] or None)
    assert apdu[1] == 1, f"not a normal response: {apdu.hex()}"
    if tag == GET_RESPONSE:
        return Answer(tag, 0, apdu[4:]) if apdu[3] == 0 else Answer(tag, apdu[4], None)
    if tag == SET_RESPONSE:
        return Answer(tag, apdu[3], None)
    if tag == ACTION_RESPONSE:
        if len(apdu) > 4 and apdu[4] == 1:
            return Answer(tag, apdu[3], apdu[6:] if apdu[5] == 0 else None)
        return Answer(tag, apdu[3], None)
    raise AssertionError(f"unexpected response {apdu.hex()}")


# --------------------------------------------------------------------------- the client


@dataclass
class Exchange:
    """One request and its answer as they crossed the wire."""

    request: bytes
    answer: bytes


@dataclass
class Client:
    """One TCP connection to a meter (wrapper 8.4.2: the meter's wPort is 1)."""

    port: int
    client_sap: int
    credentials: Credentials
    context: int = CONTEXT_LN_CIPHERED
    title: bytes = bytes.fromhex("4943430000000001")
    #: glo (False) or general (True) ciphering; global (False) or dedicated key.
    general: bool = False
    dedicated: bool = False
    security_control: int = 0
    counter: int = 1
    wire: list[Exchange] = field(default_factory=list)
    server_title: bytes | None = None
    server_counter: int = -1
    sock: socket.socket | None = None

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def transfer(self, apdu: bytes) -> bytes:
        """Send one APDU, return the one that comes back; ConnectionError when closed."""
        assert self.sock is not None
        self.sock.sendall(WRAPPER.pack(1, self.client_sap, 1, len(apdu)) + apdu)
        header = self._receive(WRAPPER.size)
        _, _, _, length = WRAPPER.unpack(header)
        answer = self._receive(length)
        self.wire.append(Exchange(apdu, answer))
        return answer

    def _receive(self, size: int) -> bytes:
        assert self.sock is not None
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the meter closed the connection")
            data += chunk
        return data

    # protection

    def _key(self, dedicated: bool) -> bytes:
        c = self.credentials
        return c.dedicated_key if dedicated else c.ek

    def wrap(self, plain: bytes, sc: int | None = None, counter: int | None = None, dedicated: bool | None = None,
             general: bool | None = None) -> bytes:
        """``plain`` protected as this client does (or as told), its counter then advanced."""
        sc = self.security_control if sc is None else sc
        dedicated = self.dedicated if dedicated is None else dedicated
        general = self.general if general is None else general
        if counter is None:
            counter = self.counter
            self.counter += 1
        protected = protect(sc | self.credentials.suite, counter, self.title, self._key(dedicated),
                            self.credentials.ak, plain)
        if general:
            tag = GENERAL_DED_CIPHERING if dedicated else GENERAL_GLO_CIPHERING
            return bytes((tag,)) + ber_length(len(self.title)) + self.title + ber_length(len(protected)) + protected
        return tlv(CIPHERED[plain[0]][1 if dedicated else 0], protected)

    def unwrap(self, apdu: bytes) -> tuple[bytes, int | None]:
        """The plain answer and its security control (None: it came plain).
        Checks the meter's system title and that its counter grows."""
        tag = apdu[0]
        if tag in (GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING):
            length, pos = read_length(apdu, 1)
            title = apdu[pos:pos + length]
            assert title == self.server_title, f"general ciphering from {title.hex()}"
            length, pos = read_length(apdu, pos + length)
            protected, dedicated = apdu[pos:pos + length], tag == GENERAL_DED_CIPHERING
        elif tag in UNCIPHERED:
            length, pos = read_length(apdu, 1)
            protected, dedicated = apdu[pos:pos + length], CIPHERED[UNCIPHERED[tag]][1] == tag
        else:
            return apdu, None
        assert self.server_title is not None
        sc, counter, plain = unprotect(self.server_title, self._key(dedicated), self.credentials.ak, protected)
        assert counter > self.server_counter, f"the meter's invocation counter {counter} did not grow"
        self.server_counter = counter
        return plain, sc

    # association

    def associate(self, initiate_sc: int | None = None) -> Aare:
        """AARQ -> AARE (and for HLS, passes 3 and 4 by ``authenticate``)."""
        c = self.credentials
        initiate = initiate_request(c.dedicated_key if self.dedicated else None,
                                    CONFORMANCE | (GENERAL_PROTECTION if self.general else 0))
        ciphered = self.context == CONTEXT_LN_CIPHERED
        if ciphered:
            initiate = self.wrap(initiate, sc=initiate_sc, dedicated=False)
        self.ctos = b"CtoS-" + bytes(range(27)) if c.mechanism >= HLS_MD5 else None
        value = c.password if c.mechanism == LLS else self.ctos
        titled = ciphered or c.mechanism in (HLS_GMAC, HLS_SHA256, HLS_ECDSA)
        aare = parse_aare(self.transfer(aarq(self.context, c.mechanism, self.title if titled else None, value,
                                             initiate)))
        self.server_title = aare.responding_title
        self.aare = aare
        if aare.user_information is not None:
            self.initiate_response, self.initiate_sc = self.unwrap(aare.user_information)
        return aare

    def authenticate(self, spoil: bool = False) -> tuple[Answer, bytes | None]:
        """HLS pass 3: reply_to_HLS_authentication (Association LN method 1) with
        f(StoC) (its last bit flipped when ``spoil``); returns the answer and the
        meter's f(CtoS) (pass 4)."""
        c = self.credentials
        proof = f_stoc(c, self.aare.stoc, self.ctos, self.title, self.server_title, self.counter)
        if spoil:
            proof = proof[:-1] + bytes((proof[-1] ^ 1,))
        if c.mechanism == HLS_GMAC:
            self.counter += 1
        answer = self.request(action_request(15, ASSOCIATION_LN, 1, octet_string(proof)))
        ctos_proof = None
        if answer.result == 0 and answer.data is not None:
            length, pos = read_length(answer.data, 1)
            ctos_proof = answer.data[pos:pos + length]
        return answer, ctos_proof

    def request(self, plain: bytes, **how: object) -> Answer:
        """One service request, protected as the association is (or as ``how``
        says). The answer must come protected as the request went (Green Book
        9.2.7.2), unless it is an EXCEPTION-Response, which has no ciphered form."""
        apdu = self.wrap(plain, **how) if self.security_control or how else plain
        answer, self.last_sc = self.unwrap(self.transfer(apdu))
        if answer[:1] != bytes((EXCEPTION_RESPONSE,)):
            assert self.last_sc == protection_of(apdu)[1], f"answer {answer.hex()} not protected as {apdu.hex()}"
        return parse_response(answer)

    def release(self) -> bytes:
        return self.transfer(RLRQ_NORMAL)


def connect(port: int, client_sap: int, credentials: Credentials, **options: object) -> Client:
    return Client(port, client_sap, credentials, **options)





def protection_of(apdu: bytes) -> tuple[int, int | None]:
    """The tag an APDU went with and its security control byte (None: plain);
    for an AARQ or AARE, those of its user-information."""
    tag = apdu[0]
    if tag in (AARQ, AARE):
        length, start = read_length(apdu, 1)
        return protection_of(read_tlvs(read_tlvs(apdu[start:start + length])[0xBE])[0x04])
    if tag in (GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING):
        length, pos = read_length(apdu, 1)
        _, pos = read_length(apdu, pos + length)
        return tag, apdu[pos]
    if tag in UNCIPHERED:
        _, pos = read_length(apdu, 1)
        return tag, apdu[pos]
    return tag, None

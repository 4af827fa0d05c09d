"""The client side of HLS-GMAC (authentication mechanism 5, Green Book 9.2.7.4)
for the association benchmark, written here from the standard's formulas so
that the benchmark does not lean on the meter's own security code.

The 4-pass exchange (Green Book 9.2.7.4, figure "HLS authentication"):
1. AARQ: calling-AP-title = client system title, mechanism 5, CtoS; in the
   ciphered context the InitiateRequest travels as a glo-initiate-request.
2. AARE: accepted with diagnostic authentication-required (14), the meter's
   system title and StoC.
3. ACTION reply_to_HLS_authentication (Association LN 0.0.40.0.0.255, method 1)
   with f(StoC) = SC ‖ IC ‖ GMAC(EK; IV = client title ‖ IC; A = SC ‖ AK ‖ StoC).
4. ACTION-Response with f(CtoS), the same formula from the meter's side.
Then RLRQ/RLRE, and the next association on the same connection.

Suite 0 (AES-GCM-128), 12-byte tags; ciphered APDUs with security control
0x30 (authenticated encryption, Green Book 9.2.7.2). Checked against the
public vectors in tests/vectors before every benchmark run (``check_vectors``).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import harness
from dlmstw.codec import acse, axdr, services, xdlms
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import ActionRequestNormal, ActionResponseNormal, CosemMethodDescriptor
from dlmstw.enums import (AcseServiceUserDiagnostic, ActionResult, ApduTag, ApplicationContextName,
                          AssociationResult, AuthenticationMechanism, Conformance, DataType)
from dlmstw.errors import DecodeError
from harness import HEADER_SIZE, UnexpectedResponse

VECTORS_DIR = harness.REPO_ROOT / "tests" / "vectors"
SECURITY_VECTORS = json.loads((VECTORS_DIR / "security.json").read_text())
#: The Green Book example keys (tests/vectors/security.json, suite0_gcm), also the sample lab's.
GREEN_BOOK_BLOCK_CIPHER_KEY = SECURITY_VECTORS["suite0_gcm"]["encryption_key"]
GREEN_BOOK_AUTHENTICATION_KEY = SECURITY_VECTORS["suite0_gcm"]["authentication_key"]

#: Security control bytes of suite 0 (Green Book 9.2.7.2.3): authentication only, authenticated encryption.
SC_AUTHENTICATION = 0x10
SC_AUTHENTICATED_ENCRYPTION = 0x30
TAG_SIZE = 12
#: Association LN, "the current association" (Blue Book 4.4.3), and its method 1.
ASSOCIATION_LN_CLASS = 15
CURRENT_ASSOCIATION = parse_obis("0.0.40.0.0.255")
REPLY_TO_HLS_AUTHENTICATION = 1
INVOKE_ID_AND_PRIORITY = 0xC1
#: CtoS length: the Green Book allows 8 to 64 octets for mechanism 5.
CHALLENGE_SIZE = 32
#: The InitiateRequest of every AARQ: DLMS 6, conformance 007E1F, max PDU 1200
#: (the plaintext of public-vectors.md §3.3, "Full ciphered HLS-GMAC exchange").
INITIATE_REQUEST = xdlms.encode_initiate_request(xdlms.InitiateRequest(
    dedicated_key=None, response_allowed=True, proposed_quality_of_service=None, proposed_dlms_version_number=6,
    proposed_conformance=Conformance(0x007E1F), client_max_receive_pdu_size=1200))
RLRQ = acse.encode_rlrq(acse.RLRQ(reason=0))
#: Client system titles: this prefix, then the client SAP (4 bytes).
CLIENT_TITLE_PREFIX = bytes.fromhex("4D4D4D00")


@dataclass(frozen=True)
class Keys:
    """The global unicast (block cipher) key EK and the authentication key AK."""

    block_cipher_key: bytes
    authentication_key: bytes


class Suite0:
    """AES-GCM-128 with 12-byte tags, IV = system title ‖ invocation counter (Green Book 9.2.7.2.4)."""

    __slots__ = ("aes", "authentication_key")

    def __init__(self, keys: Keys) -> None:
        self.aes = AESGCM(keys.block_cipher_key)
        self.authentication_key = keys.authentication_key

    def proof(self, system_title: bytes, invocation_counter: int, challenge: bytes) -> bytes:
        """f(challenge) of HLS-GMAC: SC ‖ IC ‖ GMAC tag over SC ‖ AK ‖ challenge (Green Book 9.2.7.4)."""
        header = bytes((SC_AUTHENTICATION,)) + invocation_counter.to_bytes(4, "big")
        tag = self.aes.encrypt(system_title + header[1:], b"",
                               header[:1] + self.authentication_key + challenge)[:TAG_SIZE]
        return header + tag

    def check_proof(self, system_title: bytes, challenge: bytes, proof: bytes) -> bool:
        """Whether ``proof`` is the sender's f(challenge) under its own system title."""
        if len(proof) != 5 + TAG_SIZE or proof[0] != SC_AUTHENTICATION:
            return False
        expected = self.proof(system_title, int.from_bytes(proof[1:5], "big"), challenge)
        return hmac.compare_digest(expected, proof)

    def protect(self, tag: int, plain: bytes, system_title: bytes, invocation_counter: int) -> bytes:
        """The glo-xxx APDU ``tag`` carrying ``plain`` with authenticated encryption (SC 0x30):
        tag, A-XDR length, SC ‖ IC ‖ ciphertext ‖ T (Green Book 9.2.7.2.4, 9.5)."""
        header = bytes((SC_AUTHENTICATED_ENCRYPTION,)) + invocation_counter.to_bytes(4, "big")
        sealed = self.aes.encrypt(system_title + header[1:], plain, header[:1] + self.authentication_key)
        content = header + sealed[:len(plain) + TAG_SIZE]
        return bytes((tag,)) + axdr.encode_length(len(content)) + content

    def unprotect(self, tag: int, apdu: bytes, system_title: bytes) -> bytes:
        """The plain APDU inside the glo-xxx APDU ``apdu`` from ``system_title``.

        GCM's ciphertext is the plaintext XOR a key stream of (key, IV) alone, so
        encrypting the ciphertext gives the plaintext back; encrypting that
        then recomputes the tag, compared in constant time."""
        if not apdu or apdu[0] != tag:
            raise UnexpectedResponse(f"expected a ciphered APDU with tag 0x{tag:02X}, got {apdu.hex()}")
        try:
            length, start = axdr.decode_length(apdu, 1)
        except DecodeError as error:
            raise UnexpectedResponse(f"ciphered APDU {apdu.hex()}: {error}") from None
        content = apdu[start:start + length]
        if length != len(apdu) - start or length < 5 + TAG_SIZE or content[0] != SC_AUTHENTICATED_ENCRYPTION:
            raise UnexpectedResponse(f"ciphered APDU {apdu.hex()} is not authenticated-encrypted suite 0")
        iv = system_title + content[1:5]
        aad = content[:1] + self.authentication_key
        ciphertext, received_tag = content[5:-TAG_SIZE], content[-TAG_SIZE:]
        plain = self.aes.encrypt(iv, ciphertext, aad)[:len(ciphertext)]
        if not hmac.compare_digest(self.aes.encrypt(iv, plain, aad)[len(plain):len(plain) + TAG_SIZE],
                                   received_tag):
            raise UnexpectedResponse(f"ciphered APDU {apdu.hex()}: the authentication tag does not match")
        return plain


def build_aarq(suite: Suite0, system_title: bytes, ctos: bytes, invocation_counter: int, ciphered: bool) -> bytes:
    """The AARQ of HLS-GMAC (Green Book 9.3.2, 9.4.2): the system title is sent in both contexts."""
    if ciphered:
        context = ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING
        user_information = suite.protect(ApduTag.GLO_INITIATE_REQUEST, INITIATE_REQUEST, system_title,
                                         invocation_counter)
    else:
        context = ApplicationContextName.LOGICAL_NAME
        user_information = INITIATE_REQUEST
    return acse.encode_aarq(acse.AARQ(
        application_context_name=context, calling_ap_title=system_title, sender_acse_requirements=True,
        mechanism_name=AuthenticationMechanism.HLS_GMAC, calling_authentication_value=ctos,
        user_information=user_information))


def build_reply_to_hls(f_stoc: bytes) -> bytes:
    """ACTION-Request-Normal: reply_to_HLS_authentication(octet-string f(StoC)) (Blue Book 4.4.3)."""
    return services.encode_request(ActionRequestNormal(
        INVOKE_ID_AND_PRIORITY, CosemMethodDescriptor(ASSOCIATION_LN_CLASS, CURRENT_ASSOCIATION,
                                                      REPLY_TO_HLS_AUTHENTICATION),
        (DataType.OCTET_STRING, f_stoc)))


def read_aare(suite: Suite0, apdu: bytes, ciphered: bool) -> tuple[bytes, bytes]:
    """(meter system title, StoC) of an AARE that accepts pending HLS (diagnostic 14)."""
    try:
        aare = acse.decode_aare(apdu)
    except DecodeError as error:
        raise UnexpectedResponse(f"AARE {apdu.hex()}: {error}") from None
    source, diagnostic = aare.result_source_diagnostic
    if aare.result != AssociationResult.ACCEPTED:
        raise UnexpectedResponse(f"association rejected ({AssociationResult(aare.result).name}, "
                                 f"source {source}, diagnostic {diagnostic}): AARE {apdu.hex()}")
    if diagnostic != AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED:
        raise UnexpectedResponse(f"AARE accepted without authentication-required (diagnostic {diagnostic}): "
                                 f"{apdu.hex()}")
    if aare.responding_ap_title is None or aare.responding_authentication_value is None:
        raise UnexpectedResponse(f"AARE without responding-AP-title or StoC: {apdu.hex()}")
    initiate = aare.user_information or b""
    if ciphered:
        initiate = suite.unprotect(ApduTag.GLO_INITIATE_RESPONSE, initiate, aare.responding_ap_title)
    if initiate[:1] != bytes((ApduTag.INITIATE_RESPONSE,)):
        raise UnexpectedResponse(f"AARE without an InitiateResponse: {apdu.hex()}")
    return aare.responding_ap_title, aare.responding_authentication_value


def read_reply(apdu: bytes) -> bytes:
    """f(CtoS) from a successful ACTION-Response-Normal to reply_to_HLS_authentication."""
    try:
        response = services.decode_response(apdu)
    except DecodeError as error:
        raise UnexpectedResponse(f"ACTION response {apdu.hex()}: {error}") from None
    if (not isinstance(response, ActionResponseNormal) or response.result != ActionResult.SUCCESS
            or not isinstance(response.return_parameters, bytes)):
        raise UnexpectedResponse(f"reply_to_HLS_authentication failed: {response}")
    value, _ = axdr.decode_data(response.return_parameters)
    if value[0] != DataType.OCTET_STRING:
        raise UnexpectedResponse(f"reply_to_HLS_authentication returned {value}, not an octet-string")
    f_ctos: bytes = value[1]
    return f_ctos


class HlsGmacDriver:
    """A ``loadgen`` driver: associations back to back on one connection, each
    AARQ → AARE → ACTION(f(StoC)) → ACTION-Response(f(CtoS)) → RLRQ → RLRE,
    every step checked. ``count`` counts associations established (f(CtoS) verified).

    One client SAP (and client system title) per connection: the invocation
    counter then rises strictly in the order the meter receives it."""

    def __init__(self, client_sap: int, keys: Keys, ciphered: bool, first_invocation_counter: int = 1) -> None:
        self.client_sap = client_sap
        self.system_title = CLIENT_TITLE_PREFIX + client_sap.to_bytes(4, "big")
        self.suite = Suite0(keys)
        self.ciphered = ciphered
        #: The last invocation counter used (Green Book 9.2.7.2.4: each protected APDU uses a new one).
        self.invocation_counter = first_invocation_counter - 1
        self.ctos = b""
        self.server_title = b""
        self.state: Callable[[bytes], bytes] = self._on_aare
        self.count = 0

    def _next_counter(self) -> int:
        self.invocation_counter += 1
        return self.invocation_counter

    def _frame(self, apdu: bytes) -> bytes:
        return harness.wrap(self.client_sap, harness.METER_WPORT, apdu)

    def _aarq(self) -> bytes:
        self.ctos = os.urandom(CHALLENGE_SIZE)
        self.state = self._on_aare
        return self._frame(build_aarq(self.suite, self.system_title, self.ctos, self._next_counter(), self.ciphered))

    def setup(self, exchange: Callable[[bytes], bytes]) -> None:
        """Nothing: every association is part of the load."""

    def start(self) -> bytes:
        return self._aarq()

    def answer(self, buffer: bytes, start: int, stop: int) -> bytes:
        return self.state(buffer[start + HEADER_SIZE:stop])

    def _on_aare(self, apdu: bytes) -> bytes:
        self.server_title, stoc = read_aare(self.suite, apdu, self.ciphered)
        request = build_reply_to_hls(self.suite.proof(self.system_title, self._next_counter(), stoc))
        if self.ciphered:
            request = self.suite.protect(ApduTag.GLO_ACTION_REQUEST, request, self.system_title, self._next_counter())
        self.state = self._on_reply
        return self._frame(request)

    def _on_reply(self, apdu: bytes) -> bytes:
        if self.ciphered:
            apdu = self.suite.unprotect(ApduTag.GLO_ACTION_RESPONSE, apdu, self.server_title)
        if not self.suite.check_proof(self.server_title, self.ctos, read_reply(apdu)):
            raise UnexpectedResponse("the meter's f(CtoS) does not verify")
        self.count += 1
        self.state = self._on_rlre
        return self._frame(RLRQ)

    def _on_rlre(self, apdu: bytes) -> bytes:
        if apdu[:1] != bytes((ApduTag.RLRE,)):
            raise UnexpectedResponse(f"expected an RLRE, got {apdu.hex()}")
        return self._aarq()


#: The full ciphered HLS-GMAC exchange with the Green Book keys, titles and
#: challenges: public-vectors.md §3.3 ("assembled from the 3.1/3.2 parameters")
#: and §3.5 (ACTION reply_to_HLS_authentication).
class CipheredGetDriver:
    """A ``loadgen`` driver: one HLS-GMAC association with authenticated
    encryption per connection, set up first (not measured), then a GET whose
    request is ciphered anew for every send (its own invocation counter,
    Green Book 9.2.7.2.4). With ``verify`` every answer is deciphered and its
    tag checked; without, only its tag byte is (a baseline server answers a
    fixed frame, and there is no association to set up then)."""

    def __init__(self, client_sap: int, keys: Keys, get_apdu: bytes, depth: int, verify: bool,
                 first_invocation_counter: int = 1) -> None:
        self.association = HlsGmacDriver(client_sap, keys, True, first_invocation_counter)
        self.get_apdu = get_apdu
        self.depth = depth
        self.verify = verify
        self.count = 0

    def setup(self, exchange: Callable[[bytes], bytes]) -> None:
        if not self.verify:
            return
        association = self.association
        frame = association.start()
        while association.count == 0:
            response = exchange(frame)
            frame = association.answer(response, 0, len(response))

    def _request(self) -> bytes:
        association = self.association
        return association._frame(association.suite.protect(ApduTag.GLO_GET_REQUEST, self.get_apdu,
                                                            association.system_title, association._next_counter()))

    def start(self) -> bytes:
        return b"".join(self._request() for _ in range(self.depth))

    def answer(self, buffer: bytes, start: int, stop: int) -> bytes:
        apdu = buffer[start + HEADER_SIZE:stop]
        if self.verify:
            plain = self.association.suite.unprotect(ApduTag.GLO_GET_RESPONSE, apdu, self.association.server_title)
            if plain[:4] != bytes((ApduTag.GET_RESPONSE, 1, INVOKE_ID_AND_PRIORITY, 0)):
                raise UnexpectedResponse(f"the deciphered answer {plain.hex()} is not data")
        elif apdu[:1] != bytes((ApduTag.GLO_GET_RESPONSE,)):
            raise UnexpectedResponse(f"expected a glo-get-response, got {apdu[:8].hex()}")
        self.count += 1
        return self._request()


ASSEMBLED_CIPHERED_AARQ = bytes.fromhex(
    "6055A109060760857405080103A60A04084D4D4D00000000018A0207808B0760857405080205AC0A80084B35366956616759"
    "BE230421211F3000000000C0505B89E53A178DB31DED5CCCCEB1E19F3480524465A8595011")
ASSEMBLED_CIPHERED_AARE = bytes.fromhex(
    "6161A109060760857405080103A203020100A305A10302010EA40A04084D4D4D0000BC614E88020780890760857405080205"
    "AA0A8008503677524A323146BE230421281F30012345668B8BE171679EF6ABFF5EB73A13D3C974706DD183052729F3EA7C")
REPLY_TO_HLS_REQUEST = bytes.fromhex("C301C1000F0000280000FF0101091110000000011A52FE7DD3E72748973C1E28")
REPLY_TO_HLS_RESPONSE = bytes.fromhex("C701C100010009111001234567FE1466AFB3DBCD4F9389E2B7")


def check_vectors() -> list[str]:
    """What of this client disagrees with the public vectors (empty: all agree)."""
    gmac = SECURITY_VECTORS["hls_gmac_mechanism5"]
    suite = Suite0(Keys(bytes.fromhex(GREEN_BOOK_BLOCK_CIPHER_KEY), bytes.fromhex(GREEN_BOOK_AUTHENTICATION_KEY)))
    client_title = bytes.fromhex(gmac["client_system_title"])
    server_title = bytes.fromhex(gmac["server_system_title"])
    ctos, stoc = bytes.fromhex(gmac["CtoS"]), bytes.fromhex(gmac["StoC"])
    f_stoc = suite.proof(client_title, int(gmac["client_invocation_counter"], 16), stoc)
    problems = []
    if f_stoc != bytes.fromhex(gmac["f_StoC_sent_by_client"]):
        problems.append(f"f(StoC) {f_stoc.hex()} (security.json hls_gmac_mechanism5)")
    if not suite.check_proof(server_title, ctos, bytes.fromhex(gmac["f_CtoS_sent_by_server"])):
        problems.append("f(CtoS) of security.json hls_gmac_mechanism5 does not verify")
    if build_reply_to_hls(f_stoc) != REPLY_TO_HLS_REQUEST:
        problems.append(f"ACTION request {build_reply_to_hls(f_stoc).hex()} (public-vectors.md §3.5)")
    if read_reply(REPLY_TO_HLS_RESPONSE) != bytes.fromhex(gmac["f_CtoS_sent_by_server"]):
        problems.append("f(CtoS) read from public-vectors.md §3.5")
    if build_aarq(suite, client_title, ctos, 0, True) != ASSEMBLED_CIPHERED_AARQ:
        problems.append(f"ciphered AARQ {build_aarq(suite, client_title, ctos, 0, True).hex()} (§3.3)")
    try:
        if read_aare(suite, ASSEMBLED_CIPHERED_AARE, True) != (server_title, stoc):
            problems.append("ciphered AARE of §3.3 read wrongly")
    except UnexpectedResponse as error:
        problems.append(f"ciphered AARE of §3.3: {error}")
    glo_get = bytes.fromhex(SECURITY_VECTORS["suite0_gcm"]["authenticated_encryption"]["glo_get_request"])
    plain = bytes.fromhex(SECURITY_VECTORS["suite0_gcm"]["plain_apdu"])
    title = bytes.fromhex(SECURITY_VECTORS["suite0_gcm"]["system_title"])
    counter = int(SECURITY_VECTORS["suite0_gcm"]["invocation_counter"], 16)
    if suite.protect(ApduTag.GLO_GET_REQUEST, plain, title, counter) != glo_get:
        problems.append("glo-get-request of security.json suite0_gcm")
    try:
        if suite.unprotect(ApduTag.GLO_GET_REQUEST, glo_get, title) != plain:
            problems.append("glo-get-request of security.json suite0_gcm deciphers wrongly")
    except UnexpectedResponse as error:
        problems.append(f"glo-get-request of security.json suite0_gcm: {error}")
    return problems

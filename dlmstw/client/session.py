"""The client side of one application association, sans-I/O (Green Book 9.3).

A :class:`ClientSession` builds the APDUs a client sends and interprets the
APDUs the meter answers, with no sockets and no clock: the caller asks for a
service (``request_association``, ``request_get``, ``request_get_with_list``,
``request_release``), sends what :meth:`ClientSession.next_request` gives, and
hands every APDU received to :meth:`ClientSession.receive`. ``receive``
returns the outcome of the service, or None while a long GET goes on, in
which case ``next_request`` has the GET-Request-Next to send (Green Book
9.4.6.4, block transfer with GET).

Authentication: lowest level, LLS and HLS mechanisms 3 to 6 (Green Book
9.2.7.4): with HLS, an AARE accepting with diagnostic authentication-required
is followed by pass 3, the ACTION reply_to_HLS_authentication carrying
f(StoC), and ``receive`` checks the meter's f(CtoS) before it reports the
association. Ciphering (Green Book 9.2.7.2, 9.5): with a :class:`ClientSecurity`
the AARQ names the ciphered LN context and carries the calling AP title and a
glo-initiate-request; every xDLMS request is sent glo- (or ded-, with a
dedicated key) ciphered under the client's increasing invocation counter, and
every response is unprotected with the meter's system title (the AARE's
responding AP title).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TypeAlias

from dlmstw.codec.acse import (
    AARE,
    AARQ,
    RLRQ,
    decode_aare,
    decode_rlre,
    encode_aarq,
    encode_rlrq,
)
from dlmstw.codec.axdr import CosemDateTime, Data, decode_data, decode_length
from dlmstw.codec.obis import CURRENT_ASSOCIATION, parse_obis
from dlmstw.codec.services import (
    ActionRequestNormal,
    ActionResponseNormal,
    AttributeWithSelection,
    CosemAttributeDescriptor,
    ExceptionResponse,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
    REPLY_TO_HLS_AUTHENTICATION,
    SelectiveAccess,
    decode_response,
    encode_request,
)
from dlmstw.codec.xdlms import (
    DLMS_VERSION,
    ConfirmedServiceError,
    InitiateRequest,
    decode_confirmed_service_error,
    decode_initiate_response,
    encode_initiate_request,
)
from dlmstw.enums import (
    AcseServiceUserDiagnostic,
    ActionResult,
    ApduTag,
    ApplicationContextName,
    AssociationResult,
    AuthenticationMechanism,
    Conformance,
    DataAccessResult,
    DataType,
    ReleaseRequestReason,
)
from dlmstw.errors import DecodeError
from dlmstw.security.ciphering import (
    AUTHENTICATION,
    DEDICATED_CIPHERED_TAG,
    DEDICATED_TAGS,
    ENCRYPTION,
    GLOBAL_CIPHERED_TAG,
    PLAIN_TAG,
    SYSTEM_TITLE_LENGTH,
    SecurityError,
    decode_ciphered_apdu,
    encode_ciphered_apdu,
    protect,
    unprotect,
)
from dlmstw.security.hls import HlsGmac, HlsInputs, HlsMd5, HlsSha1, HlsSha256

PROPOSED_CONFORMANCE: Final = Conformance(0x007E1F)
"""get, set, action, selective access, event notification, block transfer
with GET/SET/ACTION, multiple references, priority management (Green Book
9.4.6.1); what common clients propose."""

MANAGEMENT_SAP: Final = 1
"""Server SAP (wPort) of the management logical device (Green Book 4.1.x)."""

_INVOKE_HIGH_CONFIRMED: Final = 0xC0
"""invoke-id-and-priority bits 7 (priority high) and 6 (service class confirmed), Green Book 9.5."""

GetValue: TypeAlias = Data | DataAccessResult
"""One attribute's outcome: its decoded Data, or the Data-Access-Result the meter gave."""


class Authentication(enum.Enum):
    """Authentication mechanisms this client speaks (Green Book 9.2.7.4)."""

    NONE = "none"
    LLS = "lls"
    HLS_MD5 = "hls-md5"
    HLS_SHA1 = "hls-sha1"
    HLS_GMAC = "hls-gmac"
    HLS_SHA256 = "hls-sha256"


_MECHANISM_ID: Final = {
    Authentication.LLS: AuthenticationMechanism.LLS,
    Authentication.HLS_MD5: AuthenticationMechanism.HLS_MD5,
    Authentication.HLS_SHA1: AuthenticationMechanism.HLS_SHA1,
    Authentication.HLS_GMAC: AuthenticationMechanism.HLS_GMAC,
    Authentication.HLS_SHA256: AuthenticationMechanism.HLS_SHA256,
}
"""mechanism_name of the AARQ (last arc of 2.16.756.5.8.2.x, Green Book 9.4.2.2.3)."""

HlsMechanism: TypeAlias = HlsMd5 | HlsSha1 | HlsGmac | HlsSha256

HLS_MECHANISMS: Final[dict[Authentication, HlsMechanism]] = {
    Authentication.HLS_MD5: HlsMd5(),
    Authentication.HLS_SHA1: HlsSha1(),
    Authentication.HLS_GMAC: HlsGmac(),
    Authentication.HLS_SHA256: HlsSha256(),
}
"""The meter's HLS functions (dlmstw.security.hls), used by the client with the roles swapped."""

CTOS_LENGTH: Final = {Authentication.HLS_SHA256: 32}
"""Octets of the CtoS this client sends (8 to 64 allowed, Green Book 9.2.7.4); 16 unless named here."""


_SECRET_MECHANISMS: Final = frozenset((Authentication.HLS_MD5, Authentication.HLS_SHA1, Authentication.HLS_SHA256))
"""Mechanisms computed from the HLS secret (Green Book 9.2.7.4)."""

_TITLED_MECHANISMS: Final = frozenset((Authentication.HLS_GMAC, Authentication.HLS_SHA256))
"""Mechanisms computed over the meter's system title, which the AARE must carry."""

_AUTHENTICATION_REQUIRED: Final = (1, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED)
"""AARE result-source-diagnostic of HLS pass 2: acse-service-user, authentication-required (Green Book 9.4.2)."""

_EXCEPTION_RESPONSE: Final = bytes((ApduTag.EXCEPTION_RESPONSE,))
"""EXCEPTION-Response has no ciphered form (Green Book 9.5): it comes plain."""


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    """Security material of one client (Green Book 9.2.7.2): its 8-octet system
    title (calling AP title), the security policy as security control bits
    (0x10 authentication, 0x20 encryption, 0x30 both; 0 outside the ciphered
    context), the suite 0 global keys, and a dedicated key to propose in the
    InitiateRequest (ded- APDUs after the AARQ)."""

    system_title: bytes
    policy: int = 0
    block_cipher_key: bytes | None = None
    authentication_key: bytes | None = None
    dedicated_key: bytes | None = None
    suite: int = 0

    def __post_init__(self) -> None:
        if len(self.system_title) != SYSTEM_TITLE_LENGTH:
            raise ValueError(f"the system title must be {SYSTEM_TITLE_LENGTH} octets")
        if self.policy & ~(AUTHENTICATION | ENCRYPTION):
            raise ValueError(f"policy {self.policy:#04x}: only authentication 0x10 and encryption 0x20")
        if self.policy and not self.has_keys:
            raise ValueError("ciphering needs the block cipher key and the authentication key")
        if self.dedicated_key is not None and not self.policy:
            raise ValueError("a dedicated key needs the ciphered context")

    @property
    def has_keys(self) -> bool:
        """True when both global keys are known."""
        return self.block_cipher_key is not None and self.authentication_key is not None

    @property
    def ciphered(self) -> bool:
        """True when the ciphered LN context and glo-/ded- APDUs are used."""
        return self.policy != 0


def client_hls_inputs(stoc: bytes, ctos: bytes, client_system_title: bytes | None,
                      server_system_title: bytes | None, secret: bytes | None,
                      security: ClientSecurity | None, invocation_counter: int) -> HlsInputs:
    """The meter's HlsInputs with the roles swapped, so that ``server_proof`` gives
    the client's f(StoC) and ``verify_client`` checks the meter's f(CtoS)
    (Green Book 9.2.7.4: the same function, own challenge and system title
    replaced by the peer's; for GMAC the IC is the client's own)."""
    return HlsInputs(
        stoc=ctos, ctos=stoc, client_system_title=server_system_title, server_system_title=client_system_title,
        secret=secret, block_cipher_key=None if security is None else security.block_cipher_key,
        authentication_key=None if security is None else security.authentication_key,
        security_suite=0 if security is None else security.suite, server_invocation_counter=invocation_counter)


class ClientState(enum.Enum):
    """Where the association stands; one service at a time is outstanding."""

    IDLE = "idle"
    ASSOCIATING = "associating"
    AUTHENTICATING = "authenticating"
    ASSOCIATED = "associated"
    GETTING = "getting"
    RELEASING = "releasing"
    RELEASED = "released"
    FAILED = "failed"


class ClientProtocolError(Exception):
    """A request out of turn, or an answer that does not fit the request outstanding."""


@dataclass(frozen=True, slots=True)
class Associated:
    """AARE accepted: the negotiated xDLMS context (Green Book 9.4.6.1)."""

    conformance: Conformance
    server_max_receive_pdu_size: int
    dlms_version: int
    aare: AARE


@dataclass(frozen=True, slots=True)
class AssociationRejected:
    """AARE rejected: result, (source, diagnostic), and the ConfirmedServiceError of the user-information, if any."""

    result: AssociationResult
    result_source_diagnostic: tuple[int, int]
    error: ConfirmedServiceError | None
    aare: AARE


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    """HLS pass 3 or 4 failed (Green Book 9.2.7.4): the meter refused f(StoC)
    (``result``), or its f(CtoS) did not check out (``result`` SUCCESS)."""

    result: ActionResult
    reason: str


@dataclass(frozen=True, slots=True)
class GetComplete:
    """A GET answered: one value per attribute asked, and how many datablocks carried them (0 when none)."""

    values: tuple[GetValue, ...]
    blocks: int


@dataclass(frozen=True, slots=True)
class ServiceFailed:
    """The meter refused the service with an EXCEPTION-Response or a ConfirmedServiceError."""

    error: ExceptionResponse | ConfirmedServiceError


@dataclass(frozen=True, slots=True)
class Released:
    """RLRE received (Green Book 9.3.3); ``reason`` per ReleaseResponseReason, or None when absent."""

    reason: int | None


ClientEvent: TypeAlias = (Associated | AssociationRejected | AuthenticationFailed | GetComplete | ServiceFailed
                          | Released)


def _get_data_results(raw: bytes, count: int) -> tuple[GetValue, ...]:
    """``SEQUENCE OF Get-Data-Result`` reassembled from the datablocks of a GET-with-list (Green Book 9.4.6.4)."""
    length, pos = decode_length(raw, 0)
    if length != count:
        raise DecodeError(f"{length} results for {count} attributes", 0)
    values: list[GetValue] = []
    for _ in range(length):
        if pos >= len(raw):
            raise DecodeError("truncated: Get-Data-Result choice expected", pos)
        choice = raw[pos]
        if choice == 0:
            value, pos = decode_data(raw, pos + 1)
            values.append(value)
        elif choice == 1:
            if pos + 1 >= len(raw):
                raise DecodeError("truncated: Data-Access-Result expected", pos + 1)
            values.append(_data_access_result(raw[pos + 1], pos + 1))
            pos += 2
        else:
            raise DecodeError(f"unknown Get-Data-Result choice {choice}", pos)
    if pos != len(raw):
        raise DecodeError(f"{len(raw) - pos} octets after the Get-Data-Results", pos)
    return tuple(values)


def _data_access_result(value: int, offset: int) -> DataAccessResult:
    try:
        return DataAccessResult(value)
    except ValueError:
        raise DecodeError(f"unknown Data-Access-Result {value}", offset) from None


def _whole_data(encoded: bytes) -> Data:
    value, end = decode_data(encoded)
    if end != len(encoded):
        raise DecodeError(f"{len(encoded) - end} octets after the Data", end)
    return value


class ClientSession:
    """One association of a client SAP with a meter's management logical device.

    ``password`` is the LLS password (Green Book 9.2.7.4.2) or the HLS secret
    of mechanisms 3, 4 and 6; ``security`` gives the ciphering keys and the
    client's system title (the ciphered context when its policy is not 0; the
    keys of HLS-GMAC and the system title of HLS-SHA256 in any context);
    ``invocation_counter`` yields the client's strictly increasing invocation
    counters (needed with ciphering and HLS-GMAC; share one iterator between
    the sessions of one client); ``ctos`` is the HLS challenge, random when
    None. ``max_receive_pdu_size`` is proposed in the InitiateRequest (0
    means no limit).
    """

    __slots__ = (
        "_asked",
        "_block_number",
        "_blocks",
        "_counter",
        "_ctos",
        "_invoke",
        "_outgoing",
        "_pending",
        "_server_counter",
        "_server_title",
        "_stoc",
        "authentication",
        "client_sap",
        "conformance",
        "max_receive_pdu_size",
        "negotiated",
        "password",
        "security",
        "server_sap",
        "state",
    )

    def __init__(self, client_sap: int, authentication: Authentication = Authentication.NONE,
                 password: bytes | None = None, *, server_sap: int = MANAGEMENT_SAP,
                 conformance: Conformance = PROPOSED_CONFORMANCE, max_receive_pdu_size: int = 0xFFFF,
                 security: ClientSecurity | None = None, invocation_counter: Iterator[int] | None = None,
                 ctos: bytes | None = None) -> None:
        if authentication is Authentication.LLS and not password:
            raise ValueError("LLS needs a password")
        if authentication in _SECRET_MECHANISMS and not password:
            raise ValueError(f"{authentication.value} needs a secret")
        if authentication is Authentication.HLS_GMAC and (security is None or not security.has_keys):
            raise ValueError("hls-gmac needs the block cipher key, the authentication key and a system title")
        if authentication is Authentication.HLS_SHA256 and security is None:
            raise ValueError("hls-sha256 needs the client's system title")
        if invocation_counter is None and (authentication is Authentication.HLS_GMAC
                                           or (security is not None and security.ciphered)):
            raise ValueError("ciphering and hls-gmac need an invocation counter")
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.authentication = authentication
        self.password = password
        self.conformance = conformance
        self.max_receive_pdu_size = max_receive_pdu_size
        self.security = security
        self.state = ClientState.IDLE
        self.negotiated: Associated | None = None
        self._counter = invocation_counter
        self._ctos = (ctos if ctos is not None else os.urandom(CTOS_LENGTH.get(authentication, 16))
                      if authentication in HLS_MECHANISMS else None)
        self._stoc = b""
        self._server_title: bytes | None = None
        self._server_counter = -1
        self._pending: Associated | None = None
        self._outgoing: bytes | None = None
        self._invoke = 0
        self._asked = 0
        self._blocks: list[bytes] = []
        self._block_number = 0

    # -- what to send ------------------------------------------------------

    def next_request(self) -> bytes | None:
        """The APDU to send now, once; None when nothing is waiting."""
        apdu, self._outgoing = self._outgoing, None
        return apdu

    def _queue(self, apdu: bytes, state: ClientState) -> None:
        self._outgoing = apdu
        self.state = state

    def _expect(self, *states: ClientState) -> None:
        if self.state not in states:
            raise ClientProtocolError(f"not allowed while {self.state.value}")

    @property
    def ciphered(self) -> bool:
        """True in the ciphered LN context (Green Book 9.4.2.2.2)."""
        return self.security is not None and self.security.ciphered

    def seal(self, apdu: bytes, dedicated: bool = False) -> bytes:
        """``apdu`` as a glo- (or ded-) ciphered APDU under the next invocation
        counter of the client, with its system title (Green Book 9.2.7.2.4, 9.5)."""
        security = self.security
        if security is None or self._counter is None:
            raise ClientProtocolError("no ciphering configured")
        key = security.dedicated_key if dedicated else security.block_cipher_key
        table = DEDICATED_CIPHERED_TAG if dedicated else GLOBAL_CIPHERED_TAG
        assert key is not None and security.authentication_key is not None
        protected = protect(apdu, security_control=security.policy | security.suite,
                            system_title=security.system_title, invocation_counter=next(self._counter),
                            block_cipher_key=key, authentication_key=security.authentication_key)
        return encode_ciphered_apdu(table[apdu[0]], protected)

    def _service(self, apdu: bytes) -> bytes:
        """A request as sent: plain, or ciphered with the dedicated key when there is one."""
        if not self.ciphered:
            return apdu
        assert self.security is not None
        return self.seal(apdu, self.security.dedicated_key is not None)

    def aarq(self) -> AARQ:
        """The AARQ of this session (Green Book 9.4.2): LN or ciphered LN context, the
        calling AP title (the client's system title), the mechanism, the LLS password
        or the HLS CtoS, and the InitiateRequest, glo-ciphered in the ciphered context
        (which takes the client's next invocation counter)."""
        security = self.security
        ciphered = self.ciphered
        initiate = InitiateRequest(security.dedicated_key if security is not None and ciphered else None, True, None,
                                   DLMS_VERSION, self.conformance, self.max_receive_pdu_size)
        user_information = encode_initiate_request(initiate)
        mechanism = _MECHANISM_ID.get(self.authentication)
        return AARQ(
            application_context_name=(ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING if ciphered
                                      else ApplicationContextName.LOGICAL_NAME),
            calling_ap_title=None if security is None else security.system_title,
            sender_acse_requirements=mechanism is not None,
            mechanism_name=mechanism,
            calling_authentication_value=self._ctos if self._ctos is not None else self.password,
            user_information=self.seal(user_information) if ciphered else user_information,
        )

    def request_association(self) -> None:
        """Queue the AARQ (COSEM-OPEN, Green Book 9.3.2)."""
        self._expect(ClientState.IDLE)
        self._queue(encode_aarq(self.aarq()), ClientState.ASSOCIATING)

    def _next_invoke(self) -> int:
        self._invoke = (self._invoke + 1) & 0x0F
        return _INVOKE_HIGH_CONFIRMED | self._invoke

    def request_get(self, attribute: CosemAttributeDescriptor, access: SelectiveAccess | None = None) -> None:
        """Queue a GET-Request-Normal for one attribute (Green Book 9.4.6.2)."""
        self._expect(ClientState.ASSOCIATED)
        self._start_get(1, encode_request(GetRequestNormal(self._next_invoke(), attribute, access)))

    def request_get_with_list(self, items: tuple[AttributeWithSelection, ...]) -> None:
        """Queue a GET-Request-With-List (multiple references, Green Book 9.4.6.2)."""
        self._expect(ClientState.ASSOCIATED)
        if not items:
            raise ValueError("a GET-Request-With-List needs at least one attribute")
        self._start_get(len(items), encode_request(GetRequestWithList(self._next_invoke(), items)))

    def _start_get(self, asked: int, apdu: bytes) -> None:
        self._asked = asked
        self._blocks = []
        self._block_number = 0
        self._queue(self._service(apdu), ClientState.GETTING)

    def request_release(self) -> None:
        """Queue the RLRQ, reason normal (COSEM-RELEASE, Green Book 9.3.3)."""
        self._expect(ClientState.ASSOCIATED)
        self._queue(encode_rlrq(RLRQ(reason=ReleaseRequestReason.NORMAL)), ClientState.RELEASING)

    # -- HLS ---------------------------------------------------------------

    def _hls_inputs(self, invocation_counter: int) -> HlsInputs:
        assert self._ctos is not None
        title = None if self.security is None else self.security.system_title
        return client_hls_inputs(self._stoc, self._ctos, title, self._server_title, self.password, self.security,
                                 invocation_counter)

    def client_proof(self) -> bytes:
        """f(StoC), pass 3 of HLS (Green Book 9.2.7.4); with GMAC under the client's next invocation counter."""
        counter = 0
        if self.authentication is Authentication.HLS_GMAC:
            assert self._counter is not None
            counter = next(self._counter)
        return HLS_MECHANISMS[self.authentication].server_proof(self._hls_inputs(counter))

    # -- what came back ----------------------------------------------------

    def receive(self, apdu: bytes) -> ClientEvent | None:
        """Interpret one APDU from the meter.

        Raises DecodeError (SecurityError for protection that does not check
        out) for a malformed APDU and ClientProtocolError for one that answers
        nothing outstanding; either leaves the session FAILED.
        """
        try:
            if self.state is ClientState.ASSOCIATING:
                return self._receive_aare(apdu)
            if self.state is ClientState.AUTHENTICATING:
                return self._receive_hls_reply(apdu)
            if self.state is ClientState.GETTING:
                return self._receive_get(apdu)
            if self.state is ClientState.RELEASING:
                return self._receive_rlre(apdu)
            raise ClientProtocolError(f"APDU 0x{apdu[:1].hex()} received while {self.state.value}")
        except (DecodeError, ClientProtocolError):
            self.state = ClientState.FAILED
            raise

    def _open(self, apdu: bytes) -> bytes:
        """A response as plain xDLMS: glo-/ded- ciphered ones unprotected with the meter's
        system title, checked against the policy and the counter rule (Green Book 9.2.7.2.4)."""
        security = self.security
        if security is None or not security.ciphered or apdu[:1] == _EXCEPTION_RESPONSE:
            return apdu
        tag, protected = decode_ciphered_apdu(apdu)
        key = security.dedicated_key if tag in DEDICATED_TAGS else security.block_cipher_key
        if key is None or self._server_title is None or security.authentication_key is None:
            raise SecurityError("no key or no meter system title to unprotect with", 0)
        control, counter, plain = unprotect(protected, system_title=self._server_title, block_cipher_key=key,
                                            authentication_key=security.authentication_key)
        if control & security.policy != security.policy:
            raise SecurityError(f"security control {control:#04x} below the policy {security.policy:#04x}", 0)
        if counter <= self._server_counter:
            raise SecurityError(f"meter invocation counter {counter} not above {self._server_counter}", 0)
        self._server_counter = counter
        if plain[:1] != bytes((PLAIN_TAG[tag],)):
            raise DecodeError(f"ciphered tag {tag:#04x} carries APDU 0x{plain[:1].hex()}", 0)
        return plain

    def _receive_aare(self, apdu: bytes) -> ClientEvent | None:
        aare = decode_aare(apdu)
        if aare.responding_ap_title is not None:
            self._server_title = aare.responding_ap_title
        info = aare.user_information or b""
        if info[:1] and info[0] in PLAIN_TAG:
            info = self._open(info)
        if aare.result is not AssociationResult.ACCEPTED:
            self.state = ClientState.IDLE
            refused = info[:1] == bytes((ApduTag.CONFIRMED_SERVICE_ERROR,))
            error = decode_confirmed_service_error(info) if refused else None
            return AssociationRejected(aare.result, aare.result_source_diagnostic, error, aare)
        if info[:1] != bytes((ApduTag.INITIATE_RESPONSE,)):
            raise ClientProtocolError("accepted AARE without an InitiateResponse")
        response = decode_initiate_response(info)
        negotiated = Associated(response.negotiated_conformance, response.server_max_receive_pdu_size,
                                response.negotiated_dlms_version_number, aare)
        if self.authentication not in HLS_MECHANISMS:
            self.state = ClientState.ASSOCIATED
            self.negotiated = negotiated
            return negotiated
        # HLS pass 2 -> 3 (Green Book 9.2.7.4): the AARE accepts pending authentication and carries StoC.
        if (aare.result_source_diagnostic != _AUTHENTICATION_REQUIRED or aare.responding_authentication_value is None
                or (self.authentication in _TITLED_MECHANISMS and self._server_title is None)):
            raise ClientProtocolError("HLS: the AARE must ask for authentication, carry StoC and the meter's title")
        self._stoc = aare.responding_authentication_value
        self._pending = negotiated
        action = ActionRequestNormal(self._next_invoke(), REPLY_TO_HLS_AUTHENTICATION,
                                     (DataType.OCTET_STRING, self.client_proof()))
        apdu = encode_request(action)
        self._queue(self.seal(apdu) if self.ciphered else apdu, ClientState.AUTHENTICATING)
        return None

    def _receive_hls_reply(self, apdu: bytes) -> ClientEvent:
        """Pass 4: the ACTION-Response carries f(CtoS), checked with the roles swapped (Green Book 9.2.7.4)."""
        response = decode_response(self._open(apdu))
        if (not isinstance(response, ActionResponseNormal)
                or response.invoke_id_and_priority != _INVOKE_HIGH_CONFIRMED | self._invoke):
            raise ClientProtocolError(f"{type(response).__name__} answers no reply_to_HLS_authentication")
        self.state = ClientState.FAILED
        if response.result is not ActionResult.SUCCESS:
            return AuthenticationFailed(response.result, "the meter refused f(StoC)")
        returned = response.return_parameters
        proof = _whole_data(returned) if isinstance(returned, bytes) else None
        if (proof is None or proof[0] != DataType.OCTET_STRING
                or HLS_MECHANISMS[self.authentication].verify_client(self._hls_inputs(0), proof[1]) is None):
            return AuthenticationFailed(response.result, "the meter's f(CtoS) does not check out")
        self.state = ClientState.ASSOCIATED
        self.negotiated = self._pending
        assert self.negotiated is not None
        return self.negotiated

    def _receive_get(self, apdu: bytes) -> ClientEvent | None:
        apdu = self._open(apdu)
        if apdu[:1] == bytes((ApduTag.CONFIRMED_SERVICE_ERROR,)):
            self.state = ClientState.ASSOCIATED
            return ServiceFailed(decode_confirmed_service_error(apdu))
        response = decode_response(apdu)
        if isinstance(response, ExceptionResponse):
            self.state = ClientState.ASSOCIATED
            return ServiceFailed(response)
        if getattr(response, "invoke_id_and_priority", None) != _INVOKE_HIGH_CONFIRMED | self._invoke:
            raise ClientProtocolError(f"answer {type(response).__name__} does not match invoke-id {self._invoke}")
        if isinstance(response, GetResponseNormal):
            self._check_single("get-response-normal")
            result = response.result
            return self._done((result if isinstance(result, DataAccessResult) else _whole_data(result),), 0)
        if isinstance(response, GetResponseWithList):
            if len(response.results) != self._asked:
                raise ClientProtocolError(f"{len(response.results)} results for {self._asked} attributes")
            values = tuple(r if isinstance(r, DataAccessResult) else _whole_data(r) for r in response.results)
            return self._done(values, 0)
        if isinstance(response, GetResponseWithDatablock):
            return self._receive_block(response)
        raise ClientProtocolError(f"{type(response).__name__} answers no GET")

    def _check_single(self, what: str) -> None:
        if self._asked != 1 or self._blocks:
            raise ClientProtocolError(f"{what} answers a GET of {self._asked} attributes")

    def _receive_block(self, response: GetResponseWithDatablock) -> ClientEvent | None:
        """DataBlock-G: blocks numbered from 1, each acknowledged by a GET-Request-Next (Green Book 9.4.6.4)."""
        if response.block_number != self._block_number + 1:
            raise ClientProtocolError(f"block {response.block_number} after block {self._block_number}")
        self._block_number = response.block_number
        raw = response.raw_data
        if isinstance(raw, DataAccessResult):
            return self._done((raw,) * self._asked, self._block_number)
        self._blocks.append(raw)
        if not response.last_block:
            self._outgoing = self._service(
                encode_request(GetRequestNext(response.invoke_id_and_priority, self._block_number)))
            return None
        whole = b"".join(self._blocks)
        values = (_whole_data(whole),) if self._asked == 1 else _get_data_results(whole, self._asked)
        return self._done(values, self._block_number)

    def _done(self, values: tuple[GetValue, ...], blocks: int) -> GetComplete:
        self.state = ClientState.ASSOCIATED
        self._blocks = []
        return GetComplete(values, blocks)

    def _receive_rlre(self, apdu: bytes) -> ClientEvent:
        rlre = decode_rlre(apdu)
        self.state = ClientState.RELEASED
        return Released(rlre.reason)


# -- what to read --------------------------------------------------------

OBJECT_LIST: Final = CosemAttributeDescriptor(15, CURRENT_ASSOCIATION, 2)
"""object_list of the current association (Association LN attribute 2, Blue Book 4.4.4)."""

PROFILE_GENERIC: Final = 7
CLOCK_CLASS: Final = 8
RANGE_DESCRIPTOR: Final = 1
"""Profile generic selective access by range (Blue Book 4.3.6, access_selector 1)."""

SCALER_UNIT_ATTRIBUTE: Final = {3: 3, 4: 3, 5: 4}
"""Where scaler_unit lives: Register and Extended register attribute 3, Demand register 4 (Blue Book 4.3.2-4.3.4)."""

SCALED_ATTRIBUTES: Final = {3: (2,), 4: (2,), 5: (2, 3)}
"""Attributes the scaler applies to: value; current and last average value of a Demand register."""


@dataclass(frozen=True, slots=True)
class Target:
    """One attribute to read: ``CLASS/OBIS:ATTR`` with the class optional (looked up in the object list)."""

    logical_name: bytes
    attribute_id: int
    class_id: int | None = None

    def descriptor(self, class_id: int | None = None) -> CosemAttributeDescriptor:
        """The Cosem-Attribute-Descriptor, with ``class_id`` when the target names none."""
        chosen = self.class_id if self.class_id is not None else class_id
        if chosen is None:
            raise LookupError("class of the target unknown")
        return CosemAttributeDescriptor(chosen, self.logical_name, self.attribute_id)


def parse_target(text: str) -> Target:
    """``[CLASS/]OBIS:ATTR``, e.g. ``1.0.99.1.0.255:2`` or ``3/1.0.32.7.0.255:2``; ValueError otherwise."""
    rest, colon, attribute = text.rpartition(":")
    if not colon or not attribute.isdigit():
        raise ValueError(f"{text!r}: expected [CLASS/]OBIS:ATTRIBUTE")
    class_text, slash, obis = rest.rpartition("/")
    if slash and not class_text.isdigit():
        raise ValueError(f"{text!r}: the class before '/' must be a number")
    attribute_id = int(attribute)
    if not 0 < attribute_id < 128:
        raise ValueError(f"{text!r}: attribute must be 1..127")
    return Target(parse_obis(obis), attribute_id, int(class_text) if slash else None)


def classes_from_object_list(object_list: Data) -> dict[bytes, int]:
    """logical name -> class id from an object_list (Blue Book 4.4.4: structure {class_id, version, logical_name, ...})."""
    classes: dict[bytes, int] = {}
    for entry in object_list[1] if object_list[0] == DataType.ARRAY else []:
        fields: list[Data] = entry[1] if entry[0] == DataType.STRUCTURE else []
        if len(fields) >= 3 and isinstance(fields[0][1], int) and isinstance(fields[2][1], bytes):
            classes[fields[2][1]] = fields[0][1]
    return classes


def clock_column(capture_objects: Data) -> Data | None:
    """The capture_object_definition of the first Clock time column (class 8, attribute 2), or None."""
    for definition in capture_objects[1] if capture_objects[0] == DataType.ARRAY else []:
        fields: list[Data] = definition[1] if definition[0] == DataType.STRUCTURE else []
        if len(fields) == 4 and fields[0][1] == CLOCK_CLASS and fields[2][1] == 2:
            return definition
    return None


def range_access(restricting: Data, start: CosemDateTime | None, end: CosemDateTime | None) -> SelectiveAccess:
    """range_descriptor (Blue Book 4.3.6): the restricting column, from/to date-times as
    octet-string(12) (an open end is a date-time with every field not specified), all columns."""
    unspecified = CosemDateTime(None, None, None, None, None, None, None, None, None, None)
    low = (start or unspecified).to_bytes()
    high = (end or unspecified).to_bytes()
    return SelectiveAccess(RANGE_DESCRIPTOR, (DataType.STRUCTURE, [
        restricting, (DataType.OCTET_STRING, low), (DataType.OCTET_STRING, high), (DataType.ARRAY, []),
    ]))

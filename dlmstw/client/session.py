"""The client side of one application association, sans-I/O (Green Book 9.3).

A :class:`ClientSession` builds the APDUs a client sends and interprets the
APDUs the meter answers, with no sockets and no clock: the caller asks for a
service (``request_association``, ``request_get``, ``request_get_with_list``,
``request_release``), sends what :meth:`ClientSession.next_request` gives, and
hands every APDU received to :meth:`ClientSession.receive`. ``receive``
returns the outcome of the service, or None while a long GET or the HLS
exchange goes on, in which case ``next_request`` has the APDU to send next
(Green Book 9.4.6.4, block transfer with GET).

It stands on the meter's layers in the client's role: the codecs of
``dlmstw.codec``, the :class:`~dlmstw.association.security.Protection` of the
ciphered context (Green Book 9.2.7.2: requests protected under the client's
system title and increasing invocation counter, responses unprotected under
the meter's, which the AARE gives), and any installed authentication
mechanism (``IAuthenticationMechanism``): lowest level, LLS, and the HLS
mechanisms whose f the client computes with the meter's functions, the roles
swapped (``dlmstw.security.hls.client_inputs``). With HLS, an AARE accepting
with diagnostic authentication-required is followed by pass 3, the ACTION
reply_to_HLS_authentication carrying f(StoC), and ``receive`` checks the
meter's f(CtoS) before it reports the association (Green Book 9.2.7.4).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec

from dlmstw.association.security import Protection, Wrapping
from dlmstw.codec.acse import (
    AARE,
    AARQ,
    RLRQ,
    SOURCE_ACSE_SERVICE_USER,
    decode_aare,
    decode_rlre,
    encode_aarq,
    encode_rlrq,
)
from dlmstw.codec.axdr import Data, decode_data
from dlmstw.codec.services import (
    ActionRequestNormal,
    ActionResponseNormal,
    AttributeWithSelection,
    CosemAttributeDescriptor,
    ExceptionResponse,
    GetDataResult,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
    REPLY_TO_HLS_AUTHENTICATION,
    SelectiveAccess,
    decode_get_data_results,
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
from dlmstw.interfaces import IAuthenticationMechanism
from dlmstw.plugins.registry import installed
from dlmstw.security.certificates import suite_of
from dlmstw.security.ciphering import POLICY_CONTROL
from dlmstw.security.ciphering import (
    DEDICATED_CIPHERED_TAG,
    GENERAL_CIPHERING_TAGS,
    GLOBAL_CIPHERED_TAG,
    PLAIN_TAG,
    SYSTEM_TITLE_LENGTH,
)
from dlmstw.security.hls import CLIENT_FIELDS, HlsInputs, MissingInput, client_inputs

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

CTOS_LENGTH: Final = 32
"""Octets of the CtoS this client sends (8 to 64 allowed, Green Book 9.2.7.4): the
security strength of SHA-256 and P-256, and a length every mechanism takes."""

_AUTHENTICATION_REQUIRED: Final = (SOURCE_ACSE_SERVICE_USER, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED)
"""AARE result-source-diagnostic of HLS pass 2 (Green Book 9.4.2)."""

_EXCEPTION_RESPONSE: Final = bytes((ApduTag.EXCEPTION_RESPONSE,))
"""EXCEPTION-Response has no ciphered form (Green Book 9.5): it comes plain."""


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    """Security material of one client (Green Book 9.2.7.2): its 8-octet system
    title (calling AP title), the security policy as security control bits
    (``POLICY_CONTROL``; 0 outside the ciphered context), the security suite, the
    global keys, a dedicated key to propose in the InitiateRequest (ded- APDUs
    after the AARQ), and for HLS-ECDSA the client's signing key and the
    meter's public key (which checks f(CtoS); without it f(CtoS) goes unchecked)."""

    system_title: bytes
    policy: int = 0
    block_cipher_key: bytes | None = None
    authentication_key: bytes | None = None
    dedicated_key: bytes | None = None
    suite: int = 0
    signing_key: ec.EllipticCurvePrivateKey | None = None
    server_public_key: ec.EllipticCurvePublicKey | None = None

    def __post_init__(self) -> None:
        if len(self.system_title) != SYSTEM_TITLE_LENGTH:
            raise ValueError(f"the system title must be {SYSTEM_TITLE_LENGTH} octets")
        if self.policy not in POLICY_CONTROL.values():
            raise ValueError(f"policy {self.policy:#04x}: only authentication 0x10 and encryption 0x20")
        if self.policy and not self.has_keys:
            raise ValueError("ciphering needs the block cipher key and the authentication key")
        if self.dedicated_key is not None and not self.policy:
            raise ValueError("a dedicated key needs the ciphered context")
        for key in (self.signing_key, self.server_public_key):
            if key is not None and suite_of(key) != self.suite:
                raise ValueError(f"a key on {key.curve.name} is not for security suite {self.suite}")

    @property
    def has_keys(self) -> bool:
        """True when both global keys are known."""
        return self.block_cipher_key is not None and self.authentication_key is not None

    @property
    def ciphered(self) -> bool:
        """True when the ciphered LN context and glo-/ded- APDUs are used."""
        return self.policy != 0


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
    """AARE accepted: the negotiated xDLMS context (Green Book 9.4.6.1);
    ``ctos_checked`` is False when HLS-ECDSA ran without the meter's public key."""

    conformance: Conformance
    server_max_receive_pdu_size: int
    dlms_version: int
    aare: AARE
    ctos_checked: bool = True


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


def _values(results: tuple[GetDataResult, ...], count: int) -> tuple[GetValue, ...]:
    """One value per attribute asked: its decoded Data, or the Data-Access-Result."""
    if len(results) != count:
        raise ClientProtocolError(f"{len(results)} results for {count} attributes")
    return tuple(r if isinstance(r, DataAccessResult) else _whole_data(r) for r in results)


def _whole_data(encoded: bytes) -> Data:
    value, end = decode_data(encoded)
    if end != len(encoded):
        raise DecodeError(f"{len(encoded) - end} octets after the Data", end)
    return value


class ClientSession:
    """One association of a client SAP with a meter's management logical device.

    ``mechanism`` is an installed authentication mechanism (None: lowest
    level); ``secret`` the LLS password or the HLS secret of the mechanisms
    that use one; ``security`` gives the client's system title and keys (the
    ciphered context when its policy is not 0; the keys of HLS-GMAC, the
    system title of the mechanisms over both titles, the signing key of
    HLS-ECDSA, in any context); ``invocation_counter`` yields the client's
    strictly increasing invocation counters (needed with ciphering and
    HLS-GMAC; share one iterator between the sessions of one client);
    ``ctos`` is the HLS challenge, random when None. ``max_receive_pdu_size``
    is proposed in the InitiateRequest (0 means no limit). ValueError when
    the mechanism cannot compute f(StoC) from what is given.
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
        "_protection",
        "_server_title",
        "_stoc",
        "client_sap",
        "conformance",
        "max_receive_pdu_size",
        "mechanism",
        "negotiated",
        "secret",
        "security",
        "server_sap",
        "state",
    )

    def __init__(self, client_sap: int, mechanism: IAuthenticationMechanism | None = None,
                 secret: bytes | None = None, *, server_sap: int = MANAGEMENT_SAP,
                 conformance: Conformance = PROPOSED_CONFORMANCE, max_receive_pdu_size: int = 0xFFFF,
                 security: ClientSecurity | None = None, invocation_counter: Iterator[int] | None = None,
                 ctos: bytes | None = None) -> None:
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.mechanism = mechanism
        self.secret = secret
        self.security = security
        self.conformance = conformance
        self.max_receive_pdu_size = max_receive_pdu_size
        self.state = ClientState.IDLE
        self.negotiated: Associated | None = None
        self._counter = invocation_counter
        self._protection: Protection | None = None
        if security is not None and security.ciphered:
            if invocation_counter is None:
                raise ValueError("ciphering needs the client's invocation counter")
            self._protection = Protection.of_client(
                security.policy, installed().suites[security.suite], security.block_cipher_key, security.authentication_key, security.system_title,
                security.dedicated_key, invocation_counter)
        self._ctos = None
        if mechanism is not None and mechanism.hls:
            self._ctos = ctos if ctos is not None else os.urandom(CTOS_LENGTH)
        self._stoc = b""
        self._server_title: bytes | None = None
        self._pending: Associated | None = None
        self._outgoing: bytes | None = None
        self._invoke = 0
        self._asked = 0
        self._blocks: list[bytes] = []
        self._block_number = 0
        self._check_material()

    def _check_material(self) -> None:
        """ValueError now, not in the middle of an association, when the
        mechanism lacks what it needs: the LLS password, or what f(StoC) is
        computed from (worked out once over the client's own challenge)."""
        mechanism = self.mechanism
        if mechanism is None:
            return
        if not mechanism.hls:
            if not mechanism.check_lls(self.secret, self.secret):
                raise ValueError(f"{mechanism.name} needs a password")
            return
        if mechanism.mechanism_id == AuthenticationMechanism.HLS_GMAC and self._counter is None:
            raise ValueError(f"{mechanism.name} needs the client's invocation counter")
        assert self._ctos is not None
        try:
            mechanism.server_proof(self._inputs(self._ctos, self._ctos, 0))
        except MissingInput as missing:
            raise ValueError(f"{mechanism.name} needs {CLIENT_FIELDS.get(missing.field, missing.field)}") from None

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
        return self._protection is not None

    def seal(self, apdu: bytes, dedicated: bool = False) -> bytes:
        """``apdu`` as a glo- (or ded-) ciphered APDU under the client's next
        invocation counter and system title (Green Book 9.2.7.2.4, 9.5)."""
        protection, security = self._protection, self.security
        if protection is None or security is None:
            raise ClientProtocolError("no ciphering configured")
        tags = DEDICATED_CIPHERED_TAG if dedicated else GLOBAL_CIPHERED_TAG
        return protection.wrap(apdu, Wrapping(tags[apdu[0]], security.policy | security.suite, dedicated, False))

    def _service(self, apdu: bytes) -> bytes:
        """A request as sent: plain, or ciphered with the dedicated key when there is one."""
        if self._protection is None:
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
        mechanism = self.mechanism
        named = mechanism is not None and mechanism.mechanism_id != AuthenticationMechanism.LOWEST
        return AARQ(
            application_context_name=(ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING if ciphered
                                      else ApplicationContextName.LOGICAL_NAME),
            calling_ap_title=None if security is None else security.system_title,
            sender_acse_requirements=named,
            mechanism_name=mechanism.mechanism_id if named and mechanism is not None else None,
            calling_authentication_value=self._ctos if self._ctos is not None else self.secret if named else None,
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

    def _inputs(self, stoc: bytes, ctos: bytes, invocation_counter: int) -> HlsInputs:
        security = self.security
        if security is None:
            return client_inputs(stoc, ctos, None, self._server_title, secret=self.secret)
        return client_inputs(
            stoc, ctos, security.system_title, self._server_title or security.system_title, secret=self.secret,
            block_cipher_key=security.block_cipher_key, authentication_key=security.authentication_key,
            suite=installed().suites[security.suite], client_invocation_counter=invocation_counter,
            client_signing_key=security.signing_key, server_public_key=security.server_public_key)

    def client_proof(self) -> bytes:
        """f(StoC), pass 3 of HLS (Green Book 9.2.7.4); with GMAC under the client's next invocation counter."""
        assert self.mechanism is not None and self._ctos is not None
        counter = 0
        if self.mechanism.mechanism_id == AuthenticationMechanism.HLS_GMAC:
            assert self._counter is not None
            counter = next(self._counter)
        return self.mechanism.server_proof(self._inputs(self._stoc, self._ctos, counter))

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
        """A response as plain xDLMS: in the ciphered context unprotected with the
        meter's system title, under the policy and the counter rule (Green Book 9.2.7.2.4)."""
        protection = self._protection
        if protection is None or apdu[:1] == _EXCEPTION_RESPONSE:
            return apdu
        if not apdu:
            raise DecodeError("truncated: APDU tag expected", 0)
        plain, wrapping = protection.unwrap(apdu)
        if wrapping is not None and wrapping.tag in PLAIN_TAG and plain[:1] != bytes((PLAIN_TAG[wrapping.tag],)):
            raise DecodeError(f"ciphered tag {wrapping.tag:#04x} carries APDU 0x{plain[:1].hex()}", 0)
        return plain

    def _receive_aare(self, apdu: bytes) -> ClientEvent | None:
        aare = decode_aare(apdu)
        if aare.responding_ap_title is not None:
            self._server_title = aare.responding_ap_title
            if self._protection is not None:
                self._protection.peer_title = aare.responding_ap_title
        info = aare.user_information or b""
        if info[:1] and (info[0] in PLAIN_TAG or info[0] in GENERAL_CIPHERING_TAGS):
            info = self._open(info)
        if aare.result is not AssociationResult.ACCEPTED:
            self.state = ClientState.IDLE
            refused = info[:1] == bytes((ApduTag.CONFIRMED_SERVICE_ERROR,))
            error = decode_confirmed_service_error(info) if refused else None
            return AssociationRejected(aare.result, aare.result_source_diagnostic, error, aare)
        if info[:1] != bytes((ApduTag.INITIATE_RESPONSE,)):
            raise ClientProtocolError("accepted AARE without an InitiateResponse")
        response = decode_initiate_response(info)
        mechanism = self.mechanism
        negotiated = Associated(response.negotiated_conformance, response.server_max_receive_pdu_size,
                                response.negotiated_dlms_version_number, aare, self._checks_ctos())
        if mechanism is None or not mechanism.hls:
            self.state = ClientState.ASSOCIATED
            self.negotiated = negotiated
            return negotiated
        # HLS pass 2 -> 3 (Green Book 9.2.7.4): the AARE accepts pending authentication and carries StoC.
        if (aare.result_source_diagnostic != _AUTHENTICATION_REQUIRED or aare.responding_authentication_value is None
                or (mechanism.titled and self._server_title is None)):
            raise ClientProtocolError("HLS: the AARE must ask for authentication, carry StoC and the meter's title")
        self._stoc = aare.responding_authentication_value
        self._pending = negotiated
        action = ActionRequestNormal(self._next_invoke(), REPLY_TO_HLS_AUTHENTICATION,
                                     (DataType.OCTET_STRING, self.client_proof()))
        apdu = encode_request(action)
        self._queue(self.seal(apdu) if self.ciphered else apdu, ClientState.AUTHENTICATING)
        return None

    def _checks_ctos(self) -> bool:
        """Whether pass 4 is checked: HLS-ECDSA needs the meter's public key for it."""
        return (self.mechanism is None or self.mechanism.mechanism_id != AuthenticationMechanism.HLS_ECDSA
                or (self.security is not None and self.security.server_public_key is not None))

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
        assert self.mechanism is not None and self._ctos is not None and self._pending is not None
        if proof is None or proof[0] != DataType.OCTET_STRING or (
                self._pending.ctos_checked
                and self.mechanism.verify_client(self._inputs(self._stoc, self._ctos, 0), proof[1]) is None):
            return AuthenticationFailed(response.result, "the meter's f(CtoS) does not check out")
        self.state = ClientState.ASSOCIATED
        self.negotiated = self._pending
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
            return self._done(_values(response.results, self._asked), 0)
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
        values = (_whole_data(whole),) if self._asked == 1 else _values(decode_get_data_results(whole), self._asked)
        return self._done(values, self._block_number)

    def _done(self, values: tuple[GetValue, ...], blocks: int) -> GetComplete:
        self.state = ClientState.ASSOCIATED
        self._blocks = []
        return GetComplete(values, blocks)

    def _receive_rlre(self, apdu: bytes) -> ClientEvent:
        rlre = decode_rlre(apdu)
        self.state = ClientState.RELEASED
        return Released(rlre.reason)

"""One application association between a client SAP and the meter, on one
connection (Green Book 9.3): AARQ/AARE with lowest, LLS and HLS
authentication, the ciphered application context, RLRQ/RLRE, and the xDLMS
services while associated.

Sans-I/O, as h11 is: ``Session.receive(apdu) -> Outcome``, a frozen record of
what the APDU did (the answer to send, the plain APDUs, whether they were
ciphered, the result name); the shell reads nothing else back. The
association states (idle, authenticating, associated) are an explicit automat
machine; the AARQ checks that decide between accepting and rejecting, and
the HLS proof that decides between authenticated and refused, are checked
in front of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Protocol

from automat import TypeMachineBuilder

from ..codec import acse, services, xdlms
from ..codec.acse import AARE, AARQ, RLRE
from ..codec.results import (AUTHENTICATION_FAILURE, INVOCATION_COUNTER_ERROR, MALFORMED, RELEASED, aare_result,
                              response_result)
from ..codec.services import REPLY_TO_HLS_AUTHENTICATION, ActionRequestNormal, ActionResponseNormal, ExceptionResponse
from ..enums import (AcseServiceProviderDiagnostic, AcseServiceUserDiagnostic, ActionResult, ApduTag,
                     ApplicationContextName, AssociationResult, AssociationStatus, AuthenticationMechanism,
                     Conformance, InitiateError, ReleaseResponseReason, ServiceError, StateError)
from ..errors import DecodeError
from ..interfaces import IAuthenticationMechanism, IObjectDirectory, ISecurityStore, ISecuritySuite
from ..security.ciphering import SecurityError
from ..security.hls import HlsInputs
from ..security.store import Keys, SecuredAssociation
from .security import PROTECTION_OVERHEAD, CounterError, PolicyError, Protection, Wrapping, unwrap_initiate
from .services import ServiceHandler

USER = acse.SOURCE_ACSE_SERVICE_USER
PROVIDER = acse.SOURCE_ACSE_SERVICE_PROVIDER


class Outcome(NamedTuple):
    """What one APDU did: the APDU to send back (None: nothing), the plain
    request and answer (deciphered), whether they travelled ciphered, and the
    result (DESIGN.md "Result names")."""

    answer: bytes | None
    request: bytes
    response: bytes | None
    ciphered: bool
    result: str


#: An ``Outcome`` of the hot paths built in one step (a named tuple's own __new__ is a Python call).
_new_tuple = tuple.__new__


class AssociationConfig(SecuredAssociation, Protocol):
    """What a session needs of a configured association (lab.ini section)."""

    client_sap: int
    authentication: str
    context: str
    access: str


class Plugins(Protocol):
    """The plugins a session uses (``dlmstw.plugins.registry.Registry``)."""

    @property
    def mechanisms(self) -> Mapping[str, IAuthenticationMechanism]:
        """Authentication mechanisms by their lab.ini name."""

    @property
    def suites(self) -> Mapping[int, ISecuritySuite]:
        """Security suites by suite id."""


@dataclass(frozen=True, slots=True)
class ServerProfile:
    """What the meter offers in every association (Green Book 9.4.6)."""

    conformance: Conformance
    max_receive_pdu_size: int
    system_title: bytes


@dataclass(slots=True)
class Association:
    """The negotiated context of an association; the COSEM layer reads it as
    its ``AssociationState``."""

    name: str
    client_sap: int
    server_sap: int
    access: str
    mechanism_id: int
    context_id: int
    conformance: int
    client_max_receive_pdu_size: int
    server_max_receive_pdu_size: int
    protection: Protection | None = None
    hls: HlsInputs | None = None
    #: Whether the reply_to_HLS_authentication being served arrived protected,
    #: its invocation counter already accepted (Green Book 9.2.7.4).
    request_protected: bool = False
    dlms_version: int = 6
    status: int = AssociationStatus.ASSOCIATED
    services: ServiceHandler = field(init=False)


class Inputs(Protocol):
    def accepted(self, association: Association) -> None:
        """An AARQ was accepted: the association is established."""

    def challenged(self, association: Association) -> None:
        """An HLS AARQ was accepted pending the client's f(StoC)."""

    def request(self, apdu: bytes) -> bytes:
        """A plain xDLMS service request; returns the plain response APDU."""

    def authenticated(self) -> None:
        """The client's f(StoC) was right: the association is established."""

    def refused(self) -> None:
        """The client's f(StoC) was wrong: the association is unusable."""

    def released(self) -> None:
        """An RLRQ was answered: the association ends."""

    def aborted(self) -> None:
        """The connection under the association closed."""


@dataclass(eq=False)
class Core:
    directory: IObjectDirectory
    security: ISecurityStore
    log: Callable[[str], None]
    #: The association in use (None when idle); the session protects with it.
    current: Association | None = None
    #: The services of the association while it is established: the associated
    #: state's request transition, callable without automat's dispatch on the
    #: hot path (set and cleared only by the transitions).
    serving: ServiceHandler | None = None


def _exception(state: StateError, error: ServiceError) -> bytes:
    return services.encode_response(ExceptionResponse(state, error))


#: Green Book 9.3.x: no xDLMS service is served outside an association.
REFUSAL = _exception(StateError.SERVICE_NOT_ALLOWED, ServiceError.OPERATION_NOT_POSSIBLE)
DECIPHERING_ERROR = _exception(StateError.SERVICE_NOT_ALLOWED, ServiceError.DECIPHERING_ERROR)
RLRE_NORMAL = acse.encode_rlre(RLRE(reason=ReleaseResponseReason.NORMAL))
#: The answer to an AARQ that does not decode (Green Book 9.3.2).
MALFORMED_AARQ_ANSWER = acse.encode_aare(AARE(
    application_context_name=ApplicationContextName.LOGICAL_NAME, result=AssociationResult.REJECTED_PERMANENT,
    result_source_diagnostic=(PROVIDER, AcseServiceProviderDiagnostic.NO_REASON_GIVEN)))
#: The first byte of the APDUs that open and close associations (an established
#: association's fast path leaves them to ``Session.receive``).
ASSOCIATION_CONTROL = frozenset({ApduTag.AARQ, ApduTag.RLRQ})


def _answer(protection: Protection | None, request: bytes, response: bytes, wrapping: Wrapping | None,
            result: str) -> Outcome:
    """The outcome of a served request: its answer protected as the request
    was (an exception-response travels plain, Green Book 9.2.7.2)."""
    if wrapping is None or protection is None or response[0] == ApduTag.EXCEPTION_RESPONSE:
        return _new_tuple(Outcome, (response, request, response, wrapping is not None, result))
    return _new_tuple(Outcome, (protection.wrap(response, wrapping), request, response, True, result))


def _refused(request: bytes, answer: bytes) -> Outcome:
    """An exception-response to a protected request that is not served."""
    return Outcome(answer, request, answer, False, response_result(answer))


def _serving(core: Core, association: Association) -> None:
    association.services = ServiceHandler(core.directory, association, core.log,
                                          PROTECTION_OVERHEAD if association.protection else 0)
    core.current = association
    core.serving = association.services


builder = TypeMachineBuilder(Inputs, Core)
idle = builder.state("idle")
authenticating = builder.state("authenticating", lambda inputs, core, association: association)
associated = builder.state("associated", lambda inputs, core, association=None: association or core.current)


@idle.upon(Inputs.accepted).to(associated)
@associated.upon(Inputs.accepted).to(associated)
def _establish(inputs: Inputs, core: Core, *args: Association) -> None:
    _serving(core, args[-1])


@idle.upon(Inputs.challenged).to(authenticating)
@associated.upon(Inputs.challenged).to(authenticating)
def _challenge(inputs: Inputs, core: Core, *args: Association) -> None:
    association = args[-1]
    association.status = AssociationStatus.ASSOCIATION_PENDING
    core.current = association
    core.serving = None


@authenticating.upon(Inputs.challenged).to(authenticating)
def _challenge_again(inputs: Inputs, core: Core, old: Association, association: Association) -> None:
    _challenge(inputs, core, association)


@authenticating.upon(Inputs.accepted).to(associated)
def _establish_instead(inputs: Inputs, core: Core, old: Association, association: Association) -> None:
    _serving(core, association)


@authenticating.upon(Inputs.authenticated).to(associated)
def _authenticated(inputs: Inputs, core: Core, association: Association) -> None:
    association.status = AssociationStatus.ASSOCIATED
    _serving(core, association)


@authenticating.upon(Inputs.refused).to(idle)
@authenticating.upon(Inputs.released).to(idle)
@authenticating.upon(Inputs.aborted).to(idle)
@associated.upon(Inputs.released).to(idle)
@associated.upon(Inputs.aborted).to(idle)
def _end(inputs: Inputs, core: Core, association: Association) -> None:
    core.current = None
    core.serving = None


@idle.upon(Inputs.request).loop()
@authenticating.upon(Inputs.request).loop()
def _refuse(inputs: Inputs, core: Core, *args: object) -> bytes:
    """Outside an association, and while HLS waits for reply_to_HLS_authentication
    (``Session._authenticate``), no service is served."""
    return REFUSAL


@associated.upon(Inputs.request).loop()
def _serve(inputs: Inputs, core: Core, association: Association, apdu: bytes) -> bytes:
    return association.services.handle(apdu)


idle.upon(Inputs.released).loop().returns(None)
idle.upon(Inputs.aborted).loop().returns(None)

AssociationMachine = builder.build()


class Rejection(Exception):
    """An AARQ to reject: source and diagnostic, and a result more specific
    than the diagnostic's name where there is one (``invocation-counter-error``)."""

    def __init__(self, source: int, diagnostic: int, result: str = "") -> None:
        super().__init__(source, diagnostic)
        self.source = source
        self.diagnostic = diagnostic
        self.result = result


class Session:
    """The association of one client SAP on one connection to the meter."""

    def __init__(self, client_sap: int, server_sap: int, config: AssociationConfig | None,
                 directory: IObjectDirectory, plugins: Plugins, profile: ServerProfile, security: ISecurityStore,
                 log: Callable[[str], None] = lambda message: None) -> None:
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.config = config
        self.plugins = plugins
        self.profile = profile
        self.security = security
        self.core = Core(directory, security, log)
        self.machine = AssociationMachine(self.core)

    def receive(self, apdu: bytes) -> Outcome:
        """Answer one APDU."""
        serving = self.core.serving
        if serving is not None and apdu and apdu[0] not in ASSOCIATION_CONTROL:
            # An established association: the services, straight.
            protection = serving.association.protection
            if protection is None:
                response = serving.handle(apdu)
                return _new_tuple(Outcome, (response, apdu, response, False, response_result(response)))
            return self._protected(serving, protection, apdu)
        tag = apdu[0] if apdu else -1
        if tag == ApduTag.AARQ:
            return self._associate(apdu)
        if tag == ApduTag.RLRQ:
            return self._release(apdu)
        return self._service(apdu)

    def connection_lost(self) -> None:
        self.machine.aborted()

    # -- services ----------------------------------------------------------------

    def _protected(self, serving: ServiceHandler, protection: Protection, apdu: bytes) -> Outcome:
        """A request to an established association with protection: unprotect,
        serve, protect alike (Green Book 9.2.7.2)."""
        unwrapped = self._unwrap(protection, serving.association, apdu)
        if isinstance(unwrapped, Outcome):
            return unwrapped
        plain, wrapping = unwrapped
        response = serving.handle(plain)
        return _answer(protection, plain, response, wrapping, response_result(response))

    def _unwrap(self, protection: Protection, association: Association,
                apdu: bytes) -> tuple[bytes, Wrapping | None] | Outcome:
        """The plain request and how it was protected, or the refusal of a
        request that may not be served (Green Book 9.2.7.2; 9.5: an
        invocation-counter-error carries the lowest acceptable counter)."""
        try:
            return protection.unwrap(apdu)
        except CounterError:
            return _refused(apdu, services.encode_response(ExceptionResponse(
                StateError.SERVICE_NOT_ALLOWED, ServiceError.INVOCATION_COUNTER_ERROR,
                self.security.lowest_client_counter(association.name))))
        except PolicyError:
            return _refused(apdu, REFUSAL)
        except DecodeError:
            return _refused(apdu, DECIPHERING_ERROR)

    def _service(self, apdu: bytes) -> Outcome:
        """A request outside an established association: refused, or while HLS
        is pending, reply_to_HLS_authentication (protected alike)."""
        current = self.core.current
        protection = None if current is None else current.protection
        wrapping: Wrapping | None = None
        plain = apdu
        if current is not None and protection is not None:
            unwrapped = self._unwrap(protection, current, apdu)
            if isinstance(unwrapped, Outcome):
                return unwrapped
            plain, wrapping = unwrapped
        verdict = None
        if current is not None and current.status == AssociationStatus.ASSOCIATION_PENDING:
            verdict = self._authenticate(current, plain, wrapping is not None)
        if verdict is None:
            response = self.machine.request(plain)
            return _answer(protection, plain, response, wrapping, response_result(response))
        return _answer(protection, plain, verdict[0], wrapping, verdict[1])

    def _authenticate(self, association: Association, apdu: bytes, protected: bool) -> tuple[bytes, str] | None:
        """HLS pass 3 (Green Book 9.2.7.4): reply_to_HLS_authentication is served
        by the Association LN (Blue Book 4.4.4); its result is the verdict the
        machine then takes: success (the answer carries f(CtoS)) to
        authenticated, any other (read-write-denied) to refused, which leaves
        the association unusable. The answer and its result; None for any other request."""
        try:
            request = services.decode_request(apdu)
        except DecodeError:
            return None
        if not (isinstance(request, ActionRequestNormal) and request.method == REPLY_TO_HLS_AUTHENTICATION):
            return None
        association.request_protected = protected
        result, proof = self.core.directory.action(request.method, request.parameters, association)
        answer = services.encode_response(ActionResponseNormal(request.invoke_id_and_priority, result, proof))
        if result == ActionResult.SUCCESS:
            self.machine.authenticated()
            return answer, response_result(answer)
        self.machine.refused()
        return answer, AUTHENTICATION_FAILURE

    # -- release -------------------------------------------------------------------

    def _release(self, apdu: bytes) -> Outcome:
        """RLRQ is answered with RLRE reason normal (Green Book 9.3.3)."""
        try:
            acse.decode_rlrq(apdu)
        except DecodeError:
            result = MALFORMED
        else:
            result = RELEASED
        self.machine.released()
        return Outcome(RLRE_NORMAL, apdu, RLRE_NORMAL, False, result)

    # -- association -----------------------------------------------------------------

    def _associate(self, apdu: bytes) -> Outcome:
        """Check an AARQ in the Green Book's order (9.3.2): application
        context, calling AP title, authentication mechanism and value, then the
        (ciphered) xDLMS InitiateRequest; accept, challenge (HLS), or reject
        with the diagnostic that says why."""
        try:
            aarq = acse.decode_aarq(apdu)
        except DecodeError:
            return Outcome(MALFORMED_AARQ_ANSWER, apdu, MALFORMED_AARQ_ANSWER, False, MALFORMED)
        config = self.config
        ciphered = config is not None and config.context == "ln-ciphered"
        expected_context = (ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING if ciphered
                            else ApplicationContextName.LOGICAL_NAME)
        answer_context = (aarq.application_context_name if aarq.application_context_name in
                          (ApplicationContextName.LOGICAL_NAME, ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING)
                          else expected_context)
        keys = self.security.keys_for(config) if config is not None else None
        # The xDLMS part first: a rejection AARE carries its answer (Green Book 9.3.2).
        initiate: xdlms.InitiateRequest | None = None
        negotiated: xdlms.InitiateResponse | xdlms.ConfirmedServiceError | None = None
        wrapping: Wrapping | None = None
        #: The AARQ as the meter read it: with its InitiateRequest deciphered, when it was ciphered.
        plain_request = apdu
        #: A result more specific than the AARE's diagnostic, when there is one.
        specific = ""
        try:
            initiate, negotiated, wrapping, deciphered = self._initiate(aarq, config, keys, ciphered)
            if deciphered is not None:
                plain_request = acse.with_user_information(apdu, deciphered)
        except CounterError:
            negotiated = xdlms.initiate_error(InitiateError.OTHER)
            specific = INVOCATION_COUNTER_ERROR
        except (SecurityError, DecodeError):
            negotiated = xdlms.initiate_error(InitiateError.OTHER)
        protection: Protection | None = None
        if config is not None and keys is not None and (ciphered or wrapping is not None
                                                         or self._titled(config)):
            protection = Protection.of_meter(config, self.plugins.suites[config.security_suite], self.security, keys,
                                             aarq.calling_ap_title or b"", self.profile.system_title,
                                             initiate.dedicated_key if initiate is not None else None)

        def answer(aare: AARE, result: str = "") -> Outcome:
            """The AARE, its InitiateResponse protected as the AARQ's request was;
            the outcome's plain answer carries it deciphered."""
            user_information: bytes | None = None
            if isinstance(negotiated, xdlms.InitiateResponse):
                user_information = xdlms.encode_initiate_response(negotiated)
            elif isinstance(negotiated, xdlms.ConfirmedServiceError):
                user_information = xdlms.encode_confirmed_service_error(negotiated)
            titled = aarq.calling_ap_title is not None or ciphered or (
                config is not None and self._titled(config))
            encoded = plain_answer = acse.encode_aare(dataclasses.replace(
                aare, responding_ap_title=self.profile.system_title if titled else None,
                user_information=user_information))
            if user_information is not None and wrapping is not None and protection is not None:
                encoded = acse.with_user_information(plain_answer, protection.wrap(user_information, wrapping))
            return Outcome(encoded, plain_request, plain_answer, plain_request is not apdu,
                           result or aare_result(aare))

        try:
            mechanism = self._check(aarq, config, keys, expected_context, negotiated, specific)
        except Rejection as rejection:
            # A client that asks for a new association and is refused has none.
            self.machine.released()
            return answer(AARE(answer_context, AssociationResult.REJECTED_PERMANENT,
                               (rejection.source, rejection.diagnostic)), rejection.result)
        assert config is not None and keys is not None and initiate is not None
        assert isinstance(negotiated, xdlms.InitiateResponse)
        association = Association(
            name=config.name, client_sap=self.client_sap, server_sap=self.server_sap, access=config.access,
            mechanism_id=mechanism.mechanism_id, context_id=expected_context,
            conformance=negotiated.negotiated_conformance,
            client_max_receive_pdu_size=initiate.client_max_receive_pdu_size,
            server_max_receive_pdu_size=negotiated.server_max_receive_pdu_size,
            protection=protection)
        if aarq.calling_ap_title is not None and protection is not None:
            self.security.client_titles[config.name] = aarq.calling_ap_title
        if not mechanism.hls:
            self.machine.accepted(association)
            return answer(AARE(expected_context, AssociationResult.ACCEPTED, (USER, AcseServiceUserDiagnostic.NULL)))
        stoc = mechanism.new_challenge()
        suite = config.security_suite
        # HLS-ECDSA (Green Book 9.2.7.4): the meter signs with its own key of the
        # suite and checks with the key it holds for the calling AP title.
        ecdsa = mechanism.mechanism_id == AuthenticationMechanism.HLS_ECDSA
        association.hls = HlsInputs(
            stoc=stoc, ctos=aarq.calling_authentication_value or b"",
            client_system_title=aarq.calling_ap_title, server_system_title=self.profile.system_title,
            secret=keys.hls_secret, block_cipher_key=keys.block_cipher_key,
            authentication_key=keys.authentication_key, suite=self.plugins.suites[suite],
            server_signing_key=self.security.signing_key(suite) if ecdsa else None,
            client_public_key=self.security.client_public_key(config, aarq.calling_ap_title) if ecdsa else None)
        self.machine.challenged(association)
        return answer(AARE(expected_context, AssociationResult.ACCEPTED,
                           (USER, AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED),
                           responder_acse_requirements=True, mechanism_name=mechanism.mechanism_id,
                           responding_authentication_value=stoc))

    def _titled(self, config: AssociationConfig) -> bool:
        return bool(self.plugins.mechanisms[config.authentication].titled)

    def _initiate(self, aarq: AARQ, config: AssociationConfig | None, keys: Keys | None, ciphered: bool
                  ) -> tuple[xdlms.InitiateRequest | None, xdlms.InitiateResponse | xdlms.ConfirmedServiceError | None,
                             Wrapping | None, bytes | None]:
        """The xDLMS InitiateRequest of the AARQ (Green Book 9.4.6), deciphered
        in the ciphered context, with the answer it gets, how it was protected
        and its deciphered octets; Nones when absent."""
        user_information = aarq.user_information
        if not user_information:
            return None, None, None, None
        wrapping = None
        if ciphered and user_information[0] != ApduTag.INITIATE_REQUEST:
            if config is None or keys is None or aarq.calling_ap_title is None:
                return None, None, None, None
            user_information, wrapping = unwrap_initiate(user_information, config,
                                                         self.plugins.suites[config.security_suite], self.security,
                                                         keys, aarq.calling_ap_title)
        deciphered = None if wrapping is None else user_information
        if user_information[0] != ApduTag.INITIATE_REQUEST:
            return None, None, None, deciphered
        request = xdlms.decode_initiate_request(user_information)
        if ciphered and wrapping is None:
            # Green Book 9.2.7.2: in the ciphered context the InitiateRequest travels ciphered.
            return request, xdlms.initiate_error(InitiateError.OTHER), None, None
        return (request, xdlms.negotiate(request, self.profile.conformance, self.profile.max_receive_pdu_size),
                wrapping, deciphered)

    def _check(self, aarq: AARQ, config: AssociationConfig | None, keys: Keys | None, expected_context: int,
               negotiated: xdlms.InitiateResponse | xdlms.ConfirmedServiceError | None,
               specific: str) -> IAuthenticationMechanism:
        """The AARQ's checks in order; raises ``Rejection`` (with ``specific``
        as its result when the InitiateRequest is what fails)."""
        if config is None or keys is None:
            raise Rejection(USER, AcseServiceUserDiagnostic.NO_REASON_GIVEN)
        if aarq.application_context_name != expected_context:
            raise Rejection(USER, AcseServiceUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
        mechanism = self.plugins.mechanisms[config.authentication]
        needs_title = expected_context == ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING or self._titled(config)
        if needs_title and (aarq.calling_ap_title is None or len(aarq.calling_ap_title) != 8):
            raise Rejection(USER, AcseServiceUserDiagnostic.CALLING_AP_TITLE_NOT_RECOGNIZED)
        proposed = aarq.mechanism_name if aarq.sender_acse_requirements else None
        if proposed is None and mechanism.mechanism_id != AuthenticationMechanism.LOWEST:
            raise Rejection(USER, AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_REQUIRED)
        if (proposed or AuthenticationMechanism.LOWEST) != mechanism.mechanism_id:
            raise Rejection(USER, AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
        if not mechanism.check_lls(keys.lls_password, aarq.calling_authentication_value):
            raise Rejection(USER, AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE)
        if negotiated is None or isinstance(negotiated, xdlms.ConfirmedServiceError):
            raise Rejection(USER, AcseServiceUserDiagnostic.NO_REASON_GIVEN, specific)
        return mechanism


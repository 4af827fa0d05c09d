"""One application association between a client SAP and the meter, on one
connection (Green Book 9.3): AARQ/AARE, RLRQ/RLRE, and the xDLMS services
while associated.

Sans-I/O: ``Session.receive_apdu(apdu) -> response APDU or None``. The
association states are an explicit automat machine; the AARQ checks that
decide between accepting and rejecting are plain functions in front of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from automat import TypeMachineBuilder

from ..codec import acse, services, xdlms
from ..codec.acse import AARE, AARQ, RLRE
from ..enums import (AcseServiceProviderDiagnostic, AcseServiceUserDiagnostic, ApduTag,
                     ApplicationContextName, AssociationResult, AssociationStatus, AuthenticationMechanism,
                     Conformance, ReleaseResponseReason, ServiceError, StateError)
from ..errors import DecodeError
from ..interfaces import IAuthenticationMechanism, IObjectDirectory
from .services import ServiceHandler

USER = acse.SOURCE_ACSE_SERVICE_USER
PROVIDER = acse.SOURCE_ACSE_SERVICE_PROVIDER


class AssociationConfig(Protocol):
    """What a session needs of a configured association (lab.ini section)."""

    name: str
    client_sap: int
    authentication: str
    context: str
    access: str
    lls_password: bytes | None


@dataclass(frozen=True, slots=True)
class ServerProfile:
    """What the meter offers in every association (Green Book 9.4.6)."""

    conformance: Conformance
    max_receive_pdu_size: int
    system_title: bytes


@dataclass(slots=True)
class Association:
    """The negotiated context of an established association; the COSEM
    layer reads it as its ``AssociationState``."""

    client_sap: int
    server_sap: int
    access: str
    mechanism_id: int
    context_id: int
    conformance: int
    client_max_receive_pdu_size: int
    server_max_receive_pdu_size: int
    dlms_version: int = 6
    status: int = AssociationStatus.ASSOCIATED
    services: ServiceHandler = field(init=False)


class Inputs(Protocol):
    def accepted(self, association: Association) -> None:
        """An AARQ was accepted: the association is established."""

    def released(self) -> None:
        """An RLRQ was answered: the association ends."""

    def request(self, apdu: bytes) -> bytes | None:
        """An xDLMS service request; returns the response APDU."""

    def aborted(self) -> None:
        """The connection under the association closed."""


@dataclass
class Core:
    directory: IObjectDirectory
    log: Callable[[str], None]


#: Green Book 9.3.x: no xDLMS service is served outside an association.
REFUSAL = services.encode_response(services.ExceptionResponse(
    StateError.SERVICE_NOT_ALLOWED, ServiceError.OPERATION_NOT_POSSIBLE))


builder = TypeMachineBuilder(Inputs, Core)
idle = builder.state("idle")
associated = builder.state("associated", lambda inputs, core, association: association)


@idle.upon(Inputs.accepted).to(associated)
def _establish(inputs: Inputs, core: Core, association: Association) -> None:
    association.services = ServiceHandler(core.directory, association, core.log)


@associated.upon(Inputs.accepted).to(associated)
def _reestablish(inputs: Inputs, core: Core, old: Association, association: Association) -> None:
    association.services = ServiceHandler(core.directory, association, core.log)


@idle.upon(Inputs.request).loop()
def _refuse(inputs: Inputs, core: Core, apdu: bytes) -> bytes | None:
    return REFUSAL


@associated.upon(Inputs.request).loop()
def _serve(inputs: Inputs, core: Core, association: Association, apdu: bytes) -> bytes | None:
    return association.services.handle(apdu)


idle.upon(Inputs.released).loop().returns(None)
idle.upon(Inputs.aborted).loop().returns(None)
associated.upon(Inputs.released).to(idle).returns(None)
associated.upon(Inputs.aborted).to(idle).returns(None)

AssociationMachine = builder.build()


class Session:
    """The association of one client SAP on one connection to the meter."""

    def __init__(self, client_sap: int, server_sap: int, config: AssociationConfig | None,
                 directory: IObjectDirectory,
                 mechanisms: Mapping[str, IAuthenticationMechanism], profile: ServerProfile,
                 log: Callable[[str], None] = lambda message: None) -> None:
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.config = config
        self.mechanisms = mechanisms
        self.profile = profile
        self.machine = AssociationMachine(Core(directory, log))
        #: What the monitor records of the last exchange: the plain APDUs, whether
        #: they travelled ciphered, and the outcome.
        self.request_apdu: bytes = b""
        self.response_apdu: bytes | None = None
        self.ciphered = False
        self.result = ""

    def receive_apdu(self, apdu: bytes) -> bytes | None:
        """Answer one APDU."""
        self.request_apdu = apdu
        tag = apdu[0] if apdu else -1
        if tag == ApduTag.AARQ:
            response: bytes | None = self._associate(apdu)
        elif tag == ApduTag.RLRQ:
            response = self._release(apdu)
        else:
            self.result = "success"
            response = self.machine.request(apdu)
        self.response_apdu = response
        return response

    def connection_lost(self) -> None:
        self.machine.aborted()

    # -- release ---------------------------------------------------------------

    def _release(self, apdu: bytes) -> bytes:
        """RLRQ is answered with RLRE reason normal (Green Book 9.3.3)."""
        try:
            acse.decode_rlrq(apdu)
        except DecodeError:
            self.result = "malformed"
        else:
            self.result = "released"
        self.machine.released()
        return acse.encode_rlre(RLRE(reason=ReleaseResponseReason.NORMAL))

    # -- association -----------------------------------------------------------

    def _reject(self, source: int, diagnostic: int, context: int, user_information: bytes | None,
                result: str) -> bytes:
        self.result = result
        return acse.encode_aare(AARE(application_context_name=context,
                                     result=AssociationResult.REJECTED_PERMANENT,
                                     result_source_diagnostic=(source, diagnostic),
                                     user_information=user_information))

    def _associate(self, apdu: bytes) -> bytes:
        """Check an AARQ in the Green Book's order (9.3.2): application
        context, authentication mechanism and value, then the xDLMS
        InitiateRequest; accept, or reject with the diagnostic that says why."""
        try:
            aarq = acse.decode_aarq(apdu)
        except DecodeError:
            return self._reject(PROVIDER, AcseServiceProviderDiagnostic.NO_REASON_GIVEN,
                                ApplicationContextName.LOGICAL_NAME, None, "malformed")
        config = self.config
        expected_context = (ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING
                            if config is not None and config.context == "ln-ciphered"
                            else ApplicationContextName.LOGICAL_NAME)
        answer_context = (aarq.application_context_name if aarq.application_context_name in
                          (ApplicationContextName.LOGICAL_NAME, ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING)
                          else expected_context)
        request, negotiated = self._negotiate(aarq)
        user_information = (xdlms.encode_initiate_response(negotiated)
                            if isinstance(negotiated, xdlms.InitiateResponse) else None)
        if config is None:
            return self._reject(USER, AcseServiceUserDiagnostic.NO_REASON_GIVEN, answer_context,
                                user_information, "no-association-for-client")
        if aarq.application_context_name != expected_context:
            return self._reject(USER, AcseServiceUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
                                answer_context, user_information, "application-context-name-not-supported")
        mechanism = self.mechanisms[config.authentication]
        proposed = aarq.mechanism_name if aarq.sender_acse_requirements else None
        if proposed is None and mechanism.mechanism_id != AuthenticationMechanism.LOWEST:
            return self._reject(USER, AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_REQUIRED,
                                answer_context, user_information, "authentication-mechanism-name-required")
        if (proposed or AuthenticationMechanism.LOWEST) != mechanism.mechanism_id:
            return self._reject(USER, AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED,
                                answer_context, user_information, "authentication-mechanism-name-not-recognised")
        if not mechanism.check_lls(config.lls_password, aarq.calling_authentication_value):
            return self._reject(USER, AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE,
                                answer_context, user_information, "authentication-failure")
        if isinstance(negotiated, xdlms.ConfirmedServiceError):
            return self._reject(USER, AcseServiceUserDiagnostic.NO_REASON_GIVEN, answer_context,
                                xdlms.encode_confirmed_service_error(negotiated), "initiate-error")
        if request is None or negotiated is None:
            return self._reject(USER, AcseServiceUserDiagnostic.NO_REASON_GIVEN, answer_context,
                                None, "no-initiate-request")
        self.machine.accepted(Association(
            client_sap=self.client_sap, server_sap=self.server_sap, access=config.access,
            mechanism_id=mechanism.mechanism_id, context_id=expected_context,
            conformance=negotiated.negotiated_conformance,
            client_max_receive_pdu_size=request.client_max_receive_pdu_size,
            server_max_receive_pdu_size=negotiated.server_max_receive_pdu_size))
        self.result = "success"
        return acse.encode_aare(AARE(
            application_context_name=expected_context, result=AssociationResult.ACCEPTED,
            result_source_diagnostic=(USER, AcseServiceUserDiagnostic.NULL),
            responding_ap_title=self.profile.system_title if aarq.calling_ap_title is not None else None,
            user_information=user_information))

    def _negotiate(self, aarq: AARQ) -> tuple[xdlms.InitiateRequest | None,
                                              xdlms.InitiateResponse | xdlms.ConfirmedServiceError | None]:
        """The xDLMS part of the AARQ (Green Book 9.4.6.x); (None, None) when
        it is absent or unreadable."""
        if not aarq.user_information or aarq.user_information[0] != ApduTag.INITIATE_REQUEST:
            return None, None
        try:
            request = xdlms.decode_initiate_request(aarq.user_information)
        except DecodeError:
            return None, None
        return request, xdlms.negotiate(request, self.profile.conformance, self.profile.max_receive_pdu_size)


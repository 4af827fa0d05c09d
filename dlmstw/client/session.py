"""The client side of one application association, sans-I/O (Green Book 9.3).

A :class:`ClientSession` builds the APDUs a client sends and interprets the
APDUs the meter answers, with no sockets and no clock: the caller asks for a
service (``request_association``, ``request_get``, ``request_get_with_list``,
``request_release``), sends what :meth:`ClientSession.next_request` gives, and
hands every APDU received to :meth:`ClientSession.receive`. ``receive``
returns the outcome of the service, or None while a long GET goes on, in
which case ``next_request`` has the GET-Request-Next to send (Green Book
9.4.6.4, block transfer with GET).

Authentication: lowest level and LLS (Green Book 9.2.7.4.1 and 9.2.7.4.2),
in the logical-name application context without ciphering. HLS and ciphered
contexts are not implemented.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeAlias

from dlmstw.codec.acse import AARE, AARQ, RLRQ, decode_aare, decode_rlre, encode_aarq, encode_rlrq
from dlmstw.codec.axdr import CosemDateTime, Data, decode_data, decode_length
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import (
    AttributeWithSelection,
    CosemAttributeDescriptor,
    ExceptionResponse,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
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


class ClientState(enum.Enum):
    """Where the association stands; one service at a time is outstanding."""

    IDLE = "idle"
    ASSOCIATING = "associating"
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


ClientEvent: TypeAlias = Associated | AssociationRejected | GetComplete | ServiceFailed | Released


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

    ``password`` is the LLS secret (Green Book 9.2.7.4.2); ``max_receive_pdu_size``
    is proposed in the InitiateRequest (0 means no limit).
    """

    __slots__ = (
        "_asked",
        "_block_number",
        "_blocks",
        "_invoke",
        "_outgoing",
        "authentication",
        "client_sap",
        "conformance",
        "max_receive_pdu_size",
        "negotiated",
        "password",
        "server_sap",
        "state",
    )

    def __init__(self, client_sap: int, authentication: Authentication = Authentication.NONE,
                 password: bytes | None = None, *, server_sap: int = MANAGEMENT_SAP,
                 conformance: Conformance = PROPOSED_CONFORMANCE, max_receive_pdu_size: int = 0xFFFF) -> None:
        if authentication is Authentication.LLS and not password:
            raise ValueError("LLS needs a password")
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.authentication = authentication
        self.password = password
        self.conformance = conformance
        self.max_receive_pdu_size = max_receive_pdu_size
        self.state = ClientState.IDLE
        self.negotiated: Associated | None = None
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

    def aarq(self) -> AARQ:
        """The AARQ of this session: LN context, the mechanism and password of LLS (Green Book 9.4.2)."""
        initiate = InitiateRequest(None, True, None, DLMS_VERSION, self.conformance, self.max_receive_pdu_size)
        lls = self.authentication is Authentication.LLS
        return AARQ(
            application_context_name=ApplicationContextName.LOGICAL_NAME,
            sender_acse_requirements=lls,
            mechanism_name=AuthenticationMechanism.LLS if lls else None,
            calling_authentication_value=self.password if lls else None,
            user_information=encode_initiate_request(initiate),
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
        self._queue(apdu, ClientState.GETTING)

    def request_release(self) -> None:
        """Queue the RLRQ, reason normal (COSEM-RELEASE, Green Book 9.3.3)."""
        self._expect(ClientState.ASSOCIATED)
        self._queue(encode_rlrq(RLRQ(reason=ReleaseRequestReason.NORMAL)), ClientState.RELEASING)

    # -- what came back ----------------------------------------------------

    def receive(self, apdu: bytes) -> ClientEvent | None:
        """Interpret one APDU from the meter.

        Raises DecodeError for a malformed APDU and ClientProtocolError for one
        that answers nothing outstanding; either leaves the session FAILED.
        """
        try:
            if self.state is ClientState.ASSOCIATING:
                return self._receive_aare(apdu)
            if self.state is ClientState.GETTING:
                return self._receive_get(apdu)
            if self.state is ClientState.RELEASING:
                return self._receive_rlre(apdu)
            raise ClientProtocolError(f"APDU 0x{apdu[:1].hex()} received while {self.state.value}")
        except (DecodeError, ClientProtocolError):
            self.state = ClientState.FAILED
            raise

    def _receive_aare(self, apdu: bytes) -> ClientEvent:
        aare = decode_aare(apdu)
        info = aare.user_information or b""
        if aare.result is not AssociationResult.ACCEPTED:
            self.state = ClientState.IDLE
            refused = info[:1] == bytes((ApduTag.CONFIRMED_SERVICE_ERROR,))
            error = decode_confirmed_service_error(info) if refused else None
            return AssociationRejected(aare.result, aare.result_source_diagnostic, error, aare)
        if info[:1] != bytes((ApduTag.INITIATE_RESPONSE,)):
            raise ClientProtocolError("accepted AARE without a plain InitiateResponse")
        response = decode_initiate_response(info)
        self.state = ClientState.ASSOCIATED
        self.negotiated = Associated(response.negotiated_conformance, response.server_max_receive_pdu_size,
                                     response.negotiated_dlms_version_number, aare)
        return self.negotiated

    def _receive_get(self, apdu: bytes) -> ClientEvent | None:
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
            self._outgoing = encode_request(GetRequestNext(response.invoke_id_and_priority, self._block_number))
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

CURRENT_ASSOCIATION: Final = bytes((0, 0, 40, 0, 0, 255))
"""Association LN object 0.0.40.0.0.255: always the current association (Blue Book 4.4.4)."""

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

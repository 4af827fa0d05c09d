"""xDLMS GET, SET, ACTION and EXCEPTION APDUs with logical name referencing (Green Book 9.5).

Both roles: the meter calls :func:`decode_request` and :func:`encode_response`,
the client simulator :func:`encode_request` and :func:`decode_response`.
Results that carry COSEM Data (Get-Data-Result data [0], ACTION return
parameters) are already-encoded A-XDR bytes: the meter encodes values once and
the codec only frames them. Decoders raise :class:`DecodeError`; encoders raise
ValueError for a field out of its range and TypeError for a non-message. A
decoder's optional tracer (``dlmstw.interfaces.Tracer``) hears every field
under its ASN.1 name.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from dlmstw.codec.axdr import Data, decode_data, decode_length, encode_data, encode_length
from dlmstw.codec.obis import CURRENT_ASSOCIATION
from dlmstw.codec.xdlms import check_tag
from dlmstw.enums import (
    ActionRequestType,
    ActionResponseType,
    ActionResult,
    ApduTag,
    DataAccessResult,
    GetRequestType,
    GetResponseType,
    ServiceError,
    SetRequestType,
    SetResponseType,
    StateError,
    enum_name,
)
from dlmstw.errors import DecodeError
from dlmstw.interfaces import Tracer

# ---------------------------------------------------------------------------
# Building blocks


@dataclass(frozen=True, slots=True)
class CosemAttributeDescriptor:
    """Cosem-Attribute-Descriptor: class-id Unsigned16, instance-id OCTET STRING
    (SIZE(6)), attribute-id Integer8 (Green Book 9.5)."""

    class_id: int
    instance_id: bytes
    attribute_id: int


@dataclass(frozen=True, slots=True)
class CosemMethodDescriptor:
    """Cosem-Method-Descriptor: class-id, instance-id, method-id Integer8 (Green Book 9.5)."""

    class_id: int
    instance_id: bytes
    method_id: int


REPLY_TO_HLS_AUTHENTICATION: Final = CosemMethodDescriptor(15, CURRENT_ASSOCIATION, 1)
"""reply_to_HLS_authentication, method 1 of the current association's
Association LN (Blue Book 4.4.4): HLS pass 3 (Green Book 9.2.7.4)."""


@dataclass(frozen=True, slots=True)
class SelectiveAccess:
    """Selective-Access-Descriptor: access-selector Unsigned8, access-parameters Data."""

    selector: int
    parameters: Data


AttributeWithSelection: TypeAlias = tuple[CosemAttributeDescriptor, SelectiveAccess | None]
"""Cosem-Attribute-Descriptor-With-Selection (Green Book 9.5)."""

GetDataResult: TypeAlias = bytes | DataAccessResult
"""Get-Data-Result CHOICE: data [0] as encoded A-XDR bytes, or data-access-result [1]."""

ActionReturn: TypeAlias = bytes | DataAccessResult | None
"""Optional return-parameters of an action: a Get-Data-Result, or None when absent."""


# ---------------------------------------------------------------------------
# GET (Green Book 9.5, Get-Request / Get-Response)


@dataclass(frozen=True, slots=True)
class GetRequestNormal:
    """Get-Request-Normal."""

    invoke_id_and_priority: int
    attribute: CosemAttributeDescriptor
    access_selection: SelectiveAccess | None


@dataclass(frozen=True, slots=True)
class GetRequestNext:
    """Get-Request-Next: asks for the block after ``block_number``."""

    invoke_id_and_priority: int
    block_number: int


@dataclass(frozen=True, slots=True)
class GetRequestWithList:
    """Get-Request-With-List."""

    invoke_id_and_priority: int
    items: tuple[AttributeWithSelection, ...]


@dataclass(frozen=True, slots=True)
class GetResponseNormal:
    """Get-Response-Normal; ``result`` is encoded Data or a Data-Access-Result."""

    invoke_id_and_priority: int
    result: GetDataResult


@dataclass(frozen=True, slots=True)
class GetResponseWithDatablock:
    """Get-Response-With-Datablock (DataBlock-G: raw-data [0] or data-access-result [1])."""

    invoke_id_and_priority: int
    last_block: bool
    block_number: int
    raw_data: bytes | DataAccessResult


@dataclass(frozen=True, slots=True)
class GetResponseWithList:
    """Get-Response-With-List: one Get-Data-Result per requested attribute."""

    invoke_id_and_priority: int
    results: tuple[GetDataResult, ...]


# ---------------------------------------------------------------------------
# SET (Green Book 9.5, Set-Request / Set-Response; blocks are DataBlock-SA)


@dataclass(frozen=True, slots=True)
class SetRequestNormal:
    """Set-Request-Normal."""

    invoke_id_and_priority: int
    attribute: CosemAttributeDescriptor
    access_selection: SelectiveAccess | None
    value: Data


@dataclass(frozen=True, slots=True)
class SetRequestWithFirstDatablock:
    """Set-Request-With-First-Datablock."""

    invoke_id_and_priority: int
    attribute: CosemAttributeDescriptor
    access_selection: SelectiveAccess | None
    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(frozen=True, slots=True)
class SetRequestWithDatablock:
    """Set-Request-With-Datablock."""

    invoke_id_and_priority: int
    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(frozen=True, slots=True)
class SetRequestWithList:
    """Set-Request-With-List: as many values as attributes."""

    invoke_id_and_priority: int
    items: tuple[AttributeWithSelection, ...]
    values: tuple[Data, ...]


@dataclass(frozen=True, slots=True)
class SetRequestWithListAndFirstDatablock:
    """Set-Request-With-List-And-First-Datablock."""

    invoke_id_and_priority: int
    items: tuple[AttributeWithSelection, ...]
    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(frozen=True, slots=True)
class SetResponseNormal:
    """Set-Response-Normal."""

    invoke_id_and_priority: int
    result: DataAccessResult


@dataclass(frozen=True, slots=True)
class SetResponseDatablock:
    """Set-Response-Datablock: acknowledges block ``block_number``."""

    invoke_id_and_priority: int
    block_number: int


@dataclass(frozen=True, slots=True)
class SetResponseLastDatablock:
    """Set-Response-Last-Datablock."""

    invoke_id_and_priority: int
    result: DataAccessResult
    block_number: int


@dataclass(frozen=True, slots=True)
class SetResponseLastDatablockWithList:
    """Set-Response-Last-Datablock-With-List."""

    invoke_id_and_priority: int
    results: tuple[DataAccessResult, ...]
    block_number: int


@dataclass(frozen=True, slots=True)
class SetResponseWithList:
    """Set-Response-With-List."""

    invoke_id_and_priority: int
    results: tuple[DataAccessResult, ...]


# ---------------------------------------------------------------------------
# ACTION (Green Book 9.5, Action-Request / Action-Response; pblocks are DataBlock-SA)


@dataclass(frozen=True, slots=True)
class ActionRequestNormal:
    """Action-Request-Normal; ``parameters`` None when method-invocation-parameters is absent."""

    invoke_id_and_priority: int
    method: CosemMethodDescriptor
    parameters: Data | None


@dataclass(frozen=True, slots=True)
class ActionRequestNextPblock:
    """Action-Request-Next-Pblock."""

    invoke_id_and_priority: int
    block_number: int


@dataclass(frozen=True, slots=True)
class ActionRequestWithList:
    """Action-Request-With-List: as many parameters as methods."""

    invoke_id_and_priority: int
    methods: tuple[CosemMethodDescriptor, ...]
    parameters: tuple[Data, ...]


@dataclass(frozen=True, slots=True)
class ActionRequestWithFirstPblock:
    """Action-Request-With-First-Pblock."""

    invoke_id_and_priority: int
    method: CosemMethodDescriptor
    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(frozen=True, slots=True)
class ActionRequestWithListAndFirstPblock:
    """Action-Request-With-List-And-First-Pblock."""

    invoke_id_and_priority: int
    methods: tuple[CosemMethodDescriptor, ...]
    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(frozen=True, slots=True)
class ActionRequestWithPblock:
    """Action-Request-With-Pblock."""

    invoke_id_and_priority: int
    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(frozen=True, slots=True)
class ActionResponseNormal:
    """Action-Response-Normal (Action-Response-With-Optional-Data)."""

    invoke_id_and_priority: int
    result: ActionResult
    return_parameters: ActionReturn


@dataclass(frozen=True, slots=True)
class ActionResponseWithPblock:
    """Action-Response-With-Pblock."""

    invoke_id_and_priority: int
    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(frozen=True, slots=True)
class ActionResponseWithList:
    """Action-Response-With-List: (result, return parameters) per method."""

    invoke_id_and_priority: int
    results: tuple[tuple[ActionResult, ActionReturn], ...]


@dataclass(frozen=True, slots=True)
class ActionResponseNextPblock:
    """Action-Response-Next-Pblock."""

    invoke_id_and_priority: int
    block_number: int


# ---------------------------------------------------------------------------
# EXCEPTION-Response (Green Book 9.5)


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    """EXCEPTION-Response; ``invocation_counter`` is present exactly when
    ``service_error`` is invocation-counter-error [6] (Unsigned32)."""

    state_error: StateError
    service_error: ServiceError
    invocation_counter: int | None = None


Request: TypeAlias = (
    GetRequestNormal
    | GetRequestNext
    | GetRequestWithList
    | SetRequestNormal
    | SetRequestWithFirstDatablock
    | SetRequestWithDatablock
    | SetRequestWithList
    | SetRequestWithListAndFirstDatablock
    | ActionRequestNormal
    | ActionRequestNextPblock
    | ActionRequestWithList
    | ActionRequestWithFirstPblock
    | ActionRequestWithListAndFirstPblock
    | ActionRequestWithPblock
)
Response: TypeAlias = (
    GetResponseNormal
    | GetResponseWithDatablock
    | GetResponseWithList
    | SetResponseNormal
    | SetResponseDatablock
    | SetResponseLastDatablock
    | SetResponseLastDatablockWithList
    | SetResponseWithList
    | ActionResponseNormal
    | ActionResponseWithPblock
    | ActionResponseWithList
    | ActionResponseNextPblock
    | ExceptionResponse
)


# ---------------------------------------------------------------------------
# Encoding

_DESCRIPTOR = struct.Struct(">H6sb")
_DATABLOCK_HEAD = struct.Struct(">?I")
_U32 = struct.Struct(">I")
_GET_RESPONSE_NORMAL_HEADS = {i: bytes((ApduTag.GET_RESPONSE, GetResponseType.NORMAL, i, 0)) for i in range(256)}


def _head(tag: int, choice: int, invoke_id_and_priority: int) -> bytes:
    return bytes((tag, choice, invoke_id_and_priority))


def _enc_descriptor(class_id: int, instance_id: bytes, member_id: int) -> bytes:
    if len(instance_id) != 6:
        raise ValueError(f"instance-id needs 6 octets, got {len(instance_id)}")
    return _DESCRIPTOR.pack(class_id, instance_id, member_id)


def _enc_attribute(attribute: CosemAttributeDescriptor, selection: SelectiveAccess | None) -> bytes:
    """Cosem-Attribute-Descriptor then the OPTIONAL Selective-Access-Descriptor."""
    head = _enc_descriptor(attribute.class_id, attribute.instance_id, attribute.attribute_id)
    if selection is None:
        return head + b"\x00"
    return head + bytes((1, selection.selector)) + encode_data(selection.parameters)


def _enc_method(method: CosemMethodDescriptor) -> bytes:
    return _enc_descriptor(method.class_id, method.instance_id, method.method_id)


def _enc_attribute_list(items: tuple[AttributeWithSelection, ...]) -> bytes:
    return encode_length(len(items)) + b"".join(_enc_attribute(attribute, sel) for attribute, sel in items)


def _enc_method_list(methods: tuple[CosemMethodDescriptor, ...]) -> bytes:
    return encode_length(len(methods)) + b"".join(_enc_method(method) for method in methods)


def _enc_datablock(last_block: bool, block_number: int, raw_data: bytes) -> bytes:
    """DataBlock-SA: last-block BOOLEAN, block-number Unsigned32, raw-data OCTET STRING."""
    return _DATABLOCK_HEAD.pack(last_block, block_number) + encode_length(len(raw_data)) + raw_data


def _enc_dar(result: int) -> int:
    return int(DataAccessResult(result))


def _enc_get_data_result(result: GetDataResult) -> bytes:
    """Get-Data-Result CHOICE: data [0] (encoded Data) or data-access-result [1]."""
    if isinstance(result, int):
        return bytes((1, _enc_dar(result)))
    return b"\x00" + result


def _enc_action_return(result: int, parameters: ActionReturn) -> bytes:
    """Action-Response-With-Optional-Data: result, OPTIONAL Get-Data-Result."""
    head = int(ActionResult(result))
    if parameters is None:
        return bytes((head, 0))
    return bytes((head, 1)) + _enc_get_data_result(parameters)


def _enc_dar_list(results: tuple[DataAccessResult, ...]) -> bytes:
    return encode_length(len(results)) + bytes(_enc_dar(result) for result in results)


def _check_pairs(what: str, left: int, right: int) -> None:
    if left != right:
        raise ValueError(f"{what}: {left} descriptors but {right} values")


_GET_REQUEST = ApduTag.GET_REQUEST
_SET_REQUEST = ApduTag.SET_REQUEST
_ACTION_REQUEST = ApduTag.ACTION_REQUEST
_GET_RESPONSE = ApduTag.GET_RESPONSE
_SET_RESPONSE = ApduTag.SET_RESPONSE
_ACTION_RESPONSE = ApduTag.ACTION_RESPONSE


def _enc_get_request_normal(m: GetRequestNormal) -> bytes:
    return _head(_GET_REQUEST, GetRequestType.NORMAL, m.invoke_id_and_priority) + _enc_attribute(
        m.attribute, m.access_selection
    )


def _enc_get_request_next(m: GetRequestNext) -> bytes:
    return _head(_GET_REQUEST, GetRequestType.NEXT, m.invoke_id_and_priority) + _U32.pack(m.block_number)


def _enc_get_request_with_list(m: GetRequestWithList) -> bytes:
    return _head(_GET_REQUEST, GetRequestType.WITH_LIST, m.invoke_id_and_priority) + _enc_attribute_list(m.items)


def _enc_set_request_normal(m: SetRequestNormal) -> bytes:
    return (
        _head(_SET_REQUEST, SetRequestType.NORMAL, m.invoke_id_and_priority)
        + _enc_attribute(m.attribute, m.access_selection)
        + encode_data(m.value)
    )


def _enc_set_request_with_first_datablock(m: SetRequestWithFirstDatablock) -> bytes:
    return (
        _head(_SET_REQUEST, SetRequestType.WITH_FIRST_DATABLOCK, m.invoke_id_and_priority)
        + _enc_attribute(m.attribute, m.access_selection)
        + _enc_datablock(m.last_block, m.block_number, m.raw_data)
    )


def _enc_set_request_with_datablock(m: SetRequestWithDatablock) -> bytes:
    return _head(_SET_REQUEST, SetRequestType.WITH_DATABLOCK, m.invoke_id_and_priority) + _enc_datablock(
        m.last_block, m.block_number, m.raw_data
    )


def _enc_set_request_with_list(m: SetRequestWithList) -> bytes:
    _check_pairs("set-request-with-list", len(m.items), len(m.values))
    return (
        _head(_SET_REQUEST, SetRequestType.WITH_LIST, m.invoke_id_and_priority)
        + _enc_attribute_list(m.items)
        + encode_length(len(m.values))
        + b"".join(encode_data(value) for value in m.values)
    )


def _enc_set_request_with_list_and_first_datablock(m: SetRequestWithListAndFirstDatablock) -> bytes:
    return (
        _head(_SET_REQUEST, SetRequestType.WITH_LIST_AND_FIRST_DATABLOCK, m.invoke_id_and_priority)
        + _enc_attribute_list(m.items)
        + _enc_datablock(m.last_block, m.block_number, m.raw_data)
    )


def _enc_action_request_normal(m: ActionRequestNormal) -> bytes:
    head = _head(_ACTION_REQUEST, ActionRequestType.NORMAL, m.invoke_id_and_priority) + _enc_method(m.method)
    if m.parameters is None:
        return head + b"\x00"
    return head + b"\x01" + encode_data(m.parameters)


def _enc_action_request_next_pblock(m: ActionRequestNextPblock) -> bytes:
    return _head(_ACTION_REQUEST, ActionRequestType.NEXT_PBLOCK, m.invoke_id_and_priority) + _U32.pack(m.block_number)


def _enc_action_request_with_list(m: ActionRequestWithList) -> bytes:
    _check_pairs("action-request-with-list", len(m.methods), len(m.parameters))
    return (
        _head(_ACTION_REQUEST, ActionRequestType.WITH_LIST, m.invoke_id_and_priority)
        + _enc_method_list(m.methods)
        + encode_length(len(m.parameters))
        + b"".join(encode_data(value) for value in m.parameters)
    )


def _enc_action_request_with_first_pblock(m: ActionRequestWithFirstPblock) -> bytes:
    return (
        _head(_ACTION_REQUEST, ActionRequestType.WITH_FIRST_PBLOCK, m.invoke_id_and_priority)
        + _enc_method(m.method)
        + _enc_datablock(m.last_block, m.block_number, m.raw_data)
    )


def _enc_action_request_with_list_and_first_pblock(m: ActionRequestWithListAndFirstPblock) -> bytes:
    return (
        _head(_ACTION_REQUEST, ActionRequestType.WITH_LIST_AND_FIRST_PBLOCK, m.invoke_id_and_priority)
        + _enc_method_list(m.methods)
        + _enc_datablock(m.last_block, m.block_number, m.raw_data)
    )


def _enc_action_request_with_pblock(m: ActionRequestWithPblock) -> bytes:
    return _head(_ACTION_REQUEST, ActionRequestType.WITH_PBLOCK, m.invoke_id_and_priority) + _enc_datablock(
        m.last_block, m.block_number, m.raw_data
    )


def encode_get_response_normal(invoke_id_and_priority: int, result: bytes | DataAccessResult) -> bytes:
    """A GET-Response-Normal of encoded Data or a Data-Access-Result, without
    building its message (the meter's GET hot path)."""
    if type(result) is bytes:
        head = _GET_RESPONSE_NORMAL_HEADS.get(invoke_id_and_priority)
        if head is not None:
            return head + result
    return _head(_GET_RESPONSE, GetResponseType.NORMAL, invoke_id_and_priority) + _enc_get_data_result(result)


def _enc_get_response_normal(m: GetResponseNormal) -> bytes:
    return encode_get_response_normal(m.invoke_id_and_priority, m.result)


def _enc_get_response_with_datablock(m: GetResponseWithDatablock) -> bytes:
    head = _head(_GET_RESPONSE, GetResponseType.WITH_DATABLOCK, m.invoke_id_and_priority) + _DATABLOCK_HEAD.pack(
        m.last_block, m.block_number
    )
    raw = m.raw_data
    if isinstance(raw, int):
        return head + bytes((1, _enc_dar(raw)))
    return head + b"\x00" + encode_length(len(raw)) + raw


def _enc_get_response_with_list(m: GetResponseWithList) -> bytes:
    return (
        _head(_GET_RESPONSE, GetResponseType.WITH_LIST, m.invoke_id_and_priority)
        + encode_length(len(m.results))
        + b"".join(_enc_get_data_result(result) for result in m.results)
    )


def _enc_set_response_normal(m: SetResponseNormal) -> bytes:
    return bytes((_SET_RESPONSE, SetResponseType.NORMAL, m.invoke_id_and_priority, _enc_dar(m.result)))


def _enc_set_response_datablock(m: SetResponseDatablock) -> bytes:
    return _head(_SET_RESPONSE, SetResponseType.DATABLOCK, m.invoke_id_and_priority) + _U32.pack(m.block_number)


def _enc_set_response_last_datablock(m: SetResponseLastDatablock) -> bytes:
    return bytes(
        (_SET_RESPONSE, SetResponseType.LAST_DATABLOCK, m.invoke_id_and_priority, _enc_dar(m.result))
    ) + _U32.pack(m.block_number)


def _enc_set_response_last_datablock_with_list(m: SetResponseLastDatablockWithList) -> bytes:
    return (
        _head(_SET_RESPONSE, SetResponseType.LAST_DATABLOCK_WITH_LIST, m.invoke_id_and_priority)
        + _enc_dar_list(m.results)
        + _U32.pack(m.block_number)
    )


def _enc_set_response_with_list(m: SetResponseWithList) -> bytes:
    return _head(_SET_RESPONSE, SetResponseType.WITH_LIST, m.invoke_id_and_priority) + _enc_dar_list(m.results)


def _enc_action_response_normal(m: ActionResponseNormal) -> bytes:
    return _head(_ACTION_RESPONSE, ActionResponseType.NORMAL, m.invoke_id_and_priority) + _enc_action_return(
        m.result, m.return_parameters
    )


def _enc_action_response_with_pblock(m: ActionResponseWithPblock) -> bytes:
    return _head(_ACTION_RESPONSE, ActionResponseType.WITH_PBLOCK, m.invoke_id_and_priority) + _enc_datablock(
        m.last_block, m.block_number, m.raw_data
    )


def _enc_action_response_with_list(m: ActionResponseWithList) -> bytes:
    return (
        _head(_ACTION_RESPONSE, ActionResponseType.WITH_LIST, m.invoke_id_and_priority)
        + encode_length(len(m.results))
        + b"".join(_enc_action_return(result, parameters) for result, parameters in m.results)
    )


def _enc_action_response_next_pblock(m: ActionResponseNextPblock) -> bytes:
    return _head(_ACTION_RESPONSE, ActionResponseType.NEXT_PBLOCK, m.invoke_id_and_priority) + _U32.pack(m.block_number)


def _enc_exception_response(m: ExceptionResponse) -> bytes:
    service = ServiceError(m.service_error)
    head = bytes((ApduTag.EXCEPTION_RESPONSE, StateError(m.state_error), service))
    if service is ServiceError.INVOCATION_COUNTER_ERROR:
        if m.invocation_counter is None:
            raise ValueError("invocation-counter-error needs the invocation counter")
        return head + _U32.pack(m.invocation_counter)
    if m.invocation_counter is not None:
        raise ValueError(f"{service.name.lower()} carries no invocation counter")
    return head


_REQUEST_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    GetRequestNormal: _enc_get_request_normal,
    GetRequestNext: _enc_get_request_next,
    GetRequestWithList: _enc_get_request_with_list,
    SetRequestNormal: _enc_set_request_normal,
    SetRequestWithFirstDatablock: _enc_set_request_with_first_datablock,
    SetRequestWithDatablock: _enc_set_request_with_datablock,
    SetRequestWithList: _enc_set_request_with_list,
    SetRequestWithListAndFirstDatablock: _enc_set_request_with_list_and_first_datablock,
    ActionRequestNormal: _enc_action_request_normal,
    ActionRequestNextPblock: _enc_action_request_next_pblock,
    ActionRequestWithList: _enc_action_request_with_list,
    ActionRequestWithFirstPblock: _enc_action_request_with_first_pblock,
    ActionRequestWithListAndFirstPblock: _enc_action_request_with_list_and_first_pblock,
    ActionRequestWithPblock: _enc_action_request_with_pblock,
}

_RESPONSE_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    GetResponseNormal: _enc_get_response_normal,
    GetResponseWithDatablock: _enc_get_response_with_datablock,
    GetResponseWithList: _enc_get_response_with_list,
    SetResponseNormal: _enc_set_response_normal,
    SetResponseDatablock: _enc_set_response_datablock,
    SetResponseLastDatablock: _enc_set_response_last_datablock,
    SetResponseLastDatablockWithList: _enc_set_response_last_datablock_with_list,
    SetResponseWithList: _enc_set_response_with_list,
    ActionResponseNormal: _enc_action_response_normal,
    ActionResponseWithPblock: _enc_action_response_with_pblock,
    ActionResponseWithList: _enc_action_response_with_list,
    ActionResponseNextPblock: _enc_action_response_next_pblock,
    ExceptionResponse: _enc_exception_response,
}


def _encode(msg: object, encoders: dict[type, Callable[[Any], bytes]], role: str) -> bytes:
    encoder = encoders.get(type(msg))
    if encoder is None:
        raise TypeError(f"not an xDLMS {role}: {type(msg).__name__}")
    try:
        return encoder(msg)
    except struct.error as exc:
        raise ValueError(f"{type(msg).__name__}: field out of range ({exc})") from None


def encode_request(msg: Request) -> bytes:
    """The APDU of a GET/SET/ACTION request (client side)."""
    return _encode(msg, _REQUEST_ENCODERS, "request")


def encode_response(msg: Response) -> bytes:
    """The APDU of a GET/SET/ACTION response or EXCEPTION-Response (meter side).

    A Get-Response-Normal carrying encoded Data is one concatenation of a
    precomputed header and the Data.
    """
    return _encode(msg, _RESPONSE_ENCODERS, "response")


# ---------------------------------------------------------------------------
# Decoding. Readers take the APDU, an offset and a tracer and return (value, next
# offset); with a tracer they report each field they read under its ASN.1 name.

_DAR_BY_VALUE = {int(member): member for member in DataAccessResult}
_ACTION_RESULT_BY_VALUE = {int(member): member for member in ActionResult}
_STATE_ERROR_BY_VALUE = {int(member): member for member in StateError}
_SERVICE_ERROR_BY_VALUE = {int(member): member for member in ServiceError}
_descriptor_from = _DESCRIPTOR.unpack_from
_u32_from = _U32.unpack_from

_Reader: TypeAlias = Callable[[bytes, int, "Tracer | None", str], tuple[Any, int]]
"""Reads one item of a SEQUENCE OF, reported as the field or group named by the last argument."""


def _u8(b: bytes, pos: int, what: str) -> tuple[int, int]:
    if pos >= len(b):
        raise DecodeError(f"truncated: {what} expected", pos)
    return b[pos], pos + 1


def _octet(b: bytes, pos: int, name: str, t: Tracer | None) -> tuple[int, int]:
    """One octet, reported as the field ``name``."""
    value, nxt = _u8(b, pos, name)
    if t is not None:
        t.field(name, pos, 1, value)
    return value, nxt


def _u32(b: bytes, pos: int, name: str, t: Tracer | None) -> tuple[int, int]:
    """Unsigned32, reported as the field ``name``."""
    if pos + 4 > len(b):
        raise DecodeError(f"truncated {name.replace('-', ' ')}", pos)
    value = _u32_from(b, pos)[0]
    if t is not None:
        t.field(name, pos, 4, value)
    return value, pos + 4


def _enter(t: Tracer | None, name: str, pos: int) -> None:
    if t is not None:
        t.enter(name, pos)


def _leave(t: Tracer | None, end: int) -> None:
    if t is not None:
        t.leave(end)


def _descriptor(b: bytes, pos: int, t: Tracer | None, name: str, member: str) -> tuple[tuple[int, bytes, int], int]:
    """class-id Unsigned16, instance-id OCTET STRING (SIZE(6)), then ``member`` Integer8."""
    if pos + 9 > len(b):
        raise DecodeError(f"truncated {name}", pos)
    class_id, instance_id, member_id = _descriptor_from(b, pos)
    if t is not None:
        t.enter(name, pos)
        t.field("class-id", pos, 2, class_id)
        t.field("instance-id", pos + 2, 6, instance_id)
        t.field(member, pos + 8, 1, member_id)
        t.leave(pos + 9)
    return (class_id, instance_id, member_id), pos + 9


def _attribute(b: bytes, pos: int, t: Tracer | None) -> tuple[CosemAttributeDescriptor, int]:
    fields, pos = _descriptor(b, pos, t, "cosem-attribute-descriptor", "attribute-id")
    return CosemAttributeDescriptor(*fields), pos


def _method(b: bytes, pos: int, t: Tracer | None) -> tuple[CosemMethodDescriptor, int]:
    fields, pos = _descriptor(b, pos, t, "cosem-method-descriptor", "method-id")
    return CosemMethodDescriptor(*fields), pos


def _present(b: bytes, pos: int, what: str, t: Tracer | None) -> tuple[bool, int]:
    """Usage flag of an OPTIONAL component (A-XDR: 0x00 absent, else present)."""
    flag, nxt = _u8(b, pos, f"{what} usage flag")
    if t is not None:
        t.field("usage-flag", pos, 1, flag != 0)
    return flag != 0, nxt


def _selection(b: bytes, pos: int, t: Tracer | None) -> tuple[SelectiveAccess | None, int]:
    """OPTIONAL Selective-Access-Descriptor, reported as the group ``access-selection``."""
    _enter(t, "access-selection", pos)
    present, pos = _present(b, pos, "access-selection", t)
    selection = None
    if present:
        selector, pos = _octet(b, pos, "access-selector", t)
        parameters, pos = decode_data(b, pos, t, "access-parameters")
        selection = SelectiveAccess(selector, parameters)
    _leave(t, pos)
    return selection, pos


def _attribute_with_selection(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[AttributeWithSelection, int]:
    _enter(t, name, pos)
    attribute, pos = _attribute(b, pos, t)
    selection, pos = _selection(b, pos, t)
    _leave(t, pos)
    return (attribute, selection), pos


def _count(b: bytes, pos: int, least_size: int, what: str, t: Tracer | None) -> tuple[int, int]:
    """A SEQUENCE OF quantity, refused when its items cannot fit in what is left."""
    n, nxt = decode_length(b, pos)
    if n * least_size > len(b) - nxt:
        raise DecodeError(f"{what} of {n} items exceeds the {len(b) - nxt} octets left", nxt)
    if t is not None:
        t.field("count", pos, nxt - pos, n)
    return n, nxt


def _octets(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[bytes, int]:
    """The length and octets of the OCTET STRING ``name``, reported as ``length`` and ``value``."""
    n, start = decode_length(b, pos)
    stop = start + n
    if stop > len(b):
        raise DecodeError(f"{name} of {n} octets exceeds the {len(b) - start} left", start)
    raw = bytes(b[start:stop])
    if t is not None:
        t.field("length", pos, start - pos, n)
        t.field("value", start, n, raw)
    return raw, stop


def _octet_string(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[bytes, int]:
    """An OCTET STRING, reported as the group ``name``: length, value."""
    _enter(t, name, pos)
    raw, stop = _octets(b, pos, t, name)
    _leave(t, stop)
    return raw, stop


def _block_head(b: bytes, pos: int, what: str, t: Tracer | None) -> tuple[bool, int, int]:
    """last-block BOOLEAN, block-number Unsigned32 (Green Book 9.5)."""
    if pos + 5 > len(b):
        raise DecodeError(f"truncated {what} header", pos)
    last = b[pos] != 0
    number = _u32_from(b, pos + 1)[0]
    if t is not None:
        t.field("last-block", pos, 1, last)
        t.field("block-number", pos + 1, 4, number)
    return last, number, pos + 5


def _datablock(b: bytes, pos: int, t: Tracer | None) -> tuple[bool, int, bytes, int]:
    """DataBlock-SA: last-block, block-number, raw-data; reported as the group ``datablock``."""
    _enter(t, "datablock", pos)
    last, number, pos = _block_head(b, pos, "datablock", t)
    raw, pos = _octet_string(b, pos, t, "raw-data")
    _leave(t, pos)
    return last, number, raw, pos


def _member(b: bytes, pos: int, table: dict[int, Any], what: str, name: str, t: Tracer | None) -> tuple[Any, int]:
    """One octet naming a member of an enumeration; an unknown value is refused."""
    value, nxt = _u8(b, pos, what)
    member = table.get(value)
    if member is None:
        raise DecodeError(f"unknown {what} {value}", pos)
    if t is not None:
        t.field(name, pos, 1, member)
    return member, nxt


def _dar(b: bytes, pos: int, t: Tracer | None, name: str = "data-access-result") -> tuple[DataAccessResult, int]:
    result: DataAccessResult
    result, pos = _member(b, pos, _DAR_BY_VALUE, "data-access-result", name, t)
    return result, pos


def _action_result(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionResult, int]:
    result: ActionResult
    result, pos = _member(b, pos, _ACTION_RESULT_BY_VALUE, "action-result", "result", t)
    return result, pos


def _get_data_result(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[GetDataResult, int]:
    """Get-Data-Result CHOICE, reported as the group ``name``: choice, then data or data-access-result."""
    choice, nxt = _u8(b, pos, "Get-Data-Result choice")
    if choice > 1:
        raise DecodeError(f"unknown Get-Data-Result choice {choice}", pos)
    if t is not None:
        t.enter(name, pos)
        t.field("choice", pos, 1, choice)
    result: GetDataResult
    if choice == 0:
        _, stop = decode_data(b, nxt, t)
        result = bytes(b[nxt:stop])
    else:
        result, stop = _dar(b, nxt, t)
    _leave(t, stop)
    return result, stop


def _action_return(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[tuple[ActionResult, ActionReturn], int]:
    """Action-Response-With-Optional-Data, reported as the group ``name``."""
    _enter(t, name, pos)
    result, pos = _action_result(b, pos, t)
    _enter(t, "return-parameters", pos)
    present, pos = _present(b, pos, "return-parameters", t)
    parameters: ActionReturn = None
    if present:
        parameters, pos = _get_data_result(b, pos, t, "data")
    _leave(t, pos)
    _leave(t, pos)
    return (result, parameters), pos


def _list(b: bytes, pos: int, least_size: int, what: str, reader: _Reader, t: Tracer | None,
          name: str) -> tuple[tuple[Any, ...], int]:
    """SEQUENCE OF, reported as the group ``name``: count, then the items ``[0]``, ``[1]``…"""
    _enter(t, name, pos)
    n, pos = _count(b, pos, least_size, what, t)
    items = []
    for index in range(n):
        item, pos = reader(b, pos, t, f"[{index}]" if t is not None else "")
        items.append(item)
    _leave(t, pos)
    return tuple(items), pos


def _invoke(b: bytes, pos: int, t: Tracer | None) -> tuple[int, int]:
    return _octet(b, pos, "invoke-id-and-priority", t)


# The least encoded size of a list item, for refusing impossible counts early.
_ATTRIBUTE_WITH_SELECTION_SIZE = 10
_METHOD_SIZE = 9


def _attribute_list(b: bytes, pos: int, t: Tracer | None) -> tuple[tuple[AttributeWithSelection, ...], int]:
    return _list(b, pos, _ATTRIBUTE_WITH_SELECTION_SIZE, "attribute-descriptor-list", _attribute_with_selection, t,
                 "attribute-descriptor-list")


def _method_item(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[CosemMethodDescriptor, int]:
    return _method(b, pos, t)


def _method_list(b: bytes, pos: int, t: Tracer | None) -> tuple[tuple[CosemMethodDescriptor, ...], int]:
    return _list(b, pos, _METHOD_SIZE, "cosem-method-descriptor-list", _method_item, t,
                 "cosem-method-descriptor-list")


def _data_item(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[Data, int]:
    return decode_data(b, pos, t, name)


def _data_list(b: bytes, pos: int, what: str, t: Tracer | None) -> tuple[tuple[Data, ...], int]:
    return _list(b, pos, 1, what, _data_item, t, what)


def _dar_item(b: bytes, pos: int, t: Tracer | None, name: str) -> tuple[DataAccessResult, int]:
    return _dar(b, pos, t, name)


def _dar_list(b: bytes, pos: int, t: Tracer | None) -> tuple[tuple[DataAccessResult, ...], int]:
    return _list(b, pos, 1, "data-access-result list", _dar_item, t, "result")


def _paired(what: str, pos: int, left: int, right: int) -> None:
    if left != right:
        raise DecodeError(f"{what}: {left} descriptors but {right} values", pos)


def _dec_get_request_normal(b: bytes, pos: int, t: Tracer | None) -> tuple[GetRequestNormal, int]:
    invoke, pos = _invoke(b, pos, t)
    attribute, pos = _attribute(b, pos, t)
    selection, pos = _selection(b, pos, t)
    return GetRequestNormal(invoke, attribute, selection), pos


def _dec_get_request_next(b: bytes, pos: int, t: Tracer | None) -> tuple[GetRequestNext, int]:
    invoke, pos = _invoke(b, pos, t)
    number, pos = _u32(b, pos, "block-number", t)
    return GetRequestNext(invoke, number), pos


def _dec_get_request_with_list(b: bytes, pos: int, t: Tracer | None) -> tuple[GetRequestWithList, int]:
    invoke, pos = _invoke(b, pos, t)
    items, pos = _attribute_list(b, pos, t)
    return GetRequestWithList(invoke, items), pos


def _dec_set_request_normal(b: bytes, pos: int, t: Tracer | None) -> tuple[SetRequestNormal, int]:
    invoke, pos = _invoke(b, pos, t)
    attribute, pos = _attribute(b, pos, t)
    selection, pos = _selection(b, pos, t)
    value, pos = decode_data(b, pos, t, "value")
    return SetRequestNormal(invoke, attribute, selection, value), pos


def _dec_set_request_with_first_datablock(b: bytes, pos: int, t: Tracer | None) -> tuple[
        SetRequestWithFirstDatablock, int]:
    invoke, pos = _invoke(b, pos, t)
    attribute, pos = _attribute(b, pos, t)
    selection, pos = _selection(b, pos, t)
    last, number, raw, pos = _datablock(b, pos, t)
    return SetRequestWithFirstDatablock(invoke, attribute, selection, last, number, raw), pos


def _dec_set_request_with_datablock(b: bytes, pos: int, t: Tracer | None) -> tuple[SetRequestWithDatablock, int]:
    invoke, pos = _invoke(b, pos, t)
    last, number, raw, pos = _datablock(b, pos, t)
    return SetRequestWithDatablock(invoke, last, number, raw), pos


def _dec_set_request_with_list(b: bytes, pos: int, t: Tracer | None) -> tuple[SetRequestWithList, int]:
    invoke, pos = _invoke(b, pos, t)
    items, pos = _attribute_list(b, pos, t)
    start = pos
    values, pos = _data_list(b, pos, "value-list", t)
    _paired("set-request-with-list", start, len(items), len(values))
    return SetRequestWithList(invoke, items, values), pos


def _dec_set_request_with_list_and_first_datablock(b: bytes, pos: int, t: Tracer | None) -> tuple[
        SetRequestWithListAndFirstDatablock, int]:
    invoke, pos = _invoke(b, pos, t)
    items, pos = _attribute_list(b, pos, t)
    last, number, raw, pos = _datablock(b, pos, t)
    return SetRequestWithListAndFirstDatablock(invoke, items, last, number, raw), pos


def _dec_action_request_normal(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionRequestNormal, int]:
    invoke, pos = _invoke(b, pos, t)
    method, pos = _method(b, pos, t)
    _enter(t, "method-invocation-parameters", pos)
    present, pos = _present(b, pos, "method-invocation-parameters", t)
    parameters: Data | None = None
    if present:
        parameters, pos = decode_data(b, pos, t)
    _leave(t, pos)
    return ActionRequestNormal(invoke, method, parameters), pos


def _dec_action_request_next_pblock(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionRequestNextPblock, int]:
    invoke, pos = _invoke(b, pos, t)
    number, pos = _u32(b, pos, "block-number", t)
    return ActionRequestNextPblock(invoke, number), pos


def _dec_action_request_with_list(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionRequestWithList, int]:
    invoke, pos = _invoke(b, pos, t)
    methods, pos = _method_list(b, pos, t)
    start = pos
    parameters, pos = _data_list(b, pos, "method-invocation-parameters", t)
    _paired("action-request-with-list", start, len(methods), len(parameters))
    return ActionRequestWithList(invoke, methods, parameters), pos


def _dec_action_request_with_first_pblock(b: bytes, pos: int, t: Tracer | None) -> tuple[
        ActionRequestWithFirstPblock, int]:
    invoke, pos = _invoke(b, pos, t)
    method, pos = _method(b, pos, t)
    last, number, raw, pos = _datablock(b, pos, t)
    return ActionRequestWithFirstPblock(invoke, method, last, number, raw), pos


def _dec_action_request_with_list_and_first_pblock(b: bytes, pos: int, t: Tracer | None) -> tuple[
        ActionRequestWithListAndFirstPblock, int]:
    invoke, pos = _invoke(b, pos, t)
    methods, pos = _method_list(b, pos, t)
    last, number, raw, pos = _datablock(b, pos, t)
    return ActionRequestWithListAndFirstPblock(invoke, methods, last, number, raw), pos


def _dec_action_request_with_pblock(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionRequestWithPblock, int]:
    invoke, pos = _invoke(b, pos, t)
    last, number, raw, pos = _datablock(b, pos, t)
    return ActionRequestWithPblock(invoke, last, number, raw), pos


def _dec_get_response_normal(b: bytes, pos: int, t: Tracer | None) -> tuple[GetResponseNormal, int]:
    invoke, pos = _invoke(b, pos, t)
    result, pos = _get_data_result(b, pos, t, "result")
    return GetResponseNormal(invoke, result), pos


def _dec_get_response_with_datablock(b: bytes, pos: int, t: Tracer | None) -> tuple[GetResponseWithDatablock, int]:
    """DataBlock-G: last-block, block-number, result CHOICE raw-data [0] / data-access-result [1],
    reported as the group ``result``."""
    invoke, pos = _invoke(b, pos, t)
    _enter(t, "result", pos)
    last, number, pos = _block_head(b, pos, "DataBlock-G", t)
    choice, nxt = _u8(b, pos, "DataBlock-G result choice")
    if choice > 1:
        raise DecodeError(f"unknown DataBlock-G result choice {choice}", pos)
    if t is not None:
        t.field("choice", pos, 1, choice)
    raw: bytes | DataAccessResult
    if choice == 0:
        raw, pos = _octet_string(b, nxt, t, "raw-data")
    else:
        raw, pos = _dar(b, nxt, t)
    _leave(t, pos)
    return GetResponseWithDatablock(invoke, last, number, raw), pos


def _dec_get_response_with_list(b: bytes, pos: int, t: Tracer | None) -> tuple[GetResponseWithList, int]:
    invoke, pos = _invoke(b, pos, t)
    results, pos = _list(b, pos, 2, "Get-Data-Result list", _get_data_result, t, "result")
    return GetResponseWithList(invoke, results), pos


def _dec_set_response_normal(b: bytes, pos: int, t: Tracer | None) -> tuple[SetResponseNormal, int]:
    invoke, pos = _invoke(b, pos, t)
    result, pos = _dar(b, pos, t, "result")
    return SetResponseNormal(invoke, result), pos


def _dec_set_response_datablock(b: bytes, pos: int, t: Tracer | None) -> tuple[SetResponseDatablock, int]:
    invoke, pos = _invoke(b, pos, t)
    number, pos = _u32(b, pos, "block-number", t)
    return SetResponseDatablock(invoke, number), pos


def _dec_set_response_last_datablock(b: bytes, pos: int, t: Tracer | None) -> tuple[SetResponseLastDatablock, int]:
    invoke, pos = _invoke(b, pos, t)
    result, pos = _dar(b, pos, t, "result")
    number, pos = _u32(b, pos, "block-number", t)
    return SetResponseLastDatablock(invoke, result, number), pos


def _dec_set_response_last_datablock_with_list(b: bytes, pos: int, t: Tracer | None) -> tuple[
        SetResponseLastDatablockWithList, int]:
    invoke, pos = _invoke(b, pos, t)
    results, pos = _dar_list(b, pos, t)
    number, pos = _u32(b, pos, "block-number", t)
    return SetResponseLastDatablockWithList(invoke, results, number), pos


def _dec_set_response_with_list(b: bytes, pos: int, t: Tracer | None) -> tuple[SetResponseWithList, int]:
    invoke, pos = _invoke(b, pos, t)
    results, pos = _dar_list(b, pos, t)
    return SetResponseWithList(invoke, results), pos


def _dec_action_response_normal(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionResponseNormal, int]:
    invoke, pos = _invoke(b, pos, t)
    (result, parameters), pos = _action_return(b, pos, t, "single-response")
    return ActionResponseNormal(invoke, result, parameters), pos


def _dec_action_response_with_pblock(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionResponseWithPblock, int]:
    invoke, pos = _invoke(b, pos, t)
    last, number, raw, pos = _datablock(b, pos, t)
    return ActionResponseWithPblock(invoke, last, number, raw), pos


def _dec_action_response_with_list(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionResponseWithList, int]:
    invoke, pos = _invoke(b, pos, t)
    results, pos = _list(b, pos, 2, "list-of-responses", _action_return, t, "list-of-responses")
    return ActionResponseWithList(invoke, results), pos


def _dec_action_response_next_pblock(b: bytes, pos: int, t: Tracer | None) -> tuple[ActionResponseNextPblock, int]:
    invoke, pos = _invoke(b, pos, t)
    number, pos = _u32(b, pos, "block-number", t)
    return ActionResponseNextPblock(invoke, number), pos


_ChoiceDecoders: TypeAlias = dict[int, Callable[[bytes, int, "Tracer | None"], tuple[Any, int]]]

_REQUEST_DECODERS: dict[int, tuple[str, _ChoiceDecoders]] = {
    ApduTag.GET_REQUEST: (
        "get-request",
        {
            GetRequestType.NORMAL: _dec_get_request_normal,
            GetRequestType.NEXT: _dec_get_request_next,
            GetRequestType.WITH_LIST: _dec_get_request_with_list,
        },
    ),
    ApduTag.SET_REQUEST: (
        "set-request",
        {
            SetRequestType.NORMAL: _dec_set_request_normal,
            SetRequestType.WITH_FIRST_DATABLOCK: _dec_set_request_with_first_datablock,
            SetRequestType.WITH_DATABLOCK: _dec_set_request_with_datablock,
            SetRequestType.WITH_LIST: _dec_set_request_with_list,
            SetRequestType.WITH_LIST_AND_FIRST_DATABLOCK: _dec_set_request_with_list_and_first_datablock,
        },
    ),
    ApduTag.ACTION_REQUEST: (
        "action-request",
        {
            ActionRequestType.NORMAL: _dec_action_request_normal,
            ActionRequestType.NEXT_PBLOCK: _dec_action_request_next_pblock,
            ActionRequestType.WITH_LIST: _dec_action_request_with_list,
            ActionRequestType.WITH_FIRST_PBLOCK: _dec_action_request_with_first_pblock,
            ActionRequestType.WITH_LIST_AND_FIRST_PBLOCK: _dec_action_request_with_list_and_first_pblock,
            ActionRequestType.WITH_PBLOCK: _dec_action_request_with_pblock,
        },
    ),
}

_RESPONSE_DECODERS: dict[int, tuple[str, _ChoiceDecoders]] = {
    ApduTag.GET_RESPONSE: (
        "get-response",
        {
            GetResponseType.NORMAL: _dec_get_response_normal,
            GetResponseType.WITH_DATABLOCK: _dec_get_response_with_datablock,
            GetResponseType.WITH_LIST: _dec_get_response_with_list,
        },
    ),
    ApduTag.SET_RESPONSE: (
        "set-response",
        {
            SetResponseType.NORMAL: _dec_set_response_normal,
            SetResponseType.DATABLOCK: _dec_set_response_datablock,
            SetResponseType.LAST_DATABLOCK: _dec_set_response_last_datablock,
            SetResponseType.LAST_DATABLOCK_WITH_LIST: _dec_set_response_last_datablock_with_list,
            SetResponseType.WITH_LIST: _dec_set_response_with_list,
        },
    ),
    ApduTag.ACTION_RESPONSE: (
        "action-response",
        {
            ActionResponseType.NORMAL: _dec_action_response_normal,
            ActionResponseType.WITH_PBLOCK: _dec_action_response_with_pblock,
            ActionResponseType.WITH_LIST: _dec_action_response_with_list,
            ActionResponseType.NEXT_PBLOCK: _dec_action_response_next_pblock,
        },
    ),
}


def _tag_name(tag: int) -> str:
    try:
        return f"0x{tag:02X} ({ApduTag(tag).name.lower().replace('_', '-')})"
    except ValueError:
        return f"0x{tag:02X}"


def _decode(apdu: bytes, decoders: dict[int, tuple[str, _ChoiceDecoders]], role: str,
            t: Tracer | None = None) -> Any:
    if not apdu:
        raise DecodeError(f"empty APDU: {role} tag expected", 0)
    tag = apdu[0]
    entry = decoders.get(tag)
    if entry is None:
        raise DecodeError(f"unknown {role} tag {_tag_name(tag)}", 0)
    name, choices = entry
    if t is not None:
        t.field("tag", 0, 1, tag)
    if len(apdu) < 2:
        raise DecodeError(f"truncated: {name} choice expected", 1)
    decoder = choices.get(apdu[1])
    if decoder is None:
        raise DecodeError(f"unknown {name} choice {apdu[1]}", 1)
    if t is not None:
        t.field("choice", 1, 1, apdu[1])
    msg, pos = decoder(apdu, 2, t)
    if pos != len(apdu):
        raise DecodeError(f"{len(apdu) - pos} trailing octets after the {name}", pos)
    return msg


_GET_REQUEST_NORMAL_FROM = struct.Struct(">BH6sb").unpack_from


def decode_request(apdu: bytes, tracer: Tracer | None = None) -> Request:
    """Decode a GET/SET/ACTION request APDU (meter side).

    A Get-Request-Normal without selective access (``C0 01``, 13 octets) and
    no tracer takes a fast path of one unpack.
    """
    if len(apdu) == 13 and apdu[0] == 0xC0 and apdu[1] == 0x01 and apdu[12] == 0 and tracer is None:
        invoke, class_id, instance_id, attribute_id = _GET_REQUEST_NORMAL_FROM(apdu, 2)
        return GetRequestNormal(invoke, CosemAttributeDescriptor(class_id, instance_id, attribute_id), None)
    msg: Request = _decode(apdu, _REQUEST_DECODERS, "request", tracer)
    return msg


def _decode_exception_response(apdu: bytes, t: Tracer | None) -> ExceptionResponse:
    if t is not None:
        t.field("tag", 0, 1, apdu[0])
    state, pos = _member(apdu, 1, _STATE_ERROR_BY_VALUE, "state-error", "state-error", t)
    service, pos = _member(apdu, pos, _SERVICE_ERROR_BY_VALUE, "service-error choice", "service-error", t)
    counter = None
    if service is ServiceError.INVOCATION_COUNTER_ERROR:
        counter, pos = _u32(apdu, pos, "invocation-counter", t)
    if pos != len(apdu):
        raise DecodeError(f"{len(apdu) - pos} trailing octets after the exception-response", pos)
    return ExceptionResponse(state, service, counter)


def decode_response(apdu: bytes, tracer: Tracer | None = None) -> Response:
    """Decode a GET/SET/ACTION response APDU or an EXCEPTION-Response (client side)."""
    if apdu[:1] == b"\xd8":
        return _decode_exception_response(apdu, tracer)
    msg: Response = _decode(apdu, _RESPONSE_DECODERS, "response", tracer)
    return msg


def decode_get_data_results(raw: bytes) -> tuple[GetDataResult, ...]:
    """The SEQUENCE OF Get-Data-Result that the datablocks of a long
    Get-Response-With-List carry once joined (Green Book 9.4.6.4), whole."""
    results, pos = _list(raw, 0, 2, "Get-Data-Result list", _get_data_result, None, "result")
    if pos != len(raw):
        raise DecodeError(f"{len(raw) - pos} octets after the Get-Data-Results", pos)
    return results


# ---------------------------------------------------------------------------
# Notifications and general-block-transfer (Green Book 9.5): APDUs the meters do
# not serve, decoded for what a capture may carry; a meter sends Data-Notification
# when it pushes (Green Book 9.3.10).


@dataclass(frozen=True, slots=True)
class EventNotificationRequest:
    """EventNotificationRequest: OPTIONAL time, the attribute, its value."""

    time: bytes | None
    attribute: CosemAttributeDescriptor
    value: Data


@dataclass(frozen=True, slots=True)
class DataNotification:
    """Data-Notification: long-invoke-id-and-priority (Unsigned32), date-time
    (an OCTET STRING, empty when absent), notification-body Data."""

    long_invoke_id_and_priority: int
    date_time: bytes
    body: Data


@dataclass(frozen=True, slots=True)
class GeneralBlockTransfer:
    """general-block-transfer: block-control (bit 7 last-block, bit 6 streaming,
    bits 0-5 window), block-number, block-number-ack, block-data."""

    block_control: int
    block_number: int
    block_number_ack: int
    block_data: bytes


def encode_data_notification(message: DataNotification, body: bytes | None = None) -> bytes:
    """The Data-Notification APDU (tag 0x0F): long-invoke-id-and-priority,
    date-time as an OCTET STRING (empty when absent) and the notification
    body; ``body`` is the body's Data already encoded, else ``message.body``
    is encoded. ValueError for a field out of its range."""
    if not 0 <= message.long_invoke_id_and_priority <= 0xFFFFFFFF:
        raise ValueError(f"long-invoke-id-and-priority {message.long_invoke_id_and_priority} is not an Unsigned32")
    if len(message.date_time) not in (0, 12):
        raise ValueError(f"a date-time has 0 or 12 octets, not {len(message.date_time)}")
    return (bytes((ApduTag.DATA_NOTIFICATION,)) + _U32.pack(message.long_invoke_id_and_priority)
            + encode_length(len(message.date_time)) + message.date_time
            + (encode_data(message.body) if body is None else body))


def _whole(apdu: bytes, tag: ApduTag, read: Callable[[bytes, int, Tracer | None], tuple[Any, int]],
           t: Tracer | None) -> Any:
    """An APDU of one form: its tag, what ``read`` reads, and nothing after it."""
    check_tag(apdu, tag, t)
    message, pos = read(apdu, 1, t)
    if pos != len(apdu):
        raise DecodeError(f"{len(apdu) - pos} trailing octets after the {enum_name(tag)}", pos)
    return message


def _event_notification_request(b: bytes, pos: int, t: Tracer | None) -> tuple[EventNotificationRequest, int]:
    _enter(t, "time", pos)
    present, pos = _present(b, pos, "time", t)
    time = None
    if present:
        time, pos = _octets(b, pos, t, "time")
    _leave(t, pos)
    attribute, pos = _attribute(b, pos, t)
    value, pos = decode_data(b, pos, t, "attribute-value")
    return EventNotificationRequest(time, attribute, value), pos


def _data_notification(b: bytes, pos: int, t: Tracer | None) -> tuple[DataNotification, int]:
    invoke, pos = _u32(b, pos, "long-invoke-id-and-priority", t)
    date_time, pos = _octet_string(b, pos, t, "date-time")
    body, pos = decode_data(b, pos, t, "notification-body")
    return DataNotification(invoke, date_time, body), pos


def _general_block_transfer(b: bytes, pos: int, t: Tracer | None) -> tuple[GeneralBlockTransfer, int]:
    control, pos = _octet(b, pos, "block-control", t)
    numbers = []
    for name in ("block-number", "block-number-ack"):
        if pos + 2 > len(b):
            raise DecodeError(f"truncated {name.replace('-', ' ')}", pos)
        numbers.append(int.from_bytes(b[pos : pos + 2], "big"))
        if t is not None:
            t.field(name, pos, 2, numbers[-1])
        pos += 2
    data, pos = _octet_string(b, pos, t, "block-data")
    return GeneralBlockTransfer(control, numbers[0], numbers[1], data), pos


def decode_event_notification_request(apdu: bytes, tracer: Tracer | None = None) -> EventNotificationRequest:
    """Decode an EventNotificationRequest (tag 0xC2); raises ``DecodeError``."""
    message: EventNotificationRequest = _whole(apdu, ApduTag.EVENT_NOTIFICATION_REQUEST,
                                               _event_notification_request, tracer)
    return message


def decode_data_notification(apdu: bytes, tracer: Tracer | None = None) -> DataNotification:
    """Decode a Data-Notification (tag 0x0F); raises ``DecodeError``."""
    message: DataNotification = _whole(apdu, ApduTag.DATA_NOTIFICATION, _data_notification, tracer)
    return message


def decode_general_block_transfer(apdu: bytes, tracer: Tracer | None = None) -> GeneralBlockTransfer:
    """Decode a general-block-transfer APDU (tag 0xE0); raises ``DecodeError``."""
    message: GeneralBlockTransfer = _whole(apdu, ApduTag.GENERAL_BLOCK_TRANSFER, _general_block_transfer, tracer)
    return message

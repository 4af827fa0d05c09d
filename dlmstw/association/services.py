"""The xDLMS services of an established association: GET, SET and ACTION in
all their forms, with block transfer in both directions (Green Book 9.3.x).

One ``ServiceHandler`` per association: its block-transfer state never leaks
into another connection, and every new request, error or association starts
the block numbering afresh.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Iterable, Iterator

from ..codec import axdr, services
from ..codec.axdr import Data
from ..codec.obis import format_obis
from ..codec.services import (ActionRequestNextPblock, ActionRequestNormal, ActionRequestWithFirstPblock,
                              ActionRequestWithList, ActionRequestWithListAndFirstPblock, ActionRequestWithPblock,
                              ActionResponseNextPblock, ActionResponseNormal, ActionResponseWithList,
                              ActionResponseWithPblock, CosemAttributeDescriptor, CosemMethodDescriptor,
                              ExceptionResponse, GetRequestNext, GetRequestNormal,
                              GetRequestWithList, GetResponseNormal, GetResponseWithDatablock,
                              GetResponseWithList, SetRequestNormal, SetRequestWithDatablock,
                              SetRequestWithFirstDatablock, SetRequestWithList,
                              SetRequestWithListAndFirstDatablock, SetResponseDatablock, SetResponseLastDatablock,
                              SetResponseLastDatablockWithList, SetResponseNormal, SetResponseWithList)
from ..enums import ActionResult, ApduTag, Conformance, DataAccessResult, ServiceError, StateError
from ..errors import DecodeError
from ..interfaces import IObjectDirectory

#: Bytes of a GET-Response-With-Datablock around its raw data, at the most:
#: tag, type, invoke-id, last-block, block-number (4), choice, length (3).
DATABLOCK_OVERHEAD = 12
#: A longer value is never accepted by SET or ACTION block transfer (memory bound).
MAX_INCOMING_BLOCKS_LENGTH = 1 << 16
#: The most a GET-with-list answer carries before its remaining items are refused.
MAX_LIST_ANSWER = 4 << 20
#: The xDLMS requests of LN referencing; another tag is an unknown service.
REQUEST_TAGS = frozenset({ApduTag.GET_REQUEST, ApduTag.SET_REQUEST, ApduTag.ACTION_REQUEST})
#: An answer with no limit from the client is still cut at the A-XDR length's practical bound.
UNLIMITED_PDU = 0xFFFF
#: A GET-Request-Normal without selective access: tag, choice (1), invoke-id, class (2),
#: logical name (6), attribute, no access-selection (Green Book 9.4.6.4).
GET_NORMAL_LENGTH = 13
#: Attributes whose reader one association keeps resolved, at the most.
MAX_READERS = 1024


def _exception(state: StateError, error: ServiceError) -> bytes:
    return services.encode_response(ExceptionResponse(state, error))


NOT_SUPPORTED = _exception(StateError.SERVICE_NOT_ALLOWED, ServiceError.SERVICE_NOT_SUPPORTED)
UNKNOWN_SERVICE = _exception(StateError.SERVICE_UNKNOWN, ServiceError.SERVICE_NOT_SUPPORTED)
MALFORMED = _exception(StateError.SERVICE_NOT_ALLOWED, ServiceError.OTHER_REASON)

REQUIRED_CONFORMANCE: dict[type, int] = {
    GetRequestNormal: Conformance.GET,
    GetRequestNext: Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
    GetRequestWithList: Conformance.GET | Conformance.MULTIPLE_REFERENCES,
    SetRequestNormal: Conformance.SET,
    SetRequestWithList: Conformance.SET | Conformance.MULTIPLE_REFERENCES,
    SetRequestWithFirstDatablock: Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE,
    SetRequestWithDatablock: Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE,
    SetRequestWithListAndFirstDatablock: (Conformance.SET | Conformance.MULTIPLE_REFERENCES
                                          | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE),
    ActionRequestNormal: Conformance.ACTION,
    ActionRequestWithList: Conformance.ACTION | Conformance.MULTIPLE_REFERENCES,
    ActionRequestNextPblock: Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION,
    ActionRequestWithFirstPblock: Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION,
    ActionRequestWithPblock: Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION,
    ActionRequestWithListAndFirstPblock: (Conformance.ACTION | Conformance.MULTIPLE_REFERENCES
                                          | Conformance.BLOCK_TRANSFER_WITH_ACTION),
}
REQUIRED_CONFORMANCE = {kind: int(bits) for kind, bits in REQUIRED_CONFORMANCE.items()}


class OutgoingBlocks:
    """A long answer cut into blocks of at most ``size`` bytes, pulled
    lazily from its chunks (Green Book 9.3.x, "transferring long data")."""

    __slots__ = ("chunks", "pending", "size", "block_number", "exhausted")

    def __init__(self, head: bytes, chunks: Iterator[bytes], size: int) -> None:
        self.chunks = chunks
        self.pending = bytearray(head)
        self.size = size
        self.block_number = 0
        self.exhausted = False

    def next_block(self) -> tuple[bool, int, bytes]:
        """(last block?, block number, raw data) of the next block."""
        while not self.exhausted and len(self.pending) <= self.size:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.exhausted = True
            else:
                self.pending += chunk
        data = bytes(self.pending[:self.size])
        del self.pending[:self.size]
        self.block_number += 1
        return self.exhausted and not self.pending, self.block_number, data


class IncomingBlocks:
    """Blocks of a long SET or ACTION parameter, gathered up to a bound."""

    __slots__ = ("request", "data", "block_number")

    def __init__(self, request: Any) -> None:
        self.request = request
        self.data = bytearray(request.raw_data)
        self.block_number = request.block_number

    def add(self, block_number: int, raw_data: bytes) -> bool:
        """Append the next block; False when it is out of order or too long."""
        if block_number != self.block_number + 1 or len(self.data) + len(raw_data) > MAX_INCOMING_BLOCKS_LENGTH:
            return False
        self.data += raw_data
        self.block_number = block_number
        return True


def _decode_values(data: bytes, count: int | None) -> list[Data] | None:
    """One Data, or a SEQUENCE OF ``count`` Data with its A-XDR length, from gathered blocks."""
    try:
        if count is None:
            value, end = axdr.decode_data(data, 0)
            return [value] if end == len(data) else None
        length, offset = axdr.decode_length(data, 0)
        if length != count:
            return None
        values = []
        for _ in range(length):
            value, offset = axdr.decode_data(data, offset)
            values.append(value)
        return values if offset == len(data) else None
    except DecodeError:
        return None


#: What failed, for the log: an attribute or a method, the descriptor octets
#: of a GET-Request-Normal, or None (a with-list answer).
Described = CosemAttributeDescriptor | CosemMethodDescriptor | bytes | None


class ServiceHandler:
    """Serves the xDLMS requests of one association."""

    def __init__(self, directory: IObjectDirectory, association: Any, log: Callable[[str], None],
                 protection_overhead: int = 0) -> None:
        self.directory = directory
        self.association = association
        self.log = log
        self.conformance = Conformance(association.conformance)
        #: The same as a plain int: IntFlag arithmetic is slow on the hot path.
        self.conformance_bits = int(association.conformance)
        max_pdu = association.client_max_receive_pdu_size or UNLIMITED_PDU
        #: The longest plain APDU that still fits the client's limit once protected.
        self.max_pdu = min(max_pdu, UNLIMITED_PDU) - protection_overhead
        self.block_size = max(self.max_pdu - DATABLOCK_OVERHEAD, 1)
        self.long_get: OutgoingBlocks | None = None
        #: What the long GET answer being sent reads (for the log when it fails).
        self.long_get_source: Described = None
        self.long_action: OutgoingBlocks | None = None
        self.long_set: IncomingBlocks | None = None
        self.long_action_parameters: IncomingBlocks | None = None
        #: GET without selective access may take the hot path (``_get_normal``).
        self.get_allowed = bool(self.conformance_bits & Conformance.GET)
        #: Resolved attribute readers by the request's descriptor bytes.
        self.readers: dict[bytes, Callable[[], Any]] = {}
        self.dispatch: dict[type, Callable[[Any], bytes]] = {
            GetRequestNormal: self.get_normal,
            GetRequestNext: self.get_next,
            GetRequestWithList: self.get_with_list,
            SetRequestNormal: self.set_normal,
            SetRequestWithList: self.set_with_list,
            SetRequestWithFirstDatablock: self.set_first_block,
            SetRequestWithListAndFirstDatablock: self.set_first_block,
            SetRequestWithDatablock: self.set_block,
            ActionRequestNormal: self.action_normal,
            ActionRequestWithList: self.action_with_list,
            ActionRequestNextPblock: self.action_next_block,
            ActionRequestWithFirstPblock: self.action_first_block,
            ActionRequestWithListAndFirstPblock: self.action_first_block,
            ActionRequestWithPblock: self.action_block,
        }

    def _failed(self, service: str, what: Described) -> None:
        """An exception inside a COSEM object: the answer says other-reason, the
        log (at error level, in the shell) names the object, the attribute or
        method and the traceback."""
        if isinstance(what, bytes):  # the descriptor octets of a GET-Request-Normal
            what = CosemAttributeDescriptor(int.from_bytes(what[:2], "big"), what[2:8], what[8])
        if isinstance(what, CosemAttributeDescriptor):
            named = f"class {what.class_id} {format_obis(what.instance_id)} attribute {what.attribute_id}"
        elif isinstance(what, CosemMethodDescriptor):
            named = f"class {what.class_id} {format_obis(what.instance_id)} method {what.method_id}"
        else:
            named = "a with-list answer"
        self.log(f"{service} of {named} failed:\n" + traceback.format_exc())

    def handle(self, apdu: bytes) -> bytes:
        if (self.get_allowed and len(apdu) == GET_NORMAL_LENGTH and apdu[0] == ApduTag.GET_REQUEST and apdu[1] == 1
                and not apdu[12]):
            answer = self._get_normal(apdu)
            if answer is not None:
                return answer
        try:
            request = services.decode_request(apdu)
        except DecodeError:
            # A client's bad request is not the meter's error: its answer and its
            # capture record (described by the same decoder) say what was wrong.
            return UNKNOWN_SERVICE if apdu[:1] and apdu[0] not in REQUEST_TAGS else MALFORMED
        required = REQUIRED_CONFORMANCE[type(request)]
        if required & self.conformance_bits != required:
            return NOT_SUPPORTED
        return self.dispatch[type(request)](request)

    # -- GET -------------------------------------------------------------------

    def _get_normal(self, apdu: bytes) -> bytes | None:
        """The hot path of a GET-Request-Normal without selective access: the
        attribute's reader resolved once per association (the request decoded
        only then), the answer as ``get_normal`` gives it. None when the
        association has resolved ``MAX_READERS`` attributes already."""
        descriptor = apdu[3:12]
        read = self.readers.get(descriptor)
        if read is None and len(self.readers) >= MAX_READERS:
            return None
        self.long_get = None
        try:
            if read is None:
                request = services.decode_request(apdu)
                assert isinstance(request, GetRequestNormal)
                read = self.readers[descriptor] = self.directory.reader(request.attribute, self.association)
            value = read()
        except Exception:
            self._failed("GET", descriptor)
            value = DataAccessResult.OTHER_REASON
        if isinstance(value, DataAccessResult) or (isinstance(value, bytes) and len(value) + 4 <= self.max_pdu):
            return services.encode_get_response_normal(apdu[2], value)
        return self._answer_get(apdu[2], value, descriptor)

    def _read(self, attribute: Any, selective: Any) -> bytes | Iterable[bytes] | DataAccessResult:
        if selective is not None and not self.conformance & Conformance.SELECTIVE_ACCESS:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        try:
            return self.directory.get(attribute, selective, self.association)
        except Exception:
            self._failed("GET", attribute)
            return DataAccessResult.OTHER_REASON

    def _first_block(self, invoke: int, head: bytes, chunks: Iterator[bytes], source: Described = None) -> bytes:
        if not self.conformance & Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ:
            return services.encode_response(GetResponseNormal(invoke, DataAccessResult.OTHER_REASON))
        self.long_get = OutgoingBlocks(head, chunks, self.block_size)
        self.long_get_source = source
        return self._send_block(invoke)

    def _send_block(self, invoke: int) -> bytes:
        blocks = self.long_get
        assert blocks is not None
        try:
            last, number, data = blocks.next_block()
        except Exception:
            self._failed("GET (next block)", self.long_get_source)
            self.long_get = None
            return services.encode_response(GetResponseWithDatablock(
                invoke, True, blocks.block_number + 1, DataAccessResult.OTHER_REASON))
        if last:
            self.long_get = None
        return services.encode_response(GetResponseWithDatablock(invoke, last, number, data))

    def get_normal(self, request: GetRequestNormal) -> bytes:
        self.long_get = None
        return self._answer_get(request.invoke_id_and_priority,
                                self._read(request.attribute, request.access_selection), request.attribute)

    def _answer_get(self, invoke: int, result: bytes | Iterable[bytes] | DataAccessResult,
                    source: Described = None) -> bytes:
        """The GET-Response-Normal of ``result``, or the first block of a long one."""
        if isinstance(result, (bytes, DataAccessResult)):
            if isinstance(result, DataAccessResult) or len(result) + 4 <= self.max_pdu:
                return services.encode_get_response_normal(invoke, result)
            return self._first_block(invoke, result, iter(()), source)
        chunks = iter(result)
        head = bytearray()
        try:
            for chunk in chunks:
                head += chunk
                if len(head) + 4 > self.max_pdu:
                    return self._first_block(invoke, bytes(head), chunks, source)
        except Exception:
            self._failed("GET", source)
            return services.encode_get_response_normal(invoke, DataAccessResult.OTHER_REASON)
        return services.encode_get_response_normal(invoke, bytes(head))

    def get_next(self, request: GetRequestNext) -> bytes:
        invoke = request.invoke_id_and_priority
        blocks = self.long_get
        if blocks is None:
            return services.encode_response(GetResponseWithDatablock(
                invoke, True, request.block_number, DataAccessResult.NO_LONG_GET_IN_PROGRESS))
        if request.block_number != blocks.block_number:
            self.long_get = None
            return services.encode_response(GetResponseWithDatablock(
                invoke, True, request.block_number, DataAccessResult.DATA_BLOCK_NUMBER_INVALID))
        return self._send_block(invoke)

    def get_with_list(self, request: GetRequestWithList) -> bytes:
        """Each result in full; a list too long for one PDU goes in blocks
        whose raw data is the SEQUENCE OF Get-Data-Result (Green Book 9.3.x).
        Past ``MAX_LIST_ANSWER`` bytes the remaining attributes answer
        temporary-failure, so one request cannot make the meter build an
        answer of any size."""
        self.long_get = None
        invoke = request.invoke_id_and_priority
        results: list[bytes | DataAccessResult] = []
        size = 0
        for attribute, selective in request.items:
            if size > MAX_LIST_ANSWER:
                results.append(DataAccessResult.TEMPORARY_FAILURE)
                continue
            result = self._read(attribute, selective)
            if not isinstance(result, (bytes, DataAccessResult)):
                result = b"".join(result)
            if isinstance(result, bytes):
                size += len(result)
            results.append(result)
        response = services.encode_response(GetResponseWithList(invoke, tuple(results)))
        if len(response) <= self.max_pdu:
            return response
        return self._first_block(invoke, response[3:], iter(()))

    # -- SET -------------------------------------------------------------------

    def _write(self, attribute: Any, selective: Any, value: Data) -> DataAccessResult:
        try:
            return self.directory.set(attribute, selective, value, self.association)
        except Exception:
            self._failed("SET", attribute)
            return DataAccessResult.OTHER_REASON

    def set_normal(self, request: SetRequestNormal) -> bytes:
        self.long_set = None
        result = self._write(request.attribute, request.access_selection, request.value)
        return services.encode_response(SetResponseNormal(request.invoke_id_and_priority, result))

    def set_with_list(self, request: SetRequestWithList) -> bytes:
        self.long_set = None
        results = tuple(self._write(attribute, selective, value)
                        for (attribute, selective), value in zip(request.items, request.values))
        return services.encode_response(SetResponseWithList(request.invoke_id_and_priority, results))

    def set_first_block(self, request: SetRequestWithFirstDatablock | SetRequestWithListAndFirstDatablock) -> bytes:
        self.long_set = IncomingBlocks(request)
        return self._set_progress(request.invoke_id_and_priority, request.last_block)

    def set_block(self, request: SetRequestWithDatablock) -> bytes:
        invoke = request.invoke_id_and_priority
        blocks = self.long_set
        if blocks is None:
            return services.encode_response(SetResponseLastDatablock(
                invoke, DataAccessResult.NO_LONG_SET_IN_PROGRESS, request.block_number))
        if not blocks.add(request.block_number, request.raw_data):
            self.long_set = None
            return services.encode_response(SetResponseLastDatablock(
                invoke, DataAccessResult.DATA_BLOCK_NUMBER_INVALID, request.block_number))
        return self._set_progress(invoke, request.last_block)

    def _set_progress(self, invoke: int, last: bool) -> bytes:
        blocks = self.long_set
        assert blocks is not None
        if not last:
            return services.encode_response(SetResponseDatablock(invoke, blocks.block_number))
        self.long_set = None
        first = blocks.request
        if isinstance(first, SetRequestWithFirstDatablock):
            values = _decode_values(bytes(blocks.data), None)
            result = (DataAccessResult.TYPE_UNMATCHED if values is None
                      else self._write(first.attribute, first.access_selection, values[0]))
            return services.encode_response(SetResponseLastDatablock(invoke, result, blocks.block_number))
        values = _decode_values(bytes(blocks.data), len(first.items))
        if values is None:
            results = tuple(DataAccessResult.TYPE_UNMATCHED for _ in first.items)
        else:
            results = tuple(self._write(attribute, selective, value)
                            for (attribute, selective), value in zip(first.items, values))
        return services.encode_response(SetResponseLastDatablockWithList(invoke, results, blocks.block_number))

    # -- ACTION ----------------------------------------------------------------

    def _invoke(self, method: Any, parameters: Data | None) -> tuple[ActionResult, bytes | None]:
        try:
            return self.directory.action(method, parameters, self.association)
        except Exception:
            self._failed("ACTION", method)
            return ActionResult.OTHER_REASON, None

    def _action_answer(self, invoke: int, result: ActionResult, data: bytes | None) -> bytes:
        """ACTION-Response-Normal, or with pblocks when the return data is too long."""
        response = services.encode_response(ActionResponseNormal(invoke, result, data))
        if len(response) <= self.max_pdu or data is None:
            return response
        if not self.conformance & Conformance.BLOCK_TRANSFER_WITH_ACTION:
            return services.encode_response(ActionResponseNormal(invoke, ActionResult.OTHER_REASON, None))
        self.long_action = OutgoingBlocks(data, iter(()), self.block_size)
        return self._send_action_block(invoke)

    def _send_action_block(self, invoke: int) -> bytes:
        blocks = self.long_action
        assert blocks is not None
        last, number, data = blocks.next_block()
        if last:
            self.long_action = None
        return services.encode_response(ActionResponseWithPblock(invoke, last, number, data))

    def action_normal(self, request: ActionRequestNormal) -> bytes:
        self.long_action = self.long_action_parameters = None
        result, data = self._invoke(request.method, request.parameters)
        return self._action_answer(request.invoke_id_and_priority, result, data)

    def action_with_list(self, request: ActionRequestWithList) -> bytes:
        self.long_action = self.long_action_parameters = None
        results = tuple(self._invoke(method, parameters)
                        for method, parameters in zip(request.methods, request.parameters))
        return services.encode_response(ActionResponseWithList(request.invoke_id_and_priority, results))

    def action_next_block(self, request: ActionRequestNextPblock) -> bytes:
        invoke = request.invoke_id_and_priority
        blocks = self.long_action
        if blocks is None or request.block_number != blocks.block_number:
            self.long_action = None
            return services.encode_response(ActionResponseNormal(invoke, ActionResult.NO_LONG_ACTION_IN_PROGRESS
                                                                 if blocks is None
                                                                 else ActionResult.LONG_ACTION_ABORTED, None))
        return self._send_action_block(invoke)

    def action_first_block(self, request: ActionRequestWithFirstPblock | ActionRequestWithListAndFirstPblock) -> bytes:
        self.long_action = None
        self.long_action_parameters = IncomingBlocks(request)
        return self._action_progress(request.invoke_id_and_priority, request.last_block)

    def action_block(self, request: ActionRequestWithPblock) -> bytes:
        invoke = request.invoke_id_and_priority
        blocks = self.long_action_parameters
        if blocks is None or not blocks.add(request.block_number, request.raw_data):
            self.long_action_parameters = None
            return services.encode_response(ActionResponseNormal(invoke, ActionResult.NO_LONG_ACTION_IN_PROGRESS
                                                                 if blocks is None
                                                                 else ActionResult.LONG_ACTION_ABORTED, None))
        return self._action_progress(invoke, request.last_block)

    def _action_progress(self, invoke: int, last: bool) -> bytes:
        blocks = self.long_action_parameters
        assert blocks is not None
        if not last:
            return services.encode_response(ActionResponseNextPblock(invoke, blocks.block_number))
        self.long_action_parameters = None
        first = blocks.request
        if isinstance(first, ActionRequestWithFirstPblock):
            values = _decode_values(bytes(blocks.data), None)
            if values is None:
                return services.encode_response(ActionResponseNormal(invoke, ActionResult.TYPE_UNMATCHED, None))
            result, data = self._invoke(first.method, values[0])
            return self._action_answer(invoke, result, data)
        values = _decode_values(bytes(blocks.data), len(first.methods))
        if values is None:
            results = tuple((ActionResult.TYPE_UNMATCHED, None) for _ in first.methods)
        else:
            results = tuple(self._invoke(method, value) for method, value in zip(first.methods, values))
        return services.encode_response(ActionResponseWithList(invoke, results))

"""Dissection of the xDLMS service APDUs with logical name referencing (Green Book 9.5):
GET, SET and ACTION requests and responses in all their forms, EXCEPTION-Response,
EventNotificationRequest, DataNotification and general-block-transfer.

The layouts follow ``dlmstw.codec.services``, which decodes the same APDUs
into values; this walk places and names every octet.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Final

from dlmstw.dissector.acse import usage_flag
from dlmstw.dissector.data import ATTRIBUTE_SHAPES, SELECTIVE_ACCESS, Shape, data, date_time_text, octets_text
from dlmstw.dissector.fields import Walk
from dlmstw.dissector.names import attribute_name, class_name, logical_name, method_name
from dlmstw.enums import (
    ActionRequestType,
    ActionResponseType,
    ActionResult,
    DataAccessResult,
    GetRequestType,
    GetResponseType,
    ServiceError,
    SetRequestType,
    SetResponseType,
    StateError,
    enum_name,
    named,
)
from dlmstw.errors import DecodeError

Form = Callable[[Walk], str]

_ATTRIBUTE_WITH_SELECTION_SIZE: Final = 10
_METHOD_SIZE: Final = 9


# ---------------------------------------------------------------------------
# Building blocks


def invoke_id_and_priority(w: Walk) -> int:
    """Invoke-Id-And-Priority (Green Book 9.5): bits 0-3 invoke-id, 6 service-class, 7 priority."""
    value = w.peek("invoke-id-and-priority")
    at = w.pos
    with w.group("invoke-id-and-priority") as node:
        w.pos += 1
        invoke = value & 0x0F
        confirmed = "confirmed" if value & 0x40 else "unconfirmed"
        priority = "high" if value & 0x80 else "normal"
        w.bit("invoke-id", at, f"bits 0-3: {invoke}")
        w.bit("service-class", at, f"bit 6: {confirmed}")
        w.bit("priority", at, f"bit 7: {priority}")
        if value & 0x30:
            w.bit("reserved", at, f"bits 4-5: {(value >> 4) & 3} (should be 0)")
        node.meaning = f"0x{value:02X}: invoke-id {invoke}, {confirmed}, {priority} priority"
    return value


def _descriptor(w: Walk, name: str, member: str, member_name: Callable[[int, int], str]) -> tuple[int, int, str]:
    """Cosem-Attribute- or -Method-Descriptor: class-id, instance-id, member id (Green Book 9.5)."""
    w.need(_METHOD_SIZE, name)
    with w.group(name) as node:
        class_id = w.uint("class-id", 2, class_name)
        instance = w.leaf("instance-id", 6, lambda r: logical_name(r, w.names))
        number = w.u8(member, lambda m: member_name(class_id, _signed8(m)))
        text = (f"{class_name(class_id)} {logical_name(instance, w.names)} "
                f"{member.split('-')[0]} {member_name(class_id, _signed8(number))}")
        node.meaning = text
    return class_id, _signed8(number), text


def _signed8(value: int) -> int:
    return value - 0x100 if value & 0x80 else value


def attribute_descriptor(w: Walk) -> tuple[int, int, str]:
    """Cosem-Attribute-Descriptor; returns (class_id, attribute_id, meaning)."""
    return _descriptor(w, "cosem-attribute-descriptor", "attribute-id", attribute_name)


def method_descriptor(w: Walk) -> tuple[int, int, str]:
    """Cosem-Method-Descriptor; returns (class_id, method_id, meaning)."""
    return _descriptor(w, "cosem-method-descriptor", "method-id", method_name)


def access_selection(w: Walk, class_id: int) -> str:
    """OPTIONAL Selective-Access-Descriptor: access-selector, access-parameters (Green Book 9.5);
    range and entry descriptors of Profile generic named (Blue Book 4.3.6)."""
    with w.group("access-selection") as node:
        if not usage_flag(w, "access-selection"):
            node.meaning = "absent"
            return ""
        known = SELECTIVE_ACCESS if class_id == 7 else {}
        selector = w.u8("access-selector", lambda s: f"{s} {known[s][0]}" if s in known else str(s))
        shape = known[selector][1] if selector in known else None
        data(w, "access-parameters", shape)
        node.meaning = known[selector][0] if selector in known else f"selector {selector}"
    return node.meaning


def _attribute_with_selection(w: Walk, name: str) -> str:
    with w.group(name) as node:
        class_id, _, text = attribute_descriptor(w)
        selection = access_selection(w, class_id)
        node.meaning = f"{text}, {selection}" if selection else text
    return node.meaning


def _count(w: Walk, least_size: int, what: str) -> int:
    """A SEQUENCE OF quantity, refused when its items cannot fit in what is left."""
    count = w.length("count", "items")
    if count * least_size > w.left():
        raise DecodeError(f"{what} of {count} items exceeds the {w.left()} octets left", w.pos)
    return count


def _attribute_list(w: Walk) -> list[tuple[int, int]]:
    shapes = []
    with w.group("attribute-descriptor-list") as node:
        count = _count(w, _ATTRIBUTE_WITH_SELECTION_SIZE, "attribute-descriptor-list")
        node.meaning = f"{count} attributes"
        for index in range(count):
            with w.group(f"[{index}]") as item:
                class_id, attribute_id, text = attribute_descriptor(w)
                selection = access_selection(w, class_id)
                item.meaning = f"{text}, {selection}" if selection else text
            shapes.append((class_id, attribute_id))
    return shapes


def _method_list(w: Walk) -> list[tuple[int, int]]:
    methods = []
    with w.group("cosem-method-descriptor-list") as node:
        count = _count(w, _METHOD_SIZE, "cosem-method-descriptor-list")
        node.meaning = f"{count} methods"
        for _ in range(count):
            class_id, method_id, _ = method_descriptor(w)
            methods.append((class_id, method_id))
    return methods


def _data_list(w: Walk, name: str, shapes: list[Shape | None]) -> int:
    with w.group(name) as node:
        count = _count(w, 1, name)
        node.meaning = f"{count} values"
        for index in range(count):
            data(w, f"[{index}]", shapes[index] if index < len(shapes) else None)
    return count


def _paired(w: Walk, what: str, left: int, right: int) -> None:
    if left != right:
        raise DecodeError(f"{what}: {left} descriptors but {right} values", w.pos)


def _enum(w: Walk, name: str, enum: type[IntEnum]) -> str:
    """One octet of an enumeration; an unknown value stops the walk, as the codec refuses it."""
    value = w.peek(name)
    text = named(enum, value)
    if text is None:
        raise DecodeError(f"unknown {name} {value}", w.pos)
    w.u8(name, lambda v: f"{v} {text}")
    return text


def _get_data_result(w: Walk, name: str) -> str:
    """Get-Data-Result ::= CHOICE { data [0] Data, data-access-result [1] } (Green Book 9.5)."""
    choice = w.peek(f"{name} choice")
    if choice not in (0, 1):
        raise DecodeError(f"unknown Get-Data-Result choice {choice}", w.pos)
    with w.group(name) as node:
        w.u8("choice", lambda c: "data [0]" if c == 0 else "data-access-result [1]")
        if choice == 0:
            node.meaning = data(w, "data").meaning
        else:
            node.meaning = _enum(w, "data-access-result", DataAccessResult)
    return node.meaning


def _datablock_head(w: Walk) -> tuple[bool, int]:
    last = w.u8("last-block", lambda v: "TRUE" if v else "FALSE")
    number = w.uint("block-number", 4)
    return bool(last), number


def _raw_data(w: Walk, first: bool, last: bool) -> int:
    """raw-data OCTET STRING. The first block's octets are shown as the start of the
    encoded Data they should be; octets that are not one stay opaque, as the ASN.1
    (an OCTET STRING) allows, with the reason in the meaning."""
    with w.group("raw-data") as node:
        size = w.length()
        w.need(size, "raw-data")
        node.meaning = f"{size} octets"
        if first and size:
            note = "" if last else " (first part; the rest follows in the next blocks)"
            trial = w.spawn(w.buf, w.base)
            trial.pos = w.pos
            part = trial.region("data", w.pos + size, lambda inner: _data_meaning(inner, note), continued=not last)
            problems = part.errors()
            if problems:
                w.leaf("value", size, f"{size} octets, not an encoded Data ({problems[0]})")
            else:
                w.adopt(part)
                w.pos += size
        else:
            w.leaf("value", size, f"{size} octets of encoded Data")
    return size


def _data_meaning(w: Walk, note: str) -> str:
    return data(w, "value").meaning + note


def _datablock_sa(w: Walk) -> str:
    """DataBlock-SA: last-block, block-number, raw-data (Green Book 9.5)."""
    with w.group("datablock") as node:
        last, number = _datablock_head(w)
        size = _raw_data(w, number == 1, last)
        node.meaning = f"block {number}{' (last)' if last else ''}, {size} octets"
    return node.meaning


# ---------------------------------------------------------------------------
# GET (Green Book 9.5)


def _get_request_normal(w: Walk) -> str:
    invoke_id_and_priority(w)
    class_id, _, text = attribute_descriptor(w)
    selection = access_selection(w, class_id)
    return f"{text}{', ' + selection if selection else ''}"


def _get_request_next(w: Walk) -> str:
    invoke_id_and_priority(w)
    return f"block {w.uint('block-number', 4)} received, send the next"


def _get_request_with_list(w: Walk) -> str:
    invoke_id_and_priority(w)
    return f"{len(_attribute_list(w))} attributes"


def _get_response_normal(w: Walk) -> str:
    invoke_id_and_priority(w)
    return _get_data_result(w, "result")


def _get_response_with_datablock(w: Walk) -> str:
    """DataBlock-G: last-block, block-number, result CHOICE raw-data [0] / data-access-result [1]."""
    invoke_id_and_priority(w)
    with w.group("result") as node:
        last, number = _datablock_head(w)
        choice = w.peek("DataBlock-G result choice")
        if choice not in (0, 1):
            raise DecodeError(f"unknown DataBlock-G result choice {choice}", w.pos)
        w.u8("choice", lambda c: "raw-data [0]" if c == 0 else "data-access-result [1]")
        if choice == 0:
            size = _raw_data(w, number == 1, last)
            node.meaning = f"block {number}{' (last)' if last else ''}, {size} octets"
        else:
            node.meaning = f"block {number}: {_enum(w, 'data-access-result', DataAccessResult)}"
    return node.meaning


def _get_response_with_list(w: Walk) -> str:
    invoke_id_and_priority(w)
    with w.group("result") as node:
        count = _count(w, 2, "Get-Data-Result list")
        node.meaning = f"{count} results"
        for index in range(count):
            _get_data_result(w, f"[{index}]")
    return node.meaning


# ---------------------------------------------------------------------------
# SET (Green Book 9.5)


def _set_request_normal(w: Walk) -> str:
    invoke_id_and_priority(w)
    class_id, attribute_id, text = attribute_descriptor(w)
    access_selection(w, class_id)
    data(w, "value", ATTRIBUTE_SHAPES.get((class_id, attribute_id)))
    return text


def _set_request_with_first_datablock(w: Walk) -> str:
    invoke_id_and_priority(w)
    class_id, _, text = attribute_descriptor(w)
    access_selection(w, class_id)
    return f"{text}, {_datablock_sa(w)}"


def _set_request_with_datablock(w: Walk) -> str:
    invoke_id_and_priority(w)
    return _datablock_sa(w)


def _set_request_with_list(w: Walk) -> str:
    invoke_id_and_priority(w)
    attributes = _attribute_list(w)
    values = _data_list(w, "value-list", [ATTRIBUTE_SHAPES.get(key) for key in attributes])
    _paired(w, "set-request-with-list", len(attributes), values)
    return f"{len(attributes)} attributes"


def _set_request_with_list_and_first_datablock(w: Walk) -> str:
    invoke_id_and_priority(w)
    attributes = _attribute_list(w)
    return f"{len(attributes)} attributes, {_datablock_sa(w)}"


def _set_response_normal(w: Walk) -> str:
    invoke_id_and_priority(w)
    return _enum(w, "result", DataAccessResult)


def _set_response_datablock(w: Walk) -> str:
    invoke_id_and_priority(w)
    return f"block {w.uint('block-number', 4)} received"


def _set_response_last_datablock(w: Walk) -> str:
    invoke_id_and_priority(w)
    result = _enum(w, "result", DataAccessResult)
    return f"{result}, block {w.uint('block-number', 4)}"


def _dar_list(w: Walk) -> str:
    with w.group("result") as node:
        count = _count(w, 1, "data-access-result list")
        results = [_enum(w, f"[{index}]", DataAccessResult) for index in range(count)]
        node.meaning = ", ".join(results) or "no results"
    return node.meaning


def _set_response_last_datablock_with_list(w: Walk) -> str:
    invoke_id_and_priority(w)
    results = _dar_list(w)
    return f"{results}, block {w.uint('block-number', 4)}"


def _set_response_with_list(w: Walk) -> str:
    invoke_id_and_priority(w)
    return _dar_list(w)


# ---------------------------------------------------------------------------
# ACTION (Green Book 9.5)


def _action_request_normal(w: Walk) -> str:
    invoke_id_and_priority(w)
    _, _, text = method_descriptor(w)
    with w.group("method-invocation-parameters") as node:
        node.meaning = "absent"
        if usage_flag(w, "method-invocation-parameters"):
            node.meaning = data(w, "data").meaning
    return text


def _action_request_next_pblock(w: Walk) -> str:
    invoke_id_and_priority(w)
    return f"block {w.uint('block-number', 4)} received, send the next"


def _action_request_with_list(w: Walk) -> str:
    invoke_id_and_priority(w)
    methods = _method_list(w)
    count = _data_list(w, "method-invocation-parameters", [])
    _paired(w, "action-request-with-list", len(methods), count)
    return f"{len(methods)} methods"


def _action_request_with_first_pblock(w: Walk) -> str:
    invoke_id_and_priority(w)
    _, _, text = method_descriptor(w)
    return f"{text}, {_datablock_sa(w)}"


def _action_request_with_list_and_first_pblock(w: Walk) -> str:
    invoke_id_and_priority(w)
    methods = _method_list(w)
    return f"{len(methods)} methods, {_datablock_sa(w)}"


def _action_request_with_pblock(w: Walk) -> str:
    invoke_id_and_priority(w)
    return _datablock_sa(w)


def _action_response_with_optional_data(w: Walk, name: str) -> str:
    """Action-Response-With-Optional-Data: result, OPTIONAL return-parameters (Green Book 9.5)."""
    with w.group(name) as node:
        result = _enum(w, "result", ActionResult)
        node.meaning = result
        with w.group("return-parameters") as parameters:
            parameters.meaning = "absent"
            if usage_flag(w, "return-parameters"):
                parameters.meaning = _get_data_result(w, "data")
                node.meaning = f"{result}, returns {parameters.meaning}"
    return node.meaning


def _action_response_normal(w: Walk) -> str:
    invoke_id_and_priority(w)
    return _action_response_with_optional_data(w, "single-response")


def _action_response_with_pblock(w: Walk) -> str:
    invoke_id_and_priority(w)
    return _datablock_sa(w)


def _action_response_with_list(w: Walk) -> str:
    invoke_id_and_priority(w)
    with w.group("list-of-responses") as node:
        count = _count(w, 2, "list-of-responses")
        node.meaning = f"{count} responses"
        for index in range(count):
            _action_response_with_optional_data(w, f"[{index}]")
    return node.meaning


def _action_response_next_pblock(w: Walk) -> str:
    invoke_id_and_priority(w)
    return f"block {w.uint('block-number', 4)} received, send the next"


_FORMS: Final[dict[int, tuple[type[IntEnum], dict[int, Form]]]] = {
    0xC0: (GetRequestType, {1: _get_request_normal, 2: _get_request_next, 3: _get_request_with_list}),
    0xC4: (GetResponseType, {1: _get_response_normal, 2: _get_response_with_datablock, 3: _get_response_with_list}),
    0xC1: (SetRequestType, {1: _set_request_normal, 2: _set_request_with_first_datablock,
                            3: _set_request_with_datablock, 4: _set_request_with_list,
                            5: _set_request_with_list_and_first_datablock}),
    0xC5: (SetResponseType, {1: _set_response_normal, 2: _set_response_datablock, 3: _set_response_last_datablock,
                             4: _set_response_last_datablock_with_list, 5: _set_response_with_list}),
    0xC3: (ActionRequestType, {1: _action_request_normal, 2: _action_request_next_pblock,
                               3: _action_request_with_list, 4: _action_request_with_first_pblock,
                               5: _action_request_with_list_and_first_pblock, 6: _action_request_with_pblock}),
    0xC7: (ActionResponseType, {1: _action_response_normal, 2: _action_response_with_pblock,
                                3: _action_response_with_list, 4: _action_response_next_pblock}),
}
"""APDU tag -> (its CHOICE enumeration, form parsers by choice) (Green Book 9.5)."""

_SERVICE_NAMES: Final = {0xC0: "get-request", 0xC4: "get-response", 0xC1: "set-request", 0xC5: "set-response",
                         0xC3: "action-request", 0xC7: "action-response"}


def service(w: Walk) -> str:
    """A GET/SET/ACTION request or response: tag, CHOICE of form, then the form's fields."""
    tag = w.u8("tag", lambda t: f"{_SERVICE_NAMES[t]} [{t}]")
    enum, forms = _FORMS[tag]
    choice = w.peek(f"{_SERVICE_NAMES[tag]} choice")
    form = forms.get(choice)
    if form is None:
        raise DecodeError(f"unknown {_SERVICE_NAMES[tag]} choice {choice}", w.pos)
    kind = f"{_SERVICE_NAMES[tag]}-{enum_name(enum(choice))}"
    w.u8("choice", lambda c: f"{kind} [{c}]")
    return f"{kind}: {form(w)}"


def exception_response(w: Walk) -> str:
    """EXCEPTION-Response: state-error, service-error, and the invocation counter
    after invocation-counter-error (Green Book 9.5)."""
    w.u8("tag", lambda t: f"exception-response [{t}]")
    state = _enum(w, "state-error", StateError)
    service_error = w.peek("service-error")
    text = named(ServiceError, service_error)
    if text is None:
        raise DecodeError(f"unknown service-error choice {service_error}", w.pos)
    w.u8("service-error", lambda v: f"{v} {text}")
    if service_error == ServiceError.INVOCATION_COUNTER_ERROR:
        counter = w.uint("invocation-counter", 4, lambda n: f"{n} (the meter's current counter)")
        text = f"{text}, counter {counter}"
    return f"exception-response: {state}, {text}"


# ---------------------------------------------------------------------------
# Notifications and general-block-transfer (Green Book 9.5)


def event_notification_request(w: Walk) -> str:
    """EventNotificationRequest: OPTIONAL time, cosem-attribute-descriptor, attribute-value."""
    w.u8("tag", lambda t: f"event-notification-request [{t}]")
    with w.group("time") as node:
        node.meaning = "absent"
        if usage_flag(w, "time"):
            size = w.length()
            raw = w.leaf("value", size, lambda r: date_time_text(r) or octets_text(r), "time")
            node.meaning = date_time_text(raw) or octets_text(raw)
    class_id, attribute_id, text = attribute_descriptor(w)
    data(w, "attribute-value", ATTRIBUTE_SHAPES.get((class_id, attribute_id)))
    return f"event-notification-request: {text}"


def data_notification(w: Walk) -> str:
    """DataNotification: long-invoke-id-and-priority, date-time OCTET STRING, notification-body Data."""
    w.u8("tag", lambda t: f"data-notification [{t}]")
    w.need(4, "long-invoke-id-and-priority")
    value = int.from_bytes(w.buf[w.pos : w.pos + 4], "big")
    at = w.pos
    with w.group("long-invoke-id-and-priority") as node:
        w.pos += 4
        w.bit("invoke-id", at + 1, f"bits 0-23: {value & 0xFFFFFF}")
        w.bit("self-descriptive", at, f"bit 28: {'yes' if value >> 28 & 1 else 'no'}")
        w.bit("processing-option", at, f"bit 29: {'break on error' if value >> 29 & 1 else 'continue on error'}")
        w.bit("service-class", at, f"bit 30: {'confirmed' if value >> 30 & 1 else 'unconfirmed'}")
        w.bit("priority", at, f"bit 31: {'high' if value >> 31 else 'normal'}")
        node.meaning = f"0x{value:08X}: invoke-id {value & 0xFFFFFF}"
    with w.group("date-time") as node:
        size = w.length()
        raw = w.leaf("value", size, lambda r: date_time_text(r) or octets_text(r), "date-time")
        node.meaning = (date_time_text(raw) or octets_text(raw)) if size else "absent"
    return f"data-notification: {data(w, 'notification-body').meaning}"


def general_block_transfer(w: Walk) -> str:
    """general-block-transfer: block-control, block-number, block-number-ack, block-data."""
    w.u8("tag", lambda t: f"general-block-transfer [{t}]")
    control = w.peek("block-control")
    at = w.pos
    with w.group("block-control") as node:
        w.pos += 1
        w.bit("last-block", at, f"bit 7: {'yes' if control & 0x80 else 'no'}")
        w.bit("streaming", at, f"bit 6: {'yes' if control & 0x40 else 'no'}")
        w.bit("window", at, f"bits 0-5: {control & 0x3F}")
        node.meaning = f"0x{control:02X}"
    number = w.uint("block-number", 2)
    w.uint("block-number-ack", 2)
    with w.group("block-data") as node:
        size = w.length()
        w.leaf("value", size, f"{size} octets", "block-data")
        node.meaning = f"{size} octets"
    return f"general-block-transfer: block {number}{' (last)' if control & 0x80 else ''}"

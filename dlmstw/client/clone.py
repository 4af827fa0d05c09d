"""``dlmstw-client clone``: a live meter's object list, access rights and
attribute values read into a device template (``dlmstw.models.template``).

The object list is the current association's (0.0.40.0.0.255 attribute 2,
Blue Book 4.4.4): each entry gives class_id, version, logical name and the
access rights of every attribute and method. Every readable attribute is then
read with GET, except what the template does not keep (``NOT_CLONED``); an
attribute the meter refuses (a Data-Access-Result, or an exception response)
is recorded as unreadable and the clone goes on.
"""

from __future__ import annotations

from typing import Any, Callable, Final

from twisted.internet.defer import inlineCallbacks

from dlmstw.client.protocol import DlmsClientProtocol, ServiceRefused
from dlmstw.client.reading import OBJECT_LIST
from dlmstw.client.session import ClientProtocolError
from dlmstw.codec.axdr import DEVIATION_NOT_SPECIFIED, Data
from dlmstw.codec.obis import CLOCK, format_obis
from dlmstw.codec.services import CosemAttributeDescriptor
from dlmstw.cosem.classes.clock import Clock
from dlmstw.cosem.directory import READABLE
from dlmstw.enums import AttributeAccess, DataAccessResult, DataType, MethodAccess, enum_name
from dlmstw.models.template import (MAX_UTC_OFFSET, NOT_CLONED, Template, TemplateAttribute, TemplateMethod, TemplateObject,
                                   flag_access_refused)

TIME_ZONE: Final = 3


def _fields(value: Data, count: int, what: str) -> list[Data]:
    if value[0] != DataType.STRUCTURE or len(value[1]) != count:
        raise ClientProtocolError(f"object_list: {what} is not a structure of {count}")
    members: list[Data] = value[1]
    return members


def _items(value: Data, what: str) -> list[Data]:
    if value[0] != DataType.ARRAY:
        raise ClientProtocolError(f"object_list: {what} is not an array")
    items: list[Data] = value[1]
    return items


def _access(enum: Any, value: Data, what: str) -> Any:
    """An access_mode enum; Association LN version 0 gives method access as a boolean."""
    if value[0] == DataType.BOOLEAN:
        return enum(int(value[1]))
    try:
        return enum(value[1])
    except ValueError:
        raise ClientProtocolError(f"object_list: {what} access mode {value[1]!r} is not one of the Blue Book's")


def parse_object_list(object_list: Data) -> list[TemplateObject]:
    """The objects of an object_list (Blue Book 4.4.4), their attributes not yet
    read; ClientProtocolError when an entry is not what a template may hold."""
    objects = []
    for entry in _items(object_list, "the value"):
        class_id, version, logical_name, rights = _fields(entry, 4, "an entry")
        ln = logical_name[1]
        if not isinstance(ln, bytes) or len(ln) != 6:
            raise ClientProtocolError(f"object_list: logical name {ln!r} is not 6 octets")
        what = f"class {class_id[1]!r} {format_obis(ln)}"
        attribute_rights, method_rights = _fields(rights, 2, f"{what} access_rights")
        try:
            attributes = []
            for item in _items(attribute_rights, f"{what} attribute_access"):
                index, mode, selectors = _fields(item, 3, f"{what} attribute_access_item")
                attributes.append(TemplateAttribute(
                    index[1], _access(AttributeAccess, mode, what),
                    None if selectors[0] == DataType.NULL_DATA
                    else tuple(s[1] for s in _items(selectors, f"{what} access_selectors"))))
            methods = []
            for item in _items(method_rights, f"{what} method_access"):
                index, mode = _fields(item, 2, f"{what} method_access_item")
                methods.append(TemplateMethod(index[1], _access(MethodAccess, mode, what)))
            objects.append(TemplateObject(ln, class_id[1], version[1], tuple(attributes), tuple(methods)))
        except (ValueError, TypeError) as error:
            raise ClientProtocolError(f"object_list: {what}: {error}") from None
    refused = flag_access_refused(objects)
    if refused is not None:
        raise ClientProtocolError(f"object_list: {refused}")
    return objects


def utc_offset_of(objects: list[TemplateObject]) -> int:
    """Seconds east of UTC from the Clock's time_zone (Blue Book 4.5.1: minutes of
    UTC minus local time), 0 when there is none or it is not a deviation
    (-720..720 minutes, as a template's utc_offset: MAX_UTC_OFFSET)."""
    for obj in objects:
        if obj.logical_name == CLOCK and obj.class_id == Clock.class_id:
            value = obj.value(TIME_ZONE)
            if value is not None and value[0] == DataType.LONG and value[1] != DEVIATION_NOT_SPECIFIED \
                    and abs(value[1]) * 60 <= MAX_UTC_OFFSET:
                return -int(value[1]) * 60
    return 0


@inlineCallbacks
def clone(protocol: DlmsClientProtocol, source: str, progress: Callable[[str], None]) -> Any:
    """The template of the meter ``protocol`` is associated with (a Deferred);
    ``progress`` hears a line per object read."""
    object_list = yield protocol.get(OBJECT_LIST)
    if isinstance(object_list, DataAccessResult):
        raise ClientProtocolError(f"the object list cannot be read: {enum_name(object_list)}")
    listed = parse_object_list(object_list)
    progress(f"{len(listed)} objects in the object list")
    objects = []
    for number, obj in enumerate(listed, 1):
        skipped = NOT_CLONED.get(obj.class_id, frozenset())
        attributes = []
        unreadable = 0
        for attribute in obj.attributes:
            if attribute.index == 1 or attribute.index in skipped or attribute.access not in READABLE:
                attributes.append(attribute)
                continue
            descriptor = CosemAttributeDescriptor(obj.class_id, obj.logical_name, attribute.index)
            try:
                value = yield protocol.get(descriptor)
            except ServiceRefused:
                value = DataAccessResult.OTHER_REASON
            if isinstance(value, DataAccessResult):
                unreadable += 1
                attributes.append(TemplateAttribute(attribute.index, attribute.access, attribute.selectors,
                                                    unreadable=value))
            else:
                attributes.append(TemplateAttribute(attribute.index, attribute.access, attribute.selectors, value))
        objects.append(TemplateObject(obj.logical_name, obj.class_id, obj.version, tuple(attributes), obj.methods))
        refused = f", {unreadable} unreadable" if unreadable else ""
        progress(f"{number}/{len(listed)} {obj.name}{refused}")
    return Template(tuple(objects), {}, utc_offset=utc_offset_of(objects), source=source)

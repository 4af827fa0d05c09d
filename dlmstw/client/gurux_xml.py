"""``dlmstw-client import-gurux``: a Gurux device file (the XML that
GXDLMSDirector and gurux-dlms ``GXDLMSObjectCollection.save`` write) as a
device template (``dlmstw.models.template``).

The file's layout, as those tools write it::

    <Objects>
      <GXDLMSRegister>                  one element per object, GXDLMS + class name
        <LN>1.0.32.7.0.255</LN>
        <Version>1</Version>            absent for version 0
        <Access>133</Access>            one digit per attribute: its access mode (Blue Book 4.4.4)
        <MethodAccess>1</MethodAccess>  one digit per method
        <Unit>35</Unit> <Scaler>0.1</Scaler> <Value Type="18">2301</Value>
      </GXDLMSRegister>

Association LN version 3 files give ``Access3`` / ``MethodAccess3`` instead,
bit flags that templates do not hold: such files are refused. Values are read for the classes whose elements
VALUE_READERS knows; other attributes are left to the class that serves the
object. ``Type`` is the Data tag (Green Book 9.5); arrays and structures
hold ``Item`` elements. Access selectors are not in the file: they come from
the installed class.
"""

from __future__ import annotations

import datetime
import math
import xml.etree.ElementTree as ET
from typing import Callable, Final

from dlmstw.codec.axdr import MAX_DEPTH, CosemDateTime, Data, encode_data
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.typed import TYPE_NAMES
from dlmstw.cosem.classes.association_ln import APPLICATION_CONTEXT_PREFIX, MECHANISM_PREFIX
from dlmstw.enums import AttributeAccess, DataType, MethodAccess
from dlmstw.models.template import (FLAG_ACCESS_VERSION, MAX_FILE, Template, TemplateAttribute, TemplateMethod,
                                   TemplateObject, flag_access_refused, placed)
from dlmstw.plugins.registry import installed

PREFIX: Final = "GXDLMS"
#: The Gurux names of the interface classes (Blue Book 4), by class_id.
CLASS_NAMES: Final = {
    "Data": 1, "Register": 3, "ExtendedRegister": 4, "DemandRegister": 5, "RegisterActivation": 6,
    "ProfileGeneric": 7, "Clock": 8, "ScriptTable": 9, "Schedule": 10, "SpecialDaysTable": 11,
    "AssociationShortName": 12, "AssociationLogicalName": 15, "SapAssignment": 17, "ImageTransfer": 18,
    "IecLocalPortSetup": 19, "ActivityCalendar": 20, "RegisterMonitor": 21, "ActionSchedule": 22,
    "IecHdlcSetup": 23, "IecTwistedPairSetup": 24, "MBusSlavePortSetup": 25, "UtilityTables": 26,
    "ModemConfiguration": 27, "AutoAnswer": 28, "AutoConnect": 29, "DataProtection": 30, "PushSetup": 40,
    "TcpUdpSetup": 41, "Ip4Setup": 42, "MacAddressSetup": 43, "PppSetup": 44, "GprsSetup": 45,
    "SmtpSetup": 46, "GSMDiagnostic": 47, "Ip6Setup": 48, "RegisterTable": 61, "CompactData": 62,
    "StatusMapping": 63, "SecuritySetup": 64, "ParameterMonitor": 65, "Arbitrator": 68,
    "DisconnectControl": 70, "Limiter": 71, "MBusClient": 72, "MBusMasterPortSetup": 74, "NtpSetup": 100,
    "Account": 111, "Credit": 112, "Charge": 113, "TokenGateway": 115, "FunctionControl": 122,
    "ArrayManager": 123, "CommunicationPortProtection": 124,
}
#: Where a Gurux file has a date-time as text: month/day/year hour:minute:second.
DATE_FORMAT: Final = "%m/%d/%Y %H:%M:%S"


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _int(element: ET.Element, tag: str, where: str) -> int | None:
    text = _text(element, tag)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{where}: <{tag}> {text!r} is not a whole number") from None


def _date_time(text: str, where: str) -> bytes:
    cleaned = text.rstrip("Z").strip()
    try:
        moment = datetime.datetime.strptime(cleaned[:19], DATE_FORMAT)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a date-time as {DATE_FORMAT}") from None
    return CosemDateTime.from_datetime(moment).to_bytes()


def typed(element: ET.Element, where: str, depth: int = 0) -> Data:
    """The Data of an element with ``Type`` (and ``Item`` children for arrays and
    structures, nested no deeper than A-XDR's MAX_DEPTH)."""
    tag = element.get("Type")
    try:
        kind = DataType(int(tag or ""))
    except ValueError:
        raise ValueError(f"{where}: Type {tag!r} is not a Data tag") from None
    text = (element.text or "").strip()
    value: Data
    try:
        if kind in (DataType.ARRAY, DataType.STRUCTURE):
            if depth >= MAX_DEPTH:
                raise ValueError(f"{where}: nested deeper than {MAX_DEPTH}")
            value = (kind, [typed(item, f"{where}/Item", depth + 1) for item in element.findall("Item")])
        elif kind in (DataType.NULL_DATA, DataType.DONT_CARE):
            value = (kind, None)
        elif kind == DataType.BOOLEAN:
            value = (kind, text.lower() in ("1", "true"))
        elif kind in (DataType.FLOAT32, DataType.FLOAT64):
            value = (kind, float(text))
        elif kind == DataType.OCTET_STRING:
            value = (kind, _date_time(text, where) if "/" in text else bytes.fromhex(text))
        elif kind in (DataType.VISIBLE_STRING, DataType.UTF8_STRING):
            value = (kind, text.encode("ascii") if kind == DataType.VISIBLE_STRING else text)
        elif kind in (DataType.DATE_TIME,):
            value = (kind, _date_time(text, where))
        elif kind == DataType.BIT_STRING or kind in (DataType.DATE, DataType.TIME, DataType.COMPACT_ARRAY):
            raise ValueError(f"{where}: values of type {TYPE_NAMES[kind]} are not read from Gurux files")
        else:
            value = (kind, int(text))
        encode_data(value)
    except (ValueError, UnicodeEncodeError) as error:
        message = str(error)
        raise ValueError(message if message.startswith(where) else f"{where}: {text!r} is not a "
                         f"{TYPE_NAMES[kind]}: {message}") from None
    return value


def _scaler_unit(element: ET.Element, where: str) -> Data | None:
    """scaler_unit {integer, enum} from Gurux's Scaler (a power of ten) and Unit."""
    unit = _int(element, "Unit", where)
    scaler = _text(element, "Scaler")
    if unit is None and scaler is None:
        return None
    try:
        power = round(math.log10(float(scaler))) if scaler is not None else 0
    except (ValueError, OverflowError):
        power = None
    if power is None or not -128 <= power < 128 or (
            scaler is not None and not math.isclose(10.0 ** power, float(scaler), rel_tol=1e-9)):
        raise ValueError(f"{where}: <Scaler> {scaler!r} is not a power of ten")
    return (DataType.STRUCTURE, [(DataType.INTEGER, power), (DataType.ENUM, unit or 0)])


def _value(element: ET.Element, tag: str, where: str) -> Data | None:
    child = element.find(tag)
    if child is None or child.get("Type") is None:
        return None
    return typed(child, f"{where} <{tag}>")


def _number(kind: DataType, tag: str) -> Callable[[ET.Element, str], Data | None]:
    def read(element: ET.Element, where: str) -> Data | None:
        number = _int(element, tag, where)
        if number is None:
            return None
        if kind == DataType.BOOLEAN:
            return (kind, bool(number))
        return (kind, number)
    return read


def _capture_objects(element: ET.Element, where: str) -> Data | None:
    found = element.find("CaptureObjects")
    if found is None:
        return None
    items = []
    for item in found.findall("Item"):
        ln = _text(item, "LN") or ""
        try:
            logical_name = parse_obis(ln)
        except ValueError as error:
            raise ValueError(f"{where} <CaptureObjects>: {error}") from None
        items.append((DataType.STRUCTURE, [
            (DataType.LONG_UNSIGNED, _int(item, "ObjectType", where) or 0), (DataType.OCTET_STRING, logical_name),
            (DataType.INTEGER, _int(item, "Attribute", where) or 0), (DataType.LONG_UNSIGNED, _int(item, "Data", where) or 0)]))
    return (DataType.ARRAY, items)


def _partners(element: ET.Element, where: str) -> Data | None:
    client, server = _int(element, "ClientSAP", where), _int(element, "ServerSAP", where)
    if client is None or server is None:
        return None
    return (DataType.STRUCTURE, [(DataType.INTEGER, client), (DataType.LONG_UNSIGNED, server)])


def _name(prefix: bytes, tag: str, last: str) -> Callable[[ET.Element, str], Data | None]:
    """An application context or mechanism name (Green Book 9.4.2.2.2) from its last arc."""
    def read(element: ET.Element, where: str) -> Data | None:
        found = element.find(tag)
        arc = None if found is None else _int(found, last, where)
        if arc is not None and not 0 <= arc <= 255:
            raise ValueError(f"{where}: <{tag}><{last}> {arc} is not 0..255")
        return None if arc is None else (DataType.OCTET_STRING, prefix + bytes((arc,)))
    return read


Reader = Callable[[ET.Element, str], "Data | None"]

#: class_id -> attribute -> how to read its value from the object's element.
VALUE_READERS: Final[dict[int, dict[int, Reader]]] = {
    1: {2: lambda e, w: _value(e, "Value", w)},
    3: {2: lambda e, w: _value(e, "Value", w), 3: _scaler_unit},
    4: {2: lambda e, w: _value(e, "Value", w), 3: _scaler_unit, 4: lambda e, w: _value(e, "Status", w)},
    5: {2: lambda e, w: _value(e, "CurrentAverageValue", w), 3: lambda e, w: _value(e, "LastAverageValue", w),
        4: _scaler_unit, 8: _number(DataType.DOUBLE_LONG_UNSIGNED, "Period"),
        9: _number(DataType.LONG_UNSIGNED, "NumberOfPeriods")},
    7: {3: _capture_objects, 4: _number(DataType.DOUBLE_LONG_UNSIGNED, "CapturePeriod"),
        5: _number(DataType.ENUM, "SortMethod"), 7: _number(DataType.DOUBLE_LONG_UNSIGNED, "EntriesInUse"),
        8: _number(DataType.DOUBLE_LONG_UNSIGNED, "ProfileEntries")},
    8: {3: _number(DataType.LONG, "TimeZone"), 4: _number(DataType.UNSIGNED, "Status"),
        7: _number(DataType.INTEGER, "Deviation"), 8: _number(DataType.BOOLEAN, "Enabled"),
        9: _number(DataType.ENUM, "ClockBase")},
    15: {3: _partners, 4: _name(APPLICATION_CONTEXT_PREFIX, "ApplicationContextName", "ContextId"),
         6: _name(MECHANISM_PREFIX, "AuthenticationMechanismName", "MechanismId")},
}


def _modes(element: ET.Element, where: str) -> tuple[list[AttributeAccess] | None, list[MethodAccess]]:
    """The access modes of the attributes (None: not in the file) and of the methods."""
    attributes: list[AttributeAccess] | None = None
    methods: list[MethodAccess] = []
    try:
        text = _text(element, "Access")
        if text is not None:
            attributes = [AttributeAccess(int(digit)) for digit in text]
        text = _text(element, "MethodAccess")
        if text is not None:
            methods = [MethodAccess(int(digit)) for digit in text]
    except ValueError:
        raise ValueError(f"{where}: an access mode is not one of the Blue Book's") from None
    return attributes, methods


def convert(root: ET.Element) -> Template:
    """The template of a parsed Gurux device file; ValueError says what is wrong and where."""
    if root.tag != "Objects":
        raise ValueError(f"the root element is <{root.tag}>, expected <Objects>")
    classes = installed().classes
    objects: list[TemplateObject] = []
    seen: set[bytes] = set()
    for number, element in enumerate(root, 1):
        name = element.tag[len(PREFIX):] if element.tag.startswith(PREFIX) else None
        class_id = CLASS_NAMES.get(name or "")
        where = f"object {number} <{element.tag}>"
        if class_id is None:
            raise ValueError(f"{where}: not a Gurux object type known here")
        text = _text(element, "LN")
        if text is None:
            raise ValueError(f"{where}: has no <LN>")
        try:
            logical_name = parse_obis(text)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        where = f"{where} {text}"
        if logical_name in seen:
            raise ValueError(f"{where}: the logical name appears twice")
        seen.add(logical_name)
        version = _int(element, "Version", where) or 0
        if element.find("Access3") is not None or element.find("MethodAccess3") is not None:
            raise ValueError(f"{where}: <Access3>/<MethodAccess3> (Association LN version "
                             f"{FLAG_ACCESS_VERSION} access rights, bit flags) are not read")
        modes, methods = _modes(element, where)
        interface_class = classes.get(class_id)
        specs = {} if interface_class is None else interface_class.attribute_specs
        if modes is None:
            modes = [spec.access for spec in (interface_class.attributes if interface_class else ())]
        readers = VALUE_READERS.get(class_id, {})
        attributes = []
        for index, mode in enumerate(modes, 1):
            spec = specs.get(index)
            read = readers.get(index)
            value = read(element, where) if read is not None else None
            if value is not None:
                try:
                    encode_data(value)
                except ValueError as error:
                    raise ValueError(f"{where} attribute {index}: {error}") from None
            try:
                attributes.append(TemplateAttribute(index, mode, spec.selectors or None if spec else None, value))
            except ValueError as error:
                raise placed(where, error) from None
        try:
            objects.append(TemplateObject(logical_name, class_id, version, tuple(attributes),
                                          tuple(TemplateMethod(i, m) for i, m in enumerate(methods, 1))))
        except ValueError as error:
            raise placed(where, error) from None
    refused = flag_access_refused(objects)
    if refused is not None:
        raise ValueError(refused)
    return Template(tuple(objects), {}, source="Gurux device file")


def import_gurux(path: str) -> Template:
    """The template of the Gurux device file at ``path``; ValueError (one line) when it cannot be read."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE + 1)
    except OSError as error:
        raise ValueError(error.strerror or str(error)) from None
    if len(data) > MAX_FILE:
        raise ValueError(f"larger than {MAX_FILE >> 20} MiB")
    # Decoded here, strictly, so that a declaration in another encoding (UTF-16) cannot pass the check.
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start})") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("document type declarations are not accepted in a device file")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise ValueError(f"not well-formed XML: {error}") from None
    return convert(root)

"""What the setting-like interface classes share (Script table, Activity
calendar, Register monitor, Single action schedule, Limiter, Push setup,
TCP-UDP setup, IPv4 setup, Disconnect control): attributes whose values are
configured per object and that clients may SET.

An attribute's value is ``params[<attribute name>]`` (a Data tuple, or a
value source called with the request's context), else the class's default;
constants are encoded once. A SET is checked against the attribute's
template (Blue Book 4.1.2: a value of another type is type-unmatched) and
kept per meter, so a GET returns the new value from then on.
"""

from __future__ import annotations

from typing import Any, Callable

from ...codec.axdr import Data, encode_data
from ...enums import DataAccessResult, DataType
from ..base import Context, CosemObject, Encoded
from ..interface_class import InterfaceClass

#: A template member that accepts any Data (a CHOICE of the Blue Book).
ANY: Data = (DataType.DONT_CARE, None)
#: Templates of the A-XDR forms the Blue Book gives as octet-strings of a fixed size (4.1.6.1).
LOGICAL_NAME: Data = (DataType.OCTET_STRING, 6)
DATE_TIME: Data = (DataType.OCTET_STRING, 12)
DATE: Data = (DataType.OCTET_STRING, 5)
TIME: Data = (DataType.OCTET_STRING, 4)
OCTETS: Data = (DataType.OCTET_STRING, None)


def structure(*members: Data) -> Data:
    """The template of a structure with these members."""
    return (DataType.STRUCTURE, list(members))


def array_of(element: Data) -> Data:
    """The template of an array of ``element``."""
    return (DataType.ARRAY, [element])


def conforms(value: Data, template: Data) -> bool:
    """Whether ``value`` has the form of ``template``: the same types, the
    same structure members, every array element like the template's one,
    octet-strings of the template's size when it gives one (an int)."""
    kind = template[0]
    if kind == DataType.DONT_CARE:
        return True
    if value[0] != kind:
        return False
    if kind == DataType.STRUCTURE:
        members = template[1]
        return len(value[1]) == len(members) and all(conforms(v, t) for v, t in zip(value[1], members))
    if kind == DataType.ARRAY:
        element = template[1][0]
        return all(conforms(v, element) for v in value[1])
    if kind == DataType.OCTET_STRING and isinstance(template[1], int):
        return len(value[1]) == template[1]
    return True


class ConfiguredClass(InterfaceClass):
    """Base of the classes whose attributes are configured values.

    Subclasses declare ``defaults`` (attribute name -> Data) and
    ``templates`` (attribute name -> template, for the attributes clients
    may SET); ``read_<name>`` / ``write_<name>`` methods override the
    configured behaviour of an attribute."""

    defaults: dict[str, Any] = {}
    templates: dict[str, Data] = {}

    def __init__(self) -> None:
        super().__init__()
        for spec in self.attributes[1:]:
            if spec.index not in self._readers:
                self._readers[spec.index] = self._reader(spec.name)

    def _reader(self, name: str) -> Callable[[CosemObject, Context], Encoded | DataAccessResult]:
        default = self.defaults.get(name)

        def read(obj: CosemObject, ctx: Context) -> Encoded | DataAccessResult:
            encoded = obj.params.get("_" + name)
            if encoded is not None:
                return encoded
            source = obj.params.get(name, default)
            if callable(source):
                return encode_data(source(ctx))
            return DataAccessResult.READ_WRITE_DENIED
        return read

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        params = obj.params
        for spec in self.attributes[1:]:
            value = params.get(spec.name, self.defaults.get(spec.name))
            if value is not None and not callable(value):
                params["_" + spec.name] = encode_data(value)

    def current(self, obj: CosemObject, attribute_id: int, ctx: Context) -> Any:
        """The attribute's Data for this meter: what a client SET, else the configured value."""
        stored = ctx.meter.values.get((obj.logical_name, attribute_id))
        if stored is not None:
            return stored
        name = self.attribute_specs[attribute_id].name
        value = obj.params.get(name, self.defaults.get(name))
        return value(ctx) if callable(value) else value

    def set(self, obj: CosemObject, attribute_id: int, value: Data, ctx: Context) -> DataAccessResult:
        name = self.attribute_specs[attribute_id].name
        writer = getattr(self, "write_" + name, None)
        if writer is not None:
            return writer(obj, value, ctx)
        template = self.templates.get(name)
        if template is None:
            return super().set(obj, attribute_id, value, ctx)
        if not conforms(value, template):
            return DataAccessResult.TYPE_UNMATCHED
        ctx.meter.values[(obj.logical_name, attribute_id)] = value
        return DataAccessResult.SUCCESS

"""Common behaviour of interface classes (Blue Book 4.1): attribute 1 is the
logical name, attribute reads dispatch to ``read_<name>`` methods, values a
client SET are kept per meter, methods dispatch to ``do_<name>``.

An object may keep answers of its own (``CosemObject.kept``): they come
before the class's ``read_<name>``, after a value a client SET.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from twisted.plugin import IPlugin
from zope.interface import implementer

from ..codec.axdr import Data, decode_data, encode_data, encode_octet_string
from ..enums import ActionResult, DataAccessResult
from ..interfaces import IInterfaceClass
from .base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec

Reader = Callable[[CosemObject, Context], "Encoded | DataAccessResult"]


@implementer(IPlugin, IInterfaceClass)
class InterfaceClass:
    """Base of the built-in interface classes; subclasses declare
    ``class_id``, ``version``, ``name``, ``attributes`` and ``methods`` and
    define ``read_<attribute name>`` / ``do_<method name>``."""

    class_id: int
    version: int
    name: str
    attributes: tuple[AttributeSpec, ...]
    methods: tuple[MethodSpec, ...] = ()

    def __init__(self) -> None:
        self.attribute_specs = {a.index: a for a in self.attributes}
        self.method_specs = {m.index: m for m in self.methods}
        self._readers: dict[int, Reader] = {}
        for spec in self.attributes[1:]:
            reader = getattr(self, "read_" + spec.name, None)
            if reader is not None:
                self._readers[spec.index] = reader

    def prepare(self, obj: CosemObject) -> None:
        """Pre-compute what never changes for ``obj`` (called once per model)."""
        obj.params["_logical_name"] = encode_octet_string(obj.logical_name)

    def get(self, obj: CosemObject, attribute_id: int, ctx: Context) -> Encoded | DataAccessResult:
        if attribute_id == 1:
            return obj.params["_logical_name"]
        stored = ctx.meter.values.get((obj.logical_name, attribute_id))
        if stored is not None:
            return encode_data(stored)
        kept = obj.kept.get(attribute_id)
        if kept is not None:
            return kept
        reader = self._readers.get(attribute_id)
        if reader is None:
            return (DataAccessResult.READ_WRITE_DENIED if attribute_id in self.attribute_specs
                    else DataAccessResult.OBJECT_UNDEFINED)
        return reader(obj, ctx)

    def reader(self, obj: CosemObject, attribute_id: int) -> Callable[[Context], Encoded | DataAccessResult]:
        """``get`` resolved for one attribute: its logical name or refusal
        decided once, its ``read_<name>`` bound (a value a client SET still wins)."""
        if attribute_id == 1:
            logical_name = obj.params["_logical_name"]
            return lambda ctx: logical_name
        read = None if attribute_id in obj.kept else self.bind_reader(obj, attribute_id)
        if read is None:
            return functools.partial(self.get, obj, attribute_id)
        key = (obj.logical_name, attribute_id)

        def bound(ctx: Context) -> Encoded | DataAccessResult:
            stored = ctx.meter.values.get(key)
            return read(ctx) if stored is None else encode_data(stored)
        return bound

    def bind_reader(self, obj: CosemObject, attribute_id: int) -> Callable[[Context], Encoded] | None:
        """``read_<name>`` of the attribute bound to ``obj``, or None when the
        class has none; a class may bind a quicker one for its own objects."""
        read = self._readers.get(attribute_id)
        return None if read is None else functools.partial(read, obj)

    def get_selective(self, obj: CosemObject, attribute_id: int, selector: int,
                      parameters: Data, ctx: Context) -> Encoded | DataAccessResult:
        """Selective access; classes that support it override this."""
        return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED

    def set(self, obj: CosemObject, attribute_id: int, value: Data, ctx: Context) -> DataAccessResult:
        """Store ``value`` for this meter after checking it has the attribute's
        type (Blue Book 4.1.2: a value of another type is type-unmatched)."""
        writer = getattr(self, "write_" + self.attribute_specs[attribute_id].name, None)
        if writer is not None:
            return writer(obj, value, ctx)
        current = self.get(obj, attribute_id, ctx)
        if isinstance(current, DataAccessResult):
            return current
        if not isinstance(current, bytes):
            return DataAccessResult.READ_WRITE_DENIED
        current_value, _ = decode_data(current)
        if current_value[0] != value[0]:
            return DataAccessResult.TYPE_UNMATCHED
        ctx.meter.values[(obj.logical_name, attribute_id)] = value
        return DataAccessResult.SUCCESS

    def action(self, obj: CosemObject, method_id: int, parameters: Data | None,
               ctx: Context) -> tuple[ActionResult, bytes | None]:
        spec = self.method_specs.get(method_id)
        if spec is None:
            return ActionResult.OBJECT_UNDEFINED, None
        handler: Callable[..., tuple[ActionResult, bytes | None]] | None = getattr(self, "do_" + spec.name, None)
        if handler is None:
            return ActionResult.OBJECT_UNAVAILABLE, None
        return handler(obj, parameters, ctx)


def constant_or_source(obj: CosemObject, key: str, ctx: Context) -> Any:
    """A parameter that is either a constant or a value source called with ``ctx``."""
    value = obj.params[key]
    return value(ctx) if callable(value) else value

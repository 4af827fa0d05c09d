"""The object directory: a model's COSEM objects, access rights per
association, and GET/SET/ACTION dispatch with the Blue Book's results.

A ``ModelDirectory`` is built once per (object sets, associations) pair and
shared by every meter that has them; ``MeterDirectory`` binds it to one meter
and is what the association layer calls (``IObjectDirectory``).
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Protocol, Sequence

from zope.interface import implementer

from ..codec import axdr
from ..codec.axdr import Data
from ..codec.obis import CURRENT_ASSOCIATION
from ..codec.services import CosemAttributeDescriptor, CosemMethodDescriptor, SelectiveAccess
from ..enums import ActionResult, AttributeAccess, DataAccessResult, DataType, MethodAccess
from ..interfaces import IAuthenticationMechanism, IInterfaceClass, IObjectDirectory, IObjectSet
from .base import AssociationState, Context, CosemObject, Encoded, MeterState
from .classes.security_setup import security_setup_objects

#: An array of no elements: an empty profile buffer.
EMPTY_ARRAY = axdr.encode_array_header(0)
SAP_ASSIGNMENT = bytes((0, 0, 41, 0, 0, 255))
LOGICAL_DEVICE_NAME = bytes((0, 0, 42, 0, 0, 255))

READABLE = frozenset({AttributeAccess.READ_ONLY, AttributeAccess.READ_AND_WRITE,
                      AttributeAccess.AUTHENTICATED_READ_ONLY, AttributeAccess.AUTHENTICATED_READ_AND_WRITE})
WRITABLE = frozenset({AttributeAccess.WRITE_ONLY, AttributeAccess.READ_AND_WRITE,
                      AttributeAccess.AUTHENTICATED_WRITE_ONLY, AttributeAccess.AUTHENTICATED_READ_AND_WRITE})


class AssociationDefinition(Protocol):
    """What the directory needs of a configured association (lab.ini section)."""

    name: str
    client_sap: int
    authentication: str
    context: str
    access: str
    security: str
    security_suite: int


def attribute_access(allowed: AttributeAccess, level: str) -> AttributeAccess:
    """The access an association of ``level`` has to an attribute that allows
    at most ``allowed``: ``read`` associations only read; others get all."""
    if level == "read":
        return AttributeAccess.READ_ONLY if allowed in READABLE else AttributeAccess.NO_ACCESS
    return allowed


def method_access(always: bool, allowed: MethodAccess, level: str) -> MethodAccess:
    """Methods are for ``full`` associations, except those every association needs."""
    if always or level == "full":
        return allowed
    return MethodAccess.NO_ACCESS


def _attributes(obj: CosemObject) -> Iterable[tuple[int, AttributeAccess, tuple[int, ...] | None]]:
    """(index, most access, access selectors or None) of each attribute of ``obj``'s object-list entry."""
    if obj.listing is not None:
        return obj.listing.attributes
    return [(spec.index, obj.attribute_access.get(spec.index, spec.access), spec.selectors or None)
            for spec in obj.interface_class.attributes]


def _methods(obj: CosemObject) -> Iterable[tuple[int, bool, MethodAccess]]:
    """(index, whether every association may invoke it, most access) of each method of ``obj``."""
    if obj.listing is not None:
        always = {spec.index for spec in obj.interface_class.methods if spec.always}
        return [(index, index in always, allowed) for index, allowed in obj.listing.methods]
    return [(spec.index, spec.always, obj.method_access.get(spec.index, MethodAccess.ACCESS))
            for spec in obj.interface_class.methods]


class ModelDirectory:
    """The objects of one meter model for one set of associations. An object
    set that is ``complete`` (a device template) brings every object itself,
    so the mandatory ones are not added."""

    def __init__(self, object_sets: Sequence[IObjectSet], classes: Mapping[int, IInterfaceClass],
                 associations: Sequence[AssociationDefinition], mechanisms: Mapping[str, IAuthenticationMechanism],
                 conformance: int, max_receive_pdu_size: int) -> None:
        self.associations = tuple(associations)
        self.conformance = conformance
        self.max_receive_pdu_size = max_receive_pdu_size
        self._mechanisms = dict(mechanisms)
        self._index_by_sap = {a.client_sap: i for i, a in enumerate(self.associations)}
        self.client_saps = frozenset(self._index_by_sap)
        self.objects: dict[bytes, CosemObject] = {}
        if not any(getattr(object_set, "complete", False) for object_set in object_sets):
            for obj in self._mandatory_objects(classes):
                self._add(obj)
        for object_set in object_sets:
            for obj in object_set.objects(classes):
                self._add(obj)
        for obj in self.objects.values():
            obj.interface_class.prepare(obj)
        for obj in self.objects.values():
            bind = getattr(obj.interface_class, "bind", None)
            if bind is not None:
                bind(obj, self.objects.get)
        self._attribute_rights = [self._rights(a.access) for a in self.associations]
        self._method_rights = [self._method_rights_for(a.access) for a in self.associations]
        self._object_lists: dict[int, bytes] = {}

    def _add(self, obj: CosemObject) -> None:
        if obj.logical_name in self.objects:
            raise ValueError(f"two objects have the logical name {obj.logical_name.hex()}")
        self.objects[obj.logical_name] = obj

    def _mandatory_objects(self, classes: Mapping[int, IInterfaceClass]) -> Iterable[CosemObject]:
        """Objects every logical device has (Blue Book 4.1.x, Green Book 4.1.x):
        the current association, one Association LN per configured
        association, SAP assignment and the logical device name."""
        yield CosemObject(CURRENT_ASSOCIATION, classes[15], {}, "Current association")
        for index, association in enumerate(self.associations):
            yield CosemObject(bytes((0, 0, 40, 0, index + 1, 255)), classes[15], {"association": index},
                              f"Association {association.name} (client SAP {association.client_sap})")
        yield from security_setup_objects(classes, self.associations)
        yield CosemObject(SAP_ASSIGNMENT, classes[17], {}, "SAP assignment")
        yield CosemObject(LOGICAL_DEVICE_NAME, classes[1],
                          {"value": lambda ctx: (DataType.OCTET_STRING, ctx.meter.logical_device_name)},
                          "COSEM logical device name")

    def _rights(self, level: str) -> dict[tuple[bytes, int], AttributeAccess]:
        rights = {}
        for obj in self.objects.values():
            for index, allowed, _ in _attributes(obj):
                rights[(obj.logical_name, index)] = attribute_access(allowed, level)
        return rights

    def _method_rights_for(self, level: str) -> dict[tuple[bytes, int], MethodAccess]:
        rights = {}
        for obj in self.objects.values():
            for index, always, allowed in _methods(obj):
                rights[(obj.logical_name, index)] = method_access(always, allowed, level)
        return rights

    # -- association facts -------------------------------------------------

    def association_index(self, client_sap: int) -> int:
        return self._index_by_sap[client_sap]

    def mechanism(self, association: AssociationDefinition) -> IAuthenticationMechanism:
        """The authentication mechanism plugin of a configured association."""
        return self._mechanisms[association.authentication]

    def object_list(self, index: int) -> bytes:
        """Association LN attribute 2 as association ``index`` sees it (Blue Book 4.4.4)."""
        encoded = self._object_lists.get(index)
        if encoded is None:
            encoded = self._object_lists[index] = self._encode_object_list(index)
        return encoded

    def _encode_object_list(self, index: int) -> bytes:
        """Blue Book 4.4.4; an Association LN of version 0 (a device template's)
        gives the method access modes as booleans."""
        attribute_rights = self._attribute_rights[index]
        method_rights = self._method_rights[index]
        current = self.objects.get(CURRENT_ASSOCIATION)
        boolean = current is not None and current.listing is not None and current.listing.version == 0
        parts = [axdr.encode_array_header(len(self.objects))]
        for obj in self.objects.values():
            ln = obj.logical_name
            attributes: list[Data] = [
                (DataType.STRUCTURE, [
                    (DataType.INTEGER, attribute),
                    (DataType.ENUM, int(attribute_rights[(ln, attribute)])),
                    (DataType.NULL_DATA, None) if selectors is None
                    else (DataType.ARRAY, [(DataType.INTEGER, s) for s in selectors]),
                ]) for attribute, _, selectors in _attributes(obj)]
            methods: list[Data] = [
                (DataType.STRUCTURE, [(DataType.INTEGER, method),
                                      (DataType.BOOLEAN, bool(method_rights[(ln, method)])) if boolean
                                      else (DataType.ENUM, int(method_rights[(ln, method)]))])
                for method, _, _ in _methods(obj)]
            parts.append(axdr.encode_data((DataType.STRUCTURE, [
                (DataType.LONG_UNSIGNED, obj.class_id),
                (DataType.UNSIGNED, obj.interface_class.version if obj.listing is None else obj.listing.version),
                (DataType.OCTET_STRING, ln),
                (DataType.STRUCTURE, [(DataType.ARRAY, attributes), (DataType.ARRAY, methods)]),
            ])))
        return b"".join(parts)

    # -- services ------------------------------------------------------------

    def _target(self, class_id: int, logical_name: bytes) -> CosemObject | DataAccessResult:
        obj = self.objects.get(logical_name)
        if obj is None:
            return DataAccessResult.OBJECT_UNDEFINED
        if obj.interface_class.class_id != class_id:
            return DataAccessResult.OBJECT_CLASS_INCONSISTENT
        return obj

    def _attribute(self, association: AssociationState, attribute: CosemAttributeDescriptor,
                   allowed: frozenset[AttributeAccess]) -> CosemObject | DataAccessResult:
        """The object of ``attribute`` if the association's right to it is in ``allowed``."""
        obj = self._target(attribute.class_id, attribute.instance_id)
        if isinstance(obj, DataAccessResult):
            return obj
        rights = self._attribute_rights[self._index_by_sap[association.client_sap]]
        right = rights.get((attribute.instance_id, attribute.attribute_id))
        if right is None:
            return DataAccessResult.OBJECT_UNDEFINED
        if right not in allowed:
            return DataAccessResult.READ_WRITE_DENIED
        return obj

    def get(self, ctx: Context, attribute: CosemAttributeDescriptor,
            selective: SelectiveAccess | None) -> Encoded | DataAccessResult:
        """GET of one attribute (Green Book 9.3.x): object-undefined,
        object-class-inconsistent, read-write-denied, or the value."""
        obj = self._attribute(ctx.association, attribute, READABLE)
        if isinstance(obj, DataAccessResult):
            return obj
        if selective is None:
            return obj.interface_class.get(obj, attribute.attribute_id, ctx)
        index = attribute.attribute_id
        selectors = next((listed for i, _, listed in _attributes(obj) if i == index), None)
        if selectors is None or selective.selector not in selectors:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        value = obj.kept.get(index)
        if value is not None:
            # A kept value is not selected from, except an empty buffer (nothing selected from nothing)
            # and a refusal the meter recorded.
            return value if value == EMPTY_ARRAY or isinstance(value, DataAccessResult) \
                else DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        if index not in obj.interface_class.attribute_specs:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        return obj.interface_class.get_selective(obj, index, selective.selector, selective.parameters, ctx)

    def reader(self, association: AssociationState,
               attribute: CosemAttributeDescriptor) -> Callable[[Context], Encoded | DataAccessResult]:
        """``get`` without selective access, resolved for one association: the
        object, its class and the association's right looked up once."""
        obj = self._attribute(association, attribute, READABLE)
        if isinstance(obj, DataAccessResult):
            return lambda ctx, refused=obj: refused
        return obj.interface_class.reader(obj, attribute.attribute_id)

    def set(self, ctx: Context, attribute: CosemAttributeDescriptor,
            selective: SelectiveAccess | None, value: Data) -> DataAccessResult:
        obj = self._attribute(ctx.association, attribute, WRITABLE)
        if isinstance(obj, DataAccessResult):
            return obj
        if attribute.attribute_id == 1:
            return DataAccessResult.READ_WRITE_DENIED
        if selective is not None:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        return obj.interface_class.set(obj, attribute.attribute_id, value, ctx)

    def action(self, ctx: Context, method: CosemMethodDescriptor,
               parameters: Data | None) -> tuple[ActionResult, bytes | None]:
        obj = self._target(method.class_id, method.instance_id)
        if isinstance(obj, DataAccessResult):
            return ActionResult(int(obj)), None
        rights = self._method_rights[self._index_by_sap[ctx.association.client_sap]]
        right = rights.get((method.instance_id, method.method_id))
        if right is None:
            return ActionResult.OBJECT_UNDEFINED, None
        if right == MethodAccess.NO_ACCESS:
            return ActionResult.READ_WRITE_DENIED, None
        return obj.interface_class.action(obj, method.method_id, parameters, ctx)


@implementer(IObjectDirectory)
class MeterDirectory:
    """A model directory bound to one meter: each request reads the meter's
    clock once, so every value of one answer belongs to the same instant."""

    __slots__ = ("model", "meter")

    def __init__(self, model: ModelDirectory, meter: MeterState) -> None:
        self.model = model
        self.meter = meter

    def _context(self, association: AssociationState) -> Context:
        return Context(self.meter, association, self.model, self.meter.now())

    def get(self, attribute: CosemAttributeDescriptor, selective_access: SelectiveAccess | None,
            association: AssociationState) -> Encoded | DataAccessResult:
        return self.model.get(self._context(association), attribute, selective_access)

    def reader(self, attribute: CosemAttributeDescriptor,
               association: AssociationState) -> Callable[[], Encoded | DataAccessResult]:
        read = self.model.reader(association, attribute)
        meter, model = self.meter, self.model
        return lambda: read(Context(meter, association, model, meter.now()))

    def set(self, attribute: CosemAttributeDescriptor, selective_access: SelectiveAccess | None,
            value: Data, association: AssociationState) -> DataAccessResult:
        return self.model.set(self._context(association), attribute, selective_access, value)

    def action(self, method: CosemMethodDescriptor, parameters: Data | None,
               association: AssociationState) -> tuple[ActionResult, bytes | None]:
        return self.model.action(self._context(association), method, parameters)


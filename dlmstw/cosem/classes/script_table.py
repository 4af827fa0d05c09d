"""Script table, class_id 9, version 0 (Blue Book 4.5.2).

``execute`` runs a script's actions on the meter's own objects, in order:
service 1 writes an attribute, service 2 invokes a method, each with the
action's parameter and without the access rights of any association (the
meter runs its own scripts). The first action that fails ends the script and
its result is the method's. A script table never runs itself again while
one of its scripts is running, so scripts that call each other stop.
"""

from __future__ import annotations

from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataType
from ..base import AttributeSpec, Context, CosemObject, MethodSpec
from .configured import ANY, LOGICAL_NAME, ConfiguredClass, array_of, structure

WRITE_ATTRIBUTE = 1
EXECUTE_METHOD = 2
ACTION_SPECIFICATION = structure((DataType.ENUM, None), (DataType.LONG_UNSIGNED, None), LOGICAL_NAME,
                                 (DataType.INTEGER, None), ANY)
ACTION_RESULTS = frozenset(int(result) for result in ActionResult)
SCRIPT = structure((DataType.LONG_UNSIGNED, None), array_of(ACTION_SPECIFICATION))


def script(identifier: int, *actions: tuple[int, int, bytes, int, Data]) -> Data:
    """A script structure: its identifier and its (service_id, class_id,
    logical_name, index, parameter) actions."""
    return (DataType.STRUCTURE, [
        (DataType.LONG_UNSIGNED, identifier),
        (DataType.ARRAY, [(DataType.STRUCTURE, [(DataType.ENUM, service), (DataType.LONG_UNSIGNED, class_id),
                                                (DataType.OCTET_STRING, ln), (DataType.INTEGER, index), parameter])
                          for service, class_id, ln, index, parameter in actions]),
    ])


class ScriptTable(ConfiguredClass):
    """``params``: ``scripts`` (an array of script structures, see ``script``)."""

    class_id = 9
    version = 0
    name = "Script table"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "scripts", AttributeAccess.READ_AND_WRITE),
    )
    methods = (MethodSpec(1, "execute"),)
    defaults = {"scripts": (DataType.ARRAY, [])}
    templates = {"scripts": array_of(SCRIPT)}

    def do_execute(self, obj: CosemObject, parameters: Data | None,
                   ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (data ::= long-unsigned, the script_identifier)."""
        if parameters is None or parameters[0] != DataType.LONG_UNSIGNED:
            return ActionResult.TYPE_UNMATCHED, None
        for candidate in self.current(obj, 2, ctx)[1]:
            if candidate[1][0][1] == parameters[1]:
                return self._run(obj, candidate[1][1][1], ctx)
        return ActionResult.OBJECT_UNAVAILABLE, None

    def _run(self, obj: CosemObject, actions: list[Data], ctx: Context) -> tuple[ActionResult, bytes | None]:
        running = (obj.logical_name, "running")
        state = ctx.meter.object_state
        if state.get(running):
            return ActionResult.TEMPORARY_FAILURE, None
        state[running] = True
        try:
            for action in actions:
                result = self._perform(action, ctx)
                if result != ActionResult.SUCCESS:
                    return result, None
            return ActionResult.SUCCESS, None
        finally:
            del state[running]

    def _perform(self, action: Data, ctx: Context) -> ActionResult:
        service, class_id, logical_name, index = (item[1] for item in action[1][:4])
        target = ctx.directory.objects.get(logical_name)
        if target is None:
            return ActionResult.OBJECT_UNDEFINED
        if target.class_id != class_id:
            return ActionResult.OBJECT_CLASS_INCONSISTENT
        interface_class = target.interface_class
        argument = action[1][4]
        if service == WRITE_ATTRIBUTE:
            if index not in interface_class.attribute_specs or index == 1:
                return ActionResult.OBJECT_UNDEFINED
            written = int(interface_class.set(target, index, argument, ctx))
            return ActionResult(written) if written in ACTION_RESULTS else ActionResult.OTHER_REASON
        if service == EXECUTE_METHOD:
            return interface_class.action(target, index, argument, ctx)[0]
        return ActionResult.TYPE_UNMATCHED

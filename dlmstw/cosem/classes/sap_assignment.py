"""SAP assignment, class_id 17, version 0 (Blue Book 4.4.6)."""

from __future__ import annotations

from ...codec import axdr
from ...enums import DataType
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec
from ..interface_class import InterfaceClass

#: The one logical device a meter has: the management logical device (Green Book 4.1.x, SAP 1).
MANAGEMENT_LOGICAL_DEVICE = 1


class SapAssignment(InterfaceClass):
    class_id = 17
    version = 0
    name = "SAP assignment"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "sap_assignment_list"),
    )
    methods = (MethodSpec(1, "connect_logical_device"),)

    def read_sap_assignment_list(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_data((DataType.ARRAY, [(DataType.STRUCTURE, [
            (DataType.LONG_UNSIGNED, MANAGEMENT_LOGICAL_DEVICE),
            (DataType.OCTET_STRING, ctx.meter.logical_device_name),
        ])]))

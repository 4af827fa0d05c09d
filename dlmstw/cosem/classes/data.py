"""Data, class_id 1, version 0 (Blue Book 4.3.1)."""

from __future__ import annotations

from ...codec.axdr import encode_data
from ...enums import AttributeAccess
from ..base import AttributeSpec, Context, CosemObject, Encoded
from ..interface_class import InterfaceClass


class DataClass(InterfaceClass):
    """Holds one value of any type. ``params['value']`` is a Data tuple, or a
    value source returning one (called with the request's context)."""

    class_id = 1
    version = 0
    name = "Data"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "value", AttributeAccess.READ_AND_WRITE),
    )

    def prepare(self, obj: CosemObject) -> None:
        super().prepare(obj)
        value = obj.params["value"]
        if not callable(value):
            obj.params["_value"] = encode_data(value)

    def read_value(self, obj: CosemObject, ctx: Context) -> Encoded:
        encoded = obj.params.get("_value")
        if encoded is not None:
            return encoded
        return encode_data(obj.params["value"](ctx))

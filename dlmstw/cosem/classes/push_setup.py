"""Push setup, class_id 40, version 0 (Blue Book 4.4.8).

What to push, where and when are configured attributes clients read and set.
The simulated meter has no outgoing connections, so its models deny the push
method (method access no-access).
"""

from __future__ import annotations

from ...enums import AttributeAccess, DataType
from ..base import AttributeSpec, MethodSpec
from .configured import DATE_TIME, LOGICAL_NAME, OCTETS, ConfiguredClass, array_of, structure

RW = AttributeAccess.READ_AND_WRITE
#: transport_service (Blue Book 4.4.8, attribute 3): 0 = TCP, message 0 = A-XDR encoded xDLMS APDU.
TCP = 0
AXDR_XDLMS_APDU = 0


class PushSetup(ConfiguredClass):
    """``params``: ``push_object_list``, ``send_destination_and_method`` and
    optionally the other attributes' Data."""

    class_id = 40
    version = 0
    name = "Push setup"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "push_object_list", RW),
        AttributeSpec(3, "send_destination_and_method", RW),
        AttributeSpec(4, "communication_window", RW),
        AttributeSpec(5, "randomisation_start_interval", RW),
        AttributeSpec(6, "number_of_retries", RW),
        AttributeSpec(7, "repetition_delay", RW),
    )
    methods = (MethodSpec(1, "push"),)
    defaults = {
        "communication_window": (DataType.ARRAY, []),
        "randomisation_start_interval": (DataType.LONG_UNSIGNED, 0),
        "number_of_retries": (DataType.UNSIGNED, 3),
        "repetition_delay": (DataType.LONG_UNSIGNED, 60),
    }
    templates = {
        "push_object_list": array_of(structure((DataType.LONG_UNSIGNED, None), LOGICAL_NAME, (DataType.INTEGER, None),
                                               (DataType.LONG_UNSIGNED, None))),
        "send_destination_and_method": structure((DataType.ENUM, None), OCTETS, (DataType.ENUM, None)),
        "communication_window": array_of(structure(DATE_TIME, DATE_TIME)),
        "randomisation_start_interval": (DataType.LONG_UNSIGNED, None),
        "number_of_retries": (DataType.UNSIGNED, None),
        "repetition_delay": (DataType.LONG_UNSIGNED, None),
    }

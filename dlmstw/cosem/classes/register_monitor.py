"""Register monitor, class_id 21, version 0 (Blue Book 4.5.6).

Its thresholds, monitored value and actions are configured attributes
clients read and set; the monitor does not run scripts on a simulated meter.
"""

from __future__ import annotations

from ...enums import AttributeAccess, DataType
from ..base import AttributeSpec
from .configured import ANY, LOGICAL_NAME, ConfiguredClass, array_of, structure

RW = AttributeAccess.READ_AND_WRITE
ACTION_ITEM = structure(LOGICAL_NAME, (DataType.LONG_UNSIGNED, None))


class RegisterMonitor(ConfiguredClass):
    """``params``: ``thresholds`` (array), ``monitored_value``
    (value_definition) and ``actions`` (array of action_set)."""

    class_id = 21
    version = 0
    name = "Register monitor"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "thresholds", RW),
        AttributeSpec(3, "monitored_value", RW),
        AttributeSpec(4, "actions", RW),
    )
    templates = {
        "thresholds": array_of(ANY),
        "monitored_value": structure((DataType.LONG_UNSIGNED, None), LOGICAL_NAME, (DataType.INTEGER, None)),
        "actions": array_of(structure(ACTION_ITEM, ACTION_ITEM)),
    }

"""TCP-UDP setup, class_id 41, version 0 (Blue Book 4.9.1).

By default the values describe the meter's own listening port (lab.ini
``port``, ``max_clients``, ``inactivity_timeout``); a client may set them,
which changes what the object reports, not the running listener.
"""

from __future__ import annotations

from ...enums import AttributeAccess, DataType
from ..base import AttributeSpec
from .configured import LOGICAL_NAME, ConfiguredClass

RW = AttributeAccess.READ_AND_WRITE
#: The largest TCP segment a meter receives (MSS, Blue Book 4.9.1: 40..65535).
MSS = 1460


class TcpUdpSetup(ConfiguredClass):
    """``params``: ``ip_reference`` (the IPv4 setup object's logical name, Data)."""

    class_id = 41
    version = 0
    name = "TCP-UDP setup"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "tcp_udp_port", RW),
        AttributeSpec(3, "ip_reference", RW),
        AttributeSpec(4, "mss", RW),
        AttributeSpec(5, "nb_of_sim_conn", RW),
        AttributeSpec(6, "inactivity_time_out", RW),
    )
    defaults = {
        "tcp_udp_port": lambda ctx: (DataType.LONG_UNSIGNED, ctx.meter.port),
        "mss": (DataType.LONG_UNSIGNED, MSS),
        "nb_of_sim_conn": lambda ctx: (DataType.UNSIGNED, min(ctx.meter.max_clients, 255)),
        "inactivity_time_out": lambda ctx: (DataType.LONG_UNSIGNED, min(int(ctx.meter.inactivity_timeout), 65535)),
    }
    templates = {
        "tcp_udp_port": (DataType.LONG_UNSIGNED, None),
        "ip_reference": LOGICAL_NAME,
        "mss": (DataType.LONG_UNSIGNED, None),
        "nb_of_sim_conn": (DataType.UNSIGNED, None),
        "inactivity_time_out": (DataType.LONG_UNSIGNED, None),
    }

"""IPv4 setup, class_id 42, version 0 (Blue Book 4.9.2).

By default the IP address is the meter's listening address (lab.ini
``interface``); addresses are double-long-unsigned, the first octet most
significant. The multicast addresses are kept per meter and changed by the
add/delete methods.
"""

from __future__ import annotations

import ipaddress

from ...codec import axdr
from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataType
from ..base import AttributeSpec, Context, CosemObject, MethodSpec
from .configured import ANY, LOGICAL_NAME, OCTETS, ConfiguredClass, array_of, structure

RW = AttributeAccess.READ_AND_WRITE
ADDRESS = (DataType.DOUBLE_LONG_UNSIGNED, None)
#: The most multicast addresses a meter keeps.
MAX_MULTICAST = 16


def ipv4(text: str) -> Data:
    """An IPv4 address as the double-long-unsigned the class uses; 0.0.0.0
    for anything else (a host name, an IPv6 address)."""
    try:
        return (DataType.DOUBLE_LONG_UNSIGNED, int(ipaddress.IPv4Address(text)))
    except ValueError:
        return (DataType.DOUBLE_LONG_UNSIGNED, 0)


class Ipv4Setup(ConfiguredClass):
    """``params``: ``dl_reference`` (the data link setup object's logical name),
    and optionally the other attributes' Data."""

    class_id = 42
    version = 0
    name = "IPv4 setup"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "dl_reference", RW),
        AttributeSpec(3, "ip_address", RW),
        AttributeSpec(4, "multicast_ip_address", RW),
        AttributeSpec(5, "ip_options", RW),
        AttributeSpec(6, "subnet_mask", RW),
        AttributeSpec(7, "gateway_ip_address", RW),
        AttributeSpec(8, "use_dhcp_flag", RW),
        AttributeSpec(9, "primary_dns_address", RW),
        AttributeSpec(10, "secondary_dns_address", RW),
    )
    methods = (MethodSpec(1, "add_mc_ip_address"), MethodSpec(2, "delete_mc_ip_address"),
               MethodSpec(3, "get_nbof_mc_ip_addresses"))
    defaults = {
        "ip_address": lambda ctx: ipv4(ctx.meter.address),
        "multicast_ip_address": (DataType.ARRAY, []),
        "ip_options": (DataType.ARRAY, []),
        "subnet_mask": ipv4("255.255.255.0"),
        "gateway_ip_address": ipv4("0.0.0.0"),
        "use_dhcp_flag": (DataType.BOOLEAN, False),
        "primary_dns_address": ipv4("0.0.0.0"),
        "secondary_dns_address": ipv4("0.0.0.0"),
    }
    templates = {
        "dl_reference": LOGICAL_NAME,
        "ip_address": ADDRESS,
        "multicast_ip_address": array_of(ADDRESS),
        "ip_options": array_of(structure(ANY, (DataType.UNSIGNED, None), OCTETS)),
        "subnet_mask": ADDRESS,
        "gateway_ip_address": ADDRESS,
        "use_dhcp_flag": (DataType.BOOLEAN, None),
        "primary_dns_address": ADDRESS,
        "secondary_dns_address": ADDRESS,
    }

    def _multicast(self, obj: CosemObject, parameters: Data | None, ctx: Context,
                   add: bool) -> tuple[ActionResult, bytes | None]:
        if parameters is None or parameters[0] != DataType.DOUBLE_LONG_UNSIGNED:
            return ActionResult.TYPE_UNMATCHED, None
        addresses = [item for item in self.current(obj, 4, ctx)[1] if item[1] != parameters[1]]
        if add:
            if len(addresses) >= MAX_MULTICAST:
                return ActionResult.TEMPORARY_FAILURE, None
            addresses.append(parameters)
        ctx.meter.values[(obj.logical_name, 4)] = (DataType.ARRAY, addresses)
        return ActionResult.SUCCESS, None

    def do_add_mc_ip_address(self, obj: CosemObject, parameters: Data | None,
                             ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (data ::= double-long-unsigned): add a multicast address."""
        return self._multicast(obj, parameters, ctx, add=True)

    def do_delete_mc_ip_address(self, obj: CosemObject, parameters: Data | None,
                                ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 2 (data ::= double-long-unsigned): remove a multicast address."""
        return self._multicast(obj, parameters, ctx, add=False)

    def do_get_nbof_mc_ip_addresses(self, obj: CosemObject, parameters: Data | None,
                                    ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 3 (data ::= integer (0)): the number of multicast addresses, a long-unsigned."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        return ActionResult.SUCCESS, axdr.encode_long_unsigned(len(self.current(obj, 4, ctx)[1]))

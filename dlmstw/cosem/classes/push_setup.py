"""Push setup, class_id 40, version 0 (Blue Book 4.4.8).

What to push, where and when are configured attributes clients read and set.
Method 1, ``push``, reads the push_object_list now and hands a
``PushRequest`` to the meter's edge (``IMeterEdge``, the Twisted side), which
sends the Data-Notification in the background (Green Book 9.3.10): the COSEM
layer never opens a connection itself.

Destinations are ``HOST:PORT`` in ASCII, as clients write them. lab.ini's
``push_destinations`` bound them: a SET of send_destination_and_method to a
host outside is refused with the data-access-result read-write-denied, and a
push to such a host (the configured one, when lab.ini changed) with the
action-result read-write-denied. Only transport services TCP and UDP and the
message type A-XDR encoded xDLMS APDU exist on a simulated meter; others get
other-reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...codec.axdr import CosemDateTime, Data, datetime_bytes_from_timestamp, decode_data, encode_data, encode_length
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ...errors import DecodeError
from ..base import AttributeSpec, Context, CosemObject, MethodSpec
from .configured import DATE_TIME, LOGICAL_NAME, OCTETS, ConfiguredClass, array_of, conforms, structure

RW = AttributeAccess.READ_AND_WRITE
#: transport_service (Blue Book 4.4.8, attribute 3): 0 = TCP, 1 = UDP.
TCP = 0
UDP = 1
TRANSPORT_NAMES = {TCP: "tcp", UDP: "udp"}
#: message (attribute 3): 0 = A-XDR encoded xDLMS APDU.
AXDR_XDLMS_APDU = 0
#: The notification body's element when an attribute cannot be read (Blue Book 4.1.5 null-data).
NULL_DATA = b"\x00"
SEND_DESTINATION_AND_METHOD = structure((DataType.ENUM, None), OCTETS, (DataType.ENUM, None))


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One push, as the push setup hands it to the meter's edge: the encoded
    notification body and date-time, where to send it (``transport`` "tcp"
    or "udp", ``host``, ``port``) and the attributes that say when
    (``windows``: (start, end) POSIX seconds, None for a bound with fields
    not specified) and how often to try."""

    push_setup: bytes
    body: bytes
    date_time: bytes
    transport: str
    host: str
    port: int
    windows: tuple[tuple[float | None, float | None], ...]
    randomisation_start_interval: int
    number_of_retries: int
    repetition_delay: int


def parse_destination(destination: bytes) -> tuple[str, int] | None:
    """``HOST:PORT`` (ASCII; ``[v6]:PORT`` too) -> (host, port); None when it is not one."""
    try:
        host, colon, port = destination.decode("ascii").rpartition(":")
    except UnicodeDecodeError:
        return None
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _instant(octets: bytes) -> float | None:
    """A window bound's date-time as POSIX seconds; None when fields are not specified."""
    try:
        return CosemDateTime.from_bytes(octets).to_datetime().timestamp()
    except (DecodeError, ValueError):
        return None


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
        "send_destination_and_method": SEND_DESTINATION_AND_METHOD,
        "communication_window": array_of(structure(DATE_TIME, DATE_TIME)),
        "randomisation_start_interval": (DataType.LONG_UNSIGNED, None),
        "number_of_retries": (DataType.UNSIGNED, None),
        "repetition_delay": (DataType.LONG_UNSIGNED, None),
    }

    @staticmethod
    def _destination(value: Data, ctx: Context) -> tuple[str, str, int] | DataAccessResult:
        """(transport, host, port) of a send_destination_and_method, or why it is refused."""
        transport, destination, message = (member[1] for member in value[1])
        address = parse_destination(destination)
        if transport not in TRANSPORT_NAMES or message != AXDR_XDLMS_APDU or address is None:
            return DataAccessResult.OTHER_REASON
        if not ctx.meter.may_push_to(address[0]):
            return DataAccessResult.READ_WRITE_DENIED
        return TRANSPORT_NAMES[transport], address[0], address[1]

    def write_send_destination_and_method(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        """Kept when it is a TCP or UDP ``HOST:PORT`` inside ``push_destinations``."""
        if not conforms(value, SEND_DESTINATION_AND_METHOD):
            return DataAccessResult.TYPE_UNMATCHED
        checked = self._destination(value, ctx)
        if isinstance(checked, DataAccessResult):
            return checked
        ctx.meter.values[(obj.logical_name, 3)] = value
        return DataAccessResult.SUCCESS

    def _element(self, item: Data, ctx: Context) -> bytes:
        """One push_object_list element's value, encoded (Blue Book 4.4.8: data_index 0
        is the whole attribute, n the n-th element of an array or structure)."""
        class_id, logical_name, attribute, data_index = (member[1] for member in item[1])
        target = ctx.directory.objects.get(logical_name)
        if target is None or target.class_id != class_id or attribute not in target.interface_class.attribute_specs:
            return NULL_DATA
        encoded = target.interface_class.get(target, attribute, ctx)
        if isinstance(encoded, DataAccessResult):
            return NULL_DATA
        raw = encoded if isinstance(encoded, bytes) else b"".join(encoded)
        if data_index == 0:
            return raw
        value, _ = decode_data(raw)
        if value[0] not in (DataType.ARRAY, DataType.STRUCTURE) or not 0 < data_index <= len(value[1]):
            return NULL_DATA
        return encode_data(value[1][data_index - 1])

    def request(self, obj: CosemObject, ctx: Context) -> PushRequest | ActionResult:
        """The push the object's attributes describe now, or why it cannot be sent."""
        destination = self._destination(self.current(obj, 3, ctx), ctx)
        if isinstance(destination, DataAccessResult):
            return ActionResult(int(destination))
        items = self.current(obj, 2, ctx)[1]
        body = bytes((DataType.STRUCTURE,)) + encode_length(len(items)) + b"".join(self._element(i, ctx) for i in items)
        meter = ctx.meter
        windows = tuple((_instant(w[1][0][1]), _instant(w[1][1][1])) for w in self.current(obj, 4, ctx)[1])
        return PushRequest(obj.logical_name, body,
                           datetime_bytes_from_timestamp(meter.now(), meter.deviation, meter.clock_status),
                           *destination, windows, self.current(obj, 5, ctx)[1], self.current(obj, 6, ctx)[1],
                           self.current(obj, 7, ctx)[1])

    def do_push(self, obj: CosemObject, parameters: Data | None,
                ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (data ::= integer (0)): push the push_object_list's values now."""
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        edge = ctx.meter.edge
        if edge is None:
            return ActionResult.TEMPORARY_FAILURE, None
        request = self.request(obj, ctx)
        if isinstance(request, ActionResult):
            return request, None
        edge.push(request)
        return ActionResult.SUCCESS, None

"""The object model's building blocks (Blue Book 4.1): attribute and method
descriptions, COSEM objects, and the context a request is served in.

COSEM objects are shared by every meter of a model: they hold definitions and
value sources, never per-meter data. Per-meter state (clock offset, values set
by a client) lives in the ``MeterState`` the request context carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from ..codec.axdr import datetime_bytes_from_timestamp
from ..enums import AttributeAccess, DataAccessResult, MethodAccess
from ..interfaces import ISecurityStore

#: Encoded A-XDR Data: the bytes, or an iterable of byte chunks for values
#: produced lazily (profile buffers), which the association cuts into blocks.
Encoded = bytes | Iterable[bytes]


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """One attribute of an interface class: the most access it can ever grant
    and the access selectors it supports (Blue Book 4.1.2)."""

    index: int
    name: str
    access: AttributeAccess = AttributeAccess.READ_ONLY
    selectors: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One method of an interface class. ``always`` marks methods every
    association may invoke whatever its access level (reply_to_HLS_authentication)."""

    index: int
    name: str
    always: bool = False


@dataclass(frozen=True, slots=True)
class Listing:
    """How an object appears in the object list when not as its class declares
    (a device template's object): its version, and per attribute its most
    access and access selectors (None: null-data), per method its most access
    (Blue Book 4.4.4, object_list_element)."""

    version: int
    attributes: tuple[tuple[int, AttributeAccess, tuple[int, ...] | None], ...]
    methods: tuple[tuple[int, MethodAccess], ...]


class MeterState(Protocol):
    """What COSEM objects read of the meter that serves a request."""

    serial: int
    system_title: bytes
    load_profile_period: int
    load_profile_days: int
    utc_offset: int
    deviation: int
    clock_status: int
    values: dict[tuple[bytes, int], Any]
    #: The meter's keys, invocation counters and certificates.
    security: ISecurityStore
    #: What the meter's TCP-UDP and IPv4 setup objects report of its listening port.
    port: int
    address: str
    max_clients: int
    inactivity_timeout: float
    #: What objects keep for this meter besides attribute values, by (logical name, key).
    object_state: dict[tuple[bytes, str], Any]
    #: Pushes and schedule timers (an ``IMeterEdge``), None for a meter served without one.
    edge: Any
    #: What clients made the meter do, for its event logs.
    events: Any
    #: The meter group's anomalies on demand, or None.
    anomalies: Any
    simulator: Any

    def record(self, kind: str) -> None:
        """Remember that something happened now, for the event logs."""

    def may_push_to(self, host: str) -> bool:
        """Whether the meter may push to ``host`` (lab.ini ``push_destinations``)."""

    def now(self) -> float:
        """The meter's clock, POSIX seconds (real time plus the meter's offset)."""

    def set_clock(self, t: float) -> None:
        """Set the meter's clock to ``t`` (POSIX seconds) from now on."""

    def snapshot(self, t: float) -> Any:
        """The simulated quantities at ``t`` (opaque to this layer)."""


class AssociationState(Protocol):
    """What COSEM objects read of the association a request arrives on."""

    name: str
    client_sap: int
    server_sap: int
    access: str
    mechanism_id: int
    context_id: int
    status: int
    conformance: int
    client_max_receive_pdu_size: int
    server_max_receive_pdu_size: int
    dlms_version: int
    #: The HLS challenges and keys (``security.hls.HlsInputs``), None without HLS.
    hls: Any
    #: Whether the reply_to_HLS_authentication being served arrived protected.
    request_protected: bool


class Context:
    """A request's context: the meter, the association, the directory and the
    instant ``t`` whose simulated values are read (computed once, lazily)."""

    __slots__ = ("meter", "association", "directory", "t", "_snapshot")

    def __init__(self, meter: MeterState, association: AssociationState | None,
                 directory: Any, t: float) -> None:
        self.meter = meter
        self.association = association
        self.directory = directory
        self.t = t
        self._snapshot: Any = None

    @property
    def snapshot(self) -> Any:
        snap = self._snapshot
        if snap is None:
            snap = self._snapshot = self.meter.snapshot(self.t)
        return snap

    def at(self, t: float) -> Context:
        """The same request, reading the values of instant ``t`` (profile rows)."""
        return Context(self.meter, self.association, self.directory, t)


@dataclass(eq=False, slots=True)
class CosemObject:
    """A COSEM object: logical name, interface class and the class's
    parameters for it (value sources, scaler, capture objects...).

    ``attribute_access`` / ``method_access`` narrow what the class allows for
    this particular object (e.g. a read-only clock on a public meter); a
    ``listing`` replaces what the class declares altogether. ``kept``: answers
    of the object's own (attribute -> encoded value or Data-Access-Result, a
    device template's static values), before the class's ``read_<name>``,
    after a value a client SET.
    """

    logical_name: bytes
    interface_class: Any
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    attribute_access: dict[int, AttributeAccess] = field(default_factory=dict)
    method_access: dict[int, MethodAccess] = field(default_factory=dict)
    listing: Listing | None = None
    kept: dict[int, bytes | DataAccessResult] = field(default_factory=dict)

    @property
    def class_id(self) -> int:
        return self.interface_class.class_id


ValueSource = Callable[[Context], Any]


def divides_the_day(period: int) -> bool:
    """A capture or demand period that keeps periods on the clock grid:
    60..86400 seconds, dividing the day."""
    return 60 <= period <= 86400 and not 86400 % period


def period_start(meter: MeterState, t: float, period: int) -> float:
    """Start of the capture period containing ``t``: periods are aligned to
    the meter's local time, so a daily period starts at local midnight."""
    return t - (t + meter.utc_offset) % period


def encode_time_of(ctx: Context, t: float) -> bytes:
    """``t`` as the octet-string(12) date-time COSEM attributes carry
    (Blue Book 4.1.6.1), in the meter's deviation and clock status."""
    meter = ctx.meter
    return b"\x09\x0c" + datetime_bytes_from_timestamp(t, meter.deviation, meter.clock_status)

"""The lab configuration: ``lab.ini`` read and checked into frozen dataclasses.

The keys and their meaning are the ``lab.ini (contract)`` of DESIGN.md. The file
has one optional ``[simulator]`` section, one ``[meters:NAME]`` section per group
of identical meters and one ``[association:NAME]`` section per client
association. Every unknown section, unknown key or bad value raises
:class:`~dlmstw.errors.ConfigError` naming the file, the section, the key and the
problem, so the service refuses to start with that message.

A leaf module (DESIGN.md, layout): it imports no Twisted, so every layer may use it.
"""

import configparser
import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dlmstw.enums import SECURITY_POLICIES, ApplicationContextName
from dlmstw.errors import ConfigError

_T = TypeVar("_T")
_D = TypeVar("_D")

ANOMALY_KINDS: tuple[str, ...] = ("negative", "boundary", "gaps", "clock-jump", "duplicates", "out-of-range")
"""Kinds of data anomaly the simulator can inject (``anomalies`` key)."""

FAULT_KINDS: tuple[str, ...] = ("delay", "offline", "drop", "timeout", "image-verify-fail", "image-activate-fail")
"""Kinds of fault the server can inject (``faults`` key): transport faults, and
the share of image verifications and activations that fail."""

CONTEXTS: Mapping[str, ApplicationContextName] = {
    "ln": ApplicationContextName.LOGICAL_NAME,
    "ln-ciphered": ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING,
}
"""``context`` values and their application context ids (Green Book 9.4.2.2.2)."""

ACCESS_LEVELS: tuple[str, ...] = ("read", "read-write", "full")
"""``access`` values: the default access rights an association grants."""

MAX_SECURITY_SUITE = 15
"""The highest security suite id: bits 0..3 of the security control byte (Green Book 9.2.7.2.3)."""

MAX_GROUP_COUNT = 100_000
"""Upper bound of ``count`` in one ``[meters:NAME]`` group."""

HDLC_ADDRESS_SIZES: Mapping[int, tuple[int, int]] = {2: (0x10, 0x7D), 4: (0x0010, 0x3FFD)}
"""``address_size`` (octets of an HDLC server address) -> the physical (lower) addresses a
meter may have: one octet of lower address with 2, two with 4 (Green Book 8.4.2.3)."""

DEFAULT_PHYSICAL_ADDRESS = 17
DEFAULT_ADDRESS_SIZE = 2

DEFAULT_CONSOLE = "tcp:8080:interface=127.0.0.1"
DEFAULT_STATE_DIR = "var/state"
DEFAULT_PACKET_LOG = "var/log/packets.jsonl"
DEFAULT_PACKET_LOG_MAX = 100_000_000
DEFAULT_PACKET_LOG_KEEP = 5
#: Client connections one process serving meters accepts in all.
DEFAULT_MAX_CONNECTIONS = 4000
DEFAULT_IMAGE_MAX_SIZE = 1 << 20
DEFAULT_ACTIVATION_DELAY = 5.0
#: Where meters may push (Push setup, class 40) unless lab.ini says otherwise.
DEFAULT_PUSH_DESTINATIONS = (ipaddress.ip_network("127.0.0.0/8"),)
#: ``transport`` values of a meter group: the IEC 62056-47 wrapper over TCP or over UDP, or
#: HDLC frames (IEC 62056-46) over TCP.
WRAPPER = "wrapper"
UDP_WRAPPER = "udp-wrapper"
HDLC = "hdlc"
TRANSPORTS: tuple[str, ...] = (WRAPPER, UDP_WRAPPER, HDLC)
DEFAULT_SERIAL = 1000001
DEFAULT_SYSTEM_TITLE = bytes.fromhex("4D4D4D0000BC614E")

_SIMULATOR_KEYS = (
    "console", "console_token", "state_dir", "packet_log", "packet_log_max", "packet_log_keep", "workers",
    "max_connections", "shard",
    "max_connections", "push_destinations", "scenario",
)
_METERS_KEYS = (
    "count",
    "interface",
    "port",
    "model",
    "serial",
    "system_title",
    "max_clients",
    "inactivity_timeout",
    "load_profile_interval",
    "load_profile_days",
    "seed",
    "anomalies",
    "faults",
    "associations",
    "transport",
    "push_association",
    "gateway",
    "physical_address",
    "address_size",
    "image_max_size",
    "image_digest",
    "activation_delay",
)
_HDLC_KEYS = ("gateway", "physical_address", "address_size")
_ASSOCIATION_KEYS = (
    "client_sap",
    "authentication",
    "context",
    "security",
    "security_suite",
    "access",
    "lls_password",
    "hls_secret",
    "authentication_key",
    "block_cipher_key",
    "master_key",
    "client_public_key",
    "client_certificate",
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DURATION = re.compile(r"(?P<number>[0-9.eE+-]+?)\s*(?P<unit>ms|s)")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_SHARD = re.compile(r"(?P<shard>\d+)\s*/\s*(?P<shards>\d+)")
_SIZE = re.compile(r"(?P<number>[^A-Za-z\s]+)\s*(?P<unit>[A-Za-z]*)")
_SIZE_UNITS: Mapping[str, int] = {
    "": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30,
}
_TCP_ENDPOINTS = frozenset({"tcp", "tcp6", "ssl"})


@dataclass(frozen=True, slots=True)
class AnomalyRate:
    """A data anomaly the simulator injects into ``rate`` (0..1) of the values it generates."""

    kind: str
    rate: float


@dataclass(frozen=True, slots=True)
class Fault:
    """A transport fault the server injects.

    ``delay``: every response waits a uniform time in ``min_delay..max_delay``
    seconds (``rate`` is 1.0). ``offline``: ``rate`` is the fraction of the
    group's meters kept offline. ``drop`` and ``timeout``: ``rate`` is the
    probability that a request is dropped or left unanswered.
    """

    kind: str
    rate: float
    min_delay: float = 0.0
    max_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """How a group's meters take firmware images (Image transfer, class 18):
    the largest image in bytes, what verification checks (``sha256-trailer``:
    the last 32 bytes are the SHA-256 of the rest; ``none``; or the image's
    SHA-256 in hex) and the seconds between image_activate and the restart
    on the new firmware."""

    max_size: int = DEFAULT_IMAGE_MAX_SIZE
    digest: str = "sha256-trailer"
    activation_delay: float = DEFAULT_ACTIVATION_DELAY


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """The ``[simulator]`` section; ``packet_log`` and ``workers`` are None for "-" and "auto".

    The packet log rotates at ``packet_log_max`` bytes (0: never), keeping
    ``packet_log_keep`` rotated files. A process serving meters accepts
    ``max_connections`` client connections in all. ``shard`` is ``(i, n)``:
    this instance serves the meters with ``index % n == i`` of every group.
    """

    console: str = DEFAULT_CONSOLE
    console_token: str | None = None
    state_dir: str = DEFAULT_STATE_DIR
    packet_log: str | None = DEFAULT_PACKET_LOG
    workers: int | None = None
    packet_log_max: int = DEFAULT_PACKET_LOG_MAX
    packet_log_keep: int = DEFAULT_PACKET_LOG_KEEP
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    shard: tuple[int, int] = (0, 1)
    push_destinations: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = DEFAULT_PUSH_DESTINATIONS
    #: The scenario file (``simulator.scenario``), relative to lab.ini's folder until ``load_lab``; None: none.
    scenario: str | None = None


@dataclass(frozen=True, slots=True)
class AssociationConfig:
    """An ``[association:NAME]`` section: one client SAP, its mechanism, context and keys.

    The secrets stay out of ``repr`` so that logging a configuration leaks none.
    """

    name: str
    client_sap: int
    authentication: str = "none"
    context: str = "ln"
    security: str = "none"
    security_suite: int = 0
    access: str = "read"
    lls_password: bytes | None = field(default=None, repr=False)
    hls_secret: bytes | None = field(default=None, repr=False)
    authentication_key: bytes | None = field(default=None, repr=False)
    block_cipher_key: bytes | None = field(default=None, repr=False)
    master_key: bytes | None = field(default=None, repr=False)
    client_public_key: bytes | None = None
    """HLS-ECDSA: the client's public key X || Y, for any client system title."""
    client_certificate: bytes | None = field(default=None, repr=False)
    """HLS-ECDSA: the client's certificate (DER), for the system title it names."""

    @property
    def application_context(self) -> ApplicationContextName:
        """The application context id of ``context`` (Green Book 9.4.2.2.2)."""
        return CONTEXTS[self.context]


@dataclass(frozen=True, slots=True)
class MeterGroup:
    """A ``[meters:NAME]`` section: ``count`` identical meters, numbered from 0.

    ``associations`` names the group's own associations; None means every
    ``[association:NAME]`` of the file applies. Without ``serial`` or
    ``system_title`` in the file, a group continues the numbering of the group
    above it (``parse_lab``).
    """

    name: str
    count: int = 1
    interface: str = "127.0.0.1"
    port: int = 4059
    model: tuple[str, ...] = ("is15959-abt",)
    serial: int = DEFAULT_SERIAL
    system_title: bytes = DEFAULT_SYSTEM_TITLE
    max_clients: int = 10
    inactivity_timeout: float = 120.0
    load_profile_interval: int = 15
    load_profile_days: int = 35
    seed: int = 42
    anomalies: tuple[AnomalyRate, ...] = ()
    faults: tuple[Fault, ...] = ()
    associations: tuple[str, ...] | None = None
    transport: str = "wrapper"
    push_association: str | None = None
    gateway: int | None = None
    """The port all the group's meters share, chosen by physical address (HDLC only); None: a port each."""
    physical_address: int = DEFAULT_PHYSICAL_ADDRESS
    address_size: int = DEFAULT_ADDRESS_SIZE
    image_policy: ImagePolicy = ImagePolicy()

    @property
    def listening(self) -> tuple[int, int]:
        """The group's ports: (first, how many); a gateway's one port."""
        return (self.gateway, 1) if self.gateway is not None else (self.port, self.count)


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """One meter of a group: meter ``index`` of group ``group``, with its own port, serial, title and seed."""

    id: str
    group: str
    index: int
    interface: str
    port: int
    model: tuple[str, ...]
    serial: int
    system_title: bytes
    max_clients: int
    inactivity_timeout: float
    load_profile_interval: int
    load_profile_days: int
    seed: int
    anomalies: tuple[AnomalyRate, ...]
    faults: tuple[Fault, ...]
    associations: tuple[AssociationConfig, ...]
    transport: str = "wrapper"
    #: Where the meter may push (lab.ini ``[simulator] push_destinations``).
    push_destinations: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = DEFAULT_PUSH_DESTINATIONS
    #: The association whose client SAP, security policy and keys a push uses (None: plain pushes).
    push_association: AssociationConfig | None = None
    gateway: bool = False
    """True when the meter is behind its group's gateway (``port`` is then the gateway's)."""
    physical_address: int = DEFAULT_PHYSICAL_ADDRESS
    address_size: int = DEFAULT_ADDRESS_SIZE
    image_policy: ImagePolicy = ImagePolicy()


@dataclass(frozen=True, slots=True)
class Lab:
    """A whole checked ``lab.ini``."""

    simulator: SimulatorConfig
    groups: tuple[MeterGroup, ...]
    associations: tuple[AssociationConfig, ...]

    def served(self, group: MeterGroup) -> range:
        """The indexes of ``group``'s meters this instance serves (its ``shard``
        i of n): those with index % n == i. The meters behind a gateway share
        its one port, so they stay together: the k-th gateway group of the file
        (from 0) is served whole by shard k % n."""
        shard, shards = self.simulator.shard
        if group.gateway is not None:
            ordinal = [other.name for other in self.groups if other.gateway is not None].index(group.name)
            return range(group.count if ordinal % shards == shard else 0)
        return range(shard, group.count, shards)

    def meters(self, hosted: Callable[[int], bool] | None = None,
               groups: Container[str] | None = None) -> Iterator[MeterConfig]:
        """Every meter of every group this instance serves (its ``shard``), in
        file order: meter i listens on port + i, has serial + i, seed + i, and
        the group's system title with i added to its last 4 bytes (big-endian,
        modulo 2**32). HDLC meters have physical address + i; behind a gateway,
        every meter's port is the gateway's (see ``served`` for shards). Only those whose position in that order ``hosted``
        accepts, of the ``groups`` named, when given (the others are not made)."""
        by_name = {association.name: association for association in self.associations}
        position = -1
        for group in self.groups:
            indexes = self.served(group)
            if groups is not None and group.name not in groups:
                position += len(indexes)
                continue
            if group.associations is None:
                associations = self.associations
            else:
                associations = tuple(by_name[name] for name in group.associations)
            for index in indexes:
                position += 1
                if hosted is not None and not hosted(position):
                    continue
                yield MeterConfig(
                    id=meter_id(group.name, index),
                    group=group.name,
                    index=index,
                    interface=group.interface,
                    port=group.gateway if group.gateway is not None else group.port + index,
                    model=group.model,
                    serial=group.serial + index,
                    system_title=system_title_at(group.system_title, index),
                    max_clients=group.max_clients,
                    inactivity_timeout=group.inactivity_timeout,
                    load_profile_interval=group.load_profile_interval,
                    load_profile_days=group.load_profile_days,
                    seed=group.seed + index,
                    anomalies=group.anomalies,
                    faults=group.faults,
                    associations=associations,
                    transport=group.transport,
                    push_destinations=self.simulator.push_destinations,
                    push_association=None if group.push_association is None else by_name[group.push_association],
                    gateway=group.gateway is not None,
                    physical_address=group.physical_address + index,
                    address_size=group.address_size,
                    image_policy=group.image_policy,
                )


def inside(host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """Whether ``host`` is an IP address inside one of ``networks`` (``push_destinations``)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def system_title_at(first: bytes, index: int) -> bytes:
    """The system title ``index`` places after ``first``: ``index`` added to its
    last 4 bytes (big-endian, modulo 2**32)."""
    tail = int.from_bytes(first[4:], "big")
    return first[:4] + ((tail + index) & 0xFFFFFFFF).to_bytes(4, "big")


# --- value grammars (each raises ValueError with the problem as its message) ---


def _split_list(text: str) -> list[str]:
    """Comma-separated items, stripped; an empty text is an empty list."""
    if not text.strip():
        return []
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        raise ValueError(f"empty item in the list {text!r}")
    return items


def _number(text: str) -> float:
    """A non-negative decimal number (no sign, no inf or nan)."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"expected a non-negative number, got {text!r}")
    return float(text)


def parse_fraction(text: str) -> float:
    """A fraction 0..1, written ``0.1`` or ``10%``."""
    text = text.strip()
    if text.endswith("%"):
        value = _number(text[:-1]) / 100
    else:
        value = _number(text)
    if value > 1:
        raise ValueError(f"{text!r} is above 1 (100%)")
    return value


def _duration(text: str) -> float:
    """A duration with its unit, ``50ms`` or ``0.2s``, in seconds."""
    text = text.strip()
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a duration such as 50ms or 0.2s, got {text!r}")
    value = _number(match["number"])
    return value / 1000 if match["unit"] == "ms" else value


def _seconds(text: str) -> float:
    """A duration in seconds: a plain number, or with its unit (``500ms``, ``5s``)."""
    text = text.strip()
    return _number(text) if _NUMBER.fullmatch(text) else _duration(text)


def _image_digest(text: str) -> str:
    """``sha256-trailer``, ``none`` or a SHA-256 in hex (64 digits)."""
    text = text.strip()
    if text in ("sha256-trailer", "none") or (len(text) == 64 and _HEX.fullmatch(text)):
        return text.lower() if len(text) == 64 else text
    raise ValueError(f"expected sha256-trailer, none or a SHA-256 in hex (64 digits), got {text!r}")


def _kind_and_value(item: str, kinds: tuple[str, ...], what: str, example: str) -> tuple[str, str]:
    """Split one ``KIND:VALUE`` item and check its kind."""
    kind, sep, value = item.partition(":")
    kind = kind.strip()
    if not sep:
        raise ValueError(f"{item!r}: expected KIND:VALUE, e.g. {example}")
    if kind not in kinds:
        raise ValueError(f"unknown {what} {kind!r}; expected one of {', '.join(kinds)}")
    return kind, value.strip()


def parse_anomalies(text: str) -> tuple[AnomalyRate, ...]:
    """Parse ``negative:0.01, boundary:0.001, gaps:2%``: each kind at most once, rates 0..1.

    An empty text means no anomaly. Raises ValueError naming the faulty item.
    """
    anomalies: list[AnomalyRate] = []
    seen: set[str] = set()
    for item in _split_list(text):
        kind, value = _kind_and_value(item, ANOMALY_KINDS, "anomaly", "gaps:0.02")
        if kind in seen:
            raise ValueError(f"anomaly {kind!r} is given twice")
        seen.add(kind)
        try:
            rate = parse_fraction(value)
        except ValueError as exc:
            raise ValueError(f"{kind}: {exc}") from None
        anomalies.append(AnomalyRate(kind, rate))
    return tuple(anomalies)


def parse_faults(text: str) -> tuple[Fault, ...]:
    """Parse ``delay:50ms..200ms, offline:10%, drop:0.001, timeout:0.001``.

    ``delay`` takes one duration or a ``MIN..MAX`` range (units ms or s);
    ``offline`` a fraction; ``drop`` and ``timeout`` per-request probabilities
    (``0.001`` or ``0.1%``). Each kind at most once; an empty text means no
    fault. Raises ValueError naming the faulty item.
    """
    faults: list[Fault] = []
    seen: set[str] = set()
    for item in _split_list(text):
        kind, value = _kind_and_value(item, FAULT_KINDS, "fault", "drop:0.001")
        if kind in seen:
            raise ValueError(f"fault {kind!r} is given twice")
        seen.add(kind)
        try:
            if kind == "delay":
                low_text, sep, high_text = value.partition("..")
                low = _duration(low_text)
                high = _duration(high_text) if sep else low
                if high < low:
                    raise ValueError(f"the range {value!r} ends before it starts")
                faults.append(Fault(kind, 1.0, low, high))
            else:
                faults.append(Fault(kind, parse_fraction(value)))
        except ValueError as exc:
            raise ValueError(f"{kind}: {exc}") from None
    return tuple(faults)


def format_anomalies(anomalies: Sequence[AnomalyRate]) -> str:
    """The text ``parse_anomalies`` reads back, e.g. ``gaps:0.02, negative:0.01``."""
    return ", ".join(f"{a.kind}:{a.rate:g}" for a in anomalies)


def format_faults(faults: Sequence[Fault]) -> str:
    """The text ``parse_faults`` reads back, e.g. ``delay:50ms..200ms, drop:0.001``."""
    return ", ".join(f"delay:{f.min_delay * 1000:g}ms..{f.max_delay * 1000:g}ms" if f.kind == "delay"
                     else f"{f.kind}:{f.rate:g}" for f in faults)


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """A parser of decimal integers in ``low..high`` (no upper bound when None)."""

    def parse(text: str) -> int:
        text = text.strip()
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"expected an integer, got {text!r}")
        value = int(text)
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f"at least {low}"
            raise ValueError(f"{value} is out of range: must be {bound}")
        return value

    return parse


def _int_choice(choices: tuple[int, ...]) -> Callable[[str], int]:
    """A parser of an integer that must be one of ``choices``."""
    parse_int = _integer(min(choices), max(choices))

    def parse(text: str) -> int:
        value = parse_int(text)
        if value not in choices:
            raise ValueError(f"{value} is not allowed: must be one of {', '.join(map(str, choices))}")
        return value

    return parse


def _choice(choices: Mapping[str, object] | tuple[str, ...]) -> Callable[[str], str]:
    """A parser of a word that must be one of ``choices``."""

    def parse(text: str) -> str:
        text = text.strip()
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {' | '.join(choices)}")
        return text

    return parse


def _text(text: str) -> str:
    """A non-empty value."""
    text = text.strip()
    if not text:
        raise ValueError("is empty")
    return text


def _optional_text(text: str) -> str | None:
    """A value, or None when empty."""
    return text.strip() or None


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A comma-separated list of CIDR networks, e.g. ``127.0.0.0/8, 10.1.0.0/16``."""
    networks = []
    for item in _split_list(text):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            raise ValueError(f"{item!r} is not a network in CIDR notation (e.g. 127.0.0.0/8)") from None
    return tuple(networks)


def _packet_log(text: str) -> str | None:
    """A file path, or None for ``-``."""
    path = _text(text)
    return None if path == "-" else path


def _size(text: str) -> int:
    """A size in bytes: ``1000000``, or a number with a unit KB, MB, GB (powers
    of 1000) or KiB, MiB, GiB (powers of 1024), in any case: ``100MB``."""
    text = text.strip()
    match = _SIZE.fullmatch(text)
    unit = None if match is None else _SIZE_UNITS.get(match["unit"].lower())
    if match is None or unit is None:
        raise ValueError(f"expected a size such as 100MB, 64MiB or 1000000 (bytes), got {text!r}")
    if unit == 1:
        return _integer(0)(match["number"])
    return round(_number(match["number"]) * unit)


def _shard(text: str) -> tuple[int, int]:
    """``i/n``: shard i of n, 0 <= i < n."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected i/n such as 0/4, got {text.strip()!r}")
    shard, shards = int(match["shard"]), int(match["shards"])
    if shards < 1 or shard >= shards:
        raise ValueError(f"shard {shard} of {shards}: expected 0 <= i < n")
    return shard, shards


def _workers(text: str) -> int | None:
    """``auto`` (None) or a number of worker processes."""
    text = text.strip()
    return None if text == "auto" else _integer(1)(text)


def meter_id(group: str, index: int) -> str:
    """A meter's id: its group's name and its index in the group (``abt-3``)."""
    return f"{group}-{index}"


def group_of(meter: str) -> str:
    """The group of meter id ``meter`` (``meter_id``)."""
    return meter.rpartition("-")[0]


#: The keys of an association a user may change (the console's PATCH, a scenario's key-change).
CHANGEABLE_KEYS = ("lls_password", "hls_secret", "authentication_key", "block_cipher_key", "master_key")


def parse_hex(text: str) -> bytes:
    """Bytes written as hex digits, two per byte, no separators."""
    text = text.strip()
    if not _HEX.fullmatch(text):
        raise ValueError(f"expected hex digits, two per byte, got {text!r}")
    return bytes.fromhex(text)


def _optional_hex(text: str) -> bytes | None:
    """Hex bytes, or None when empty."""
    return parse_hex(text) if text.strip() else None


def _read_file(path: str) -> bytes:
    """The bytes of the file at ``path`` (relative to the working directory)."""
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror or exc}") from None


def _public_key(text: str) -> bytes | None:
    """An elliptic-curve public key as X || Y (Green Book 9.2.3): written in
    hex, or the path of a PEM or DER SubjectPublicKeyInfo file; None when
    empty. Whether it is a point of the association's curve is checked against
    the installed security suites (``dlmstw.plugins.registry.check_lab``)."""
    text = text.strip()
    if not text:
        return None
    if _HEX.fullmatch(text):
        return bytes.fromhex(text)
    data = _read_file(text)
    try:
        key = (serialization.load_pem_public_key(data) if data.lstrip().startswith(b"-----BEGIN")
               else serialization.load_der_public_key(data))
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{text!r} holds no PEM or DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{text!r} holds no elliptic-curve public key")
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]


def _certificate(text: str) -> x509.Certificate | None:
    """The X.509 certificate in the PEM or DER file at ``text``, whose subject's
    commonName is a system title of 16 hex digits and whose keyUsage is
    digitalSignature (Green Book 9.2.6, certificate profile); None when empty."""
    path = text.strip()
    if not path:
        return None
    data = _read_file(path)
    try:
        certificate = (x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----BEGIN")
                       else x509.load_der_x509_certificate(data))
        public_key, extensions = certificate.public_key(), certificate.extensions
    except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm):
        raise ValueError(f"{path!r} holds no PEM or DER X.509 certificate") from None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not re.fullmatch(r"[0-9A-Fa-f]{16}", str(names[0].value)):
        raise ValueError(f"{path!r}: the subject's commonName is not a system title of 16 hex digits")
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.digital_signature:
        raise ValueError(f"{path!r}: keyUsage is not digitalSignature")
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{path!r} certifies no elliptic-curve key")
    return certificate


def _system_title(text: str) -> bytes:
    """A system title: 8 bytes as 16 hex digits (Green Book, system title: 3-letter manufacturer id, then serial)."""
    title = parse_hex(text)
    if len(title) != 8:
        raise ValueError(f"expected 16 hex digits (8 bytes), got {len(text.strip())} digits")
    return title


def parse_password(text: str) -> bytes | None:
    """An LLS password: printable ASCII as written, or ``hex:`` and hex digits for any bytes; None when empty."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("hex:"):
        return parse_hex(text[4:])
    if not all(" " <= char <= "~" for char in text):
        raise ValueError("not printable ASCII; write other bytes as hex:0102...")
    return text.encode("ascii")


def _interface(text: str) -> str:
    """An IPv4 or IPv6 address literal to listen on."""
    text = text.strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"expected an IPv4 or IPv6 address, got {text!r}") from None
    return text


def _name(text: str) -> str:
    """A name of letters, digits, '-', '_' and '.' (a plugin's or a section's)."""
    name = text.strip()
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a name (letters, digits, '-', '_', '.')")
    return name


def _optional_name(text: str) -> str | None:
    """A section name, or None when empty."""
    return _name(text) if text.strip() else None


def _names(text: str) -> tuple[str, ...]:
    """Comma-separated names, each once."""
    names = [_name(item) for item in _split_list(text)]
    if len(set(names)) != len(names):
        raise ValueError(f"a name is listed twice in {text!r}")
    return tuple(names)


#: How lab.ini's ``model`` names a device template file (README "Device templates").
TEMPLATE_PREFIX: Final = "template:"


def _models(folder: str) -> Callable[[str], tuple[str, ...]]:
    """The grammar of ``model``: object set names, or ``template:FILE`` with
    FILE relative to ``folder`` (lab.ini's), kept as ``template:ABSOLUTE-PATH``."""
    def parse(text: str) -> tuple[str, ...]:
        models = []
        for item in _split_list(text):
            if item.startswith(TEMPLATE_PREFIX):
                file = item[len(TEMPLATE_PREFIX):].strip()
                if not file:
                    raise ValueError("template: needs a file, e.g. template:acme.toml")
                models.append(TEMPLATE_PREFIX + os.path.abspath(os.path.join(folder, file)))
            else:
                models.append(_name(item))
        if len(set(models)) != len(models):
            raise ValueError(f"a model is listed twice in {text!r}")
        return tuple(models)
    return parse


def _optional_names(text: str) -> tuple[str, ...] | None:
    """Comma-separated names, or None when empty."""
    return _names(text) or None


def _strports_fields(description: str) -> list[str]:
    """Split a strports description on ``:``, honouring ``\\`` escapes (Twisted endpoint syntax)."""
    fields: list[str] = []
    current: list[str] = []
    chars = iter(description)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def _console_endpoint(description: str) -> tuple[str, int | None, str | None]:
    """The endpoint type, TCP port and ``interface=`` of a strports description.

    Port and interface are None where the type has none or the description omits
    the interface (listening on every address).
    """
    fields = _strports_fields(description.strip())
    kind = fields[0]
    if not kind:
        raise ValueError("expected a strports description such as tcp:8080:interface=127.0.0.1")
    if kind not in _TCP_ENDPOINTS:
        return kind, None, None
    positional = [item for item in fields[1:] if "=" not in item]
    options = dict(item.split("=", 1) for item in fields[1:] if "=" in item)
    port_text = options.get("port", positional[0] if positional else None)
    if port_text is None:
        raise ValueError(f"{description.strip()!r} names no port")
    port = _integer(0, 65535)(port_text)
    return kind, port, options.get("interface")


def _console(text: str) -> str:
    """A strports description whose TCP port, if any, is valid."""
    description = _text(text)
    _console_endpoint(description)
    return description


def _console_is_local(description: str) -> bool:
    """True when the console listens on a UNIX socket or a loopback address only."""
    kind, _, interface = _console_endpoint(description)
    if kind == "unix":
        return True
    if kind not in _TCP_ENDPOINTS or interface is None:
        return False
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False


def _interfaces_clash(first: str, second: str) -> bool:
    """True when listening on both addresses could take the same port.

    An unspecified address takes the port on every address of its family, and
    ``::`` may be dual-stack, so it clashes with every address.
    """
    a = ipaddress.ip_address(first)
    b = ipaddress.ip_address(second)
    if a == b:
        return True
    for x in (a, b):
        if x.is_unspecified and x.version == 6:
            return True
    return a.version == b.version and (a.is_unspecified or b.is_unspecified)


def _ranges_overlap(first: int, first_count: int, second: int, second_count: int) -> bool:
    """True when ``first..first+first_count-1`` and ``second..second+second_count-1`` meet."""
    return first < second + second_count and second < first + first_count


def _titles_overlap(first: bytes, first_count: int, second: bytes, second_count: int) -> bool:
    """True when two groups' system titles meet: same first 4 bytes, and the
    last 4 bytes' ranges meet modulo 2**32 (they wrap, as ``Lab.meters`` does)."""
    if first[:4] != second[:4]:
        return False
    a = int.from_bytes(first[4:], "big")
    b = int.from_bytes(second[4:], "big")
    return (b - a) % (1 << 32) < first_count or (a - b) % (1 << 32) < second_count


# --- sections ---


class _Section:
    """The raw keys of one section; every error names the file, section and key."""

    def __init__(self, path: str, name: str, raw: Mapping[str, str], known: tuple[str, ...]) -> None:
        self.path = path
        self.name = name
        self.raw = raw
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(key, known, 1)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
                raise ConfigError(path, name, key, f"unknown key; {hint}")

    def get(self, key: str, parse: Callable[[str], _T], default: _D) -> _T | _D:
        """The parsed value of ``key``, or ``default`` when absent."""
        text = self.raw.get(key)
        if text is None:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            raise ConfigError(self.path, self.name, key, str(exc)) from None

    def error(self, key: str | None, problem: str) -> ConfigError:
        """A ConfigError about ``key`` of this section."""
        return ConfigError(self.path, self.name, key, problem)


def _simulator(section: _Section) -> SimulatorConfig:
    """Read ``[simulator]``; a console beyond loopback needs a token (DESIGN.md, lab.ini)."""
    console = section.get("console", _console, DEFAULT_CONSOLE)
    console_token = section.get("console_token", _optional_text, None)
    if console_token is None and not _console_is_local(console):
        raise section.error("console_token", f"required because console {console!r} listens beyond loopback")
    return SimulatorConfig(
        console=console,
        console_token=console_token,
        state_dir=section.get("state_dir", _text, DEFAULT_STATE_DIR),
        packet_log=section.get("packet_log", _packet_log, DEFAULT_PACKET_LOG),
        workers=section.get("workers", _workers, None),
        packet_log_max=section.get("packet_log_max", _size, DEFAULT_PACKET_LOG_MAX),
        packet_log_keep=section.get("packet_log_keep", _integer(1), DEFAULT_PACKET_LOG_KEEP),
        max_connections=section.get("max_connections", _integer(1), DEFAULT_MAX_CONNECTIONS),
        shard=section.get("shard", _shard, (0, 1)),
        push_destinations=section.get("push_destinations", _networks, DEFAULT_PUSH_DESTINATIONS),
        scenario=section.get("scenario", _optional_text, None),
    )


def _group(section: _Section, name: str, above: MeterGroup | None) -> MeterGroup:
    """Read one ``[meters:NAME]`` section; without ``serial`` or ``system_title``
    it continues after the group ``above`` it (the first group starts at
    DEFAULT_SERIAL and DEFAULT_SYSTEM_TITLE)."""
    if above is None:
        serial, system_title = DEFAULT_SERIAL, DEFAULT_SYSTEM_TITLE
    else:
        serial, system_title = above.serial + above.count, system_title_at(above.system_title, above.count)
    count = section.get("count", _integer(1, MAX_GROUP_COUNT), 1)
    port = section.get("port", _integer(1, 65535), 4059)
    if port + count - 1 > 65535:
        raise section.error("port", f"the group's ports {port}..{port + count - 1} (count = {count}) go past 65535")
    model = section.get("model", _models(os.path.dirname(section.path)), ("is15959-abt",))
    if not model:
        raise section.error("model", "names no object set")
    transport = section.get("transport", _choice(TRANSPORTS), WRAPPER)
    if transport != HDLC:
        for key in _HDLC_KEYS:
            if key in section.raw:
                why = " (the wrapper has no physical address)" if key == "gateway" else ""
                raise section.error(key, f"needs transport = hdlc{why}")
    gateway = section.get("gateway", _integer(1, 65535), None)
    if gateway is not None and "port" in section.raw:
        raise section.error("port", f"the group's meters are behind gateway = {gateway}: give one or the other")
    address_size = section.get("address_size", _int_choice(tuple(HDLC_ADDRESS_SIZES)), DEFAULT_ADDRESS_SIZE)
    physical = section.get("physical_address", _integer(0), DEFAULT_PHYSICAL_ADDRESS)
    low, high = HDLC_ADDRESS_SIZES[address_size]
    if transport == HDLC and (not low <= physical or physical + count - 1 > high):
        raise section.error("physical_address", f"physical addresses {physical}..{physical + count - 1} "
                            f"(count = {count}) must lie in 0x{low:X}..0x{high:X} ({low}..{high}) with "
                            f"address_size = {address_size}")
    return MeterGroup(
        name=name,
        count=count,
        interface=section.get("interface", _interface, "127.0.0.1"),
        port=port,
        model=model,
        serial=section.get("serial", _integer(0), serial),
        system_title=section.get("system_title", _system_title, system_title),
        max_clients=section.get("max_clients", _integer(1), 10),
        inactivity_timeout=section.get("inactivity_timeout", _number, 120.0),
        load_profile_interval=section.get("load_profile_interval", _int_choice((5, 15)), 15),
        load_profile_days=section.get("load_profile_days", _integer(1, 35), 35),
        seed=section.get("seed", _integer(0), 42),
        anomalies=section.get("anomalies", parse_anomalies, ()),
        faults=section.get("faults", parse_faults, ()),
        associations=section.get("associations", _optional_names, None),
        transport=transport,
        push_association=section.get("push_association", _optional_name, None),
        gateway=gateway,
        physical_address=physical,
        address_size=address_size,
        image_policy=ImagePolicy(
            max_size=section.get("image_max_size", _size, DEFAULT_IMAGE_MAX_SIZE),
            digest=section.get("image_digest", _image_digest, "sha256-trailer"),
            activation_delay=section.get("activation_delay", _seconds, DEFAULT_ACTIVATION_DELAY)),
    )


def _association(section: _Section, name: str) -> AssociationConfig:
    """Read one ``[association:NAME]`` section and check that its context and keys fit:
    ciphered APDUs need the ciphering context and both keys (Green Book 9.2.7.2,
    security policy; 9.4.2.2.2, application context names).

    The mechanism and the security suite are plugins: that they are installed,
    and that the keys fit them, is checked against the plugins found
    (``dlmstw.plugins.registry.check_lab``).
    """
    if "client_sap" not in section.raw:
        raise section.error("client_sap", "required key is missing")
    association = AssociationConfig(
        name=name,
        client_sap=section.get("client_sap", _integer(1, 65535), 0),
        authentication=section.get("authentication", _name, "none"),
        context=section.get("context", _choice(CONTEXTS), "ln"),
        security=section.get("security", _choice(SECURITY_POLICIES), "none"),
        security_suite=section.get("security_suite", _integer(0, MAX_SECURITY_SUITE), 0),
        access=section.get("access", _choice(ACCESS_LEVELS), "read"),
        lls_password=section.get("lls_password", parse_password, None),
        hls_secret=section.get("hls_secret", _optional_hex, None),
        authentication_key=section.get("authentication_key", _optional_hex, None),
        block_cipher_key=section.get("block_cipher_key", _optional_hex, None),
        master_key=section.get("master_key", _optional_hex, None),
    )
    public_key = section.get("client_public_key", _public_key, None)
    certificate = section.get("client_certificate", _certificate, None)
    if public_key is not None and certificate is not None:
        raise section.error("client_certificate", "give client_public_key or client_certificate, not both")
    association = replace(association, client_public_key=public_key, client_certificate=None if certificate is None
                          else certificate.public_bytes(serialization.Encoding.DER))
    if association.security != "none" and association.context != "ln-ciphered":
        raise section.error("security", f"security = {association.security} needs context = ln-ciphered")
    if association.context == "ln-ciphered":
        for key in ("authentication_key", "block_cipher_key"):
            if getattr(association, key) is None:
                raise section.error(key, "required when context = ln-ciphered")
    return association


def _section_name(path: str, section: str, kind: str, name: str) -> str:
    """Check the NAME of a ``[KIND:NAME]`` section header."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            path, section, None, f"the name after '{kind}:' must be letters, digits, '-', '_' or '.', not {name!r}"
        )
    return name


def _check_lab(path: str, lab: Lab) -> None:
    """Checks across sections: SAPs, association names, ports, serials and system titles never collide."""
    if not lab.groups:
        raise ConfigError(path, None, None, "no [meters:NAME] section: the lab has no meter")
    if not lab.associations:
        raise ConfigError(path, None, None, "no [association:NAME] section: no client could connect")
    saps: dict[int, str] = {}
    for association in lab.associations:
        section = f"association:{association.name}"
        if association.client_sap in saps:
            raise ConfigError(
                path,
                section,
                "client_sap",
                f"{association.client_sap} is already used by [{saps[association.client_sap]}]",
            )
        saps[association.client_sap] = section
    names = {association.name for association in lab.associations}
    for index, group in enumerate(lab.groups):
        section = f"meters:{group.name}"
        for name in group.associations or ():
            if name not in names:
                raise ConfigError(path, section, "associations", f"no [association:{name}] section")
        if group.push_association is not None:
            if group.push_association not in (names if group.associations is None else group.associations):
                raise ConfigError(path, section, "push_association",
                                  f"[association:{group.push_association}] is not one of the group's associations")
        for other in lab.groups[:index]:
            where = f"[meters:{other.name}]"
            (first, count), (other_first, other_count) = group.listening, other.listening
            if _interfaces_clash(group.interface, other.interface) and _ranges_overlap(
                first, count, other_first, other_count
            ):
                raise ConfigError(
                    path,
                    section,
                    "gateway" if group.gateway is not None else "port",
                    f"ports {first}..{first + count - 1} on {group.interface} overlap {where}"
                    f" ports {other_first}..{other_first + other_count - 1} on {other.interface}",
                )
            if _ranges_overlap(group.serial, group.count, other.serial, other.count):
                raise ConfigError(path, section, "serial", f"serials overlap those of {where}")
            if _titles_overlap(group.system_title, group.count, other.system_title, other.count):
                raise ConfigError(path, section, "system_title", f"system titles overlap those of {where}")
    _check_console_port(path, lab)


def _check_console_port(path: str, lab: Lab) -> None:
    """The console's TCP port is no meter's port."""
    kind, port, interface = _console_endpoint(lab.simulator.console)
    if port is None or port == 0:
        return
    if interface is None:
        interface = "::" if kind == "tcp6" else "0.0.0.0"
    elif interface == "localhost":
        interface = "127.0.0.1"
    try:
        ipaddress.ip_address(interface)
    except ValueError:
        return
    for group in lab.groups:
        first, count = group.listening
        if _interfaces_clash(interface, group.interface) and first <= port < first + count:
            raise ConfigError(path, "simulator", "console", f"port {port} is a meter port of [meters:{group.name}]")


class _KeyCaseParser(configparser.ConfigParser):
    """A ConfigParser that keeps the case of keys."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def parse_lab(text: str, path: str = "<string>") -> Lab:
    """Parse and check the text of a lab.ini; ``path`` only names the file in errors.

    Paths (``state_dir``, ``packet_log``) are kept as written. Raises ConfigError.
    """
    # default_section "" can never match a header, so a [DEFAULT] section is an
    # ordinary (unknown) section rather than defaults leaking into every section.
    parser = _KeyCaseParser(inline_comment_prefixes=(";", "#"), interpolation=None, default_section="")
    try:
        parser.read_string(text, source=path)
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(path, exc.section, None, f"line {exc.lineno}: the section appears twice") from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(path, exc.section, exc.option, f"line {exc.lineno}: the key appears twice") from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(
            path, None, None, f"line {exc.lineno}: {exc.line.strip()!r} comes before any [section]"
        ) from None
    except configparser.ParsingError as exc:
        lineno, line = exc.errors[0]
        raise ConfigError(path, None, None, f"line {lineno}: cannot parse {line}; expected KEY = VALUE") from None
    simulator = SimulatorConfig()
    groups: list[MeterGroup] = []
    associations: list[AssociationConfig] = []
    for name in parser.sections():
        raw = dict(parser.items(name))
        kind, sep, rest = name.partition(":")
        if name == "simulator":
            simulator = _simulator(_Section(path, name, raw, _SIMULATOR_KEYS))
        elif sep and kind == "meters":
            group_name = _section_name(path, name, kind, rest)
            above = groups[-1] if groups else None
            groups.append(_group(_Section(path, name, raw, _METERS_KEYS), group_name, above))
        elif sep and kind == "association":
            association_name = _section_name(path, name, kind, rest)
            associations.append(_association(_Section(path, name, raw, _ASSOCIATION_KEYS), association_name))
        else:
            raise ConfigError(
                path, name, None, "unknown section; expected [simulator], [meters:NAME] or [association:NAME]"
            )
    lab = Lab(simulator, tuple(groups), tuple(associations))
    _check_lab(path, lab)
    return lab


def load_lab(path: str) -> Lab:
    """Read and check the lab.ini at ``path`` (UTF-8).

    Relative ``state_dir`` and ``packet_log`` paths are resolved against the
    current working directory (not the file's folder) and returned absolute.
    Raises ConfigError, also when the file cannot be read.
    """
    try:
        with open(path, encoding="utf-8-sig") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError(path, None, None, "the file does not exist") from None
    except IsADirectoryError:
        raise ConfigError(path, None, None, "is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(path, None, None, f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, None, f"not UTF-8 text (byte {exc.start})") from None
    lab = parse_lab(text, path)
    scenario = lab.simulator.scenario
    if scenario is not None:
        # A scenario belongs to its lab: its path is relative to lab.ini's folder.
        scenario = os.path.join(os.path.dirname(os.path.abspath(path)), scenario)
        lab = replace(lab, simulator=replace(lab.simulator, scenario=scenario))
    return _absolute_paths(lab)


def _absolute_paths(lab: Lab) -> Lab:
    """``lab`` with its ``state_dir`` and ``packet_log`` resolved against the current working directory."""
    simulator = lab.simulator
    packet_log = None if simulator.packet_log is None else os.path.abspath(simulator.packet_log)
    return replace(
        lab, simulator=replace(simulator, state_dir=os.path.abspath(simulator.state_dir), packet_log=packet_log)
    )


#: The ``[simulator]`` keys a command line may override (``twistd dlmssim --shard i/n`` ...), with their grammars.
OVERRIDES: Final[Mapping[str, Callable[[str], Any]]] = MappingProxyType({
    "shard": _shard, "console": _console, "state_dir": _text, "packet_log": _packet_log})


def with_overrides(lab: Lab, overrides: Mapping[str, str | None]) -> Lab:
    """``lab`` with the ``[simulator]`` keys given on a command line instead of
    its file's (None: not given), each read with the key's own grammar and
    paths made absolute. ValueError names the option and what is wrong."""
    changes: dict[str, Any] = {}
    for key, text in overrides.items():
        if text is None:
            continue
        try:
            changes[key] = OVERRIDES[key](text)
        except ValueError as exc:
            raise ValueError(f"--{key.replace('_', '-')} {text!r}: {exc}") from None
    simulator = replace(lab.simulator, **changes)
    if simulator.console_token is None and not _console_is_local(simulator.console):
        raise ValueError(f"--console {simulator.console!r}: listens beyond loopback, so lab.ini needs a "
                         "console_token")
    changed = replace(lab, simulator=simulator)
    try:
        _check_console_port("", changed)
    except ConfigError as exc:
        raise ValueError(f"--console {simulator.console!r}: {exc.problem}") from None
    return _absolute_paths(changed)

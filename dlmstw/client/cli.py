"""The ``dlmstw-client`` command line (DESIGN.md "Command lines").

Subcommands are registered in :data:`COMMANDS` (name -> (adder, runner)): an
adder declares the subcommand's arguments on its argparse subparser, a runner
takes the parsed namespace and returns the exit code. ``dissect`` prints the
dissector's field tree for one frame or APDU given in hex; ``read`` reads
attributes of one meter; ``campaign`` measures data acquisition time and
communication failure rate over many meters. ``read`` and ``campaign`` each
run a reactor of their own (a fresh ``PollReactor``), so ``main`` can be
called more than once in a process.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final, NamedTuple, TextIO

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import CannotListenError
from twisted.python.failure import Failure

from dlmstw.client.campaign import (
    Campaign,
    Meter,
    failure_kind,
    parse_meters,
    report,
    run_campaign,
)
from dlmstw.client.listen import Push, PushDatagrams, PushKeys, PushReceiver, PushStreams
from dlmstw.client.protocol import DlmsClientProtocol, connect, run_with_reactor
from dlmstw.client.reading import (
    OBJECT_LIST,
    PROFILE_GENERIC,
    SCALED_ATTRIBUTES,
    SCALER_UNIT_ATTRIBUTE,
    Target,
    classes_from_object_list,
    clock_column,
    parse_target,
    range_access,
)
from dlmstw.client.session import ClientProtocolError, ClientSecurity, ClientSession, GetValue
from dlmstw.codec.axdr import CosemDate, CosemDateTime, CosemTime, Data
from dlmstw.codec.obis import format_obis, parse_obis
from dlmstw.codec.services import CosemAttributeDescriptor
from dlmstw.dissector import Field, Keys, dissect_apdu, dissect_frame
from dlmstw.enums import AuthenticationMechanism, DataAccessResult, DataType, Unit
from dlmstw.errors import DecodeError
from dlmstw.framing.wrapper import WRAPPER_VERSION
from dlmstw.interfaces import IAuthenticationMechanism
from dlmstw.plugins.registry import installed
from dlmstw.security.certificates import load_private_key, load_public_key, suite_of
from dlmstw.security.ciphering import POLICY_CONTROL

#: What carries a read's wrapper frames (``--transport``, or a ``udp:`` prefix).
TRANSPORTS: Final = ("tcp", "udp")
EXIT_OK: Final = 0
EXIT_UNPARSED: Final = 1
EXIT_USAGE: Final = 2
_TEXT_HEX: Final = 32
"""Octets of hex a line of the text tree shows before "…"."""


def _hex_argument(text: str) -> bytes:
    """argparse type: hex digits, blanks, ':' and '-' ignored."""
    cleaned = "".join(text.split()).replace(":", "").replace("-", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None


def is_wrapper_frame(data: bytes) -> bool:
    """True when ``data`` starts with the wrapper version 0x0001 (IEC 62056-47),
    or with the HDLC flag 0x7E (IEC 62056-46).

    No APDU starts with 0x00 or 0x7E (Green Book 9.5 tags), so a frame whose
    length field does not match what follows is still a frame, and its
    dissection reports the mismatch.
    """
    return (len(data) >= 2 and int.from_bytes(data[:2], "big") == WRAPPER_VERSION) or data[:1] == b"\x7e"


def render(field: Field, out: TextIO, depth: int = 0) -> None:
    """The tree as indented lines: name, offset+length, hex, meaning (and errors)."""
    shown = field.hex if len(field.hex) <= 2 * _TEXT_HEX else field.hex[: 2 * _TEXT_HEX] + "…"
    out.write(f"{'  ' * depth}{field.name} [{field.offset}+{field.length}] {shown}  {field.meaning}\n")
    if field.error is not None:
        out.write(f"{'  ' * depth}  !! {field.error}\n")
    for child in field.children:
        render(child, out, depth + 1)


def _add_dissect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hex", nargs="+", type=_hex_argument, metavar="HEX",
                        help="a wrapper frame, HDLC frames or a bare APDU in hex (blanks allowed)")
    parser.add_argument("--key", type=_hex_argument, metavar="EK", help="block cipher key (global or suite key)")
    parser.add_argument("--auth-key", type=_hex_argument, metavar="AK", help="authentication key")
    parser.add_argument("--system-title", type=_hex_argument, metavar="ST",
                        help="system title of the sender of this APDU (default: the AP title in an AARQ/AARE)")
    parser.add_argument("--dedicated-key", type=_hex_argument, metavar="DK", help="dedicated key, for ded- APDUs")
    parser.add_argument("--json", action="store_true", help="print the tree as JSON")


def _run_dissect(args: argparse.Namespace) -> int:
    data = b"".join(args.hex)
    keys = None
    if args.key is not None or args.auth_key is not None or args.dedicated_key is not None:
        keys = Keys(args.key or b"", args.auth_key or b"", args.system_title, args.dedicated_key)
    tree = dissect_frame(data, keys) if is_wrapper_frame(data) else dissect_apdu(data, keys)
    if args.json:
        json.dump(tree.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(tree, sys.stdout)
    return EXIT_UNPARSED if tree.errors() else EXIT_OK


# -- read ---------------------------------------------------------------------

EXIT_NOT_READ: Final = 1
"""Some attribute came back as a Data-Access-Result, or could not be asked for."""
EXIT_FAILED: Final = 3
"""No reading: connect, association or transport failed."""

_AUTH_HELP: Final = ("authentication mechanism (Green Book 9.2.7.4), any installed: none, lls (--password), "
                     "hls-md5, hls-sha1, hls-sha256 (--secret; hls-sha256 also --system-title), hls-gmac (--key, "
                     "--auth-key, --system-title and an invocation counter) or hls-ecdsa (--signing-key, "
                     "--system-title; --meter-key to check the meter's f(CtoS))")

COUNTER_RANGE: Final = 10**6
"""Invocation counters reserved for each client of a campaign."""

PUBLIC_CLIENT: Final = 16
"""Client SAP of the public client (Green Book 4.1.x), which reads the invocation counter objects."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One target's outcome; ``scaler_unit`` for registers, ``capture_objects`` for profile buffers."""

    target: Target
    class_id: int | None
    value: GetValue | None
    scaler_unit: GetValue | None = None
    capture_objects: GetValue | None = None
    problem: str | None = None


def _address(text: str) -> tuple[str, int]:
    """argparse type: ``HOST:PORT``."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


class MeterAddress(NamedTuple):
    """A meter to read: ``[tcp:|udp:]HOST:PORT``."""

    host: str
    port: int
    transport: str | None


def _meter_address(text: str) -> MeterAddress:
    """argparse type: ``HOST:PORT``, or with a ``tcp:`` or ``udp:`` prefix."""
    scheme, colon, rest = text.partition(":")
    if colon and scheme in TRANSPORTS:
        return MeterAddress(*_address(rest), scheme)
    return MeterAddress(*_address(text), None)


def _target(text: str) -> Target:
    try:
        return parse_target(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _moment(text: str) -> CosemDateTime:
    """argparse type: an ISO 8601 date-time; without an offset the meter's own deviation applies."""
    try:
        return CosemDateTime.from_datetime(datetime.datetime.fromisoformat(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r} ({error})") from None


def _add_association(parser: argparse.ArgumentParser, campaign: bool = False) -> None:
    parser.add_argument("--client", type=int, default=16, metavar="SAP", help="client SAP (wPort), default 16")
    parser.add_argument("--auth", default="none", metavar="MECHANISM", help=_AUTH_HELP)
    parser.add_argument("--password", help="LLS password (with --auth lls)")
    parser.add_argument("--secret", type=_hex_argument, metavar="HEX",
                        help="HLS secret in hex (with --auth hls-md5, hls-sha1, hls-sha256)")
    parser.add_argument("--context", choices=("ln", "ln-ciphered"), default="ln",
                        help="application context: logical names, plain or ciphered (Green Book 9.4.2.2.2)")
    parser.add_argument("--security", choices=[name for name, bits in POLICY_CONTROL.items() if bits],
                        default="authenticated-encryption",
                        help="with --context ln-ciphered: what protects every xDLMS APDU (default "
                             "authenticated-encryption)")
    parser.add_argument("--security-suite", type=int, metavar="N",
                        help="security suite (Green Book 9.2.3): 0 (default), 1 or 2 (32-byte keys); with "
                             "--signing-key, the suite of its curve")
    parser.add_argument("--key", type=_hex_argument, metavar="EK", help="global block cipher key")
    parser.add_argument("--auth-key", type=_hex_argument, metavar="AK", help="authentication key")
    parser.add_argument("--system-title", type=_hex_argument, metavar="ST",
                        help="the client's 8-octet system title (ciphering, hls-gmac, hls-sha256, hls-ecdsa)")
    parser.add_argument("--dedicated-key", type=_hex_argument, metavar="DK",
                        help="dedicated key proposed in the AARQ; requests are then ded-ciphered")
    parser.add_argument("--signing-key", type=_key_file(load_private_key), metavar="FILE",
                        help="hls-ecdsa: the client's private key (PEM or DER, P-256 for suite 1, P-384 for suite "
                             "2); the meter checks f(StoC) with its public key")
    parser.add_argument("--meter-key", type=_key_file(load_public_key), metavar="FILE",
                        help="hls-ecdsa: the meter's certificate or public key (PEM or DER), which checks its "
                             "f(CtoS); without it f(CtoS) is not checked")
    counter_help = ("first invocation counter of the client (ciphering, hls-gmac); it must be above the last "
                    "one the meter accepted for this association")
    if campaign:
        counter_help += (f"; client i of the campaign (i = 0 .. meters x clients - 1) counts from "
                         f"N + i x {COUNTER_RANGE}, so no two clients use the same counter. A dlmstw meter "
                         f"keeps one last accepted counter per association, so with --clients above 1 the "
                         f"clients of one meter refuse each other's lower counters: use --clients 1 there")
    parser.add_argument("--invocation-counter", type=int, metavar="N", help=counter_help)
    parser.add_argument("--counter-object", type=_obis, metavar="OBIS",
                        help="instead of --invocation-counter: read this invocation counter object "
                             "(0.0.43.1.x.255 for the association's Security setup x) with the public "
                             "client (SAP 16, no authentication) and count from its value + 1"
                             + (", the highest over the meters" if campaign else ""))
    parser.add_argument("--max-pdu", type=int, default=0xFFFF, metavar="OCTETS",
                        help="client-max-receive-pdu-size proposed in the AARQ (default 65535)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="for the connect and for every answer (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _obis(text: str) -> bytes:
    """argparse type: an OBIS code A.B.C.D.E.F."""
    try:
        return parse_obis(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _key_file(load: Callable[[bytes], Any]) -> Callable[[str], Any]:
    """argparse type: the key that ``load`` finds in the file at the path given."""
    def read(path: str) -> Any:
        try:
            with open(path, "rb") as stream:
                return load(stream.read())
        except (OSError, DecodeError) as error:
            raise argparse.ArgumentTypeError(f"{path}: {getattr(error, 'strerror', None) or error}") from None
    return read


def _mechanism(args: argparse.Namespace) -> IAuthenticationMechanism:
    """The installed mechanism --auth names; ValueError when there is none."""
    mechanisms = installed().mechanisms
    if args.auth not in mechanisms:
        raise ValueError(f"--auth {args.auth}: no such mechanism is installed ({', '.join(sorted(mechanisms))})")
    return mechanisms[args.auth]


def _client_security(args: argparse.Namespace, mechanism: IAuthenticationMechanism) -> ClientSecurity | None:
    """The client's system title, policy, suite and keys from the options; ValueError when they do not fit."""
    ciphered = args.context == "ln-ciphered"
    if args.system_title is None:
        if ciphered or mechanism.titled:
            raise ValueError(f"--system-title is needed with --context {args.context} --auth {args.auth}")
        return None
    number = args.security_suite
    if number is None:
        number = 0 if args.signing_key is None else suite_of(args.signing_key)
    suite = installed().suites.get(number)
    if suite is None:
        raise ValueError(f"--security-suite {number}: no such suite is installed ({sorted(installed().suites)})")
    for option, key in (("--key", args.key), ("--auth-key", args.auth_key), ("--dedicated-key", args.dedicated_key)):
        if key is not None and len(key) != suite.key_length:
            raise ValueError(f"{option}: security suite {number} uses {suite.key_length}-byte keys")
    return ClientSecurity(args.system_title, POLICY_CONTROL[args.security] if ciphered else 0, args.key, args.auth_key,
                          args.dedicated_key, number, args.signing_key, args.meter_key)


def _needs_counter(args: argparse.Namespace) -> bool:
    return args.context == "ln-ciphered" or _mechanism(args).mechanism_id == AuthenticationMechanism.HLS_GMAC


def _session_factory(args: argparse.Namespace, counter_start: int = 0) -> Callable[[int], ClientSession]:
    """Sessions per client index; each index keeps one counter iterator, from
    ``counter_start + index * COUNTER_RANGE``. ValueError for options that do not fit."""
    mechanism = _mechanism(args)
    if mechanism.hls:
        secret = args.secret
    else:
        secret = None if args.password is None else args.password.encode()
    security = _client_security(args, mechanism)
    counting = _needs_counter(args)
    if counting and args.invocation_counter is None and args.counter_object is None:
        raise ValueError("ciphering and hls-gmac need --invocation-counter N or --counter-object OBIS")
    # ValueError now, not per read, for a missing password, secret or key.
    ClientSession(args.client, mechanism, secret, security=security,
                  invocation_counter=itertools.count() if counting else None)
    counters: dict[int, Iterator[int]] = {}

    def new_session(client: int) -> ClientSession:
        counter = None
        if counting:
            counter = counters.setdefault(client, itertools.count(counter_start + client * COUNTER_RANGE))
        return ClientSession(args.client, mechanism, secret, max_receive_pdu_size=args.max_pdu,
                             security=security, invocation_counter=counter)

    return new_session


@inlineCallbacks
def read_invocation_counter(reactor: Any, host: str, port: int, logical_name: bytes, timeout: float,
                            transport: str = "tcp") -> Any:
    """The value + 1 of an invocation counter object (a Data object, attribute 2, Blue Book
    4.4.7 on 0.0.43.1.x.255), read by the public client (SAP 16, lowest level)."""
    protocol = yield connect(reactor, host, port, ClientSession(PUBLIC_CLIENT), timeout, transport)
    try:
        yield protocol.associate()
        value = yield protocol.get(CosemAttributeDescriptor(1, logical_name, 2))
        yield protocol.release()
    finally:
        protocol.close()
    if isinstance(value, DataAccessResult) or not isinstance(value[1], int) or isinstance(value[1], bool):
        raise ClientProtocolError(f"invocation counter {format_obis(logical_name)}: no number but {value!r}")
    return value[1] + 1


@inlineCallbacks
def _counter_start(reactor: Any, args: argparse.Namespace, meters: Sequence[tuple[str, int]],
                   transport: str = "tcp") -> Any:
    """--invocation-counter, or the highest counter object value + 1 over ``meters``, or 0 when none is needed."""
    if args.invocation_counter is not None or args.counter_object is None or not _needs_counter(args):
        return args.invocation_counter or 0
    start = 0
    for host, port in meters:
        start = max(start, (yield read_invocation_counter(reactor, host, port, args.counter_object, args.timeout,
                                                          transport)))
    return start


def _add_read(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("meter", type=_meter_address, metavar="[udp:]HOST:PORT",
                        help="the meter; udp: (or --transport udp) sends the wrapper frames over UDP")
    parser.add_argument("--transport", choices=TRANSPORTS, default="tcp",
                        help="tcp (default) or udp (the wrapper over UDP, lab.ini transport = udp-wrapper)")
    parser.add_argument("targets", nargs="+", type=_target, metavar="[CLASS/]OBIS:ATTR",
                        help="attributes to read; without CLASS the class is looked up in the object list")
    _add_association(parser)
    parser.add_argument("--from", dest="start", type=_moment, metavar="ISO",
                        help="profile buffers: first capture time (range_descriptor on the clock column)")
    parser.add_argument("--to", dest="end", type=_moment, metavar="ISO", help="profile buffers: last capture time")


@inlineCallbacks
def read_targets(protocol: DlmsClientProtocol, targets: Sequence[Target], start: CosemDateTime | None = None,
                 end: CosemDateTime | None = None) -> Any:
    """Read ``targets`` on an open association; fires with one :class:`Reading` each.

    Classes missing from a target come from the object list; a Register's
    scaler_unit and a profile's capture_objects are read too, and
    ``start``/``end`` select a profile buffer's rows by range.
    """
    classes: dict[bytes, int] = {}
    if any(target.class_id is None for target in targets):
        listing = yield protocol.get(OBJECT_LIST)
        if not isinstance(listing, DataAccessResult):
            classes = classes_from_object_list(listing)
    readings = []
    for target in targets:
        class_id = target.class_id if target.class_id is not None else classes.get(target.logical_name)
        if class_id is None:
            readings.append(Reading(target, None, None, problem="not in the object list; give CLASS/OBIS:ATTR"))
            continue
        descriptor = target.descriptor(class_id)
        reading = Reading(target, class_id, None)
        access = None
        if target.attribute_id in SCALED_ATTRIBUTES.get(class_id, ()):
            scaler_unit = yield protocol.get(CosemAttributeDescriptor(
                class_id, target.logical_name, SCALER_UNIT_ATTRIBUTE[class_id]))
            reading = replace(reading, scaler_unit=scaler_unit)
        if class_id == PROFILE_GENERIC and target.attribute_id == 2:
            capture = yield protocol.get(CosemAttributeDescriptor(class_id, target.logical_name, 3))
            reading = replace(reading, capture_objects=capture)
            if start is not None or end is not None:
                column = None if isinstance(capture, DataAccessResult) else clock_column(capture)
                if column is None:
                    readings.append(replace(reading, problem="no clock column to select a range on"))
                    continue
                access = range_access(column, start, end)
        value = yield protocol.get(descriptor, access)
        readings.append(replace(reading, value=value))
    return readings


@inlineCallbacks
def _read_meter(reactor: Any, args: argparse.Namespace) -> Any:
    host, port, scheme = args.meter
    transport = scheme or args.transport
    start = yield _counter_start(reactor, args, [(host, port)], transport)
    protocol = yield connect(reactor, host, port, _session_factory(args, start)(0), args.timeout, transport)
    try:
        associated = yield protocol.associate()
        if not associated.ctos_checked:
            sys.stderr.write(f"dlmstw-client read: {host}:{port}: the meter's f(CtoS) was not checked "
                             "(no --meter-key)\n")
        readings = yield read_targets(protocol, args.targets, args.start, args.end)
        yield protocol.release()
    finally:
        protocol.close()
    return readings


def _is_datetime(octets: bytes) -> bool:
    """12 octets that make a calendar date-time (Blue Book 4.1.6.1), e.g. the Clock's time attribute."""
    try:
        CosemDateTime.from_bytes(octets).to_datetime()
    except ValueError:
        return False
    return True


def plain(value: Data) -> Any:
    """A JSON value for a decoded Data: date-times as ISO 8601, printable octet-strings as text, else hex."""
    kind, payload = value
    if kind in (DataType.ARRAY, DataType.STRUCTURE):
        return [plain(item) for item in payload]
    if kind == DataType.COMPACT_ARRAY:
        return [plain(item) for item in payload.elements]
    if kind == DataType.BIT_STRING:
        return payload.bits
    if kind == DataType.DATE_TIME or (kind == DataType.OCTET_STRING and len(payload) == 12 and _is_datetime(payload)):
        return _iso(CosemDateTime.from_bytes(payload))
    if kind == DataType.DATE:
        return _partial_iso(lambda: CosemDate.from_bytes(payload).to_date().isoformat(), payload)
    if kind == DataType.TIME:
        return _partial_iso(lambda: CosemTime.from_bytes(payload).to_time().isoformat(), payload)
    if kind in (DataType.OCTET_STRING, DataType.VISIBLE_STRING):
        return payload.decode("ascii") if payload.isascii() and payload.decode("ascii").isprintable() else payload.hex()
    return payload


def _iso(stamp: CosemDateTime) -> str:
    return _partial_iso(lambda: stamp.to_datetime().isoformat(), stamp.to_bytes())


def _partial_iso(render: Callable[[], str], octets: bytes) -> str:
    """ISO text, or the hex of a value with "not specified" or wildcard parts."""
    try:
        return render()
    except ValueError:
        return octets.hex()


def _scaled(raw: int, scaler: int) -> int | float:
    """raw × 10^scaler (Blue Book 4.3.2), exact in decimal before it becomes a float."""
    return raw * 10**scaler if scaler >= 0 else float(Decimal(raw).scaleb(scaler))


def _label(class_id: int | None, logical_name: bytes, attribute_id: int) -> str:
    prefix = "" if class_id is None else f"{class_id}/"
    return f"{prefix}{format_obis(logical_name)}:{attribute_id}"


def describe(reading: Reading) -> dict[str, Any]:
    """The JSON form of one reading."""
    target = reading.target
    document: dict[str, Any] = {"target": _label(reading.class_id, target.logical_name, target.attribute_id),
                                "class_id": reading.class_id, "logical_name": format_obis(target.logical_name),
                                "attribute_id": target.attribute_id}
    value = reading.value
    if reading.problem is not None:
        document["error"] = reading.problem
        return document
    if isinstance(value, DataAccessResult) or value is None:
        document["error"] = _dar_name(value)
        return document
    scaler_unit = reading.scaler_unit
    if (scaler_unit is not None and not isinstance(scaler_unit, DataAccessResult)
            and isinstance(value[1], int) and not isinstance(value[1], bool)):
        scaler, unit = scaler_unit[1][0][1], scaler_unit[1][1][1]
        document.update(value=_scaled(value[1], scaler), raw=value[1], scaler=scaler, unit=_unit_name(unit))
        return document
    capture = reading.capture_objects
    if capture is not None and not isinstance(capture, DataAccessResult) and value[0] == DataType.ARRAY:
        document["columns"] = [_label(c[1][0][1], c[1][1][1], c[1][2][1]) for c in capture[1]]
        document["rows"] = plain(value)
        return document
    document["value"] = plain(value)
    return document


def _dar_name(result: DataAccessResult | None) -> str:
    return "no value" if result is None else result.name.lower().replace("_", "-")


def _unit_name(unit: int) -> str:
    try:
        return Unit(unit).name.lower()
    except ValueError:
        return str(unit)


def _text_line(document: dict[str, Any], out: TextIO) -> None:
    head = document["target"]
    if "error" in document:
        out.write(f"{head}  !! {document['error']}\n")
    elif "rows" in document:
        out.write(f"{head}  {len(document['rows'])} rows\n")
        out.write("  " + " | ".join(document["columns"]) + "\n")
        out.writelines("  " + " | ".join(str(cell) for cell in row) + "\n" for row in document["rows"])
    elif "unit" in document:
        out.write(f"{head}  {document['value']} {document['unit']}\n")
    else:
        out.write(f"{head}  {json.dumps(document['value'])}\n")


def _run_read(args: argparse.Namespace) -> int:
    try:
        _session_factory(args)
    except ValueError as error:
        sys.stderr.write(f"dlmstw-client read: {error}\n")
        return EXIT_USAGE
    host, port, _ = args.meter
    try:
        readings: list[Reading] = run_with_reactor(lambda reactor: _read_meter(reactor, args))
    except Exception as error:
        kind = failure_kind(Failure(error))
        sys.stderr.write(f"dlmstw-client read: {host}:{port}: {kind}: {error}\n")
        return EXIT_FAILED
    documents = [describe(reading) for reading in readings]
    if args.json:
        json.dump({"meter": f"{host}:{port}", "client": args.client, "readings": documents}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for document in documents:
            _text_line(document, sys.stdout)
    return EXIT_NOT_READ if any("error" in document for document in documents) else EXIT_OK


# -- campaign -----------------------------------------------------------------


def _meters(text: str) -> list[Meter]:
    """argparse type: comma-separated ``HOST:PORT`` or ``HOST:FIRST-LAST``."""
    try:
        return [meter for part in text.split(",") for meter in parse_meters(part)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_campaign(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("meters", type=_meters, metavar="HOST:PORT[-LAST][,...]",
                        help="meters: ports or port ranges, comma separated, e.g. 127.0.0.1:4059-4063")
    parser.add_argument("targets", nargs="+", type=_target, metavar="[CLASS/]OBIS:ATTR",
                        help="attributes every read gets; without CLASS the class is looked up once, "
                             "in the first meter's object list")
    _add_association(parser, campaign=True)
    parser.add_argument("--clients", type=int, default=1, metavar="C", help="concurrent clients per meter")
    parser.add_argument("--count", type=int, metavar="N", help="reads per client (default 1 without --duration)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="keep reading until this has passed")
    parser.add_argument("--interval", type=float, default=0.0, metavar="SECONDS",
                        help="pause between two reads of one client")
    parser.add_argument("--with-list", action="store_true",
                        help="one GET-Request-With-List per read instead of one GET-Request-Normal per attribute")


@inlineCallbacks
def _resolve_classes(reactor: Any, meter: Meter, targets: Sequence[Target],
                     new_session: Callable[[int], ClientSession], timeout: float) -> Any:
    """The targets' descriptors, classes taken from ``meter``'s object list where a target names none."""
    if all(target.class_id is not None for target in targets):
        return tuple(target.descriptor() for target in targets)
    protocol = yield connect(reactor, meter.host, meter.port, new_session(0), timeout)
    try:
        yield protocol.associate()
        listing = yield protocol.get(OBJECT_LIST)
        yield protocol.release()
    finally:
        protocol.close()
    classes = {} if isinstance(listing, DataAccessResult) else classes_from_object_list(listing)
    missing = [t for t in targets if t.class_id is None and t.logical_name not in classes]
    if missing:
        raise LookupError(f"not in the object list of {meter}: "
                          + ", ".join(_label(None, t.logical_name, t.attribute_id) for t in missing))
    return tuple(target.descriptor(classes.get(target.logical_name)) for target in targets)


def _render_campaign(kpis: dict[str, Any], out: TextIO) -> None:
    def times(figures: dict[str, float] | None) -> str:
        if figures is None:
            return "no successful read"
        return " / ".join(f"{figures[k]:.1f}" for k in ("min", "median", "p95", "max")) + " ms (min/median/p95/max)"

    out.write(f"{kpis['meters']} meters x {kpis['clients_per_meter']} clients, {len(kpis['attributes'])} attributes "
              f"a read, {kpis['elapsed_s']:.2f} s\n")
    out.write(f"data acquisition time: {times(kpis['acquisition_time_ms'])}\n")
    out.write(f"communication failure rate: {kpis['failures']}/{kpis['attempts']} = {kpis['failure_rate']:.2%}\n")
    for kind, number in kpis["failures_by_kind"].items():
        if number:
            out.write(f"  {kind}: {number}\n")
    out.writelines(f"{meter['meter']}: {meter['successes']}/{meter['attempts']} read, "
                  f"{times(meter['acquisition_time_ms'])}\n" for meter in kpis["per_meter"])


def _run_campaign(args: argparse.Namespace) -> int:
    try:
        _session_factory(args)
    except ValueError as error:
        sys.stderr.write(f"dlmstw-client campaign: {error}\n")
        return EXIT_USAGE
    if args.clients < 1 or (args.count is not None and args.count < 1):
        sys.stderr.write("dlmstw-client campaign: --clients and --count must be at least 1\n")
        return EXIT_USAGE
    meters: list[Meter] = args.meters
    count = 1 if args.count is None and args.duration is None else args.count

    @inlineCallbacks
    def campaign(reactor: Any) -> Any:
        start = yield _counter_start(reactor, args, [(meter.host, meter.port) for meter in meters])
        new_session = _session_factory(args, start)
        attributes = yield _resolve_classes(reactor, meters[0], args.targets, new_session, args.timeout)
        plan = Campaign(meters, attributes, new_session, args.clients, count, args.duration, args.interval,
                        args.timeout, args.with_list)
        result = yield run_campaign(reactor, plan)
        return report(plan, result)

    try:
        kpis: dict[str, Any] = run_with_reactor(campaign)
    except Exception as error:
        sys.stderr.write(f"dlmstw-client campaign: {type(error).__name__}: {error}\n")
        return EXIT_FAILED
    if args.json:
        json.dump(kpis, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _render_campaign(kpis, sys.stdout)
    return EXIT_OK


# -- listen ---------------------------------------------------------------------


def _port(text: str) -> int:
    """argparse type: a port number 1..65535."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number 1..65535, not {text!r}")
    return int(text)


def _add_listen(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("port", type=_port, metavar="PORT", help="the TCP and UDP port pushes arrive on")
    parser.add_argument("--interface", default="127.0.0.1", metavar="ADDRESS",
                        help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--key", type=_hex_argument, metavar="EK", help="block cipher key of ciphered pushes")
    parser.add_argument("--auth-key", type=_hex_argument, metavar="AK", help="authentication key of ciphered pushes")
    parser.add_argument("--count", type=int, default=0, metavar="N", help="stop after N pushes (default: never)")
    parser.add_argument("--timeout", type=float, default=0.0, metavar="SECONDS",
                        help="stop after this many seconds; exit 3 if fewer than --count pushes came")
    parser.add_argument("--json", action="store_true", help="print one JSON object per push")


def push_document(push: Push) -> dict[str, Any]:
    """What ``listen`` prints of a push."""
    return {
        "peer": push.peer, "transport": push.transport, "source_wport": push.source_wport,
        "destination_wport": push.destination_wport,
        "system_title": None if push.system_title is None else push.system_title.hex().upper(),
        "invocation_counter": push.invocation_counter,
        "long_invoke_id_and_priority": push.long_invoke_id_and_priority,
        "date_time": _iso(CosemDateTime.from_bytes(push.date_time)) if len(push.date_time) == 12 else None,
        "body": plain(push.body),
    }


def _listen_line(document: dict[str, Any]) -> str:
    if document["system_title"] is None:
        protection = "plain"
    else:
        protection = f"ciphered by {document['system_title']} #{document['invocation_counter']}"
    return (f"{document['peer']} {document['transport']} wPort {document['source_wport']}"
            f"->{document['destination_wport']} {protection} invoke-id {document['long_invoke_id_and_priority']}"
            f" at {document['date_time'] or '-'}: {json.dumps(document['body'])}\n")


def _listen(reactor: Any, args: argparse.Namespace, received: list[Push]) -> Any:
    done: Deferred[None] = Deferred()

    def on_push(push: Push) -> None:
        received.append(push)
        document = push_document(push)
        sys.stdout.write(json.dumps(document) + "\n" if args.json else _listen_line(document))
        sys.stdout.flush()
        if args.count and len(received) >= args.count and not done.called:
            done.callback(None)

    def on_refused(peer: str, reason: str) -> None:
        sys.stderr.write(f"dlmstw-client listen: {peer}: not a push: {reason}\n")

    keys = None if args.key is None else PushKeys(args.key, args.auth_key)
    receiver = PushReceiver(keys, on_push, on_refused)
    ports = [reactor.listenTCP(args.port, PushStreams(receiver), interface=args.interface),
             reactor.listenUDP(args.port, PushDatagrams(receiver), interface=args.interface)]
    timer = reactor.callLater(args.timeout, lambda: done.called or done.callback(None)) if args.timeout else None

    def finish(result: Any) -> Any:
        if timer is not None and timer.active():
            timer.cancel()
        for port in ports:
            port.stopListening()
        return result
    return done.addBoth(finish)


def _run_listen(args: argparse.Namespace) -> int:
    if (args.key is None) != (args.auth_key is None):
        sys.stderr.write("dlmstw-client listen: give both --key and --auth-key, or neither\n")
        return EXIT_USAGE
    if args.count < 0 or args.timeout < 0:
        sys.stderr.write("dlmstw-client listen: --count and --timeout must not be negative\n")
        return EXIT_USAGE
    received: list[Push] = []
    try:
        run_with_reactor(lambda reactor: _listen(reactor, args, received))
    except CannotListenError as error:
        sys.stderr.write(f"dlmstw-client listen: cannot listen on {args.interface}:{args.port}: "
                         f"{getattr(error.socketError, 'strerror', None) or error.socketError}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    if args.count and len(received) < args.count:
        sys.stderr.write(f"dlmstw-client listen: {len(received)} of {args.count} pushes within {args.timeout:g} s\n")
        return EXIT_FAILED
    return EXIT_OK


COMMANDS: Final[dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                                Callable[[argparse.Namespace], int]]]] = {
    "dissect": ("print what every byte of a frame or APDU means", _add_dissect, _run_dissect),
    "read": ("read attributes of one meter (none, LLS or HLS; plain or ciphered context)", _add_read, _run_read),
    "campaign": ("KPI run: data acquisition time and communication failure rate over many meters",
                 _add_campaign, _run_campaign),
    "listen": ("receive, decipher and print pushes (Data-Notifications over TCP and UDP)", _add_listen, _run_listen),
}
"""Subcommand name -> (help, argument adder, runner)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlmstw-client", description="DLMS/COSEM client tools of dlmstw")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, add, run) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        add(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dlmstw-client``; returns the exit code (2 for bad arguments)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except BrokenPipeError:
        # The reader went away (``dlmstw-client dissect ... | head``): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``dlmstw-client`` command line (DESIGN.md "Command lines").

Subcommands are registered in :data:`COMMANDS` (name -> (adder, runner)): an
adder declares the subcommand's arguments on its argparse subparser, a runner
takes the parsed namespace and returns the exit code. ``dissect`` prints the
dissector's field tree for one frame or APDU given in hex; ``read`` reads
attributes of one meter; ``campaign`` measures data acquisition time and
communication failure rate over many meters; ``clone`` reads a meter into a
device template and ``import-gurux`` converts a Gurux device file into one
(``dlmstw.models.template``). ``read``, ``campaign`` and ``clone`` each
run a reactor of their own (a fresh ``EPollReactor``), so ``main`` can be
called more than once in a process.

Every error a person can cause is one line on standard error (with ``--json``
also a JSON object with ``error`` on standard output), and the exit status
says what kind it was (``dlmstw.client.outcomes``): 0 ok, 1 other, 2 usage,
3 transport, 4 association, 5 a data-access/action result or exception
response, 6 release.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import importlib.resources
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple, NoReturn, TextIO

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import CannotListenError

from dlmstw import __version__
from dlmstw.client.clone import clone as clone_meter
from dlmstw.client.gurux_xml import import_gurux
from dlmstw.client.campaign import (
    CSV_FIELDS,
    Campaign,
    CampaignRun,
    Meter,
    csv_rows,
    parse_meter_list,
    report,
    run_campaign,
)
from dlmstw.client.listen import Push, PushDatagrams, PushKeys, PushReceiver, PushStreams
from dlmstw.client.outcomes import (
    EXIT_OK,
    EXIT_RELEASE,
    EXIT_RESULT,
    EXIT_RUNTIME,
    EXIT_TRANSPORT,
    EXIT_USAGE,
    DATA_ACCESS_RESULT,
    ReleaseFailed,
    describe as describe_failure,
    exit_code,
    failure_name,
)
from dlmstw.client.plan import (
    PlanError,
    Window,
    association_options,
    console_meters,
    lab_meters,
    load_lab_file,
    load_plan,
    parse_duration,
    parse_window,
)
from dlmstw.client.present import campaign_text, describe, iso, label, plain, read_text
from dlmstw.client.progress import ProgressLine
from dlmstw.client.protocol import connect, run_with_reactor
from dlmstw.client.readout import Reading, read_targets
from dlmstw.client.reading import (
    CLOCK_COLUMN,
    OBJECT_LIST,
    PROFILE_GENERIC,
    Target,
    classes_from_object_list,
    parse_target,
    range_access,
)
from dlmstw.client.session import ClientProtocolError, ClientSecurity, ClientSession
from dlmstw.codec.axdr import CosemDateTime
from dlmstw.codec.obis import format_obis, parse_obis
from dlmstw.codec.services import CosemAttributeDescriptor
from dlmstw.dissector import Field, Keys, dissect_apdu, dissect_frame
from dlmstw.enums import AuthenticationMechanism, DataAccessResult
from dlmstw.errors import DecodeError
from dlmstw.framing.wrapper import WRAPPER_VERSION
from dlmstw.interfaces import IAuthenticationMechanism
from dlmstw.models.template import dumps as dump_template
from dlmstw.plugins.registry import installed
from dlmstw.security.certificates import load_private_key, load_public_key, suite_of
from dlmstw.security.ciphering import POLICY_CONTROL

#: What carries a read's wrapper frames (``--transport``, or a ``udp:`` prefix).
TRANSPORTS: Final = ("tcp", "udp")
EXIT_UNPARSED: Final = EXIT_RUNTIME
"""dissect: some bytes did not parse."""
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

_AUTH_HELP: Final = ("authentication mechanism (Green Book 9.2.7.4), any installed: none, lls (--password), "
                     "hls-md5, hls-sha1, hls-sha256 (--secret; hls-sha256 also --system-title), hls-gmac (--key, "
                     "--auth-key, --system-title and an invocation counter) or hls-ecdsa (--signing-key, "
                     "--system-title; --meter-key to check the meter's f(CtoS))")

COUNTER_RANGE: Final = 10**6
"""Invocation counters reserved for each client of a meter in a campaign."""

PUBLIC_CLIENT: Final = 16
"""Client SAP of the public client (Green Book 4.1.x), which reads the invocation counter objects."""


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


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser that raises ValueError with a one-line reason."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return convert


_target = _argument(parse_target)
_window = _argument(parse_window)
_seconds = _argument(parse_duration)
_obis = _argument(parse_obis)


def _moment(text: str) -> CosemDateTime:
    """argparse type: an ISO 8601 date-time; without an offset the meter's own deviation applies."""
    try:
        return CosemDateTime.from_datetime(datetime.datetime.fromisoformat(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r} ({error})") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}")
    return int(text)


def _add_association(parser: argparse.ArgumentParser, campaign: bool = False) -> None:
    parser.add_argument("--client", type=_sap, default=16, metavar="SAP", help="client SAP (wPort), default 16")
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
    parser.add_argument("--security-suite", type=_count, metavar="N",
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
        counter_help += (f"; client c of each meter (c = 0 .. --clients - 1) counts from N + c x {COUNTER_RANGE}. "
                         f"A dlmstw meter keeps one last accepted counter per association, so with --clients "
                         f"above 1 the clients of one meter refuse each other's lower counters: use --clients 1 there")
    parser.add_argument("--invocation-counter", type=_count, metavar="N", help=counter_help)
    parser.add_argument("--counter-object", type=_obis, metavar="OBIS",
                        help="instead of --invocation-counter: read this invocation counter object "
                             "(0.0.43.1.x.255 for the association's Security setup x) with the public "
                             "client (SAP 16, no authentication) and count from its value + 1"
                             + (", the highest over the meters" if campaign else ""))
    parser.add_argument("--max-pdu", type=_count, default=0xFFFF, metavar="OCTETS",
                        help="client-max-receive-pdu-size proposed in the AARQ (default 65535)")
    parser.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS",
                        help="for the connect and for every answer (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _sap(text: str) -> int:
    """argparse type: a client SAP, 1..127 (Green Book 4.1.x; the wrapper's wPort)."""
    if not text.isdigit() or not 0 < int(text) < 128:
        raise argparse.ArgumentTypeError(f"expected a client SAP 1..127, not {text!r}")
    return int(text)


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
    number = args.security_suite
    if number is None:
        number = 0 if args.signing_key is None else suite_of(args.signing_key)
    suite = installed().suites.get(number)
    if suite is None:
        raise ValueError(f"--security-suite {number}: no such suite is installed ({sorted(installed().suites)})")
    for option, key in (("--key", args.key), ("--auth-key", args.auth_key), ("--dedicated-key", args.dedicated_key)):
        if key is not None and len(key) != suite.key_length:
            raise ValueError(f"{option}: {len(key)} octets, but security suite {number} uses "
                             f"{suite.key_length}-byte keys")
    if args.system_title is None:
        if ciphered or mechanism.titled:
            raise ValueError(f"--system-title is needed with --context {args.context} --auth {args.auth}")
        return None
    if len(args.system_title) != 8:
        raise ValueError(f"--system-title: {len(args.system_title)} octets, but a system title has 8")
    return ClientSecurity(args.system_title, POLICY_CONTROL[args.security] if ciphered else 0, args.key, args.auth_key,
                          args.dedicated_key, number, args.signing_key, args.meter_key)


def _needs_counter(args: argparse.Namespace) -> bool:
    return args.context == "ln-ciphered" or _mechanism(args).mechanism_id == AuthenticationMechanism.HLS_GMAC


def _session_factory(args: argparse.Namespace, counter_start: int = 0,
                     clients_per_meter: int = 1) -> Callable[[int], ClientSession]:
    """Sessions per client index; each index keeps one counter iterator, from
    ``counter_start + (index % clients_per_meter) * COUNTER_RANGE`` (meters count
    apart, so the clients of different meters may use the same counters).
    ValueError for options that do not fit."""
    if args.timeout <= 0:
        raise ValueError("--timeout: must be more than 0 seconds")
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
            counter = counters.get(client)
            if counter is None:
                start = counter_start + client % clients_per_meter * COUNTER_RANGE
                counter = counters[client] = itertools.count(start)
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
    parser.add_argument("--last", type=_window, metavar="WINDOW",
                        help="profile buffers: the last WINDOW up to now, e.g. '1 day' or 6h (instead of --from/--to)")
    parser.add_argument("--raw", action="store_true", help="print values as the meter sent them, without scalers")


def _window_bounds(window: Window) -> tuple[CosemDateTime, CosemDateTime]:
    start, end = window.bounds(datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))
    return CosemDateTime.from_datetime(start), CosemDateTime.from_datetime(end)


@inlineCallbacks
def _connect_meter(reactor: Any, args: argparse.Namespace) -> Any:
    """A connection to ``args.meter`` with a session of the association options, not yet associated."""
    host, port, scheme = args.meter
    transport = scheme or args.transport
    start = yield _counter_start(reactor, args, [(host, port)], transport)
    protocol = yield connect(reactor, host, port, _session_factory(args, start)(0), args.timeout, transport)
    return protocol


@inlineCallbacks
def _read_meter(reactor: Any, args: argparse.Namespace) -> Any:
    """The readings, and the error of a failed release (None when it went well)."""
    host, port, _ = args.meter
    protocol = yield _connect_meter(reactor, args)
    released: BaseException | None = None
    try:
        associated = yield protocol.associate()
        if not associated.ctos_checked:
            sys.stderr.write(f"dlmstw-client read: {host}:{port}: the meter's f(CtoS) was not checked "
                             "(no --meter-key)\n")
        readings = yield read_targets(protocol, args.targets, args.start, args.end, args.raw)
        try:
            yield protocol.release()
        except Exception as error:
            released = ReleaseFailed(error)
    finally:
        protocol.close()
    return readings, released


def _fail(command: str, where: str, error: BaseException, as_json: bool, document: dict[str, Any]) -> int:
    """One line on standard error (and the JSON object with ``error``); the exit status of ``error``."""
    message = describe_failure(error)
    sys.stderr.write(f"dlmstw-client {command}: {where}: {message}\n")
    if as_json:
        _print_json({**document, "error": failure_name(error) or "runtime-error", "message": message})
    return exit_code(error)


PRETTY_JSON_LIMIT: Final = 1 << 20
"""Octets of compact JSON up to which the output is indented; larger documents (a campaign
over many meters) stay compact, as the indenting encoder is pure Python and slow."""


def _print_json(document: dict[str, Any], out: TextIO | None = None) -> None:
    stream = sys.stdout if out is None else out
    text = json.dumps(document, ensure_ascii=False)
    if len(text) <= PRETTY_JSON_LIMIT:
        text = json.dumps(document, indent=2, ensure_ascii=False)
    stream.write(text + "\n")


def _run_read(args: argparse.Namespace) -> int:
    if args.last is not None:
        if args.start is not None or args.end is not None:
            return _usage(args, "read", "--last: give either --last or --from/--to")
        args.start, args.end = _window_bounds(args.last)
    try:
        _session_factory(args)
    except ValueError as error:
        return _usage(args, "read", str(error))
    host, port, _ = args.meter
    head = {"meter": f"{host}:{port}", "client": args.client}
    try:
        readings: list[Reading]
        readings, released = run_with_reactor(lambda reactor: _read_meter(reactor, args))
    except Exception as error:
        return _fail("read", f"{host}:{port}", error, args.json, head)
    documents = [describe(reading, args.raw) for reading in readings]
    results = [d["data_access_result"] for d in documents if "data_access_result" in d]
    code = (EXIT_RELEASE if released is not None else EXIT_RESULT if results
            else EXIT_RUNTIME if any("error" in d for d in documents) else EXIT_OK)
    if args.json:
        document: dict[str, Any] = {**head, "readings": documents}
        if released is not None:
            document.update(error=failure_name(released) or "runtime-error", message=describe_failure(released))
        elif results:
            document["error"] = f"{DATA_ACCESS_RESULT}:{results[0]}"
        elif code:
            document["error"] = next(d["error"] for d in documents if "error" in d)
        _print_json(document)
    else:
        for document in documents:
            read_text(document, sys.stdout)
    if released is not None:
        sys.stderr.write(f"dlmstw-client read: {host}:{port}: {describe_failure(released)}\n")
    return code


# -- campaign -----------------------------------------------------------------


def _add_campaign(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("items", nargs="*", metavar="METERS|TARGET",
                        help="the meters (HOST:PORT[-LAST], comma separated over any hosts, or the console's "
                             "http://.../api/meters URL), then the attributes every association reads, "
                             "[CLASS/]OBIS:ATTR (without CLASS looked up once in a meter's object list); "
                             "with --lab or --plan the meters may be left out")
    _add_association(parser, campaign=True)
    parser.add_argument("--plan", metavar="FILE", help="a TOML campaign plan (README); options given here win")
    parser.add_argument("--lab", metavar="FILE", help="a lab.ini: its meters (unless given), and its associations "
                                                       "for --association")
    parser.add_argument("--association", metavar="NAME",
                        help="take client SAP, mechanism, context and secrets from the lab's [association:NAME]")
    parser.add_argument("--clients", type=_positive, default=1, metavar="C", help="concurrent clients per meter")
    parser.add_argument("--count", "--repetitions", dest="repetitions", type=_positive, metavar="N",
                        help="associations per client (default 1 without --duration)")
    parser.add_argument("--duration", type=_seconds, metavar="SECONDS", help="keep going until this has passed")
    parser.add_argument("--interval", type=_seconds, default=0.0, metavar="SECONDS",
                        help="pause between two associations of one client")
    parser.add_argument("--concurrency", type=_positive, default=256, metavar="N",
                        help="associations open at once over all meters (default 256)")
    parser.add_argument("--retries", type=_count, default=0, metavar="N",
                        help="try a failed association again, up to N times (each try is an attempt)")
    parser.add_argument("--with-list", action="store_true",
                        help="one GET-Request-With-List per association instead of one GET-Request-Normal each")
    parser.add_argument("--last", type=_window, metavar="WINDOW",
                        help="profile buffers: read the last WINDOW, e.g. '1 day'")
    parser.add_argument("--csv", metavar="FILE", help="write one row per association attempt to FILE")
    parser.add_argument("--summary", action="store_true",
                        help="print the readable table too (on standard error when --json takes standard output)")


_PLAN_CONVERTERS: Final[dict[str, Callable[[str], Any]]] = {
    "secret": _hex_argument, "key": _hex_argument, "auth_key": _hex_argument, "system_title": _hex_argument,
    "dedicated_key": _hex_argument, "counter_object": _obis, "signing_key": _key_file(load_private_key),
    "meter_key": _key_file(load_public_key),
}
"""Client options of a plan's [association] table that are text to convert, as on the command line."""


def _fill(args: argparse.Namespace, parser: argparse.ArgumentParser, options: dict[str, Any], where: str) -> None:
    """Set the options the command line left at their default."""
    for dest, value in options.items():
        if getattr(args, dest) == parser.get_default(dest):
            converter = _PLAN_CONVERTERS.get(dest)
            if converter is not None and isinstance(value, str):
                try:
                    value = converter(value)
                except argparse.ArgumentTypeError as error:
                    raise PlanError(f"{where}: {dest}: {error}") from None
            setattr(args, dest, value)


def _split_items(items: Sequence[str]) -> tuple[str | None, list[Target]]:
    """The meters (the first item that is no target) and the targets; ValueError for a bad target."""
    meters: str | None = None
    targets = []
    for index, item in enumerate(items):
        try:
            targets.append(parse_target(item))
        except ValueError:
            if index or item.count(".") == 5:
                raise
            meters = item
    return meters, targets


_PLAN_OPTIONS: Final = ("with_list", "repetitions", "duration", "interval", "concurrency", "clients", "timeout",
                        "retries", "lab")
"""Plan keys that are campaign options of the same name."""


def _campaign_setup(args: argparse.Namespace) -> tuple[list[Meter], list[tuple[Target, Window | None]]]:
    """Merge plan, lab and command line into ``args``; the meters and targets. PlanError or ValueError."""
    parser: argparse.ArgumentParser = args.parser
    meter_text, cli_targets = _split_items(args.items)
    plan = load_plan(args.plan) if args.plan else None
    settings = dict(plan.settings) if plan else {}
    where = args.plan or "the command line"
    _fill(args, parser, {key: settings[key] for key in _PLAN_OPTIONS if key in settings}, where)
    association = args.association or settings.get("association")
    lab = load_lab_file(args.lab) if args.lab else None
    if isinstance(association, dict):
        _fill(args, parser, association, f"{where}: association")
    elif association is not None:
        if lab is None:
            raise PlanError(f"association {association!r}: needs --lab (or lab = in the plan)")
        _fill(args, parser, association_options(lab, association, args.lab), where)
    if meter_text is not None:
        meters = (console_meters(meter_text, args.timeout) if meter_text.startswith(("http://", "https://"))
                  else parse_meter_list(meter_text))
    elif "meters" in settings:
        meters = settings["meters"]
    elif "console" in settings:
        meters = console_meters(settings["console"], args.timeout)
    elif lab is not None:
        meters = lab_meters(lab)
    else:
        raise PlanError("no meters: give HOST:PORT[-LAST], the console's /api/meters URL, --lab or a plan")
    if not meters:
        raise PlanError("the meter list is empty")
    targets = [(target, args.last) for target in cli_targets] + list(plan.targets if plan else ())
    if not targets:
        raise PlanError("nothing to read: give [CLASS/]OBIS:ATTR targets (or read = [...] in the plan)")
    return meters, targets


@inlineCallbacks
def _resolve_classes(reactor: Any, meters: Sequence[Meter], targets: Sequence[Target],
                     new_session: Callable[[int], ClientSession], timeout: float, tries: int = 8) -> Any:
    """The targets' descriptors, classes taken from a meter's object list where a target names none:
    the first of ``meters`` (up to ``tries``) that answers."""
    if all(target.class_id is not None for target in targets):
        return tuple(target.descriptor() for target in targets)
    failure: Exception | None = None
    for meter in meters[:tries]:
        try:
            protocol = yield connect(reactor, meter.host, meter.port, new_session(0), timeout)
        except Exception as error:
            failure = error
            continue
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
                              + ", ".join(label(None, t.logical_name, t.attribute_id) for t in missing))
        return tuple(target.descriptor(classes.get(target.logical_name)) for target in targets)
    assert failure is not None
    raise failure


def _reads(descriptors: Sequence[CosemAttributeDescriptor],
           windows: Sequence[Window | None]) -> tuple[tuple[CosemAttributeDescriptor, Any], ...]:
    """Each descriptor with the range access of its window (profile buffers only)."""
    reads = []
    for descriptor, window in zip(descriptors, windows):
        access = None
        if window is not None and descriptor.class_id == PROFILE_GENERIC and descriptor.attribute_id == 2:
            access = range_access(CLOCK_COLUMN, *_window_bounds(window))
        reads.append((descriptor, access))
    return tuple(reads)


@contextlib.contextmanager
def _first_interrupt_stops(run: CampaignRun) -> Iterator[None]:
    """While the campaign runs, Ctrl-C (SIGINT) starts no more attempts and lets
    those under way finish, so the report covers what was measured; a second
    Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: object) -> None:
        run.interrupted = True
        signal.signal(signal.SIGINT, previous)
        sys.stderr.write("dlmstw-client campaign: interrupted; finishing the associations under way "
                         "(Ctrl-C again to stop now)\n")

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_campaign(args: argparse.Namespace) -> int:
    try:
        meters, targets = _campaign_setup(args)
        _session_factory(args)
    except ValueError as error:
        return _usage(args, "campaign", str(error))
    try:
        table = open(args.csv, "w", newline="", encoding="utf-8") if args.csv else None
    except OSError as error:
        return _usage(args, "campaign", f"--csv {args.csv}: {error.strerror or error}")
    with contextlib.ExitStack() as closing:
        if table is not None:
            closing.enter_context(table)
        return _campaign_outcome(args, meters, targets, table)


def _campaign_outcome(args: argparse.Namespace, meters: Sequence[Meter], targets: Sequence[tuple[Target, Any]],
                      table: TextIO | None) -> int:
    """Run the campaign and print its report; the exit status."""
    repetitions = 1 if args.repetitions is None and args.duration is None else args.repetitions
    run = CampaignRun()

    @inlineCallbacks
    def campaign(reactor: Any) -> Any:
        start = yield _counter_start(reactor, args, [(meter.host, meter.port) for meter in meters])
        new_session = _session_factory(args, start, args.clients)
        descriptors = yield _resolve_classes(reactor, meters, [t for t, _ in targets], new_session, args.timeout)
        plan = Campaign(meters, _reads(descriptors, [w for _, w in targets]), new_session, args.clients,
                        repetitions, args.duration, args.interval, args.concurrency, args.timeout, args.with_list,
                        args.retries)
        progress = ProgressLine(reactor, run, plan.planned)
        progress.start()
        try:
            yield run_campaign(reactor, plan, run)
        finally:
            progress.stop()
        return plan, [label(d.class_id, d.instance_id, d.attribute_id) for d in descriptors]

    try:
        with _first_interrupt_stops(run):
            plan, attributes = run_with_reactor(campaign)
    except Exception as error:
        return _fail("campaign", "before the campaign", error, args.json, {})
    kpis = report(plan, run, attributes)
    if table is not None:
        writer = csv.writer(table)
        writer.writerow(CSV_FIELDS)
        writer.writerows(csv_rows(plan, run))
    if args.json:
        _print_json(kpis)
        if args.summary:
            campaign_text(kpis, sys.stderr)
    else:
        campaign_text(kpis, sys.stdout)
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
        "date_time": iso(CosemDateTime.from_bytes(push.date_time)) if len(push.date_time) == 12 else None,
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
        return EXIT_TRANSPORT
    except KeyboardInterrupt:
        return EXIT_OK
    if args.count and len(received) < args.count:
        sys.stderr.write(f"dlmstw-client listen: {len(received)} of {args.count} pushes within {args.timeout:g} s\n")
        return EXIT_TRANSPORT
    return EXIT_OK


# -- clone, import-gurux ---------------------------------------------------------


def _add_clone(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("meter", type=_meter_address, metavar="[udp:]HOST:PORT", help="the meter to clone")
    parser.add_argument("--transport", choices=TRANSPORTS, default="tcp",
                        help="tcp (default) or udp (the wrapper over UDP)")
    _add_association(parser)
    parser.add_argument("--output", "-o", metavar="FILE", help="write the template here (default: standard output)")


def _write_template(command: str, args: argparse.Namespace, text: str) -> int:
    """The template on standard output, or into ``--output``."""
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        sys.stderr.write(f"dlmstw-client {command}: {args.output}: {error.strerror or error}\n")
        return EXIT_RUNTIME
    return EXIT_OK


@inlineCallbacks
def _clone_meter(reactor: Any, args: argparse.Namespace) -> Any:
    """The template of ``args.meter``, read over one association."""
    host, port, _ = args.meter
    protocol = yield _connect_meter(reactor, args)
    try:
        yield protocol.associate()
        template = yield clone_meter(protocol, f"{host}:{port}",
                                     lambda line: sys.stderr.write(f"dlmstw-client clone: {line}\n"))
        yield protocol.release()
    finally:
        protocol.close()
    return template


def _run_clone(args: argparse.Namespace) -> int:
    try:
        _session_factory(args)
    except ValueError as error:
        return _usage(args, "clone", str(error))
    host, port, _ = args.meter
    try:
        text = dump_template(run_with_reactor(lambda reactor: _clone_meter(reactor, args)))
    except Exception as error:
        return _fail("clone", f"{host}:{port}", error, args.json, {"meter": f"{host}:{port}"})
    return _write_template("clone", args, text)


def _add_import_gurux(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.xml", help="a Gurux device file (GXDLMSDirector, GXDLMSObjectCollection.save)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the template here (default: standard output)")


def _run_import_gurux(args: argparse.Namespace) -> int:
    try:
        text = dump_template(import_gurux(args.file))
    except ValueError as error:
        sys.stderr.write(f"dlmstw-client import-gurux: {args.file}: {error}\n")
        return EXIT_USAGE
    return _write_template("import-gurux", args, text)


#: The Lua dissector, installed with the package (setup.cfg package_data).
WIRESHARK_PLUGIN: Final = ("dlmstw.contrib.wireshark", "dlms.lua")
#: Where Wireshark looks for a user's Lua plugins when ``tshark -G folders`` cannot say (Linux, macOS).
LUA_PLUGINS_DEFAULT: Final = "~/.local/lib/wireshark/plugins"


def _add_wireshark(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", action="store_true", help="print only the plugin's path (for tshark -X lua_script:)")


def _lua_plugins_folder() -> str:
    """Wireshark's personal Lua plugins folder, as ``tshark -G folders`` names it, else the usual one."""
    tshark = shutil.which("tshark")
    if tshark is not None:
        try:
            listing = subprocess.run([tshark, "-G", "folders"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        for line in listing.splitlines():
            name, _, folder = line.partition(":")
            if name.strip() == "Personal Lua Plugins" and folder.strip():
                return folder.strip()
    return LUA_PLUGINS_DEFAULT


def _run_wireshark(args: argparse.Namespace) -> int:
    package, name = WIRESHARK_PLUGIN
    plugin = Path(str(importlib.resources.files(package) / name))
    if not plugin.is_file():
        sys.stderr.write(f"dlmstw-client wireshark: {plugin} is missing; reinstall dlmstw\n")
        return EXIT_RUNTIME
    if args.path:
        print(plugin)
        return EXIT_OK
    folder = _lua_plugins_folder()
    print(f"""\
Wireshark dissector of DLMS/COSEM (wrapper and HDLC frames, ACSE, GET/SET/ACTION, pushes, ciphered APDUs):
  {plugin}
Install it for Wireshark and tshark (then restart Wireshark, or Analyze > Reload Lua Plugins):
  mkdir -p {folder} && cp {plugin} {folder}/
Or use it for one run:
  tshark -X lua_script:{plugin} -r dlmstw-packets.pcap -V
Ciphered APDUs are deciphered with the keys in its preferences (Protocols > DLMS), e.g.:
  tshark -X lua_script:{plugin} -o dlms.block_cipher_key:HEX -o dlms.authentication_key:HEX -r FILE -V
Meters on ports other than 4059 are found by heuristics, or set the port range: -o dlms.tcp_ports:4059-4100""")
    return EXIT_OK


COMMANDS: Final[dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                                Callable[[argparse.Namespace], int]]]] = {
    "dissect": ("print what every byte of a frame or APDU means", _add_dissect, _run_dissect),
    "read": ("read attributes of one meter (none, LLS or HLS; plain or ciphered context)", _add_read, _run_read),
    "campaign": ("KPI run: data acquisition time and communication failure rate over many meters",
                 _add_campaign, _run_campaign),
    "listen": ("receive, decipher and print pushes (Data-Notifications over TCP and UDP)", _add_listen, _run_listen),
    "wireshark": ("where the Wireshark Lua dissector is and how to install it", _add_wireshark, _run_wireshark),
    "clone": ("read a meter's objects, access rights and static values into a device template (TOML)",
              _add_clone, _run_clone),
    "import-gurux": ("convert a Gurux device XML file into a device template (TOML)",
                     _add_import_gurux, _run_import_gurux),
}
"""Subcommand name -> (help, argument adder, runner)."""


class UsageError(Exception):
    """A command line argparse refuses: ``command`` and the one-line ``message``."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error`` raises UsageError instead of printing the usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def _usage(args: argparse.Namespace, command: str, message: str) -> int:
    """A bad argument found after parsing: one line, JSON with ``error`` under --json, exit 2."""
    sys.stderr.write(f"dlmstw-client {command}: {message}\n")
    if getattr(args, "json", False):
        _print_json({"error": "usage", "message": message})
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dlmstw-client", description="DLMS/COSEM client tools of dlmstw")
    parser.add_argument("--version", action="version", version=f"dlmstw-client {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       parser_class=_Parser)
    for name, (summary, add, run) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        add(sub)
        sub.set_defaults(run=run, parser=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dlmstw-client``; returns the exit code (2 for bad arguments)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(arguments)
    except UsageError as error:
        sys.stderr.write(f"{error.command}: {error}\n")
        if "--json" in arguments:
            _print_json({"error": "usage", "message": str(error)})
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"dlmstw-client {args.command}: interrupted\n")
        return EXIT_RUNTIME
    except BrokenPipeError:
        # The reader went away (``dlmstw-client dissect ... | head``): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

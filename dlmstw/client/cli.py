"""The ``dlmstw-client`` command line (DESIGN.md "Command lines").

Subcommands are registered in :data:`COMMANDS` (name -> (adder, runner)): an
adder declares the subcommand's arguments on its argparse subparser, a runner
takes the parsed namespace and returns the exit code. ``dissect`` prints the
dissector's field tree for one frame or APDU given in hex.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final, TextIO

from dlmstw.dissector import Field, Keys, dissect_apdu, dissect_frame
from dlmstw.framing.wrapper import WRAPPER_VERSION

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
    """True when ``data`` starts with the wrapper version 0x0001 (IEC 62056-47).

    No APDU starts with 0x00 (Green Book 9.5 tags), so a frame whose length
    field does not match what follows is still a frame, and its dissection
    reports the mismatch.
    """
    return len(data) >= 2 and int.from_bytes(data[:2], "big") == WRAPPER_VERSION


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
                        help="a wrapper frame or a bare APDU in hex (blanks allowed)")
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


COMMANDS: Final[dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                                Callable[[argparse.Namespace], int]]]] = {
    "dissect": ("print what every byte of a frame or APDU means", _add_dissect, _run_dissect),
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

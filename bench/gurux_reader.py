"""A well-behaved head-end beside the hostile load: the unmodified gurux-dlms
client (a test dependency, only called here) reads one meter over LLS in a
loop, a new connection and association each time, ``--interval`` seconds
apart, until its standard input closes or ``--seconds`` pass. Each read is
the clock, a few registers, the load profile's capture objects and its last
two hours by range selective access (Blue Book 4.3.6, selector 1), then RLRQ.

A read that raises, times out, or finds no profile row in the window is an
error. At the end it prints one JSON line: reads, errors, the first error
texts, the profile rows read, and the seconds it ran.

    python bench/gurux_reader.py --port P [--client-sap 32 --password ABCD0001] [--interval 0.1] [--seconds 900]
"""

from __future__ import annotations

import argparse
import datetime
import json
import select
import sys
import time
from collections.abc import Sequence
from typing import Any

from gurux_dlms import GXByteBuffer, GXDLMSClient, GXDLMSException, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSClock, GXDLMSObject, GXDLMSProfileGeneric, GXDLMSRegister

import harness
from harness import METER_WPORT, BlockingClient

CLOCK = "0.0.1.0.0.255"
#: Voltage L1, current L1 and the cumulative active energy import of the IS 15959 models.
REGISTERS = ("1.0.32.7.0.255", "1.0.31.7.0.255", "1.0.1.8.0.255")
LOAD_PROFILE = "1.0.99.1.0.255"
WINDOW = datetime.timedelta(hours=2)
#: Seconds the meter has for each answer.
TIMEOUT = 10.0
#: Error texts kept for the report.
KEPT_ERRORS = 5


class ReadError(Exception):
    """A read that did not give what a head-end expects."""


class Reader:
    """One connection to the meter, driven by one ``GXDLMSClient``."""

    def __init__(self, port: int, client_sap: int, password: str) -> None:
        self.client = GXDLMSClient(True, client_sap, METER_WPORT, Authentication.LOW, password,
                                   InterfaceType.WRAPPER)
        self.connection = BlockingClient(port, client_sap, TIMEOUT)

    def exchange(self, request: Sequence[bytes | bytearray]) -> GXReplyData:
        """Send a request's frames; follow GET-Response-With-Datablock until gurux has it all."""
        reply = GXReplyData()
        frames = list(request)
        while frames:
            for frame in frames:
                received = self.connection.transfer(bytes(frame))
                if not self.client.getData(GXByteBuffer(received), reply, None):
                    raise ReadError(f"gurux found the answer {received.hex()} incomplete")
            frames = list(self.client.receiverReady(reply)) if reply.isMoreData() else []
        if reply.error:
            raise GXDLMSException(reply.error)
        return reply

    def read(self, obj: GXDLMSObject, attribute: int) -> Any:
        reply = self.exchange(self.client.read(obj, attribute))
        return self.client.updateValue(obj, attribute, reply.value)

    def read_once(self) -> int:
        """Associate, read the clock, the registers and the profile window, release;
        the number of profile rows."""
        self.client.parseAareResponse(self.exchange(self.client.aarqRequest()).data)
        clock = GXDLMSClock(CLOCK)
        self.read(clock, 2)
        for logical_name in REGISTERS:
            if self.read(GXDLMSRegister(logical_name), 2) is None:
                raise ReadError(f"register {logical_name} has no value")
        profile = GXDLMSProfileGeneric(LOAD_PROFILE)
        self.read(profile, 3)
        end = clock.time.value
        reply = self.exchange(self.client.readRowsByRange(profile, end - WINDOW, end))
        self.client.updateValue(profile, 2, reply.value)
        if not profile.buffer:
            raise ReadError(f"no row of {LOAD_PROFILE} between {end - WINDOW} and {end}")
        self.exchange(self.client.releaseRequest())
        return len(profile.buffer)

    def close(self) -> None:
        self.connection.close()


def stdin_closed(wait: float) -> bool:
    """Whether the parent closes our standard input (its way of saying stop) within ``wait`` seconds."""
    if not select.select([sys.stdin], [], [], wait)[0]:
        return False
    return not sys.stdin.buffer.read1(4096)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-sap", type=int, default=32)
    parser.add_argument("--password", default="ABCD0001")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between two reads")
    parser.add_argument("--seconds", type=float, default=900.0, help="stop after this long at the latest")
    args = parser.parse_args(argv)
    began = time.monotonic()
    reads = errors = rows = 0
    texts: list[str] = []
    while time.monotonic() - began < args.seconds and not stdin_closed(args.interval):
        reads += 1
        try:
            reader = Reader(args.port, args.client_sap, args.password)
            try:
                rows += reader.read_once()
            finally:
                reader.close()
        except Exception as error:  # every failure is the figure this tool reports
            errors += 1
            if len(texts) < KEPT_ERRORS:
                texts.append(f"read {reads}: {type(error).__name__}: {error}".strip())
    print(json.dumps({"reads": reads, "errors": errors, "first_errors": texts, "rows": rows,
                      "seconds": round(time.monotonic() - began, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    harness.stop_on_sigterm()
    sys.exit(main(sys.argv[1:]))

"""Memory target 4: profile rows are generated on demand, so reading a 35-day
5-minute block load profile does not make the meter's memory grow with the
profile's size.

One ``meter_server.py`` process with two meters: a 1-day profile (read first,
to warm every code path) and a 35-day one (10,080 rows). A client associates
with client-max-receive-pdu-size 256 and reads the whole buffer of the block
load profile (class 7, 1.0.99.1.0.255, attribute 2) by block transfer
(GET-Request-Normal, then GET-Request-Next until the last block), once and then
4 more times. The meter's VmRSS is read before and after, and its peak
(VmHWM, reset before the reads) shows any transient copy of the buffer. Then 5
reads more tell a store that fills up and stops (past exchanges, caches)
from memory that keeps growing.

The first reads fill the bounded stores every exchange passes through (the
console's capture buffer keeps the last exchanges with their frames, up to
8 MiB). PASS when the 5 reads after those (peak and RSS) grow memory by no
more than ``--limit`` of the profile's encoded size per read (default 10 %): a
meter that held the buffer, even only as its encoding, would grow by all of it
on every read.

    python bench/profile_memory.py [--limit 0.1]

Exit status: 0 PASS, 1 FAIL, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import harness
from dlmstw.codec import acse, axdr, services, xdlms
from dlmstw.codec.obis import parse_obis
from dlmstw.codec.services import (CosemAttributeDescriptor, GetRequestNext, GetRequestNormal,
                                   GetResponseNormal, GetResponseWithDatablock)
from dlmstw.enums import ApplicationContextName, AssociationResult, Conformance, DataType
from dlmstw.errors import DecodeError
from harness import BenchError, BlockingClient, ServerProcess, verdict

BLOCK_LOAD_PROFILE = CosemAttributeDescriptor(7, parse_obis("1.0.99.1.0.255"), 2)
MAX_PDU = 256
INVOKE_ID_AND_PRIORITY = 0xC1
ROWS_PER_DAY = 24 * 60 // 5
DAYS = 35
READS = 5
#: Public client AARQ: LN context, InitiateRequest with conformance 007E1F (get, set, action,
#: selective access, block transfer with get ...) and client-max-receive-pdu-size 256.
AARQ = acse.encode_aarq(acse.AARQ(
    application_context_name=ApplicationContextName.LOGICAL_NAME,
    user_information=xdlms.encode_initiate_request(xdlms.InitiateRequest(
        dedicated_key=None, response_allowed=True, proposed_quality_of_service=None,
        proposed_dlms_version_number=6, proposed_conformance=Conformance(0x007E1F),
        client_max_receive_pdu_size=MAX_PDU))))


def lab_groups(first_port: int, directory: Path) -> str:
    """Two groups: the 1-day warm-up meter on ``first_port``, the 35-day meter on the next port."""
    one_day = harness.lab_ini(first_port, 1, directory / "state", load_profile_interval=5, load_profile_days=1)
    return one_day + f"""
[meters:thirty-five-days]
count = 1
interface = 127.0.0.1
port = {first_port + 1}
model = is15959-abt
serial = 2000001
system_title = 4D4D4D0000CC614E
max_clients = 4
load_profile_interval = 5
load_profile_days = {DAYS}
seed = 43
"""


def read_profile(port: int) -> tuple[int, int, int]:
    """Associate, read the whole block load profile buffer by blocks, release:
    (rows, encoded bytes, blocks)."""
    with BlockingClient(port) as client:
        try:
            aare = acse.decode_aare(client.exchange(AARQ))
        except DecodeError as error:
            raise BenchError(f"no AARE: {error}") from None
        if aare.result != AssociationResult.ACCEPTED:
            raise BenchError(f"association refused: {aare}")
        data = bytearray()
        blocks = 0
        request = services.encode_request(GetRequestNormal(INVOKE_ID_AND_PRIORITY, BLOCK_LOAD_PROFILE, None))
        while True:
            apdu = client.exchange(request)
            if len(apdu) > MAX_PDU:
                raise BenchError(f"the meter sent {len(apdu)} bytes, above the client's max PDU {MAX_PDU}")
            try:
                response = services.decode_response(apdu)
            except DecodeError as error:
                raise BenchError(f"GET response {apdu[:32].hex()}...: {error}") from None
            if isinstance(response, GetResponseNormal) and isinstance(response.result, bytes):
                data += response.result
                break
            if not isinstance(response, GetResponseWithDatablock) or not isinstance(response.raw_data, bytes):
                raise BenchError(f"GET of the block load profile failed: {response}")
            blocks += 1
            if response.block_number != blocks:
                raise BenchError(f"block {response.block_number} arrived, {blocks} expected")
            data += response.raw_data
            if response.last_block:
                break
            request = services.encode_request(GetRequestNext(INVOKE_ID_AND_PRIORITY, blocks))
        client.exchange(acse.encode_rlrq(acse.RLRQ(reason=0)))
    if data[:1] != bytes((DataType.ARRAY,)):
        raise BenchError(f"the buffer is not an array: {bytes(data[:16]).hex()}")
    try:
        rows, _ = axdr.decode_length(bytes(data), 1)
    except DecodeError as error:
        raise BenchError(f"the buffer's array length: {error}") from None
    return rows, len(data), blocks


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=float, default=0.1,
                        help="largest allowed growth, as a fraction of the profile's encoded size")
    parser.add_argument("--reads", type=int, default=READS, help=f"reads per series (default {READS})")
    parser.add_argument("--quick", action="store_true", help="a check that it runs, not a measurement: 1 read per series")
    args = parser.parse_args(argv)
    reads = 1 if args.quick else args.reads
    harness.stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="dlmstw-bench-") as folder:
        directory = Path(folder)
        first_port = harness.free_port_range(2)
        ini = directory / "lab.ini"
        ini.write_text(lab_groups(first_port, directory))
        with ServerProcess("meter", [str(harness.BENCH_DIR / "meter_server.py"), str(ini)],
                           log_path=directory / "meter.log") as meter:
            rows, size, blocks = read_profile(first_port)
            print(f"warm-up: 1-day profile, {rows} rows, {size:,} bytes in {blocks} blocks")
            before = harness.proc_status(meter.pid)["VmRSS"]
            harness.reset_peak_rss(meter.pid)
            started = time.perf_counter()
            rows, size, blocks = read_profile(first_port + 1)
            seconds = time.perf_counter() - started
            after_one = harness.proc_status(meter.pid)
            for _ in range(reads - 1):
                read_profile(first_port + 1)
            after_all = harness.proc_status(meter.pid)
            for _ in range(reads):
                read_profile(first_port + 1)
            after_more = harness.proc_status(meter.pid)
    if rows < DAYS * ROWS_PER_DAY:
        raise BenchError(f"the 35-day profile has {rows} rows, fewer than {DAYS * ROWS_PER_DAY}")
    print(f"35-day 5-minute profile: {rows:,} rows, {size:,} bytes in {blocks:,} blocks of ≤ {MAX_PDU} bytes, "
          f"read in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)")
    mib = 2 ** 20
    print(f"  meter VmRSS before            {before / mib:>8.2f} MiB")
    print(f"  after 1 read                  {after_one['VmRSS'] / mib:>8.2f} MiB   "
          f"(growth {(after_one['VmRSS'] - before) / 1024:>7.0f} KiB)")
    print(f"  after {reads} reads                 {after_all['VmRSS'] / mib:>8.2f} MiB   "
          f"(growth {(after_all['VmRSS'] - before) / 1024:>7.0f} KiB)")
    print(f"  peak during the {reads} reads       {after_all['VmHWM'] / mib:>8.2f} MiB   "
          f"(growth {(after_all['VmHWM'] - before) / 1024:>7.0f} KiB)")
    later = max(after_more["VmHWM"], after_more["VmRSS"]) - max(after_all["VmHWM"], after_all["VmRSS"])
    print(f"  {reads} reads more, peak            {after_more['VmHWM'] / mib:>8.2f} MiB   "
          f"(growth {later / 1024:>7.0f} KiB over the first {reads} reads)")
    limit = args.limit * size * reads
    passed = later <= limit
    print(f"\nmemory growth reading the 35-day profile {reads} more times = {later / 1024:.0f} KiB, target ≤ "
          f"{args.limit:.0%} of its {size / 1024:.0f} KiB per read = {limit / 1024:.0f} KiB: {verdict(passed)}")
    return 0 if passed else 1


if __name__ == "__main__":
    harness.run_main(main)

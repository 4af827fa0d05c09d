"""A coverage-guided fuzz target (atheris, libFuzzer) for the meter's whole
frame-to-response path: a meter of the sample models behind a
``StringTransport``, fed the fuzzer's bytes as a client's stream, after a
public, an LLS or no association, in chunks the input chooses.

It fails on any exception that leaves the meter's protocol, and on any
exchange the meter itself captured as ``internal-error``: bad input must get
the standard's answer or a closed connection, never an internal error.

    python bench/fuzz_meter.py corpus DIR          # write the seed corpus: real exchanges
    python bench/fuzz_meter.py DIR -max_total_time=3600 -jobs=2   # fuzz (libFuzzer flags)

The seeds are the frames and APDUs of tests/vectors (wrapped when bare) and
the meter's own answers to them.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import atheris

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

with atheris.instrument_imports(include=["dlmstw"]):
    from dlmstw.codec import acse
    from dlmstw.config import parse_lab
    from dlmstw.framing.wrapper import encode_wpdu
    from dlmstw.monitor.capture import CaptureBus
    from dlmstw.plugins.registry import load_registry
    from dlmstw.server.service import LabService

REPO = Path(__file__).resolve().parent.parent
LAB = f"""
[simulator]
state_dir = {tempfile.mkdtemp(prefix="dlmstw-fuzz-")}
packet_log = -

[meters:abt]
count = 1
port = 4059
load_profile_days = 1
load_profile_interval = 15

[meters:household]
count = 1
port = 5059
model = is15959-household
load_profile_days = 1

[association:public]
client_sap = 16

[association:reader]
client_sap = 32
authentication = lls
lls_password = ABCD0001
access = full

[association:utility]
client_sap = 48
authentication = hls-gmac
context = ln-ciphered
security = authenticated-encryption
authentication_key = D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF
block_cipher_key = 000102030405060708090A0B0C0D0E0F
"""
PUBLIC_AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
LLS_AARQ = acse.encode_aarq(acse.AARQ(application_context_name=1, sender_acse_requirements=True, mechanism_name=1,
                                      calling_authentication_value=b"ABCD0001",
                                      user_information=acse.decode_aarq(PUBLIC_AARQ).user_information))
#: What precedes the fuzzer's bytes: nothing, a public or an LLS association.
OPENINGS = (b"", encode_wpdu(16, 1, PUBLIC_AARQ), encode_wpdu(32, 1, LLS_AARQ))
CLOCK = Clock()
SERVICE = LabService(parse_lab(LAB), load_registry(), CaptureBus(CLOCK.callLater), clock=lambda: 1_767_225_600.0)
METERS = list(SERVICE.factories.values())


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    meter = METERS[provider.ConsumeIntInRange(0, len(METERS) - 1)]
    opening = OPENINGS[provider.ConsumeIntInRange(0, len(OPENINGS) - 1)]
    chunk = provider.ConsumeIntInRange(1, 64)
    stream = opening + provider.ConsumeBytes(provider.remaining_bytes())
    before = meter.counters["internal-error"]
    protocol = meter.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 50000))
    protocol.makeConnection(transport)
    for start in range(0, len(stream), chunk):
        if transport.disconnecting:
            break
        protocol.dataReceived(stream[start:start + chunk])
    protocol.connectionLost()
    if meter.counters["internal-error"] != before:
        raise AssertionError(f"internal error for {stream.hex()}")


def seeds() -> list[bytes]:
    """The frames and APDUs of tests/vectors, each a seed as a wrapped frame."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_grammar import FRAMES  # the vectors' frames, found by the grammar tests

    found = []
    for octets in FRAMES:
        frame = octets if octets[:2] == b"\x00\x01" else encode_wpdu(16, 1, octets)
        found.append(bytes(4) + frame)  # meter 0, no opening, chunks of 1
        found.append(bytes((0, 1, 0, 63)) + frame)
    return found


def write_corpus(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds():
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    return len(list(directory.iterdir()))


def main() -> None:
    if sys.argv[1:2] == ["corpus"]:
        print(f"{write_corpus(Path(sys.argv[2]))} seeds in {sys.argv[2]}")
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

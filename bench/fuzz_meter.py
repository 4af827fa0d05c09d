"""A coverage-guided fuzz target (atheris, libFuzzer) for the meter's whole
frame-to-response path: a meter of the sample models behind a
``StringTransport``, fed the fuzzer's bytes as a client's stream, in chunks the
input chooses, in every session state: unassociated, after a public or an LLS
association, with HLS pending (between passes 2 and 3), in an association
ciphered under each security policy (where the input may have the target
protect its bytes as a valid glo- or general-glo-ciphered APDU, so that they
reach the services), and in the middle of a GET block transfer.

It fails on any exception that leaves the meter's protocol, on any exchange
the meter itself captured as ``internal-error``, and on any log line at error
level (an exception inside a COSEM object is answered other-reason and logged
so): bad input must get the standard's answer or a closed connection.

    python bench/fuzz_meter.py corpus DIR          # write the seed corpus: real exchanges
    python bench/fuzz_meter.py DIR -max_total_time=3600 -jobs=2   # fuzz (libFuzzer flags)

The seeds are the frames and APDUs of tests/vectors (wrapped when bare) and
the meter's own answers to them.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

with atheris.instrument_imports(include=["dlmstw"]):
    from dlmstw.codec import acse
    from dlmstw.config import parse_lab
    from dlmstw.enums import ApduTag
    from dlmstw.framing.wrapper import encode_wpdu
    from dlmstw.monitor.capture import CaptureBus
    from dlmstw.plugins.registry import load_registry
    from dlmstw.security import ciphering
    from dlmstw.server.service import LabService

REPO = Path(__file__).resolve().parent.parent
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
#: The ciphered associations by client SAP: (security control of their policy, mechanism).
CIPHERED = {48: (0x30, 5), 64: (0x10, 1), 65: (0x20, 1), 66: (0x30, 1)}
POLICY_NAMES = {0x10: "authentication", 0x20: "encryption", 0x30: "authenticated-encryption"}
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
authentication_key = {AK.hex()}
block_cipher_key = {EK.hex()}
""" + "".join(f"""
[association:ciphered-{sap}]
client_sap = {sap}
authentication = lls
lls_password = ABCD0001
context = ln-ciphered
security = {POLICY_NAMES[sc]}
access = full
authentication_key = {AK.hex()}
block_cipher_key = {EK.hex()}
""" for sap, (sc, mechanism) in CIPHERED.items() if mechanism == 1)
PUBLIC_AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
INITIATE_REQUEST = acse.decode_aarq(PUBLIC_AARQ).user_information
LLS_AARQ = acse.encode_aarq(acse.AARQ(application_context_name=1, sender_acse_requirements=True, mechanism_name=1,
                                      calling_authentication_value=b"ABCD0001", user_information=INITIATE_REQUEST))
#: GET-Request-Normal of the load profile's buffer: its answer takes several blocks.
PROFILE_GET = bytes.fromhex("C001C100070100630100FF0200")
CLOCK = Clock()
SERVICE = LabService(parse_lab(LAB), load_registry(), CaptureBus(CLOCK.callLater), clock=lambda: 1_767_225_600.0)
METERS = list(SERVICE.factories.values())
#: Client invocation counters only grow: the meters' security stores outlive each input.
COUNTERS = itertools.count(1)
ERRORS: list[str] = []


def _error_observer(event: dict) -> None:
    if event.get("log_level") in (LogLevel.error, LogLevel.critical):
        ERRORS.append(formatEvent(event))


globalLogPublisher.addObserver(_error_observer)


def protect(plain: bytes, security_control: int, general: bool = False) -> bytes:
    """``plain`` protected as the test client (global key, next counter)."""
    protected = ciphering.protect(plain, security_control=security_control, system_title=CLIENT_TITLE,
                                  invocation_counter=next(COUNTERS), block_cipher_key=EK, authentication_key=AK)
    if general:
        return ciphering.encode_general_ciphering(ApduTag.GENERAL_GLO_CIPHERING, CLIENT_TITLE, protected)
    return ciphering.encode_ciphered_apdu(ciphering.GLOBAL_CIPHERED_TAG[plain[0]], protected)


def ciphered_aarq(sap: int) -> bytes:
    security_control, mechanism = CIPHERED[sap]
    value = b"ABCD0001" if mechanism == 1 else bytes(range(16))
    return acse.encode_aarq(acse.AARQ(application_context_name=3, calling_ap_title=CLIENT_TITLE,
                                      sender_acse_requirements=True, mechanism_name=mechanism,
                                      calling_authentication_value=value,
                                      user_information=protect(INITIATE_REQUEST, security_control)))


#: What precedes the fuzzer's bytes, by session state: the client SAP and the frames.
OPENINGS: tuple[tuple[int, Callable[[], bytes]], ...] = (
    (16, lambda: b""),
    (16, lambda: encode_wpdu(16, 1, PUBLIC_AARQ)),
    (32, lambda: encode_wpdu(32, 1, LLS_AARQ)),
    (16, lambda: encode_wpdu(16, 1, PUBLIC_AARQ) + encode_wpdu(16, 1, PROFILE_GET)),
    *((sap, lambda sap=sap: encode_wpdu(sap, 1, ciphered_aarq(sap))) for sap in CIPHERED),
)


def feed(meter: object, stream: bytes, chunk: int) -> None:
    """Send ``stream`` to a new connection of ``meter``, ``chunk`` bytes at a time;
    AssertionError on an internal error or an error logged."""
    del ERRORS[:]
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
    if ERRORS:
        raise AssertionError(f"error logged for {stream.hex()}:\n" + "\n".join(ERRORS))


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    meter = METERS[provider.ConsumeIntInRange(0, len(METERS) - 1)]
    sap, opening = OPENINGS[provider.ConsumeIntInRange(0, len(OPENINGS) - 1)]
    chunk = provider.ConsumeIntInRange(1, 64)
    wrap = sap in CIPHERED and provider.ConsumeBool()
    general = provider.ConsumeBool() if wrap else False
    rest = provider.ConsumeBytes(provider.remaining_bytes())
    stream = opening()  # first: its AARQ takes the lower invocation counter
    if wrap and rest and rest[0] in ciphering.GLOBAL_CIPHERED_TAG:
        rest = encode_wpdu(sap, 1, protect(rest, CIPHERED[sap][0], general))
    feed(meter, stream + rest, chunk)


def seeds() -> list[bytes]:
    """The frames and APDUs of tests/vectors, each a seed as a wrapped frame."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_grammar import FRAMES  # the vectors' frames, found by the grammar tests

    found = []
    for octets in FRAMES:
        frame = octets if octets[:2] == b"\x00\x01" else encode_wpdu(16, 1, octets)
        found.append(bytes(4) + frame)  # meter 0, no opening, chunks of 1
        found.append(bytes((0, 1, 0, 63)) + frame)
    get_clock = bytes.fromhex("C001C100080000010000FF0200")
    found.append(bytes((0, 3, 63)) + encode_wpdu(16, 1, bytes.fromhex("C002C100000001")))
    for index, (sap, _) in enumerate(OPENINGS):
        if sap in CIPHERED:  # the target protects the request, glo- and general-glo-ciphered
            found += [bytes((0, index, 63, 1, general)) + get_clock for general in (0, 1)]
            found.append(bytes((0, index, 63, 0)) + encode_wpdu(sap, 1, get_clock))
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

"""The Wireshark Lua dissector (dlmstw/contrib/wireshark/dlms.lua, issue 15 item 3)
run by tshark on a capture the console exported: the fields of every APDU kind by
name, a ciphered GET deciphered with the keys given as preferences (AES-GCM in
Lua, checked against the meter's own ciphering), an HDLC meter's frames and
segments, gurux-dlms's segmented HDLC requests, and ``dlmstw-client wireshark``.

tshark is required (CI installs Debian's tshark): these tests fail without it.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gurux_dlms import GXDLMSClient
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSClock

from dlmstw.client.cli import main
from dlmstw.enums import (
    ActionResult,
    ApduTag,
    DataAccessResult,
    DataType,
    ServiceError,
    StateError,
    enum_name,
)
from dlmstw.framing.wrapper import encode_wpdu
from dlmstw.monitor.capture import Exchange
from dlmstw.monitor.pcap import write_pcap
from dlmstw.security.ciphering import encode_ciphered_apdu, encode_general_ciphering, protect
from interop_support import REPO_ROOT, twistd_env
from wireshark_support import AK, CLIENT_TITLE, EK, METER_TITLE, capture

PLUGIN = Path(__file__).resolve().parent.parent / "dlmstw" / "contrib" / "wireshark" / "dlms.lua"
KEYS = ["-o", f"dlms.block_cipher_key:{EK}", "-o", f"dlms.authentication_key:{AK}"]


def tshark(pcap: Path, *options: str) -> str:
    """tshark's full tree (-V) of the DLMS layer of every packet, packets split by blank lines."""
    program = shutil.which("tshark")
    assert program is not None, "tshark is not installed (apt-get install tshark)"
    result = subprocess.run([program, "-X", f"lua_script:{PLUGIN}", "-r", str(pcap), "-O", "dlms", "-V", *options],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Lua: Error" not in result.stderr, result.stderr
    return result.stdout


def packets(text: str) -> list[str]:
    """The DLMS layer of each packet (the lines from "DLMS/COSEM" on)."""
    return [block[block.index("DLMS/COSEM"):] for block in text.split("\n\n") if "DLMS/COSEM" in block]


def first(blocks: list[str], pattern: str) -> str:
    found = [block for block in blocks if re.search(pattern, block)]
    assert found, f"no packet matches {pattern!r}"
    return found[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wireshark")
    path = directory / "dlmstw-packets.pcap"
    path.write_bytes(capture(directory))
    return path


def test_fields_of_every_apdu_by_name(exported: Path) -> None:
    blocks = packets(tshark(exported))
    aarq = first(blocks, r"APDU: aarq \(0x60\)")
    for line in ("application-context-name: Logical name referencing, no ciphering (1)",
                 "mechanism-name: LLS (low level security, password) (1)",
                 "calling-authentication-value: 4142434430303031", "APDU: initiate-request (0x01)",
                 "dlms-version-number: 6", "max-receive-pdu-size: 65535", "= get: True"):
        assert line in aarq, aarq
    aare = first(blocks, r"APDU: aare \(0x61\): Logical name referencing, no ciphering")
    for line in ("result: accepted (0)", "result-source-diagnostic: null (0)", "APDU: initiate-response (0x08)",
                 "vaa-name: 0x0007"):
        assert line in aare, aare
    get = first(blocks, r"service: get-request-normal\n")
    for line in ("invoke-id-and-priority: 0xc1", "class-id: Clock (8)", "instance-id: 0-0:1.0.0*255",
                 "attribute-id: 2", "Wrapper header: wPort 32 -> wPort 1"):
        assert line in get, get
    got = first(blocks, r"service: get-response-normal\n(.|\n)*data: octet-string: 07")
    assert re.search(r"data: octet-string: 07[0-9A-F]{22} \(20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\.\d\d, "
                     r"deviation 0 min, status 0x00\)", got), got
    notification = first(blocks, r"APDU: data-notification \(0x0f\)")
    for line in ("long-invoke-id-and-priority: 0x00000001", "notification-body: structure (3 elements)",
                 "[0]: octet-string: 0000190900FF (0-0:25.9.0*255)", "Wrapper header: wPort 1 -> wPort 102"):
        assert line in notification, notification
    assert "[1]\n                data: octet-string: 31303030303031" in first(blocks, "service: get-response-with-list")
    assert "cosem-attribute-descriptor: class 1, 0-0:96.1.0*255" in first(blocks, "service: get-request-with-list")
    assert "data-access-result: success (0)" in first(blocks, "service: set-response-normal")
    assert "value: structure (3 elements)" in first(blocks, "service: set-request-normal")
    assert "method-id: 1" in first(blocks, "service: action-request-normal")
    assert "action-result: success (0)" in first(blocks, "service: action-response-normal")
    block = first(blocks, "service: get-response-with-datablock")
    assert "last-block: False" in block and "block-number: 1" in block and "raw-data: " in block
    assert "block-number: 1" in first(blocks, "service: get-request-next")
    assert "reason: normal (0)" in first(blocks, r"APDU: rlrq \(0x62\)")
    assert "APDU: rlre (0x63)" in "".join(blocks)
    assert "malformed" not in "".join(blocks).lower()


def test_the_heuristics_find_frames_on_other_ports(exported: Path) -> None:
    """The meter listens on a port other than 4059: every packet with a payload is DLMS all the same."""
    program = shutil.which("tshark")
    assert program is not None
    result = subprocess.run([program, "-X", f"lua_script:{PLUGIN}", "-r", str(exported), "-Y", "tcp.len > 0 && !dlms",
                             "-o", "dlms.tcp_ports:"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_a_ciphered_get_is_deciphered_with_the_keys(exported: Path) -> None:
    blocks = packets(tshark(exported, *KEYS))
    request = first(blocks, r"APDU: glo-get-request \(0xc8\)")
    for line in ("security-control: 0x30", "security-suite: AES-GCM-128 (0)", "authentication-tag: ",
                 "deciphered: deciphered, authentication tag verified", "service: get-request-normal",
                 "instance-id: 0-0:1.0.0*255", "attribute-id: 2"):
        assert line in request, request
    response = first(blocks, r"APDU: glo-get-response \(0xcc\)")
    assert "deciphered: deciphered, authentication tag verified" in response, response
    assert re.search(r"service: get-response-normal\n(.|\n)*data: octet-string: 07", response), response
    aarq = first(blocks, r"APDU: aarq \(0x60\): Logical name referencing with ciphering")
    assert f"calling-AP-title: {CLIENT_TITLE.lower()}" in aarq and "APDU: initiate-request (0x01)" in aarq
    aare = first(blocks, r"APDU: aare \(0x61\): Logical name referencing with ciphering")
    assert f"responding-AP-title: {METER_TITLE.lower()}" in aare and "APDU: initiate-response (0x08)" in aare


def test_without_the_keys_or_with_a_wrong_key_nothing_is_deciphered(exported: Path) -> None:
    request = first(packets(tshark(exported)), r"APDU: glo-get-request")
    assert "deciphered: not deciphered: no block cipher key" in request and "get-request-normal" not in request
    wrong = ["-o", f"dlms.block_cipher_key:{'00' * 16}", "-o", f"dlms.authentication_key:{AK}"]
    request = first(packets(tshark(exported, *wrong)), r"APDU: glo-get-request")
    assert "the authentication tag does NOT verify" in request and "get-request-normal" not in request


def test_hdlc_frames_of_the_console(exported: Path) -> None:
    """The HDLC meter's frames: SNRM/UA with the negotiated parameters, I frames with the LLC
    header and their APDU, the object list in segments put together, DISC/UA."""
    blocks = packets(tshark(exported))
    snrm = first(blocks, "HDLC frame: SNRM P/F")
    for line in ("destination-address: upper 1, lower 17 (2 octets)", "source-address: 32 (1 octets)",
                 "parameter: max-info-field-length-transmit: 64", "parameter: max-info-field-length-receive: 64"):
        assert line in snrm, snrm
    ua = first(blocks, "HDLC frame: UA P/F\n(.|\n)*parameter: max-info-field-length-receive: 64")
    assert "destination-address: 32 (1 octets)" in ua and "fcs: " in ua and "(good)" in ua, ua
    aarq = first(blocks, r"HDLC frame: I N\(R\)=0 N\(S\)=0 P/F\n(.|\n)*APDU: aarq \(0x60\)")
    assert "llc-header: e6e600" in aarq and "mechanism-name: LLS (low level security, password) (1)" in aarq
    aare = first(blocks, r"HDLC frame: I N\(R\)=1 N\(S\)=0 P/F\n(.|\n)*APDU: aare \(0x61\)")
    assert "llc-header: e6e700" in aare and "result: accepted (0)" in aare
    segmented = first(blocks, r"segmentation: True")
    assert segmented.count("HDLC frame: I ") > 10 and "service: get-response-normal" in segmented
    assert re.search(r"data: array \(\d+ elements\)", segmented), segmented
    assert "HDLC frame: DISC P/F" in "".join(blocks)
    assert "(bad)" not in "".join(blocks) and "malformed" not in "".join(blocks).lower()


def test_ciphering_variants_over_udp(tmp_path: Path) -> None:
    """Datagrams on UDP port 4059 and, found by the heuristics, on port 5000, protected with
    dlmstw.security.ciphering: a general-glo-ciphering push (the title in the APDU), an
    authenticated-only GET (the plain APDU read without keys, the tag checked with them), an
    encrypted-only GET-response (the meter's title from the preferences), a ded-GET with the
    dedicated key of the preferences, and a GET-response of suite 2 (AES-256)."""
    meter, client = bytes.fromhex(METER_TITLE), bytes.fromhex(CLIENT_TITLE)
    ek, ak, dk, ek256 = bytes.fromhex(EK), bytes.fromhex(AK), bytes(range(16, 32)), bytes(range(32))
    get = bytes.fromhex("C001C100080000010000FF0200")
    got = bytes.fromhex("C401C100090C07EA0C060702392935000000")
    push = bytes.fromhex("0F0000000100020209060000190900FF0A03414243")
    plans = [  # (plain APDU, security control, sender's title, invocation counter, key, authentication key)
        (push, 0x30, meter, 7, ek, ak), (get, 0x10, client, 8, ek, ak), (got, 0x20, meter, 9, ek, ak),
        (get, 0x30, client, 10, dk, ak), (got, 0x32, meter, 11, ek256, ek256[::-1])]
    protected = [protect(plain, security_control=sc, system_title=title, invocation_counter=ic,
                         block_cipher_key=key, authentication_key=auth) for plain, sc, title, ic, key, auth in plans]
    apdus = [encode_general_ciphering(ApduTag.GENERAL_GLO_CIPHERING, meter, protected[0])]
    apdus += [encode_ciphered_apdu(tag, text) for tag, text in zip(
        (ApduTag.GLO_GET_REQUEST, ApduTag.GLO_GET_RESPONSE, ApduTag.DED_GET_REQUEST, ApduTag.GLO_GET_RESPONSE),
        protected[1:])]
    records = [Exchange(n, 1795500779.0 + n, None, "m", "127.0.0.1:40000", f"127.0.0.1:{port}", 1, 1,
                        encode_wpdu(16, 1, apdu), None, None, None, "x", True, "success", "udp")
               for n, (port, apdu) in enumerate(zip((4059, 5000, 4059, 5000, 4059), apdus), 1)]
    path = tmp_path / "udp.pcap"
    path.write_bytes(write_pcap(records))
    blocks = packets(tshark(path, *KEYS, "-o", f"dlms.dedicated_key:{dk.hex()}",
                            "-o", f"dlms.server_system_title:{METER_TITLE}",
                            "-o", f"dlms.client_system_title:{CLIENT_TITLE}"))
    assert len(blocks) == 5, blocks
    assert f"system-title: {METER_TITLE.lower()}" in blocks[0]
    assert "deciphered: deciphered, authentication tag verified" in blocks[0]
    assert "[1]: visible-string: \"ABC\"" in blocks[0], blocks[0]
    assert "deciphered: authenticated, authentication tag verified" in blocks[1]
    assert "instance-id: 0-0:1.0.0*255" in blocks[1]
    assert "deciphered: deciphered\n" in blocks[2] and "service: get-response-normal" in blocks[2]
    assert "APDU: ded-get-request (0xd0)" in blocks[3] and "service: get-request-normal" in blocks[3]
    suite2 = packets(tshark(path, "-o", f"dlms.block_cipher_key:{ek256.hex()}",
                            "-o", f"dlms.authentication_key:{ek256[::-1].hex()}",
                            "-o", f"dlms.server_system_title:{METER_TITLE}"))[4]
    assert "security-suite: ECDH-ECDSA-AES-GCM-256-SHA-384 (2)" in suite2
    assert "deciphered: deciphered, authentication tag verified" in suite2 and "get-response-normal" in suite2
    plain = packets(tshark(path))
    assert "instance-id: 0-0:1.0.0*255" in plain[1]  # authenticated only: readable without keys
    assert "not deciphered: no block cipher key" in plain[0]


def payloads(pcap: bytes) -> list[bytes]:
    """The TCP payloads of a capture of ours (Ethernet, IPv4 and TCP headers of 14, 20 and 20 octets)."""
    found, pos = [], 24
    while pos < len(pcap):
        size = int.from_bytes(pcap[pos + 8 : pos + 12], "little")
        if size > 54:
            found.append(pcap[pos + 16 + 54 : pos + 16 + size])
        pos += 16 + size
    return found


def test_malformed_frames_are_shown_as_malformed_never_a_lua_error(exported: Path, tmp_path: Path) -> None:
    """Every captured frame cut short at every octet (the wrapper length fixed to match, so the
    APDU is read) and with random octets changed: the dissector marks them, it never fails."""
    rng = random.Random(15)
    records = []
    for frame in payloads(exported.read_bytes())[::3]:
        frame = frame[:300]
        variants = [bytearray(frame[:cut]) for cut in range(1, len(frame))]
        for _ in range(10):
            variant = bytearray(frame)
            for _ in range(rng.randint(1, 3)):
                variant[rng.randrange(len(variant))] = rng.randrange(256)
            variants.append(variant)
        for variant in variants:
            if variant[:2] == b"\x00\x01" and len(variant) >= 8:
                variant[6:8] = (len(variant) - 8).to_bytes(2, "big")
            n = len(records) + 1
            records.append(Exchange(n, 1795500779.0 + n / 1000, None, "m", f"127.0.0.1:{20000 + n}",
                                    "127.0.0.1:4059", 1, 1, bytes(variant), None, None, None, "x", False, "success"))
    path = tmp_path / "malformed.pcap"
    path.write_bytes(write_pcap(records))
    program = shutil.which("tshark")
    assert program is not None
    result = subprocess.run([program, "-X", f"lua_script:{PLUGIN}", "-r", str(path), "-V", *KEYS],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Lua Error" not in result.stdout and "Dissector bug" not in result.stderr, result.stderr
    assert result.stdout.count("[Expert Info (Error/Malformed): ") > len(records) // 2


def hdlc_exchanges() -> list[Exchange]:
    """gurux-dlms's HDLC frames to meter 17: SNRM, an AARQ in two segments (one TCP
    packet), a GET; and a GET answered by an exception-response in the wrapper."""
    client = GXDLMSClient(True, 16, 1, Authentication.LOW, "ABCD0001", InterfaceType.HDLC)
    client.serverAddress = GXDLMSClient.getServerAddress(1, 17)
    client.hdlcSettings.maxInfoTX = 32
    snrm = bytes(client.snrmRequest())
    aarq = b"".join(bytes(frame) for frame in client.aarqRequest())
    get = b"".join(bytes(frame) for frame in client.read(GXDLMSClock("0.0.1.0.0.255"), 2))
    peer, meter = "127.0.0.1:40000", "127.0.0.1:4160"

    def record(n: int, request: bytes, kind: str, response: bytes | None = None) -> Exchange:
        return Exchange(n, 1795500779.0 + n, None if response is None else 1795500779.5 + n, "hdlc-0", peer,
                        meter, 16, 1, request, response, None, None, kind, False, "success")
    wrapped_get = bytes.fromhex("000100100001000D" "C001C100080000010000FF0200")
    exception = bytes.fromhex("0001000100100007" "D8010600000005")  # service-not-allowed, invocation-counter-error 5
    return [record(1, snrm, "snrm"), record(2, aarq, "aarq"), record(3, get, "get-request-normal"),
            record(4, wrapped_get, "get-request-normal", exception)]


def test_hdlc_frames_and_segments_of_a_client(tmp_path: Path) -> None:
    path = tmp_path / "hdlc.pcap"
    path.write_bytes(write_pcap(hdlc_exchanges()))
    blocks = packets(tshark(path, "-o", "dlms.tcp_ports:4160"))
    snrm = first(blocks, "HDLC frame: SNRM")
    for line in ("frame-format: 0xa010", "destination-address: upper 1, lower 17 (2 octets)",
                 "source-address: 16 (1 octets)", "frame-type: SNRM P/F", "hcs: 0x8add (good)", "fcs: 0x2c05 (good)",
                 "parameter: max-info-field-length-transmit: 32"):
        assert line in snrm, snrm
    aarq = first(blocks, r"APDU: aarq \(0x60\)")
    assert "HDLC frame: I N(R)=0 N(S)=0 P/F" in aarq and "segmentation: True" in aarq
    assert "llc-header: e6e600" in aarq and "calling-authentication-value: 4142434430303031" in aarq, aarq
    get = first(blocks, "service: get-request-normal")
    assert "HDLC frame: I N(R)=1 N(S)=2 P/F" in get and "instance-id: 0-0:1.0.0*255" in get, get
    exception = first(blocks, r"APDU: exception-response \(0xd8\)")
    assert "state-error: service-not-allowed (1)" in exception
    assert "service-error: invocation-counter-error (6)" in exception and "invocation-counter: 5" in exception


def test_lua_names_are_the_standards_as_dlmstw_spells_them() -> None:
    """The Lua tables carry the names of dlmstw.enums (one vocabulary in both dissectors)."""
    text = PLUGIN.read_text()

    def table(name: str) -> dict[int, str]:
        body = re.search(rf"local {name} = {{(.*?)}}\n", text, re.S)
        assert body is not None, name
        return {int(key, 0): value for key, value in re.findall(r"\[(0x[0-9A-F]+|\d+)\] = \"([^\"]+)\"", body[1])}

    assert table("APDU_TAGS") == {int(tag): enum_name(tag) for tag in ApduTag}
    assert table("DATA_TYPES") == {int(t): enum_name(t) for t in DataType}
    assert table("DATA_ACCESS_RESULTS") == {int(r): enum_name(r) for r in DataAccessResult}
    assert table("ACTION_RESULTS") == {int(r): enum_name(r) for r in ActionResult}
    assert table("STATE_ERRORS") == {int(e): enum_name(e) for e in StateError}
    assert table("SERVICE_ERRORS") == {int(e): enum_name(e) for e in ServiceError}


def test_the_readmes_tshark_commands(exported: Path) -> None:
    """README's tshark lines, run by bash where the console's download lies (dlmstw-client
    as ``python -m dlmstw.client.cli``, so this checkout's plugin is the one found)."""
    lines = [line.strip() for line in (REPO_ROOT / "README.md").read_text().splitlines()
             if line.strip().startswith("tshark -X lua_script:$(dlmstw-client wireshark --path)")]
    assert len(lines) == 2, lines
    outputs = []
    for line in lines:
        command = line.replace("dlmstw-client", f"{sys.executable} -m dlmstw.client.cli")
        result = subprocess.run(["bash", "-c", command], cwd=exported.parent, capture_output=True, text=True,
                                timeout=120, env=twistd_env())
        assert result.returncode == 0 and "Lua: Error" not in result.stderr, result.stderr
        outputs.append(result.stdout)
    assert "APDU: aarq (0x60)" in outputs[0] and "not deciphered: no block cipher key" in outputs[0]
    assert "deciphered: deciphered, authentication tag verified" in outputs[1]


def test_dlmstw_client_wireshark_says_where_the_plugin_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wireshark", "--path"]) == 0
    assert Path(capsys.readouterr().out.strip()) == PLUGIN
    assert main(["wireshark"]) == 0
    out = capsys.readouterr().out
    assert str(PLUGIN) in out and f"tshark -X lua_script:{PLUGIN}" in out and "cp " in out
    assert main(["wireshark", "--bogus"]) == 2
    assert capsys.readouterr().err.strip() == "dlmstw-client: unrecognized arguments: --bogus"  # one line

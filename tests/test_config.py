"""Tests of dlmstw.config: the lab.ini contract of DESIGN.md ("lab.ini (contract)"),
and of what the installed plugins add to it (dlmstw.plugins.registry.check_lab):
mechanisms, security suites and object sets are names there, checked against
the plugins found."""

import datetime
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from dlmstw.config import (
    AnomalyRate,
    AssociationConfig,
    Fault,
    Lab,
    MeterGroup,
    SimulatorConfig,
    load_lab,
    parse_anomalies,
    parse_faults,
    parse_lab,
)
from dlmstw.enums import ApplicationContextName, AuthenticationMechanism
from dlmstw.errors import ConfigError
from dlmstw.plugins.registry import check_lab, load_registry

REGISTRY = load_registry()

VECTORS = Path(__file__).parent / "vectors"

# The sample of DESIGN.md, section "lab.ini (contract)", copied verbatim.
DESIGN_SAMPLE = """\
[simulator]
console = tcp:8080:interface=127.0.0.1   ; a Twisted strports description; the console refuses non-loopback without a token
console_token =                          ; required when the console listens beyond loopback
state_dir = var/state                    ; where changed keys, invocation counters, clock offsets persist
packet_log = var/log/packets.jsonl       ; every captured exchange, one JSON object a line ("-" to disable)
workers = auto                           ; processes hosting meters (each below the per-process open-file limit)

[meters:abt]                             ; a group of identical meters
count = 5
interface = 127.0.0.1
port = 4059                              ; first port; meter i listens on port + i
model = is15959-abt                      ; an IObjectSet name (or several, comma separated)
serial = 1000001                         ; first serial; meter i has serial + i
system_title = 4D4D4D0000BC614E          ; first meter's; meter i adds i to the last 4 bytes (or derived from serial)
max_clients = 10                         ; concurrent connections per meter
inactivity_timeout = 120                 ; seconds
load_profile_interval = 15               ; minutes: 5 or 15
load_profile_days = 35                   ; 1..35
seed = 42                                ; data simulator seed (meter i uses seed + i)
anomalies =                              ; e.g. negative:0.01, boundary:0.001, gaps:0.02
faults =                                 ; e.g. delay:50ms..200ms, offline:10%, drop:0.001, timeout:0.001

[association:public]                     ; applies to every meter group unless the group lists its own
client_sap = 16
authentication = none                    ; none | lls | hls-md5 | hls-sha1 | hls-gmac | hls-sha256 | hls-ecdsa
context = ln                             ; ln | ln-ciphered
security = none                          ; none | authentication | encryption | authenticated-encryption
security_suite = 0
access = read                            ; default access rights of this association: read | read-write | full

[association:reader]
client_sap = 32
authentication = lls
lls_password = ABCD0001

[association:utility]
client_sap = 48
authentication = hls-gmac
context = ln-ciphered
security = authenticated-encryption
hls_secret = 0001020304050607080900010203040506070809
authentication_key = D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF
block_cipher_key = 000102030405060708090A0B0C0D0E0F
"""

PUBLIC = "[association:public]\nclient_sap = 16\n"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EK = "000102030405060708090A0B0C0D0E0F"


def section(header: str, **keys: object) -> str:
    """One INI section with ``keys`` in order."""
    return f"[{header}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())


def with_meters(**keys: object) -> str:
    """A lab whose only group is [meters:abt] with ``keys``."""
    return section("meters:abt", **keys) + PUBLIC


def with_association(**keys: object) -> str:
    """A lab whose only association is [association:x] with ``keys``."""
    return section("meters:abt") + section("association:x", **keys)


def with_simulator(**keys: object) -> str:
    """A minimal lab with a [simulator] section of ``keys``."""
    return section("simulator", **keys) + section("meters:abt") + PUBLIC


def checked(text: str) -> Lab:
    """``text`` parsed as lab.ini and checked against the installed plugins, as twistd does."""
    lab = parse_lab(text, "lab.ini")
    check_lab(REGISTRY, lab, "lab.ini")
    return lab


def config_error(text: str) -> ConfigError:
    """The ConfigError that parsing ``text`` as lab.ini, or checking it against the plugins, raises."""
    with pytest.raises(ConfigError) as info:
        checked(text)
    return info.value


# --- the DESIGN.md sample ---


def test_design_sample_parses_to_expected_values() -> None:
    lab = parse_lab(DESIGN_SAMPLE, "etc/lab.ini")
    assert lab.simulator == SimulatorConfig(
        console="tcp:8080:interface=127.0.0.1",
        console_token=None,
        state_dir="var/state",
        packet_log="var/log/packets.jsonl",
        workers=None,
    )
    assert lab.groups == (
        MeterGroup(
            name="abt",
            count=5,
            interface="127.0.0.1",
            port=4059,
            model=("is15959-abt",),
            serial=1000001,
            system_title=bytes.fromhex("4D4D4D0000BC614E"),
            max_clients=10,
            inactivity_timeout=120.0,
            load_profile_interval=15,
            load_profile_days=35,
            seed=42,
            anomalies=(),
            faults=(),
            associations=None,
        ),
    )
    assert lab.associations == (
        AssociationConfig(
            name="public",
            client_sap=16,
            authentication="none",
            context="ln",
            security="none",
            security_suite=0,
            access="read",
        ),
        AssociationConfig(name="reader", client_sap=32, authentication="lls", lls_password=b"ABCD0001"),
        AssociationConfig(
            name="utility",
            client_sap=48,
            authentication="hls-gmac",
            context="ln-ciphered",
            security="authenticated-encryption",
            hls_secret=bytes.fromhex("0001020304050607080900010203040506070809"),
            authentication_key=bytes.fromhex(AK),
            block_cipher_key=bytes.fromhex(EK),
        ),
    )


def test_design_sample_keys_are_the_green_book_example_keys() -> None:
    # tests/vectors/security.json, "suite0_gcm": the Green Book example keys and system title.
    suite0 = json.loads((VECTORS / "security.json").read_text())["suite0_gcm"]
    lab = parse_lab(DESIGN_SAMPLE)
    utility = lab.associations[2]
    assert utility.block_cipher_key == bytes.fromhex(suite0["encryption_key"])
    assert utility.authentication_key == bytes.fromhex(suite0["authentication_key"])
    assert lab.groups[0].system_title == bytes.fromhex(suite0["system_title"])


def test_design_sample_expands_to_five_meters() -> None:
    lab = parse_lab(DESIGN_SAMPLE)
    meters = list(lab.meters())
    assert [m.id for m in meters] == ["abt-0", "abt-1", "abt-2", "abt-3", "abt-4"]
    assert [m.index for m in meters] == [0, 1, 2, 3, 4]
    assert [m.port for m in meters] == [4059, 4060, 4061, 4062, 4063]
    assert [m.serial for m in meters] == [1000001, 1000002, 1000003, 1000004, 1000005]
    assert [m.seed for m in meters] == [42, 43, 44, 45, 46]
    assert [m.system_title.hex().upper() for m in meters] == [
        "4D4D4D0000BC614E",
        "4D4D4D0000BC614F",
        "4D4D4D0000BC6150",
        "4D4D4D0000BC6151",
        "4D4D4D0000BC6152",
    ]
    first = meters[0]
    assert first.group == "abt"
    assert first.interface == "127.0.0.1"
    assert first.model == ("is15959-abt",)
    assert first.max_clients == 10
    assert first.inactivity_timeout == 120.0
    assert first.load_profile_interval == 15
    assert first.load_profile_days == 35
    assert first.anomalies == ()
    assert first.faults == ()
    assert first.associations == lab.associations


def test_association_mechanism_and_context_ids() -> None:
    public, reader, utility = checked(DESIGN_SAMPLE).associations
    mechanisms = REGISTRY.mechanisms
    assert mechanisms[public.authentication].mechanism_id is AuthenticationMechanism.LOWEST
    assert mechanisms[reader.authentication].mechanism_id is AuthenticationMechanism.LLS
    assert mechanisms[utility.authentication].mechanism_id is AuthenticationMechanism.HLS_GMAC
    assert int(mechanisms[utility.authentication].mechanism_id) == 5
    assert public.application_context is ApplicationContextName.LOGICAL_NAME
    assert utility.application_context is ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING
    assert int(utility.application_context) == 3


def test_secrets_stay_out_of_repr() -> None:
    text = repr(parse_lab(DESIGN_SAMPLE))
    for secret in ("ABCD0001", "D0D1", "d0d1", "\\xd0\\xd1", "0001020304"):
        assert secret not in text


# --- defaults ---


def test_defaults_of_a_minimal_lab() -> None:
    lab = parse_lab("[meters:m]\n[association:p]\nclient_sap = 1\n")
    assert lab.simulator == SimulatorConfig(
        console="tcp:8080:interface=127.0.0.1",
        console_token=None,
        state_dir="var/state",
        packet_log="var/log/packets.jsonl",
        workers=None,
    )
    group = lab.groups[0]
    assert group == MeterGroup(name="m")
    assert (group.count, group.interface, group.port, group.model, group.serial) == (
        1,
        "127.0.0.1",
        4059,
        ("is15959-abt",),
        1000001,
    )
    assert group.system_title == bytes.fromhex("4D4D4D0000BC614E")
    assert (group.max_clients, group.inactivity_timeout, group.load_profile_interval) == (10, 120.0, 15)
    assert (group.load_profile_days, group.seed, group.anomalies, group.faults) == (35, 42, (), ())
    assert group.associations is None
    assert lab.associations == (
        AssociationConfig(
            name="p",
            client_sap=1,
            authentication="none",
            context="ln",
            security="none",
            security_suite=0,
            access="read",
            lls_password=None,
            hls_secret=None,
            authentication_key=None,
            block_cipher_key=None,
        ),
    )
    assert [m.id for m in lab.meters()] == ["m-0"]


def test_simulator_values() -> None:
    lab = parse_lab(
        with_simulator(
            console="tcp:9000:interface=0.0.0.0",
            console_token="s3cret#token",
            state_dir="/srv/state",
            packet_log="-",
            workers=4,
        )
    )
    assert lab.simulator == SimulatorConfig("tcp:9000:interface=0.0.0.0", "s3cret#token", "/srv/state", None, 4)


@pytest.mark.parametrize(
    "console",
    [
        "tcp:8080:interface=127.0.0.1",
        "tcp:port=8080:interface=127.0.0.2",
        "tcp:0:interface=localhost",
        "tcp6:8080:interface=\\:\\:1",
        "ssl:8443:privateKey=k.pem:interface=127.0.0.1",
        "unix:/run/dlmstw/console.sock",
    ],
)
def test_loopback_console_needs_no_token(console: str) -> None:
    assert parse_lab(with_simulator(console=console)).simulator.console == console


def test_all_meter_values() -> None:
    lab = parse_lab(
        with_meters(
            count=3,
            interface="::1",
            port=5000,
            model="is15959-abt, acme-pq",
            serial=77,
            system_title="4142430000000009",
            max_clients=2,
            inactivity_timeout=0.5,
            load_profile_interval=5,
            load_profile_days=1,
            seed=0,
            anomalies="negative:0.01, boundary:0.001, gaps:0.02",
            faults="delay:50ms..200ms, offline:10%, drop:0.001, timeout:0.001",
            associations="public",
        )
    )
    assert lab.groups[0] == MeterGroup(
        name="abt",
        count=3,
        interface="::1",
        port=5000,
        model=("is15959-abt", "acme-pq"),
        serial=77,
        system_title=bytes.fromhex("4142430000000009"),
        max_clients=2,
        inactivity_timeout=0.5,
        load_profile_interval=5,
        load_profile_days=1,
        seed=0,
        anomalies=(AnomalyRate("negative", 0.01), AnomalyRate("boundary", 0.001), AnomalyRate("gaps", 0.02)),
        faults=(Fault("delay", 1.0, 0.05, 0.2), Fault("offline", 0.1), Fault("drop", 0.001), Fault("timeout", 0.001)),
        associations=("public",),
    )


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("123456", 123456),
        ("100MB", 100_000_000),
        ("100 mb", 100_000_000),
        ("1.5GB", 1_500_000_000),
        ("2kB", 2000),
        ("64MiB", 64 * 2**20),
        ("1gib", 2**30),
        ("3KiB", 3072),
    ],
)
def test_packet_log_max_sizes(text: str, size: int) -> None:
    assert parse_lab(with_simulator(packet_log_max=text)).simulator.packet_log_max == size


def test_packet_log_rotation_defaults_and_values() -> None:
    defaults = parse_lab(with_simulator()).simulator
    assert (defaults.packet_log_max, defaults.packet_log_keep) == (100_000_000, 5)
    assert parse_lab(with_simulator(packet_log_keep=1)).simulator.packet_log_keep == 1


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("packet_log_max", "", "expected a size such as 100MB"),
        ("packet_log_max", "100XB", "expected a size such as 100MB, 64MiB or 1000000 (bytes), got '100XB'"),
        ("packet_log_max", "MB", "expected a size"),
        ("packet_log_max", "-5", "-5 is out of range: must be at least 0"),
        ("packet_log_max", "-5MB", "expected a non-negative number"),
        ("packet_log_max", "1.5", "expected an integer, got '1.5'"),
        ("packet_log_keep", "0", "0 is out of range: must be at least 1"),
        ("packet_log_keep", "many", "expected an integer"),
    ],
)
def test_bad_packet_log_rotation(key: str, value: str, problem: str) -> None:
    error = config_error(with_simulator(**{key: value}))
    assert (error.section, error.key) == ("simulator", key)
    assert problem in error.problem


def test_inactivity_timeout_zero_means_none() -> None:
    assert parse_lab(with_meters(inactivity_timeout=0)).groups[0].inactivity_timeout == 0.0


def test_inline_comments_with_hash_and_semicolon() -> None:
    lab = parse_lab("[meters:abt]  # group\nport = 5000 # first port\ncount = 2 ; two\n" + PUBLIC)
    assert (lab.groups[0].port, lab.groups[0].count) == (5000, 2)


def test_empty_associations_key_means_every_association() -> None:
    assert parse_lab(with_meters(associations="")).groups[0].associations is None


# --- associations ---


def test_lls_password_is_ascii_not_hex() -> None:
    association = parse_lab(with_association(client_sap=32, authentication="lls", lls_password="ABCD0001"))
    assert association.associations[0].lls_password == b"ABCD0001"
    assert len(association.associations[0].lls_password or b"") == 8


def test_lls_password_hex_prefix_gives_binary_password() -> None:
    lab = parse_lab(with_association(client_sap=32, authentication="lls", lls_password="hex:00FF7f"))
    assert lab.associations[0].lls_password == b"\x00\xff\x7f"


@pytest.mark.parametrize("authentication", ["hls-md5", "hls-sha1", "hls-sha256"])
def test_secret_mechanisms_take_hls_secret(authentication: str) -> None:
    lab = checked(with_association(client_sap=1, authentication=authentication, hls_secret="00112233"))
    assert lab.associations[0].hls_secret == b"\x00\x11\x22\x33"
    assert lab.associations[0].authentication == authentication


def test_hls_gmac_in_plain_context_with_keys() -> None:
    lab = checked(
        with_association(client_sap=1, authentication="hls-gmac", authentication_key=AK, block_cipher_key=EK)
    )
    association = lab.associations[0]
    assert (association.context, association.security, association.hls_secret) == ("ln", "none", None)
    assert association.authentication_key == bytes.fromhex(AK)


def test_suite_2_takes_32_byte_keys() -> None:
    key = "00" * 32
    lab = checked(
        with_association(
            client_sap=1,
            authentication="hls-ecdsa",
            context="ln-ciphered",
            security="authenticated-encryption",
            security_suite=2,
            authentication_key=key,
            block_cipher_key=key,
            access="full",
        )
    )
    association = lab.associations[0]
    assert association.security_suite == 2
    assert association.block_cipher_key == bytes(32)
    assert association.access == "full"
    assert REGISTRY.mechanisms[association.authentication].mechanism_id is AuthenticationMechanism.HLS_ECDSA


def test_ciphered_context_without_security_policy() -> None:
    lab = parse_lab(with_association(client_sap=1, context="ln-ciphered", authentication_key=AK, block_cipher_key=EK))
    assert (lab.associations[0].context, lab.associations[0].security) == ("ln-ciphered", "none")


# --- expansion ---


def test_system_titles_carry_into_higher_bytes() -> None:
    lab = parse_lab(with_meters(count=3, system_title="4D4D4D00000000FF"))
    assert [m.system_title.hex().upper() for m in lab.meters()] == [
        "4D4D4D00000000FF",
        "4D4D4D0000000100",
        "4D4D4D0000000101",
    ]


def test_system_titles_wrap_within_the_last_four_bytes() -> None:
    lab = parse_lab(with_meters(count=3, system_title="4D4D4D00FFFFFFFE"))
    assert [m.system_title.hex().upper() for m in lab.meters()] == [
        "4D4D4D00FFFFFFFE",
        "4D4D4D00FFFFFFFF",
        "4D4D4D0000000000",
    ]


@given(
    head=st.binary(min_size=4, max_size=4),
    tail=st.integers(0, 0xFFFFFFFF),
    count=st.integers(1, 50),
)
def test_system_title_of_meter_i_is_first_plus_i_mod_2_32(head: bytes, tail: int, count: int) -> None:
    title = head + tail.to_bytes(4, "big")
    lab = parse_lab(with_meters(count=count, port=1000, system_title=title.hex()))
    titles = [m.system_title for m in lab.meters()]
    assert titles == [head + ((tail + i) % 2**32).to_bytes(4, "big") for i in range(count)]
    assert len(set(titles)) == count


def test_groups_expand_in_file_order_with_their_own_associations() -> None:
    text = (
        section("meters:a", count=2, port=5000, serial=10, seed=7, system_title="4D4D4D0000000001")
        + section(
            "meters:b", count=2, port=6000, serial=20, system_title="4D4D4D0000000010", associations="utility, reader"
        )
        + section("meters:c", port=7000, serial=30, system_title="4D4D4D0000000020", associations="public")
        + PUBLIC
        + section("association:reader", client_sap=32, authentication="lls", lls_password="ABCD0001")
        + section(
            "association:utility", client_sap=48, authentication="hls-gmac", authentication_key=AK, block_cipher_key=EK
        )
    )
    lab = parse_lab(text)
    public, reader, utility = lab.associations
    meters = list(lab.meters())
    assert [(m.id, m.group, m.index, m.port, m.serial, m.seed) for m in meters] == [
        ("a-0", "a", 0, 5000, 10, 7),
        ("a-1", "a", 1, 5001, 11, 8),
        ("b-0", "b", 0, 6000, 20, 42),
        ("b-1", "b", 1, 6001, 21, 43),
        ("c-0", "c", 0, 7000, 30, 42),
    ]
    assert [m.associations for m in meters] == [
        (public, reader, utility),
        (public, reader, utility),
        (utility, reader),
        (utility, reader),
        (public,),
    ]


def test_group_up_to_port_65535_expands_to_its_last_meter() -> None:
    # Ports 8081..65535: the default console keeps 8080.
    lab = parse_lab(with_meters(count=57455, port=8081, serial=0))
    meters = lab.meters()
    first = next(meters)
    *_, last = meters
    assert (first.id, first.port, first.serial, first.seed) == ("abt-0", 8081, 0, 42)
    assert (last.id, last.index, last.port, last.serial, last.seed) == ("abt-57454", 57454, 65535, 57454, 57496)
    assert last.system_title.hex().upper() == "4D4D4D0000BD41BC"


# --- the two small grammars the console's PATCH reuses ---


def test_parse_anomalies_example() -> None:
    assert parse_anomalies("negative:0.01, boundary:0.001, gaps:0.02") == (
        AnomalyRate("negative", 0.01),
        AnomalyRate("boundary", 0.001),
        AnomalyRate("gaps", 0.02),
    )


def test_parse_anomalies_every_kind_and_percent() -> None:
    assert parse_anomalies("negative:0, boundary:1, gaps:2%, clock-jump:1e-3, duplicates:.5, out-of-range:100%") == (
        AnomalyRate("negative", 0.0),
        AnomalyRate("boundary", 1.0),
        AnomalyRate("gaps", 0.02),
        AnomalyRate("clock-jump", 0.001),
        AnomalyRate("duplicates", 0.5),
        AnomalyRate("out-of-range", 1.0),
    )


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_parse_empty_grammars(text: str) -> None:
    assert parse_anomalies(text) == ()
    assert parse_faults(text) == ()


@given(st.floats(0, 1))
def test_parse_anomalies_keeps_any_rate_exactly(rate: float) -> None:
    assert parse_anomalies(f"gaps:{rate!r}") == (AnomalyRate("gaps", rate),)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("negative", "expected KIND:VALUE"),
        ("sparks:0.1", "unknown anomaly 'sparks'"),
        ("gaps:1.5", "above 1"),
        ("gaps:101%", "above 1"),
        ("gaps:-0.1", "non-negative number"),
        ("gaps:", "non-negative number"),
        ("gaps:nan", "non-negative number"),
        ("gaps:inf", "non-negative number"),
        ("gaps:0.1, gaps:0.2", "'gaps' is given twice"),
        ("gaps:0.1,", "empty item"),
        ("Gaps:0.1", "unknown anomaly 'Gaps'"),
    ],
)
def test_parse_anomalies_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_anomalies(text)


def test_parse_faults_example() -> None:
    assert parse_faults("delay:50ms..200ms, offline:10%, drop:0.001, timeout:0.001") == (
        Fault("delay", 1.0, 0.05, 0.2),
        Fault("offline", 0.1),
        Fault("drop", 0.001),
        Fault("timeout", 0.001),
    )


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("delay:100ms", Fault("delay", 1.0, 0.1, 0.1)),
        ("delay:1s", Fault("delay", 1.0, 1.0, 1.0)),
        ("delay:500ms..2s", Fault("delay", 1.0, 0.5, 2.0)),
        ("delay: 0ms .. 0.25s", Fault("delay", 1.0, 0.0, 0.25)),
        ("offline:0.1", Fault("offline", 0.1)),
        ("offline:0%", Fault("offline", 0.0)),
        ("drop:0.5%", Fault("drop", 0.005)),
        ("timeout:1", Fault("timeout", 1.0)),
    ],
)
def test_parse_faults_forms(text: str, fault: Fault) -> None:
    assert parse_faults(text) == (fault,)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("delay:200ms..50ms", "ends before it starts"),
        ("delay:50", "expected a duration"),
        ("delay:50min", "expected a duration"),
        ("delay:-5ms", "non-negative number"),
        ("delay:5ms..", "expected a duration"),
        ("delay:1es", "non-negative number"),
        ("offline:150%", "above 1"),
        ("offline:ten", "non-negative number"),
        ("jitter:1ms", "unknown fault 'jitter'"),
        ("drop", "expected KIND:VALUE"),
        ("drop:2", "above 1"),
        ("drop:0.1, drop:0.2", "'drop' is given twice"),
        (",drop:0.1", "empty item"),
    ],
)
def test_parse_faults_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_faults(text)


# --- every rule fails naming section and key ---

ERRORS = [
    # [simulator]
    (with_simulator(consle="tcp:1"), "simulator", "consle", "unknown key; did you mean 'console'?"),
    (with_simulator(console="tcp:8080:interface=0.0.0.0"), "simulator", "console_token", "listens beyond loopback"),
    (with_simulator(console="tcp:8080"), "simulator", "console_token", "listens beyond loopback"),
    (with_simulator(console="tcp:8080:interface=10.1.2.3"), "simulator", "console_token", "beyond loopback"),
    (with_simulator(console="tcp6:8080:interface=\\:\\:"), "simulator", "console_token", "beyond loopback"),
    (with_simulator(console="systemd:domain=INET:index=0"), "simulator", "console_token", "beyond loopback"),
    (with_simulator(console=""), "simulator", "console", "is empty"),
    (with_simulator(console=":8080"), "simulator", "console", "expected a strports description"),
    (with_simulator(console="tcp:http"), "simulator", "console", "expected an integer, got 'http'"),
    (with_simulator(console="tcp:interface=127.0.0.1"), "simulator", "console", "names no port"),
    (with_simulator(console="tcp:70000:interface=127.0.0.1"), "simulator", "console", "70000 is out of range"),
    (with_simulator(console="tcp:4059:interface=127.0.0.1"), "simulator", "console", "meter port of [meters:abt]"),
    (
        with_simulator(console="tcp:4059", console_token="t"),
        "simulator",
        "console",
        "port 4059 is a meter port of [meters:abt]",
    ),
    (with_simulator(state_dir=""), "simulator", "state_dir", "is empty"),
    (with_simulator(packet_log=""), "simulator", "packet_log", "is empty"),
    (with_simulator(workers=0), "simulator", "workers", "0 is out of range: must be at least 1"),
    (with_simulator(workers="many"), "simulator", "workers", "expected an integer, got 'many'"),
    (with_simulator(workers=""), "simulator", "workers", "expected an integer"),
    # [meters:NAME]
    (with_meters(Count=2), "meters:abt", "Count", "unknown key; did you mean 'count'?"),
    (with_meters(colour="red"), "meters:abt", "colour", "unknown key; known keys: count, interface"),
    (with_meters(count=0), "meters:abt", "count", "0 is out of range: must be 1..100000"),
    (with_meters(count=100_001), "meters:abt", "count", "must be 1..100000"),
    (with_meters(count="five"), "meters:abt", "count", "expected an integer, got 'five'"),
    (with_meters(count="1.5"), "meters:abt", "count", "expected an integer, got '1.5'"),
    (with_meters(count=""), "meters:abt", "count", "expected an integer, got ''"),
    (with_meters(count="1_000"), "meters:abt", "count", "expected an integer"),
    (with_meters(port=0), "meters:abt", "port", "0 is out of range: must be 1..65535"),
    (with_meters(port=65536), "meters:abt", "port", "must be 1..65535"),
    (with_meters(port="x"), "meters:abt", "port", "expected an integer"),
    (with_meters(port=65535, count=2), "meters:abt", "port", "ports 65535..65536 (count = 2) go past 65535"),
    (with_meters(port=65000, count=1000), "meters:abt", "port", "go past 65535"),
    (with_meters(interface="localhost"), "meters:abt", "interface", "expected an IPv4 or IPv6 address"),
    (with_meters(interface="999.1.1.1"), "meters:abt", "interface", "expected an IPv4 or IPv6 address"),
    (with_meters(model=""), "meters:abt", "model", "names no object set"),
    (with_meters(model="a,,b"), "meters:abt", "model", "empty item"),
    (with_meters(model="a, a"), "meters:abt", "model", "listed twice"),
    (with_meters(model="a b"), "meters:abt", "model", "'a b' is not a name"),
    (with_meters(serial=-1), "meters:abt", "serial", "-1 is out of range: must be at least 0"),
    (with_meters(system_title="4D4D"), "meters:abt", "system_title", "expected 16 hex digits (8 bytes), got 4"),
    (with_meters(system_title="4D4D4D0000BC614E00"), "meters:abt", "system_title", "expected 16 hex digits"),
    (with_meters(system_title="4D4D4D0000BC614"), "meters:abt", "system_title", "expected hex digits"),
    (with_meters(system_title="ZZ4D4D0000BC614E"), "meters:abt", "system_title", "expected hex digits"),
    (with_meters(system_title=""), "meters:abt", "system_title", "expected hex digits"),
    (with_meters(max_clients=0), "meters:abt", "max_clients", "must be at least 1"),
    (with_meters(inactivity_timeout=-1), "meters:abt", "inactivity_timeout", "non-negative number"),
    (with_meters(inactivity_timeout="inf"), "meters:abt", "inactivity_timeout", "non-negative number"),
    (with_meters(inactivity_timeout="2m"), "meters:abt", "inactivity_timeout", "non-negative number"),
    (
        with_meters(load_profile_interval=10),
        "meters:abt",
        "load_profile_interval",
        "10 is not allowed: must be one of 5, 15",
    ),
    (with_meters(load_profile_interval=30), "meters:abt", "load_profile_interval", "30 is out of range"),
    (with_meters(load_profile_days=0), "meters:abt", "load_profile_days", "0 is out of range: must be 1..35"),
    (with_meters(load_profile_days=36), "meters:abt", "load_profile_days", "must be 1..35"),
    (with_meters(seed=-1), "meters:abt", "seed", "must be at least 0"),
    (with_meters(seed="abc"), "meters:abt", "seed", "expected an integer"),
    (with_meters(anomalies="gaps:2"), "meters:abt", "anomalies", "gaps: '2' is above 1"),
    (with_meters(anomalies="sparks:0.1"), "meters:abt", "anomalies", "unknown anomaly 'sparks'"),
    (with_meters(faults="delay:9ms..1ms"), "meters:abt", "faults", "delay: the range '9ms..1ms' ends before it starts"),
    (with_meters(faults="offline:110%"), "meters:abt", "faults", "offline: '110%' is above 1"),
    (with_meters(associations="nosuch"), "meters:abt", "associations", "no [association:nosuch] section"),
    (with_meters(associations="public, public"), "meters:abt", "associations", "listed twice"),
    # [association:NAME]
    (with_association(authentication="none"), "association:x", "client_sap", "required key is missing"),
    (with_association(client_sap=0), "association:x", "client_sap", "0 is out of range: must be 1..65535"),
    (with_association(client_sap=65536), "association:x", "client_sap", "must be 1..65535"),
    (with_association(client_sap="0x10"), "association:x", "client_sap", "expected an integer, got '0x10'"),
    (with_association(client_sap=1, clientsap=2), "association:x", "clientsap", "did you mean 'client_sap'?"),
    (
        with_association(client_sap=1, authentication="hls-sha384"),
        "association:x",
        "authentication",
        "'hls-sha384' is not an installed authentication mechanism (installed: hls-ecdsa, hls-gmac, hls-md5, ",
    ),
    (
        with_association(client_sap=1, authentication="LLS"),
        "association:x",
        "authentication",
        "'LLS' is not an installed authentication mechanism",
    ),
    (
        with_association(client_sap=1, authentication="hls"),
        "association:x",
        "authentication",
        "'hls' is not an installed authentication mechanism",
    ),
    (
        with_association(client_sap=1, authentication="hls md5"),
        "association:x",
        "authentication",
        "'hls md5' is not a name",
    ),
    (with_association(client_sap=1, context="sn"), "association:x", "context", "'sn' is not one of ln | ln-ciphered"),
    (
        with_association(client_sap=1, security="full"),
        "association:x",
        "security",
        "is not one of none | authentication",
    ),
    (
        with_association(client_sap=1, security_suite=3),
        "association:x",
        "security_suite",
        "no security suite 3 is installed (installed: 0, 1, 2)",
    ),
    (
        with_association(client_sap=1, security_suite=16),
        "association:x",
        "security_suite",
        "16 is out of range: must be 0..15",
    ),
    (with_association(client_sap=1, security_suite="x"), "association:x", "security_suite", "expected an integer"),
    (
        with_association(client_sap=1, access="write"),
        "association:x",
        "access",
        "'write' is not one of read | read-write | full",
    ),
    (
        with_association(client_sap=1, authentication="lls"),
        "association:x",
        "lls_password",
        "required when authentication = lls",
    ),
    (
        with_association(client_sap=1, authentication="lls", lls_password=""),
        "association:x",
        "lls_password",
        "required when authentication = lls",
    ),
    (
        with_association(client_sap=1, authentication="lls", lls_password="hex:"),
        "association:x",
        "lls_password",
        "expected hex digits",
    ),
    (
        with_association(client_sap=1, authentication="lls", lls_password="hex:0G"),
        "association:x",
        "lls_password",
        "expected hex digits",
    ),
    (
        with_association(client_sap=1, authentication="lls", lls_password="hex:ABC"),
        "association:x",
        "lls_password",
        "expected hex digits",
    ),
    (
        with_association(client_sap=1, authentication="lls", lls_password="pässword"),
        "association:x",
        "lls_password",
        "not printable ASCII",
    ),
    (
        with_association(client_sap=1, authentication="hls-md5"),
        "association:x",
        "hls_secret",
        "required when authentication = hls-md5",
    ),
    (
        with_association(client_sap=1, authentication="hls-sha1"),
        "association:x",
        "hls_secret",
        "required when authentication = hls-sha1",
    ),
    (
        with_association(client_sap=1, authentication="hls-sha256"),
        "association:x",
        "hls_secret",
        "required when authentication = hls-sha256",
    ),
    (
        with_association(client_sap=1, authentication="hls-md5", hls_secret="xyz"),
        "association:x",
        "hls_secret",
        "expected hex digits",
    ),
    (
        with_association(client_sap=1, authentication="hls-md5", hls_secret="001"),
        "association:x",
        "hls_secret",
        "expected hex digits",
    ),
    (
        with_association(client_sap=1, authentication="hls-gmac", block_cipher_key=EK),
        "association:x",
        "authentication_key",
        "required when authentication = hls-gmac",
    ),
    (
        with_association(client_sap=1, authentication="hls-gmac", authentication_key=AK),
        "association:x",
        "block_cipher_key",
        "required when authentication = hls-gmac",
    ),
    (
        with_association(client_sap=1, authentication="hls-ecdsa"),
        "association:x",
        "security_suite",
        "hls-ecdsa needs security_suite 1 or 2",
    ),
    (
        with_association(client_sap=1, context="ln-ciphered", block_cipher_key=EK),
        "association:x",
        "authentication_key",
        "required when context = ln-ciphered",
    ),
    (
        with_association(client_sap=1, context="ln-ciphered", authentication_key=AK),
        "association:x",
        "block_cipher_key",
        "required when context = ln-ciphered",
    ),
    (
        with_association(client_sap=1, security="authenticated-encryption", authentication_key=AK, block_cipher_key=EK),
        "association:x",
        "security",
        "security = authenticated-encryption needs context = ln-ciphered",
    ),
    (
        with_association(client_sap=1, context="ln-ciphered", security="encryption"),
        "association:x",
        "authentication_key",
        "required when context = ln-ciphered",
    ),
    (
        with_association(client_sap=1, authentication_key=AK[:-2]),
        "association:x",
        "authentication_key",
        "must be 16 bytes (32 hex digits) for security_suite 0, got 15",
    ),
    (
        with_association(client_sap=1, security_suite=1, block_cipher_key=EK + "00"),
        "association:x",
        "block_cipher_key",
        "must be 16 bytes (32 hex digits) for security_suite 1, got 17",
    ),
    (
        with_association(client_sap=1, security_suite=2, block_cipher_key=EK),
        "association:x",
        "block_cipher_key",
        "must be 32 bytes (64 hex digits) for security_suite 2, got 16",
    ),
    # across sections
    (
        section("meters:abt") + PUBLIC + section("association:other", client_sap=16),
        "association:other",
        "client_sap",
        "16 is already used by [association:public]",
    ),
    (
        section("meters:a", count=5)
        + section("meters:b", port=4063, serial=1, system_title="0000000000000000")
        + PUBLIC,
        "meters:b",
        "port",
        "ports 4063..4063 on 127.0.0.1 overlap [meters:a] ports 4059..4063 on 127.0.0.1",
    ),
    (
        section("meters:a", interface="0.0.0.0")
        + section("meters:b", serial=1, system_title="0000000000000000")
        + PUBLIC,
        "meters:b",
        "port",
        "overlap [meters:a]",
    ),
    (
        section("meters:a", interface="::") + section("meters:b", serial=1, system_title="0000000000000000") + PUBLIC,
        "meters:b",
        "port",
        "overlap [meters:a]",
    ),
    (
        section("meters:a", count=3)
        + section("meters:b", port=5000, serial=1000003, system_title="0000000000000000")
        + PUBLIC,
        "meters:b",
        "serial",
        "serials overlap those of [meters:a]",
    ),
    (
        section("meters:a", count=3, system_title="4D4D4D00FFFFFFFE")
        + section("meters:b", port=5000, serial=1, system_title="4D4D4D0000000000")
        + PUBLIC,
        "meters:b",
        "system_title",
        "system titles overlap those of [meters:a]",
    ),
    (
        section("meters:a") + section("meters:b", port=5000, serial=1, system_title="4D4D4D0000BC614E") + PUBLIC,
        "meters:b",
        "system_title",
        "system titles overlap",
    ),
    (
        section("meters:a", count=3) + section("meters:b", port=5000, system_title="4D4D4D0000BC6150") + PUBLIC,
        "meters:b",
        "system_title",
        "system titles overlap those of [meters:a]",
    ),
    (
        section("meters:a", count=3) + section("meters:b", port=5000) + section("meters:c", port=6000, serial=1000004)
        + PUBLIC,
        "meters:c",
        "serial",
        "serials overlap those of [meters:b]",
    ),
    # sections
    ("[meters:]\n" + PUBLIC, "meters:", None, "the name after 'meters:' must be letters"),
    ("[meters:a b]\n" + PUBLIC, "meters:a b", None, "not 'a b'"),
    ("[meters: abt]\n" + PUBLIC, "meters: abt", None, "must be letters"),
    ("[meters:abt]\n[association:]\nclient_sap = 1\n", "association:", None, "the name after 'association:'"),
    (
        "[meters:abt]\n[meter:b]\n" + PUBLIC,
        "meter:b",
        None,
        "unknown section; expected [simulator], [meters:NAME] or [association:NAME]",
    ),
    ("[meters:abt]\n[DEFAULT]\ncount = 2\n" + PUBLIC, "DEFAULT", None, "unknown section"),
    ("[Simulator]\n[meters:abt]\n" + PUBLIC, "Simulator", None, "unknown section"),
    ("[simulator:x]\n[meters:abt]\n" + PUBLIC, "simulator:x", None, "unknown section"),
    ("[meters]\n" + PUBLIC, "meters", None, "unknown section"),
    # the INI syntax itself
    ("[meters:abt]\n[meters:abt]\n" + PUBLIC, "meters:abt", None, "line 2: the section appears twice"),
    ("[simulator]\n[simulator]\n[meters:abt]\n" + PUBLIC, "simulator", None, "the section appears twice"),
    ("[meters:abt]\ncount = 1\ncount = 2\n" + PUBLIC, "meters:abt", "count", "line 3: the key appears twice"),
]


@pytest.mark.parametrize(("text", "section_name", "key", "problem"), ERRORS)
def test_bad_lab_names_section_key_and_problem(text: str, section_name: str, key: str | None, problem: str) -> None:
    error = config_error(text)
    assert (error.path, error.section, error.key) == ("lab.ini", section_name, key)
    assert problem in error.problem
    where = f"lab.ini [{section_name}]" + (f" {key}" if key is not None else "")
    assert str(error) == f"{where}: {error.problem}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no [meters:NAME] section"),
        (PUBLIC, "no [meters:NAME] section"),
        ("[meters:abt]\n", "no [association:NAME] section"),
        ("[simulator]\n[meters:abt]\n", "no [association:NAME] section"),
        ("count = 1\n[meters:abt]\n" + PUBLIC, "line 1: 'count = 1' comes before any [section]"),
        ("[meters:abt]\ncount\n" + PUBLIC, "line 2: cannot parse 'count\\n'; expected KEY = VALUE"),
    ],
)
def test_bad_lab_file_level_errors(text: str, problem: str) -> None:
    error = config_error(text)
    assert (error.path, error.section, error.key) == ("lab.ini", None, None)
    assert problem in error.problem
    assert str(error).startswith("lab.ini: ")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("127.0.0.1", "127.0.0.2"),
        ("127.0.0.1", "::1"),
        ("0.0.0.0", "::1"),
    ],
)
def test_same_ports_on_separate_interfaces_are_allowed(first: str, second: str) -> None:
    text = (
        section("meters:a", interface=first, count=3)
        + section("meters:b", interface=second, count=3, serial=1, system_title="0000000000000000")
        + PUBLIC
    )
    assert [m.port for m in parse_lab(text).meters()] == [4059, 4060, 4061, 4059, 4060, 4061]


def test_adjacent_ranges_do_not_overlap() -> None:
    text = (
        section("meters:a", count=3, system_title="4D4D4D00FFFFFFFD")
        + section("meters:b", count=2, port=4062, serial=1000004, system_title="4D4D4D0000000000")
        + PUBLIC
    )
    meters = list(parse_lab(text).meters())
    assert [m.port for m in meters] == [4059, 4060, 4061, 4062, 4063]
    assert [m.serial for m in meters] == [1000001, 1000002, 1000003, 1000004, 1000005]
    assert meters[2].system_title.hex().upper() == "4D4D4D00FFFFFFFF"
    assert meters[3].system_title.hex().upper() == "4D4D4D0000000000"


def test_console_port_zero_never_clashes() -> None:
    lab = parse_lab(with_simulator(console="tcp:0:interface=127.0.0.1"))
    assert lab.simulator.console == "tcp:0:interface=127.0.0.1"


def test_config_error_is_a_value_error_with_fields() -> None:
    error = config_error(with_meters(port=0))
    assert isinstance(error, ValueError)
    assert str(error) == "lab.ini [meters:abt] port: 0 is out of range: must be 1..65535"


def test_groups_without_serial_or_system_title_continue_the_numbering() -> None:
    text = (
        section("meters:a", count=3)
        + section("meters:b", count=2, port=5000)
        + section("meters:c", count=2, port=6000)
        + PUBLIC
    )
    meters = list(parse_lab(text).meters())
    assert [m.serial for m in meters] == [1000001 + index for index in range(7)]
    assert [m.system_title.hex().upper() for m in meters] == [f"4D4D4D0000BC{0x614E + i:04X}" for i in range(7)]


def test_a_group_without_serial_or_system_title_continues_after_the_group_above() -> None:
    text = (
        section("meters:a", count=2)
        + section("meters:b", count=3, port=5000, serial=77, system_title="41424300FFFFFFFE")
        + section("meters:c", port=6000)
        + PUBLIC
    )
    c = parse_lab(text).groups[2]
    assert (c.serial, c.system_title.hex().upper()) == (80, "4142430000000001")


# --- load_lab ---


def test_load_lab_resolves_relative_paths_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc" / "lab.ini"
    config.parent.mkdir()
    config.write_text(DESIGN_SAMPLE, encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    lab = load_lab(str(config))
    assert lab.simulator.state_dir == os.path.join(str(run), "var", "state")
    assert lab.simulator.packet_log == os.path.join(str(run), "var", "log", "packets.jsonl")
    assert lab.groups == parse_lab(DESIGN_SAMPLE).groups
    assert lab.associations == parse_lab(DESIGN_SAMPLE).associations


def test_load_lab_keeps_absolute_paths_and_disabled_packet_log(tmp_path: Path) -> None:
    config = tmp_path / "lab.ini"
    state = tmp_path / "state"
    config.write_text(with_simulator(state_dir=str(state), packet_log="-"), encoding="utf-8")
    lab = load_lab(str(config))
    assert lab.simulator.state_dir == str(state)
    assert lab.simulator.packet_log is None


def test_load_lab_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    config = tmp_path / "lab.ini"
    config.write_bytes(b"\xef\xbb\xbf" + DESIGN_SAMPLE.encode())
    assert isinstance(load_lab(str(config)), Lab)


def test_load_lab_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.ini")
    with pytest.raises(ConfigError) as info:
        load_lab(path)
    assert (info.value.path, info.value.section, info.value.key) == (path, None, None)
    assert info.value.problem == "the file does not exist"


def test_load_lab_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_lab(str(tmp_path))
    assert str(info.value) == f"{tmp_path}: is a directory, not a file"


def test_load_lab_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "lab.ini"
    config.write_bytes(b"[meters:abt]\nmodel = \xff\n")
    with pytest.raises(ConfigError) as info:
        load_lab(str(config))
    assert info.value.problem == "not UTF-8 text (byte 21)"


def test_load_lab_errors_name_the_file(tmp_path: Path) -> None:
    config = tmp_path / "lab.ini"
    config.write_text(with_meters(load_profile_interval=10), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_lab(str(config))
    assert str(info.value) == (f"{config} [meters:abt] load_profile_interval: 10 is not allowed: must be one of 5, 15")


# --- HLS-ECDSA client keys (client_public_key, client_certificate) ---

# RFC 6979 A.2.5 (P-256) and A.2.6 (P-384) public keys Ux || Uy.
P256_PUBLIC = (
    "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
    "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
)
P384_PUBLIC = (
    "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13"
    "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720"
)


def ecdsa_association(**keys: object) -> str:
    return with_association(client_sap=1, authentication="hls-ecdsa", **{"security_suite": 1, **keys})


def key_file(tmp_path: Path, suite: int, encoding: str) -> Path:
    """The RFC 6979 public key of ``suite``'s curve in a PEM or DER SubjectPublicKeyInfo file."""
    curve = ec.SECP256R1() if suite == 1 else ec.SECP384R1()
    point = bytes.fromhex(P256_PUBLIC if suite == 1 else P384_PUBLIC)
    key = ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + point)
    kind = serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER
    path = tmp_path / f"client-{suite}.{encoding}"
    path.write_bytes(key.public_bytes(kind, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def certificate_file(tmp_path: Path, suite: int = 1, encoding: str = "pem", common_name: str = "4D4D4D0000000001",
                     digital_signature: bool = True) -> Path:
    """A self-signed client certificate on the curve of ``suite``."""
    key = ec.generate_private_key(ec.SECP256R1() if suite == 1 else ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    usage = x509.KeyUsage(digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=not digital_signature, key_cert_sign=False,
                          crl_sign=False, encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1)).add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path / f"cert-{common_name}-{suite}-{digital_signature}.{encoding}"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER))
    return path


@pytest.mark.parametrize(("suite", "point"), [(1, P256_PUBLIC), (2, P384_PUBLIC)])
def test_client_public_key_in_hex(suite: int, point: str) -> None:
    lab = checked(ecdsa_association(security_suite=suite, client_public_key=point.lower()))
    association = lab.associations[0]
    assert association.client_public_key == bytes.fromhex(point)
    assert association.client_certificate is None


@pytest.mark.parametrize("encoding", ["pem", "der"])
@pytest.mark.parametrize(("suite", "point"), [(1, P256_PUBLIC), (2, P384_PUBLIC)])
def test_client_public_key_from_a_file(tmp_path: Path, suite: int, point: str, encoding: str) -> None:
    path = key_file(tmp_path, suite, encoding)
    lab = checked(ecdsa_association(security_suite=suite, client_public_key=path))
    assert lab.associations[0].client_public_key == bytes.fromhex(point)


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_client_certificate_from_a_file(tmp_path: Path, encoding: str) -> None:
    path = certificate_file(tmp_path, 2, encoding)
    association = checked(ecdsa_association(security_suite=2, client_certificate=path)).associations[0]
    assert association.client_public_key is None
    assert association.client_certificate is not None
    loaded = x509.load_der_x509_certificate(association.client_certificate)
    assert loaded.subject.rfc4514_string() == "CN=4D4D4D0000000001"
    assert "client_certificate" not in repr(association)


def test_empty_client_keys_mean_none() -> None:
    association = checked(ecdsa_association(client_public_key="", client_certificate="")).associations[0]
    assert (association.client_public_key, association.client_certificate) == (None, None)


def test_client_key_errors(tmp_path: Path) -> None:
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")
    cases = [
        (ecdsa_association(client_public_key=P256_PUBLIC[:-2]), "client_public_key",
         "a suite 1 public key is 64 bytes, got 63"),
        (ecdsa_association(client_public_key=P256_PUBLIC[:-2] + "00"), "client_public_key",
         "not a point of secp256r1"),
        (ecdsa_association(client_public_key=P384_PUBLIC), "client_public_key",
         "a suite 1 public key is 64 bytes, got 96"),
        (ecdsa_association(client_public_key=key_file(tmp_path, 2, "pem")), "client_public_key",
         "a suite 1 public key is 64 bytes, got 96"),
        (with_association(client_sap=1, client_public_key=P256_PUBLIC), "client_public_key",
         "needs security_suite 1 or 2 (suite 0 has no ECDSA)"),
        (ecdsa_association(client_public_key=tmp_path / "missing.pem"), "client_public_key", "cannot read"),
        (ecdsa_association(client_public_key=not_a_key), "client_public_key", "holds no PEM or DER public key"),
        (ecdsa_association(client_certificate=not_a_key), "client_certificate",
         "holds no PEM or DER X.509 certificate"),
        (ecdsa_association(client_certificate=certificate_file(tmp_path, common_name="client")), "client_certificate",
         "the subject's commonName is not a system title of 16 hex digits"),
        (ecdsa_association(client_certificate=certificate_file(tmp_path, digital_signature=False)),
         "client_certificate", "keyUsage is not digitalSignature"),
        (ecdsa_association(client_certificate=certificate_file(tmp_path, 2)), "client_certificate",
         "a suite 1 public key is 64 bytes, got 96"),
        (ecdsa_association(client_public_key=P256_PUBLIC, client_certificate=certificate_file(tmp_path)),
         "client_certificate", "give client_public_key or client_certificate, not both"),
        (ecdsa_association(client_publickey=P256_PUBLIC), "client_publickey", "did you mean 'client_public_key'?"),
    ]
    for text, key, problem in cases:
        error = config_error(text)
        assert (error.path, error.section, error.key) == ("lab.ini", "association:x", key), text
        assert problem in error.problem, (problem, error.problem)


def test_a_certificate_of_no_elliptic_curve_key_is_refused(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "4D4D4D0000000001")])
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1)).add_extension(usage, critical=True).sign(key, None))
    path = tmp_path / "ed25519.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    error = config_error(ecdsa_association(client_certificate=path))
    assert (error.key, error.problem) == ("client_certificate", f"{str(path)!r} certifies no elliptic-curve key")

"""Device templates (README "Device templates"): a meter cloned with
``dlmstw-client clone`` and served with ``model = template:FILE`` reads like
the meter it was cloned from, as the unmodified gurux-dlms client sees it over
real TCP: the object list (classes, versions, logical names, access rights)
and every static attribute. A device file gurux-dlms writes imports with
``dlmstw-client import-gurux`` and serves. Bad templates, bad XML and unknown
classes are one-line errors with their documented exit status.

The original meter is meter 0 of the session's lab (``interop_support.lab``,
is15959-abt); this module starts one more lab, serving the clone and the
imported device file.
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import tomllib
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from gurux_dlms import GXBitString, GXDLMSException
from gurux_dlms.enums import DataType as GuruxDataType
from gurux_dlms.objects import (GXDLMSAssociationLogicalName, GXDLMSCaptureObject, GXDLMSClock, GXDLMSData,
                                GXDLMSObjectCollection, GXDLMSProfileGeneric, GXDLMSRegister)
from interop_support import (PUBLIC_CLIENT, READER_CLIENT, READER_PASSWORD, Lab, LocalMeter, MeterSession,
                             find_free_port_range, lab_ini_text, running_lab, twistd_command, twistd_env)
from test_readme import ELSEWHERE, commands

from dlmstw.codec.axdr import decode_data, encode_data
from dlmstw.codec.typed import from_table, to_table
from dlmstw.config import parse_lab
from dlmstw.errors import ConfigError
from dlmstw.client.clone import parse_object_list, utc_offset_of
from dlmstw.client.session import ClientProtocolError
from dlmstw.cosem.directory import ModelDirectory
from dlmstw.enums import ActionResult, AttributeAccess, DataAccessResult, DataType, MethodAccess
from dlmstw.models.template import NOT_CLONED, TemplateAttribute, TemplateMethod, TemplateObject, loads
from dlmstw.models.templated import TemplateObjectSet, served_attributes
from dlmstw.plugins.registry import check_lab, load_registry

REPO_ROOT = Path(__file__).resolve().parent.parent
CLONE_COMMAND = next(c for c in commands() if c.startswith("dlmstw-client clone"))
IMPORT_COMMAND = next(c for c in commands() if c.startswith("dlmstw-client import-gurux"))
ASSOCIATIONS = [(PUBLIC_CLIENT, None), (READER_CLIENT, READER_PASSWORD)]
#: gurux-dlms access modes that let a client read (AccessMode 1, 3, 4, 6).
READ_MODES = {1, 3, 4, 6}
VOLTAGE = "1.0.32.7.0.255"
SERIAL = "0.0.96.1.0.255"
DEVICE_ID_2 = "0.0.96.1.1.255"


def client(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``dlmstw-client ARGUMENTS`` run from ``cwd`` with this checkout."""
    return subprocess.run([sys.executable, "-m", "dlmstw.client.cli", *arguments], cwd=cwd, env=twistd_env(),
                          capture_output=True, text=True, timeout=120, check=False)


def readme_command(command: str, replacements: dict[str, str]) -> list[str]:
    """A README command's arguments, with its sample address and files replaced."""
    arguments = command.split()[1:]
    return [replacements.get(argument, argument) for argument in arguments]


def gurux_device_file(path: Path) -> GXDLMSObjectCollection:
    """A device file as gurux-dlms writes it (``GXDLMSObjectCollection.save``), and its objects."""
    objects = GXDLMSObjectCollection()
    objects.append(GXDLMSAssociationLogicalName())
    clock = GXDLMSClock()
    clock.timeZone = -60
    objects.append(clock)
    serial = GXDLMSData(SERIAL)
    serial.value = "GX-000123"
    objects.append(serial)
    device = GXDLMSData(DEVICE_ID_2)
    device.value = "ACME GX"
    objects.append(device)
    voltage = GXDLMSRegister(VOLTAGE)
    voltage.scaler, voltage.unit = 0.1, 35
    voltage.setDataType(2, GuruxDataType.UINT16)
    voltage.value = 2300
    objects.append(voltage)
    energy = GXDLMSRegister("1.0.1.8.0.255")
    energy.scaler, energy.unit = 1, 30
    energy.setDataType(2, GuruxDataType.UINT32)
    energy.value = 0
    objects.append(energy)
    profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
    profile.capturePeriod, profile.profileEntries = 900, 96
    profile.captureObjects.append((clock, GXDLMSCaptureObject(2, 0)))
    profile.captureObjects.append((energy, GXDLMSCaptureObject(2, 0)))
    objects.append(profile)
    objects.save(str(path))
    return objects


@pytest.fixture(scope="module")
def templates(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder with acme.toml (meter 0 of the session lab, cloned by the README
    command) and gurux.toml (a gurux-dlms device file imported by the README command)."""
    folder = tmp_path_factory.mktemp("templates")
    cloned = client(readme_command(CLONE_COMMAND, {"127.0.0.1:4059": f"127.0.0.1:{lab.ports[0]}"}), folder)
    assert cloned.returncode == 0, cloned.stderr
    listed = len(loads((folder / "acme.toml").read_text()).objects)
    assert f"dlmstw-client clone: {listed} objects in the object list\n" in cloned.stderr
    assert f"dlmstw-client clone: {listed}/{listed} " in cloned.stderr and "unreadable" not in cloned.stderr
    gurux_device_file(folder / "device.xml")
    imported = client(readme_command(IMPORT_COMMAND, {"acme.toml": "gurux.toml"}), folder)
    assert imported.returncode == 0, imported.stderr
    for name in ("acme.toml", "gurux.toml"):  # what clone and import-gurux write, loads reads
        loads((folder / name).read_text())
    return folder


@pytest.fixture(scope="module")
def template_lab(templates: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Meter 0 serves acme.toml, meter 1 gurux.toml (paths relative to lab.ini's folder), with the
    associations of the session's lab."""
    directory = tmp_path_factory.mktemp("template-lab")
    relative = Path("..") / templates.name
    original = lab_ini_text(0, directory)
    associations = original[original.index("[association:"):]

    def ini(port: int, folder: Path) -> str:
        return f"""\
[simulator]
console = tcp:0:interface=127.0.0.1
state_dir = {folder / "state"}
packet_log = -

[meters:acme]
port = {port}
model = template:{relative / "acme.toml"}

[meters:gurux]
port = {port + 1}
model = template:{relative / "gurux.toml"}

{associations}"""
    yield from running_lab(directory, ini, 2)


def _comparable(value: Any) -> Any:
    """A gurux value that compares by content (its bit-strings compare by identity)."""
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, GXBitString):
        return ("bit-string", str(value))
    return value


def _answer(session: MeterSession, obj: Any, index: int) -> Any:
    """What reading an attribute gives through gurux: its value, or the Data-Access-Result."""
    try:
        return _comparable(session.read_raw(obj, index))
    except GXDLMSException as error:
        return ("refused", error.errorCode)


@pytest.mark.parametrize("client_sap,password", ASSOCIATIONS, ids=["public", "reader"])
def test_clone_reads_like_the_meter(lab: Lab, template_lab: Lab, templates: Path, client_sap: int,
                                    password: str | None) -> None:
    """Every attribute the clone does not drive (served_attributes, as the meter serving it decides) reads as
    the original's."""
    template = loads((templates / "acme.toml").read_text())
    by_ln = {obj.logical_name: obj for obj in template.objects}
    with MeterSession(lab.ports[0], client_sap, password) as original, \
            MeterSession(template_lab.ports[0], client_sap, password) as clone:
        listed, objects = original.read_object_list()
        cloned, _ = clone.read_object_list()
        assert cloned == listed
        compared = 0
        differences = []
        for entry, obj in zip(listed, objects):
            class_id, rights = entry[0], entry[3]
            skipped = served_attributes(template, by_ln[bytes(entry[2])]) | NOT_CLONED.get(class_id, frozenset())
            for index, mode, _ in rights[0]:
                if index == 1 or index in skipped or mode not in READ_MODES:
                    continue
                want, got = _answer(original, obj, index), _answer(clone, obj, index)
                compared += 1
                if want != got:
                    differences.append(f"class {class_id} {obj.logicalName} attribute {index}: {want!r} != {got!r}")
        assert not differences, "\n".join(differences)
        assert compared > 150


def test_clone_drives_registers_and_profiles(template_lab: Lab, templates: Path) -> None:
    """A register's value comes from the simulator in the type the template gives;
    a periodic profile's rows from its capture objects."""
    with MeterSession(template_lab.ports[0]) as clone:
        objects = clone.read_objects()
        voltage = next(o for o in objects if o.logicalName == VOLTAGE)
        clone.read(voltage, 3)
        value = clone.read(voltage, 2)
        assert 150 < value < 300
        profile = next(o for o in objects if o.logicalName == "1.0.99.1.0.255")
        clone.read(profile, 3)
        rows = clone.read_rows_by_entry(profile, 1, 2)
        assert len(rows) == 2 and len(rows[0]) == len(profile.captureObjects)


def test_gurux_device_file_imports_and_serves(template_lab: Lab, templates: Path, tmp_path: Path) -> None:
    written = gurux_device_file(tmp_path / "device.xml")
    with MeterSession(template_lab.ports[1], READER_CLIENT, READER_PASSWORD) as meter:
        listed, objects = meter.read_object_list()
        # The reader association (read-write) sees the file's access modes as they are.
        assert [[mode for _, mode, _ in entry[3][0]] for entry in listed] == [
            [int(o.getAccess(i)) for i in range(1, o.getAttributeCount() + 1)] for o in written]
        assert [(entry[0], entry[2]) for entry in listed] == [
            (15, bytes((0, 0, 40, 0, 0, 255))), (8, bytes((0, 0, 1, 0, 0, 255))), (1, bytes((0, 0, 96, 1, 0, 255))),
            (1, bytes((0, 0, 96, 1, 1, 255))), (3, bytes((1, 0, 32, 7, 0, 255))), (3, bytes((1, 0, 1, 8, 0, 255))),
            (7, bytes((1, 0, 99, 1, 0, 255)))]
        by_name = {o.logicalName: o for o in objects}
        assert meter.read_raw(by_name[DEVICE_ID_2], 2) == "ACME GX"
        assert meter.read_raw(by_name[SERIAL], 2) == "1000002"  # each meter its own serial number
        voltage = by_name[VOLTAGE]
        assert meter.read_raw(voltage, 3) == [-1, 35]
        meter.read(voltage, 3)
        assert 150 < meter.read(voltage, 2) < 300
        assert meter.read_raw(by_name["0.0.1.0.0.255"], 3) == -60
        profile = by_name["1.0.99.1.0.255"]
        assert meter.read_raw(profile, 4) == 900
        meter.read(profile, 3)
        assert len(meter.read_rows_by_entry(profile, 1, 3)) == 3


# -- the format --------------------------------------------------------------------------------

VALUES = [
    "00", "0100", "0300", "0301", "0408A5", "05FFFFFF85", "0600000102", "09060000010000FF", "090100",
    "0A03414243", "0A0201FF", "0C02C3A9", "0D05", "0FFF", "107FFF", "1180", "12FFFF", "1400000000000000FF",
    "15FFFFFFFFFFFFFFFF", "1605", "173F8CCCCD", "18400921FB54442D18", "19" + "07EA0C0607050A1E00FF8000",
    "1A07EA0C0607", "1B0A1E00FF", "FF", "020209060000010000FF01011203E8", "13020211120601000302" + "0004",
    "17FFC00000", "177FC00001", "18FFF8000000000000", "187FF0000000000001",  # NaNs: sign and payload kept
    "158000000000000000",  # long64-unsigned above TOML's integers
]


@pytest.mark.parametrize("encoded", VALUES)
def test_typed_values_encode_back_to_the_same_bytes(encoded: str) -> None:
    data = bytes.fromhex(encoded)
    value, end = decode_data(data)
    assert end == len(data)
    written = tomli_w.dumps({"value": to_table(value)})
    assert encode_data(from_table(tomllib.loads(written)["value"])) == data


def test_long64_unsigned_above_toml_integers_is_hex() -> None:
    """TOML integers are 64-bit signed: a larger long64-unsigned is written as its octets."""
    assert to_table((DataType.LONG64_UNSIGNED, 2**63)) == {"type": "long64-unsigned", "hex": "8000000000000000"}
    assert to_table((DataType.LONG64_UNSIGNED, 2**63 - 1))["value"] == 2**63 - 1


def test_float_nan_survives() -> None:
    value = from_table(tomllib.loads(tomli_w.dumps({"v": to_table((23, math.nan))}))["v"])
    assert math.isnan(value[1])


# -- errors ------------------------------------------------------------------------------------


def _lab_error(folder: Path, template: str) -> str:
    (folder / "t.toml").write_text(template)
    text = "[meters:x]\nmodel = template:t.toml\n[association:public]\nclient_sap = 16\n"
    path = str(folder / "lab.ini")
    with pytest.raises(ConfigError) as caught:
        check_lab(load_registry(), parse_lab(text, path), path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path} [meters:x] model: template {folder / 't.toml'}: ")
    return message


OBJECT = """[[objects]]
logical_name = "0.0.96.1.0.255"
class_id = {class_id}
version = 0
attributes = [{{ id = 1, access = "read-only" }}, {{ id = 2, access = "read-only", value = {value} }}]
"""


#: A structure in a structure... 40 deep (A-XDR's MAX_DEPTH is 32).
DEEP_VALUE = '{ type = "structure", items = [' * 40 + '{ type = "unsigned", value = 1 }' + "] }" * 40


DEMAND = """[[objects]]
logical_name = "1.0.1.4.0.255"
class_id = 5
version = 0
attributes = [{{ id = 1, access = "read-only" }}, {{ id = 2, access = "read-only", value = {{ type = "double-long-unsigned", value = 0 }} }},
  {{ id = 8, access = "read-only", value = {{ type = "double-long-unsigned", value = {period} }} }}]
"""


@pytest.mark.parametrize("template,problem", [
    ("objects = [", "not TOML"),
    ("[template]\nformat = 7\n", "format 7"),
    ("objects = []\n[template]\nload_shape = \"factory\"\n", "load_shape 'factory' is not one of feeder, household"),
    (OBJECT.format(class_id=9999, value='{ type = "unsigned", value = 1 }'),
     "class 9999 0.0.96.1.0.255: no interface class 9999 is installed"),
    (OBJECT.format(class_id=1, value='{ type = "unsigned", value = 300 }'), "attribute 2"),
    (OBJECT.format(class_id=1, value='{ type = "octet-strin", hex = "00" }'), "unknown type 'octet-strin'"),
    (OBJECT.format(class_id=1, value='{ type = "unsigned", value = 1 }') + '[simulate]\n"1.0.1.8.0.255" = "x"\n',
     "no object of the template"),
    (OBJECT.format(class_id=1, value='{ type = "unsigned", value = 1 }') + '[simulate]\n"0.0.96.1.0.255" = "x"\n',
     "unknown quantity 'x'"),
    (OBJECT.format(class_id=8, value='{ type = "long", value = 0 }') + '[simulate]\n"0.0.96.1.0.255" = "voltage-l1"\n',
     "a quantity drives Data, Register, Extended register and Demand register objects"),
    ("x = " + "[" * 3000 + "]" * 3000, "nested too deeply"),
    (OBJECT.format(class_id=1, value=DEEP_VALUE), "nested deeper than 32"),
    ("#" * (33 << 20), "larger than 32 MiB"),
    ("objects = []\n[template]\nutc_offset = 1000000000000\n", "utc_offset 1000000000000 is not -43200..43200 seconds"),
    (DEMAND.format(period=0), "class 5 1.0.1.4.0.255: period 0 is not 60..86400 seconds dividing the day"),
    (DEMAND.format(period=7), "period 7 is not 60..86400 seconds dividing the day"),
    ("""[[objects]]\nlogical_name = "0.0.40.0.0.255"\nclass_id = 15\nversion = 3\nattributes = []\n""",
     "Association LN version 3 gives access rights as bit flags (Blue Book 4.4.4)"),
], ids=["not-toml", "format", "load-shape", "unknown-class", "out-of-range", "unknown-type", "simulate-unknown-object",
        "simulate-unknown-quantity", "simulate-clock", "deep-toml", "deep-value", "large",
        "utc-offset", "demand-period-0", "demand-period-7", "association-version-3"])
def test_bad_template_is_one_line(tmp_path: Path, template: str, problem: str) -> None:
    assert problem in _lab_error(tmp_path, template)


def test_missing_template_stops_twistd_with_status_1(tmp_path: Path) -> None:
    (tmp_path / "lab.ini").write_text("[meters:x]\nport = 1\nmodel = template:nowhere.toml\n"
                                      "[association:public]\nclient_sap = 16\n")
    result = subprocess.run(twistd_command(tmp_path / "lab.ini"), cwd=tmp_path, env=twistd_env(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"dlmssim: {tmp_path / 'lab.ini'} [meters:x] model: template {tmp_path / 'nowhere.toml'}: "
                     "the file does not exist"], result.stderr


@pytest.mark.parametrize("text,problem", [
    ("<Objects><GXDLMSData>", "not well-formed XML"),
    ("<Things/>", "the root element is <Things>, expected <Objects>"),
    ("<Objects><GXDLMSWidget><LN>0.0.1.0.0.255</LN></GXDLMSWidget></Objects>",
     "object 1 <GXDLMSWidget>: not a Gurux object type known here"),
    ("<Objects><GXDLMSData><Access>19</Access></GXDLMSData></Objects>", "has no <LN>"),
    ("<Objects><GXDLMSData><LN>0.0.1.0.0.255</LN><Access>19</Access></GXDLMSData></Objects>",
     "an access mode is not one of the Blue Book's"),
    ("<Objects><GXDLMSData><LN>0.0.1.0.0.255</LN><Value Type=\"17\">300</Value></GXDLMSData></Objects>",
     "<Value>: '300' is not a unsigned"),
    ('<!DOCTYPE x [<!ENTITY a "aaaa">]><Objects/>', "document type declarations are not accepted"),
    ("<Objects><GXDLMSData><LN>0.0.1.0.0.255</LN><Value Type=\"2\">" + '<Item Type="2">' * 3000
     + "</Item>" * 3000 + "</Value></GXDLMSData></Objects>", "nested deeper than 32"),
    ("<Objects><GXDLMSRegister><LN>1.0.1.8.0.255</LN><Scaler>0.3</Scaler><Unit>30</Unit></GXDLMSRegister>"
     "</Objects>", "<Scaler> '0.3' is not a power of ten"),
    (f"<Objects><GXDLMSData><LN>0.0.1.0.0.255</LN><Access>{'1' * 200}</Access></GXDLMSData></Objects>",
     "object 1 <GXDLMSData> 0.0.1.0.0.255: attribute id 128 is not 1..127"),
    ("<Objects><GXDLMSData><LN>0.0.1.0.0.255</LN><Version>999</Version></GXDLMSData></Objects>",
     "object 1 <GXDLMSData> 0.0.1.0.0.255: version 999 is not 0..255"),
    ("<Objects><GXDLMSAssociationLogicalName><LN>0.0.40.0.0.255</LN><ApplicationContextName><ContextId>300"
     "</ContextId></ApplicationContextName></GXDLMSAssociationLogicalName></Objects>",
     "<ApplicationContextName><ContextId> 300 is not 0..255"),
    ("<Objects><GXDLMSAssociationLogicalName><LN>0.0.40.0.0.255</LN><Version>3</Version><Access3>80018001"
     "</Access3></GXDLMSAssociationLogicalName></Objects>", "<Access3>/<MethodAccess3> (Association LN version 3"),
    ("<Objects><GXDLMSAssociationLogicalName><LN>0.0.40.0.0.255</LN><Version>3</Version>"
     "</GXDLMSAssociationLogicalName></Objects>", "Association LN version 3 gives access rights as bit flags"),
], ids=["truncated", "root", "unknown-type", "no-ln", "access", "value", "doctype", "deep", "scaler", "attributes",
        "version", "context-id", "access3", "version-3"])
def test_bad_gurux_file_is_one_line_and_status_2(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "bad.xml").write_text(text)
    result = client(["import-gurux", "bad.xml"], tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("dlmstw-client import-gurux: bad.xml: ") and problem in line, line


def test_utf16_device_file_with_a_dtd_is_refused(tmp_path: Path) -> None:
    """The entity guard is not passed by another encoding: a UTF-16 file is refused before parsing."""
    text = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
            '<Objects><GXDLMSData><LN>0.0.96.1.1.255</LN><Value Type="10">&b;</Value></GXDLMSData></Objects>')
    (tmp_path / "bad.xml").write_bytes(text.encode("utf-16"))
    result = client(["import-gurux", "bad.xml"], tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "dlmstw-client import-gurux: bad.xml: not UTF-8 text (byte 0)\n"


def test_clone_of_a_closed_port_is_status_3(tmp_path: Path) -> None:
    result = client(["clone", f"127.0.0.1:{find_free_port_range(1)}"], tmp_path)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.strip().startswith("dlmstw-client clone: 127.0.0.1:")


def test_readme_template_commands_are_run_here() -> None:
    for command in (CLONE_COMMAND, IMPORT_COMMAND):
        assert "tests/test_templates.py" in ELSEWHERE[command]


V0_ASSOCIATION = """[[objects]]
logical_name = "0.0.40.0.0.255"
class_id = 15
version = 0
attributes = [{ id = 1, access = "read-only" }, { id = 2, access = "read-only" }]
methods = [{ id = 1, access = "access" }, { id = 2, access = "no-access" }]
"""


def test_version_0_association_lists_method_access_as_booleans() -> None:
    """Association LN version 0 (Blue Book 4.4.4) gives method access modes as
    booleans; a clone of such a meter lists them so, and ``clone`` reads them back."""
    registry = load_registry()
    served = TemplateObjectSet("template:v0", loads(V0_ASSOCIATION))
    lab = parse_lab("[meters:x]\n[association:public]\nclient_sap = 16\naccess = full\n")
    directory = ModelDirectory([served], registry.classes, lab.associations, registry.mechanisms, 0x1F, 1024)
    listed, _ = decode_data(directory.object_list(0))
    (entry,) = listed[1]
    methods = entry[1][3][1][1][1]
    assert [method[1][1] for method in methods] == [(DataType.BOOLEAN, True), (DataType.BOOLEAN, False)]
    (parsed,) = parse_object_list(listed)
    assert parsed.version == 0 and parsed.methods == (TemplateMethod(1, MethodAccess.ACCESS),
                                                      TemplateMethod(2, MethodAccess.NO_ACCESS))


# -- served in process ---------------------------------------------------------------------------

ASSOCIATION = """[[objects]]
logical_name = "0.0.40.0.0.255"
class_id = 15
version = 1
attributes = [{ id = 1, access = "read-only" }, { id = 2, access = "read-only" }]
"""
CLOCK_OBJECT = """[[objects]]
logical_name = "0.0.1.0.0.255"
class_id = 8
version = 0
attributes = [{ id = 1, access = "read-only" }, { id = 2, access = "read-only" }]
"""
ENERGY = """[[objects]]
logical_name = "1.0.1.8.0.255"
class_id = 3
version = 0
attributes = [{{ id = 1, access = "read-only" }}, {{ id = 2, access = "read-only", value = {value} }},
  {{ id = 3, access = "read-only", value = {{ type = "structure", items = [{{ type = "integer", value = 0 }},
  {{ type = "enum", value = 30 }}] }} }}]
"""
DWORD = '{{ type = "double-long-unsigned", value = {} }}'
COLUMN = ('{{ type = "structure", items = [{{ type = "long-unsigned", value = {} }}, {{ type = "octet-string", '
          'hex = "{}" }}, {{ type = "integer", value = 2 }}, {{ type = "long-unsigned", value = 0 }}] }}')
PROFILE = """[[objects]]
logical_name = "1.0.99.1.0.255"
class_id = 7
version = 1
attributes = [{{ id = 1, access = "read-only" }}, {{ id = 2, access = "read-only" }},
  {{ id = 3, access = "read-only", value = {{ type = "array", items = [{columns}] }} }},
  {{ id = 4, access = "read-only", value = {period} }}, {{ id = 7, access = "read-only" }},
  {{ id = 8, access = "read-only", value = {entries} }}]
methods = [{{ id = 1, access = "access" }}, {{ id = 2, access = "access" }}]
"""
PROFILE_COLUMNS = f"{COLUMN.format(8, '0000010000FF')}, {COLUMN.format(3, '0100010800FF')}"
NOW = 1_767_268_800.0


def served(folder: Path, *objects: str, days: int = 3) -> LocalMeter:
    """A meter serving a template of ``objects`` (after the current association and the clock) in process;
    the file is named by its text (a process reads a template once)."""
    text = "".join((ASSOCIATION, CLOCK_OBJECT, *objects))
    path = folder / f"{zlib.crc32(text.encode()):08x}.toml"
    path.write_text(text)
    return LocalMeter(f"[meters:m]\nmodel = template:{path}\nload_profile_days = {days}\n"
                      "[association:admin]\nclient_sap = 48\nauthentication = lls\nlls_password = ADMIN001\n"
                      "access = full\n", now=NOW)


@contextmanager
def memory_limit(extra: int = 1 << 30) -> Iterator[None]:
    """The process may not grow by more than ``extra`` bytes of address space (MemoryError instead)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_profile_entries_as_many_as_fit_are_bounded_by_load_profile_days(tmp_path: Path) -> None:
    """profile_entries 4294967295 (common on real meters) holds load_profile_days of periods, a capture included."""
    meter = served(tmp_path, ENERGY.format(value=DWORD.format(0)), PROFILE.format(
        columns=PROFILE_COLUMNS, period=DWORD.format(900), entries=DWORD.format(2**32 - 1)))
    with memory_limit():
        assert meter.action("1.0.99.1.0.255", 7, 2)[0] == ActionResult.SUCCESS
        assert meter.get("1.0.99.1.0.255", 7, 7) == (DataType.DOUBLE_LONG_UNSIGNED, 3 * 96)
    assert meter.get("1.0.99.1.0.255", 7, 8) == (DataType.DOUBLE_LONG_UNSIGNED, 2**32 - 1)
    each_second = served(tmp_path, ENERGY.format(value=DWORD.format(0)), PROFILE.format(
        columns=PROFILE_COLUMNS, period=DWORD.format(1), entries=DWORD.format(2**32 - 1)), days=35)
    with memory_limit(256 << 20):  # not a grid of 35 days of seconds: periods shorter than a minute are not driven
        assert each_second.action("1.0.99.1.0.255", 7, 2)[0] == ActionResult.SUCCESS
        assert each_second.get("1.0.99.1.0.255", 7, 7) == (DataType.DOUBLE_LONG_UNSIGNED, 0)


def test_a_register_narrower_than_its_quantity_rolls_over(tmp_path: Path) -> None:
    """An energy register as long-unsigned (scaler 0) answers the energy modulo 65536, as a meter's register rolls over."""
    meter = served(tmp_path, ENERGY.format(value='{ type = "long-unsigned", value = 0 }'))
    value = meter.get("1.0.1.8.0.255", 3, 2)
    assert value[0] == DataType.LONG_UNSIGNED and 0 <= value[1] < 65536
    wide = served(tmp_path, ENERGY.format(value=DWORD.format(0))).get("1.0.1.8.0.255", 3, 2)
    assert wide[1] > 65536 and value[1] == wide[1] % 65536


def test_values_a_quantity_cannot_stand_in_for_are_kept(tmp_path: Path) -> None:
    """An energy register whose value is an enum keeps it; naming a quantity for it in [simulate] is refused."""
    kept = ENERGY.format(value='{ type = "enum", value = 7 }')
    assert served(tmp_path, kept).get("1.0.1.8.0.255", 3, 2) == (DataType.ENUM, 7)
    message = _lab_error(tmp_path, "".join((ASSOCIATION, CLOCK_OBJECT, kept, '[simulate]\n"1.0.1.8.0.255" = '
                                                                        '"active-energy-import"\n')))
    assert message.endswith("a quantity cannot stand in for a value of type enum")


def _entry(class_id: Any, version: Any, ln: bytes, attribute: Any, mode: Any = (DataType.ENUM, 1),
           selectors: Any = (DataType.NULL_DATA, None)) -> Any:
    """An object_list entry (Blue Book 4.4.4) with one attribute and no methods."""
    rights = (DataType.STRUCTURE, [(DataType.ARRAY, [(DataType.STRUCTURE, [attribute, mode, selectors])]),
                                   (DataType.ARRAY, [])])
    return (DataType.STRUCTURE, [class_id, version, (DataType.OCTET_STRING, ln), rights])


@pytest.mark.parametrize("entry,problem", [
    (_entry((DataType.OCTET_STRING, b"x"), (DataType.UNSIGNED, 0), bytes(6), (DataType.INTEGER, 1)),
     "class_id b'x' is not 0..65535"),
    (_entry((DataType.LONG_UNSIGNED, 1), (DataType.VISIBLE_STRING, b"1"), bytes(6), (DataType.INTEGER, 1)),
     "version b'1' is not 0..255"),
    (_entry((DataType.LONG_UNSIGNED, 1), (DataType.UNSIGNED, 0), bytes(6), (DataType.BOOLEAN, True)),
     "attribute id True is not 1..127"),
    (_entry((DataType.LONG_UNSIGNED, 1), (DataType.UNSIGNED, 0), bytes(6), (DataType.INTEGER, 1),
            selectors=(DataType.INTEGER, 5)), "access_selectors is not an array"),
    (_entry((DataType.LONG_UNSIGNED, 1), (DataType.UNSIGNED, 0), bytes(6), (DataType.INTEGER, 1),
            selectors=(DataType.ARRAY, [(DataType.OCTET_STRING, b"1")])), "selectors (b'1',) are not integers"),
    (_entry((DataType.LONG_UNSIGNED, 15), (DataType.UNSIGNED, 3), bytes((0, 0, 40, 0, 0, 255)), (DataType.INTEGER, 1),
            (DataType.ENUM, 5)), "Association LN version 3 gives access rights as bit flags"),
], ids=["class-id", "version", "attribute-id", "selectors", "selector", "version-3"])
def test_object_list_entries_a_template_cannot_hold_are_refused(entry: Any, problem: str) -> None:
    """parse_object_list checks an entry as loads does, so that what clone writes loads reads."""
    with pytest.raises(ClientProtocolError) as caught:
        parse_object_list((DataType.ARRAY, [entry]))
    assert problem in str(caught.value) and str(caught.value).startswith("object_list: ")


KEPT_PROFILE = """[[objects]]
logical_name = "1.0.99.1.0.255"
class_id = 7
version = 1
attributes = [{ id = 1, access = "read-only" },
  { id = 2, access = "read-only", selectors = [1], value = { type = "array", items = [
    { type = "structure", items = [{ type = "unsigned", value = 1 }] },
    { type = "structure", items = [{ type = "unsigned", value = 2 }] }] } },
  { id = 20, access = "read-only", selectors = [1, 2] }]
[simulate]
"1.0.99.1.0.255" = "kept"
"""


def test_selective_access_to_a_kept_value_is_refused(tmp_path: Path) -> None:
    """A kept buffer is not served whole under an entry descriptor; selectors are the listing's (the template
    lists only 1, by range); an attribute the class does not have answers scope-of-access-violated."""
    meter = served(tmp_path, KEPT_PROFILE)
    assert meter.get("1.0.99.1.0.255", 7, 2)[1] == [(DataType.STRUCTURE, [(DataType.UNSIGNED, 1)]),
                                                   (DataType.STRUCTURE, [(DataType.UNSIGNED, 2)])]
    by_entry = (2, (DataType.STRUCTURE, [(DataType.DOUBLE_LONG_UNSIGNED, 1), (DataType.DOUBLE_LONG_UNSIGNED, 1),
                                         (DataType.LONG_UNSIGNED, 1), (DataType.LONG_UNSIGNED, 0)]))
    assert meter.get("1.0.99.1.0.255", 7, 2, by_entry) == DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
    by_range = (1, (DataType.STRUCTURE, [(DataType.NULL_DATA, None)] * 4))
    assert meter.get("1.0.99.1.0.255", 7, 2, by_range) == DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
    assert meter.get("1.0.99.1.0.255", 7, 20, by_entry) == DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
    idle = served(tmp_path, PROFILE.format(columns=PROFILE_COLUMNS, period=DWORD.format(0), entries=DWORD.format(1))
                  .replace('{ id = 2, access = "read-only" }', '{ id = 2, access = "read-only", selectors = [1, 2] }'),
                  ENERGY.format(value=DWORD.format(0)))
    assert idle.get("1.0.99.1.0.255", 7, 2, by_entry) == (DataType.ARRAY, [])  # a profile holding no entries


def test_served_attributes_of_data_follow_its_quantity(tmp_path: Path) -> None:
    """The serial number (0.0.96.1.0.255) is driven, each meter its own; another Data object is kept."""
    template = loads(OBJECT.format(class_id=1, value='{ type = "octet-string", text = "ABC" }')
                     + OBJECT.format(class_id=1, value='{ type = "octet-string", text = "ABC" }')
                     .replace("0.0.96.1.0.255", "0.0.96.1.1.255"))
    serial, other = template.objects
    assert served_attributes(template, serial) == frozenset({2}) and served_attributes(template, other) == frozenset()
    meter = served(tmp_path, OBJECT.format(class_id=1, value='{ type = "octet-string", text = "ABC" }'))
    assert meter.get("0.0.96.1.0.255", 1, 2) == (DataType.OCTET_STRING, str(meter.runtime.serial).encode())


@pytest.mark.parametrize("model,problem", [
    ("is15959-abt, template:t.toml", "template:{t} brings every object of the meter: give it alone, not with "
                                     "is15959-abt"),
    ("template:t.toml, template:u.toml", "template:{t} brings every object of the meter: give it alone, not with "
                                         "template:{u}"),
], ids=["with-a-model", "two-templates"])
def test_a_template_is_the_only_object_set_of_its_group(tmp_path: Path, model: str, problem: str) -> None:
    """The template's path as lab.ini's folder resolves it."""
    (tmp_path / "t.toml").write_text(ASSOCIATION + CLOCK_OBJECT)
    problem = problem.format(t=tmp_path / "t.toml", u=tmp_path / "u.toml")
    path = str(tmp_path / "lab.ini")
    lab = parse_lab(f"[meters:x]\nmodel = {model}\n[association:public]\nclient_sap = 16\n", path)
    with pytest.raises(ConfigError) as caught:
        check_lab(load_registry(), lab, path)
    assert str(caught.value) == f"{path} [meters:x] model: {problem}"


def test_a_template_without_the_current_association_is_refused(tmp_path: Path) -> None:
    assert _lab_error(tmp_path, CLOCK_OBJECT).endswith(
        "no Association LN (class 15) 0.0.40.0.0.255: a client could not read the object list")


@pytest.mark.parametrize("time_zone,offset", [(-330, 19800), (60, -3600), (-0x8000, 0), (0x7FFF, 0), (721, 0)])
def test_clone_takes_utc_offset_from_a_time_zone_a_template_holds(time_zone: int, offset: int) -> None:
    """What clone writes, loads reads: a time_zone outside -720..720 minutes is not an offset."""
    clock = TemplateObject(bytes((0, 0, 1, 0, 0, 255)), 8, 0, (TemplateAttribute(3, AttributeAccess.READ_ONLY, None,
                                                                                 (DataType.LONG, time_zone)),))
    assert utc_offset_of([clock]) == offset
    loads(f"objects = []\n[template]\nutc_offset = {offset}\n")

"""Meter core against the unmodified gurux-dlms client over real TCP (IEC 62056-47 wrapper).

The first group checks the harness itself against public vectors (tests/vectors, sources cited
per test) with a scripted loopback peer, so that a failure of the second group is the meter's.
The second group runs ``twistd -n dlmssim`` (fixture ``lab``) and reads is15959-abt meters the way
a head-end does. Failure messages carry the hex of the last frames exchanged.
"""

from __future__ import annotations

import datetime
import json
import math
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from gurux_dlms import GXDateTime, GXDLMSClient, GXDLMSException
from gurux_dlms.enums import AssociationResult, Command, ErrorCode, ObjectType, SourceDiagnostic
from gurux_dlms.enums import Conformance as GuruxConformance
from gurux_dlms.enums import DataType as GuruxDataType
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSObject,
    GXDLMSObjectCollection,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
)

from dlmstw.enums import AcseServiceUserDiagnostic, Conformance, DataAccessResult, Unit
from interop_support import (
    ASSOCIATION_LN,
    BLOCK_LOAD_PROFILE,
    CLOCK,
    DAILY_LOAD_PROFILE,
    INSTANTANEOUS_PROFILE,
    INSTANTANEOUS_SCALER_PROFILE,
    LOAD_PROFILE_DAYS,
    LOAD_PROFILE_INTERVAL_MINUTES,
    MAX_CLIENTS,
    METER_COUNT,
    PUBLIC_CLIENT,
    READER_CLIENT,
    READER_PASSWORD,
    SERIAL_NUMBER,
    VECTORS,
    FakeMeter,
    Lab,
    MeterSession,
    make_client,
    to_utc,
)

ACSE_VECTORS: dict[str, Any] = json.loads((VECTORS / "acse.json").read_text())
PUBLIC_VECTORS = (VECTORS / "public-vectors.md").read_text()

# Registers of the IS 15959 instantaneous profile named in the issue (Blue Book 7.5, value group C:
# 32/52/72 voltage L1..L3, 31/51/71 current, 14 frequency, 13 power factor, 1 active power +;
# D = 7 instantaneous value, D = 8 time integral 1 = cumulative energy).
INSTANTANEOUS_REGISTERS = (
    "1.0.32.7.0.255",
    "1.0.52.7.0.255",
    "1.0.72.7.0.255",
    "1.0.31.7.0.255",
    "1.0.51.7.0.255",
    "1.0.71.7.0.255",
    "1.0.14.7.0.255",
    "1.0.13.7.0.255",
    "1.0.1.7.0.255",
    "1.0.1.8.0.255",
)
REQUIRED_OBJECTS: dict[str, int] = {
    ASSOCIATION_LN: ObjectType.ASSOCIATION_LOGICAL_NAME,
    CLOCK: ObjectType.CLOCK,
    SERIAL_NUMBER: ObjectType.DATA,
    INSTANTANEOUS_PROFILE: ObjectType.PROFILE_GENERIC,
    INSTANTANEOUS_SCALER_PROFILE: ObjectType.PROFILE_GENERIC,
    BLOCK_LOAD_PROFILE: ObjectType.PROFILE_GENERIC,
    DAILY_LOAD_PROFILE: ObjectType.PROFILE_GENERIC,
    **{ln: ObjectType.REGISTER for ln in INSTANTANEOUS_REGISTERS},
}
GURUX_CLASSES: dict[int, type[GXDLMSObject]] = {
    ObjectType.DATA: GXDLMSData,
    ObjectType.REGISTER: GXDLMSRegister,
    ObjectType.PROFILE_GENERIC: GXDLMSProfileGeneric,
    ObjectType.CLOCK: GXDLMSClock,
    ObjectType.ASSOCIATION_LOGICAL_NAME: GXDLMSAssociationLogicalName,
}
ENERGY_UNITS = {Unit.WATT_HOUR, Unit.VOLT_AMPERE_HOUR, Unit.VAR_HOUR}
INTERVAL = datetime.timedelta(minutes=LOAD_PROFILE_INTERVAL_MINUTES)
CLOCK_TOLERANCE = datetime.timedelta(seconds=5)


def reverse_conformance(value: int) -> int:
    """gurux numbers conformance bits from the least significant end, the Green Book (9.4.6.1)
    from the most significant: the 24 bits reversed convert either way."""
    return int(f"{value:024b}"[::-1], 2)


def gurux_conformance_to_standard(value: int) -> Conformance:
    """A gurux conformance value as the Green Book's conformance block."""
    return Conformance(reverse_conformance(value))


def vector_after(label: str) -> bytes:
    """The first hex string in backticks after ``label`` in public-vectors.md."""
    start = PUBLIC_VECTORS.index(label)
    opening = PUBLIC_VECTORS.index("`", start + len(label))
    return bytes.fromhex(PUBLIC_VECTORS[opening + 1 : PUBLIC_VECTORS.index("`", opening + 1)])


# =========================================================================== the harness itself


def test_harness_lls_aarq_matches_public_vector() -> None:
    """gurux's AARQ for LLS 'ABCD0001' from client 32, wrapped, is the corrected AARQ without A6 of
    public-vectors.md 3.7 once gurux proposes the same conformance block (0060FEDF)."""
    expected = vector_after("An AARQ without the (optional, non-ciphered context) A6 whose original lengths are right:")
    client = make_client(READER_CLIENT, READER_PASSWORD)
    client.proposedConformance = GuruxConformance(reverse_conformance(0x60FEDF))
    assert b"".join(bytes(frame) for frame in client.aarqRequest()) == expected
    default = make_client(READER_CLIENT, READER_PASSWORD).aarqRequest()
    # What the meter really gets from gurux: the same AARQ proposing 00401E5D and max PDU FFFF.
    assert bytes(default[0]) == expected[:-5] + bytes.fromhex("401E5DFFFF")


def _scripted_meter(answers: dict[bytes, bytes]) -> FakeMeter:
    """A peer answering each request APDU whose head (after the invoke-id byte for xDLMS) matches."""

    def responder(_source: int, apdu: bytes) -> bytes | None:
        for head, answer in answers.items():
            if apdu.startswith(head):
                return answer
        return None

    return FakeMeter(responder)


def test_harness_association_get_and_release_against_vectors() -> None:
    """AARE of the paper's figure 4 (acse.json), GET clock attr 3 and its answer ([G]
    dlmsclient/client_test.go), a data-access-result 4 answer, RLRQ/RLRE (public-vectors.md 3.8)."""
    aare = bytes.fromhex(ACSE_VECTORS["paper_figure4_aare_wrapped"]["hex"])[8:]
    get_clock_tz = bytes.fromhex("C001C100080000010000FF0300")
    get_undefined = bytes.fromhex("C001C100010000606363FF0200")
    meter = _scripted_meter(
        {
            bytes([0x60]): aare,
            get_clock_tz: bytes.fromhex("C401C10010003C"),
            get_undefined: bytes.fromhex("C401C10104"),
            bytes.fromhex("6203800100"): bytes.fromhex("6303800100"),
        }
    )
    with meter:
        session = MeterSession(meter.port, READER_CLIENT, READER_PASSWORD, timeout=2)
        session.associate()
        assert gurux_conformance_to_standard(session.client.negotiatedConformance) == Conformance(0x00501F)
        assert session.client.maxReceivePDUSize == 500
        assert session.read(GXDLMSClock(CLOCK), 3) == 60
        with pytest.raises(GXDLMSException) as raised:
            session.read_raw(GXDLMSData("0.0.96.99.99.255"), 2)
        assert raised.value.errorCode == ErrorCode.UNDEFINED_OBJECT == DataAccessResult.OBJECT_UNDEFINED
        assert any("C401C10104" in note for note in raised.value.__notes__)
        reply = session.release()
        assert reply.command == Command.RELEASE_RESPONSE
        session.close()
    assert meter.error is None
    assert meter.requests[1:] == [get_clock_tz, get_undefined, bytes.fromhex("6203800100")]


def test_harness_get_with_list_against_vector() -> None:
    """GET-Request-With-List and its response, [U] test_xdlms/test_get.py (public-vectors.md 3.4);
    the AARE is 3.3's no-security AARE with multiple-references added to its conformance."""
    aare = bytes.fromhex("6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000721F01F40007")
    request = vector_after("GET-Request-With-List: (1, 0.0.42.0.0.255, 2) and (8, 0.0.1.0.0.255, 2) |")
    response = vector_after('GET-Response-With-List: octet-string "ISK1030777764366"')
    meter = _scripted_meter({bytes([0x60]): aare, request: response})
    with meter:
        session = MeterSession(meter.port, PUBLIC_CLIENT, timeout=2)
        session.associate()
        values = session.read_list([(GXDLMSData("0.0.42.0.0.255"), 2), (GXDLMSClock(CLOCK), 2)])
        session.close()
    assert meter.requests[1] == request
    assert bytes(values[0]) == b"ISK1030777764366"
    moment = GXDLMSClient.changeType(values[1], GuruxDataType.DATETIME)
    assert to_utc(moment) == datetime.datetime(2021, 6, 3, 13, 9, 23, tzinfo=datetime.timezone.utc)


def _datablocks(data: bytes, size: int) -> list[bytes]:
    """GET-Response-With-Datablock APDUs (Green Book 9.4.6.4) carrying ``data`` in ``size``-byte parts."""
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return [
        bytes([0xC4, 0x02, 0xC1, int(number == len(parts))])
        + number.to_bytes(4, "big")
        + b"\x00"
        + bytes([0x81, len(part)])
        + part
        for number, part in enumerate(parts, start=1)
    ]


def test_harness_follows_get_datablocks() -> None:
    """Block transfer: GET-Request-Next carries the received block number ([U] vectors
    ``C002C100000001`` in public-vectors.md 3.4) and the parts join into one Data."""
    row = "0203090C07E2020C0500000000800000110006000186A0"  # first row of the [U] 24-row vector (3.6)
    data = bytes.fromhex("0118" + row * 24)
    blocks = _datablocks(data, 200)
    aare = bytes.fromhex(ACSE_VECTORS["paper_figure4_aare_wrapped"]["hex"])[8:]
    get = bytes.fromhex("C001C100070100630100FF0200")
    answers = {bytes([0x60]): aare, get: blocks[0]}
    answers.update({bytes.fromhex(f"C002C1{n:08X}"): blocks[n] for n in range(1, len(blocks))})
    meter = _scripted_meter(answers)
    with meter:
        session = MeterSession(meter.port, READER_CLIENT, READER_PASSWORD, timeout=2)
        session.associate()
        value = session.read_raw(GXDLMSProfileGeneric(BLOCK_LOAD_PROFILE), 2)
        session.close()
    assert len(blocks) == 3
    assert meter.requests[1:] == [get, bytes.fromhex("C002C100000001"), bytes.fromhex("C002C100000002")]
    assert len(value) == 24
    assert all(list(item[1:]) == [0, 100000] for item in value)
    assert all(bytes(item[0]) == bytes.fromhex("07E2020C0500000000800000") for item in value)


def test_harness_reports_rejected_aare() -> None:
    """The rejected AARE for a wrong LLS password (real L+G meter, [G] dlmsclient/client_test.go,
    public-vectors.md 3.3) surfaces as gurux's rejected-permanent, authentication-failure."""
    aare = vector_after("AC0A80083030303030303031BE10040E01000000065F1F040000181F0100` |")
    meter = _scripted_meter({bytes([0x60]): aare})
    with meter:
        session = MeterSession(meter.port, READER_CLIENT, "00000001", timeout=2)
        with pytest.raises(GXDLMSException) as raised:
            session.associate()
        session.close()
    assert raised.value.result == AssociationResult.PERMANENT_REJECTED
    assert raised.value.diagnostic == SourceDiagnostic.AUTHENTICATION_FAILURE
    assert raised.value.diagnostic == AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE


def test_harness_fails_fast_on_closed_or_silent_peer() -> None:
    """A peer that closes gives ConnectionError; one that never answers, a time-out, not a hang."""
    with _scripted_meter({}) as meter:
        session = MeterSession(meter.port, PUBLIC_CLIENT, timeout=2)
        with pytest.raises(ConnectionError):
            session.associate()
        session.close()
    with FakeMeter(lambda source, apdu: None, silent=True) as meter:
        session = MeterSession(meter.port, PUBLIC_CLIENT, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            session.associate()
        session.close()
        assert time.monotonic() - started < 2


def test_harness_wrapper_addressing_is_checked() -> None:
    """A WPDU addressed to another client wPort than ours is refused (Green Book 8.4.2)."""
    aare = bytes.fromhex(ACSE_VECTORS["paper_figure4_aare_wrapped"]["hex"])[8:]
    with FakeMeter(lambda source, apdu: aare, reply_to=READER_CLIENT) as meter:
        session = MeterSession(meter.port, PUBLIC_CLIENT, timeout=2)
        with pytest.raises(ValueError, match="WPDU from wPort 1 to wPort 32; expected 1 -> 16"):
            session.associate()
        session.close()


# =========================================================================== helpers for the lab


def find(objects: GXDLMSObjectCollection, ln: str, trace: str = "") -> Any:
    """The object with logical name ``ln``; fails the test naming what the list holds."""
    for obj in objects:
        if obj.logicalName == ln:
            return obj
    pytest.fail(f"{ln} missing from the object list ({len(objects)} objects)\n{trace}")


def meter_utc_offset(session: MeterSession) -> datetime.timedelta:
    """Local time minus UTC from the Clock's time_zone (Blue Book 4.5.1: deviation = UTC - local, in
    minutes); used only for date-times whose deviation is "not specified"."""
    deviation = session.read(GXDLMSClock(CLOCK), 3)
    if deviation is None or not -720 <= deviation <= 720:
        return datetime.timedelta(0)
    return datetime.timedelta(minutes=-deviation)


POWER_UNITS = {1: Unit.WATT, 2: Unit.WATT, 3: Unit.VAR, 4: Unit.VAR, 9: Unit.VOLT_AMPERE, 10: Unit.VOLT_AMPERE}
ENERGY_UNIT_BY_C = {
    1: Unit.WATT_HOUR,
    2: Unit.WATT_HOUR,
    **{c: Unit.VAR_HOUR for c in range(3, 9)},
    9: Unit.VOLT_AMPERE_HOUR,
    10: Unit.VOLT_AMPERE_HOUR,
}


def register_problem(ln: str, value: Any, unit: int) -> str | None:
    """Why a scaled register value is implausible for its OBIS code, or None.

    Value group C (IEC 62056-6-1 / Blue Book 7.5): 32/52/72 voltage L1..L3, 31/51/71 current,
    14 frequency, 13/33/53/73 power factor, 1..10 power and energy quantities; D = 7 instantaneous
    value, D = 8 time integral 1 (cumulative energy).
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return f"{ln}: value {value!r} is not a finite number"
    parts = [int(part) for part in ln.split(".")]
    group_a, group_c, group_d = parts[0], parts[2], parts[3]
    if group_a != 1:
        return None
    if group_c in (32, 52, 72) and group_d == 7:
        if unit != Unit.VOLT or not (50 <= value <= 80 or 200 <= value <= 260):
            return f"{ln}: voltage {value} unit {unit}; expected V in 50..80 or 200..260"
    elif group_c in (31, 51, 71) and group_d == 7:
        if unit != Unit.AMPERE or not 0 <= value <= 100:
            return f"{ln}: current {value} unit {unit}; expected A in 0..100"
    elif group_c == 14 and group_d == 7:
        if unit != Unit.HERTZ or not 49.5 <= value <= 50.5:
            return f"{ln}: frequency {value} unit {unit}; expected Hz in 49.5..50.5"
    elif group_c in (13, 33, 53, 73) and group_d == 7:
        if abs(value) > 1:
            return f"{ln}: power factor {value}; expected |pf| <= 1"
    elif group_c in POWER_UNITS and group_d == 7:
        if unit != POWER_UNITS[group_c]:
            return f"{ln}: power unit {unit}; expected {POWER_UNITS[group_c]!r}"
    elif group_c in ENERGY_UNIT_BY_C and group_d == 8:
        if unit != ENERGY_UNIT_BY_C[group_c] or value < 0:
            return f"{ln}: cumulative energy {value} unit {unit}; expected >= 0 {ENERGY_UNIT_BY_C[group_c]!r}"
    return None


def close_enough(first: float, second: float, scaler: float) -> bool:
    """Values read a moment apart: within 10 % or two scaler steps."""
    return abs(first - second) <= max(0.1 * max(abs(first), abs(second)), 2 * scaler)


def check_load_rows(rows: Sequence[Sequence[Any]], offset: datetime.timedelta, trace: str) -> list[datetime.datetime]:
    """Timestamps of profile rows: strictly increasing, one interval apart, on the interval grid."""
    stamps = []
    for row in rows:
        assert isinstance(row[0], GXDateTime), f"first column {row[0]!r} is not a date-time\n{trace}"
        local = row[0].value
        assert local.minute % LOAD_PROFILE_INTERVAL_MINUTES == 0 and local.second == 0 and local.microsecond == 0, (
            f"row time {local} is off the {LOAD_PROFILE_INTERVAL_MINUTES}-minute grid\n{trace}"
        )
        stamps.append(to_utc(row[0], offset))
    steps = {later - earlier for earlier, later in zip(stamps, stamps[1:])}
    assert steps <= {INTERVAL}, f"row steps {sorted(steps)[:5]} (expected only {INTERVAL})\n{trace}"
    return stamps


def read_registers(session: MeterSession, registers: Sequence[GXDLMSRegister]) -> None:
    """scaler_unit (attr 3) of each register, so gurux scales its values from then on."""
    for register in registers:
        session.read(register, 3)


# =========================================================================== 1, 2: association


@pytest.mark.parametrize(
    ("client_sap", "password"), [(PUBLIC_CLIENT, None), (READER_CLIENT, READER_PASSWORD)], ids=["public", "lls"]
)
def test_associate_and_release(lab: Lab, client_sap: int, password: str | None) -> None:
    """AARQ -> AARE accepted (Green Book 9.3.2), services the suite needs are granted, RLRQ -> RLRE."""
    session = MeterSession(lab.ports[0], client_sap, password)
    try:
        session.associate()
        aare = session.last_response_apdu
        assert aare[0] == 0x61 and bytes.fromhex("A203020100") in aare, session.trace_text()
        granted = gurux_conformance_to_standard(session.client.negotiatedConformance)
        needed = (
            Conformance.GET
            | Conformance.SELECTIVE_ACCESS
            | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
            | Conformance.MULTIPLE_REFERENCES
        )
        assert granted & needed == needed, f"granted {granted!r}\n{session.trace_text()}"
        assert session.client.maxReceivePDUSize >= 256, session.trace_text()
        reply = session.release()
        assert reply.command == Command.RELEASE_RESPONSE, session.trace_text()
        request = session.trace[-2][1][8:]
        assert request == bytes.fromhex("6203800100"), session.trace_text()
        rlre = session.last_response_apdu
        assert rlre[0] == 0x63 and rlre[1] == len(rlre) - 2, session.trace_text()
        reason_normal = len(rlre) == 2 or rlre[2] != 0x80 or rlre[2:5] == bytes.fromhex("800100")
        assert reason_normal, f"release-response-reason is not normal\n{session.trace_text()}"
    finally:
        session.close()


def test_wrong_lls_password_is_rejected(lab: Lab) -> None:
    """A wrong LLS secret: AARE rejected-permanent, acse-service-user authentication-failure (13)."""
    session = MeterSession(lab.ports[0], READER_CLIENT, "ABCD0002")
    try:
        with pytest.raises(GXDLMSException) as raised:
            session.associate()
        aare = session.last_response_apdu
    finally:
        session.close()
    assert raised.value.result == AssociationResult.PERMANENT_REJECTED, session.trace_text()
    assert raised.value.diagnostic == SourceDiagnostic.AUTHENTICATION_FAILURE, session.trace_text()
    assert bytes.fromhex("A203020101") in aare and bytes.fromhex("A305A10302010D") in aare, session.trace_text()


# =========================================================================== 3: object list


def _writable(mode: int, association_version: int) -> bool:
    """Attribute access_mode allows writing (Blue Book 4.4.4: enum for versions 0..2, bits from 3)."""
    if association_version >= 3:
        return bool(mode & 2)
    return mode in (2, 3, 5, 6)


@pytest.mark.parametrize(
    ("client_sap", "password"), [(PUBLIC_CLIENT, None), (READER_CLIENT, READER_PASSWORD)], ids=["public", "lls"]
)
def test_object_list(lab: Lab, client_sap: int, password: str | None) -> None:
    """object_list parses into gurux objects of the expected classes; every entry has access rights
    naming real attributes; the public (read) association grants no write, the reader some."""
    with MeterSession(lab.ports[0], client_sap, password) as session:
        raw, objects = session.read_object_list()
        trace = session.trace_text()
    assert len(objects) == len(raw), f"gurux knows {len(objects)} of {len(raw)} listed objects\n{trace}"
    by_ln = {obj.logicalName: obj for obj in objects}
    assert len(by_ln) == len(objects), "duplicate logical names in object_list"
    for ln, class_id in REQUIRED_OBJECTS.items():
        assert ln in by_ln, f"{ln} missing from object_list"
        assert by_ln[ln].objectType == class_id, f"{ln} is class {by_ln[ln].objectType}, expected {class_id}"
    for obj in objects:
        expected_class = GURUX_CLASSES.get(int(obj.objectType))
        if expected_class is not None:
            assert type(obj) is expected_class, f"{obj.logicalName}: {type(obj).__name__}"
    association_version = next(int(entry[1]) for entry in raw if bytes(entry[2]) == bytes([0, 0, 40, 0, 0, 255]))
    writable = []
    for entry, obj in zip(raw, objects):
        class_id, _version, _ln, access = entry
        attribute_access, _method_access = access
        ids = [int(item[0]) for item in attribute_access]
        assert ids, f"{obj.logicalName}: no attribute access rights"
        assert len(set(ids)) == len(ids) and all(1 <= i <= obj.getAttributeCount() for i in ids), (
            f"{obj.logicalName} (class {class_id}): attribute ids {ids}"
        )
        assert 1 in ids, f"{obj.logicalName}: no access right for logical_name"
        writable += [
            (obj.logicalName, int(item[0])) for item in attribute_access if _writable(int(item[1]), association_version)
        ]
    if client_sap == PUBLIC_CLIENT:
        assert writable == [], f"the read-only association may write {writable[:10]}"
    else:
        assert writable, "the read-write association may write nothing"


# =========================================================================== 4, 5: instantaneous values


def test_clock_and_instantaneous_registers(lab: Lab) -> None:
    """Clock attr 2 within seconds of now, its deviation agreeing with time_zone (attr 3) and its
    status neither invalid nor doubtful (Blue Book 4.5.1, Green Book 9.5 date-time); every Register
    captured by the instantaneous profile has scaler_unit and a plausible scaled value (4.3.2)."""
    with MeterSession(lab.ports[1]) as session:
        objects = session.read_objects()
        offset = meter_utc_offset(session)
        clock = find(objects, CLOCK, session.trace_text())
        meter_time = session.read(clock, 2)
        now = datetime.datetime.now(datetime.timezone.utc)
        assert isinstance(meter_time, GXDateTime), session.trace_text()
        assert abs(to_utc(meter_time, offset) - now) <= CLOCK_TOLERANCE, f"meter {meter_time.value}, now {now}"
        encoded = bytes(session.read_raw(clock, 2))
        time_zone = session.read_raw(clock, 3)
        deviation = int.from_bytes(encoded[9:11], "big", signed=True)
        daylight_saving = bool(encoded[11] & 0x80)
        assert daylight_saving or deviation in (time_zone, -0x8000), f"deviation {deviation}, time_zone {time_zone}"
        assert encoded[11] & 0x03 == 0, f"clock status {encoded[11]:#04x} marks the time invalid or doubtful"
        profile = find(objects, INSTANTANEOUS_PROFILE)
        session.read(profile, 3)
        registers = [obj for obj, _ in profile.captureObjects if isinstance(obj, GXDLMSRegister)]
        assert set(INSTANTANEOUS_REGISTERS) <= {r.logicalName for r in registers}, (
            f"captured: {[obj.logicalName for obj, _ in profile.captureObjects]}"
        )
        problems = []
        for register in registers:
            session.read(register, 3)
            value = session.read(register, 2)
            problem = register_problem(register.logicalName, value, int(register.unit))
            if problem:
                problems.append(f"{problem}\n{session.trace_text()}")
        assert problems == [], "\n".join(problems)


def test_instantaneous_profile_agrees_with_registers(lab: Lab) -> None:
    """Instantaneous profile: capture_objects, then a one-row buffer agreeing with the individual
    reads; its scaler profile lists the same scaler_unit values (IS 15959 scaler profile)."""
    with MeterSession(lab.ports[1]) as session:
        objects = session.read_objects()
        offset = meter_utc_offset(session)
        profile = find(objects, INSTANTANEOUS_PROFILE)
        session.read(profile, 3)
        columns = list(profile.captureObjects)
        registers = [obj for obj, _ in columns if isinstance(obj, GXDLMSRegister)]
        read_registers(session, registers)
        singles = {r.logicalName: session.read(r, 2) for r in registers}
        session.read(profile, 2)
        rows = list(profile.buffer)
        trace = session.trace_text()
        now = datetime.datetime.now(datetime.timezone.utc)
        scaler_profile = find(objects, INSTANTANEOUS_SCALER_PROFILE)
        session.read(scaler_profile, 3)
        session.read(scaler_profile, 2)
        scaler_rows = list(scaler_profile.buffer)
        scaler_columns = list(scaler_profile.captureObjects)
        scaler_units = {r.logicalName: session.read_raw(r, 3) for r in registers}
        scaler_trace = session.trace_text()
    assert len(rows) == 1, f"{len(rows)} rows\n{trace}"
    assert len(rows[0]) == len(columns), trace
    for (obj, attribute), value in zip(columns, rows[0]):
        if isinstance(obj, GXDLMSClock) and attribute.attributeIndex == 2:
            assert abs(to_utc(value, offset) - now) <= CLOCK_TOLERANCE, f"row clock {value}\n{trace}"
        elif isinstance(obj, GXDLMSRegister) and attribute.attributeIndex == 2:
            single = singles[obj.logicalName]
            assert close_enough(value, single, obj.scaler), f"{obj.logicalName}: row {value}, read {single}\n{trace}"
    assert len(scaler_rows) == 1, f"{len(scaler_rows)} scaler rows\n{scaler_trace}"
    listed = {}
    for (obj, attribute), value in zip(scaler_columns, scaler_rows[0]):
        if attribute.attributeIndex == 3:
            listed[obj.logicalName] = list(value)
    for ln, scaler_unit in scaler_units.items():
        assert listed.get(ln) == list(scaler_unit), f"{ln}: scaler profile {listed.get(ln)}, attr 3 {scaler_unit}"


# =========================================================================== 6: load profile


def test_block_load_profile_35_days_with_small_pdu(lab: Lab) -> None:
    """35 days of 5-minute rows with max PDU 256: many GET datablocks, none above 256 bytes; rows on
    the grid, spanning 35 days, ending at the last completed interval; energies >= 0."""
    with MeterSession(lab.ports[2], max_pdu=256) as session:
        profile = find(session.read_objects(), BLOCK_LOAD_PROFILE)
        offset = meter_utc_offset(session)
        session.read(profile, 3)
        assert session.read(profile, 4) == LOAD_PROFILE_INTERVAL_MINUTES * 60, session.trace_text()
        registers = [obj for obj, _ in profile.captureObjects if isinstance(obj, GXDLMSRegister)]
        read_registers(session, registers)
        received_before = len(session.apdu_sizes)
        session.read(profile, 2)
        now = datetime.datetime.now(datetime.timezone.utc)
        rows = list(profile.buffer)
        blocks = len(session.apdu_sizes) - received_before
        largest = max(session.apdu_sizes)
        trace = session.trace_text()
        entries = session.read(profile, 7)
        tail = session.read_rows_by_entry(profile, entries - 2, 3)
        tail_trace = session.trace_text()
    assert largest <= 256, f"an APDU of {largest} bytes exceeds the client's max PDU 256\n{trace}"
    assert blocks >= 100, f"only {blocks} blocks for {len(rows)} rows\n{trace}"
    per_day = 24 * 60 // LOAD_PROFILE_INTERVAL_MINUTES
    assert (LOAD_PROFILE_DAYS - 1) * per_day <= len(rows) <= LOAD_PROFILE_DAYS * per_day + 1, f"{len(rows)} rows"
    assert abs(entries - len(rows)) <= 1, f"entries_in_use {entries}, rows read {len(rows)}"
    stamps = check_load_rows(rows, offset, trace)
    assert -CLOCK_TOLERANCE <= now - stamps[-1] <= datetime.timedelta(minutes=10), f"last row {stamps[-1]}, now {now}"
    span = stamps[-1] - stamps[0]
    assert datetime.timedelta(days=LOAD_PROFILE_DAYS - 1) <= span <= datetime.timedelta(days=LOAD_PROFILE_DAYS), span
    energy_columns = [
        index
        for index, (obj, attribute) in enumerate(profile.captureObjects)
        if isinstance(obj, GXDLMSRegister) and attribute.attributeIndex == 2 and int(obj.unit) in ENERGY_UNITS
    ]
    assert energy_columns, f"no energy column in {[o.logicalName for o, _ in profile.captureObjects]}"
    negative = [(stamps[i], row[c]) for i, row in enumerate(rows) for c in energy_columns if row[c] < 0]
    assert negative == [], f"negative energies {negative[:5]}"
    assert len(tail) == 3, f"{len(tail)} rows by entry\n{tail_trace}"
    by_time = {stamp: row for stamp, row in zip(stamps, rows)}
    for row in tail:
        stamp = to_utc(row[0], offset)
        if stamp in by_time:
            assert row[1:] == by_time[stamp][1:], f"{stamp}: by entry {row}, whole {by_time[stamp]}\n{tail_trace}"
        else:
            assert stamp > stamps[-1], f"{stamp} by entry is not in the whole buffer\n{tail_trace}"


def test_daily_load_profile(lab: Lab) -> None:
    """Daily profile: rows at local midnight one day apart up to today's, cumulative energies never
    decreasing and not above the registers' present values."""
    with MeterSession(lab.ports[2]) as session:
        objects = session.read_objects()
        offset = meter_utc_offset(session)
        profile = find(objects, DAILY_LOAD_PROFILE)
        session.read(profile, 3)
        assert session.read(profile, 4) == 24 * 3600, session.trace_text()
        registers = [obj for obj, _ in profile.captureObjects if isinstance(obj, GXDLMSRegister)]
        read_registers(session, registers)
        session.read(profile, 2)
        rows = list(profile.buffer)
        trace = session.trace_text()
        present = {register.logicalName: session.read(register, 2) for register in registers}
        now = datetime.datetime.now(datetime.timezone.utc)
    assert len(rows) >= 2, f"{len(rows)} daily rows\n{trace}"
    for row in rows:
        local = row[0].value
        assert (local.hour, local.minute, local.second) == (0, 0, 0), f"daily row at {local}\n{trace}"
    stamps = [to_utc(row[0], offset) for row in rows]
    steps = {later - earlier for earlier, later in zip(stamps, stamps[1:])}
    assert steps == {datetime.timedelta(days=1)}, f"daily steps {sorted(steps)}"
    assert datetime.timedelta(0) <= now - stamps[-1] < datetime.timedelta(days=1), f"last row {stamps[-1]}, now {now}"
    for index, (obj, attribute) in enumerate(profile.captureObjects):
        if not (isinstance(obj, GXDLMSRegister) and attribute.attributeIndex == 2 and int(obj.unit) in ENERGY_UNITS):
            continue
        column = [row[index] for row in rows]
        assert all(0 <= a <= b for a, b in zip(column, column[1:])), f"{obj.logicalName} decreases: {column}"
        latest = present[obj.logicalName]
        assert column[-1] <= latest, f"{obj.logicalName}: midnight {column[-1]} > present {latest}"


# =========================================================================== 7, 8: with-list, errors


def test_get_with_list_matches_single_reads(lab: Lab) -> None:
    """GET-Request-With-List of 10 attributes (Green Book 9.4.6.2): static values equal the single
    reads; changing ones plausible."""
    with MeterSession(lab.ports[3], READER_CLIENT, READER_PASSWORD) as session:
        objects = session.read_objects()
        offset = meter_utc_offset(session)
        serial = find(objects, SERIAL_NUMBER)
        clock = find(objects, CLOCK)
        volts = find(objects, "1.0.32.7.0.255")
        hertz = find(objects, "1.0.14.7.0.255")
        energy = find(objects, "1.0.1.8.0.255")
        static = [(serial, 2), (serial, 1), (clock, 1), (volts, 1), (volts, 3), (hertz, 3), (energy, 3)]
        changing = [(clock, 2), (volts, 2), (hertz, 2)]
        items = static + changing
        singles = [session.read_raw(obj, attribute) for obj, attribute in static]
        listed = session.read_list(items)
        trace = session.trace_text()
        now = datetime.datetime.now(datetime.timezone.utc)
    assert len(listed) == len(items) == 10, trace
    for (obj, attribute), single, value in zip(static, singles, listed):
        assert value == single, f"{obj.logicalName} attr {attribute}: list {value!r}, single {single!r}\n{trace}"
    assert bytes(listed[0]) == lab.serial(3).encode(), f"serial {listed[0]!r}"
    moment = GXDLMSClient.changeType(listed[7], GuruxDataType.DATETIME)
    assert abs(to_utc(moment, offset) - now) <= CLOCK_TOLERANCE, f"clock {moment}\n{trace}"
    volt_scale = 10 ** singles[4][0]
    hertz_scale = 10 ** singles[5][0]
    assert register_problem(volts.logicalName, listed[8] * volt_scale, singles[4][1]) is None, trace
    assert register_problem(hertz.logicalName, listed[9] * hertz_scale, singles[5][1]) is None, trace


def test_undefined_object_gives_object_undefined(lab: Lab) -> None:
    """GET of an OBIS code not in object_list: data-access-result object-undefined (4), alone
    (GET-Response-Normal) and beside a good attribute in a with-list (Green Book 9.4.6.2: one
    Get-Data-Result per item); the association stays usable."""
    with MeterSession(lab.ports[3]) as session:
        objects = session.read_objects()
        missing = (GXDLMSData("0.0.96.99.99.255"), GXDLMSRegister("1.0.99.99.0.255"))
        listed = {obj.logicalName for obj in objects}
        assert not listed & {obj.logicalName for obj in missing}
        for obj in missing:
            with pytest.raises(GXDLMSException) as raised:
                session.read_raw(obj, 2)
            assert raised.value.errorCode == ErrorCode.UNDEFINED_OBJECT, session.trace_text()
            answer = session.last_response_apdu
            assert answer[:2] == bytes.fromhex("C401") and answer[3:] == bytes.fromhex("0104"), session.trace_text()
        serial = find(objects, SERIAL_NUMBER)
        with pytest.raises(GXDLMSException) as raised:
            session.read_list([(serial, 2), (missing[0], 2)])
        assert raised.value.errorCode == ErrorCode.UNDEFINED_OBJECT, session.trace_text()
        answer = session.last_response_apdu
        number = lab.serial(3).encode()
        results = b"\x02\x00\x09" + bytes([len(number)]) + number + b"\x01\x04"
        assert answer[:2] == bytes.fromhex("C403") and answer[3:] == results, session.trace_text()
        assert bytes(session.read_raw(serial, 2)) == number, session.trace_text()
        assert isinstance(session.read(find(objects, CLOCK), 2), GXDateTime), session.trace_text()


# =========================================================================== 9: concurrency


def _client_run(lab: Lab, meter: int, index: int) -> None:
    """One client of the concurrency test: associate, read clock, object list, instantaneous profile
    and three hours of the block load profile (by range or by entry), release."""
    client_sap, password = (PUBLIC_CLIENT, None) if index % 2 == 0 else (READER_CLIENT, READER_PASSWORD)
    with MeterSession(lab.ports[meter], client_sap, password, timeout=30) as session:
        objects = session.read_objects()
        for ln in REQUIRED_OBJECTS:
            find(objects, ln)
        serial = bytes(session.read_raw(find(objects, SERIAL_NUMBER), 2))
        assert serial == lab.serial(meter).encode(), f"serial {serial!r}\n{session.trace_text()}"
        offset = meter_utc_offset(session)
        meter_time = session.read(find(objects, CLOCK), 2)
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs(to_utc(meter_time, offset) - now) <= CLOCK_TOLERANCE, f"clock {meter_time}\n{session.trace_text()}"
        instantaneous = find(objects, INSTANTANEOUS_PROFILE)
        session.read(instantaneous, 3)
        session.read(instantaneous, 2)
        assert len(instantaneous.buffer) == 1, session.trace_text()
        assert len(instantaneous.buffer[0]) == len(instantaneous.captureObjects), session.trace_text()
        profile = find(objects, BLOCK_LOAD_PROFILE)
        session.read(profile, 3)
        row_count = 3 * 60 // LOAD_PROFILE_INTERVAL_MINUTES + 1
        if index % 2 == 0:
            local_now = meter_time.value
            if local_now.tzinfo is None:
                local_now = local_now.replace(tzinfo=datetime.timezone(offset))
            end = (
                local_now.replace(
                    minute=local_now.minute - local_now.minute % LOAD_PROFILE_INTERVAL_MINUTES, second=0, microsecond=0
                )
                - 2 * INTERVAL
            )
            start = end - 3 * datetime.timedelta(hours=1)
            rows = session.read_rows_by_range(profile, start, end)
            assert len(rows) == row_count, f"{len(rows)} rows in {start}..{end}\n{session.trace_text()}"
            stamps = check_load_rows(rows, offset, session.trace_text())
            assert stamps[0] == to_utc(start, offset) and stamps[-1] == to_utc(end, offset), session.trace_text()
        else:
            entries = session.read(profile, 7)
            rows = session.read_rows_by_entry(profile, entries - row_count + 1, row_count)
            assert len(rows) == row_count, f"{len(rows)} rows by entry\n{session.trace_text()}"
            stamps = check_load_rows(rows, offset, session.trace_text())
            assert now - stamps[-1] <= datetime.timedelta(minutes=10), session.trace_text()


def test_five_meters_ten_clients_each(lab: Lab) -> None:
    """5 meters x 10 concurrent clients, each its own socket and GXDLMSClient; all reads correct."""
    failures: list[str] = []
    start = threading.Barrier(METER_COUNT * 10)

    def run(meter: int, index: int) -> None:
        try:
            start.wait(timeout=30)
            _client_run(lab, meter, index)
        except BaseException as error:
            notes = "\n".join(getattr(error, "__notes__", []))
            failures.append(f"meter {meter} client {index}: {error!r}\n{notes}")

    threads = [
        threading.Thread(target=run, args=(meter, index), daemon=True)
        for meter in range(METER_COUNT)
        for index in range(10)
    ]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, 90 - (time.monotonic() - begun)))
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0 and failures == [], f"{stuck} clients still running after 90 s\n" + "\n\n".join(failures[:5])


# =========================================================================== 10: max_clients


def _refused(port: int) -> str | None:
    """None if a new connection to ``port`` is refused or closed without an AARE, else what happened."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionRefusedError:
        return None
    with sock:
        aarq = bytes(make_client(PUBLIC_CLIENT).aarqRequest()[0])
        try:
            sock.sendall(aarq)
            answer = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return None
        except TimeoutError:
            return "connection beyond max_clients stayed open without answering for 5 s"
    if answer:
        return f"connection beyond max_clients was served: sent {aarq.hex().upper()}, got {answer.hex().upper()}"
    return None


def test_connections_beyond_max_clients_are_closed(lab: Lab) -> None:
    """With max_clients (12) associations open, one more connection is refused or closed; the 12
    keep working, and a place freed by a release is available again."""
    port = lab.ports[4]
    sessions = [MeterSession(port, PUBLIC_CLIENT) for _ in range(MAX_CLIENTS)]
    try:
        for session in sessions:
            session.associate()
        outcome = _refused(port)
        assert outcome is None, outcome
        for session in sessions:
            assert isinstance(session.read(GXDLMSClock(CLOCK), 2), GXDateTime), session.trace_text()
        sessions[0].release()
        sessions[0].close()
        deadline = time.monotonic() + 5
        while True:
            again = MeterSession(port, PUBLIC_CLIENT)
            try:
                again.associate()
                break
            except (ConnectionError, TimeoutError) as error:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no connection accepted after a place was freed: {error!r}") from error
                time.sleep(0.2)
            finally:
                sessions.append(again)
        assert isinstance(again.read(GXDLMSClock(CLOCK), 2), GXDateTime), again.trace_text()
    finally:
        for session in sessions:
            session.close()

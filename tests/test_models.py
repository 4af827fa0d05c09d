"""The object models (is15959-abt, is15959-household, dlms-generic) and the interface classes they
add, served in-process: every attribute reads, the Blue Book's class definitions, billing and
maximum demand against a brute-force computation, event logs against the simulator's outages and
curves, SET with type checks, and the ACTION methods (disconnect control, script table, demand
register, clock, activity calendar, IPv4 setup)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from dlmstw.codec.axdr import CosemDateTime, datetime_bytes_from_timestamp
from dlmstw.cosem.classes.script_table import EXECUTE_METHOD, script
from dlmstw.enums import ActionResult, DataAccessResult, DataType
from dlmstw.models.common import DEMAND_PERIOD, billing_start, month_start
from dlmstw.plugins.registry import load_registry
from interop_support import LocalMeter

NOW = 1_767_268_800.0 + 123.4  # 2026-01-01T12:02:03.4Z
MODELS = ("is15959-abt", "is15959-household", "dlms-generic")
DISCONNECT = "0.0.96.3.10.255"
LIMITER = "0.0.17.0.0.255"
GENERIC_LOG = "0.0.99.98.0.255"
CONTROL_LOG = {"is15959-household": "0.0.99.98.6.255", "dlms-generic": "0.0.99.98.2.255"}
DISCONNECT_CODES = {"is15959-household": (301, 302), "dlms-generic": (62, 63)}


def lab(model: str, days: int = 35, seed: int = 3, anomalies: str = "") -> str:
    return f"""
[meters:m]
model = {model}
port = 4100
interface = 127.0.0.1
max_clients = 7
inactivity_timeout = 90
load_profile_interval = 15
load_profile_days = {days}
seed = {seed}
anomalies = {anomalies}

[association:admin]
client_sap = 48
authentication = lls
lls_password = ADMIN001
access = full
"""


def rows(meter: LocalMeter, ln: str) -> list[list[Any]]:
    value = meter.get(ln, 7, 2)
    assert not isinstance(value, DataAccessResult), value
    return [[cell[1] for cell in row[1]] for row in value[1]]


def stamp(cell: bytes) -> float:
    return CosemDateTime.from_bytes(cell).to_datetime().timestamp()


def zero() -> tuple[DataType, int]:
    return (DataType.INTEGER, 0)


# =========================================================================== object lists


REQUIRED: dict[str, dict[str, int]] = {
    "is15959-abt": {
        "0.0.1.0.0.255": 8, "0.0.96.1.0.255": 1, "0.0.94.91.10.255": 7, "1.0.94.91.0.255": 7,
        "1.0.94.91.3.255": 7, "1.0.99.1.0.255": 7, "1.0.94.91.4.255": 7, "1.0.99.2.0.255": 7, "1.0.94.91.5.255": 7,
        "1.0.98.1.0.255": 7, "1.0.94.91.6.255": 7, "1.0.94.91.7.255": 7, "0.0.0.1.2.255": 1, "0.0.0.1.0.255": 1,
        "1.0.1.6.0.255": 4, "1.0.9.6.0.255": 4, "1.0.1.4.0.255": 5, "1.0.13.0.0.255": 3, "0.0.94.91.13.255": 3,
        **{f"0.0.99.98.{e}.255": 7 for e in range(7)}, **{f"0.0.96.11.{e}.255": 1 for e in range(7)},
    },
    "is15959-household": {
        "0.0.96.3.10.255": 70, "0.0.10.0.106.255": 9, "0.0.17.0.0.255": 71, "0.0.13.0.0.255": 20,
        "0.0.10.0.100.255": 9, "0.0.15.0.0.255": 22, "0.0.10.0.1.255": 9, "0.0.25.9.0.255": 40,
        "0.0.25.0.0.255": 41, "0.0.25.1.0.255": 42, "0.0.94.91.0.255": 1, "0.0.96.2.0.255": 1,
        "1.0.98.1.0.255": 7, **{f"0.0.99.98.{e}.255": 7 for e in range(7)},
    },
    "dlms-generic": {
        "0.0.1.0.0.255": 8, "0.0.96.1.0.255": 1, "1.0.0.2.0.255": 1, "0.0.21.0.0.255": 7, "1.0.99.1.0.255": 7,
        "1.0.99.2.0.255": 7, "0.0.96.10.1.255": 1, "0.0.96.10.2.255": 1, "1.0.98.1.0.255": 7,
        "0.0.99.98.0.255": 7, "0.0.96.11.0.255": 1, "0.0.99.98.2.255": 7, "0.0.96.11.2.255": 1,
        "1.0.1.8.0.255": 3, "1.0.1.4.0.255": 5, "1.0.1.6.0.255": 4, "0.0.96.3.10.255": 70, "0.0.10.0.106.255": 9,
        "0.0.17.0.0.255": 71, "0.0.13.0.0.255": 20, "0.0.16.1.0.255": 21, "0.0.15.0.0.255": 22,
        "0.0.10.0.1.255": 9, "0.0.25.9.0.255": 40, "0.0.25.0.0.255": 41, "0.0.25.1.0.255": 42,
    },
}


@pytest.mark.parametrize("model", MODELS)
def test_models_have_their_objects_and_every_attribute_reads(model: str) -> None:
    """The model's OBIS codes and classes, then every attribute of every object: a complete Data
    (Association LN's write-only secret aside)."""
    meter = LocalMeter(lab(model, days=2), now=NOW)
    objects = {".".join(str(b) for b in ln): obj for ln, obj in meter.directory.objects.items()}
    missing = {ln: class_id for ln, class_id in REQUIRED[model].items()
               if ln not in objects or objects[ln].class_id != class_id}
    assert missing == {}
    failures = []
    for ln, obj in meter.directory.objects.items():
        for spec in obj.interface_class.attributes:
            if obj.class_id == 15 and spec.index == 7:
                continue
            value = meter.get(ln, obj.class_id, spec.index)
            if isinstance(value, DataAccessResult):
                failures.append(f"{ln.hex()} {obj.description} {spec.name}: {value.name}")
    assert failures == []


def test_every_register_read_is_plausible_with_its_scaler() -> None:
    """Household: 230 V class voltages, currents under 60 A, 50 Hz, |pf| <= 1, energies above 0."""
    meter = LocalMeter(lab("is15959-household", days=2), now=NOW)
    values = {}
    for ln in ("1.0.32.7.0.255", "1.0.31.7.0.255", "1.0.14.7.0.255", "1.0.13.7.0.255", "1.0.1.8.0.255"):
        scaler = meter.get(ln, 3, 3)[1][0][1]
        values[ln] = meter.get(ln, 3, 2)[1] * 10.0 ** scaler
    assert 200 <= values["1.0.32.7.0.255"] <= 260
    assert 0 <= values["1.0.31.7.0.255"] <= 60
    assert 49.5 <= values["1.0.14.7.0.255"] <= 50.5
    assert abs(values["1.0.13.7.0.255"]) <= 1
    assert values["1.0.1.8.0.255"] > 1000


CLASSES = {
    9: (0, ["scripts"], ["execute"]),
    11: (0, ["entries"], ["insert", "delete"]),
    18: (0, ["image_block_size", "image_transferred_blocks_status", "image_first_not_transferred_block_number",
             "image_transfer_enabled", "image_transfer_status", "image_to_activate_info"],
         ["image_transfer_initiate", "image_block_transfer", "image_verify", "image_activate"]),
    20: (0, ["calendar_name_active", "season_profile_active", "week_profile_table_active",
             "day_profile_table_active", "calendar_name_passive", "season_profile_passive",
             "week_profile_table_passive", "day_profile_table_passive", "activate_passive_calendar_time"],
         ["activate_passive_calendar"]),
    21: (0, ["thresholds", "monitored_value", "actions"], []),
    22: (0, ["executed_script", "type", "execution_time"], []),
    40: (0, ["push_object_list", "send_destination_and_method", "communication_window",
             "randomisation_start_interval", "number_of_retries", "repetition_delay"], ["push"]),
    41: (0, ["tcp_udp_port", "ip_reference", "mss", "nb_of_sim_conn", "inactivity_time_out"], []),
    42: (0, ["dl_reference", "ip_address", "multicast_ip_address", "ip_options", "subnet_mask",
             "gateway_ip_address", "use_dhcp_flag", "primary_dns_address", "secondary_dns_address"],
         ["add_mc_ip_address", "delete_mc_ip_address", "get_nbof_mc_ip_addresses"]),
    70: (0, ["output_state", "control_state", "control_mode"], ["remote_disconnect", "remote_reconnect"]),
    71: (0, ["monitored_value", "threshold_active", "threshold_normal", "threshold_emergency",
             "min_over_threshold_duration", "min_under_threshold_duration", "emergency_profile",
             "emergency_profile_group_id_list", "emergency_profile_active", "actions"], []),
}


@pytest.mark.parametrize("class_id", sorted(CLASSES))
def test_interface_classes_are_the_blue_books(class_id: int) -> None:
    """class_id, version, attributes 1..n in order after logical_name, methods 1..m (Blue Book
    4.4.8, 4.5.2, 4.5.5-4.5.9, 4.9.1-4.9.2)."""
    plugin = load_registry().classes[class_id]
    version, attributes, methods = CLASSES[class_id]
    assert plugin.version == version
    assert [(a.index, a.name) for a in plugin.attributes] == list(enumerate(["logical_name", *attributes], 1))
    assert [(m.index, m.name) for m in plugin.methods] == list(enumerate(methods, 1))


# =========================================================================== billing


def brute_force_maximum_demand(meter: LocalMeter, start: float, end: float) -> tuple[float, float]:
    """Largest average active import power (W) over the demand periods ending in (start, end]."""
    best, at = 0.0, start
    simulator = meter.runtime.simulator
    t = start + DEMAND_PERIOD
    while t <= end:
        demand = (simulator.cumulative(t).active_energy_import
                  - simulator.cumulative(t - DEMAND_PERIOD).active_energy_import) * 3600 / DEMAND_PERIOD
        if demand > best:
            best, at = demand, t
        t += DEMAND_PERIOD
    return best, at


def test_billing_profile_holds_monthly_values_and_maximum_demand() -> None:
    """is15959-abt: 12 rows at local (IST) month starts, each with its billing date, cumulative
    energies that never decrease, and the month's maximum demand (scaler -1) and its time equal to a
    brute-force scan of the month's 15-minute periods."""
    meter = LocalMeter(lab("is15959-abt"), now=NOW)
    billing = rows(meter, "1.0.98.1.0.255")
    assert len(billing) == 12
    boundaries = [stamp(row[0]) for row in billing]
    local = [time.gmtime(t + 19800) for t in boundaries]
    assert all((tm.tm_mday, tm.tm_hour, tm.tm_min) == (1, 0, 0) for tm in local)
    assert (local[-1].tm_year, local[-1].tm_mon) == (2026, 1)
    assert (local[0].tm_year, local[0].tm_mon) == (2025, 2)
    for column in (2, 3, 4, 5):
        energies = [row[column] for row in billing]
        assert all(0 < a <= b for a, b in zip(energies, energies[1:]))
    for row in (billing[0], billing[-1]):
        end = stamp(row[0])
        start = billing_start(meter.runtime, end)
        assert month_start(meter.runtime, end) == end and start < end
        best, at = brute_force_maximum_demand(meter, start, end)
        assert row[6] == math.floor(best * 10 + 0.5)
        assert stamp(row[7]) == at
        assert 0 < row[1] <= 1000
        assert 0 < row[10] <= (end - start) / 60
    present = meter.get("1.0.1.6.0.255", 4, 2)[1]
    best, _ = brute_force_maximum_demand(meter, month_start(meter.runtime, NOW), NOW - NOW % 900)
    assert present == math.floor(best * 10 + 0.5)


# =========================================================================== event logs


def test_power_failure_log_holds_the_simulators_outages() -> None:
    """Each 101 (failure) is where the failure count steps up, each 102 (restoration) ends an
    interval in which the power-on minutes stood still."""
    meter = LocalMeter(lab("is15959-abt"), now=NOW)
    events = rows(meter, "0.0.99.98.2.255")
    assert len(events) >= 4
    simulator = meter.runtime.simulator
    for (t_event, code), next_event in zip(events, events[1:] + [None]):
        t = stamp(t_event)
        if code == 101:
            assert simulator.cumulative(t).power_failures == simulator.cumulative(t - 1).power_failures + 1
            assert next_event is not None and next_event[1] == 102
            restored = stamp(next_event[0])
            assert (simulator.cumulative(restored).power_on_minutes
                    - simulator.cumulative(t).power_on_minutes) <= 1
        else:
            assert code == 102
    assert meter.get("0.0.96.11.2.255", 1, 2) == (DataType.LONG_UNSIGNED, events[-1][1])


def test_voltage_events_are_threshold_crossings_of_the_simulated_curve() -> None:
    """Household voltage related events: each event sits i seconds after a 15-minute grid instant
    where condition i differs from one step before, the row's voltage columns are the registers'
    values at that instant, and the event code object holds the last code."""
    meter = LocalMeter(lab("is15959-household"), now=NOW)
    events = rows(meter, "0.0.99.98.0.255")
    assert len(events) > 10
    simulator = meter.runtime.simulator
    nominal = simulator.rated.voltage
    tests = {7: lambda v: max(v) > 1.015 * nominal, 9: lambda v: min(v) < 0.965 * nominal,
             11: lambda v: (max(v) - min(v)) * 3 > 0.035 * sum(v)}
    for row in events:
        t = stamp(row[0])
        code = row[1]
        occurrence = code if code % 2 else code - 1
        grid = t - (occurrence - 7) // 2
        assert grid % 900 == 0
        before, after = simulator.instantaneous(grid - 900), simulator.instantaneous(grid)
        test = tests[occurrence]
        voltages = lambda values: (values.voltage_l1, values.voltage_l2, values.voltage_l3)  # noqa: E731
        assert test(voltages(before)) != test(voltages(after))
        assert test(voltages(after)) == (code == occurrence)
        at_event = LocalMeter(lab("is15959-household"), now=t)
        assert row[5] == at_event.get("1.0.32.7.0.255", 3, 2)[1]
    assert meter.get("0.0.96.11.0.255", 1, 2) == (DataType.LONG_UNSIGNED, events[-1][1])


# =========================================================================== disconnect control


@pytest.mark.parametrize("model", ["is15959-household", "dlms-generic"])
def test_remote_disconnect_and_reconnect(model: str) -> None:
    """Blue Book 4.5.8, control mode 1: disconnect (b) then reconnect (d), output_state following,
    each change logged with the model's codes; a second disconnect changes nothing."""
    meter = LocalMeter(lab(model, days=2), now=NOW)
    off, on = DISCONNECT_CODES[model]
    assert meter.get(DISCONNECT, 70, 2) == (DataType.BOOLEAN, True)
    assert meter.action(DISCONNECT, 70, 1, zero()) == (ActionResult.SUCCESS, None)
    assert meter.get(DISCONNECT, 70, 2) == (DataType.BOOLEAN, False)
    assert meter.get(DISCONNECT, 70, 3) == (DataType.ENUM, 0)
    meter.now = NOW + 60
    assert meter.action(DISCONNECT, 70, 1, zero()) == (ActionResult.SUCCESS, None)
    meter.now = NOW + 120
    assert meter.action(DISCONNECT, 70, 2, zero()) == (ActionResult.SUCCESS, None)
    assert meter.get(DISCONNECT, 70, 2) == (DataType.BOOLEAN, True)
    assert meter.get(DISCONNECT, 70, 3) == (DataType.ENUM, 1)
    log = rows(meter, CONTROL_LOG[model])
    assert [(round(stamp(row[0]), 2), row[1]) for row in log] == [(round(NOW, 2), off), (round(NOW + 120, 2), on)]


def test_control_modes_decide_the_reconnection() -> None:
    """Mode 2: remote_reconnect leads to ready_for_reconnection (a), output still FALSE; mode 0:
    both methods fail and the unit is connected; bad modes and parameters are refused."""
    meter = LocalMeter(lab("is15959-household", days=2), now=NOW)
    assert meter.set(DISCONNECT, 70, 4, (DataType.ENUM, 2)) == DataAccessResult.SUCCESS
    meter.action(DISCONNECT, 70, 1, zero())
    assert meter.action(DISCONNECT, 70, 2, zero()) == (ActionResult.SUCCESS, None)
    assert meter.get(DISCONNECT, 70, 3) == (DataType.ENUM, 2)
    assert meter.get(DISCONNECT, 70, 2) == (DataType.BOOLEAN, False)
    assert meter.set(DISCONNECT, 70, 4, (DataType.ENUM, 0)) == DataAccessResult.SUCCESS
    assert meter.get(DISCONNECT, 70, 3) == (DataType.ENUM, 1)
    assert meter.action(DISCONNECT, 70, 1, zero()) == (ActionResult.TEMPORARY_FAILURE, None)
    assert meter.set(DISCONNECT, 70, 4, (DataType.ENUM, 7)) == DataAccessResult.OTHER_REASON
    assert meter.set(DISCONNECT, 70, 4, (DataType.UNSIGNED, 1)) == DataAccessResult.TYPE_UNMATCHED
    assert meter.set(DISCONNECT, 70, 3, (DataType.ENUM, 0)) == DataAccessResult.READ_WRITE_DENIED
    assert meter.action(DISCONNECT, 70, 1, (DataType.LONG, 0)) == (ActionResult.TYPE_UNMATCHED, None)


# =========================================================================== script tables


def test_script_table_runs_its_scripts_on_the_meters_objects() -> None:
    """Blue Book 4.5.2: execute(1) of the disconnect script table disconnects, execute(2)
    reconnects; a tariff script writes the active tariff; an unknown script, a bad parameter and
    a script calling its own table are refused."""
    meter = LocalMeter(lab("dlms-generic", days=2), now=NOW)
    scripts = "0.0.10.0.106.255"
    assert meter.action(scripts, 9, 1, (DataType.LONG_UNSIGNED, 1)) == (ActionResult.SUCCESS, None)
    assert meter.get(DISCONNECT, 70, 2) == (DataType.BOOLEAN, False)
    assert meter.action(scripts, 9, 1, (DataType.LONG_UNSIGNED, 2)) == (ActionResult.SUCCESS, None)
    assert meter.get(DISCONNECT, 70, 2) == (DataType.BOOLEAN, True)
    assert meter.action("0.0.10.0.100.255", 9, 1, (DataType.LONG_UNSIGNED, 2)) == (ActionResult.SUCCESS, None)
    assert meter.get("0.0.96.14.0.255", 1, 2) == (DataType.UNSIGNED, 2)
    assert meter.action(scripts, 9, 1, (DataType.LONG_UNSIGNED, 9)) == (ActionResult.OBJECT_UNAVAILABLE, None)
    assert meter.action(scripts, 9, 1, (DataType.UNSIGNED, 1)) == (ActionResult.TYPE_UNMATCHED, None)
    own = bytes((0, 0, 10, 0, 106, 255))
    looping = (DataType.ARRAY, [script(1, (EXECUTE_METHOD, 9, own, 1, (DataType.LONG_UNSIGNED, 1)))])
    assert meter.set(scripts, 9, 2, looping) == DataAccessResult.SUCCESS
    assert meter.get(scripts, 9, 2) == looping
    assert meter.action(scripts, 9, 1, (DataType.LONG_UNSIGNED, 1)) == (ActionResult.TEMPORARY_FAILURE, None)
    missing = (DataType.ARRAY, [script(1, (EXECUTE_METHOD, 70, bytes(6), 1, zero()))])
    meter.set(scripts, 9, 2, missing)
    assert meter.action(scripts, 9, 1, (DataType.LONG_UNSIGNED, 1)) == (ActionResult.OBJECT_UNDEFINED, None)
    assert meter.set(scripts, 9, 2, (DataType.ARRAY, [(DataType.LONG_UNSIGNED, 1)])) == DataAccessResult.TYPE_UNMATCHED


# =========================================================================== SET of settings


def test_limiter_thresholds_and_emergency_profile() -> None:
    """threshold_normal keeps the monitored value's type; an emergency profile whose id is in the
    group list is active from its activation time for its duration, and threshold_active is then
    the emergency threshold; each threshold change is logged (IS 15959 event 158)."""
    meter = LocalMeter(lab("is15959-household", days=2), now=NOW)
    assert meter.get(LIMITER, 71, 3) == (DataType.DOUBLE_LONG, 5000)
    assert meter.set(LIMITER, 71, 4, (DataType.DOUBLE_LONG, 4000)) == DataAccessResult.SUCCESS
    assert meter.set(LIMITER, 71, 4, (DataType.LONG_UNSIGNED, 4000)) == DataAccessResult.TYPE_UNMATCHED
    assert meter.get(LIMITER, 71, 4) == (DataType.DOUBLE_LONG, 4000)
    assert meter.get(LIMITER, 71, 3) == (DataType.DOUBLE_LONG, 4000)
    activation = datetime_bytes_from_timestamp(NOW - 60, -330, 0)
    profile = (DataType.STRUCTURE, [(DataType.LONG_UNSIGNED, 7), (DataType.OCTET_STRING, activation),
                                    (DataType.DOUBLE_LONG_UNSIGNED, 3600)])
    assert meter.set(LIMITER, 71, 8, profile) == DataAccessResult.SUCCESS
    assert meter.get(LIMITER, 71, 10) == (DataType.BOOLEAN, False)
    assert meter.set(LIMITER, 71, 9, (DataType.ARRAY, [(DataType.LONG_UNSIGNED, 7)])) == DataAccessResult.SUCCESS
    assert meter.get(LIMITER, 71, 10) == (DataType.BOOLEAN, True)
    assert meter.get(LIMITER, 71, 3) == (DataType.DOUBLE_LONG, 2000)
    meter.now = NOW + 3600
    assert meter.get(LIMITER, 71, 10) == (DataType.BOOLEAN, False)
    assert meter.set(LIMITER, 71, 8, (DataType.STRUCTURE, profile[1][:2])) == DataAccessResult.TYPE_UNMATCHED
    assert meter.set(LIMITER, 71, 3, (DataType.DOUBLE_LONG, 1)) == DataAccessResult.READ_WRITE_DENIED
    assert [row[1] for row in rows(meter, "0.0.99.98.3.255")] == [158]


@pytest.mark.parametrize(("ln", "class_id", "attribute", "good", "bad"), [
    ("0.0.25.9.0.255", 40, 3,
     (DataType.STRUCTURE, [(DataType.ENUM, 0), (DataType.OCTET_STRING, b"127.0.0.2:4059"), (DataType.ENUM, 0)]),
     (DataType.STRUCTURE, [(DataType.ENUM, 0), (DataType.OCTET_STRING, b"127.0.0.2:4059")])),
    ("0.0.25.9.0.255", 40, 6, (DataType.UNSIGNED, 5), (DataType.LONG_UNSIGNED, 5)),
    ("0.0.15.0.0.255", 22, 4,
     (DataType.ARRAY, [(DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes(4)),
                                             (DataType.OCTET_STRING, bytes.fromhex("FFFFFF0FFF"))])]),
     (DataType.ARRAY, [(DataType.STRUCTURE, [(DataType.OCTET_STRING, bytes(5)),
                                             (DataType.OCTET_STRING, bytes.fromhex("FFFFFF0FFF"))])])),
    ("0.0.15.0.0.255", 22, 3, (DataType.ENUM, 2), (DataType.ENUM, 6)),
    ("0.0.16.1.0.255", 21, 2, (DataType.ARRAY, [(DataType.LONG_UNSIGNED, 2000)]), (DataType.LONG_UNSIGNED, 2000)),
    ("0.0.25.0.0.255", 41, 5, (DataType.UNSIGNED, 3), (DataType.LONG_UNSIGNED, 3)),
    ("0.0.25.1.0.255", 42, 8, (DataType.BOOLEAN, True), (DataType.UNSIGNED, 1)),
    ("0.0.13.0.0.255", 20, 6, (DataType.OCTET_STRING, b"SUMMER"), (DataType.VISIBLE_STRING, b"SUMMER")),
])
def test_set_then_get_with_type_checks(ln: str, class_id: int, attribute: int, good: Any, bad: Any) -> None:
    """A value of the attribute's form is kept and read back; another form is type-unmatched
    (or other-reason for an enum out of its range) and changes nothing."""
    meter = LocalMeter(lab("dlms-generic", days=2), now=NOW)
    before = meter.get(ln, class_id, attribute)
    assert meter.set(ln, class_id, attribute, bad) in (DataAccessResult.TYPE_UNMATCHED, DataAccessResult.OTHER_REASON)
    assert meter.get(ln, class_id, attribute) == before
    assert meter.set(ln, class_id, attribute, good) == DataAccessResult.SUCCESS
    assert meter.get(ln, class_id, attribute) == good


def test_communication_setup_reports_the_meters_listener() -> None:
    """TCP-UDP setup gives lab.ini's port, max_clients and inactivity_timeout; IPv4 setup its
    interface; multicast addresses are added, counted and deleted by the methods."""
    meter = LocalMeter(lab("is15959-household", days=2), now=NOW)
    assert meter.get("0.0.25.0.0.255", 41, 2) == (DataType.LONG_UNSIGNED, 4100)
    assert meter.get("0.0.25.0.0.255", 41, 5) == (DataType.UNSIGNED, 7)
    assert meter.get("0.0.25.0.0.255", 41, 6) == (DataType.LONG_UNSIGNED, 90)
    assert meter.get("0.0.25.1.0.255", 42, 3) == (DataType.DOUBLE_LONG_UNSIGNED, 0x7F000001)
    ipv4 = "0.0.25.1.0.255"
    address = (DataType.DOUBLE_LONG_UNSIGNED, 0xE0000001)
    assert meter.action(ipv4, 42, 1, address) == (ActionResult.SUCCESS, None)
    assert meter.action(ipv4, 42, 3, zero()) == (ActionResult.SUCCESS, (DataType.LONG_UNSIGNED, 1))
    assert meter.get(ipv4, 42, 4) == (DataType.ARRAY, [address])
    assert meter.action(ipv4, 42, 2, address) == (ActionResult.SUCCESS, None)
    assert meter.action(ipv4, 42, 3, zero()) == (ActionResult.SUCCESS, (DataType.LONG_UNSIGNED, 0))
    assert meter.action(ipv4, 42, 1, (DataType.LONG_UNSIGNED, 1)) == (ActionResult.TYPE_UNMATCHED, None)


def test_activity_calendar_activates_the_passive_calendar() -> None:
    meter = LocalMeter(lab("dlms-generic", days=2), now=NOW)
    assert meter.get("0.0.13.0.0.255", 20, 6) == meter.get("0.0.13.0.0.255", 20, 2)
    assert meter.set("0.0.13.0.0.255", 20, 6, (DataType.OCTET_STRING, b"WINTER")) == DataAccessResult.SUCCESS
    assert meter.action("0.0.13.0.0.255", 20, 1, zero()) == (ActionResult.SUCCESS, None)
    assert meter.get("0.0.13.0.0.255", 20, 2) == (DataType.OCTET_STRING, b"WINTER")


# =========================================================================== demand and clock


def test_demand_register_reset_and_next_period() -> None:
    """Blue Book 4.3.4: reset starts a period now with both averages 0; next_period ends the
    current one, whose average becomes last_average_value; capture_time is the new start."""
    meter = LocalMeter(lab("dlms-generic", days=2), now=NOW)
    demand = "1.0.1.4.0.255"
    simulator = meter.runtime.simulator
    assert meter.action(demand, 5, 1, zero()) == (ActionResult.SUCCESS, None)
    assert meter.get(demand, 5, 2) == (DataType.DOUBLE_LONG_UNSIGNED, 0)
    assert meter.get(demand, 5, 3) == (DataType.DOUBLE_LONG_UNSIGNED, 0)
    assert stamp(meter.get(demand, 5, 6)[1]) == pytest.approx(NOW, abs=0.01)
    meter.now = NOW + 300
    expected = (simulator.cumulative(NOW + 300).active_energy_import
                - simulator.cumulative(NOW).active_energy_import) * 3600 / 300
    assert meter.get(demand, 5, 2) == (DataType.DOUBLE_LONG_UNSIGNED, math.floor(expected + 0.5))
    assert meter.action(demand, 5, 2, zero()) == (ActionResult.SUCCESS, None)
    assert meter.get(demand, 5, 3) == (DataType.DOUBLE_LONG_UNSIGNED, math.floor(expected + 0.5))
    assert stamp(meter.get(demand, 5, 7)[1]) == pytest.approx(NOW + 300, abs=0.01)
    meter.now = NOW + 300 + 900 + 60
    assert stamp(meter.get(demand, 5, 7)[1]) == pytest.approx(NOW + 1200, abs=0.01)


def test_clock_set_and_adjustments_are_logged() -> None:
    """SET of the time moves the clock and logs IS 15959 event 151 at the new time; dlms-generic
    logs 4 at the old time and 5 at the new; adjust_to_quarter/minute round to the nearest
    quarter/minute; shift_time moves by -900..900 s and refuses more."""
    meter = LocalMeter(lab("is15959-abt", days=2), now=NOW)
    target = NOW - 7200
    clock = "0.0.1.0.0.255"
    assert meter.set(clock, 8, 2, (DataType.OCTET_STRING, datetime_bytes_from_timestamp(target, -330, 0))) == \
        DataAccessResult.SUCCESS
    assert meter.runtime.now() == pytest.approx(target, abs=0.01)
    assert [(round(stamp(r[0])), r[1]) for r in rows(meter, "0.0.99.98.3.255")] == [(round(target), 151)]
    meter.runtime.clock_offset = 0
    meter.now = 1_767_269_700.0 + 500  # quarter + 8 min 20 s
    assert meter.action(clock, 8, 1, None) == (ActionResult.SUCCESS, None)
    assert meter.runtime.now() == 1_767_269_700.0 + 900
    meter.action(clock, 8, 3, None)
    assert meter.runtime.now() == 1_767_269_700.0 + 900
    assert meter.action(clock, 8, 6, (DataType.LONG, -900)) == (ActionResult.SUCCESS, None)
    assert meter.runtime.now() == 1_767_269_700.0
    assert meter.action(clock, 8, 6, (DataType.LONG, 901)) == (ActionResult.TYPE_UNMATCHED, None)
    generic = LocalMeter(lab("dlms-generic", days=2), now=NOW)
    generic.set(clock, 8, 2, (DataType.OCTET_STRING, datetime_bytes_from_timestamp(NOW + 60, 0, 0)))
    logged = [(round(stamp(r[0])), r[1]) for r in rows(generic, GENERIC_LOG)]
    assert logged[-2:] == [(round(NOW), 4), (round(NOW + 60), 5)]


# =========================================================================== value anomalies


def test_register_values_are_spoiled_where_the_anomalies_say() -> None:
    """A register read at an instant the anomalies decide shows the spoiled value (the same as
    its cell in a profile row at that instant); without anomalies the true value."""
    spoiled = LocalMeter(lab("dlms-generic", days=2, anomalies="negative:0.3, boundary:0.3, out-of-range:0.3"),
                         now=NOW)
    clean = LocalMeter(lab("dlms-generic", days=2), now=NOW)
    anomalies = spoiled.runtime.anomalies
    assert anomalies is not None and clean.runtime.anomalies is None
    energy = bytes((1, 0, 1, 8, 0, 255))
    kinds = set()
    for k in range(60):
        t = NOW + 900 * k
        spoiled.now = clean.now = t
        true = clean.get(energy, 3, 2)
        expected = anomalies.spoil_value(energy, t, DataType.DOUBLE_LONG_UNSIGNED, true[1])
        kinds.add(anomalies.value_kind(energy, t))
        assert spoiled.get(energy, 3, 2) == (true if expected is None else expected)
    assert kinds == {None, "negative", "boundary", "out-of-range"}

"""A lab of many meters: what one idle meter holds, per-connection objects
freed on close, worker statuses that name only changed meters, and
``/metrics`` of a 100,000-meter lab (built in-process, without sockets)."""

from __future__ import annotations

import gc
import time
import weakref

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from dlmstw.codec import acse, axdr, services, xdlms
from dlmstw.codec.services import CosemAttributeDescriptor, GetRequestNormal, GetResponseNormal
from dlmstw.config import parse_lab
from dlmstw.enums import Conformance
from dlmstw.framing.wrapper import WrapperDecoder, encode_wpdu
from dlmstw.monitor.capture import CaptureBus, RingBuffer
from dlmstw.plugins.registry import load_registry
from dlmstw.server.meter import REFUSED_MAX_CONNECTIONS
from dlmstw.server.service import LabService
from dlmstw.server.worker import StatusReport
from dlmstw.server.workers import WorkerPool
from dlmstw.web.console import Console, prometheus_lines

LAB = """
[simulator]
max_connections = 1

[meters:a]
count = 3
port = 4059
load_profile_days = 1

[meters:b]
count = 2
port = 5059

[association:public]
client_sap = 16
"""
NOW = 1_767_225_600.0
AARQ = acse.encode_aarq(acse.AARQ(application_context_name=1, user_information=xdlms.encode_initiate_request(
    xdlms.InitiateRequest(None, True, None, 6, Conformance(0x00FFFF), 0x04B0))))
VOLTAGE = CosemAttributeDescriptor(3, bytes((1, 0, 32, 7, 0, 255)), 2)
GET_VOLTAGE = services.encode_request(GetRequestNormal(0xC1, VOLTAGE, None))


def lab_service(text: str = LAB) -> LabService:
    return LabService(parse_lab(text), load_registry(), CaptureBus(Clock().callLater), clock=lambda: NOW)


def read_voltage(service: LabService, meter: str, port: int) -> tuple[object, bytes]:
    """Connect to ``meter``, associate and read its L1 voltage; (the connection's protocol, the value)."""
    protocol = service.factories[meter].buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
    protocol.makeConnection(transport)
    protocol.dataReceived(encode_wpdu(16, 1, AARQ) + encode_wpdu(16, 1, GET_VOLTAGE))
    frames = WrapperDecoder().feed(transport.value())
    answer = services.decode_response(frames[-1].apdu)
    assert isinstance(answer, GetResponseNormal) and isinstance(answer.result, bytes)
    return protocol, answer.result


def test_an_idle_meter_makes_its_simulator_and_event_list_when_first_read() -> None:
    service = lab_service()
    runtime = service.factories["a-1"].meter
    assert runtime._simulator is None and runtime._events is None
    assert runtime.state()["events"] == [] and runtime._events is None
    protocol, value = read_voltage(service, "a-1", 50001)
    protocol.connectionLost()
    assert runtime._simulator is not None
    # Made late or early, the simulator is the same function of the seed and the time.
    eager = lab_service().factories["a-1"].meter
    assert eager.simulator.instantaneous(NOW) == runtime.simulator.instantaneous(NOW)
    assert read_voltage(lab_service(), "a-1", 50002)[1] == value
    assert axdr.decode_data(value, 0)[1] == len(value)


def test_a_connection_and_its_sessions_are_freed_on_close() -> None:
    service = lab_service()
    protocol, _ = read_voltage(service, "a-0", 50003)
    session = next(iter(protocol.sessions.values()))  # type: ignore[attr-defined]
    gone = [weakref.ref(protocol), weakref.ref(session)]
    protocol.connectionLost()  # type: ignore[attr-defined]
    del protocol, session
    gc.collect()
    assert [ref() for ref in gone] == [None, None]
    factory = service.factories["a-0"]
    assert factory.connections == 0 and not factory.protocols and service.budget.open == 0


def test_refused_max_connections_is_counted_in_metrics_and_logged_once() -> None:
    service = lab_service()
    lines: list[str] = []
    observer = lambda event: lines.append(formatEvent(event))  # noqa: E731
    globalLogPublisher.addObserver(observer)
    try:
        first, _ = read_voltage(service, "a-0", 50004)
        for port in (50005, 50006):
            refused = service.factories["b-1"].buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
            transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
            refused.makeConnection(transport)
            assert transport.disconnecting
        first.connectionLost()  # type: ignore[attr-defined]
    finally:
        globalLogPublisher.removeObserver(observer)
    assert [line for line in lines if "max_connections" in line] == [
        "refusing new connections (first: 127.0.0.1:50005 to meter b-1): this process serves max_connections = 1 "
        "already; refusals are counted as refused-max-connections",
        "accepting connections again: below max_connections = 1"]
    console = Console(service, service.capture, RingBuffer(), None, Clock())
    text = "".join(prometheus_lines(console))
    assert f'dlmstw_exchanges_total{{result="{REFUSED_MAX_CONNECTIONS}"}} 2\n' in text
    assert "dlmstw_clients 0\n" in text


def test_a_worker_reports_only_the_meters_that_changed() -> None:
    service = lab_service()
    report = StatusReport(service)
    assert report() == {}
    protocol, _ = read_voltage(service, "b-0", 50006)
    changed = report()
    assert list(changed) == ["b-0"] and changed["b-0"]["connections"] == 1
    assert changed["b-0"]["counters"] == {"accepted": 1, "success": 2}
    assert report() == {}
    protocol.connectionLost()  # type: ignore[attr-defined]
    assert report()["b-0"]["connections"] == 0


def test_lab_meters_makes_only_the_positions_and_groups_asked_for() -> None:
    lab = parse_lab(LAB)
    every = [meter.id for meter in lab.meters()]
    assert every == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert [m.id for m in lab.meters(lambda position: position % 2 == 1)] == ["a-1", "b-0"]
    assert [m.id for m in lab.meters(lambda position: position >= 3, groups={"b"})] == ["b-0", "b-1"]


def big_lab(meters: int, groups: int) -> str:
    per_group = meters // groups
    sections = "".join(f"[meters:g{g}]\ncount = {per_group}\ninterface = 127.0.0.{g + 2}\nport = 5000\n\n"
                       for g in range(groups))
    return f"[simulator]\nworkers = 7\n\n{sections}[association:public]\nclient_sap = 16\n"


def test_metrics_of_a_100000_meter_lab_has_few_series_and_answers_fast() -> None:
    lab = parse_lab(big_lab(100_000, 4))
    pool = WorkerPool("lab.ini", lab, CaptureBus(Clock().callLater), 7, Clock(), {}, lambda line: None)
    assert len(pool.factories) == 100_000
    results = ["accepted", "success", "released", "closed", "refused-max-clients", REFUSED_MAX_CONNECTIONS,
               "inactivity-timeout", "object-undefined"]
    for worker in pool.workers:
        meters = {meter_id: {"connections": 1, "counters": {name: 1 + n % 3 for n, name in enumerate(results)},
                             "online": True, "load_profile_period": 900, "load_profile_days": 35}
                  for meter_id, view in pool.factories.items() if view.worker is worker}
        pool.update(worker, {"meters": meters, "published": 0, "dropped": 0})
    console = Console(pool, CaptureBus(Clock().callLater), RingBuffer(), None, Clock())
    began = time.perf_counter()
    text = "".join(prometheus_lines(console))
    assert time.perf_counter() - began < 1.0
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(series) < 1000
    assert "dlmstw_clients 100000" in series
    assert f'dlmstw_exchanges_total{{result="{REFUSED_MAX_CONNECTIONS}"}} {100_000 * (1 + 5 % 3)}' in series
    # A meter's next status replaces its counts in the totals, it does not add to them.
    some = next(iter(pool.factories))
    pool.update(pool.factories[some].worker, {"meters": {some: {
        "connections": 0, "counters": {"accepted": 5}, "online": True, "load_profile_period": 900,
        "load_profile_days": 35}}, "published": 0, "dropped": 0})
    clients, totals = pool.totals()
    assert clients == 99_999 and totals["accepted"] == 99_999 + 5 and totals["success"] == 2 * 99_999


def test_a_restarted_workers_meters_start_again_from_lab_ini() -> None:
    lab = parse_lab(big_lab(8, 4).replace("workers = 7", "workers = 2"))
    pool = WorkerPool("lab.ini", lab, CaptureBus(Clock().callLater), 2, Clock(), {}, lambda line: None)
    first = pool.workers[0]
    meter = next(m for m, view in pool.factories.items() if view.worker is first)
    pool.update(first, {"meters": {meter: {"connections": 2, "counters": {"success": 7}, "online": False,
                                           "load_profile_period": 300, "load_profile_days": 2}},
                        "published": 0, "dropped": 0})
    assert pool.totals() == (2, {"success": 7})
    pool.ended(first, object(), Failure(ConnectionDone()))  # type: ignore[arg-type]
    view = pool.factories[meter]
    assert (view.connections, view.counters, view.online, view.load_profile_period) == (0, {}, True, 900)
    assert pool.totals() == (0, {})

"""The lab as a Twisted service: one listening port per meter of the
configuration, under one ``MultiService``."""

from __future__ import annotations

import gc
import time
from collections import Counter
from typing import Any, Callable

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.task import deferLater
from twisted.logger import Logger

from ..association.session import ServerProfile
from ..config import HDLC, UDP_WRAPPER, AssociationConfig, Lab, MeterConfig, MeterGroup
from ..cosem.directory import MeterDirectory, ModelDirectory
from ..enums import Conformance
from ..monitor.capture import CaptureBus
from .assembly import Meter
from .edge import MeterEdge
from .push import PushSender
from .udp import UdpMeterListener
from .faults import FaultInjector, offline_meters
from .hdlc import GatewayFactory, HdlcMeterProtocol
from .reconfigure import ReconfigureError, reconfigure
from .scenario import ScenarioMeters
from .values import meter_values
from .listen import MeterEndpoint, MeterListener, PortService, meter_endpoint_description
from .meter import ConnectionBudget, MeterFactory
from .journal import CounterJournal
from ..plugins.registry import Registry
from .state import StateStore

#: What every meter offers in its InitiateResponse (Green Book 9.4.6.1).
SERVER_CONFORMANCE = (Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.SELECTIVE_ACCESS
                      | Conformance.MULTIPLE_REFERENCES | Conformance.PRIORITY_MGMT_SUPPORTED
                      | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
                      | Conformance.BLOCK_TRANSFER_WITH_ACTION)
#: The largest APDU a meter accepts (server-max-receive-pdu-size).
SERVER_MAX_RECEIVE_PDU_SIZE = 1024
LISTEN_BACKLOG = 128
log = Logger()


def freeze_built_objects() -> None:
    """Move everything built so far (a lab's meters, models, plugins) out of
    the garbage collector's sight (``gc.freeze``): they live as long as the
    process, and a full collection would otherwise walk every meter of a
    large lab again and again while it serves."""
    gc.collect()
    gc.freeze()


class ListenFailure(Exception):
    """A meter's port that cannot be listened on; the message is the line a person reads."""


def listen_reason(error: CannotListenError) -> str:
    """The operating system's reason a port cannot be listened on, e.g. "address already in use"."""
    reason = getattr(error.socketError, "strerror", None) or str(error.socketError)
    return reason[:1].lower() + reason[1:]


def listen_error(meter: MeterConfig, error: CannotListenError) -> str:
    """Why ``meter`` cannot listen, in one line naming its group, id, address and the OS reason."""
    host = f"[{meter.interface}]" if ":" in meter.interface else meter.interface
    return f"[meters:{meter.group}] meter {meter.id} cannot listen on {host}:{meter.port}: {listen_reason(error)}"


class LabService(MultiService):
    """The meters of ``lab`` this process hosts (``hosted(position)``; all of
    them unless the lab has several workers), each a ``MeterFactory`` on its
    own port (``dlmstw-tcp`` endpoints on ``reactor``, the global one by
    default), or behind its group's gateway (``hdlc.GatewayFactory``)."""

    def __init__(self, lab: Lab, registry: Registry, capture: CaptureBus,
                 clock: Callable[[], float] = time.time,
                 hosted: Callable[[int], bool] = lambda position: True, reactor: Any = None) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.lab = lab
        self.registry = registry
        self.capture = capture
        self.reactor = reactor
        #: Each group's endpoint, parsed once (``listen.MeterEndpoint.at``).
        self._endpoints: dict[str, MeterEndpoint] = {}
        #: The client connections of this process's meters (lab.ini max_connections).
        self.budget = ConnectionBudget(lab.simulator.max_connections)
        self.factories: dict[str, MeterFactory] = {}
        self.meter_configs: dict[str, MeterConfig] = {}
        #: Each meter's pushes and timers (``edge``), running while the service runs.
        self.edges: dict[str, MeterEdge] = {}
        self._directories: dict[tuple[tuple[str, ...], tuple[str, ...]], ModelDirectory] = {}
        #: Each group's associations by client SAP, shared by its meters.
        self._associations: dict[str, dict[int, AssociationConfig]] = {}
        #: The gateways of this process's groups behind one (lab.ini ``gateway``), by group.
        self.gateways: dict[str, GatewayFactory] = {}
        behind: dict[str, dict[int, MeterFactory]] = {}
        offline = offline_meters(lab)
        #: This process's side of the lab's scenario (``scenario.ScenarioMeters``).
        self.scenario = ScenarioMeters(self.factories, self.meter_configs, capture, self._set_online,
                                       offline)
        for meter in lab.meters(hosted):
            factory = self._meter(meter, clock, meter.id not in offline)
            self.factories[meter.id] = factory
            self.meter_configs[meter.id] = meter
            if meter.gateway:
                behind.setdefault(meter.group, {})[meter.physical_address] = factory
            elif factory.online:
                self._listener(meter, factory)
        for group in lab.groups:
            if group.name in behind:
                self._gateway(group, behind[group.name])

    def _gateway(self, group: MeterGroup, meters: dict[int, MeterFactory]) -> None:
        """The port of a group behind a gateway, routing frames to ``meters`` by physical address."""
        gateway = self.gateways[group.name] = GatewayFactory(
            group.name, meters, group.address_size, group.max_clients * group.count, group.inactivity_timeout,
            self.capture, self.budget, group.seed)
        gateway.faults = FaultInjector.of(gateway, group.faults)  # type: ignore[arg-type]
        assert group.gateway is not None
        endpoint = serverFromString(self.reactor, meter_endpoint_description(group.gateway, group.interface,
                                                                              LISTEN_BACKLOG))
        server = MeterListener(endpoint, gateway)
        server.setName(gateway.meter.id)
        server.setServiceParent(self)

    def _listener(self, meter: MeterConfig, factory: MeterFactory) -> MeterListener | UdpMeterListener:
        """A meter's port under this service (listening at once when the service runs)."""
        server: MeterListener | UdpMeterListener
        if meter.transport == UDP_WRAPPER:
            server = UdpMeterListener(self.reactor, meter.port, meter.interface, factory)
        else:
            endpoint = self._endpoints.get(meter.group)
            if endpoint is None:
                endpoint = self._endpoints[meter.group] = serverFromString(
                    self.reactor, meter_endpoint_description(meter.port, meter.interface, LISTEN_BACKLOG))
            server = MeterListener(endpoint.at(meter.port), factory)
        if self.running:
            server.startService()
        server.setName(meter.id)
        server.setServiceParent(self)
        return server

    def privilegedStartService(self) -> None:
        """Listen on every online meter's port; ``ListenFailure`` names the
        first that cannot, and nothing is left listening then."""
        Service.privilegedStartService(self)
        for server in self:
            try:
                server.privilegedStartService()
            except CannotListenError as error:
                for other in self:
                    if isinstance(other, PortService) and other.port is not None:
                        other.port.stopListening()
                        other.port = None
                config = self.meter_configs.get(server.name)
                if config is None:
                    group = next(g for g in self.lab.groups if f"{g.name}-gateway" == server.name)
                    raise ListenFailure(f"[meters:{group.name}] gateway cannot listen on "
                                        f"{group.interface}:{group.gateway}: {listen_reason(error)}") from None
                raise ListenFailure(listen_error(config, error)) from None

    def startService(self) -> None:
        super().startService()
        for edge in self.edges.values():
            edge.start()
        for line in self.summary():
            log.info("{line}", line=line)

    def stopService(self) -> Deferred[None]:
        """Stop listening and end every client connection; fires once they are all closed."""
        from twisted.internet import reactor

        stopped = super().stopService()
        for edge in self.edges.values():
            edge.stop()
        for factory in (*self.factories.values(), *self.gateways.values()):
            for protocol in tuple(factory.protocols):
                protocol.transport.abortConnection()
        return stopped.addCallback(lambda _: deferLater(reactor, 0, lambda: None))

    def summary(self) -> list[str]:
        """One line per group: how many of its meters this process serves, and where."""
        lines = []
        for group in self.lab.groups:
            ports = sorted(m.port for m in self.meter_configs.values() if m.group == group.name)
            if not ports:
                continue
            listening = sum(1 for m in self.meter_configs.values()
                            if m.group == group.name and self.factories[m.id].online)
            if group.gateway is not None:
                last = group.physical_address + group.count - 1
                lines.append(f"[meters:{group.name}] {len(ports)} HDLC meters ({', '.join(group.model)}) behind "
                             f"gateway {group.interface}:{group.gateway}, physical addresses "
                             f"{group.physical_address}..{last}, {listening} online")
                continue
            step = ports[1] - ports[0] if len(ports) > 1 else 1
            every = "" if step == 1 else f" (one port in {step})"
            carried = {UDP_WRAPPER: " (UDP)", HDLC: " (HDLC)"}.get(group.transport, "")
            lines.append(f"[meters:{group.name}] {len(ports)} meters ({', '.join(group.model)}) on "
                         f"{group.interface}:{ports[0]}-{ports[-1]}{every}{carried}, {listening} listening")
        return lines

    def _directory(self, meter: MeterConfig) -> ModelDirectory:
        """One directory per (models, associations): shared by the meters that have them."""
        key = (meter.model, tuple(a.name for a in meter.associations))
        directory = self._directories.get(key)
        if directory is None:
            directory = self._directories[key] = ModelDirectory(
                [self.registry.object_set(name) for name in meter.model], self.registry.classes,
                meter.associations, self.registry.mechanisms,
                SERVER_CONFORMANCE, SERVER_MAX_RECEIVE_PDU_SIZE)
        return directory

    def _meter(self, meter: MeterConfig, clock: Callable[[], float], online: bool) -> MeterFactory:
        runtime = Meter(meter, self.registry.object_set(meter.model[0]), clock)
        associations = self._associations.get(meter.group)
        if associations is None:
            associations = self._associations[meter.group] = {a.client_sap: a for a in meter.associations}
        factory = MeterFactory(runtime, MeterDirectory(self._directory(meter), runtime), associations,
                               self.registry,
                               ServerProfile(SERVER_CONFORMANCE, SERVER_MAX_RECEIVE_PDU_SIZE, meter.system_title),
                               meter.max_clients, meter.inactivity_timeout, self.capture, online, self.budget)
        if meter.transport == HDLC:
            factory.protocol = HdlcMeterProtocol
        if not meter.gateway:
            factory.faults = FaultInjector.of(factory, meter.faults)
        if meter.transport == UDP_WRAPPER:
            factory.transport = "udp"
        pushing = meter.push_association
        sender = PushSender(self.reactor, runtime, self.capture, None if pushing is None else
                            (pushing, self.registry.suites[pushing.security_suite]))
        runtime.edge = self.edges[meter.id] = MeterEdge(self.reactor, runtime, self._directory(meter), sender,
                                                        self.lab.simulator.state_dir, factory)
        return factory

    def totals(self) -> tuple[int, Counter[str]]:
        """Connected clients and capture counts by result over this process's meters (``/metrics``)."""
        results: Counter[str] = Counter()
        clients = 0
        for factory in self.factories.values():
            clients += factory.connections
            if factory.counters:
                results.update(factory.counters)
        return clients, results

    def state_store(self, name: str, clock: object | None = None) -> StateStore:
        """The store of this process's meters in ``state_dir``, with the counter
        journal ``name`` that their invocation counters go to first."""
        journal = CounterJournal(self.lab.simulator.state_dir, name)
        factories = self.factories.values()
        store = StateStore(self.lab.simulator.state_dir,
                           [f.meter for f in factories] + [f.security for f in factories], clock, journal,
                           [f.security for f in factories])
        record, save = journal.record, store.save_part
        for factory in factories:
            factory.security.journal = record
            factory.security.persist = save
        return store

    def object_names(self) -> dict[bytes, str]:
        """The descriptions of the lab's objects by logical name, for the dissector
        (the first model that names an object wins)."""
        names: dict[bytes, str] = {}
        for directory in self._directories.values():
            for logical_name, obj in directory.objects.items():
                if obj.description:
                    names.setdefault(logical_name, obj.description)
        return names

    def object_classes(self) -> dict[bytes, int]:
        """The class of each object of the lab's models by logical name (for campaigns that name none)."""
        return {logical_name: obj.interface_class.class_id for directory in self._directories.values()
                for logical_name, obj in directory.objects.items()}

    def changed_keys(self, meter_ids: list[str]) -> dict[str, dict[str, dict[str, bytes]]]:
        """The keys changed since lab.ini of each of ``meter_ids`` (this process's), by association."""
        return {m: self.factories[m].security.keys for m in meter_ids if m in self.factories}

    def values(self, meter_id: str) -> dict[str, Any]:
        """The meter's clock, registers and last profile rows now (``server.values``)."""
        return meter_values(self.factories[meter_id])

    def reconfigure(self, meter_id: str, changes: dict[str, Any]) -> None:
        """Change a running meter (``server.reconfigure``); ReconfigureError when refused."""
        factory = self.factories[meter_id]
        if self.meter_configs[meter_id].gateway and "faults" in changes:
            raise ReconfigureError("faults: a meter behind a gateway shares its connections; the group's "
                                   "faults in lab.ini apply")
        reconfigure(factory, changes, lambda online: self._set_online(meter_id, online))

    def _set_online(self, meter_id: str, online: bool) -> None:
        """Start or stop listening on the meter's port (``factory.online`` is already set)."""
        if self.meter_configs[meter_id].gateway:
            return  # its gateway stops routing frames to it (``hdlc.GatewayFactory.route``)
        factory = self.factories[meter_id]
        server = self.getServiceNamed(meter_id) if meter_id in self.namedServices else None
        if not online:
            if server is not None and server.running:
                server.stopService()
            return
        try:
            if server is None:
                self._listener(self.meter_configs[meter_id], factory)
            elif not server.running:
                server.startService()
        except CannotListenError as error:
            factory.online = False
            raise ReconfigureError(listen_error(self.meter_configs[meter_id], error)) from None

    def apply_scenario(self, meter_ids: list[str], operation: dict[str, Any], step: str,
                       revert: bool) -> int:
        """A scenario step on this process's meters of ``meter_ids`` (``scenario.ScenarioMeters.apply``);
        how many it reached. A refusal is logged once per step."""
        reached, refusal = self.scenario.apply(meter_ids, operation, step, revert)
        if refusal:
            log.error("scenario step {step}: {refusal}", step=step, refusal=refusal)
        return reached

    def reset_scenario(self) -> None:
        self.scenario.reset()

    def when_ready(self) -> Deferred[None]:
        """Fires at once: this process's meters take scenario steps as soon as they exist."""
        return succeed(None)

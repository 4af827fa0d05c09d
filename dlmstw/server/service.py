"""The lab as a Twisted service: one listening port per meter of the
configuration, under one ``MultiService``."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, NoReturn

from twisted.application import internet
from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from ..association.session import ServerProfile
from ..config import AssociationConfig, Lab, MeterConfig
from ..cosem.directory import MeterDirectory, ModelDirectory
from ..dissector import Keys
from ..enums import Conformance
from ..monitor.capture import CaptureBus, Exchange
from ..simulator.meter import MeterRuntime
from .faults import FaultInjector, offline_meters
from .reconfigure import reconfigure
from .meter import MeterFactory
from .registry import Registry

#: What every meter offers in its InitiateResponse (Green Book 9.4.6.1).
SERVER_CONFORMANCE = (Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.SELECTIVE_ACCESS
                      | Conformance.MULTIPLE_REFERENCES | Conformance.PRIORITY_MGMT_SUPPORTED
                      | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
                      | Conformance.BLOCK_TRANSFER_WITH_ACTION)
#: The largest APDU a meter accepts (server-max-receive-pdu-size).
SERVER_MAX_RECEIVE_PDU_SIZE = 1024
LISTEN_BACKLOG = 128

_log = Logger()


def listen_error(meter: MeterConfig, error: CannotListenError) -> str:
    """Why ``meter`` cannot listen, in one line naming its group, id, address and the OS reason."""
    host = f"[{meter.interface}]" if ":" in meter.interface else meter.interface
    reason = getattr(error.socketError, "strerror", None) or str(error.socketError)
    reason = reason[:1].lower() + reason[1:]
    return f"[meters:{meter.group}] meter {meter.id} cannot listen on {host}:{meter.port}: {reason}"


def exit_with(line: str) -> NoReturn:
    """Write ``line`` to the process's own standard error and exit with status 1.

    ``sys.__stderr__``, because once twistd logs, ``sys.stderr`` feeds its log.
    """
    stream = sys.__stderr__
    assert stream is not None
    stream.write(line + "\n")
    stream.flush()
    raise SystemExit(1)


class LabService(MultiService):
    """The meters of ``lab`` this process hosts (``hosted(position)``; all of
    them unless the lab has several workers), each a ``MeterFactory`` on its
    own port."""

    def __init__(self, lab: Lab, registry: Registry, capture: CaptureBus,
                 clock: Callable[[], float] = time.time,
                 hosted: Callable[[int], bool] = lambda position: True) -> None:
        super().__init__()
        self.lab = lab
        self.registry = registry
        self.capture = capture
        self.factories: dict[str, MeterFactory] = {}
        self.meter_configs: dict[str, MeterConfig] = {}
        self._directories: dict[tuple[tuple[str, ...], tuple[str, ...]], ModelDirectory] = {}
        meters = list(lab.meters())
        offline = offline_meters(meters)
        for position, meter in enumerate(meters):
            if not hosted(position):
                continue
            factory = self._meter(meter, clock, meter.id not in offline)
            self.factories[meter.id] = factory
            self.meter_configs[meter.id] = meter
            if not factory.online:
                continue
            server = internet.TCPServer(meter.port, factory, backlog=LISTEN_BACKLOG, interface=meter.interface)
            server.setName(meter.id)
            server.setServiceParent(self)

    def privilegedStartService(self) -> None:
        """Listen on every meter's port before twistd runs the reactor; a port
        that cannot be taken stops the process with one line on standard
        error (and in the log) and exit status 1."""
        for server in self:
            try:
                server.privilegedStartService()
            except CannotListenError as error:
                line = f"dlmssim: {listen_error(self.meter_configs[server.name], error)}"
                _log.critical("{line}", line=line)
                exit_with(line)

    def _directory(self, meter: MeterConfig) -> ModelDirectory:
        """One directory per (models, associations): shared by the meters that have them."""
        key = (meter.model, tuple(a.name for a in meter.associations))
        directory = self._directories.get(key)
        if directory is None:
            directory = self._directories[key] = ModelDirectory(
                [self.registry.object_sets[name] for name in meter.model], self.registry.classes,
                meter.associations, {name: m.mechanism_id for name, m in self.registry.mechanisms.items()},
                SERVER_CONFORMANCE, SERVER_MAX_RECEIVE_PDU_SIZE)
        return directory

    def _meter(self, meter: MeterConfig, clock: Callable[[], float], online: bool) -> MeterFactory:
        model = self.registry.object_sets[meter.model[0]]
        runtime = MeterRuntime(meter.id, meter.serial, meter.system_title, meter.seed, model.load_shape,
                               meter.load_profile_interval, meter.load_profile_days, model.utc_offset, clock,
                               anomalies=[(a.kind, a.rate) for a in meter.anomalies], port=meter.port,
                               address=meter.interface, max_clients=meter.max_clients,
                               inactivity_timeout=meter.inactivity_timeout)
        associations: dict[int, AssociationConfig] = {a.client_sap: a for a in meter.associations}
        return MeterFactory(runtime, MeterDirectory(self._directory(meter), runtime), associations,
                            self.registry.mechanisms,
                            ServerProfile(SERVER_CONFORMANCE, SERVER_MAX_RECEIVE_PDU_SIZE, meter.system_title),
                            meter.max_clients, meter.inactivity_timeout, self.capture,
                            FaultInjector.of(meter), online)

    def keys_for(self, exchange: Exchange) -> tuple[Keys | None, Keys | None]:
        """The keys that decipher an exchange's request and response, for the
        dissector: the association's current global keys and system titles."""
        factory = self.factories.get(exchange.meter)
        config = None if factory is None else factory.associations.get(exchange.client_sap or -1)
        if factory is None or config is None:
            return None, None
        if config.block_cipher_key is None and config.name not in factory.security.keys:
            return None, None
        keys = factory.security.keys_for(config)
        if keys.block_cipher_key is None:
            return None, None
        client_title = factory.security.client_titles.get(config.name)
        authentication_key = keys.authentication_key or b""
        return (Keys(keys.block_cipher_key, authentication_key, client_title),
                Keys(keys.block_cipher_key, authentication_key, factory.meter.system_title))

    def object_names(self) -> dict[bytes, str]:
        """The descriptions of the lab's objects by logical name, for the dissector
        (the first model that names an object wins)."""
        names: dict[bytes, str] = {}
        for directory in self._directories.values():
            for logical_name, obj in directory.objects.items():
                if obj.description:
                    names.setdefault(logical_name, obj.description)
        return names

    def reconfigure(self, meter_id: str, changes: dict[str, Any]) -> None:
        """Change a running meter (``server.reconfigure``); ReconfigureError when refused."""
        factory = self.factories[meter_id]

        def set_online(online: bool) -> None:
            server = self.getServiceNamed(meter_id) if meter_id in self.namedServices else None
            if online:
                if server is None:
                    config = self.meter_configs[meter_id]
                    server = internet.TCPServer(config.port, factory, backlog=LISTEN_BACKLOG,
                                                interface=config.interface)
                    server.setName(meter_id)
                    server.setServiceParent(self)
                elif not server.running:
                    server.startService()
            elif server is not None and server.running:
                server.stopService()

        reconfigure(factory, changes, set_online)

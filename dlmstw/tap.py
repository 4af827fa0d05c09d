"""``twistd dlmssim``: options and the service maker (the plugin in
``twisted/plugins/dlmssim.py`` loads this module lazily)."""

from __future__ import annotations

from functools import partial
from typing import Callable

from twisted.application import strports
from twisted.application.service import IService, MultiService
from twisted.python import usage
from twisted.web.server import Site

from .config import Lab, load_lab
from .dissector.record import packet_record
from .errors import ConfigError
from .monitor.capture import CaptureBus, RingBuffer
from .server.packet_log import PacketLog
from .server.registry import Registry, load_registry
from .server.service import LabService, exit_with
from .server.state import StateStore
from .server.workers import WorkerPool, first_of_each_group, worker_count
from .web.console import Console


def call_later(delay: float, function: Callable[[], None]) -> object:
    """The reactor's callLater, looked up when first used: twistd installs
    its reactor only after the options are parsed."""
    from twisted.internet import reactor
    return reactor.callLater(delay, function)  # type: ignore[attr-defined]


class Options(usage.Options):
    """Everything is checked here, so a bad lab stops ``twistd`` before it
    starts: one line on standard error with the file, section, key and
    problem, and exit status 1."""

    optParameters = [
        ["config", "c", "etc/lab.ini", "The lab configuration (INI file)."],
    ]

    def postOptions(self) -> None:
        try:
            self._load(self["config"])
        except ConfigError as error:
            exit_with(f"twistd: {error}")

    def _load(self, path: str) -> None:
        """Read the lab at ``path`` and build its meters; raises ConfigError."""
        self.lab: Lab = load_lab(path)
        self.registry: Registry = load_registry()
        for group in self.lab.groups:
            for name in group.model:
                if name not in self.registry.object_sets:
                    known = ", ".join(sorted(self.registry.object_sets))
                    raise ConfigError(path, f"meters:{group.name}", "model",
                                      f"no object set named {name!r} is installed (installed: {known})")
        for association in self.lab.associations:
            if association.authentication not in self.registry.mechanisms:
                known = ", ".join(sorted(self.registry.mechanisms))
                raise ConfigError(path, f"association:{association.name}", "authentication",
                                  f"{association.authentication!r} is not supported by the installed mechanisms"
                                  f" ({known})")
        self.capture = CaptureBus(call_later)
        self.workers = worker_count(self.lab)
        hosted = (lambda position: True) if self.workers == 1 else first_of_each_group(self.lab)
        try:
            # With workers this process only builds one meter of each group: it
            # checks the models at start and names the objects for the dissector.
            self.meters = LabService(self.lab, self.registry, self.capture, hosted=hosted)
        except ValueError as error:
            raise ConfigError(path, None, None, str(error)) from None


def makeService(options: Options) -> IService:
    """The lab's meters (in this process, or in worker processes when the lab
    has several), the packet log and the console under one MultiService."""
    from twisted.internet import reactor

    simulator = MultiService()
    settings = options.lab.simulator
    lab: LabService | WorkerPool
    if options.workers > 1:
        lab = WorkerPool(options["config"], options.lab, options.capture, options.workers, reactor,
                         options.meters.object_names())
        lab.setServiceParent(simulator)
    else:
        lab = options.meters
        factories = lab.factories.values()
        parts = [factory.meter for factory in factories] + [factory.security for factory in factories]
        StateStore(settings.state_dir, parts, reactor).setServiceParent(simulator)
        lab.setServiceParent(simulator)
    names = lab.object_names()
    describe = partial(packet_record, keys_for=lab.keys_for, names=names.get)
    packet_log = None
    if settings.packet_log is not None:
        packet_log = PacketLog(settings.packet_log, options.capture, lab.keys_for, names, reactor.callLater)
        packet_log.setServiceParent(simulator)
    buffer = RingBuffer()
    options.capture.subscribe(buffer)
    console = Console(lab, options.capture, buffer, settings.console_token, reactor, describe, packet_log)
    strports.service(settings.console, Site(console.app.resource())).setServiceParent(simulator)
    return simulator

"""``twistd dlmssim``: options and the service maker (the plugin in
``twisted/plugins/dlmssim.py`` loads this module lazily)."""

from __future__ import annotations

import atexit
import os
import signal
from functools import partial
from typing import Any, Callable, NoReturn

from twisted.application import strports
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python import usage
from twisted.web.server import Site

from .config import OVERRIDES, Lab, load_lab, with_overrides
from .dissector.record import packet_record
from .errors import ConfigError
from .monitor.capture import CaptureBus, RingBuffer
from .server.packet_log import PacketLog
from .server.scenario import ScenarioRunner, check_scenario
from .simulator.scenario import Scenario, ScenarioError, load_scenario
from .plugins.registry import Registry, check_lab, load_registry
from .server.service import LabService, ListenFailure, freeze_built_objects, listen_reason
from .server.workers import WorkerPool, first_of_each_group, worker_count
from .client.live import LiveCampaigns
from .web.console import Console

log = Logger()


class Options(usage.Options):
    """The command line and the lab it names, parsed and checked: a bad lab
    stops ``twistd`` before anything is built, with one line on standard
    error naming the file, section, key and problem, and exit status 1.
    ``makeService`` builds the lab."""

    optParameters = [
        ["config", "c", "etc/lab.ini", "The lab configuration (INI file)."],
        ["shard", None, None, "Serve only the meters with index % n == i of every group (i/n; lab.ini shard)."],
        ["console", None, None, "The console's strports description (overrides lab.ini console)."],
        ["state-dir", None, None, "Where meter state persists (overrides lab.ini state_dir)."],
        ["packet-log", None, None, "The packet log file, or - for none (overrides lab.ini packet_log)."],
    ]

    def parseOptions(self, options: list[str] | None = None) -> None:
        """A command line twistd cannot use is one line and exit status 2, not the usage text."""
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            fail_at_start(f"{error} (twistd dlmssim --help lists the options)", 2)

    def postOptions(self) -> None:
        #: The ``[simulator]`` keys the command line overrides (None: lab.ini's), for the workers too.
        self.overrides = {key: self[key.replace("_", "-")] for key in OVERRIDES}
        try:
            lab = load_lab(self["config"])
            self.registry: Registry = load_registry()
            check_lab(self.registry, lab, self["config"])
        except ConfigError as error:
            fail_at_start(str(error))
        try:
            self.lab: Lab = with_overrides(lab, self.overrides)
        except ValueError as error:
            fail_at_start(f"{error} (twistd dlmssim --help lists the options)", 2)
        #: The processes that serve the meters (lab.ini ``workers``).
        self.workers = worker_count(self.lab)
        #: The scenario of lab.ini, checked against the lab (None: none).
        self.scenario: Scenario | None = None
        if self.lab.simulator.scenario is not None:
            try:
                self.scenario = load_scenario(self.lab.simulator.scenario, self.lab)
            except ScenarioError as error:
                fail_at_start(str(error))


class LabRoot(MultiService):
    """The lab's services, stopped one after another (the last added first,
    each once the one before it has stopped): the meters end their
    connections and hand over their last records, their state is saved, the
    packet log writes everything it was handed, and the console goes last."""

    def __init__(self, reactor: Any) -> None:
        super().__init__()
        self.reactor = reactor
        self.stopping = False
        #: The lab's counts, for the last line of the log (``Console.totals``).
        self.totals: Callable[[], dict[str, int]] = dict

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except ListenFailure as failure:
            fail_at_start(str(failure))
        except CannotListenError as error:
            fail_at_start(f"[simulator] console cannot listen on {error.interface or '0.0.0.0'}:{error.port}: "
                          f"{listen_reason(error)}")

    def startService(self) -> None:
        super().startService()
        self.reactor.callWhenRunning(self._handle_signals)

    def _handle_signals(self) -> None:
        """SIGINT (Ctrl-C reaches the whole process group) and SIGTERM stop the
        lab in order and end twistd with status 0 (the reactor's own handlers
        would end it by the signal)."""
        def stop(number: int, frame: object) -> None:
            if not self.stopping:
                self.stopping = True
                log.info("{signal}: stopping the lab", signal=signal.Signals(number).name)
                self.reactor.callFromThread(self.reactor.stop)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

    def fail(self, line: str) -> None:
        """The lab cannot run: say why in one line, stop, and end twistd with status 1."""
        fail_line(line)
        atexit.register(os._exit, 1)
        if not self.stopping:
            self.stopping = True
            self.reactor.stop()

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        stopped: Deferred[None] = succeed(None)
        for service in reversed(list(self)):
            stopped.addBoth(lambda _, service=service: maybeDeferred(service.stopService))
        return stopped.addBoth(lambda _: self._stopped())

    def _stopped(self) -> None:
        totals = self.totals()
        if totals:
            log.info("lab stopped: {captured} exchanges captured, {capture_dropped} dropped before the log; "
                     "packet log: {log_written} written, {log_dropped} dropped", **totals)


def fail_line(line: str) -> None:
    """One line on the terminal's standard error (twistd sends ``sys.stderr`` to its log)."""
    os.write(2, f"dlmssim: {line}\n".encode(errors="replace"))


def fail_at_start(line: str, status: int = 1) -> NoReturn:
    fail_line(line)
    raise SystemExit(status)


def makeService(options: Options) -> IService:
    """The console, the packet log, the meters' state and the meters (in this
    process, or in worker processes when the lab has several), in the order
    they start; they stop the other way round (``LabRoot``). A lab whose
    models cannot be built stops here, with one line and exit status 1."""
    from twisted.internet import reactor

    lab_service = LabRoot(reactor)
    settings = options.lab.simulator
    capture = CaptureBus(reactor.callLater)
    # With workers this process only builds one meter of each group: it
    # checks the models at start and names the objects for the dissector.
    hosted = (lambda position: True) if options.workers == 1 else first_of_each_group(options.lab)
    try:
        meters = LabService(options.lab, options.registry, capture, hosted=hosted, reactor=reactor)
    except ValueError as error:
        fail_at_start(str(ConfigError(options["config"], None, None, str(error))))
    buffer = RingBuffer()
    capture.subscribe_batches(buffer.extend)
    lab: LabService | WorkerPool
    if options.workers > 1:
        lab = WorkerPool(options["config"], options.lab, capture, options.workers, reactor,
                         meters.object_names(), lab_service.fail, options.overrides)
    else:
        lab = meters
    names = lab.object_names()
    describe = partial(packet_record, names=names.get)
    packet_log = None
    if settings.packet_log is not None:
        packet_log = PacketLog(settings.packet_log, capture, names, reactor,
                               getattr(settings, "packet_log_max", 100_000_000), getattr(settings, "packet_log_keep", 5))
    campaigns = LiveCampaigns(reactor, lab, options.registry.mechanisms, meters.object_classes())
    check = partial(check_scenario, lab=options.lab, factories=meters.factories)
    if options.scenario is not None:
        try:
            check(options.scenario)
        except ScenarioError as error:
            fail_at_start(str(error))
    scenario = ScenarioRunner(reactor, options.lab, lab, options.scenario, check)
    if isinstance(lab, WorkerPool):
        lab.on_restart = scenario.replay
    console = Console(lab, capture, buffer, settings.console_token, reactor, describe, packet_log, campaigns,
                      scenario)
    lab_service.totals = console.totals
    strports.service(settings.console, Site(console.app.resource())).setServiceParent(lab_service)
    if packet_log is not None:
        packet_log.setServiceParent(lab_service)
    if isinstance(lab, LabService):
        lab.state_store("main", reactor).setServiceParent(lab_service)
    lab.setServiceParent(lab_service)
    scenario.setServiceParent(lab_service)
    freeze_built_objects()
    return lab_service

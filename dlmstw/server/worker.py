"""One worker process of a lab with several (``server.workers``): serves its
share of the meters and talks to the twistd process by AMP over its
standard input and output (``server.channel``).

    python -m dlmstw.server.worker LAB.ini INDEX COUNT

The twistd process is in charge of stopping: the worker ignores SIGINT and
SIGTERM (a Ctrl-C reaches the whole process group), stops its meters when
asked (``Stop``), and ends when its standard input closes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall
from twisted.logger import LogEvent, formatEvent, globalLogBeginner

from ..config import load_lab, with_overrides
from ..monitor.capture import CaptureBus, Exchange, PausableObserver
from .channel import (ProcessChannel, run_child, Captured, ListenError, Log, Reconfigure, RefusedChange, ScenarioApply,
                      ScenarioReset, Start, Status, Stop, Values, ChangedKeys)
from .reconfigure import ReconfigureError
from ..plugins.registry import load_registry
from .service import LabService, ListenFailure, freeze_built_objects
from .workers import placement

#: Seconds between two batches of captured exchanges, and between two statuses.
CAPTURE_SECONDS = 0.1
STATUS_SECONDS = 1.0
#: Records in one batch at the most.
BATCH = 2000
#: A log line's text is cut to this many characters (an AMP value holds 65,535 bytes).
MAX_LOG_TEXT = 16_000


class Forwarder(PausableObserver):
    """Captured exchanges, batched to the twistd process; while the pipe is
    full (the transport pauses us) they are dropped and counted."""

    def __init__(self, channel: ProcessChannel) -> None:
        super().__init__()
        self.channel = channel
        self.batch: list[Exchange] = []

    def __call__(self, exchanges: list[Exchange]) -> None:
        """A turn's records (a batch observer of the capture bus)."""
        if self.paused:
            self.dropped += len(exchanges)
            return
        self.batch.extend(exchanges)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.channel.callRemote(Captured, records=batch)


class StatusReport:
    """What the twistd process shows of each meter (``workers.MeterView``),
    for the meters that changed since the last report: a 100,000-meter lab
    would otherwise send every meter every second. The twistd process starts
    from lab.ini's settings, so a meter nobody touched is never sent."""

    def __init__(self, service: LabService) -> None:
        self.service = service
        #: Per meter, what the last report said (connections, exchanges counted, online, period, days).
        self.sent: dict[str, tuple[int, int, bool, int, int]] = {
            meter_id: (0, 0, True, config.load_profile_interval * 60, config.load_profile_days)
            for meter_id, config in service.meter_configs.items()}

    def __call__(self) -> dict[str, dict[str, Any]]:
        changed = {}
        sent = self.sent
        for meter_id, factory in self.service.factories.items():
            runtime = factory.meter
            now = (factory.connections, factory.counters.total(), factory.online, runtime.load_profile_period,
                   runtime.load_profile_days)
            if now != sent[meter_id]:
                sent[meter_id] = now
                changed[meter_id] = {
                    "connections": factory.connections, "counters": dict(factory.counters),
                    "online": factory.online, "load_profile_period": runtime.load_profile_period,
                    "load_profile_days": runtime.load_profile_days}
        return changed


class Worker(ProcessChannel):
    """The worker's end of the channel."""

    def __init__(self, service: LabService, capture: CaptureBus, reactor: Any, name: str) -> None:
        super().__init__()
        self.service = service
        self.capture = capture
        self.reactor = reactor
        self.store = service.state_store(name, reactor)
        self.forwarder = Forwarder(self)
        self.meter_status = StatusReport(service)
        self.loops = [LoopingCall(self.forwarder.flush), LoopingCall(self.report)]
        for loop in self.loops:
            loop.clock = reactor

    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.registerProducer(self.forwarder, True)
        self.capture.subscribe_batches(self.forwarder)
        globalLogBeginner.beginLoggingTo([self.log_event], redirectStandardIO=False)

    def log_event(self, event: LogEvent) -> None:
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text = f"{text}\n{failure.getTraceback()}"
        level = event.get("log_level")
        self.callRemote(Log, level=level.name if level is not None else "info", text=text[:MAX_LOG_TEXT])

    def status(self) -> dict[str, Any]:
        return {"meters": self.meter_status(), "published": self.capture.published,
                "dropped": self.capture.dropped + self.forwarder.dropped, "pid": os.getpid()}

    def report(self) -> None:
        self.callRemote(Status, status=self.status())

    @Start.responder
    def start(self) -> dict[str, int]:
        self.store.startService()
        try:
            self.service.privilegedStartService()
        except ListenFailure as failure:
            raise ListenError(str(failure)) from None
        self.service.startService()
        self.loops[0].start(CAPTURE_SECONDS, now=False)
        self.loops[1].start(STATUS_SECONDS)
        listening = sum(1 for factory in self.service.factories.values() if factory.online)
        return {"meters": len(self.service.factories), "listening": listening}

    @Reconfigure.responder
    def reconfigure(self, meter: str, changes: dict[str, Any]) -> Deferred[dict[str, Any]] | dict[str, Any]:
        if meter not in self.service.factories:
            raise RefusedChange(f"this worker does not serve {meter}")
        try:
            self.service.reconfigure(meter, changes)
        except ReconfigureError as error:
            raise RefusedChange(str(error)) from None
        return {"status": self.status()}

    @Values.responder
    def values(self, meter: str) -> dict[str, Any]:
        if meter not in self.service.factories:
            raise RefusedChange(f"this worker does not serve {meter}")
        return {"values": self.service.values(meter)}

    @ChangedKeys.responder
    def changed_keys(self, meters: list[str]) -> dict[str, Any]:
        return {"keys": {m: {a: {n: k.hex() for n, k in ks.items()} for a, ks in keys.items()}
                         for m, keys in self.service.changed_keys(meters).items()}}

    @ScenarioApply.responder
    def scenario_apply(self, meters: list[str], operation: dict[str, Any], step: str,
                       revert: bool) -> dict[str, Any]:
        reached, refusal = self.service.scenario.apply(meters, operation, step, revert)
        return {"reached": reached, "refusal": refusal, "status": self.status()}

    @ScenarioReset.responder
    def scenario_reset(self) -> dict[str, Any]:
        try:
            self.service.scenario.reset()
        except ReconfigureError as error:
            return {"refusal": str(error), "status": self.status()}
        return {"refusal": "", "status": self.status()}

    @Stop.responder
    @inlineCallbacks
    def stop(self) -> Any:
        for loop in self.loops:
            if loop.running:
                loop.stop()
        if self.service.running:
            yield self.service.stopService()
        self.capture.flush()
        self.forwarder.flush()
        self.store.stopService()
        return {"status": self.status()}

    def ended(self) -> None:
        if self.store.running:
            self.store.stopService()
        if self.reactor.running:
            self.reactor.stop()


def main(argv: list[str]) -> None:
    """``python -m dlmstw.server.worker LAB_INI INDEX COUNT OVERRIDES``: worker
    INDEX of COUNT, serving the lab of LAB_INI with twistd's command-line
    overrides (a JSON object of ``[simulator]`` keys)."""
    config, worker, workers, overrides = argv[0], int(argv[1]), int(argv[2]), json.loads(argv[3])
    lab = with_overrides(load_lab(config), overrides)

    chosen = placement(lab, workers)

    def channel(reactor: Any) -> Worker:
        capture = CaptureBus(reactor.callLater)
        service = LabService(lab, load_registry(), capture,
                             hosted=lambda position: chosen[position] == worker, reactor=reactor)
        freeze_built_objects()
        return Worker(service, capture, reactor, f"worker-{worker}-of-{workers}")

    run_child(channel)


if __name__ == "__main__":
    main(sys.argv[1:])

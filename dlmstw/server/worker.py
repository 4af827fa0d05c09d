"""One worker process of a lab with several (``server.workers``): serves its
share of the meters and reports to the twistd process over stdio.

    python -m dlmstw.server.worker LAB.ini INDEX COUNT
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.stdio import StandardIO
from twisted.internet.task import LoopingCall
from twisted.logger import LogEvent, formatEvent, globalLogBeginner

from ..config import load_lab
from ..monitor.capture import CaptureBus, Exchange, PausableObserver
from .registry import load_registry
from .reconfigure import ReconfigureError
from .service import LabService
from .state import StateStore
from .workers import Messages, hosted_by

#: Seconds between two batches of captured exchanges, and between two statuses.
CAPTURE_SECONDS = 0.1
STATUS_SECONDS = 1.0


class Forwarder(PausableObserver):
    """Captured exchanges, batched to the twistd process; while the pipe is
    full (the transport pauses us) they are dropped and counted."""

    def __init__(self, channel: Messages) -> None:
        super().__init__()
        self.channel = channel
        self.batch: list[tuple[Any, ...]] = []

    def __call__(self, exchange: Exchange) -> None:
        if self.paused:
            self.dropped += 1
            return
        self.batch.append(tuple([getattr(exchange, name) for name in Exchange.__slots__]))

    def flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.channel.send(("capture", batch))

def log_text(event: LogEvent) -> str:
    """An event's message, with its traceback if it has one (the twistd
    process stamps the time)."""
    text = formatEvent(event)
    failure = event.get("log_failure")
    return text if failure is None else f"{text}\n{failure.getTraceback()}"


def status(service: LabService) -> dict[str, dict[str, Any]]:
    return {meter_id: {
        "connections": factory.connections, "counters": dict(factory.counters), "online": factory.online,
        "load_profile_period": factory.meter.load_profile_period,
        "load_profile_days": factory.meter.load_profile_days,
        "keys": {a: dict(k) for a, k in factory.security.keys.items()},
        "client_titles": dict(factory.security.client_titles),
    } for meter_id, factory in service.factories.items()}


def main(argv: list[str]) -> None:
    from twisted.internet import reactor

    config, worker, workers = argv[0], int(argv[1]), int(argv[2])
    lab = load_lab(config)
    capture = CaptureBus(reactor.callLater)
    service = LabService(lab, load_registry(), capture, hosted=lambda position: hosted_by(position, worker, workers))
    factories = service.factories.values()
    store = StateStore(lab.simulator.state_dir, [f.meter for f in factories] + [f.security for f in factories],
                       reactor)

    def received(message: Any) -> None:
        if message[0] == "reconfigure":
            _, asked, meter_id, changes = message
            try:
                service.reconfigure(meter_id, changes)
            except ReconfigureError as error:
                channel.send(("answer", asked, str(error)))
            else:
                channel.send(("status", status(service)))
                channel.send(("answer", asked, None))

    channel = Messages(received, lambda: reactor.stop())  # type: ignore[attr-defined]
    StandardIO(channel)
    globalLogBeginner.beginLoggingTo([lambda event: channel.send(("log", log_text(event)))],
                                     redirectStandardIO=False)
    forwarder = Forwarder(channel)
    channel.transport.registerProducer(forwarder, True)
    capture.subscribe(forwarder)
    LoopingCall(forwarder.flush).start(CAPTURE_SECONDS, now=False)
    LoopingCall(lambda: channel.send(("status", status(service)))).start(STATUS_SECONDS)
    store.startService()
    service.startService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.addSystemEventTrigger("before", "shutdown", store.stopService)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1:])

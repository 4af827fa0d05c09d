"""Meters hosted by several processes (lab.ini ``workers``), each well below
the per-process open-file limit and each on a core of its own.

The twistd process keeps the console and the packet log; worker ``i`` of
``n`` (``python -m dlmstw.server.worker LAB.ini i n``) serves every meter whose
position in the lab is ``i`` modulo ``n``, saves their state, and talks to
the twistd process over its standard input and output in length-prefixed
pickled messages (both ends are this program):

- worker → twistd: ``("capture", [exchange fields...])`` batches of captured
  exchanges, ``("status", {meter: {...}})`` once a second, ``("answer", id, error)``,
  ``("log", text)``;
- twistd → worker: ``("reconfigure", id, meter, changes)``.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
from types import SimpleNamespace
from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.endpoints import ProcessEndpoint, connectProtocol
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver

from ..config import Lab, MeterConfig
from ..dissector import Keys
from ..monitor.capture import CaptureBus, Exchange
from .reconfigure import ReconfigureError

log = Logger()
#: Open files a worker plans for at the most: each meter's listening socket and
#: its clients' connections (the limit per process is 20,000).
FILES_PER_WORKER = 15_000
#: The largest message between the processes.
MAX_MESSAGE = 64 << 20


def worker_count(lab: Lab) -> int:
    """``workers`` of lab.ini, or for ``auto`` as many processes as it takes
    to keep each below ``FILES_PER_WORKER`` open files."""
    if lab.simulator.workers is not None:
        return lab.simulator.workers
    files = sum(1 + meter.max_clients for meter in lab.meters())
    return max(1, math.ceil(files / FILES_PER_WORKER))


def first_of_each_group(lab: Lab) -> Callable[[int], bool]:
    """Whether a position is the first meter of its group."""
    firsts, position = set(), 0
    for group in lab.groups:
        firsts.add(position)
        position += group.count
    return firsts.__contains__


def hosted_by(position: int, worker: int, workers: int) -> bool:
    """Whether the meter at ``position`` in the lab is worker ``worker``'s."""
    return position % workers == worker


class Messages(Int32StringReceiver):
    """Pickled messages with a 32-bit length in front, between the processes."""

    MAX_LENGTH = MAX_MESSAGE

    def __init__(self, receive: Callable[[Any], None], lost: Callable[[], None]) -> None:
        self.receive = receive
        self.lost = lost

    def send(self, message: Any) -> None:
        self.sendString(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def stringReceived(self, string: bytes) -> None:
        self.receive(pickle.loads(string))

    def connectionLost(self, reason: object = None) -> None:
        self.lost()


class MeterView:
    """What the twistd process knows of a meter another process serves,
    from that process's last status (the console reads it as a factory)."""

    def __init__(self, config: MeterConfig) -> None:
        self.connections = 0
        self.counters: dict[str, int] = {}
        self.online = True
        self.meter = SimpleNamespace(load_profile_period=config.load_profile_interval * 60,
                                     load_profile_days=config.load_profile_days)
        self.keys: dict[str, dict[str, bytes]] = {}
        self.client_titles: dict[str, bytes] = {}
        self.system_title = config.system_title

    def update(self, status: dict[str, Any]) -> None:
        self.connections = status["connections"]
        self.counters = status["counters"]
        self.online = status["online"]
        self.meter.load_profile_period = status["load_profile_period"]
        self.meter.load_profile_days = status["load_profile_days"]
        self.keys = status["keys"]
        self.client_titles = status["client_titles"]


class WorkerPool(Service):
    """The worker processes, seen by the console and the packet log as one lab."""

    def __init__(self, config_path: str, lab: Lab, capture: CaptureBus, workers: int, reactor: Any,
                 object_names: dict[bytes, str]) -> None:
        self.config_path = os.path.abspath(config_path)
        self.lab = lab
        self.capture = capture
        self.workers = workers
        self.reactor = reactor
        self.names = object_names
        meters = list(lab.meters())
        self.meter_configs = {meter.id: meter for meter in meters}
        self.factories = {meter.id: MeterView(meter) for meter in meters}
        self.owner = {meter.id: position % workers for position, meter in enumerate(meters)}
        self.channels: dict[int, Messages] = {}
        self.ended: dict[int, Deferred[None]] = {}
        self.waiting: dict[int, Deferred[None]] = {}
        self.asked = 0
        self.stopping = False

    def object_names(self) -> dict[bytes, str]:
        return self.names

    def startService(self) -> None:
        super().startService()
        for worker in range(self.workers):
            self._start(worker)

    def _start(self, worker: int) -> None:
        endpoint = ProcessEndpoint(self.reactor, sys.executable,
                                   [sys.executable, "-m", "dlmstw.server.worker", self.config_path,
                                    str(worker), str(self.workers)], env=os.environ)
        channel = Messages(lambda message: self._received(worker, message), lambda: self._lost(worker))
        connectProtocol(endpoint, channel).addCallbacks(
            lambda _: self.channels.__setitem__(worker, channel),
            lambda failure: log.failure("worker {worker} did not start", failure, worker=worker))

    def _lost(self, worker: int) -> None:
        self.channels.pop(worker, None)
        ended = self.ended.pop(worker, None)
        if ended is not None:
            ended.callback(None)
        if not self.stopping:
            log.error("worker {worker} ended; starting it again", worker=worker)
            self._start(worker)

    def _received(self, worker: int, message: Any) -> None:
        kind = message[0]
        if kind == "capture":
            bus = self.capture
            for fields in message[1]:
                bus.publish(Exchange(bus.next_sequence(), *fields[1:]))
        elif kind == "status":
            for meter_id, status in message[1].items():
                self.factories[meter_id].update(status)
        elif kind == "log":
            log.info("worker {worker}: {text}", worker=worker, text=message[1].rstrip())
        elif kind == "answer":
            waiting = self.waiting.pop(message[1], None)
            if waiting is not None:
                if message[2] is None:
                    waiting.callback(None)
                else:
                    waiting.errback(ReconfigureError(message[2]))

    def reconfigure(self, meter_id: str, changes: dict[str, Any]) -> Deferred[None]:
        """Ask the meter's worker to change it; fails with ReconfigureError."""
        channel = self.channels.get(self.owner[meter_id])
        if channel is None:
            raise ReconfigureError(f"the process serving {meter_id} is not running")
        self.asked += 1
        waiting: Deferred[None] = Deferred()
        self.waiting[self.asked] = waiting
        channel.send(("reconfigure", self.asked, meter_id, changes))
        return waiting

    def keys_for(self, exchange: Exchange) -> tuple[Keys | None, Keys | None]:
        """The keys that decipher an exchange, from its worker's last status."""
        view = self.factories.get(exchange.meter)
        config = None if view is None else self.meter_configs[exchange.meter]
        association = None if config is None else next(
            (a for a in config.associations if a.client_sap == exchange.client_sap), None)
        if view is None or association is None:
            return None, None
        changed = view.keys.get(association.name, {})
        block_cipher_key = changed.get("block_cipher_key", association.block_cipher_key)
        if block_cipher_key is None:
            return None, None
        authentication_key = changed.get("authentication_key", association.authentication_key) or b""
        return (Keys(block_cipher_key, authentication_key, view.client_titles.get(association.name)),
                Keys(block_cipher_key, authentication_key, view.system_title))

    def stopService(self) -> Deferred[Any]:
        """Close the workers' input; they save their meters and end."""
        super().stopService()
        self.stopping = True
        for worker, channel in tuple(self.channels.items()):
            self.ended[worker] = Deferred()
            channel.transport.loseConnection()
        ended = DeferredList(list(self.ended.values()))
        timer = self.reactor.callLater(30, ended.cancel)
        return ended.addBoth(lambda result: timer.cancel() if timer.active() else None)

"""Meters hosted by several processes (lab.ini ``workers``), each well below
the per-process open-file limit and each on a core of its own.

The twistd process keeps the console and the packet log. Worker ``i`` of
``n`` (``python -m dlmstw.server.worker LAB.ini i n``, a child started with
``ProcessEndpoint``) serves every meter whose position in the lab is ``i``
modulo ``n`` (the meters behind a gateway go with their group's first) and
saves their state; the two talk by AMP (``server.channel``).
A worker that ends unexpectedly is started again with its meters; one that
cannot listen at start stops the lab with the line that says why.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import Counter
from typing import Any, Callable, Mapping

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, gatherResults, succeed
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.endpoints import ProcessEndpoint, connectProtocol
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from ..config import Lab, MeterConfig
from ..monitor.capture import CaptureBus, Exchange
from .channel import (child_argv, unless_gone, ProcessChannel, Captured, ChangedKeys, ListenError, Log,
                      Reconfigure, RefusedChange, ScenarioApply, ScenarioReset, Start, Status, Stop, Values)
from .reconfigure import ReconfigureError

log = Logger()
#: Open files a worker plans for at the most: each meter's listening socket and
#: the connections its ``max_connections`` budget admits (the limit per process
#: is 20,000; the rest is for its pipes, journal and state files).
FILES_PER_WORKER = 19_000
#: Seconds a stopping worker has to end before it is killed.
STOP_SECONDS = 4.0
#: Seconds before a worker that ended is started again (doubling while it keeps ending at once).
RESTART_SECONDS = 0.2
MAX_RESTART_SECONDS = 10.0


def worker_count(lab: Lab) -> int:
    """``workers`` of lab.ini, or for ``auto`` as many processes as it takes
    to keep each below ``FILES_PER_WORKER`` open files: a listening socket per
    meter (one for all the meters behind a gateway), and the shared connection
    budget (``max_connections``) per process."""
    if lab.simulator.workers is not None:
        return lab.simulator.workers
    sockets = sum(min(len(lab.served(group)), 1) if group.gateway is not None else len(lab.served(group))
                  for group in lab.groups)
    return max(1, math.ceil(sockets / (FILES_PER_WORKER - lab.simulator.max_connections)))


def first_of_each_group(lab: Lab) -> Callable[[int], bool]:
    """Whether a position (in ``lab.meters()``) is the first meter of its group."""
    firsts, position = set(), 0
    for group in lab.groups:
        served = len(lab.served(group))
        if served:
            firsts.add(position)
        position += served
    return firsts.__contains__


def placement(lab: Lab, workers: int) -> list[int]:
    """The worker of each meter, by position in ``lab.meters()``: the position
    modulo ``workers``, but the meters behind a gateway share one port, so they
    all go with the first of their group. Worked out from the groups, without
    making the meters."""
    chosen: list[int] = []
    for group in lab.groups:
        first, served = len(chosen), len(lab.served(group))
        if group.gateway is not None:
            chosen.extend([first % workers] * served)
        else:
            chosen.extend((first + offset) % workers for offset in range(served))
    return chosen


class MeterView:
    """What the twistd process knows of a meter another process serves,
    from the statuses of that process (the console reads it as a factory,
    and as the factory's runtime for the load profile settings). A status
    names only the meters that changed since the one before
    (``worker.StatusReport``)."""

    __slots__ = ("connections", "counters", "online", "load_profile_period", "load_profile_days", "worker")

    def __init__(self, config: MeterConfig, worker: WorkerState) -> None:
        self.worker = worker
        self.reset(config)

    def reset(self, config: MeterConfig) -> None:
        """Back to lab.ini's settings, as a new worker process starts the meter
        (the worker's totals are reset with it)."""
        self.connections = 0
        self.counters: dict[str, int] = {}
        self.online = True
        self.load_profile_period = config.load_profile_interval * 60
        self.load_profile_days = config.load_profile_days

    @property
    def meter(self) -> MeterView:
        return self

    def update(self, status: dict[str, Any]) -> None:
        """Take a meter's status; its connections and counts go into its worker's totals."""
        worker = self.worker
        worker.clients += status["connections"] - self.connections
        worker.results.subtract(self.counters)
        worker.results.update(status["counters"])
        self.connections = status["connections"]
        self.counters = status["counters"]
        self.online = status["online"]
        self.load_profile_period = status["load_profile_period"]
        self.load_profile_days = status["load_profile_days"]


class WorkerState:
    """One worker process as the console shows it."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.pid: int | None = None
        #: starting, running, restarting, stopping or stopped.
        self.state = "starting"
        self.restarts = 0
        self.started = 0.0
        #: The worker's capture counts, from its last status (they restart with the process).
        self.published = self.dropped = 0
        #: The counts of its earlier processes.
        self.published_before = self.dropped_before = 0
        #: Its meters' connections and capture counts by result, summed (``/metrics``).
        self.clients = 0
        self.results: Counter[str] = Counter()

    def summary(self) -> dict[str, Any]:
        return {"index": self.index, "pid": self.pid, "state": self.state, "restarts": self.restarts}


class WorkerChannel(ProcessChannel):
    """The twistd process's end of one worker's channel."""

    def __init__(self, pool: WorkerPool, worker: WorkerState) -> None:
        super().__init__()
        self.pool = pool
        self.worker = worker

    @Captured.responder
    def captured(self, records: list[Exchange]) -> dict[str, Any]:
        relay = self.pool.capture.relay
        for exchange in records:
            relay(exchange)
        return {}

    @Status.responder
    def status(self, status: dict[str, Any]) -> dict[str, Any]:
        self.pool.update(self.worker, status)
        return {}

    @Log.responder
    def log_line(self, level: str, text: str) -> dict[str, Any]:
        try:
            chosen = LogLevel.levelWithName(level)
        except Exception:
            chosen = LogLevel.info
        log.emit(chosen, "worker {worker}: {text}", worker=self.worker.index, text=text.rstrip())
        return {}

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        self.pool.ended(self.worker, self, reason)


class WorkerPool(Service):
    """The worker processes, seen by the console and the packet log as one lab."""

    def __init__(self, config_path: str, lab: Lab, capture: CaptureBus, workers: int, reactor: Any,
                 object_names: dict[bytes, str], fail: Callable[[str], None],
                 overrides: Mapping[str, str | None] | None = None) -> None:
        self.config_path = os.path.abspath(config_path)
        #: twistd's command-line overrides of lab.ini, which the workers apply too.
        self.overrides = dict(overrides or {})
        self.lab = lab
        self.capture = capture
        self.reactor = reactor
        self.names = object_names
        #: Called with the line that says why the lab cannot start.
        self.fail = fail
        self.workers = [WorkerState(index) for index in range(workers)]
        meters = list(lab.meters())
        self.meter_configs = {meter.id: meter for meter in meters}
        chosen = placement(lab, workers)
        self.factories = {meter.id: MeterView(meter, self.workers[chosen[position]])
                          for position, meter in enumerate(meters)}
        self.channels: dict[int, WorkerChannel] = {}
        self.ending: dict[int, Deferred[None]] = {}
        self.stopping = False
        #: Waiting for every worker to run its meters the first time (``when_ready``).
        self._ready: list[Deferred[None]] | None = []
        #: Called with a worker's meters when it runs them again after it ended (``ScenarioRunner.replay``).
        self.on_restart: Callable[[list[str]], None] | None = None

    def object_names(self) -> dict[bytes, str]:
        return self.names

    @property
    def published(self) -> int:
        return sum(w.published + w.published_before for w in self.workers)

    @property
    def dropped(self) -> int:
        return sum(w.dropped + w.dropped_before for w in self.workers)

    def totals(self) -> tuple[int, Counter[str]]:
        """Connected clients and capture counts by result over all meters,
        from each worker's running sums (not a walk over the meters)."""
        results: Counter[str] = Counter()
        for worker in self.workers:
            results.update(worker.results)
        return sum(worker.clients for worker in self.workers), +results

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self.workers)

    def startService(self) -> None:
        super().startService()
        for worker in self.workers:
            self._start(worker)

    def _start(self, worker: WorkerState) -> None:
        worker.started = time.monotonic()
        argv = child_argv("dlmstw.server.worker", self.config_path, str(worker.index), str(len(self.workers)),
                          json.dumps(self.overrides))
        channel = WorkerChannel(self, worker)
        connected = connectProtocol(ProcessEndpoint(self.reactor, sys.executable, argv, env=os.environ), channel)
        connected.addCallback(lambda _: self._started(worker, channel))
        connected.addErrback(lambda failure: self.fail(f"worker {worker.index} could not start: {failure.value}"))

    def _started(self, worker: WorkerState, channel: WorkerChannel) -> None:
        self.channels[worker.index] = channel
        worker.pid = channel.transport.pid

        def listening(answer: dict[str, int]) -> None:
            worker.state = "running"
            log.info("worker {index} (pid {pid}): {listening} of {meters} meters listening",
                     index=worker.index, pid=worker.pid, **answer)
            if self._ready is not None and all(w.state == "running" for w in self.workers):
                waiting, self._ready = self._ready, None
                for ready in waiting:
                    ready.callback(None)
            if worker.restarts and self.on_restart is not None:
                self.on_restart([m for m, view in self.factories.items() if view.worker is worker])

        def refused(failure: Failure) -> None:
            failure.trap(ListenError)
            if worker.restarts == 0 and not self.stopping:
                self.fail(str(failure.value))
            else:
                log.error("worker {index}: {error}", index=worker.index, error=str(failure.value))
                channel.transport.loseConnection()

        channel.callRemote(Start).addCallbacks(listening, refused).addErrback(
            unless_gone(f"starting worker {worker.index}"))

    def update(self, worker: WorkerState, status: dict[str, Any]) -> None:
        worker.published, worker.dropped = status["published"], status["dropped"]
        for meter_id, meter in status["meters"].items():
            view = self.factories.get(meter_id)
            if view is not None:
                view.update(meter)

    def ended(self, worker: WorkerState, channel: WorkerChannel, reason: Failure) -> None:
        """A worker's process ended: as asked, or unexpectedly (then it starts again)."""
        if self.channels.get(worker.index) is channel:
            del self.channels[worker.index]
        worker.published_before += worker.published
        worker.dropped_before += worker.dropped
        worker.published = worker.dropped = 0
        ending = self.ending.pop(worker.index, None)
        if ending is not None or self.stopping:
            worker.state = "stopped"
            if ending is not None:
                ending.callback(None)
            return
        worker.restarts += 1
        worker.state = "restarting"
        # The new process starts its meters from lab.ini and reports only what changes from there.
        for meter_id, view in self.factories.items():
            if view.worker is worker:
                view.reset(self.meter_configs[meter_id])
        worker.clients = 0
        worker.results.clear()
        quick = time.monotonic() - worker.started < 1.0
        delay = min(MAX_RESTART_SECONDS, RESTART_SECONDS * (2 ** min(worker.restarts, 10))) if quick \
            else RESTART_SECONDS
        log.error("worker {index} (pid {pid}) ended ({why}); starting it again with its meters in {delay:.1f} s",
                  index=worker.index, pid=worker.pid, why=reason.getErrorMessage(), delay=delay)
        self.reactor.callLater(delay, self._restart, worker)

    def _restart(self, worker: WorkerState) -> None:
        if not self.stopping:
            self._start(worker)

    def reconfigure(self, meter_id: str, changes: dict[str, Any]) -> Deferred[None]:
        """Ask the meter's worker to change it; fails with ReconfigureError."""
        view = self.factories[meter_id]
        channel = self.channels.get(view.worker.index)
        if channel is None or view.worker.state != "running":
            raise ReconfigureError(f"the process serving {meter_id} is not running")

        def refused(failure: Failure) -> None:
            failure.trap(RefusedChange)
            raise ReconfigureError(str(failure.value))

        done = channel.callRemote(Reconfigure, meter=meter_id, changes=changes)
        return done.addCallbacks(lambda answer: self.update(view.worker, answer["status"]), refused)

    def _by_worker(self, meter_ids: list[str]) -> dict[int, list[str]]:
        """``meter_ids`` by the index of the worker serving them, in their order."""
        by_worker: dict[int, list[str]] = {}
        for meter_id in meter_ids:
            by_worker.setdefault(self.factories[meter_id].worker.index, []).append(meter_id)
        return by_worker

    def when_ready(self) -> Deferred[None]:
        """Fires once every worker runs its meters (at once after the first time)."""
        if self._ready is None:
            return succeed(None)
        ready: Deferred[None] = Deferred()
        self._ready.append(ready)
        return ready

    def apply_scenario(self, meter_ids: list[str], operation: dict[str, Any], step: str,
                       revert: bool) -> Deferred[int]:
        """A scenario step on ``meter_ids``: one ``ScenarioApply`` per worker
        serving some of them, with its share of the ids. Fires with how many
        meters it reached; a worker not running is skipped and logged."""
        calls = []
        for index, meters in self._by_worker(meter_ids).items():
            channel = self.channels.get(index)
            worker = self.workers[index]
            if channel is None or worker.state != "running":
                log.error("scenario step {step}: worker {index} is not running; its {count} meters miss the step",
                          step=step, index=index, count=len(meters))
                continue

            def applied(answer: dict[str, Any], worker: WorkerState = worker) -> int:
                self.update(worker, answer["status"])
                if answer["refusal"]:
                    log.error("scenario step {step}: {refusal}", step=step, refusal=answer["refusal"])
                return int(answer["reached"])

            calls.append(channel.callRemote(ScenarioApply, meters=meters, operation=operation, step=step,
                                            revert=revert).addCallback(applied))
        return gatherResults(calls, consumeErrors=True).addCallback(sum)

    def reset_scenario(self) -> Deferred[None]:
        """Undo the scenario in every running worker; fails with the first
        refusal (ReconfigureError) once every worker answered."""
        def reset(answer: dict[str, Any], worker: WorkerState) -> str:
            self.update(worker, answer["status"])
            return str(answer["refusal"])

        def refused(refusals: list[str]) -> None:
            first = next((refusal for refusal in refusals if refusal), None)
            if first is not None:
                raise ReconfigureError(first)

        calls = [channel.callRemote(ScenarioReset).addCallback(reset, self.workers[index])
                 for index, channel in self.channels.items() if self.workers[index].state == "running"]
        return gatherResults(calls, consumeErrors=True).addCallback(refused)

    def values(self, meter_id: str) -> Deferred[dict[str, Any]]:
        """The meter's live values, from its worker; ReconfigureError when that is not running."""
        view = self.factories[meter_id]
        channel = self.channels.get(view.worker.index)
        if channel is None or view.worker.state != "running":
            raise ReconfigureError(f"the process serving {meter_id} is not running")
        return channel.callRemote(Values, meter=meter_id).addCallback(lambda answer: answer["values"])

    def changed_keys(self, meter_ids: list[str]) -> Deferred[dict[str, dict[str, dict[str, bytes]]]]:
        """The keys changed since lab.ini of each of ``meter_ids``, asked of the
        workers that serve them (one call each); ReconfigureError when one is not running."""
        calls = []
        for index, meters in self._by_worker(meter_ids).items():
            channel = self.channels.get(index)
            if channel is None or self.workers[index].state != "running":
                raise ReconfigureError(f"the process serving {meters[0]} is not running")
            calls.append(channel.callRemote(ChangedKeys, meters=meters))

        def merged(answers: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, bytes]]]:
            return {m: {a: {n: bytes.fromhex(k) for n, k in ks.items()} for a, ks in keys.items()}
                    for answer in answers for m, keys in answer["keys"].items()}

        return gatherResults(calls, consumeErrors=True).addCallback(merged)

    def stopService(self) -> Deferred[Any]:
        """Ask every worker to stop its meters and hand over its last records,
        then close its input so that it ends; one that does not end within
        ``STOP_SECONDS`` is killed."""
        super().stopService()
        self.stopping = True
        waits = []
        for index, channel in tuple(self.channels.items()):
            worker = self.workers[index]
            worker.state = "stopping"
            ending: Deferred[None] = Deferred()
            self.ending[index] = ending
            waits.append(ending)

            def stopped(answer: Any, channel: WorkerChannel = channel, worker: WorkerState = worker) -> None:
                if isinstance(answer, dict):
                    self.update(worker, answer["status"])
                channel.transport.loseConnection()

            channel.callRemote(Stop).addBoth(stopped)
            timer = self.reactor.callLater(STOP_SECONDS, self._kill, channel, worker)
            ending.addBoth(lambda result, timer=timer: timer.cancel() if timer.active() else None)
        return DeferredList(waits)

    def _kill(self, channel: WorkerChannel, worker: WorkerState) -> None:
        log.error("worker {index} (pid {pid}) did not stop in {seconds} s; killing it",
                  index=worker.index, pid=worker.pid, seconds=STOP_SECONDS)
        try:
            channel.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

"""KPI campaigns: many meters, the same reading again and again, at most
``concurrency`` associations open at once (``dlmstw-client campaign``).

One *association attempt* is: connect, associate (AARQ/AARE, and the HLS
passes), GET every attribute of the list (one GET-Request-With-List with
``with_list``), release (RLRQ/RLRE), close. Its *data acquisition time* runs
from the start of the TCP connect to the RLRE, split into those four phases.
A slot is taken before the connect starts, so the wait for a slot is never
part of it. An attempt fails at its first error, which gives its failure
name (DESIGN.md "Result names": ``connect-refused``, ``timeout``,
``association-rejected:<diagnostic>`` ...); a failed attempt may be retried
(``retries``), each try being an attempt of its own.

Scheduling costs O(1) per attempt and a few octets per meter: the clients
(``clients_per_meter`` per meter) wait in one FIFO queue of integers; each of
``concurrency`` workers takes the next client, runs one attempt, and puts the
client back at the end while it has repetitions left (or the duration has not
passed), no sooner than ``interval`` after its attempt ended. A client is in
the queue at most once, so one client never runs two attempts at a time.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.interfaces import IReactorTCP
from twisted.internet.task import deferLater

from dlmstw.client.outcomes import DataAccessFailed, ReleaseFailed, failure_name
from dlmstw.client.protocol import DlmsClientProtocol, connect
from dlmstw.client.session import ClientSession
from dlmstw.codec.results import SUCCESS
from dlmstw.codec.services import CosemAttributeDescriptor, SelectiveAccess
from dlmstw.enums import DataAccessResult, DataType

PHASES: Final = ("connect", "association", "reads", "release")
"""The parts of an acquisition time, in order."""


@dataclass(frozen=True, slots=True)
class Meter:
    """One meter of the campaign: where it listens."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_meters(text: str) -> list[Meter]:
    """``HOST:PORT`` or ``HOST:FIRST-LAST`` (a port range, both ends included); ValueError otherwise."""
    host, colon, ports = text.strip().rpartition(":")
    first, dash, last = ports.partition("-")
    if not colon or not host or not first.isdigit() or (dash and not last.isdigit()):
        raise ValueError(f"{text!r}: expected HOST:PORT or HOST:FIRST-LAST")
    low, high = int(first), int(last) if dash else int(first)
    if not 0 < low <= high < 65536:
        raise ValueError(f"{text!r}: ports must be 1..65535, first not above last")
    return [Meter(host, port) for port in range(low, high + 1)]


def parse_meter_list(text: str) -> list[Meter]:
    """Comma-separated ``HOST:PORT`` / ``HOST:FIRST-LAST``, over any number of hosts."""
    return [meter for part in text.split(",") if part.strip() for meter in parse_meters(part)]


Read = tuple[CosemAttributeDescriptor, SelectiveAccess | None]
"""One attribute every attempt reads, with its selective access (a profile window) or None."""


@dataclass(frozen=True, slots=True)
class Campaign:
    """What to run: meters, what each attempt reads, clients per meter, how often, how many at once."""

    meters: Sequence[Meter]
    reads: tuple[Read, ...]
    new_session: Callable[[int], ClientSession]
    """A session for client ``index`` (meter m's client c is m x clients_per_meter + c; the
    same index for every attempt of that client, so its invocation counters keep increasing)."""
    clients_per_meter: int = 1
    repetitions: int | None = 1
    """Attempts per client (None: until ``duration`` has passed)."""
    duration: float | None = None
    interval: float = 0.0
    concurrency: int = 256
    timeout: float = 10.0
    with_list: bool = False
    retries: int = 0

    @property
    def clients(self) -> int:
        return len(self.meters) * self.clients_per_meter

    @property
    def planned(self) -> int | None:
        """Attempts without retries, when the campaign counts repetitions."""
        return None if self.repetitions is None else self.clients * self.repetitions


class Attempt(NamedTuple):
    """One association attempt (one CSV row): times in seconds, NaN for a phase not finished."""

    meter: int
    client: int
    repetition: int
    retry: int
    start: float
    """Since the campaign started."""
    connect: float
    association: float
    reads: float
    release: float
    total: float
    """Connect to RLRE for a success; connect to the failure otherwise."""
    result: str
    """``success`` or the failure name."""
    phase: str
    """The phase it failed in; empty for a success."""
    bytes_sent: int
    bytes_received: int
    rows: int


@dataclass(slots=True)
class CampaignRun:
    """Attempts gathered while a campaign runs, and its progress."""

    attempts: list[Attempt] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    finished: float = 0.0
    failures: int = 0
    interrupted: bool = False
    """Set (e.g. by Ctrl-C) to start no more attempts; those under way finish."""

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started


def _rows(value: Any) -> int:
    """Rows of a profile buffer (an array of structures), else 0."""
    if isinstance(value, tuple) and value[0] == DataType.ARRAY and value[1] and value[1][0][0] == DataType.STRUCTURE:
        return len(value[1])
    return 0


class _Runner:
    """The workers of one campaign; see the module docstring."""

    def __init__(self, reactor: IReactorTCP, campaign: Campaign, run: CampaignRun) -> None:
        self.reactor = reactor
        self.campaign = campaign
        self.run = run
        self.queue: deque[int] = deque(range(campaign.clients))
        self.done = array("I", bytes(4 * campaign.clients))
        self.ready_at = array("d", bytes(8 * campaign.clients)) if campaign.interval > 0 else None
        self.deadline = math.inf if campaign.duration is None else run.started + campaign.duration

    def start(self) -> Deferred[Any]:
        workers = [self._worker() for _ in range(min(self.campaign.concurrency, self.campaign.clients))]
        return DeferredList(workers, fireOnOneErrback=True, consumeErrors=True)

    @inlineCallbacks
    def _worker(self) -> Any:
        campaign, queue, done, run = self.campaign, self.queue, self.done, self.run
        while queue and not run.interrupted:
            client = queue.popleft()
            if self.ready_at is not None:
                wait = self.ready_at[client] - time.perf_counter()
                if wait > 0:
                    yield deferLater(self.reactor, wait, lambda: None)
            if time.perf_counter() >= self.deadline or run.interrupted:
                continue
            repetition = done[client]
            for retry in range(campaign.retries + 1):
                attempt = yield self._attempt(client, repetition, retry)
                if attempt.result == SUCCESS or run.interrupted:
                    break
            done[client] = repetition + 1
            now = time.perf_counter()
            if ((campaign.repetitions is None or repetition + 1 < campaign.repetitions) and now < self.deadline
                    and not run.interrupted):
                if self.ready_at is not None:
                    self.ready_at[client] = now + campaign.interval
                queue.append(client)

    @inlineCallbacks
    def _attempt(self, client: int, repetition: int, retry: int) -> Any:
        campaign, run = self.campaign, self.run
        meter_index = client // campaign.clients_per_meter
        meter = campaign.meters[meter_index]
        times = [math.nan] * 4
        phase = 0
        rows = 0
        protocol: DlmsClientProtocol | None = None
        begin = mark = time.perf_counter()
        try:
            protocol = yield connect(self.reactor, meter.host, meter.port, campaign.new_session(client),
                                     campaign.timeout)
            now = time.perf_counter()
            times[0], mark, phase = now - mark, now, 1
            yield protocol.associate()
            now = time.perf_counter()
            times[1], mark, phase = now - mark, now, 2
            if campaign.with_list:
                values = yield protocol.get_with_list(campaign.reads)
            else:
                values = []
                for descriptor, access in campaign.reads:
                    values.append((yield protocol.get(descriptor, access)))
            for (descriptor, _), value in zip(campaign.reads, values):
                if isinstance(value, DataAccessResult):
                    raise DataAccessFailed(descriptor, value)
                rows += _rows(value)
            now = time.perf_counter()
            times[2], mark, phase = now - mark, now, 3
            try:
                yield protocol.release()
            except Exception as error:
                raise ReleaseFailed(error) from error
            now = time.perf_counter()
            times[3] = now - mark
            result = SUCCESS
        except Exception as error:
            name = failure_name(error)
            if name is None:
                raise
            now = time.perf_counter()
            result = name
            run.failures += 1
        finally:
            if protocol is not None:
                protocol.close()
        attempt = Attempt(meter_index, client % campaign.clients_per_meter, repetition, retry, begin - run.started,
                          *times, now - begin, result, "" if result == SUCCESS else PHASES[phase],
                          protocol.bytes_sent if protocol else 0, protocol.bytes_received if protocol else 0, rows)
        run.attempts.append(attempt)
        return attempt


def run_campaign(reactor: IReactorTCP, campaign: Campaign, run: CampaignRun | None = None) -> Deferred[CampaignRun]:
    """Run ``campaign``; fires with its attempts when the last has ended. ``run``, when
    given, is the record to fill (a progress display may watch it meanwhile)."""
    record = CampaignRun() if run is None else run
    record.started = time.perf_counter()

    def finished(_: object) -> CampaignRun:
        record.finished = time.perf_counter()
        return record

    return _Runner(reactor, campaign, record).start().addCallback(finished)


# -- the report ---------------------------------------------------------------

PERCENTILES: Final = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def figures(seconds: Iterable[float]) -> dict[str, float] | None:
    """min / p50 / p90 / p99 / max / mean in milliseconds (rounded to the microsecond); None for no values."""
    ordered = sorted(seconds)
    if not ordered:
        return None
    result = {"min": round(ordered[0] * 1000, 3)}
    result.update((name, round(_percentile(ordered, fraction) * 1000, 3)) for name, fraction in PERCENTILES)
    result["max"] = round(ordered[-1] * 1000, 3)
    result["mean"] = round(sum(ordered) / len(ordered) * 1000, 3)
    return result


def _totals(attempts: Sequence[Attempt], phases: bool) -> dict[str, Any]:
    names = Counter(a.result for a in attempts if a.result != SUCCESS)
    failures = sum(names.values())
    successes = [a for a in attempts if a.result == SUCCESS]
    times: dict[str, Any] = {"total": figures(a.total for a in successes)}
    if phases:
        times.update((phase, figures(getattr(a, phase) for a in successes)) for phase in PHASES)
    return {
        "attempts": len(attempts),
        "successes": len(attempts) - failures,
        "failures": failures,
        "failure_rate": round(failures / len(attempts), 6) if attempts else 0.0,
        "failures_by_name": dict(sorted(names.items())),
        "retries": sum(1 for a in attempts if a.retry),
        "acquisition_time_ms": times if phases else times["total"],
    }


def report(campaign: Campaign, run: CampaignRun, attributes: Sequence[str]) -> dict[str, Any]:
    """The campaign's KPIs: acquisition time by phase with percentiles, failures by
    name, retries, bytes, rows and meters/s (meters that had an attempt, per second
    of the campaign), overall and per meter."""
    by_meter: list[list[Attempt]] = [[] for _ in campaign.meters]
    for attempt in run.attempts:
        by_meter[attempt.meter].append(attempt)
    elapsed = max(run.finished - run.started, 1e-9)
    return {
        "meters": len(campaign.meters),
        "clients_per_meter": campaign.clients_per_meter,
        "concurrency": campaign.concurrency,
        "attributes": list(attributes),
        "repetitions": campaign.repetitions,
        "duration_s": campaign.duration,
        "interval_s": campaign.interval,
        "with_list": campaign.with_list,
        "interrupted": run.interrupted,
        "elapsed_s": round(elapsed, 3),
        "meters_per_s": round(sum(1 for attempts in by_meter if attempts) / elapsed, 1),
        "attempts_per_s": round(len(run.attempts) / elapsed, 1),
        **_totals(run.attempts, True),
        "bytes_sent": sum(a.bytes_sent for a in run.attempts),
        "bytes_received": sum(a.bytes_received for a in run.attempts),
        "rows": sum(a.rows for a in run.attempts),
        "per_meter": [{"meter": str(meter), **_totals(attempts, False)}
                      for meter, attempts in zip(campaign.meters, by_meter)],
    }


CSV_FIELDS: Final = ("meter", "client", "repetition", "retry", "start_s", "result", "phase", "connect_ms",
                     "association_ms", "reads_ms", "release_ms", "acquisition_ms", "bytes_sent", "bytes_received",
                     "rows")
"""The columns of ``--csv``: one row per association attempt."""


def csv_rows(campaign: Campaign, run: CampaignRun) -> Iterable[tuple[Any, ...]]:
    """The attempts as CSV rows (times in ms, rounded as ``figures`` rounds them; empty for a phase not reached)."""
    def ms(seconds: float) -> str:
        return "" if math.isnan(seconds) else f"{round(seconds * 1000, 3)}"

    meters = campaign.meters
    for a in run.attempts:
        yield (str(meters[a.meter]), a.client, a.repetition, a.retry, f"{a.start:.6f}", a.result, a.phase,
               ms(a.connect), ms(a.association), ms(a.reads), ms(a.release), ms(a.total), a.bytes_sent,
               a.bytes_received, a.rows)

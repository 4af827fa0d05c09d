"""KPI campaigns: many meters, several concurrent clients per meter, the same
reading again and again (``dlmstw-client campaign``).

One *read* is: connect, associate (AARQ/AARE), GET every attribute of the
list, release (RLRQ/RLRE), close. Its *data acquisition time* runs from the
start of the TCP connect to the RLRE. A read fails at its first error, which
gives its failure kind; the *communication failure rate* is failed reads
over attempted reads. Each client does its reads one after another, for a
count of reads or until a duration has passed, waiting ``interval`` seconds
between two reads.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error as twisted_errors
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from dlmstw.client.protocol import (
    AssociationRefused,
    AuthenticationRefused,
    ConnectionClosed,
    DlmsClientProtocol,
    ResponseTimeout,
    ServiceRefused,
    connect,
)
from dlmstw.client.session import ClientProtocolError, ClientSession
from dlmstw.codec.services import CosemAttributeDescriptor
from dlmstw.enums import DataAccessResult
from dlmstw.errors import DecodeError

FAILURE_KINDS: tuple[str, ...] = (
    "connect-refused", "timeout", "association-rejected", "authentication-failed", "data-access-result", "service-error",
    "connection-lost", "protocol-error", "connect-error",
)
"""Every failure kind a report counts, in report order."""


class DataAccessFailed(Exception):
    """An attribute came back as a Data-Access-Result other than success."""

    def __init__(self, attribute: CosemAttributeDescriptor, result: DataAccessResult) -> None:
        super().__init__(f"{attribute}: {result.name.lower()}")
        self.result = result


_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (twisted_errors.ConnectionRefusedError, "connect-refused"),
    (ResponseTimeout, "timeout"),
    (twisted_errors.TimeoutError, "timeout"),
    (AssociationRefused, "association-rejected"),
    (AuthenticationRefused, "authentication-failed"),
    (DataAccessFailed, "data-access-result"),
    (ServiceRefused, "service-error"),
    (ConnectionClosed, "connection-lost"),
    (DecodeError, "protocol-error"),
    (ClientProtocolError, "protocol-error"),
    (twisted_errors.ConnectError, "connect-error"),
)


def failure_kind(failure: Failure) -> str:
    """The report's name for what made a read fail; unexpected errors are re-raised."""
    for kind_type, name in _KINDS:
        if failure.check(kind_type):
            return name
    failure.raiseException()


@dataclass(frozen=True, slots=True)
class Meter:
    """One meter of the campaign: where it listens."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_meters(text: str) -> list[Meter]:
    """``HOST:PORT`` or ``HOST:FIRST-LAST`` (a port range, both ends included); ValueError otherwise."""
    host, colon, ports = text.rpartition(":")
    first, dash, last = ports.partition("-")
    if not colon or not host or not first.isdigit() or (dash and not last.isdigit()):
        raise ValueError(f"{text!r}: expected HOST:PORT or HOST:FIRST-LAST")
    low, high = int(first), int(last) if dash else int(first)
    if not 0 < low <= high < 65536:
        raise ValueError(f"{text!r}: ports must be 1..65535, first not above last")
    return [Meter(host, port) for port in range(low, high + 1)]


@dataclass(frozen=True, slots=True)
class Campaign:
    """What to run: meters, attributes, clients per meter, and how long."""

    meters: Sequence[Meter]
    attributes: tuple[CosemAttributeDescriptor, ...]
    new_session: Callable[[int], ClientSession]
    """A session for client ``index`` (0 to meters x clients - 1, and the same index
    for every read of that client, so its invocation counters keep increasing)."""
    clients_per_meter: int = 1
    count: int | None = 1
    duration: float | None = None
    interval: float = 0.0
    timeout: float = 10.0
    with_list: bool = False


@dataclass(frozen=True, slots=True)
class ReadOutcome:
    """One read: which meter, how long it took, and its failure kind (None for success)."""

    meter: Meter
    seconds: float
    failure: str | None


@dataclass(slots=True)
class CampaignRun:
    """Outcomes gathered while a campaign runs."""

    outcomes: list[ReadOutcome] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0


@inlineCallbacks
def read_once(reactor: IReactorTCP, campaign: Campaign, meter: Meter, client: int = 0) -> Any:
    """One read of ``campaign.attributes`` from ``meter`` by client number ``client``;
    fires with None or fails with the first error."""
    protocol: DlmsClientProtocol = yield connect(reactor, meter.host, meter.port, campaign.new_session(client),
                                                 campaign.timeout)
    try:
        yield protocol.associate()
        if campaign.with_list:
            values = yield protocol.get_with_list(tuple((a, None) for a in campaign.attributes))
        else:
            values = []
            for attribute in campaign.attributes:
                values.append((yield protocol.get(attribute)))
        for attribute, value in zip(campaign.attributes, values):
            if isinstance(value, DataAccessResult):
                raise DataAccessFailed(attribute, value)
        yield protocol.release()
    finally:
        protocol.close()


@inlineCallbacks
def _client_loop(reactor: Any, campaign: Campaign, meter: Meter, client: int, run: CampaignRun,
                 deadline: float) -> Any:
    done = 0
    while (campaign.count is None or done < campaign.count) and time.monotonic() < deadline:
        if done and campaign.interval:
            yield deferLater(reactor, campaign.interval, lambda: None)
        begin = time.perf_counter()
        kind: str | None = None
        try:
            yield read_once(reactor, campaign, meter, client)
        except Exception:
            kind = failure_kind(Failure())
        run.outcomes.append(ReadOutcome(meter, time.perf_counter() - begin, kind))
        done += 1


def run_campaign(reactor: IReactorTime, campaign: Campaign) -> Deferred[CampaignRun]:
    """Start every client of every meter at once; fires with the outcomes when all have finished."""
    run = CampaignRun()
    deadline = math.inf if campaign.duration is None else run.started + campaign.duration
    clients = [meter for meter in campaign.meters for _ in range(campaign.clients_per_meter)]
    loops = [_client_loop(reactor, campaign, meter, client, run, deadline) for client, meter in enumerate(clients)]

    def finished(_: object) -> CampaignRun:
        run.finished = time.monotonic()
        return run

    return DeferredList(loops, fireOnOneErrback=True, consumeErrors=True).addCallback(finished)


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def acquisition_times(outcomes: Sequence[ReadOutcome]) -> dict[str, float] | None:
    """min / median / p95 / max / mean of the successful reads' times, in milliseconds; None if none succeeded."""
    ordered = sorted(o.seconds * 1000 for o in outcomes if o.failure is None)
    if not ordered:
        return None
    return {"min": round(ordered[0], 3), "median": round(statistics.median(ordered), 3),
            "p95": round(_percentile(ordered, 0.95), 3), "max": round(ordered[-1], 3),
            "mean": round(statistics.fmean(ordered), 3)}


def _totals(outcomes: Sequence[ReadOutcome]) -> dict[str, Any]:
    kinds = Counter(o.failure for o in outcomes if o.failure is not None)
    failures = sum(kinds.values())
    return {
        "attempts": len(outcomes),
        "successes": len(outcomes) - failures,
        "failures": failures,
        "failure_rate": round(failures / len(outcomes), 6) if outcomes else 0.0,
        "failures_by_kind": {kind: kinds[kind] for kind in FAILURE_KINDS},
        "acquisition_time_ms": acquisition_times(outcomes),
    }


def report(campaign: Campaign, run: CampaignRun) -> dict[str, Any]:
    """The campaign's KPIs (data acquisition time, communication failure rate), whole and per meter."""
    return {
        "meters": len(campaign.meters),
        "clients_per_meter": campaign.clients_per_meter,
        "attributes": [f"{a.class_id}/{'.'.join(map(str, a.instance_id))}:{a.attribute_id}"
                       for a in campaign.attributes],
        "count": campaign.count,
        "duration_s": campaign.duration,
        "elapsed_s": round(run.finished - run.started, 3),
        **_totals(run.outcomes),
        "per_meter": [{"meter": str(meter), **_totals([o for o in run.outcomes if o.meter == meter])}
                      for meter in campaign.meters],
    }

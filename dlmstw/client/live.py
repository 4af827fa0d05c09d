"""Campaigns started from the console, run by the campaign engine
(``client.campaign``) in the twistd process, watched while they run.

A plan names meters of the lab (ids, group names or ``all``), one of their
associations (not ciphered: its password or secret is the meter's current
one, as the console changed it), the attributes to read, the concurrency and
the repetitions. Twice a second a running campaign adds a point to its
timeline: attempts, failures and acquisition-time percentiles so far.
Campaigns are kept for the life of the process, the newest ``KEEP``.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from dlmstw.client.campaign import Campaign, CampaignRun, Meter, figures, report, run_campaign
from dlmstw.client.present import label
from dlmstw.client.reading import parse_target
from dlmstw.client.session import ClientSession
from dlmstw.codec.results import SUCCESS

KEEP: Final = 20
MAX_METERS: Final = 10_000
MAX_CONCURRENCY: Final = 1_024
MAX_REPETITIONS: Final = 10_000
MAX_ATTRIBUTES: Final = 16
SAMPLE_SECONDS: Final = 0.5
#: Timeline points kept per campaign; beyond, every other old point goes.
MAX_POINTS: Final = 400
TIMEOUT: Final = 10.0
#: The authentication mechanisms a console campaign uses: those that need no keys beyond a password or secret.
MECHANISMS: Final = ("none", "lls", "hls-md5", "hls-sha1", "hls-sha256")


def _whole(plan: Mapping[str, Any], name: str, default: int, high: int) -> int:
    value = plan.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{name}: a whole number 1 to {high}, not {value!r}")
    return value


class LiveCampaign:
    """One campaign and what is known of it so far."""

    def __init__(self, number: int, plan: dict[str, Any], campaign: Campaign, attributes: list[str]) -> None:
        self.id = number
        self.plan = plan
        self.campaign = campaign
        self.attributes = attributes
        self.run = CampaignRun()
        self.state = "running"
        self.error: str | None = None
        self.started_at = time.time()
        self.timeline: list[dict[str, Any]] = []

    def sample(self) -> None:
        attempts = self.run.attempts
        times = figures(a.total for a in attempts if a.result == SUCCESS) or {}
        self.timeline.append({"t": round(self.run.elapsed, 2), "attempts": len(attempts),
                              "failures": self.run.failures, "p50": times.get("p50"), "p90": times.get("p90"),
                              "p99": times.get("p99")})
        if len(self.timeline) > MAX_POINTS:
            self.timeline = self.timeline[::2]

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "error": self.error, "plan": self.plan,
                "started_at": self.started_at, "planned": self.campaign.planned,
                "attempts": len(self.run.attempts), "failures": self.run.failures}

    def document(self) -> dict[str, Any]:
        """The summary, the KPIs so far (``campaign.report`` without its per-meter part) and the timeline."""
        if self.state == "running":
            self.run.finished = time.perf_counter()
        kpis = report(self.campaign, self.run, self.attributes)
        if self.state == "running":
            self.run.finished = 0.0
        kpis.pop("per_meter", None)
        return {**self.summary(), "kpis": kpis, "timeline": self.timeline}


class LiveCampaigns:
    """The console's campaigns. ``lab`` is the running lab (``meter_configs``,
    and ``changed_keys`` of its meters), ``mechanisms`` the installed
    authentication mechanisms, ``classes`` the class of each logical name of
    the lab's models."""

    def __init__(self, reactor: Any, lab: Any, mechanisms: Mapping[str, Any], classes: Mapping[bytes, int]) -> None:
        self.reactor = reactor
        self.lab = lab
        self.mechanisms = mechanisms
        self.classes = classes
        self.campaigns: deque[LiveCampaign] = deque(maxlen=KEEP)
        self.numbers = itertools.count(1)

    def _meter_ids(self, text: Any) -> list[str]:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("meters: meter ids or group names, comma-separated, or all")
        configs = self.lab.meter_configs
        chosen: list[str] = []
        for name in (part.strip() for part in text.split(",") if part.strip()):
            if name == "all":
                chosen.extend(configs)
            elif name in configs:
                chosen.append(name)
            else:
                group = [m for m, config in configs.items() if config.group == name]
                if not group:
                    raise ValueError(f"meters: no meter or group {name!r}")
                chosen.extend(group)
        chosen = list(dict.fromkeys(chosen))
        if len(chosen) > MAX_METERS:
            raise ValueError(f"meters: at most {MAX_METERS:,} in one campaign, not {len(chosen):,}")
        other = [m for m in chosen if configs[m].transport != "wrapper"]
        if other:
            raise ValueError(f"meters: {other[0]} is not a wrapper meter over TCP (use dlmstw-client campaign)")
        return chosen

    def _reads(self, attributes: Any) -> tuple[tuple[Any, None], ...]:
        texts = attributes.split(",") if isinstance(attributes, str) else attributes
        if not isinstance(texts, list) or not texts or len(texts) > MAX_ATTRIBUTES:
            raise ValueError(f"attributes: 1 to {MAX_ATTRIBUTES} of [CLASS/]OBIS:ATTR")
        reads = []
        for text in texts:
            target = parse_target(str(text).strip())
            class_id = target.class_id if target.class_id is not None else self.classes.get(target.logical_name)
            if class_id is None:
                raise ValueError(f"attributes: {str(text).strip()!r} is no object of the lab's models")
            reads.append((target.descriptor(class_id), None))
        return tuple(reads)

    def start(self, plan: Any) -> Deferred[LiveCampaign]:
        """Check ``plan`` (ValueError saying what is wrong), then start it with
        each meter's current password or secret (asked of the lab)."""
        if not isinstance(plan, dict):
            raise ValueError("the plan must be a JSON object")
        unknown = sorted(set(plan) - {"meters", "association", "attributes", "concurrency", "repetitions"})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        ids = self._meter_ids(plan.get("meters"))
        configs = self.lab.meter_configs
        name = plan.get("association")
        association = next((a for a in configs[ids[0]].associations if a.name == name), None)
        if association is None:
            raise ValueError(f"association: {ids[0]} has no association {name!r}")
        if association.context != "ln" or association.security != "none":
            raise ValueError(f"association: {name} is ciphered; run it with dlmstw-client campaign")
        mechanism = self.mechanisms.get(association.authentication)
        if mechanism is None or association.authentication not in MECHANISMS:
            raise ValueError(f"association: {name} uses {association.authentication}; the console runs "
                             f"{', '.join(MECHANISMS)} (use dlmstw-client campaign)")
        reads = self._reads(plan.get("attributes"))
        concurrency = _whole(plan, "concurrency", 8, MAX_CONCURRENCY)
        repetitions = _whole(plan, "repetitions", 1, MAX_REPETITIONS)
        attributes = [label(d.class_id, d.instance_id, d.attribute_id) for d, _ in reads]
        shown = {"meters": plan["meters"], "association": name, "attributes": attributes,
                 "concurrency": concurrency, "repetitions": repetitions}
        key = "hls_secret" if mechanism.hls else "lls_password"

        def launch(changed: Mapping[str, Any]) -> LiveCampaign:
            secrets = [changed.get(m, {}).get(name, {}).get(key, getattr(association, key)) for m in ids]
            meters = [Meter(configs[m].interface, configs[m].port) for m in ids]
            campaign = Campaign(meters, reads, lambda client: ClientSession(association.client_sap, mechanism,
                                                                            secrets[client]),
                                1, repetitions, concurrency=concurrency, timeout=TIMEOUT)
            live = LiveCampaign(next(self.numbers), shown, campaign, attributes)
            self.campaigns.appendleft(live)
            self._run(live)
            return live

        return maybeDeferred(self.lab.changed_keys, ids).addCallback(launch)

    def _run(self, live: LiveCampaign) -> None:
        sampler = LoopingCall(live.sample)
        sampler.clock = self.reactor
        sampler.start(SAMPLE_SECONDS, now=False)

        def ended(outcome: object) -> None:
            if sampler.running:
                sampler.stop()
            live.sample()
            if isinstance(outcome, Failure):
                live.state, live.error = "failed", outcome.getErrorMessage()
            else:
                live.state = "stopped" if live.run.interrupted else "done"

        run_campaign(self.reactor, live.campaign, live.run).addBoth(ended)

    def find(self, number: int) -> LiveCampaign | None:
        return next((c for c in self.campaigns if c.id == number), None)

    def stop(self, number: int) -> LiveCampaign | None:
        """Start no more attempts in campaign ``number``; those under way finish."""
        live = self.find(number)
        if live is not None:
            live.run.interrupted = True
        return live

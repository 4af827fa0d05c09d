"""A meter's edge (``IMeterEdge``): what its COSEM objects ask of the world
outside, carried out with the reactor.

- Pushes go to the meter's ``push.PushSender``.
- Single action schedules (class 22) run their scripts at their execution
  times: one timer per meter, at the earliest next execution of its
  schedules, computed again when a schedule or the clock is set.
- Alarms: at the start of each of the simulator's power outages
  (``simulator.events.outages``) and of each simulated tamper attempt the
  model's event logs hold (``simulator.events.tampers``), the alarm push
  setup (0.4.25.9.0.255 on the built-in models) pushes, as a meter does on
  power failure or tamper.
- The Activity calendar's passive calendar becomes active at its
  activate_passive_calendar_time: one timer per meter.
- A limiter a client configured checks the load every
  min_over_threshold_duration seconds (``Limiter.check``).
- What the meter records (a restart or a power failure, a new firmware or
  a failed activation, a new calendar, a disconnection, a limiter trip, a
  tamper) makes the alarm push setup push too (``PUSHED_OCCURRENCES``).
- Firmware images (Image transfer, class 18): the image's octets live in
  ``state_dir/images/<meter id>.img``, written block by block, never held in
  memory; an activation restarts the meter after its delay: its connections
  drop, the event logs get a power down and up, and the image becomes the
  active firmware. A meter stopped while an activation waits activates at
  its next start.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any, NamedTuple

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from zope.interface import implementer

from ..codec.obis import parse_obis
from ..cosem.base import Context, CosemObject
from ..cosem.classes.image_transfer import ACTIVATION_INITIATED, FIRMWARE
from ..cosem.classes.push_setup import PushRequest
from ..cosem.directory import ModelDirectory
from ..interfaces import IMeterEdge
from ..models.common import ALARM_PUSH_SETUP, EventLog
from ..simulator.events import (CALENDAR_ACTIVATED, DISCONNECT, FIRMWARE_ACTIVATED, FIRMWARE_ACTIVATION_FAILED,
                                LIMITER_TRIP, POWER_DOWN, POWER_UP, RECONNECT, TAMPERS, Tamper, outages, tampers)
from .assembly import Meter
from .push import PushSender

log = Logger()
SINGLE_ACTION_SCHEDULE = 22
PUSH_SETUP = 40
IMAGE_TRANSFER = 18
ACTIVITY_CALENDAR = 20
LIMITER = 71
#: What the meter records that makes the alarm push setup push (as the power failures do).
PUSHED_OCCURRENCES = frozenset({POWER_DOWN, FIRMWARE_ACTIVATED, FIRMWARE_ACTIVATION_FAILED, CALENDAR_ACTIVATED,
                                DISCONNECT, RECONNECT, LIMITER_TRIP, *(tamper.began for tamper in TAMPERS)})
#: Octets read at a time when an image is hashed.
HASH_CHUNK = 1 << 16
#: How far ahead the next power outage or tamper attempt is looked for (the simulator has an outage
#: every 6 to 14 days: a later tamper attempt is looked for again from there).
ALARM_HORIZON = 15 * 86400


class EdgeObjects(NamedTuple):
    """The objects of a model the edge acts for (shared by its meters)."""

    schedules: tuple[CosemObject, ...]
    alarm: CosemObject | None
    image: CosemObject | None
    calendar: CosemObject | None
    limiter: CosemObject | None
    #: The simulated tamper attempts the model's event logs hold.
    tampers: tuple[Tamper, ...]


@functools.cache
def edge_objects(directory: ModelDirectory) -> EdgeObjects:
    """A model's Single action schedules, its alarm push setup, its image
    transfer object, its activity calendar and its limiter, found once per model."""
    objects = directory.objects.values()

    def first(class_id: int) -> CosemObject | None:
        return next((obj for obj in objects if obj.class_id == class_id), None)

    alarm = directory.objects.get(parse_obis(ALARM_PUSH_SETUP))
    logs = [obj.params["events"] for obj in objects if isinstance(obj.params.get("events"), EventLog)]
    return EdgeObjects(tuple(obj for obj in objects if obj.class_id == SINGLE_ACTION_SCHEDULE),
                       alarm if alarm is not None and alarm.class_id == PUSH_SETUP else None,
                       first(IMAGE_TRANSFER), first(ACTIVITY_CALENDAR), first(LIMITER),
                       tuple(tamper for tamper in TAMPERS if any(tamper in log.tampers for log in logs)))


@implementer(IMeterEdge)
class MeterEdge:
    """One meter's pushes, schedule timer, alarm timer and firmware image.
    ``connections`` is the meter's factory (its ``protocols`` drop on a
    restart; an offline one, not ``online``, pushes only its last gasp)."""

    __slots__ = ("reactor", "meter", "directory", "sender", "objects", "_schedule_timer", "_alarm_timer",
                 "_activation_timer", "_calendar_timer", "_limiter_timer", "running", "state_dir", "connections")

    def __init__(self, reactor: Any, meter: Meter, directory: ModelDirectory, sender: PushSender,
                 state_dir: str = "", connections: Any = None) -> None:
        self.reactor = reactor
        self.meter = meter
        self.directory = directory
        self.sender = sender
        self.objects = edge_objects(directory)
        self._schedule_timer: IDelayedCall | None = None
        self._alarm_timer: IDelayedCall | None = None
        self._activation_timer: IDelayedCall | None = None
        self._calendar_timer: IDelayedCall | None = None
        self._limiter_timer: IDelayedCall | None = None
        self.running = False
        self.state_dir = state_dir
        self.connections = connections

    @property
    def schedules(self) -> tuple[CosemObject, ...]:
        return self.objects.schedules

    @property
    def alarm(self) -> CosemObject | None:
        return self.objects.alarm

    @property
    def image(self) -> CosemObject | None:
        return self.objects.image

    @property
    def calendar(self) -> CosemObject | None:
        return self.objects.calendar

    @property
    def limiter(self) -> CosemObject | None:
        return self.objects.limiter

    def _context(self) -> Context:
        return Context(self.meter, None, self.directory, self.meter.now())

    def push(self, request: PushRequest) -> None:
        self.sender.push(request)

    def start(self) -> None:
        """Arm the timers."""
        self.running = True
        self.schedule_changed()
        image = self.image
        if image is not None and image.interface_class.transfer(image, self._context())["status"] == \
                ACTIVATION_INITIATED:
            self._activate()

    def stop(self) -> None:
        """Cancel the timers and the pushes waiting."""
        self.running = False
        for timer in (self._schedule_timer, self._alarm_timer, self._activation_timer, self._calendar_timer,
                      self._limiter_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._schedule_timer = self._alarm_timer = self._activation_timer = self._calendar_timer = None
        self._limiter_timer = None
        self.sender.stop()

    def schedule_changed(self) -> None:
        if not self.running:
            return
        now = self.meter.now()
        self._arm_schedules(now)
        self._arm_alarm(now)
        self._arm_calendar(now)
        self._arm_limiter()

    # -- single action schedules --------------------------------------------

    def _arm_schedules(self, after: float) -> None:
        if self._schedule_timer is not None and self._schedule_timer.active():
            self._schedule_timer.cancel()
        self._schedule_timer = None
        if not self.schedules:
            return
        ctx = self._context()
        times = [t for t in (obj.interface_class.next_execution(obj, ctx, after) for obj in self.schedules)
                 if t is not None]
        if times:
            due = min(times)
            self._schedule_timer = self.reactor.callLater(max(0.0, due - ctx.t), self._run_schedules, after, due)

    def _run_schedules(self, armed_after: float, due: float) -> None:
        self._schedule_timer = None
        ctx = self._context()
        for obj in self.schedules:
            at = obj.interface_class.next_execution(obj, ctx, armed_after)
            if at is not None and at <= due:
                result = obj.interface_class.execute(obj, ctx)
                log.info("meter {meter}: single action schedule {ln} ran its script: {result}",
                         meter=self.meter.id, ln=obj.logical_name.hex(), result=result.name.lower())
        self._arm_schedules(max(ctx.t, due))

    # -- activity calendar ----------------------------------------------------------

    def _arm_calendar(self, now: float) -> None:
        """A timer at the passive calendar's activation time (at once when it is past)."""
        if self._calendar_timer is not None and self._calendar_timer.active():
            self._calendar_timer.cancel()
        self._calendar_timer = None
        calendar = self.calendar
        if calendar is None:
            return
        at = calendar.interface_class.next_activation(calendar, self._context())
        if at is not None:
            self._calendar_timer = self.reactor.callLater(max(0.0, at - now), self._activate_calendar, at)

    def _activate_calendar(self, at: float) -> None:
        self._calendar_timer = None
        calendar = self.calendar
        assert calendar is not None
        ctx = self._context()
        calendar.interface_class.activate_at(calendar, ctx, max(at, ctx.t))
        log.info("meter {meter}: passive activity calendar activated", meter=self.meter.id)

    # -- limiter -----------------------------------------------------------------------

    def _arm_limiter(self) -> None:
        """A check every min_over_threshold_duration, once a client configured the limiter."""
        if self._limiter_timer is not None and self._limiter_timer.active():
            self._limiter_timer.cancel()
        self._limiter_timer = None
        limiter = self.limiter
        if limiter is None:
            return
        ctx = self._context()
        if limiter.interface_class.armed(limiter, ctx):
            self._limiter_timer = self.reactor.callLater(limiter.interface_class.watch_interval(limiter, ctx),
                                                         self._check_limiter)

    def _check_limiter(self) -> None:
        self._limiter_timer = None
        limiter = self.limiter
        assert limiter is not None
        if limiter.interface_class.check(limiter, self._context()) is not None:
            log.info("meter {meter}: the limiter acted", meter=self.meter.id)
        if self._limiter_timer is None:
            self._arm_limiter()

    # -- events ---------------------------------------------------------------------------

    def occurred(self, kind: str) -> None:
        """Something the meter records: the alarm push setup pushes for
        PUSHED_OCCURRENCES; POWER_DOWN is the last gasp of a meter going offline."""
        if kind in PUSHED_OCCURRENCES:
            self.raise_alarm(last_gasp=kind == POWER_DOWN)

    def raise_alarm(self, last_gasp: bool = False) -> None:
        """The alarm push setup pushes (when the meter has one, runs, and is
        online: only the ``last_gasp`` leaves an offline meter); a refused push is logged."""
        if not self.running or self.alarm is None:
            return
        if not last_gasp and self.connections is not None and not self.connections.online:
            return
        request = self.alarm.interface_class.request(self.alarm, self._context())
        if isinstance(request, PushRequest):
            self.sender.push(request)
        else:
            log.info("meter {meter}: alarm push refused: {result}", meter=self.meter.id,
                     result=request.name.lower())

    # -- alarms -----------------------------------------------------------------

    def _arm_alarm(self, now: float) -> None:
        if self._alarm_timer is not None and self._alarm_timer.active():
            self._alarm_timer.cancel()
        self._alarm_timer = None
        if self.alarm is None:
            return
        simulator = self.meter.simulator
        starts = [start for start, _ in outages(simulator, now, now + ALARM_HORIZON) if start > now]
        starts += [occurrence.t for occurrence in tampers(simulator, now, now + ALARM_HORIZON, self.objects.tampers)
                   if occurrence.kind in PUSHED_OCCURRENCES]
        if starts:
            first = min(starts)
            self._alarm_timer = self.reactor.callLater(first - now, self._raise_alarm, first)

    def _raise_alarm(self, start: float) -> None:
        """A power failure or a tamper attempt of the simulation began: the alarm push setup pushes."""
        self._alarm_timer = None
        self.raise_alarm()
        self._arm_alarm(max(self.meter.now(), start))

    # -- firmware image ---------------------------------------------------------

    def _image_path(self) -> Path:
        return Path(self.state_dir) / "images" / f"{self.meter.id}.img"

    def image_write(self, offset: int, data: bytes) -> bool:
        path = self._image_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(descriptor, data, offset)
            finally:
                os.close(descriptor)
        except OSError as error:
            log.error("meter {meter}: cannot write its image {path}: {error}", meter=self.meter.id,
                      path=str(path), error=error.strerror or str(error))
            return False
        return True

    def image_read(self, start: int, end: int) -> bytes:
        try:
            with self._image_path().open("rb") as image:
                image.seek(start)
                return image.read(end - start)
        except OSError:
            return b""

    def image_hash(self, size: int) -> bytes:
        digest = hashlib.sha256()
        try:
            with self._image_path().open("rb") as image:
                while size > 0:
                    chunk = image.read(min(HASH_CHUNK, size))
                    if not chunk:
                        break
                    digest.update(chunk)
                    size -= len(chunk)
        except OSError:
            pass
        return digest.digest()

    def image_discard(self) -> None:
        self._image_path().unlink(missing_ok=True)

    def activate_image(self, delay: float) -> None:
        if self._activation_timer is not None and self._activation_timer.active():
            self._activation_timer.cancel()
        self._activation_timer = self.reactor.callLater(delay, self._activate)

    def _activate(self) -> None:
        """The restart on the new image: power down (connections drop), the
        image becomes the firmware, power up."""
        self._activation_timer = None
        image = self.image
        assert image is not None
        self.meter.record(POWER_DOWN)
        if self.connections is not None:
            for protocol in tuple(self.connections.protocols):
                protocol.transport.abortConnection()
        image.interface_class.activated(image, self._context())
        self.meter.record(POWER_UP)
        log.info("meter {meter}: restarted on firmware {firmware}", meter=self.meter.id,
                 firmware=bytes.fromhex(self.meter.object_state.get(FIRMWARE, "")).decode("ascii", "replace"))

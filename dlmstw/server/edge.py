"""A meter's edge (``IMeterEdge``): what its COSEM objects ask of the world
outside, carried out with the reactor.

- Pushes go to the meter's ``push.PushSender``.
- Single action schedules (class 22) run their scripts at their execution
  times: one timer per meter, at the earliest next execution of its
  schedules, computed again when a schedule or the clock is set.
- Alarms: at the start of each of the simulator's power outages
  (``simulator.events.outages``), the alarm push setup (0.4.25.9.0.255 on the
  built-in models) pushes, as a meter does on power failure.
"""

from __future__ import annotations

import functools
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from zope.interface import implementer

from ..codec.obis import parse_obis
from ..cosem.base import Context, CosemObject
from ..cosem.classes.push_setup import PushRequest
from ..cosem.directory import ModelDirectory
from ..interfaces import IMeterEdge
from ..models.common import ALARM_PUSH_SETUP
from ..simulator.events import outages
from .assembly import Meter
from .push import PushSender

log = Logger()
SINGLE_ACTION_SCHEDULE = 22
PUSH_SETUP = 40
#: How far ahead the next power outage is looked for (the simulator has one every 6 to 14 days).
ALARM_HORIZON = 15 * 86400


@functools.cache
def edge_objects(directory: ModelDirectory) -> tuple[tuple[CosemObject, ...], CosemObject | None]:
    """A model's Single action schedules and its alarm push setup, found once per model."""
    schedules = tuple(obj for obj in directory.objects.values() if obj.class_id == SINGLE_ACTION_SCHEDULE)
    alarm = directory.objects.get(parse_obis(ALARM_PUSH_SETUP))
    return schedules, alarm if alarm is not None and alarm.class_id == PUSH_SETUP else None


@implementer(IMeterEdge)
class MeterEdge:
    """One meter's pushes, schedule timer and alarm timer."""

    __slots__ = ("reactor", "meter", "directory", "sender", "schedules", "alarm", "_schedule_timer", "_alarm_timer",
                 "running")

    def __init__(self, reactor: Any, meter: Meter, directory: ModelDirectory, sender: PushSender) -> None:
        self.reactor = reactor
        self.meter = meter
        self.directory = directory
        self.sender = sender
        self.schedules, self.alarm = edge_objects(directory)
        self._schedule_timer: IDelayedCall | None = None
        self._alarm_timer: IDelayedCall | None = None
        self.running = False

    def _context(self) -> Context:
        return Context(self.meter, None, self.directory, self.meter.now())

    def push(self, request: PushRequest) -> None:
        self.sender.push(request)

    def start(self) -> None:
        """Arm the timers."""
        self.running = True
        self.schedule_changed()

    def stop(self) -> None:
        """Cancel the timers and the pushes waiting."""
        self.running = False
        for timer in (self._schedule_timer, self._alarm_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._schedule_timer = self._alarm_timer = None
        self.sender.stop()

    def schedule_changed(self) -> None:
        if not self.running:
            return
        now = self.meter.now()
        self._arm_schedules(now)
        self._arm_alarm(now)

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

    # -- alarms -----------------------------------------------------------------

    def _arm_alarm(self, now: float) -> None:
        if self._alarm_timer is not None and self._alarm_timer.active():
            self._alarm_timer.cancel()
        self._alarm_timer = None
        if self.alarm is None:
            return
        starts = [start for start, _ in outages(self.meter.simulator, now, now + ALARM_HORIZON) if start > now]
        if starts:
            self._alarm_timer = self.reactor.callLater(starts[0] - now, self._power_failure, starts[0])

    def _power_failure(self, start: float) -> None:
        self._alarm_timer = None
        obj = self.alarm
        assert obj is not None
        request = obj.interface_class.request(obj, self._context())
        if isinstance(request, PushRequest):
            self.sender.push(request)
        else:
            log.info("meter {meter}: alarm push refused: {result}", meter=self.meter.id,
                     result=request.name.lower())
        self._arm_alarm(max(self.meter.now(), start))

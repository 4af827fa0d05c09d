"""Running a scenario (``simulator.scenario``): the timeline's steps at their
times, on the meters they select, in this process or in the workers.

``ScenarioRunner`` schedules with an injected ``IReactorTime`` (tests use
``twisted.internet.testing.Clock``) and hands each step, with its meters, to
its target in one call (``LabService.apply_scenario``, or
``WorkerPool.apply_scenario``: one AMP call per worker however many meters
the step selects). ``ScenarioMeters`` is what a process keeps to apply
steps to its own meters and to undo them on reset; ``apply_operation`` does
one step to one meter, through the paths the console's PATCH takes
(``reconfigure``) where there is one.

Steps may overlap on a meter: each process keeps the steps in force on each
of its meters, and a step's end gives what it held (the state, the faults,
a value) back to the latest step still holding it, else to lab.ini's. The
latest step in force marks the meter's capture records (``scenario``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred, FirstError, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..codec.axdr import Data, decode_data, encode_data
from ..config import Lab, MeterConfig, format_faults, group_of
from ..cosem.base import Context
from ..enums import DATA_ACCESS_RESULT_NAMES, DataType
from ..models.common import takes_code
from ..monitor.capture import CaptureBus
from ..simulator.events import coded
from ..simulator.scenario import Scenario, ScenarioError, Selections, Step, groups_of, parse_scenario
from .meter import MeterFactory
from .reconfigure import ReconfigureError, checked_keys, reconfigure

log = Logger()
#: The actions whose effect a worker started again has lost (``ScenarioRunner.replay``).
REPLAYED = frozenset({"offline", "online", "fault", "clock-jump", "value"})
#: A-XDR types a scenario's value may take, by the Python type of the value given.
_INTEGERS = frozenset({DataType.DOUBLE_LONG, DataType.DOUBLE_LONG_UNSIGNED, DataType.INTEGER, DataType.LONG,
                       DataType.UNSIGNED, DataType.LONG_UNSIGNED, DataType.LONG64, DataType.LONG64_UNSIGNED,
                       DataType.ENUM})
_FLOATS = frozenset({DataType.FLOAT32, DataType.FLOAT64})
_STRINGS = frozenset({DataType.OCTET_STRING, DataType.VISIBLE_STRING})


def fixed_value(current: Data, value: Any) -> Data:
    """``value`` (a number, true/false or text from the scenario) as the type
    of the attribute's ``current`` value; ValueError when it cannot be."""
    kind = current[0]
    if kind in _INTEGERS and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and float(value).is_integer():
        data: Data = (kind, int(value))
    elif kind in _FLOATS and isinstance(value, (int, float)) and not isinstance(value, bool):
        data = (kind, float(value))
    elif kind == DataType.BOOLEAN and isinstance(value, bool):
        data = (kind, value)
    elif kind in _STRINGS and isinstance(value, str):
        data = (kind, value.encode())
    elif kind == DataType.UTF8_STRING and isinstance(value, str):
        data = (kind, value)
    else:
        raise ValueError(f"the attribute is a {DataType(kind).name.lower().replace('_', '-')}; "
                         f"{value!r} does not fit it")
    encode_data(data)
    return data


class ScenarioMeters:
    """A process's side of a scenario: applies operations to its meters
    (``factories``), marks their records (``capture.scenario``) and keeps what
    to undo on reset: the meters it took offline or online, gave faults,
    whose clock it moved or whose values it fixed. None of that is saved in
    ``state_dir``: a lab started again starts from lab.ini and its saved state."""

    def __init__(self, factories: dict[str, MeterFactory], configs: dict[str, MeterConfig], capture: CaptureBus,
                 set_online: Callable[[str, bool], None], offline_at_start: set[str]) -> None:
        self.factories = factories
        self.configs = configs
        self.capture = capture
        self.set_online = set_online
        self.offline_at_start = offline_at_start
        #: What the scenario changed, by meter: "state", "faults", "values", "clock".
        self.changed: dict[str, set[str]] = {}
        #: The steps in force, by meter, in the order they reached it: (step, what it holds, operation);
        #: what it holds is "state", "faults", "clock", ("value", obis, attribute) or None (events, keys).
        self.in_force: dict[str, list[tuple[str, Any, dict[str, Any]]]] = {}

    def apply(self, meter_ids: list[str], operation: dict[str, Any], step: str, revert: bool) -> tuple[int, str]:
        """Do ``operation`` (``Step.operation``) to the meters of ``meter_ids``
        this process serves, or end it (``revert``): what the step held goes
        back to the latest step still in force on it, else to lab.ini's. Marks
        each meter's records from the steps in force (``in_force``). The
        meters it reached and the first refusal ("" when none)."""
        reached, refusal = 0, ""
        #: A fixed value in each model's type, worked out once per model (reading it costs a simulation).
        fixed: dict[int, Data] = {}
        for meter_id in meter_ids:
            factory = self.factories.get(meter_id)
            if factory is None:
                continue
            try:
                if revert:
                    self._end(meter_id, factory, operation, step)
                else:
                    self.operate(meter_id, factory, operation, fixed)
                    self._begin(meter_id, operation, step)
            except ReconfigureError as error:
                refusal = refusal or f"meter {meter_id}: {error}"
                continue
            finally:
                self._mark(meter_id)
            reached += 1
        return reached, refusal

    def _begin(self, meter_id: str, operation: dict[str, Any], step: str) -> None:
        """``step`` is in force on the meter (a value cleared: no step holds that value any more)."""
        steps = self.in_force.setdefault(meter_id, [])
        if "clear_value" in operation:
            cleared = _held(operation)
            steps[:] = [entry for entry in steps if entry[1] != cleared]
        else:
            steps.append((step, _held(operation), operation))
        if not steps:
            del self.in_force[meter_id]

    def _end(self, meter_id: str, factory: MeterFactory, operation: dict[str, Any], step: str) -> None:
        """``step``'s duration ended on the meter: what it held goes to the latest step still holding it, else lab.ini's."""
        held = _held(operation)
        steps = self.in_force.get(meter_id, [])
        steps[:] = [entry for entry in steps if entry[0] != step]
        if not steps:
            self.in_force.pop(meter_id, None)
        if held == "clock":
            self.operate(meter_id, factory, operation)  # jumps add up: the end takes back its own
            return
        latest = next((entry[2] for entry in reversed(steps) if entry[1] == held), None)
        if latest is None and held == "state":
            latest = {"state": "offline" if meter_id in self.offline_at_start else "online"}
        self.operate(meter_id, factory, operation if latest is None else latest)

    def _mark(self, meter_id: str) -> None:
        """The meter's records carry the latest step in force that holds a
        state, faults, a clock or a value, else the latest event, alarm or key change."""
        steps = self.in_force.get(meter_id, ())
        step = next((entry[0] for entry in reversed(steps) if entry[1] is not None), None) \
            or next((entry[0] for entry in reversed(steps)), None)
        if step is None:
            self.capture.scenario.pop(meter_id, None)
        else:
            self.capture.scenario[meter_id] = step

    def _online(self, meter_id: str) -> Callable[[bool], None]:
        return lambda state: self.set_online(meter_id, state)

    def operate(self, meter_id: str, factory: MeterFactory, operation: dict[str, Any],
                fixed: dict[int, Data] | None = None) -> None:
        """One operation on one meter; ReconfigureError when it cannot be done.
        ``fixed`` keeps a value step's value by model, for the other meters of the step."""
        meter = factory.meter
        if "state" in operation:
            self.changed.setdefault(meter_id, set()).add("state")
            reconfigure(factory, {"state": operation["state"]}, self._online(meter_id))
        elif "faults" in operation:
            faults = operation["faults"]
            if faults is None:
                faults = format_faults([f for f in self.configs[meter_id].faults if f.kind != "offline"])
            self.changed.setdefault(meter_id, set()).add("faults")
            reconfigure(factory, {"faults": faults}, self._online(meter_id))
        elif "clock_jump" in operation:
            self.changed.setdefault(meter_id, set()).add("clock")
            self._jump(factory, meter.clock_jump + float(operation["clock_jump"]))
        elif "event" in operation:
            meter.record(coded(int(operation["event"])))
            if operation.get("alarm") and meter.edge is not None:
                meter.edge.raise_alarm()
        elif "value" in operation:
            obis, attribute, value = operation["value"]
            key = (bytes.fromhex(obis), int(attribute))
            model = id(factory.directory.model)
            data = None if fixed is None else fixed.get(model)
            if data is None:
                data = self.fixed(factory, key, value)
                if fixed is not None:
                    fixed[model] = data
            meter.fix(key, data)
            self.changed.setdefault(meter_id, set()).add("values")
        elif "clear_value" in operation:
            obis, attribute = operation["clear_value"]
            meter.release((bytes.fromhex(obis), int(attribute)))
        elif "associations" in operation:
            reconfigure(factory, {"associations": operation["associations"]}, self._online(meter_id))
        else:
            raise ReconfigureError(f"unknown scenario operation {sorted(operation)!r}")

    @staticmethod
    def _jump(factory: MeterFactory, seconds: float) -> None:
        """The meter's clock ``seconds`` away from where it would be (``MeterRuntime.clock_jump``); its timers follow."""
        meter = factory.meter
        meter.clock_jump = seconds
        if meter.edge is not None:
            meter.edge.schedule_changed()

    @staticmethod
    def fixed(factory: MeterFactory, key: tuple[bytes, int], value: Any) -> Data:
        """The fixed value of attribute ``key``, in the type the meter serves it with."""
        model = factory.directory.model
        obj = model.objects.get(key[0])
        if obj is None:
            raise ReconfigureError(f"obis: the model has no object {key[0].hex()}")
        meter = factory.meter
        try:
            current = obj.interface_class.get(obj, key[1], Context(meter, None, model, meter.now()))
        except Exception as error:  # an attribute that needs what a scenario does not have (an association)
            raise ReconfigureError(f"value: attribute {key[1]} of {key[0].hex()} is not a simple value "
                                   f"({type(error).__name__})") from None
        if isinstance(current, int) and current in DATA_ACCESS_RESULT_NAMES:
            raise ReconfigureError(f"value: attribute {key[1]} of {key[0].hex()} cannot be read "
                                   f"({DATA_ACCESS_RESULT_NAMES[current]})")
        if not isinstance(current, bytes):
            raise ReconfigureError(f"value: attribute {key[1]} of {key[0].hex()} is not a simple value")
        try:
            return fixed_value(decode_data(current)[0], value)
        except ValueError as error:
            raise ReconfigureError(f"value: {error}") from None

    def reset(self) -> None:
        """Undo what the scenario changed: online as at start, lab.ini's faults,
        the clock moved back, no fixed value, no record marked. Events logged
        and keys changed stay: they are the meter's history. Every meter is
        reset whatever another refuses; ReconfigureError then names the first refusal."""
        refusal = ""
        for meter_id, changed in self.changed.items():
            factory = self.factories[meter_id]
            for what in sorted(changed):
                try:
                    if what == "state":
                        reconfigure(factory, {"state": "offline" if meter_id in self.offline_at_start else "online"},
                                    self._online(meter_id))
                    elif what == "faults":
                        self.operate(meter_id, factory, {"faults": None})
                    elif what == "values":
                        factory.meter.release()
                    else:
                        self._jump(factory, 0.0)
                except ReconfigureError as error:
                    refusal = refusal or f"meter {meter_id}: {error}"
        self.changed.clear()
        self.in_force.clear()
        self.capture.scenario.clear()
        if refusal:
            raise ReconfigureError(refusal)


def _held(operation: dict[str, Any]) -> Any:
    """What an operation holds on a meter while its step is in force (``ScenarioMeters.in_force``)."""
    for held in ("state", "faults"):
        if held in operation:
            return held
    if "clock_jump" in operation:
        return "clock"
    where = operation.get("value", operation.get("clear_value"))
    return None if where is None else ("value", where[0], int(where[1]))


def check_scenario(scenario: Scenario, lab: Lab, factories: Mapping[str, MeterFactory]) -> None:
    """What only the meters' models can tell, on a meter of each group a step
    reaches (a group this process serves none of, a shard's, is skipped): a
    ``value`` step's object and attribute and its value in the attribute's
    type, that an event log takes an ``event`` or ``alarm`` step's code, that
    the association takes a ``key-change`` step's keys. ScenarioError names the step and key."""
    first: dict[str, MeterFactory] = {}
    for meter_id, factory in factories.items():
        first.setdefault(group_of(meter_id), factory)
    for step in scenario.steps:
        for group in groups_of(step.selector, lab):
            factory = first.get(group)
            if factory is None:
                continue
            try:
                _check_step(step, group, factory)
            except ReconfigureError as error:
                where, _, problem = str(error).partition(": ")
                if where.startswith("associations."):
                    where = f"keys.{where.rpartition('.')[2]}"
                raise ScenarioError(scenario.source, problem if where == "obis" else f"{problem} (group {group})",
                                    where, step.index, step.name) from None


def _check_step(step: Step, group: str, factory: MeterFactory) -> None:
    """One step against a meter of ``group``; ReconfigureError "key: problem" otherwise."""
    model = factory.directory.model
    if step.action in ("event", "alarm") and not takes_code(model, step.arguments["code"]):
        raise ReconfigureError(f"code: no event log of the model takes event code {step.arguments['code']}")
    if step.action == "key-change":
        checked_keys(factory, {step.arguments["association"]: step.arguments["keys"]})
    if step.action == "value":
        key = (bytes.fromhex(step.arguments["obis"]), step.arguments["attribute"])
        if key[0] not in model.objects:
            raise ReconfigureError(f"obis: the model of group {group} has no object {key[0].hex()}")
        if "value" in step.arguments:
            ScenarioMeters.fixed(factory, key, step.arguments["value"])


class ResetFailed(Exception):
    """A reset some meter or worker refused (the others are reset): one line saying which and why."""


class ScenarioTarget(Protocol):
    """Where a runner's steps go (``LabService``, ``WorkerPool``)."""

    factories: Any

    def apply_scenario(self, meter_ids: list[str], operation: dict[str, Any], step: str,
                       revert: bool) -> Any:
        """Apply a step to meters (now, or through a Deferred)."""

    def reset_scenario(self) -> Any:
        """Undo the scenario on every meter (now, or through a Deferred)."""

    def when_ready(self) -> Deferred[None]:
        """Fires once every meter can take steps."""


class ScenarioRunner(Service):
    """Runs a scenario's timeline against ``target`` on ``clock``: start,
    pause and reset as the console asks; starts with the service when the
    scenario says ``autostart``."""

    def __init__(self, clock: IReactorTime, lab: Lab, target: ScenarioTarget, scenario: Scenario | None = None,
                 check: Callable[[Scenario], None] = lambda scenario: None) -> None:
        self.clock = clock
        self.lab = lab
        self.target = target
        #: What a scenario must pass besides its file's checks (``check_scenario``).
        self.check = check
        self.scenario: Scenario | None = None
        #: idle (never started or reset), running, paused, finished, resetting (until the meters are).
        self.state = "idle"
        self._timer: IDelayedCall | None = None
        #: Seconds of the scenario run before the current run started, and when that was (clock seconds).
        self._elapsed = 0.0
        self._since = 0.0
        self.load(scenario)

    def load(self, scenario: Scenario | None) -> None:
        """Take ``scenario`` (idle; the caller reset the old one's effects)."""
        self._cancel()
        self.scenario = scenario
        self.state = "idle"
        self._elapsed = 0.0
        self._plan = scenario.plan() if scenario is not None else []
        self._cursor = 0
        self._selections = Selections(self.lab, self.target.factories)
        #: How many meters this lab serves each step selects (its meters are chosen again when it runs).
        self.hits = [] if scenario is None else [
            self._selections.count(step.selector, scenario.seed if step.seed is None else step.seed)
            for step in scenario.steps]
        self.ran = [False] * len(self.hits)
        self.reverted = [False] * len(self.hits)

    def meters(self, position: int) -> list[str]:
        """The meters this lab serves that step ``position`` selects, in the lab's order."""
        assert self.scenario is not None
        step = self.scenario.steps[position]
        return self._selections.select(step.selector, self.scenario.seed if step.seed is None else step.seed)

    def parse(self, text: str, source: str) -> Scenario:
        """A scenario sent to the console, checked as lab.ini's is at start; ScenarioError names the step and key."""
        scenario = parse_scenario(text, source, self.lab)
        self.check(scenario)
        return scenario

    def startService(self) -> None:
        super().startService()
        if self.scenario is not None and self.scenario.autostart:
            self.target.when_ready().addCallback(lambda _: self.start() if self.state == "idle" else None)

    def stopService(self) -> None:
        super().stopService()
        self._cancel()

    def elapsed(self) -> float:
        """Seconds of the scenario run so far."""
        if self.state == "running":
            return self._elapsed + self.clock.seconds() - self._since
        return self._elapsed

    def start(self) -> None:
        """Run (or go on after a pause) from where the timeline is; ValueError when there is nothing to run."""
        if self.scenario is None:
            raise ValueError("no scenario is loaded")
        if self.state == "running":
            return
        if self.state == "resetting":
            raise ValueError("the scenario is being reset; start it once it is idle")
        if self.state == "finished":
            raise ValueError("the scenario has finished; reset it to run it again")
        self.state = "running"
        self._since = self.clock.seconds()
        log.info("scenario {source}: running from {elapsed:g} s", source=self.scenario.source,
                 elapsed=self._elapsed)
        self._arm()

    def pause(self) -> None:
        """Stop the timeline where it is (what the steps did stays)."""
        if self.state != "running":
            raise ValueError(f"the scenario is {self.state}, not running")
        self._elapsed = self.elapsed()
        self.state = "paused"
        self._cancel()

    def reset(self) -> Deferred[None]:
        """Back to the start: the timeline idle, and the meters as the lab
        started them (``ScenarioMeters.reset``); ``resetting`` until they are,
        when start, pause and another reset are refused (ValueError). Fails
        with ResetFailed, one line, when a meter or a worker refused."""
        if self.state == "resetting":
            raise ValueError("the scenario is being reset already")
        self.load(self.scenario)
        self.state = "resetting"

        def done(result: object) -> None:
            self.state = "idle"
            if isinstance(result, Failure):
                error = result.value.subFailure.value if isinstance(result.value, FirstError) else result.value
                raise ResetFailed(f"the scenario's reset did not finish: {error}")

        return maybeDeferred(self.target.reset_scenario).addBoth(done)

    def replay(self, meter_ids: list[str]) -> None:
        """Do again, on ``meter_ids`` (a worker's meters, started again from
        lab.ini after it ended), what the steps run so far left on them, in
        their order: state, faults, clock jumps and values. Events and keys
        are not done again: the worker's saved state has them."""
        if self.scenario is None:
            return
        wanted = set(meter_ids)
        for moment in self._plan[:self._cursor]:
            step = self.scenario.steps[moment.step]
            if step.action not in REPLAYED:
                continue
            meters = [m for m in self.meters(moment.step) if m in wanted]
            if meters:
                maybeDeferred(self.target.apply_scenario, meters, step.operation(moment.revert), step.name,
                              moment.revert).addErrback(self._failed, step.name)
        log.info("scenario: {count} meters of a worker started again have the steps run so far",
                 count=len(wanted))

    def _cancel(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _arm(self) -> None:
        self._timer = None
        if self._cursor >= len(self._plan):
            self._elapsed = self.elapsed()
            self.state = "finished"
            return
        due = self._plan[self._cursor].at
        self._timer = self.clock.callLater(max(0.0, due - self.elapsed()), self._fire)

    def _fire(self) -> None:
        """Every moment now due, in the plan's order, then the timer for the next."""
        self._timer = None
        assert self.scenario is not None
        now = self.elapsed()
        while self._cursor < len(self._plan) and self._plan[self._cursor].at <= now:
            moment = self._plan[self._cursor]
            self._cursor += 1
            step = self.scenario.steps[moment.step]
            meters = self.meters(moment.step)
            if moment.revert:
                self.reverted[moment.step] = True
            else:
                self.ran[moment.step] = True
            log.info("scenario: step {index} ({name}) {what} on {count} meters at {at:g} s", index=step.index,
                     name=step.name, what="ends" if moment.revert else step.action, count=len(meters), at=moment.at)
            if meters:
                maybeDeferred(self.target.apply_scenario, meters, step.operation(moment.revert), step.name,
                              moment.revert).addErrback(self._failed, step.name)
        self._arm()

    @staticmethod
    def _failed(failure: Failure, name: str) -> None:
        log.error("scenario step {name}: {error}", name=name, error=failure.getErrorMessage())

    def status(self) -> dict[str, Any]:
        """The timeline as the console shows it: each step, whether it ran,
        how many meters it hit, which is next."""
        scenario = self.scenario
        if scenario is None:
            return {"loaded": False, "state": self.state, "steps": []}
        upcoming = next((moment for moment in self._plan[self._cursor:] if not moment.revert), None)
        return {
            "loaded": True, "source": scenario.source, "seed": scenario.seed, "autostart": scenario.autostart,
            "state": self.state, "elapsed": round(self.elapsed(), 3),
            "next": None if upcoming is None else scenario.steps[upcoming.step].index,
            "steps": [{**step.summary(), "hits": self.hits[position], "ran": self.ran[position],
                       "ended": self.reverted[position]}
                      for position, step in enumerate(scenario.steps)],
        }

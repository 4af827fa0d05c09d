"""Scenarios (lab.ini ``[simulator] scenario``): a TOML timeline of steps
that change the fleet at given times, reproducible from a seed.

Pure: a scenario file is read and checked against the lab (``parse_scenario``),
a step's meters are chosen (``select``) and the timeline is ordered
(``Scenario.plan``) without a reactor; ``server.scenario`` runs it.

A scenario file::

    seed = 7                  # chooses the meters of a percentage selector
    autostart = true          # start with the lab (false: from the console)

    [[step]]
    at = "10m"                # offset from the scenario's start: 90s, 10m, 1h, 500ms, 1m30s
    name = "storm"            # default: "<index>-<action>"
    meters = "abt:5%"         # a selector, or a list of them (their union)
    action = "offline"
    duration = "3m"           # optional: the reverse is scheduled after it

Selectors: ``*`` (every meter), ``N%`` (of the fleet), ``GROUP``,
``GROUP:N%``, ``GROUP:I`` and ``GROUP:I..J`` (indexes, both included).
A percentage takes the first meters of a ranking drawn from the seed (the
step's own ``seed`` if it has one), so a larger share of the same group
holds the smaller one.

Actions and their keys: ``offline`` / ``online`` (``duration``), ``fault``
(``faults``: the grammar of lab.ini ``faults`` without ``offline``, "" for
none; ``duration``), ``clock-jump`` (``seconds``; ``duration``), ``event`` and
``alarm`` (``code``: the event code logged; an alarm also makes the alarm push
setup push), ``value`` (``obis``, ``attribute`` (2), ``value``, a number or
text served as the attribute's type until cleared; or ``clear = true``;
``duration``), ``key-change`` (``association`` and a ``keys`` table of
``lls_password``, ``hls_secret``, ``authentication_key``, ``block_cipher_key``,
``master_key``, as the console's PATCH takes them).

What a step does to each meter is an ``operation``: a JSON object the
server applies to a meter (``server.scenario.apply_operation``), the same in
this process or in a worker.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any, Container, Mapping, NamedTuple

from ..codec.obis import parse_obis
from ..config import CHANGEABLE_KEYS, Lab, meter_id, parse_faults, parse_hex, parse_password

#: The actions a step may take, and the keys each takes besides the common ones.
ACTIONS: Mapping[str, tuple[str, ...]] = {
    "offline": ("duration",),
    "online": ("duration",),
    "fault": ("faults", "duration"),
    "clock-jump": ("seconds", "duration"),
    "event": ("code",),
    "alarm": ("code",),
    "value": ("obis", "attribute", "value", "clear", "duration"),
    "key-change": ("association", "keys"),
}
COMMON_KEYS = ("at", "name", "meters", "action", "seed")
TOP_KEYS = ("seed", "autostart", "step")
#: The most steps a scenario has, and the longest scenario file (bytes): the console's upload
#: and lab.ini's file alike. Selecting each step's meters at load stays short on a large fleet.
MAX_STEPS = 1000
MAX_SCENARIO_BYTES = 256 * 1024
#: The longest step name (it marks every record of the meters the step reaches).
MAX_NAME = 64
#: The latest a step may start or end, the longest clock jump (seconds): ten years.
MAX_SECONDS = 10 * 365 * 24 * 3600.0
#: Whole numbers a scenario gives (seeds, values) fit 64 bits (long64 .. long64-unsigned).
MIN_WHOLE, MAX_WHOLE = -(1 << 63), (1 << 64) - 1
#: Event codes are long-unsigned (Blue Book 4.1.6: the event code objects).
MAX_EVENT_CODE = 0xFFFF
_DURATION_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RANGE = re.compile(r"([0-9]+)(?:\s*\.\.\s*([0-9]+))?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


class ScenarioError(ValueError):
    """A scenario that cannot run: one line naming the file, the step (index
    from 1, and name) and the key."""

    def __init__(self, path: str, problem: str, key: str | None = None, step: int | None = None,
                 name: str | None = None) -> None:
        where = path
        if step is not None:
            where += f" step {step}" + (f" ({name})" if name else "")
        if key is not None:
            where += f" {key}"
        super().__init__(f"{where}: {problem}")


def _shown(value: Any) -> str:
    """A value for an error line: a long one cut short (a 400-digit number, a long text)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def parse_duration(value: Any) -> float:
    """Seconds of ``90s``, ``10m``, ``1h``, ``500ms``, ``1m30s`` or a plain
    number of seconds, 0 to ``MAX_SECONDS``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 90s or 10m, got {value!r}")
    if isinstance(value, (int, float)):
        if not 0 <= value <= MAX_SECONDS:  # no float(): a huge whole number stays exact, nan fails
            raise ValueError(f"expected a duration of 0 to {MAX_SECONDS:.0f} seconds (ten years), got {_shown(value)}")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a duration such as 90s or 10m, got {_shown(value)}")
    total, position, text = 0.0, 0, value.strip()
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None:
            raise ValueError(f"expected a duration such as 90s, 10m or 1m30s, got {_shown(value)}")
        total += float(match[1]) * _UNITS[match[2]]
        position = match.end()
    if not total <= MAX_SECONDS:
        raise ValueError(f"expected a duration of at most {MAX_SECONDS:.0f} seconds (ten years), got {_shown(value)}")
    return total


@dataclass(frozen=True, slots=True)
class Selector:
    """Which meters a step acts on: ``items`` are (group or None for the
    fleet, first index, last index, share), share None for an index range."""

    text: str
    items: tuple[tuple[str | None, int, int, float | None], ...]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the timeline; ``index`` counts from 1, ``arguments`` are the action's keys, checked."""

    index: int
    name: str
    at: float
    selector: Selector
    action: str
    arguments: Mapping[str, Any]
    duration: float | None = None
    seed: int | None = None

    def operation(self, revert: bool = False) -> dict[str, Any]:
        """What the step does to each of its meters (``revert``: what undoes it when its duration ends)."""
        action, arguments = self.action, self.arguments
        if action in ("offline", "online"):
            offline = (action == "offline") != revert
            return {"state": "offline" if offline else "online"}
        if action == "fault":
            return {"faults": None if revert else arguments["faults"]}
        if action == "clock-jump":
            return {"clock_jump": -arguments["seconds"] if revert else arguments["seconds"]}
        if action in ("event", "alarm"):
            return {"event": arguments["code"], "alarm": action == "alarm"}
        if action == "value":
            where = [arguments["obis"], arguments["attribute"]]
            if revert or arguments.get("clear"):
                return {"clear_value": where}
            return {"value": [*where, arguments["value"]]}
        return {"associations": {arguments["association"]: dict(arguments["keys"])}}

    def summary(self) -> dict[str, Any]:
        """The step as the console shows it (a key change names its keys, never shows them)."""
        arguments = dict(self.arguments)
        if "keys" in arguments:
            arguments["keys"] = sorted(arguments["keys"])
        return {"index": self.index, "name": self.name, "at": self.at, "meters": self.selector.text,
                "action": self.action, "duration": self.duration, "arguments": arguments}


class Planned(NamedTuple):
    """A moment of the timeline: step ``step`` (its position in ``Scenario.steps``) applied, or reverted."""

    at: float
    revert: bool
    step: int


@dataclass(frozen=True, slots=True)
class Scenario:
    """A checked scenario: where it came from, its seed and its steps in file order."""

    source: str
    seed: int
    autostart: bool
    steps: tuple[Step, ...]

    def plan(self) -> list[Planned]:
        """Every application and reversal in the order they happen: by time,
        a reversal before an application at the same instant, then in file order."""
        moments = [Planned(step.at, False, position) for position, step in enumerate(self.steps)]
        moments += [Planned(step.at + step.duration, True, position) for position, step in enumerate(self.steps)
                    if step.duration is not None]
        return sorted(moments, key=lambda moment: (moment.at, not moment.revert, moment.step))


def _rank(seed: int, meter_id: str) -> bytes:
    return hashlib.blake2b(f"scenario:{seed}:{meter_id}".encode(), digest_size=8).digest()


class Selections:
    """The meters of a lab that selectors name (``select``), restricted to
    ``served`` when given: each ranking is drawn once per group and seed; a
    selection costs the meters it holds, not the fleet; the latest few are
    kept (``KEPT``), so steps that repeat a selector share one list."""

    #: The selections kept, the latest made (each may hold a whole fleet).
    KEPT = 8

    def __init__(self, lab: Lab, served: Container[str] | None = None) -> None:
        self.groups = {group.name: [meter_id(group.name, index) for index in range(group.count)] for group in lab.groups}
        #: Each meter's position in the lab's order.
        self.position = {m: position for position, m in enumerate(m for ids in self.groups.values() for m in ids)}
        #: None when every meter is served (nothing to leave out).
        self.served = None if served is None or all(m in served for m in self.position) else served
        self._rankings: dict[tuple[str | None, int], list[str]] = {}
        self._chosen: dict[tuple[Any, int | None], list[str]] = {}

    def ranking(self, group: str | None, seed: int) -> list[str]:
        """The group's meters (None: the fleet's) ranked by a hash of ``seed`` and the meter id."""
        ranked = self._rankings.pop((group, seed), None)
        if ranked is None:
            members = self.groups[group] if group is not None else list(self.position)
            ranked = sorted(members, key=lambda meter_id: _rank(seed, meter_id))
        self._rankings[(group, seed)] = ranked
        while len(self._rankings) > self.KEPT:
            del self._rankings[next(iter(self._rankings))]
        return ranked

    def count(self, selector: Selector, seed: int) -> int:
        """How many meters ``select`` gives, worked out without choosing them
        when every meter is served and the selector is one share or index ranges."""
        items = selector.items
        if self.served is not None or len(items) > 1 and any(share is not None for *_, share in items):
            return len(self.select(selector, seed))
        group, _, _, share = items[0]
        if share is not None:
            size = len(self.groups[group]) if group is not None else len(self.position)
            return math.floor(share * size + 0.5)
        spans: dict[str | None, list[tuple[int, int]]] = {}
        for group, first, last, _ in items:
            spans.setdefault(group, []).append((first, last))
        total = 0
        for ranges in spans.values():
            end = -1
            for first, last in sorted(ranges):
                total += max(0, last - max(first, end + 1) + 1)
                end = max(end, last)
        return total

    def select(self, selector: Selector, seed: int) -> list[str]:
        """The ids of the meters ``selector`` names, in the lab's order. A
        share of a group (or of the fleet) is the first ``round(share × size)``
        of the ranking over all the group's meters (every shard of a lab chooses the same)."""
        key = (selector.items, seed if any(share is not None for *_, share in selector.items) else None)
        found = self._chosen.pop(key, None)
        if found is None:
            found = self._select(selector, seed)
        self._chosen[key] = found
        while len(self._chosen) > self.KEPT:
            del self._chosen[next(iter(self._chosen))]
        return found

    def _select(self, selector: Selector, seed: int) -> list[str]:
        items = selector.items
        if len(items) == 1 and items[0][3] is None:  # one index range: a slice, already in order
            group, first, last, _ = items[0]
            assert group is not None
            found = self.groups[group][first:last + 1]
        else:
            chosen: set[str] = set()
            for group, first, last, share in items:
                if share is None:
                    assert group is not None
                    chosen.update(self.groups[group][first:last + 1])
                    continue
                ranked = self.ranking(group, seed)
                chosen.update(ranked[:math.floor(share * len(ranked) + 0.5)])
            found = sorted(chosen, key=self.position.__getitem__)
        served = self.served
        return found if served is None else [m for m in found if m in served]


def select(lab: Lab, selector: Selector, seed: int) -> list[str]:
    """The ids of the meters ``selector`` names, in the lab's order (``Selections.select``)."""
    return Selections(lab).select(selector, seed)


def _share(text: str) -> float:
    number = text[:-1].strip()
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 100:
        raise ValueError(f"a percentage 0% to 100%, not {text!r}")
    return value / 100


def parse_selector(value: Any, lab: Lab) -> Selector:
    """A step's ``meters``: a selector or a list of them, checked against the lab's groups."""
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(text, str) and text.strip() for text in texts):
        raise ValueError('expected a selector such as "abt", "abt:0..9", "abt:5%", "5%" or "*", or a list of them')
    counts = {group.name: group.count for group in lab.groups}
    items = []
    for text in (text.strip() for text in texts):
        if text == "*":
            items.append((None, 0, 0, 1.0))
            continue
        if text.endswith("%") and ":" not in text:
            items.append((None, 0, 0, _share(text)))
            continue
        group, _, part = text.partition(":")
        group = group.strip()
        if group not in counts:
            raise ValueError(f"no meter group {group!r} in the lab; groups: {', '.join(counts)}")
        part = part.strip()
        if not part:
            items.append((group, 0, counts[group] - 1, None))
        elif part.endswith("%"):
            items.append((group, 0, 0, _share(part)))
        else:
            match = _RANGE.fullmatch(part)
            if match is None:
                raise ValueError(f"{text!r}: after the group, an index, a range I..J or a percentage")
            first = int(match[1])
            last = int(match[2]) if match[2] is not None else first
            if last < first or last >= counts[group]:
                raise ValueError(f"{text!r}: group {group} has meters 0..{counts[group] - 1}")
            items.append((group, first, last, None))
    return Selector(", ".join(texts) if isinstance(value, list) else str(value).strip(), tuple(items))


def groups_of(selector: Selector, lab: Lab) -> list[str]:
    """The groups a selector may reach, in the lab's order."""
    named = {group for group, *_ in selector.items}
    return [group.name for group in lab.groups if None in named or group.name in named]


def _arguments(action: str, raw: Mapping[str, Any], selector: Selector, lab: Lab) -> dict[str, Any]:
    """The action's keys, checked; ValueError carries (key, problem) as its args."""
    def need(key: str) -> Any:
        if key not in raw:
            raise ValueError(key, f"required by the {action} action")
        return raw[key]

    found: dict[str, Any] = {}
    if action == "fault":
        text = need("faults")
        if not isinstance(text, str):
            raise ValueError("faults", 'a text in the grammar of lab.ini faults, e.g. "timeout:1" ("" for none)')
        try:
            faults = parse_faults(text)
        except ValueError as error:
            raise ValueError("faults", str(error)) from None
        if any(fault.kind == "offline" for fault in faults):
            raise ValueError("faults", 'offline is not a fault here; use action = "offline"')
        gateways = [g.name for g in lab.groups if g.gateway is not None and g.name in groups_of(selector, lab)]
        if gateways:
            raise ValueError("meters", f"group {gateways[0]} is behind a gateway, whose faults lab.ini sets")
        found["faults"] = text.strip()
    elif action == "clock-jump":
        seconds = need("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds \
                or not -MAX_SECONDS <= seconds <= MAX_SECONDS:
            raise ValueError("seconds", f"a number of seconds other than 0, within ten years (negative: back), "
                                        f"not {_shown(seconds)}")
        found["seconds"] = seconds
    elif action in ("event", "alarm"):
        code = need("code")
        if isinstance(code, bool) or not isinstance(code, int) or not 0 < code <= MAX_EVENT_CODE:
            raise ValueError("code", f"an event code 1..{MAX_EVENT_CODE}, not {_shown(code)}")
        found["code"] = code
    elif action == "value":
        obis = need("obis")
        try:
            if not isinstance(obis, str):
                raise ValueError(f"an OBIS code as text such as \"1.0.1.8.0.255\", not {obis!r}")
            found["obis"] = parse_obis(obis).hex()
        except ValueError as error:
            raise ValueError("obis", str(error)) from None
        attribute = raw.get("attribute", 2)
        if isinstance(attribute, bool) or not isinstance(attribute, int) or not 2 <= attribute <= 127:
            raise ValueError("attribute", f"an attribute index 2..127, not {_shown(attribute)}")
        found["attribute"] = attribute
        clear = raw.get("clear", False)
        if not isinstance(clear, bool):
            raise ValueError("clear", f"true or false, not {clear!r}")
        if clear:
            if "value" in raw:
                raise ValueError("value", "a step clears a value or sets one, not both")
            found["clear"] = True
        else:
            value = need("value")
            if not isinstance(value, (bool, int, float, str)) or isinstance(value, float) and not math.isfinite(value) \
                    or isinstance(value, int) and not MIN_WHOLE <= value <= MAX_WHOLE:
                raise ValueError("value", f"a finite number within 64 bits, true/false or text, not {_shown(value)}")
            found["value"] = value
    elif action == "key-change":
        name = need("association")
        names = {a.name for a in lab.associations}
        if not isinstance(name, str) or name not in names:
            raise ValueError("association", f"no association {_shown(name)} in the lab; associations: "
                                            f"{', '.join(sorted(names))}")
        for group in lab.groups:
            if group.name in groups_of(selector, lab) and group.associations is not None \
                    and name not in group.associations:
                raise ValueError("association", f"group {group.name} does not have association {name!r}")
        keys = need("keys")
        if not isinstance(keys, dict) or not keys:
            raise ValueError("keys", f"a table of {', '.join(CHANGEABLE_KEYS)}")
        for key, text in keys.items():
            if key not in CHANGEABLE_KEYS or not isinstance(text, str) or not text:
                raise ValueError(f"keys.{key}", f"one of {', '.join(CHANGEABLE_KEYS)}, as text (hex for keys)")
            try:
                if not (parse_password(text) if key == "lls_password" else parse_hex(text)):
                    raise ValueError("empty")
            except ValueError as error:
                raise ValueError(f"keys.{key}", str(error)) from None
        found["association"], found["keys"] = name, dict(keys)
    return found


def _step(position: int, raw: Any, lab: Lab, path: str, names: set[str]) -> Step:
    index = position + 1
    if not isinstance(raw, dict):
        raise ScenarioError(path, "a step is a table ([[step]])", step=index)
    action = raw.get("action")
    name = raw.get("name")
    label = name if isinstance(name, str) else None
    if not isinstance(action, str) or action not in ACTIONS:
        raise ScenarioError(path, f"one of {', '.join(ACTIONS)}, not {_shown(action)}", "action", index, label)
    if name is None:
        name = f"{index}-{action}"
    elif not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise ScenarioError(path, f"a name of letters, digits and _ . : - (at most {MAX_NAME})", "name", index,
                            label if label is not None and len(label) <= MAX_NAME else None)
    if name in names:
        raise ScenarioError(path, "another step has this name", "name", index, name)

    def fail(key: str, problem: str) -> ScenarioError:
        return ScenarioError(path, problem, key, index, name)

    known = COMMON_KEYS + ACTIONS[action]
    for key in raw:
        if key not in known:
            raise fail(key, f"not a key of a {action} step; its keys: {', '.join(known)}")
    for key in ("at", "meters"):
        if key not in raw:
            raise fail(key, "required")
    try:
        at = parse_duration(raw["at"])
    except ValueError as error:
        raise fail("at", str(error)) from None
    duration = None
    if "duration" in raw:
        try:
            duration = parse_duration(raw["duration"])
        except ValueError as error:
            raise fail("duration", str(error)) from None
        if duration <= 0:
            raise fail("duration", "more than 0 seconds")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not MIN_WHOLE <= seed <= MAX_WHOLE):
        raise fail("seed", f"a whole number within 64 bits, not {_shown(seed)}")
    try:
        selector = parse_selector(raw["meters"], lab)
    except ValueError as error:
        raise fail("meters", str(error)) from None
    try:
        arguments = _arguments(action, raw, selector, lab)
    except ValueError as error:
        key, problem = error.args
        raise fail(key, problem) from None
    names.add(name)
    return Step(index, name, at, selector, action, arguments, duration, seed)


def parse_scenario(text: str, path: str, lab: Lab) -> Scenario:
    """Read and check a scenario (TOML) against ``lab``; ScenarioError names the first problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(path, f"not TOML: {error}") from None
    except ValueError as error:  # a number tomllib will not convert (more digits than int() takes)
        raise ScenarioError(path, f"not TOML: {error}") from None
    for key in document:
        if key not in TOP_KEYS:
            raise ScenarioError(path, f"unknown key; keys: {', '.join(TOP_KEYS)}", key)
    seed = document.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not MIN_WHOLE <= seed <= MAX_WHOLE:
        raise ScenarioError(path, f"a whole number within 64 bits, not {_shown(seed)}", "seed")
    autostart = document.get("autostart", True)
    if not isinstance(autostart, bool):
        raise ScenarioError(path, f"true or false, not {_shown(autostart)}", "autostart")
    raw_steps = document.get("step", [])
    if not isinstance(raw_steps, list):
        raise ScenarioError(path, "steps are an array of tables: [[step]]", "step")
    if len(raw_steps) > MAX_STEPS:
        raise ScenarioError(path, f"{len(raw_steps)} steps; a scenario has at most {MAX_STEPS}", "step")
    names: set[str] = set()
    steps = tuple(_step(position, raw, lab, path, names) for position, raw in enumerate(raw_steps))
    return Scenario(path, seed, autostart, steps)


def load_scenario(path: str, lab: Lab, shown: str | None = None) -> Scenario:
    """Read the scenario file at ``path`` (errors name it ``shown``, by default ``path``)."""
    shown = shown or path
    try:
        with open(path, encoding="utf-8-sig") as stream:
            text = stream.read(MAX_SCENARIO_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(shown, "the file does not exist") from None
    except OSError as error:
        raise ScenarioError(shown, f"cannot read the file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ScenarioError(shown, f"not UTF-8 text (byte {error.start})") from None
    if len(text.encode()) > MAX_SCENARIO_BYTES:
        raise ScenarioError(shown, f"the file is longer than {MAX_SCENARIO_BYTES} bytes")
    return parse_scenario(text, shown, lab)



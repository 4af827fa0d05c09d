"""Where a campaign's meters and association come from, and campaign plans
(``dlmstw-client campaign --plan plan.toml``, read with the standard
library's ``tomllib``).

Meters come from ``HOST:PORT[-LAST]`` lists over any number of hosts, from a
lab.ini (every meter of every ``[meters:NAME]`` group: ``interface``, ``port``,
``count``), or from the console's ``GET /api/meters`` (its ``address`` and
``port``). An association may be named from the lab (``[association:NAME]``):
its client SAP, mechanism, context, suite and secrets are then taken from it.

A plan is one TOML table; each key is the command-line option of the same
meaning (``PLAN_KEYS``). Options given on the command line win over the plan.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from dlmstw.client.campaign import Meter, parse_meter_list
from dlmstw.client.reading import Target, parse_target
from dlmstw.config import Lab, load_lab
from dlmstw.errors import ConfigError


class PlanError(ValueError):
    """A plan, a lab or a meter source that cannot be used: one line, saying where."""


_UNITS: Final = {"ms": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
                 "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_duration(text: str | int | float, default_unit: str = "s") -> float:
    """Seconds of ``10``, ``50ms``, ``1.5 s``, ``15min``, ``2 hours``, ``1 day``; ValueError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text) * _UNITS[default_unit]
    else:
        match = _DURATION.match(str(text).lower())
        unit = match.group(2) if match else ""
        if unit not in _UNITS and unit.endswith("s"):
            unit = unit[:-1]  # plurals: hours, days, mins
        if match is None or (unit or default_unit) not in _UNITS:
            raise ValueError(f"{text!r}: expected a duration such as 10s, 50ms, 15min, 2h or 1 day")
        seconds = float(match.group(1)) * _UNITS[unit or default_unit]
    if not 0 <= seconds < math.inf:
        raise ValueError(f"{text!r}: a duration must be 0 or more, and finite")
    return seconds


@dataclass(frozen=True, slots=True)
class Window:
    """A profile window ending now: ``last 1 day`` (the last ``seconds``)."""

    seconds: float

    def bounds(self, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
        return now - datetime.timedelta(seconds=self.seconds), now


def parse_window(text: str) -> Window:
    """``1 day``, ``last 6 hours``, ``90min``; ValueError otherwise."""
    words = text.strip()
    if words.lower().startswith("last"):
        words = words[4:]
    seconds = parse_duration(words, "day")
    if seconds <= 0:
        raise ValueError(f"{text!r}: a window must be longer than 0")
    return Window(seconds)


def lab_meters(lab: Lab) -> list[Meter]:
    """Every meter of the lab, group by group: ``interface``, port ``port + i`` for i < ``count``."""
    meters: list[Meter] = []
    for group in lab.groups:
        meters.extend(Meter(group.interface, group.port + index) for index in range(group.count))
    return meters


def console_meters(url: str, timeout: float = 30.0) -> list[Meter]:
    """The meters the console lists at ``url`` (``GET /api/meters``: ``address`` and ``port`` of each)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            listing = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise PlanError(f"{url}: cannot read the meter list: {reason}") from None
    if isinstance(listing, dict):
        listing = listing.get("meters")
    try:
        return [Meter(str(entry["address"]), int(entry["port"])) for entry in listing]
    except (TypeError, KeyError, ValueError):
        raise PlanError(f"{url}: not a meter list (a JSON list of objects with address and port)") from None


def load_lab_file(path: str) -> Lab:
    """The lab at ``path``; PlanError with the lab's one-line reason."""
    try:
        return load_lab(path)
    except ConfigError as error:
        raise PlanError(str(error)) from None


ASSOCIATION_OPTIONS: Final = {
    "client_sap": "client", "authentication": "auth", "context": "context", "security_suite": "security_suite",
    "lls_password": "password", "hls_secret": "secret", "block_cipher_key": "key",
    "authentication_key": "auth_key",
}
"""lab.ini association key -> the client option it fills."""


def association_options(lab: Lab, name: str, where: str) -> dict[str, Any]:
    """The client options of the lab's ``[association:NAME]``: SAP, mechanism, context,
    security, suite and the secrets. PlanError when the lab has no such association."""
    found = {association.name: association for association in lab.associations}
    if name not in found:
        raise PlanError(f"{where}: association {name!r}: the lab has none of that name "
                        f"({', '.join(sorted(found)) or 'none'})")
    association = found[name]
    options: dict[str, Any] = {}
    for key, option in ASSOCIATION_OPTIONS.items():
        value = getattr(association, key)
        if value is not None:
            options[option] = value.decode("latin-1") if key == "lls_password" else value
    if association.context == "ln-ciphered":
        options["security"] = association.security
    return options


PLAN_KEYS: Final = {
    "meters": "meters: HOST:PORT[-LAST] or a list of them",
    "lab": "a lab.ini: its meters (unless meters or console is given) and its associations",
    "console": "the console's /api/meters URL",
    "association": "the lab's association name, or a table of client options",
    "read": "a list of [CLASS/]OBIS:ATTR, or tables {target = ..., last = \"1 day\"}",
    "with_list": "true: one GET-Request-With-List per association",
    "repetitions": "associations per client",
    "duration": "or: keep going this long",
    "interval": "pause between two associations of a client",
    "concurrency": "associations open at once over all meters",
    "clients": "concurrent clients per meter",
    "timeout": "for the connect and every answer",
    "retries": "tries again after a failed attempt",
}
"""The plan's keys and what each means."""

_ASSOCIATION_TABLE_KEYS: Final = ("client", "auth", "password", "secret", "context", "security", "security_suite",
                                  "key", "auth_key", "system_title", "dedicated_key", "invocation_counter",
                                  "counter_object", "signing_key", "meter_key", "max_pdu")


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked plan: where each setting came from is the file."""

    path: str
    settings: Mapping[str, Any]
    targets: tuple[tuple[Target, Window | None], ...]


def _typed(path: str, key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise PlanError(f"{path}: {key}: expected {what}, not {value!r}")
    return value


def load_plan(path: str) -> Plan:
    """Read and check the plan at ``path``; PlanError naming the file and key."""
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as error:
        raise PlanError(f"{path}: cannot read the plan: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise PlanError(f"{path}: not TOML: {error}") from None
    settings: dict[str, Any] = {}
    targets: list[tuple[Target, Window | None]] = []
    for key, value in document.items():
        if key not in PLAN_KEYS:
            raise PlanError(f"{path}: {key}: unknown key (known: {', '.join(PLAN_KEYS)})")
        try:
            if key == "meters":
                texts = [value] if isinstance(value, str) else value
                _typed(path, key, texts, list, "a string or a list of strings")
                settings[key] = parse_meter_list(",".join(_typed(path, key, t, str, "a string") for t in texts))
            elif key in ("lab", "console"):
                settings[key] = _typed(path, key, value, str, "a string")
            elif key == "association":
                if isinstance(value, dict):
                    unknown = set(value) - set(_ASSOCIATION_TABLE_KEYS)
                    if unknown:
                        raise PlanError(f"{path}: association: unknown option {sorted(unknown)[0]!r} "
                                        f"(known: {', '.join(_ASSOCIATION_TABLE_KEYS)})")
                settings[key] = _typed(path, key, value, (str, dict), "a name or a table")
            elif key == "read":
                for item in _typed(path, key, value, list, "a list"):
                    if isinstance(item, str):
                        targets.append((parse_target(item), None))
                    elif isinstance(item, dict) and set(item) <= {"target", "last"} and "target" in item:
                        window = parse_window(str(item["last"])) if "last" in item else None
                        targets.append((parse_target(str(item["target"])), window))
                    else:
                        raise PlanError(f"{path}: read: {item!r}: expected a target or "
                                        "{target = \"...\", last = \"1 day\"}")
            elif key == "with_list":
                settings[key] = _typed(path, key, value, bool, "true or false")
            elif key in ("repetitions", "concurrency", "clients", "retries"):
                number = _typed(path, key, value, int, "a whole number")
                if number < (0 if key == "retries" else 1):
                    raise PlanError(f"{path}: {key}: must be at least {0 if key == 'retries' else 1}")
                settings[key] = number
            else:  # duration, interval, timeout
                settings[key] = parse_duration(_typed(path, key, value, (str, int, float), "a duration"))
        except PlanError:
            raise
        except ValueError as error:
            raise PlanError(f"{path}: {key}: {error}") from None
    return Plan(path, settings, tuple(targets))

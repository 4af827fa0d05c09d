"""Changing a running meter (the console's ``PATCH /api/meters/<id>``): load
profile interval and days, anomalies, faults, online/offline, and the keys,
passwords and secrets of its associations. Everything is checked before
anything changes; keys persist like those changed by key transfer, the other
settings last until the service restarts. New faults apply to the
connections opened after the change; those already open keep theirs
(``faults.FaultInjector``).

Taking a meter offline is a power failure to the meter: its runtime records
a power down then (the event logs' power failure, and the alarm push as the
meter's last gasp), and a power up when it comes back online."""

from __future__ import annotations

from typing import Any, Callable

from ..config import CHANGEABLE_KEYS, parse_anomalies, parse_faults, parse_hex, parse_password
from ..simulator.anomalies import Anomalies
from ..simulator.events import POWER_DOWN, POWER_UP
from .faults import FaultInjector
from .meter import MeterFactory

SETTINGS = ("load_profile_interval", "load_profile_days", "anomalies", "faults", "state", "associations")


class ReconfigureError(ValueError):
    """A change that cannot be made; the message says which and why."""


def _number(changes: dict[str, Any], key: str, allowed: Callable[[int], bool], what: str) -> int | None:
    if key not in changes:
        return None
    value = changes[key]
    if isinstance(value, bool) or not isinstance(value, int) or not allowed(value):
        raise ReconfigureError(f"{key}: {what}, not {value!r}")
    return value


def _text(changes: dict[str, Any], key: str) -> str | None:
    if key not in changes:
        return None
    if not isinstance(changes[key], str):
        raise ReconfigureError(f"{key}: a string such as lab.ini takes, not {changes[key]!r}")
    return str(changes[key])


def reconfigure(factory: MeterFactory, changes: dict[str, Any], set_online: Callable[[bool], None]) -> None:
    """Apply ``changes`` to the meter of ``factory``; ``set_online`` starts or
    stops its listening port."""
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ReconfigureError(f"unknown setting {unknown[0]!r}; known: {', '.join(SETTINGS)}")
    meter = factory.meter
    interval = _number(changes, "load_profile_interval", lambda v: v in (5, 15), "5 or 15 (minutes)")
    days = _number(changes, "load_profile_days", lambda v: 1 <= v <= 35, "1 to 35")
    anomalies = faults = None
    anomalies_text = _text(changes, "anomalies")
    if anomalies_text is not None:
        try:
            anomalies = Anomalies.of(meter.seed, [(a.kind, a.rate) for a in parse_anomalies(anomalies_text)])
        except ValueError as error:
            raise ReconfigureError(f"anomalies: {error}") from None
    faults_text = _text(changes, "faults")
    if faults_text is not None:
        try:
            faults = parse_faults(faults_text)
        except ValueError as error:
            raise ReconfigureError(f"faults: {error}") from None
        if any(f.kind == "offline" for f in faults):
            raise ReconfigureError('faults: "offline" is chosen at start; use "state": "offline"')
    state = _text(changes, "state")
    if state not in (None, "online", "offline"):
        raise ReconfigureError(f"state: online or offline, not {state!r}")
    new_keys = checked_keys(factory, changes.get("associations", {}))
    if interval is not None:
        meter.load_profile_period = interval * 60
    if days is not None:
        meter.load_profile_days = days
    if "anomalies" in changes:
        meter.anomalies = anomalies
    if faults is not None:
        factory.faults = FaultInjector.of(factory, faults)
        meter.faults = faults  # type: ignore[attr-defined]
    by_association: dict[str, dict[str, bytes]] = {}
    for association, name, key in new_keys:
        by_association.setdefault(association, {})[name] = key
    for association, keys in by_association.items():
        meter.security.change_keys(association, keys)
    if state is not None and (state == "online") != factory.online:
        factory.online = state == "online"
        set_online(factory.online)
        if not factory.online:
            meter.record(POWER_DOWN)
            for protocol in tuple(factory.protocols):
                protocol.transport.abortConnection()
        else:
            meter.record(POWER_UP)


def checked_keys(factory: MeterFactory, changes: Any) -> list[tuple[str, str, bytes]]:
    """The (association, key name, key) changes asked for, checked against
    the meter's associations and their suites' key lengths; ReconfigureError otherwise."""
    if not isinstance(changes, dict):
        raise ReconfigureError("associations: an object of association names")
    by_name = {a.name: a for a in factory.associations.values()}
    found = []
    for name, keys in changes.items():
        association = by_name.get(name)
        if association is None:
            raise ReconfigureError(f"associations: meter has no association {name!r}")
        if not isinstance(keys, dict):
            raise ReconfigureError(f"associations.{name}: an object of keys")
        for key, text in keys.items():
            if key not in CHANGEABLE_KEYS or not isinstance(text, str):
                raise ReconfigureError(f"associations.{name}.{key}: one of {', '.join(CHANGEABLE_KEYS)}, as a string")
            try:
                value = parse_password(text) if key == "lls_password" else parse_hex(text)
            except ValueError as error:
                raise ReconfigureError(f"associations.{name}.{key}: {error}") from None
            if not value:
                raise ReconfigureError(f"associations.{name}.{key}: empty")
            length = factory.plugins.suites[association.security_suite].key_length
            if key.endswith("_key") and len(value) != length:
                raise ReconfigureError(f"associations.{name}.{key}: {length} bytes for security suite "
                                       f"{association.security_suite}, not {len(value)}")
            found.append((name, key, value))
    return found

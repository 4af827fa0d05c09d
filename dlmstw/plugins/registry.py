"""The plugins installed: interface classes, mechanisms, security suites and
object sets, found with ``twisted.plugin.getPlugins`` in the ``dlmstw.plugins``
dropin package; the meter (``server``) and the client simulator (``client``)
take them from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, TypeVar

from twisted.plugin import getPlugins

from .. import plugins
from ..interfaces import IAuthenticationMechanism, IInterfaceClass, IObjectSet, ISecuritySuite


@dataclass(frozen=True)
class Registry:
    classes: dict[int, IInterfaceClass]
    mechanisms: dict[str, IAuthenticationMechanism]
    suites: dict[int, ISecuritySuite]
    object_sets: dict[str, IObjectSet]


K = TypeVar("K")
P = TypeVar("P")


def _unique(kind: str, items: Iterable[tuple[K, P]]) -> dict[K, P]:
    found: dict[K, P] = {}
    for key, plugin in items:
        if key in found:
            raise ValueError(f"two {kind} plugins claim {key!r}: {found[key]!r} and {plugin!r}")
        found[key] = plugin
    return found


def load_registry() -> Registry:
    """Every plugin found; two plugins with the same key are an error."""
    return Registry(
        classes=_unique("interface class", [(c.class_id, c) for c in getPlugins(IInterfaceClass, plugins)]),
        mechanisms=_unique("authentication mechanism",
                           [(m.name, m) for m in getPlugins(IAuthenticationMechanism, plugins)]),
        suites=_unique("security suite", [(s.suite_id, s) for s in getPlugins(ISecuritySuite, plugins)]),
        object_sets=_unique("object set", [(s.name, s) for s in getPlugins(IObjectSet, plugins)]),
    )

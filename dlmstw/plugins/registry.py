"""The plugins installed: interface classes, authentication mechanisms,
security suites and object sets, found with ``twisted.plugin.getPlugins`` in
the ``dlmstw.plugins`` dropin package (the meter and the client simulator
take them from here); and the checks of a lab against them.

``dlmstw.config`` reads lab.ini without knowing the plugins (it is a leaf
module): a model, a mechanism or a security suite is a name there, and
``check_lab`` says whether an installed plugin provides it and whether the
association's keys fit it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.plugin import getPlugins

from .. import plugins
from ..config import TEMPLATE_PREFIX, AssociationConfig, Lab
from ..errors import ConfigError
from ..interfaces import IAuthenticationMechanism, IInterfaceClass, IObjectSet, ISecuritySuite
from ..models import template
from ..models.templated import TemplateObjectSet
from ..security.keys import public_key_bytes

#: The keys of an association that the security suite's block cipher uses.
SUITE_KEYS = ("authentication_key", "block_cipher_key", "master_key")


@dataclass(frozen=True)
class Registry:
    classes: dict[int, IInterfaceClass]
    mechanisms: dict[str, IAuthenticationMechanism]
    suites: dict[int, ISecuritySuite]
    object_sets: dict[str, IObjectSet]
    #: Device templates read so far, by model name (``template:PATH``): each read once per process.
    templates: dict[str, TemplateObjectSet] = field(default_factory=dict)

    def object_set(self, name: str) -> IObjectSet:
        """The object set lab.ini's ``model`` names: an installed one, or a
        device template (read on first use, then shared); ValueError when
        the template cannot be served."""
        if not name.startswith(TEMPLATE_PREFIX):
            return self.object_sets[name]
        found = self.templates.get(name)
        if found is None:
            path = name[len(TEMPLATE_PREFIX):]
            try:
                found = TemplateObjectSet(name, template.load(path))
                found.check(self.classes)
            except ValueError as error:
                raise ValueError(f"template {path}: {error}") from None
            self.templates[name] = found
        return found


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
        suites=dict(sorted(_unique("security suite",
                                   [(s.suite_id, s) for s in getPlugins(ISecuritySuite, plugins)]).items())),
        object_sets=_unique("object set", [(s.name, s) for s in getPlugins(IObjectSet, plugins)]),
    )


@functools.cache
def installed() -> Registry:
    """The plugins, found once per process (the client's sessions share them)."""
    return load_registry()


def check_lab(registry: Registry, lab: Lab, path: str) -> None:
    """Every model, mechanism and security suite lab.ini names is installed,
    and each association's keys fit its mechanism and suite; ConfigError
    names the file (``path``), the section and the key."""
    for group in lab.groups:
        templates = [name for name in group.model if name.startswith(TEMPLATE_PREFIX)]
        if templates and len(group.model) > 1:
            raise ConfigError(path, f"meters:{group.name}", "model", f"{templates[0]} brings every object of the "
                              f"meter: give it alone, not with {', '.join(n for n in group.model if n != templates[0])}")
        for name in group.model:
            if name.startswith(TEMPLATE_PREFIX):
                try:
                    registry.object_set(name)
                except ValueError as error:
                    raise ConfigError(path, f"meters:{group.name}", "model", str(error)) from None
            elif name not in registry.object_sets:
                known = ", ".join(sorted(registry.object_sets))
                raise ConfigError(path, f"meters:{group.name}", "model",
                                  f"no object set named {name!r} is installed (installed: {known})")
    for association in lab.associations:
        _check_association(registry, association, path)


def _check_association(registry: Registry, association: AssociationConfig, path: str) -> None:
    """The mechanism's keys are set (Green Book 9.2.7.4), the suite's keys have
    its length, and a mechanism that signs has a suite with ECDSA and a client
    key on its curve (Green Book 9.2.3)."""
    section = f"association:{association.name}"
    name, number = association.authentication, association.security_suite
    mechanism = registry.mechanisms.get(name)
    if mechanism is None:
        raise ConfigError(path, section, "authentication", f"{name!r} is not an installed authentication mechanism "
                          f"(installed: {', '.join(sorted(registry.mechanisms))})")
    suite = registry.suites.get(number)
    if suite is None:
        raise ConfigError(path, section, "security_suite", f"no security suite {number} is installed "
                          f"(installed: {', '.join(map(str, registry.suites))})")
    length = suite.key_length
    for key in SUITE_KEYS:
        value: bytes | None = getattr(association, key)
        if value is not None and len(value) != length:
            raise ConfigError(path, section, key, f"must be {length} bytes ({2 * length} hex digits) for "
                              f"security_suite {number}, got {len(value)}")
    for key in mechanism.required_keys:
        if getattr(association, key) is None:
            raise ConfigError(path, section, key, f"required when authentication = {name}")
    signing = " or ".join(str(n) for n, s in registry.suites.items() if s.asymmetric)
    needs = f"needs security_suite {signing} (suite {number} has no ECDSA)"
    if mechanism.asymmetric and not suite.asymmetric:
        raise ConfigError(path, section, "security_suite", f"{name} {needs}")
    if association.client_public_key is not None:
        key, point = "client_public_key", association.client_public_key
    elif association.client_certificate is not None:
        key = "client_certificate"
        certified = x509.load_der_x509_certificate(association.client_certificate).public_key()
        assert isinstance(certified, ec.EllipticCurvePublicKey)  # dlmstw.config refuses any other
        point = public_key_bytes(certified)
    else:
        return
    if not suite.asymmetric:
        raise ConfigError(path, section, key, needs)
    try:
        suite.public_key_from_bytes(point)
    except ValueError as error:
        raise ConfigError(path, section, key, getattr(error, "reason", str(error))) from None

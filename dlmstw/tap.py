"""``twistd dlmssim``: options and the service maker (the plugin in
``twisted/plugins/dlmssim.py`` loads this module lazily)."""

from __future__ import annotations

from typing import Callable

from twisted.application.service import IService
from twisted.python import usage

from .config import load_lab
from .errors import ConfigError
from .monitor.capture import CaptureBus
from .server.registry import load_registry
from .server.service import LabService


def call_later(delay: float, function: Callable[[], None]) -> object:
    """The reactor's callLater, looked up when first used: twistd installs
    its reactor only after the options are parsed."""
    from twisted.internet import reactor
    return reactor.callLater(delay, function)  # type: ignore[attr-defined]


class Options(usage.Options):
    """Everything is checked here, so a bad lab stops ``twistd`` before it
    starts, with the file, section, key and problem."""

    optParameters = [
        ["config", "c", "etc/lab.ini", "The lab configuration (INI file)."],
    ]

    def postOptions(self) -> None:
        try:
            lab = load_lab(self["config"])
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        registry = load_registry()
        for group in lab.groups:
            for name in group.model:
                if name not in registry.object_sets:
                    known = ", ".join(sorted(registry.object_sets))
                    raise usage.UsageError(str(ConfigError(
                        self["config"], f"meters:{group.name}", "model",
                        f"no object set named {name!r} is installed (installed: {known})")))
        for association in lab.associations:
            if association.authentication not in registry.mechanisms:
                known = ", ".join(sorted(registry.mechanisms))
                raise usage.UsageError(str(ConfigError(
                    self["config"], f"association:{association.name}", "authentication",
                    f"{association.authentication!r} is not supported by the installed mechanisms ({known})")))
        try:
            self.service = LabService(lab, registry, CaptureBus(call_later))
        except ValueError as error:
            raise usage.UsageError(f"{self['config']}: {error}") from None


def makeService(options: Options) -> IService:
    return options.service

"""Dropin package for dlmstw plugins (``twisted.plugin``): a third party
ships a module in a ``dlmstw/plugins/`` folder anywhere on sys.path."""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []

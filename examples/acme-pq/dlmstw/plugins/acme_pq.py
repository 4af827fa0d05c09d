"""ACME's plugins for dlmstw, found by ``twisted.plugin.getPlugins`` in this
``dlmstw/plugins/`` folder (no ``__init__.py``): an interface class and an
object set, registered exactly as dlmstw's built-in ones."""

from acme_pq.flicker import FlickerSeverity
from acme_pq.objects import AcmePowerQuality

flicker_severity = FlickerSeverity()
acme_pq = AcmePowerQuality()

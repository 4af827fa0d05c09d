"""ACME power quality for dlmstw: the flicker severity interface class
(``acme_pq.flicker``) and the ``acme-pq`` object set (``acme_pq.objects``),
registered as plugins by ``dlmstw/plugins/acme_pq.py``."""

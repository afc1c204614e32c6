"""Extension points of the cache (Django signals; receivers connect in ``AppConfig.ready``).

All are sent with ``sender`` = the module-level ``CACHE_SENDER`` string ``"model_registry.cache"``.

``cache_hit``          key (model key), tier (``"l1"`` or ``"l2"``)
``cache_miss``         key (model key) — missed both tiers and loaded from the database
``cache_evicted``      key, tier (``"l1"``), reason (``"expired"``, ``"memory"``, ``"invalidated"``)
``cache_invalidated``  keys (list of model keys, empty for namespace-wide), scope (``"model"``,
                       ``"provider"``, ``"tags"``, ``"all"``), reason (free text)

Counters and latencies are not kept here: they go to prometheus-client (``caching/metrics.py``).
"""

from django.dispatch import Signal

CACHE_SENDER = "model_registry.cache"

cache_hit = Signal()
cache_miss = Signal()
cache_evicted = Signal()
cache_invalidated = Signal()

"""Extension points of the cache (Django signals; receivers connect in ``AppConfig.ready``).

All are sent with ``sender`` = the module-level ``CACHE_SENDER`` string ``"model_registry.cache"``.

``cache_hit``          key (model key), tier (``"l1"`` or ``"l2"``)
``cache_miss``         key (model key) — missed both tiers and loaded from the database
``cache_evicted``      key, tier (``"l1"``), reason (``"expired"``, ``"memory"``, ``"invalidated"``)
``cache_invalidated``  keys (list of model keys, empty for namespace-wide), scope (``"model"``,
                       ``"provider"``, ``"tags"``, ``"all"``), reason (free text)
``rule_notified``      an invalidation rule's ``notify`` action ran: rule (name), rule_id (``None``
                       for an unsaved rule), event (``"model_changed"``, ``"provider_updated"``,
                       ``"sync_applied"``, ``"schedule"``, ``"manual"``), keys (model keys the rule
                       hit), context (the event's context dict), message (the action's text, may be
                       empty). Sent once per firing (after commit for write events); an exception in a
                       receiver is logged and does not stop the rule.

Counters and latencies are not kept here: they go to prometheus-client (``caching/metrics.py``).
"""

from django.dispatch import Signal

CACHE_SENDER = "model_registry.cache"

cache_hit = Signal()
cache_miss = Signal()
cache_evicted = Signal()
cache_invalidated = Signal()
rule_notified = Signal()

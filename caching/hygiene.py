"""Cache hygiene for the scheduler: sweep L1, repair the Redis index sets, warm, snapshot stats.

``cache_hygiene_run()`` (the ``caching.tasks.cache_hygiene`` task) does, in order:

1. ``cache_sweep()`` — drop this process's expired L1 entries;
2. ``cache_index_prune()`` — drop *dangling* members of the provider/tag index sets of the
   current generation (``P:{G}:ip:*``, ``P:{G}:it:*``): members whose value key no longer
   exists (it expired, or a single-model invalidation deleted it; fills re-add members, so the
   sets otherwise only grow until they expire). Members are read with SSCAN and checked by
   ``lua/index_prune.lua`` — one pipeline per set, one atomic script call per batch — so a
   fill racing with the check is never undone;
3. ``cache_warm_popular()`` — read through the cache the models listed in ``WARM_KEYS`` plus
   the ``WARM_RECENT_COUNT`` most recently updated active models, so the first requests after a
   deploy, a flush or an invalidation find them in L2. (Read counts are not tracked, so "most
   read" is approximated by this documented list.) Skipped without L2: warming only this
   worker's L1 would serve nobody;
4. a stats snapshot (``cache_stats()``), returned so the task records it in ``TaskRun.result``.

Everything degrades to a no-op without Redis or with the cache off, and Redis errors go through
the circuit breaker (``RemoteUnavailable``; the task retries them).
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import NoScriptError

from models_registry.conf import registry_settings

from . import keys as k
from .remote import Script
from .service import model_cache
from .services import cache_stats, cache_sweep, cache_warm

BATCH = 500
_prune_script = Script("index_prune")


def cache_index_prune(*, batch: int = BATCH) -> dict[str, int]:
    """Drop dangling members of the current generation's index sets.
    Returns ``{"sets", "checked", "removed"}``."""
    cache = model_cache()
    if not cache.enabled or cache.remote is None:
        return {"sets": 0, "checked": 0, "removed": 0}
    remote = cache.remote
    gen = remote.generation()
    value_prefix = k.value_key(gen, "")
    patterns = [
        k._glob_escape(k.provider_index_key(gen, "")) + "*",
        k._glob_escape(k.tag_index_key(gen, "")) + "*",
    ]

    def work() -> dict[str, int]:
        client = remote.client
        _prune_script.ensure_loaded(client)
        sets = checked = removed = 0
        for pattern in patterns:
            for set_key in client.scan_iter(match=pattern, count=1000):
                sets += 1
                pipe = client.pipeline(transaction=False)
                members: list[bytes] = []
                for member in client.sscan_iter(set_key, count=batch):
                    members.append(member)
                    if len(members) >= batch:
                        _prune_script.queue(pipe, [set_key], [value_prefix, *members])
                        checked += len(members)
                        members = []
                if members:
                    _prune_script.queue(pipe, [set_key], [value_prefix, *members])
                    checked += len(members)
                try:
                    removed += sum(int(n) for n in pipe.execute())
                except NoScriptError:  # Redis restarted meanwhile: load the script again next time
                    _prune_script.sha = None
                    raise
        return {"sets": sets, "checked": checked, "removed": removed}

    return remote._run("index_prune", work)


def warm_keys() -> list[str]:
    """The documented warm list: ``WARM_KEYS``, then the most recently updated active models."""
    from models_registry.models import AIModel

    listed = [key for key in (registry_settings.WARM_KEYS or ()) if isinstance(key, str) and key]
    count = int(registry_settings.WARM_RECENT_COUNT or 0)
    recent = (
        list(
            AIModel.objects.filter(is_active=True)
            .order_by("-updated_at", "-pk")
            .values_list("key", flat=True)[:count]
        )
        if count > 0
        else []
    )
    return list(dict.fromkeys([*listed, *recent]))


def cache_warm_popular() -> dict[str, int]:
    """Warm the documented list into both tiers. Returns ``{"requested", "warmed"}``."""
    cache = model_cache()
    if not cache.enabled or cache.remote is None:
        return {"requested": 0, "warmed": 0}
    keys = []
    for key in warm_keys():
        try:
            keys.append(k.validate_model_key(key))
        except k.InvalidCacheKey:
            continue
    return {"requested": len(keys), "warmed": cache_warm(keys=keys) if keys else 0}


def cache_hygiene_run() -> dict[str, Any]:
    """Sweep, prune the index sets, warm, and return a stats snapshot (idempotent)."""
    return {
        "swept": cache_sweep(),
        "index": cache_index_prune(),
        "warm": cache_warm_popular(),
        "stats": cache_stats(),
    }

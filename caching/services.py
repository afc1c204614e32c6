"""Cache operations for people and maintenance: invalidate (recorded), refresh, warm, TTLs, stats.

Thin functions over ``caching.service.model_cache()``; the read path itself lives in
``models_registry.selectors``. Explicit invalidations are recorded as ``InvalidationEvent`` rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from models_registry.exceptions import RegistryValidationError

from . import keys as k
from .models import InvalidationEvent
from .remote import RemoteUnavailable
from .service import model_cache


def cache_invalidate(
    *,
    models: Sequence[str] = (),
    providers: Sequence[str] = (),
    tags: Sequence[str] = (),
    everything: bool = False,
    reason: str = "",
    actor=None,
) -> InvalidationEvent:
    """Invalidate by model keys, providers, tags, or everything (exactly one kind), and record it."""
    kinds = [bool(models), bool(providers), bool(tags), everything]
    if sum(kinds) != 1:
        raise RegistryValidationError(
            "Name exactly one of models, providers, tags or all.",
            field_errors={"non_field_errors": ["Name exactly one of models, providers, tags or all."]},
        )
    for key in models:
        try:
            k.validate_model_key(key)
        except k.InvalidCacheKey as exc:
            raise RegistryValidationError(field_errors={"models": [f"{key[:80]!r}: {exc}"]}) from exc
    for field, values, check in (
        ("providers", providers, k.validate_provider_name),
        ("tags", tags, k.validate_tag_name),
    ):
        for value in values:
            try:
                check(value)
            except k.InvalidCacheKey as exc:
                raise RegistryValidationError(field_errors={field: [f"{str(value)[:80]!r}: {exc}"]}) from exc
    cache = model_cache()
    was_lost = cache._lost_invalidation
    started = time.perf_counter()
    concerned: set[str] = set()  # providers of what was invalidated (for filters and stats)
    if everything:
        scope, targets = InvalidationEvent.Scope.ALL, []
        count = cache.invalidate_all(reason=reason)
    elif models:
        scope, targets = InvalidationEvent.Scope.MODEL, list(models)
        count = cache.invalidate(list(models), reason=reason, scope="model")
        concerned = {key.split("/", 1)[0] for key in models if "/" in key}
    elif providers:
        scope, targets = InvalidationEvent.Scope.PROVIDER, list(providers)
        count = len(cache.invalidate_indexes(providers=providers, reason=reason))
        concerned = set(providers)
    else:
        scope, targets = InvalidationEvent.Scope.TAGS, list(tags)
        members = cache.invalidate_indexes(tags=tags, reason=reason)
        count = len(members)
        concerned = {key.split("/", 1)[0] for key in members if "/" in key}
    degraded = cache.remote is not None and cache._lost_invalidation and not was_lost
    return InvalidationEvent.objects.create(
        scope=scope,
        targets=targets,
        providers=sorted(concerned),
        reason=reason,
        count=count,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        outcome=InvalidationEvent.Outcome.DEGRADED if degraded else InvalidationEvent.Outcome.OK,
        actor=actor if getattr(actor, "pk", None) else None,
    )


def cache_refresh(*, keys: Sequence[str]) -> int:
    """Reload models from the database into both tiers (invalidate, then read through)."""
    from models_registry.selectors import ai_model_get_many

    model_cache().invalidate(list(keys), reason="refresh", scope="model")
    return sum(1 for record in ai_model_get_many(keys=keys).values() if record is not None)


def cache_refresh_provider(*, provider: str) -> int:
    """Invalidate a provider's cached models and load every active one again."""
    from models_registry.models import AIModel

    model_cache().invalidate_indexes(providers=[provider], reason="refresh provider")
    keys = list(AIModel.objects.filter(provider__slug=provider, is_active=True).values_list("key", flat=True))
    return cache_refresh(keys=keys) if keys else 0


def cache_warm(*, keys: Sequence[str]) -> int:
    """Read ``keys`` through the cache so they are in both tiers (no invalidation)."""
    from models_registry.selectors import ai_model_get_many

    return sum(1 for record in ai_model_get_many(keys=keys).values() if record is not None)


def cache_has(*, key: str) -> bool:
    """Whether ``key`` is cached in this process's L1 or in Redis."""
    cache = model_cache()
    if ("m", key) in cache.local:
        return True
    if cache.remote is None:
        return False
    try:
        return cache.remote.exists(key, cache.gen)
    except RemoteUnavailable:
        return False


def cache_ttl(*, key: str) -> int | None:
    """Seconds left for ``key`` in Redis (``None``: not cached there)."""
    cache = model_cache()
    if cache.remote is None:
        return None
    try:
        return cache.remote.ttl(key, cache.gen)
    except RemoteUnavailable:
        return None


def cache_set_ttl(*, key: str, seconds: int) -> bool:
    """Change the remaining lifetime of a cached entry in Redis (``touch`` = reset to ``L2_TTL``)."""
    cache = model_cache()
    if cache.remote is None or seconds <= 0:
        return False
    try:
        return cache.remote.expire(key, cache.gen, seconds)
    except RemoteUnavailable:
        return False


def cache_touch(*, key: str) -> bool:
    return cache_set_ttl(key=key, seconds=model_cache().l2_ttl)


def cache_sweep() -> int:
    """Drop expired L1 entries now (they also go lazily)."""
    cache = model_cache()
    return cache.local.sweep() + cache.lists.sweep()


def cache_stats() -> dict:
    return model_cache().stats()

"""The read path: look models up and list them.

``ai_model_get`` / ``ai_model_get_many`` return immutable ``AIModelRecord`` objects (see
``records.py``), resolving aliases, through the two-tier cache (``caching.service``; the loaders
here are what it calls on a miss); ``ai_model_list`` returns a filtered queryset for the API
and the admin, ``ai_model_list_page`` a cached page of it. ``ai_model_get_cached`` and
``ai_model_page_cached`` read the cache only, with the values' fill times (degraded mode: the
database is unreachable). Filters on the JSON
``capabilities``/``tags`` columns use containment on PostgreSQL (served by the GIN indexes) and
JSON functions elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from caching.keys import InvalidCacheKey, validate_model_key
from caching.service import model_cache

from .exceptions import ModelNotFound
from .models import AIModel, ModelAlias, Provider
from .records import AIModelRecord, record_from_instance

# Capabilities that live in their own columns rather than in the ``capabilities`` map.
COLUMN_CAPABILITIES = {
    "streaming": "supports_streaming",
    "function_calling": "supports_function_calling",
    "vision": "supports_vision",
}
ORDERING_FIELDS = (
    "key",
    "name",
    "provider__slug",
    "mode",
    "context_window",
    "max_output_tokens",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "deprecation_date",
    "created_at",
    "updated_at",
)


def _base_queryset() -> QuerySet[AIModel]:
    return AIModel.objects.select_related("provider", "successor").prefetch_related("alternatives", "aliases")


def _load_records(keys: Sequence[str]) -> dict[str, AIModelRecord]:
    """Database loader for the cache: ``{requested key or alias: record}`` for the ones that exist."""
    wanted = list(dict.fromkeys(keys))
    found = {m.key: m for m in _base_queryset().filter(key__in=wanted)}
    missing = [k for k in wanted if k not in found]
    if missing:
        alias_map = dict(ModelAlias.objects.filter(alias__in=missing).values_list("alias", "ai_model_id"))
        if alias_map:
            by_id = _base_queryset().in_bulk(set(alias_map.values()))
            for alias, pk in alias_map.items():
                if pk in by_id:
                    found[alias] = by_id[pk]
    return {k: record_from_instance(m) for k, m in found.items()}


def _key_for_id(model_id: int) -> str | None:
    return AIModel.objects.filter(pk=model_id).values_list("key", flat=True).first()


def ai_model_get(*, key: str | None = None, id: int | None = None) -> AIModelRecord:  # noqa: A002
    """One model by key (or alias) or by id, through the two-tier cache. Raises ``ModelNotFound``."""
    if (key is None) == (id is None):
        raise TypeError("Pass exactly one of key= or id=.")
    try:
        if id is not None:
            record = model_cache().get_by_id(int(id), _key_for_id, _load_records)
        else:
            record = model_cache().get(key, _load_records)
    except InvalidCacheKey as exc:
        raise ModelNotFound(f"Model {key!r} does not exist ({exc}).") from exc
    if record is None:
        raise ModelNotFound(f"Model {key if key is not None else id!r} does not exist.")
    return record


def ai_model_get_many(*, keys: Iterable[str]) -> dict[str, AIModelRecord | None]:
    """``{key: record or None}`` for every requested key (aliases resolved), through the cache:
    one pass over L1, one MGET for the rest, one database query for what is still missing."""
    wanted = list(dict.fromkeys(keys))
    try:
        return model_cache().get_many(wanted, _load_records)
    except InvalidCacheKey:
        valid = [k for k in wanted if _valid_key(k)]
        found = model_cache().get_many(valid, _load_records)
        return {k: found.get(k) for k in wanted}


def _valid_key(key) -> bool:
    try:
        validate_model_key(key)
    except InvalidCacheKey:
        return False
    return True


def _json_contains(queryset: QuerySet, column: str, value) -> QuerySet:
    """Rows whose JSON ``column`` contains ``value`` (a dict for maps, a 1-item list for arrays)."""
    if connection.vendor == "postgresql":
        return queryset.filter(**{f"{column}__contains": value})
    if isinstance(value, dict):
        ((name, expected),) = value.items()
        return queryset.filter(**{f"{column}__{name}": expected})
    (item,) = value
    table = AIModel._meta.db_table
    return queryset.filter(
        pk__in=RawSQL(
            f"SELECT {table}.id FROM {table}, json_each({table}.{column}) WHERE json_each.value = %s", (item,)
        )
    )


def filter_capabilities(queryset: QuerySet, names: Sequence[str]) -> QuerySet:
    """Models that have every capability in ``names`` (``vision``, ``function_calling`` and
    ``streaming`` are columns; the rest are keys of ``capabilities`` that must be true)."""
    for name in names:
        name = name.strip()
        if name.startswith("supports_"):
            name = name[len("supports_") :]
        if name in COLUMN_CAPABILITIES:
            queryset = queryset.filter(**{COLUMN_CAPABILITIES[name]: True})
        elif name:
            queryset = _json_contains(queryset, "capabilities", {name: True})
    return queryset


def filter_tags(queryset: QuerySet, tags: Sequence[str]) -> QuerySet:
    """Models carrying every tag in ``tags``."""
    for tag in tags:
        if tag:
            queryset = _json_contains(queryset, "tags", [tag])
    return queryset


def filter_search(queryset: QuerySet, text: str) -> QuerySet:
    """Case-insensitive match on key, name, display name and description."""
    text = text.strip()
    if not text:
        return queryset
    return queryset.filter(
        Q(key__icontains=text)
        | Q(name__icontains=text)
        | Q(display_name__icontains=text)
        | Q(description__icontains=text)
    )


def ai_model_list(
    *,
    provider: str | None = None,
    mode: str | None = None,
    capabilities: Sequence[str] = (),
    tags: Sequence[str] = (),
    min_context: int | None = None,
    max_context: int | None = None,
    search: str | None = None,
    include_deprecated: bool = False,
    is_active: bool | None = True,
    ordering: Sequence[str] = ("key",),
) -> QuerySet[AIModel]:
    """Models matching every given filter. By default only active, non-deprecated models."""
    queryset = _base_queryset()
    if provider:
        queryset = queryset.filter(provider__slug=provider)
    if mode:
        queryset = queryset.filter(mode=mode)
    if min_context is not None:
        queryset = queryset.filter(context_window__gte=min_context)
    if max_context is not None:
        queryset = queryset.filter(context_window__lte=max_context)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    if not include_deprecated:
        queryset = queryset.filter(is_deprecated=False)
    queryset = filter_capabilities(queryset, capabilities)
    queryset = filter_tags(queryset, tags)
    if search:
        queryset = filter_search(queryset, search)
    allowed = {f for f in ORDERING_FIELDS} | {f"-{f}" for f in ORDERING_FIELDS}
    order = [o for o in ordering if o in allowed] or ["key"]
    if "key" not in order and "-key" not in order:
        order.append("key")
    return queryset.order_by(*order)


def ai_model_page(
    *, params: dict, queryset: QuerySet[AIModel], offset: int, limit: int
) -> tuple[int, list[AIModelRecord]]:
    """One page of ``queryset`` as ``(count, records)``, through the cache.

    ``params`` must describe ``queryset`` completely (the normalised filters and ordering): the
    page — its count and model keys — is cached under them and dropped on every model write; the
    records come from ``ai_model_get_many``, cached per model. ``queryset`` is only evaluated on
    a miss."""

    def load_page() -> dict:
        count = queryset.count()
        if offset >= count:  # also keeps absurd offsets out of the SQL
            return {"count": count, "keys": []}
        return {"count": count, "keys": list(queryset.values_list("key", flat=True)[offset : offset + limit])}

    page = model_cache().get_list({**params, "offset": offset, "limit": limit}, load_page)
    found = ai_model_get_many(keys=page["keys"])
    return page["count"], [found[key] for key in page["keys"] if found.get(key) is not None]


def ai_model_get_cached(
    *,
    key: str | None = None,
    id: int | None = None,  # noqa: A002
) -> tuple[AIModelRecord, float | None] | None:
    """Degraded mode (the database is unreachable): ``(record, fill time)`` of one model from
    the cache only — never the database — or ``None`` if it is not cached. The fill time is
    when the value was read from the database (epoch seconds; None if unknown)."""
    if (key is None) == (id is None):
        raise TypeError("Pass exactly one of key= or id=.")
    try:
        return model_cache().peek_by_id(int(id)) if id is not None else model_cache().peek(key)
    except InvalidCacheKey:
        return None


def ai_model_page_cached(
    *, params: dict, offset: int, limit: int
) -> tuple[int, list[AIModelRecord], float | None] | None:
    """Degraded mode: ``(count, records, oldest fill time)`` of a list page (as ``ai_model_page``
    caches it) from the cache only, or ``None`` unless the page and every model on it are cached."""
    found = model_cache().peek_list({**params, "offset": offset, "limit": limit})
    if found is None:
        return None
    page, oldest = found
    records = []
    for key in page["keys"]:
        entry = ai_model_get_cached(key=key)
        if entry is None:
            return None
        records.append(entry[0])
        oldest = None if oldest is None or entry[1] is None else min(oldest, entry[1])
    return page["count"], records, oldest


def ai_model_list_page(*, offset: int = 0, limit: int = 50, **filters) -> tuple[int, list[AIModelRecord]]:
    """``ai_model_page`` of ``ai_model_list(**filters)``."""
    params = {name: list(v) if isinstance(v, list | tuple) else v for name, v in filters.items()}
    for name in ("capabilities", "tags"):  # all must hold: order does not matter
        if name in params:
            params[name] = sorted(params[name])
    return ai_model_page(params=params, queryset=ai_model_list(**filters), offset=offset, limit=limit)


def ai_model_stats(*, now: dt.datetime | None = None) -> dict:
    """Catalogue figures: totals, by provider, by mode, by capability, added in the last 7 days."""
    now = now or timezone.now()
    models = AIModel.objects.all()
    active = models.filter(is_active=True)
    by_capability: dict[str, int] = {}
    for column_name, column in COLUMN_CAPABILITIES.items():
        by_capability[column_name] = active.filter(**{column: True}).count()
    for capabilities in active.exclude(capabilities={}).values_list("capabilities", flat=True).iterator():
        for name, value in (capabilities or {}).items():
            if value is True:
                by_capability[name] = by_capability.get(name, 0) + 1
    return {
        "total": models.count(),
        "active": active.count(),
        "inactive": models.filter(is_active=False).count(),
        "deprecated": active.filter(is_deprecated=True).count(),
        "providers": active.values("provider").distinct().count(),
        "by_provider": {
            row["provider__slug"]: row["n"]
            for row in active.values("provider__slug")
            .annotate(n=Count("id"))
            .order_by("-n", "provider__slug")
        },
        "by_mode": {
            (row["mode"] or "unknown"): row["n"]
            for row in active.values("mode").annotate(n=Count("id")).order_by("-n", "mode")
        },
        "by_capability": dict(sorted(by_capability.items(), key=lambda kv: (-kv[1], kv[0]))),
        "added_last_7_days": models.filter(created_at__gte=now - dt.timedelta(days=7)).count(),
    }


def provider_list() -> QuerySet[Provider]:
    """Providers by slug, annotated with ``model_count`` (all models) and ``active_model_count``."""
    return Provider.objects.annotate(
        model_count=Count("models"),
        active_model_count=Count("models", filter=Q(models__is_active=True)),
    ).order_by("slug")


def provider_get(*, ref: str) -> Provider | None:
    """One provider (annotated as in ``provider_list``) by slug, or by id when ``ref`` is digits
    and no provider has that slug; ``None`` when there is none."""
    queryset = provider_list()
    provider = queryset.filter(slug=ref).first()
    if provider is None and ref.isascii() and ref.isdigit() and len(ref) <= 18:
        provider = queryset.filter(pk=int(ref)).first()
    return provider

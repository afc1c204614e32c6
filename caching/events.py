"""The history of invalidations (``InvalidationEvent``): filters, figures, pruning.

- ``invalidation_events_filter_provider(queryset, provider)`` — events concerning a provider;
- ``invalidation_event_stats()`` — counts for the last 24 hours and 7 days and, over the last 7
  days, average duration, success rate (outcome ``ok`` or ``degraded``: the invalidation took
  effect, or is guaranteed to by a generation bump), counts by reason, provider, outcome and
  scope, the most common reason and the most active provider;
- ``invalidation_events_prune()`` — drops rows older than ``INVALIDATION_EVENT_RETENTION_DAYS``
  and beyond the newest ``INVALIDATION_EVENT_MAX_ROWS`` (the periodic maintenance calls it).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db import connections
from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from models_registry.conf import registry_settings

from .models import InvalidationEvent

STATS_WINDOW_DAYS = 7
TOP = 20
NO_REASON = "(none)"
_PRUNE_BATCH = 5000


def invalidation_events_filter_provider(queryset: QuerySet, provider: str) -> QuerySet:
    """Events whose ``providers`` list holds ``provider``."""
    if connections[queryset.db].vendor == "postgresql":
        return queryset.filter(providers__contains=[provider])
    table = InvalidationEvent._meta.db_table
    return queryset.filter(
        pk__in=RawSQL(
            f"SELECT {table}.id FROM {table}, json_each({table}.providers) WHERE json_each.value = %s",
            (provider,),
        )
    )


def _count_providers(window: QuerySet, *, since: dt.datetime) -> Counter:
    """Events per provider in the window (unnested in SQL on PostgreSQL, in Python elsewhere)."""
    connection = connections[window.db]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(InvalidationEvent._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT p, COUNT(*) FROM {table}, jsonb_array_elements_text("
                f"CASE WHEN jsonb_typeof(providers) = 'array' THEN providers ELSE '[]'::jsonb END) AS p "
                f"WHERE created_at >= %s GROUP BY p ORDER BY 2 DESC, 1 LIMIT %s",
                [since, TOP],
            )
            return Counter(dict(cursor.fetchall()))
    counts: Counter = Counter()
    for providers in window.values_list("providers", flat=True).iterator(chunk_size=2000):
        if isinstance(providers, list):
            counts.update(p for p in set(providers) if isinstance(p, str))
    return counts


def _top(counter: Counter) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:TOP])


def invalidation_event_stats(*, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    events = InvalidationEvent.objects.all()
    window = events.filter(created_at__gte=now - dt.timedelta(days=STATS_WINDOW_DAYS))
    figures = window.aggregate(
        count=Count("id"),
        average=Avg("duration_ms"),
        succeeded=Count("id", filter=Q(outcome__in=InvalidationEvent.SUCCESSFUL)),
        last_24h=Count("id", filter=Q(created_at__gte=now - dt.timedelta(hours=24))),
    )
    by_reason = Counter(
        {
            (row["reason"] or NO_REASON): row["n"]
            for row in window.values("reason").annotate(n=Count("id")).order_by("-n", "reason")[:TOP]
        }
    )
    by_outcome = {row["outcome"]: row["n"] for row in window.values("outcome").annotate(n=Count("id"))}
    by_scope = {row["scope"]: row["n"] for row in window.values("scope").annotate(n=Count("id"))}
    by_provider = _count_providers(window, since=now - dt.timedelta(days=STATS_WINDOW_DAYS))
    count = figures["count"]
    reasons, providers = _top(by_reason), _top(by_provider)
    return {
        "last_24h": figures["last_24h"],
        "last_7d": count,
        "window_days": STATS_WINDOW_DAYS,
        "average_duration_ms": None if figures["average"] is None else round(figures["average"], 3),
        "success_rate": None if not count else round(figures["succeeded"] / count, 4),
        "by_reason": reasons,
        "by_provider": providers,
        "by_outcome": dict(sorted(by_outcome.items())),
        "by_scope": dict(sorted(by_scope.items())),
        "most_common_reason": next(iter(reasons), None),
        "most_active_provider": next(iter(providers), None),
    }


def _delete_in_batches(queryset: QuerySet) -> int:
    deleted = 0
    while True:
        ids = list(queryset.values_list("id", flat=True)[:_PRUNE_BATCH])
        if not ids:
            return deleted
        deleted += InvalidationEvent.objects.filter(id__in=ids).delete()[0]


def invalidation_events_prune(*, older_than_days: int | None = None, max_rows: int | None = None) -> int:
    """Delete events older than ``older_than_days`` and all but the newest ``max_rows`` (defaults:
    the settings; 0 disables either rule). Returns the number of rows deleted."""
    days = registry_settings.INVALIDATION_EVENT_RETENTION_DAYS if older_than_days is None else older_than_days
    cap = registry_settings.INVALIDATION_EVENT_MAX_ROWS if max_rows is None else max_rows
    deleted = 0
    if days and days > 0:
        cutoff = timezone.now() - dt.timedelta(days=days)
        deleted += _delete_in_batches(InvalidationEvent.objects.filter(created_at__lt=cutoff))
    if cap and cap > 0:
        newest = InvalidationEvent.objects.order_by("-created_at", "-id")
        beyond = list(newest.values("created_at", "id")[cap : cap + 1])
        if beyond:  # the newest row beyond the cap: it and everything older go
            boundary = beyond[0]
            older = Q(created_at__lt=boundary["created_at"]) | Q(
                created_at=boundary["created_at"], id__lte=boundary["id"]
            )
            deleted += _delete_in_batches(InvalidationEvent.objects.filter(older))
    return deleted

"""Retention: old versions stop being restorable; their diff, impact and audit stay.

``versions_prune`` applies ``MAX_VERSIONS_PER_MODEL`` (keep the snapshots of the newest N versions
of each model) and ``VERSION_RETENTION_DAYS`` (drop snapshots older than that); 0 disables
either rule. A pruned version gets ``rollback_available = False``, ``pruned_at`` and (unless
``drop_snapshots=False``) loses its snapshot — its state can still be shown, rebuilt from a later
snapshot and the stored diffs (``selectors.version_state``). Never pruned: version 1, the current
(latest) version of a model, and the target of an open rollback request. Each pruned version
gets an audit row attributed to the system user. Idempotent; for the scheduler.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from models_registry import services
from models_registry.conf import registry_settings

from ..models import ModelVersion, RollbackRequest

PRUNE_REASON = "Pruned by the retention policy"
_CHUNK = 500


def prunable_versions(
    *, now: dt.datetime | None = None, max_versions: int | None = None, days: int | None = None
):
    """The versions the retention rules would prune now (a queryset)."""
    max_versions = int(registry_settings.MAX_VERSIONS_PER_MODEL if max_versions is None else max_versions)
    days = int(registry_settings.VERSION_RETENTION_DAYS if days is None else days)
    if max_versions <= 0 and days <= 0:
        return ModelVersion.objects.none()
    now = now or timezone.now()
    latest = (
        ModelVersion.objects.filter(ai_model_id=OuterRef("ai_model_id"))
        .order_by("-number")
        .values("number")[:1]
    )
    rule = Q()
    if max_versions > 0:
        rule |= Q(number__lte=F("latest") - max_versions)
    if days > 0:
        rule |= Q(created_at__lt=now - dt.timedelta(days=days))
    targets = RollbackRequest.objects.filter(status__in=RollbackRequest.OPEN_STATUSES).values(
        "target_version_id"
    )
    return (
        ModelVersion.objects.filter(rollback_available=True, number__gt=1)
        .annotate(latest=Subquery(latest))
        .filter(rule)
        .exclude(number=F("latest"))
        .exclude(pk__in=targets)
    )


@transaction.atomic
def versions_prune(*, now: dt.datetime | None = None, drop_snapshots: bool = True) -> int:
    """Apply the retention rules; returns how many versions were pruned."""
    now = now or timezone.now()
    ids = list(prunable_versions(now=now).values_list("pk", flat=True))
    if not ids:
        return 0
    system = services.system_user_get()
    for start in range(0, len(ids), _CHUNK):
        rows = list(
            ModelVersion.objects.select_for_update()
            .filter(pk__in=ids[start : start + _CHUNK])
            .defer("snapshot")
        )
        for row in rows:
            row.rollback_available = False
            row.pruned_at = now
            if drop_snapshots:
                row.snapshot = None
        fields = ["rollback_available", "pruned_at", *(["snapshot"] if drop_snapshots else [])]
        ModelVersion.objects.bulk_update(rows, fields)
        ModelVersion.history.bulk_history_create(
            rows, update=True, default_user=system, default_change_reason=PRUNE_REASON
        )
    return len(ids)

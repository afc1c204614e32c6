"""Hard deletion of models that have been deactivated (soft-deleted) for long enough.

``ai_model_purge_deactivated`` deletes models that are inactive and have not been written for
``PURGE_DEACTIVATED_AFTER_DAYS`` (``updated_at`` is the clock: any later write, a restore
included, restarts it). What survives a purge and what does not:

- kept: the model's django-simple-history rows (every field-level change, and a final
  "deleted" row attributed to the system user with the reason) — historical tables have no
  foreign-key constraints;
- deleted with it (``on_delete=CASCADE``): its aliases, its ``versioning.ModelVersion`` rows
  (snapshots and diffs; their own audit rows are kept) and its closed ``RollbackRequest`` rows
  (deleted first, one by one, so each is audited: see ``_delete_closed_rollback_requests``);
- never purged: a model with an open (pending/approved) rollback request.

Other models pointing at a purged one (as successor or alternative) are changed through the
write path first (``ai_model_update``, source ``system``), so the change is versioned and
invalidated like any other; models that are themselves due for purging are left to the
database (``SET NULL`` / M2M rows deleted). Each model goes in its own transaction, re-checked
under its row lock; the cache entries of the purged keys (and aliases) are invalidated after
the commit. Idempotent: a second run finds nothing more to do.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.apps import apps
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..conf import registry_settings
from ..exceptions import ApplicationError
from ..models import AIModel
from .actors import system_user_get
from .models import ai_model_update

logger = logging.getLogger("models_registry.services")

OPEN_ROLLBACK_STATUSES = ("pending", "approved")
REPORTED_KEYS = 100


def _due(cutoff: dt.datetime) -> QuerySet[AIModel]:
    return AIModel.objects.filter(is_active=False, updated_at__lt=cutoff)


def _open_rollback() -> Q:
    if not apps.is_installed("versioning"):
        return Q(pk__in=[])
    return Q(rollback_requests__status__in=OPEN_ROLLBACK_STATUSES)


def _invalidate_after_commit(keys: list[str]) -> None:
    if not keys or not apps.is_installed("caching"):
        return

    def invalidate() -> None:
        from caching.service import model_cache

        model_cache().invalidate(keys, reason="purged", scope="model")

    transaction.on_commit(invalidate)


def _delete_closed_rollback_requests(instance: AIModel, *, actor, reason: str) -> None:
    """Delete the model's (closed) rollback requests first, one by one, so each leaves its own
    audit row with the actor and reason (a cascade from the model would delete them silently)."""
    if not apps.is_installed("versioning"):
        return
    for request in instance.rollback_requests.all():
        request._history_user = actor
        request._change_reason = reason
        request.delete()


@transaction.atomic
def _purge_one(pk: int, *, cutoff: dt.datetime, actor, reason: str) -> tuple[str | None, int]:
    """Delete model ``pk`` if it is still due; returns (its key or None, references detached)."""
    instance = _due(cutoff).exclude(_open_rollback()).select_for_update(of=("self",)).filter(pk=pk).first()
    if instance is None:  # restored, written or given an open rollback request meanwhile
        return None, 0
    due = _due(cutoff).exclude(_open_rollback())
    detached = 0
    for predecessor in AIModel.objects.filter(successor=instance).exclude(pk__in=due.values("pk")):
        ai_model_update(
            ai_model=predecessor,
            data={"successor": None},
            actor=actor,
            reason=f"Successor {instance.key} purged",
            source="system",
        )
        detached += 1
    for other in instance.alternative_for.exclude(pk__in=due.values("pk")):
        remaining = [m for m in other.alternatives.all() if m.pk != instance.pk]
        ai_model_update(
            ai_model=other,
            data={"alternatives": remaining},
            actor=actor,
            reason=f"Alternative {instance.key} purged",
            source="system",
        )
        detached += 1
    key = instance.key
    aliases = list(instance.aliases.values_list("alias", flat=True))
    _delete_closed_rollback_requests(instance, actor=actor, reason=reason)
    instance._history_user = actor
    instance._change_reason = reason
    instance.delete()
    _invalidate_after_commit([key, *aliases])
    return key, detached


def ai_model_purge_deactivated(
    *,
    older_than_days: int | None = None,
    limit: int | None = None,
    actor=None,
    now: dt.datetime | None = None,
) -> dict:
    """Hard-delete models inactive and unwritten for ``older_than_days`` (default
    ``PURGE_DEACTIVATED_AFTER_DAYS``; 0 disables), at most ``limit`` (``PURGE_MAX_PER_RUN``)
    per call. Returns ``{"purged", "keys", "detached", "held_open_rollback", "errors", "days"}``."""
    days = int(registry_settings.PURGE_DEACTIVATED_AFTER_DAYS if older_than_days is None else older_than_days)
    if days <= 0:
        return {"purged": 0, "keys": [], "detached": 0, "held_open_rollback": 0, "errors": [], "days": 0}
    limit = int(registry_settings.PURGE_MAX_PER_RUN if limit is None else limit)
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    held = _due(cutoff).filter(_open_rollback()).distinct().count()
    ids = list(
        _due(cutoff)
        .exclude(_open_rollback())
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    actor = actor or system_user_get()
    reason = f"Purged: deactivated and unchanged for more than {days} day(s)"
    keys: list[str] = []
    errors: list[str] = []
    detached = 0
    for pk in ids:
        try:
            key, count = _purge_one(pk, cutoff=cutoff, actor=actor, reason=reason)
        except ApplicationError as exc:  # a referencing model could not be changed: keep this one
            errors.append(f"model {pk}: {exc.message}")
            logger.warning("model %s not purged: %s", pk, exc.message)
            continue
        detached += count
        if key is not None:
            keys.append(key)
    if keys:
        logger.info("purged %d deactivated model(s): %s", len(keys), ", ".join(keys[:REPORTED_KEYS]))
    return {
        "purged": len(keys),
        "keys": keys[:REPORTED_KEYS],
        "detached": detached,
        "held_open_rollback": held,
        "errors": errors,
        "days": days,
    }

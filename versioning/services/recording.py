"""Recording versions: called from the write path's hook, inside the write transaction.

``version_record`` turns one ``ai_model_written`` event into a ``ModelVersion``: the next number
of that model, the label the services already put on ``AIModel.version``, the full snapshot of
the state after the write, the diff with each change's category, impact level and summary, and
the actor, reason and source. Numbers are taken while the write path holds the model's row lock
(``SELECT … FOR UPDATE`` in ``ai_model_update`` / the bulk path; a created row is not visible to
anyone else yet), so concurrent writers queue on the lock and numbers stay gap-free;
``UniqueConstraint(ai_model, number)`` turns any bug into an error instead of a duplicate.

A model changed before versioning recorded it (rows that existed when the app was installed)
first gets version 1 from the write's ``before`` state (source ``system``), so its history
starts with a restorable baseline.

Version 1 (a creation, or a baseline) stores no changes: they are its snapshot, every field
added, and ``selectors.version_changes`` derives them when asked — imports stay fast and the
table half the size.

Versions are written with ``bulk_create`` (one row outside a batch; a whole import inside
``batching.version_batch``), and their audit rows with simple-history's
``bulk_history_create`` naming the actor — for API token users too, which simple-history's
middleware cannot see.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Max
from django.utils import timezone

from models_registry.conf import registry_settings
from models_registry.observability import events as observability

from .. import batching
from ..diff import Change, changed_fields, diff_states
from ..impact import FIRST_LABEL, Thresholds, assess, created_summary
from ..models import ModelVersion
from ..snapshots import encode_changes, encode_state

BASELINE_SOURCE = "system"
BASELINE_REASON = "Baseline: the state before versioning recorded this model's first change."
_CHUNK = 500

# Set by the rollback workflow around a restore: the number of the version being restored.
restoring_version: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "restoring_version", default=None
)


def impact_thresholds() -> Thresholds:
    """``Thresholds`` from ``MODEL_REGISTRY["IMPACT_*"]``."""
    return Thresholds(
        critical_price_increase_pct=Decimal(str(registry_settings.IMPACT_CRITICAL_PRICE_INCREASE_PCT)),
        critical_limit_decrease_pct=Decimal(str(registry_settings.IMPACT_CRITICAL_LIMIT_DECREASE_PCT)),
        critical_breaking_count=int(registry_settings.IMPACT_CRITICAL_BREAKING_COUNT),
        critical_fields=frozenset(registry_settings.IMPACT_CRITICAL_FIELDS),
    )


@dataclass
class PendingVersion:
    """One write reported by the write path, not yet stored."""

    instance: object  # the saved AIModel
    action: str
    before: dict | None
    after: dict
    changes: list[Change]
    actor: object
    reason: str
    source: str
    restored_from: int | None = None
    created_at: object = field(default_factory=timezone.now)


def version_record(
    *, instance, action: str, before, after, changes, actor=None, reason: str = "", source: str = ""
) -> ModelVersion | None:
    """Record the version made by one write (``None`` while a batch collects it)."""
    item = PendingVersion(
        instance=instance,
        action=action,
        before=before,
        after=after,
        changes=list(changes),
        actor=actor,
        reason=reason or "",
        source=source or "",
        restored_from=restoring_version.get() if action == "restore" else None,
    )
    collecting = batching.pending()
    if collecting is not None:
        collecting.append(item)
        return None
    return versions_write([item])[-1]


def _user(actor):
    return actor if getattr(actor, "pk", None) is not None else None


def _spaced(names) -> str:
    return f" {' '.join(sorted(names))} " if names else ""


def _row(item: PendingVersion, number: int, thresholds: Thresholds) -> ModelVersion:
    created = item.action == "create" or item.before is None
    impact = assess(item.changes, created=created, thresholds=thresholds)
    user = _user(item.actor)
    row = ModelVersion(
        ai_model_id=item.instance.pk,
        number=number,
        label=FIRST_LABEL if created and number == 1 else item.instance.version,
        revision=item.instance.revision,
        snapshot=encode_state(item.after),
        # A creation's changes are its snapshot, every field added: not stored twice
        # (``selectors.version_changes`` derives them).
        changes=[] if created else encode_changes(item.changes, impact.categories),
        changed_fields=_spaced(changed_fields(item.changes)),
        change_kinds=_spaced({c.kind for c in item.changes}),
        impact=impact.level,
        breaking=impact.breaking,
        summary=impact.summary,
        source=item.source,
        reason=item.reason,
        created_by=user,
        created_at=item.created_at,
        restored_from=item.restored_from,
    )
    row._history_user = user
    row._change_reason = item.reason
    return row


def _baseline(item: PendingVersion) -> ModelVersion:
    instance = item.instance
    fields = diff_states(None, item.before)
    row = ModelVersion(
        ai_model_id=instance.pk,
        number=1,
        label=FIRST_LABEL,
        revision=max(instance.revision - 1, 1),
        snapshot=encode_state(item.before),
        changes=[],
        changed_fields=_spaced(changed_fields(fields)),
        change_kinds=_spaced({c.kind for c in fields}),
        impact="low",
        summary={**created_summary(len(item.before)), "text": BASELINE_REASON},
        source=BASELINE_SOURCE,
        reason=BASELINE_REASON,
        created_at=instance.created_at or item.created_at,
    )
    row._history_user = None
    row._change_reason = BASELINE_REASON
    return row


def _latest_numbers(model_ids: list[int]) -> dict[int, int]:
    latest: dict[int, int] = {}
    for start in range(0, len(model_ids), _CHUNK):
        chunk = model_ids[start : start + _CHUNK]
        rows = (
            ModelVersion.objects.filter(ai_model_id__in=chunk)
            .values("ai_model_id")
            .annotate(latest=Max("number"))
            .values_list("ai_model_id", "latest")
        )
        latest.update(rows)
    return latest


def versions_write(items: list[PendingVersion]) -> list[ModelVersion]:
    """Store the versions of ``items`` (in order) with a constant number of queries per batch.

    Must run in the transaction of the writes, with their model rows locked (the write path
    guarantees both). Returns the rows written for ``items`` (baselines not included)."""
    if not items:
        return []
    thresholds = impact_thresholds()
    known = list(dict.fromkeys(i.instance.pk for i in items if i.action != "create"))
    latest = _latest_numbers(known) if known else {}
    rows: list[ModelVersion] = []
    results: list[ModelVersion] = []
    for item in items:
        pk = item.instance.pk
        current = latest.get(pk, 0)
        if current == 0 and item.action != "create" and item.before is not None:
            rows.append(_baseline(item))
            current = 1
        row = _row(item, current + 1, thresholds)
        latest[pk] = current + 1
        rows.append(row)
        results.append(row)
    ModelVersion.objects.bulk_create(rows, batch_size=_CHUNK)
    if rows[0].pk is None:  # a backend that cannot return ids from a bulk insert
        ids = {
            (m, n): pk
            for m, n, pk in ModelVersion.objects.filter(
                ai_model_id__in={r.ai_model_id for r in rows}
            ).values_list("ai_model_id", "number", "pk")
        }
        for row in rows:
            row.pk = ids[(row.ai_model_id, row.number)]
    ModelVersion.history.bulk_history_create(rows, batch_size=_CHUNK)
    observability.versions_recorded(versions=results, keys=[item.instance.key for item in items])
    return results

"""The bulk write path for catalogue imports.

``ai_model_bulk_upsert`` applies many models in one transaction with a constant number of
queries per batch (not per model or per field), yet keeps the single-write guarantees: every
model is validated, unchanged models are left alone, changed ones get ``revision + 1``, one
history row each (with actor and reason) and one ``ai_model_written`` signal each.
Providers the items name that do not exist yet are created first, each with a history row
naming the actor and a reason (``"Created by <reason of the import>"``).
Successors are resolved by key among existing and newly created models. Version labels are
computed before the rows are written, as on the single path; the versions themselves are
collected by ``versioning.batching.version_batch`` and written in bulk at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from versioning.batching import version_batch
from versioning.diff import diff_states

from ..exceptions import RegistryValidationError
from ..models import AIModel, ModelAlias, Provider
from ..records import ai_model_state
from .models import WRITABLE_FIELDS, _emit, _next_version_label, normalize_fields
from .providers import _display_name

# Columns a bulk update may write: every writable field stored on the row (alternatives is M2M).
COLUMN_FIELDS = frozenset(WRITABLE_FIELDS) - {"alternatives"}


@dataclass
class BulkItem:
    """One model to create or update. ``fields`` are ``WRITABLE_FIELDS`` except relations;
    ``successor_key`` names the successor by key; ``aliases`` are other ids it is known by."""

    provider: str
    name: str
    fields: dict[str, Any]
    successor_key: str | None = None
    aliases: list[str] = field(default_factory=list)
    ref: str = ""  # the id in the source, for error reports

    @property
    def key(self) -> str:
        return AIModel.make_key(self.provider, self.name)


@dataclass
class BulkResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (ref, reason)
    changes: dict[str, list] = field(default_factory=dict)  # key → list[Change]


# Relations the bulk path sets from rows it has just loaded or created; ``full_clean`` would
# otherwise check each with one ``SELECT 1`` per model.
_KNOWN_RELATIONS = ["provider", "successor"]


def _error_text(exc: Exception) -> str:
    if isinstance(exc, RegistryValidationError):
        return "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.field_errors.items())
    if isinstance(exc, ValidationError):
        return "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items())
    return str(exc)


def _ensure_providers(slugs: set[str], *, actor=None, reason: str = "") -> dict[str, Provider]:
    """The providers named by ``slugs``; missing ones are created (in three queries) with one
    history row each naming ``actor`` and the reason."""
    existing = {p.slug: p for p in Provider.objects.filter(slug__in=slugs)}
    missing = [Provider(slug=s, name=_display_name(s)) for s in sorted(slugs - set(existing))]
    for provider in missing:
        provider.full_clean(validate_unique=False)  # bulk_create(ignore_conflicts=True) below
    if missing:
        bulk_create_with_history(
            missing,
            Provider,
            ignore_conflicts=True,
            default_user=actor if getattr(actor, "pk", None) else None,
            default_change_reason=f"Created by {reason.strip() or 'an import'}.",
        )
        existing = {p.slug: p for p in Provider.objects.filter(slug__in=slugs)}
    return existing


def _chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@transaction.atomic
def ai_model_bulk_upsert(
    *,
    items: Sequence[BulkItem],
    actor=None,
    reason: str = "",
    source: str = "import",
    batch_size: int = 500,
    deactivate_missing_source: str | None = None,
    dry_run: bool = False,
) -> BulkResult:
    """Create or update ``items``; with ``deactivate_missing_source`` also deactivate active
    models of that source that are not among ``items``. ``dry_run`` computes the same result
    and rolls everything back."""
    result = BulkResult()
    providers = _ensure_providers({item.provider for item in items}, actor=actor, reason=reason)
    keys = [item.key for item in items]
    existing: dict[str, AIModel] = {}
    for chunk in _chunks(keys, batch_size):
        rows = (
            AIModel.objects.select_for_update(of=("self",))
            .filter(key__in=chunk)
            .select_related("provider", "successor")
            .prefetch_related("alternatives", "aliases")
        )
        existing.update({m.key: m for m in rows})

    now = timezone.now()
    to_create: list[tuple[BulkItem, AIModel]] = []
    to_update: list[tuple[BulkItem, AIModel, dict]] = []
    for item in items:
        try:
            values = normalize_fields(item.fields)
        except RegistryValidationError as exc:
            result.errors.append((item.ref or item.key, _error_text(exc)))
            continue
        instance = existing.get(item.key)
        if instance is None:
            instance = AIModel(provider=providers[item.provider], name=item.name, **values)
            instance.key = item.key
            instance.discovered_at = instance.discovered_at or now
            try:
                instance.full_clean(
                    exclude=_KNOWN_RELATIONS, validate_unique=False, validate_constraints=False
                )
            except ValidationError as exc:
                result.errors.append((item.ref or item.key, _error_text(exc)))
                continue
            to_create.append((item, instance))
        else:
            before = ai_model_state(instance)
            for name, value in values.items():
                setattr(instance, name, value)
            try:
                instance.full_clean(
                    exclude=_KNOWN_RELATIONS, validate_unique=False, validate_constraints=False
                )
            except ValidationError as exc:
                result.errors.append((item.ref or item.key, _error_text(exc)))
                continue
            to_update.append((item, instance, before))

    # Creates first, so successors can point at models created in this run.
    created_objs = [instance for _, instance in to_create]
    AIModel.objects.bulk_create(created_objs, batch_size=batch_size)
    if not created_objs or created_objs[0].pk is None:  # backends without RETURNING
        by_key = AIModel.objects.in_bulk([m.key for m in created_objs], field_name="key")
        for instance in created_objs:
            instance.pk = by_key[instance.key].pk
    all_models = {**existing, **{m.key: m for m in created_objs}}

    def _resolve_successor(item: BulkItem, instance: AIModel) -> None:
        if item.successor_key is None:
            return
        successor = all_models.get(item.successor_key)
        if successor is None:
            successor = AIModel.objects.filter(key=item.successor_key).first()
        if successor is not None and successor.pk != instance.pk:
            instance.successor = successor

    created_with_successor = []
    for item, instance in to_create:
        _resolve_successor(item, instance)
        if instance.successor_id:
            created_with_successor.append(instance)
    if created_with_successor:
        AIModel.objects.bulk_update(created_with_successor, ["successor"], batch_size=batch_size)

    changed: list[tuple[AIModel, dict, dict, list]] = []
    for item, instance, before in to_update:
        _resolve_successor(item, instance)
        aliases = sorted(set(before["aliases"]) | set(item.aliases))
        after = ai_model_state(instance, aliases=aliases)
        changes = diff_states(before, after)
        if changes:
            instance.revision += 1
            instance.version = _next_version_label(instance.version, changes)
            instance.updated_at = now
            changed.append((instance, before, after, changes))
        else:
            result.unchanged.append(instance.key)
    # Django's bulk_update builds one CASE WHEN per row and field: writing only the changed columns,
    # grouped by which columns changed, is several times faster than all 23 columns for every row.
    by_columns: dict[tuple[str, ...], list[AIModel]] = {}
    for instance, _, _, changes in changed:
        columns = {c.field.split(".", 1)[0] for c in changes} & COLUMN_FIELDS
        by_columns.setdefault(tuple(sorted(columns)), []).append(instance)
    for columns, objs in by_columns.items():
        AIModel.objects.bulk_update(
            objs, [*columns, "revision", "version", "updated_at"], batch_size=batch_size
        )

    deactivated: list[tuple[AIModel, dict, dict, list]] = []
    if deactivate_missing_source:
        seen = set(keys)
        stale = (
            AIModel.objects.select_for_update(of=("self",))
            .filter(source=deactivate_missing_source, is_active=True)
            .exclude(key__in=seen)
            .select_related("provider", "successor")
            .prefetch_related("alternatives", "aliases")
        )
        for instance in stale:
            before = ai_model_state(instance)
            instance.is_active = False
            instance.revision += 1
            instance.updated_at = now
            after = {**before, "is_active": False}
            changes = diff_states(before, after)
            instance.version = _next_version_label(instance.version, changes)
            deactivated.append((instance, before, after, changes))
        AIModel.objects.bulk_update(
            [d[0] for d in deactivated], ["is_active", "revision", "version", "updated_at"]
        )

    # Aliases: new ones only; an alias never moves silently from one model to another.
    alias_rows = []
    for item in items:
        model = all_models.get(item.key)
        if model is not None and model.pk is not None:
            alias_rows.extend(ModelAlias(alias=a, ai_model=model, source=source) for a in item.aliases)
    if alias_rows:
        ModelAlias.objects.bulk_create(alias_rows, ignore_conflicts=True, batch_size=batch_size)

    history_user = actor if getattr(actor, "pk", None) is not None else None
    history = AIModel.history
    if created_objs:
        history.bulk_history_create(
            created_objs, batch_size=batch_size, default_user=history_user, default_change_reason=reason
        )
    updated_objs = [c[0] for c in changed] + [d[0] for d in deactivated]
    if updated_objs:
        history.bulk_history_create(
            updated_objs,
            batch_size=batch_size,
            update=True,
            default_user=history_user,
            default_change_reason=reason,
        )

    item_aliases = {item.key: sorted(item.aliases) for item in items}
    with version_batch():  # the versions of all these writes: bulk-inserted at the end of the block
        for _, instance in to_create:
            after = ai_model_state(instance, alternatives=[], aliases=item_aliases.get(instance.key, []))
            result.created.append(instance.key)
            result.changes[instance.key] = diff_states(None, after)
            _emit(instance, "create", None, after, result.changes[instance.key], actor, reason, source)
        for instance, before, after, changes in changed:
            result.updated.append(instance.key)
            result.changes[instance.key] = changes
            _emit(instance, "update", before, after, changes, actor, reason, source)
        for instance, before, after, changes in deactivated:
            result.deactivated.append(instance.key)
            result.changes[instance.key] = changes
            _emit(instance, "deactivate", before, after, changes, actor, reason, source)

    if dry_run:
        transaction.set_rollback(True)
    return result

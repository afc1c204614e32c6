"""Single-model writes: create, update, deactivate, restore a snapshot.

Each function runs in one transaction, locks the row it changes (``SELECT … FOR UPDATE``),
validates with ``full_clean``, skips writes that change nothing (no revision bump, no history
row, no signal), and sends ``ai_model_written`` before the transaction commits.

The version label (``AIModel.version``) is computed here, before the save, from the changes
(``versioning.impact.next_label``: breaking → major, non-breaking → minor, cosmetic → patch), so
the row, its history row and the cache carry it; ``versioning`` records the version itself from
the hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from versioning.diff import Change, diff_states

from ..decimals import NotADecimal, normalize_price_map, to_decimal
from ..exceptions import ConflictError, ModelNotFound, PreconditionFailed, RegistryValidationError
from ..models import AIModel, ModelAlias, Provider
from ..records import STATE_FIELDS, ai_model_state
from ..signals import ai_model_written
from .errors import as_registry_error

# Fields callers may set. provider/name (hence key) are the identity and only set on create.
WRITABLE_FIELDS: tuple[str, ...] = (
    "display_name",
    "description",
    "mode",
    "context_window",
    "max_output_tokens",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "pricing",
    "supports_streaming",
    "supports_function_calling",
    "supports_vision",
    "capabilities",
    "tags",
    "metadata",
    "is_active",
    "is_deprecated",
    "deprecation_date",
    "successor",
    "alternatives",
    "source",
    "source_id",
    "documentation_url",
    "discovered_at",
)
SERVER_OWNED_FIELDS: tuple[str, ...] = ("id", "key", "revision", "version", "created_at", "updated_at")
DECIMAL_FIELDS = ("input_cost_per_1m", "output_cost_per_1m")


def _model_ref(value: Any, field: str) -> AIModel | None:
    """An AIModel given as instance, id or key (``None`` stays ``None``)."""
    if value is None or isinstance(value, AIModel):
        return value
    lookup = {"pk": value} if isinstance(value, int) else {"key": value}
    try:
        return AIModel.objects.get(**lookup)
    except (AIModel.DoesNotExist, ValueError, TypeError) as exc:
        raise RegistryValidationError(field_errors={field: [f"Unknown model {value!r}."]}) from exc


def normalize_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Check field names and bring values to their stored form (decimals exact, pricing numbers
    as decimal strings, relations as instances). Raises ``RegistryValidationError``."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for field, value in data.items():
        if field in SERVER_OWNED_FIELDS:
            errors[field] = ["This field is read-only."]
        elif field not in WRITABLE_FIELDS:
            errors[field] = ["Unknown field."]
        elif field in DECIMAL_FIELDS and value is not None:
            try:
                out[field] = to_decimal(value)
            except NotADecimal as exc:
                errors[field] = [f"A valid number is required ({exc})."]
        elif field == "pricing":
            out[field] = normalize_price_map(value) if value is not None else {}
        elif field in ("capabilities", "metadata") and value is None:
            out[field] = {}
        elif field == "tags" and value is None:
            out[field] = []
        elif (
            field in ("description", "display_name", "source", "source_id", "documentation_url", "mode")
            and value is None
        ):
            out[field] = ""
        else:
            out[field] = value
    if errors:
        raise RegistryValidationError(field_errors=errors)
    if "successor" in out:
        out["successor"] = _model_ref(out["successor"], "successor")
    if "alternatives" in out:
        out["alternatives"] = [_model_ref(v, "alternatives") for v in (out["alternatives"] or [])]
    return out


def _next_version_label(current: str, changes: list[Change]) -> str:
    """The label of the version ``changes`` make (computed before the save; see the docstring)."""
    from versioning.impact import next_label

    return next_label(current, changes)


def _validate(instance: AIModel) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise as_registry_error(exc) from exc


def _save(instance: AIModel, *, actor, reason: str) -> None:
    instance._change_reason = reason
    if actor is not None and getattr(actor, "pk", None) is not None:
        instance._history_user = actor
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ConflictError(f"Model {instance.key!r} conflicts with an existing row: {exc}") from exc


def _emit(instance, action, before, after, changes, actor, reason, source) -> None:
    ai_model_written.send(
        sender=AIModel,
        instance=instance,
        action=action,
        before=before,
        after=after,
        changes=changes,
        actor=actor,
        reason=reason,
        source=source,
    )


def _provider(value: Provider | str | int) -> Provider:
    if isinstance(value, Provider):
        return value
    lookup = {"pk": value} if isinstance(value, int) else {"slug": value}
    try:
        return Provider.objects.get(**lookup)
    except (Provider.DoesNotExist, ValueError) as exc:
        raise RegistryValidationError(field_errors={"provider": [f"Unknown provider {value!r}."]}) from exc


@transaction.atomic
def ai_model_create(
    *,
    provider: Provider | str | int,
    name: str,
    actor=None,
    reason: str = "",
    source: str = "api",
    data: Mapping[str, Any] | None = None,
    **fields: Any,
) -> AIModel:
    """Create a model (version 1). ``data`` and ``fields`` are any of ``WRITABLE_FIELDS``; pass the
    model's own ``source`` field in ``data`` (the ``source`` argument is where the change came from)."""
    provider_obj = _provider(provider)
    values = normalize_fields({**(data or {}), **fields})
    alternatives = values.pop("alternatives", [])
    instance = AIModel(provider=provider_obj, name=name or "", **values)
    instance.key = AIModel.make_key(provider_obj.slug, instance.name)
    _validate(instance)
    _save(instance, actor=actor, reason=reason)
    if alternatives:
        instance.alternatives.set(alternatives)
    after = ai_model_state(instance)
    _emit(instance, "create", None, after, diff_states(None, after), actor, reason, source)
    return instance


def _lock(ai_model: AIModel | int) -> AIModel:
    pk = ai_model.pk if isinstance(ai_model, AIModel) else ai_model
    try:
        return (
            AIModel.objects.select_for_update(of=("self",)).select_related("provider", "successor").get(pk=pk)
        )
    except AIModel.DoesNotExist as exc:
        raise ModelNotFound(f"Model {pk!r} does not exist.") from exc


def apply_changes(
    instance: AIModel,
    values: dict[str, Any],
    *,
    expected_revision: int | None = None,
) -> tuple[dict, dict, list[Change], list[AIModel] | None]:
    """Apply normalized ``values`` to a locked ``instance`` in memory and validate.

    Returns ``(before, after, changes, alternatives_or_None)``; nothing is saved.
    """
    if expected_revision is not None and instance.revision != expected_revision:
        raise PreconditionFailed(
            f"Model {instance.key!r} is at revision {instance.revision}, not {expected_revision}.",
            extra={"current_revision": instance.revision},
        )
    before = ai_model_state(instance)
    alternatives = values.pop("alternatives", None)
    for field, value in values.items():
        setattr(instance, field, value)
    _validate(instance)
    after = ai_model_state(
        instance, alternatives=None if alternatives is None else [m.key for m in alternatives]
    )
    return before, after, diff_states(before, after), alternatives


@transaction.atomic
def ai_model_update(
    *,
    ai_model: AIModel | int,
    data: Mapping[str, Any],
    actor=None,
    reason: str = "",
    source: str = "api",
    expected_revision: int | None = None,
    action: str = "update",
) -> AIModel:
    """Change the given fields. A write that changes nothing returns the row untouched."""
    values = normalize_fields(data)
    instance = _lock(ai_model)
    before, after, changes, alternatives = apply_changes(
        instance, values, expected_revision=expected_revision
    )
    if not changes:
        return instance
    instance.revision += 1
    instance.version = _next_version_label(instance.version, changes)
    _save(instance, actor=actor, reason=reason)
    if alternatives is not None:
        instance.alternatives.set(alternatives)
    _emit(instance, action, before, after, changes, actor, reason, source)
    return instance


def ai_model_deactivate(
    *,
    ai_model: AIModel | int,
    actor=None,
    reason: str = "",
    source: str = "api",
    expected_revision: int | None = None,
) -> AIModel:
    """Soft delete: the model stays (with its history) but is no longer active."""
    return ai_model_update(
        ai_model=ai_model,
        data={"is_active": False},
        actor=actor,
        reason=reason or "Deactivated",
        source=source,
        expected_revision=expected_revision,
        action="deactivate",
    )


# Every field a state (``records.STATE_FIELDS``) holds that a restore writes; provider and name
# are the identity (checked, never written) and aliases are rows of their own.
RESTORED_FIELDS: tuple[str, ...] = tuple(
    f for f in STATE_FIELDS if f in WRITABLE_FIELDS and f not in ("provider", "name")
)


def _restore_aliases(instance: AIModel, before: list[str], target: list[str], source: str) -> None:
    """Make the model's aliases exactly ``target``; an alias now held by another model (or equal
    to a model key) is not taken from it: ``ConflictError``."""
    added = sorted(set(target) - set(before))
    removed = sorted(set(before) - set(target))
    if added:
        held = ModelAlias.objects.filter(alias__in=added).exclude(ai_model=instance)
        taken = sorted(
            {*held.values_list("alias", flat=True)}
            | {*AIModel.objects.filter(key__in=added).values_list("key", flat=True)}
        )
        if taken:
            raise ConflictError(
                f"Cannot restore the aliases {', '.join(taken)} of {instance.key!r}: "
                "they now belong to another model."
            )
    if removed:
        ModelAlias.objects.filter(ai_model=instance, alias__in=removed).delete()
    if added:
        ModelAlias.objects.bulk_create([ModelAlias(alias=a, ai_model=instance, source=source) for a in added])


@transaction.atomic
def ai_model_restore_snapshot(
    *,
    ai_model: AIModel | int,
    snapshot: Mapping[str, Any],
    actor=None,
    reason: str = "",
    source: str = "rollback",
    expected_revision: int | None = None,
) -> AIModel:
    """Put the model back exactly in the state ``snapshot`` holds (a version's snapshot, encoded
    as stored or decoded): every scalar, the pricing / capabilities / metadata maps, tags, the
    successor by key, the alternatives by keys and the aliases.

    The same path as every write: row lock, ``full_clean``, diff, save with actor and reason,
    ``ai_model_written`` (action ``"restore"``) — so the restore is a new version and history is
    never rewritten. A restore that changes nothing returns the row untouched (no version). A
    snapshot of another model, or one naming a successor or alternative that no longer exists,
    is refused (``RegistryValidationError``) and nothing is written."""
    from versioning.snapshots import decode_state

    state = decode_state(dict(snapshot))
    missing = [f for f in STATE_FIELDS if f not in state]
    if missing:
        raise RegistryValidationError(
            f"The snapshot lacks {', '.join(missing)}.", field_errors={"snapshot": [f"Missing: {missing}"]}
        )
    instance = _lock(ai_model)
    if (state["provider"], state["name"]) != (instance.provider.slug, instance.name):
        raise RegistryValidationError(
            f"The snapshot is of {state['provider']}/{state['name']}, not {instance.key}.",
            field_errors={"snapshot": ["The snapshot belongs to another model."]},
        )
    if expected_revision is not None and instance.revision != expected_revision:
        raise PreconditionFailed(
            f"Model {instance.key!r} is at revision {instance.revision}, not {expected_revision}.",
            extra={"current_revision": instance.revision},
        )
    values = normalize_fields({f: state[f] for f in RESTORED_FIELDS})
    alternatives = values.pop("alternatives") or []
    aliases = sorted(state["aliases"] or [])
    before = ai_model_state(instance)
    for field, value in values.items():
        setattr(instance, field, value)
    _validate(instance)
    after = ai_model_state(instance, alternatives=[m.key for m in alternatives], aliases=aliases)
    changes = diff_states(before, after)
    if not changes:
        return instance
    instance.revision += 1
    instance.version = _next_version_label(instance.version, changes)
    _save(instance, actor=actor, reason=reason)
    instance.alternatives.set(alternatives)
    _restore_aliases(instance, before["aliases"], aliases, source)
    _emit(instance, "restore", before, after, changes, actor, reason, source)
    return instance

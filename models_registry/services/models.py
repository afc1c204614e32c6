"""Single-model writes: create, update, deactivate.

Each function runs in one transaction, locks the row it changes (``SELECT … FOR UPDATE``),
validates with ``full_clean``, skips writes that change nothing (no revision bump, no history
row, no signal), and sends ``ai_model_written`` before the transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from versioning.diff import Change, diff_states

from ..decimals import NotADecimal, normalize_price_map, to_decimal
from ..exceptions import ConflictError, ModelNotFound, PreconditionFailed, RegistryValidationError
from ..models import AIModel, Provider
from ..records import ai_model_state
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

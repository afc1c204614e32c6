"""Snapshots of an AIModel: a comparable *state* and an immutable *record*.

- ``ai_model_state(instance)`` → a plain dict of every field a change can touch, with Python
  values (``Decimal`` for prices, pricing values as ``Decimal``, ``date``, relations by key). It
  is what ``versioning.diff`` compares and what a version snapshot stores.
- ``AIModelRecord`` is what the read API hands out: a frozen dataclass whose maps are
  ``MappingProxyType`` and lists tuples, so a caller cannot corrupt a cached value by mutating
  it. ``record_to_dict`` / ``record_from_dict`` give its JSON form (decimals as strings).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from .decimals import NotADecimal, decimal_to_str, to_decimal

# Fields a write can change, in a stable order. Relations are represented by model keys.
STATE_FIELDS: tuple[str, ...] = (
    "provider",
    "name",
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
    "aliases",
)


def _pricing_state(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _pricing_state(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pricing_state(item) for item in value]
    try:
        return to_decimal(value)
    except NotADecimal:
        return value


def ai_model_state(
    instance, *, alternatives: list[str] | None = None, aliases: list[str] | None = None
) -> dict:
    """The comparable state of a saved or unsaved AIModel. ``alternatives`` / ``aliases`` override
    what is in the database (used before an M2M change is written)."""
    if alternatives is None:
        alternatives = sorted(m.key for m in instance.alternatives.all()) if instance.pk else []
    if aliases is None:
        aliases = sorted(a.alias for a in instance.aliases.all()) if instance.pk else []
    successor_key = None
    if instance.successor_id:
        successor_key = instance.successor.key
    return {
        "provider": instance.provider.slug if instance.provider_id else None,
        "name": instance.name,
        "display_name": instance.display_name,
        "description": instance.description,
        "mode": instance.mode,
        "context_window": instance.context_window,
        "max_output_tokens": instance.max_output_tokens,
        "input_cost_per_1m": None
        if instance.input_cost_per_1m is None
        else to_decimal(instance.input_cost_per_1m),
        "output_cost_per_1m": None
        if instance.output_cost_per_1m is None
        else to_decimal(instance.output_cost_per_1m),
        "pricing": _pricing_state(instance.pricing or {}),
        "supports_streaming": instance.supports_streaming,
        "supports_function_calling": instance.supports_function_calling,
        "supports_vision": instance.supports_vision,
        "capabilities": dict(instance.capabilities or {}),
        "tags": list(instance.tags or []),
        "metadata": dict(instance.metadata or {}),
        "is_active": instance.is_active,
        "is_deprecated": instance.is_deprecated,
        "deprecation_date": instance.deprecation_date,
        "successor": successor_key,
        "alternatives": sorted(alternatives),
        "source": instance.source,
        "source_id": instance.source_id,
        "documentation_url": instance.documentation_url,
        "aliases": sorted(aliases),
    }


def freeze(value: Any) -> Any:
    """Deeply immutable copy: dict → MappingProxyType, list → tuple."""
    if isinstance(value, dict):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The JSON-able inverse of ``freeze`` (decimals and dates as strings)."""
    if isinstance(value, MappingProxyType | dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    if isinstance(value, Decimal):
        return decimal_to_str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class AIModelRecord:
    """An immutable view of one model, as the read API returns it."""

    id: int
    key: str
    provider: str
    name: str
    display_name: str
    description: str
    mode: str
    context_window: int | None
    max_output_tokens: int | None
    input_cost_per_1m: Decimal | None
    output_cost_per_1m: Decimal | None
    pricing: MappingProxyType
    supports_streaming: bool | None
    supports_function_calling: bool | None
    supports_vision: bool | None
    capabilities: MappingProxyType
    tags: tuple
    metadata: MappingProxyType
    is_active: bool
    is_deprecated: bool
    deprecation_date: dt.date | None
    successor: str | None
    alternatives: tuple
    aliases: tuple
    source: str
    source_id: str
    documentation_url: str
    version: str
    revision: int
    discovered_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


RECORD_FIELDS = tuple(f.name for f in fields(AIModelRecord))


def record_from_instance(instance) -> AIModelRecord:
    """Build the record of a saved AIModel (relations should be prefetched by the caller)."""
    state = ai_model_state(instance)
    return AIModelRecord(
        id=instance.pk,
        key=instance.key,
        provider=state["provider"],
        name=instance.name,
        display_name=instance.display_name,
        description=instance.description,
        mode=instance.mode,
        context_window=instance.context_window,
        max_output_tokens=instance.max_output_tokens,
        input_cost_per_1m=state["input_cost_per_1m"],
        output_cost_per_1m=state["output_cost_per_1m"],
        pricing=freeze(instance.pricing or {}),
        supports_streaming=instance.supports_streaming,
        supports_function_calling=instance.supports_function_calling,
        supports_vision=instance.supports_vision,
        capabilities=freeze(state["capabilities"]),
        tags=freeze(state["tags"]),
        metadata=freeze(state["metadata"]),
        is_active=instance.is_active,
        is_deprecated=instance.is_deprecated,
        deprecation_date=instance.deprecation_date,
        successor=state["successor"],
        alternatives=freeze(state["alternatives"]),
        aliases=freeze(state["aliases"]),
        source=instance.source,
        source_id=instance.source_id,
        documentation_url=instance.documentation_url,
        version=instance.version,
        revision=instance.revision,
        discovered_at=instance.discovered_at,
        created_at=instance.created_at,
        updated_at=instance.updated_at,
    )


def record_to_dict(record: AIModelRecord) -> dict:
    """JSON-able dict of a record (decimals as strings, dates ISO 8601)."""
    return {name: thaw(getattr(record, name)) for name in RECORD_FIELDS}


def record_from_dict(data: dict) -> AIModelRecord:
    """Inverse of ``record_to_dict``."""

    def _dec(value):
        return None if value is None else Decimal(value)

    def _date(value):
        return None if value is None else dt.date.fromisoformat(value)

    def _datetime(value):
        return None if value is None else dt.datetime.fromisoformat(value)

    values = {name: data[name] for name in RECORD_FIELDS}
    values["input_cost_per_1m"] = _dec(values["input_cost_per_1m"])
    values["output_cost_per_1m"] = _dec(values["output_cost_per_1m"])
    values["deprecation_date"] = _date(values["deprecation_date"])
    for name in ("discovered_at", "created_at", "updated_at"):
        values[name] = _datetime(values[name])
    for name in ("pricing", "capabilities", "metadata", "tags", "alternatives", "aliases"):
        values[name] = freeze(values[name])
    return AIModelRecord(**values)

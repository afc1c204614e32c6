"""JSON form of model states and changes, exact in both directions (pure functions).

A version's ``snapshot`` is ``encode_state(ai_model_state(model))``: decimals become canonical
decimal strings (``"2.5"``), dates ISO 8601 (``"2025-06-30"``), everything else is already JSON.
``decode_state`` gives back the very dict ``ai_model_state`` produced — prices and pricing values
as ``Decimal``, the deprecation date as ``date`` — so ``decode_state(encode_state(s)) == s``.
Decoding is field-aware (a metadata value ``"1.5"`` stays a string; a pricing value ``"1.5"`` is a
price) and idempotent (decoding a decoded state changes nothing).

Changes are stored as ``encode_change(change)``: ``{field, path, old, new, kind, category}``
with values encoded the same way; ``decode_change`` restores a ``diff.Change``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from models_registry.decimals import NotADecimal, decimal_to_str, to_decimal

from .diff import Change, change_category

DECIMAL_FIELDS = frozenset({"input_cost_per_1m", "output_cost_per_1m"})
DATE_FIELDS = frozenset({"deprecation_date"})
PRICE_MAP_FIELDS = frozenset({"pricing"})
SNAPSHOT_FORMAT = 1


def encode_value(value: Any) -> Any:
    """JSON-able form: Decimal → canonical string, date → ISO, containers recursively."""
    if isinstance(value, Decimal):
        return decimal_to_str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): encode_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode_value(item) for item in value]
    return value


def _prices(value: Any) -> Any:
    """Numbers and decimal strings in a pricing tree → Decimal (what ``ai_model_state`` holds)."""
    if isinstance(value, dict):
        return {key: _prices(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_prices(item) for item in value]
    try:
        return to_decimal(value)
    except NotADecimal:
        return value


def _date(value: Any) -> Any:
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def decode_value(path: tuple[str, ...] | list[str], value: Any) -> Any:
    """The state form of an encoded ``value`` found at ``path`` (top-level field first)."""
    if value is None:
        return None
    top = path[0]
    if top in DECIMAL_FIELDS and len(path) == 1:
        return to_decimal(value)
    if top in PRICE_MAP_FIELDS:
        return _prices(value)
    if top in DATE_FIELDS and len(path) == 1:
        return _date(value)
    if isinstance(value, dict):
        return {key: decode_value((*path, key), item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_value(path, item) for item in value]
    return value


def encode_state(state: dict) -> dict:
    """The JSON form of a state dict (``models_registry.records.ai_model_state``)."""
    return {name: encode_value(value) for name, value in state.items()}


def decode_state(data: dict) -> dict:
    """The state dict of an encoded snapshot (exact inverse of ``encode_state``)."""
    return {name: decode_value((name,), value) for name, value in data.items()}


def encode_change(change: Change, category: str | None = None) -> dict:
    return {
        "field": change.field,
        "path": list(change.parts),
        "old": encode_value(change.old),
        "new": encode_value(change.new),
        "kind": change.kind,
        "category": category or change_category(change),
    }


def encode_changes(changes: list[Change], categories: list[str] | None = None) -> list[dict]:
    categories = categories or [None] * len(changes)
    return [encode_change(c, cat) for c, cat in zip(changes, categories, strict=True)]


def decode_change(data: dict) -> Change:
    path = tuple(data.get("path") or data["field"].split("."))
    return Change(
        data["field"], decode_value(path, data["old"]), decode_value(path, data["new"]), data["kind"], path
    )


def decode_changes(data: list[dict]) -> list[Change]:
    return [decode_change(item) for item in data or []]

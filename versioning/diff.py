"""Field-level differences between two model states (pure functions, no database).

``diff_states(old, new)`` compares two dicts as produced by
``models_registry.records.ai_model_state``: nested maps (capabilities, pricing, metadata) are
compared key by key and reported as ``"pricing.input_cost_per_image"``; decimals compare as
decimals (``Decimal("1.50") == Decimal("1.5")``); booleans never equal numbers; lists compare
as wholes. ``None`` and a missing key both mean "absent": absent → value is ``added``,
value → absent is ``removed``, anything else ``changed``. The result is sorted by field name,
so it never depends on key order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Change:
    """One field-level change. ``field`` is dotted for keys of nested maps."""

    field: str
    old: Any
    new: Any
    kind: str

    def as_dict(self) -> dict:
        return {"field": self.field, "old": self.old, "new": self.new, "kind": self.kind}


def values_equal(old: Any, new: Any) -> bool:
    """Equality that treats decimals by value, refuses bool == number, recurses into containers."""
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, int | float | Decimal) and isinstance(new, int | float | Decimal):
        return Decimal(str(old)) == Decimal(str(new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(values_equal(old[k], new[k]) for k in old)
    if isinstance(old, list | tuple) and isinstance(new, list | tuple):
        return len(old) == len(new) and all(values_equal(a, b) for a, b in zip(old, new, strict=True))
    return type(old) is type(new) and old == new


def _absent(value: Any) -> bool:
    return value is _MISSING or value is None


def _diff_value(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            _diff_value(f"{path}.{key}", old.get(key, _MISSING), new.get(key, _MISSING), out)
        return
    if _absent(old) and _absent(new):
        return
    if _absent(old):
        out.append(Change(path, None, new, ADDED))
    elif _absent(new):
        out.append(Change(path, old, None, REMOVED))
    elif not values_equal(old, new):
        out.append(Change(path, old, new, CHANGED))


def _empty_as_missing(value: Any) -> Any:
    return _MISSING if isinstance(value, dict | list | tuple) and not value else value


def diff_states(old: dict | None, new: dict) -> list[Change]:
    """Changes that turn state ``old`` into state ``new`` (``old=None``: everything is added).

    Empty maps and lists count as absent at the top level, so ``{}`` → ``{"a": 1}`` is reported
    as the added key ``a``, not as a changed map.
    """
    old = old or {}
    out: list[Change] = []
    for field in sorted(set(old) | set(new)):
        before = _empty_as_missing(old.get(field, _MISSING))
        after = _empty_as_missing(new.get(field, _MISSING))
        if isinstance(before, dict) and isinstance(after, dict):
            _diff_value(field, before, after, out)
        elif isinstance(before, dict) and _absent(after):
            _diff_value(field, before, {}, out)
        elif isinstance(after, dict) and _absent(before):
            _diff_value(field, {}, after, out)
        else:
            _diff_value(field, before, after, out)
    return sorted(out, key=lambda change: change.field)


def changed_fields(changes: list[Change]) -> set[str]:
    """Top-level field names touched by ``changes``."""
    return {change.field.split(".", 1)[0] for change in changes}

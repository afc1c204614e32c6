"""Field-level differences between two model states, and what each difference means (pure
functions, no database).

``diff_states(old, new)`` compares two dicts as produced by
``models_registry.records.ai_model_state``: nested maps (capabilities, pricing, metadata) are
compared key by key and reported as ``"pricing.input_cost_per_image"``; decimals compare as
decimals (``Decimal("1.50") == Decimal("1.5")``); booleans never equal numbers; lists compare
as wholes. ``None`` and a missing key both mean "absent": absent → value is ``added``,
value → absent is ``removed``, anything else ``changed``. The result is sorted by field name,
so it never depends on key order. Each ``Change`` also carries its ``path`` (the keys from the
top-level field down), because a map key may itself contain a dot.

``change_category(change)`` says whether a change is ``breaking``, ``non_breaking`` or
``cosmetic`` (the rules are in its docstring and the README). ``apply_changes(state, changes)``
turns ``old`` into ``new`` again and ``revert_changes(new, changes)`` goes back; the impact level
and the version label are computed from the categories in ``versioning.impact``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
KINDS = (ADDED, REMOVED, CHANGED)

BREAKING = "breaking"
NON_BREAKING = "non_breaking"
COSMETIC = "cosmetic"
CATEGORIES = (BREAKING, NON_BREAKING, COSMETIC)

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Change:
    """One field-level change. ``field`` is dotted for keys of nested maps; ``path`` holds the
    same keys unjoined (``None`` means ``field.split(".")``)."""

    field: str
    old: Any
    new: Any
    kind: str
    path: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict:
        return {"field": self.field, "old": self.old, "new": self.new, "kind": self.kind}

    @property
    def parts(self) -> tuple[str, ...]:
        return self.path if self.path is not None else tuple(self.field.split("."))

    @property
    def top(self) -> str:
        """The top-level field (``pricing`` for ``pricing.input_cost_per_image``)."""
        return self.parts[0]


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


def _diff_value(parts: tuple[str, ...], old: Any, new: Any, out: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            _diff_value((*parts, key), old.get(key, _MISSING), new.get(key, _MISSING), out)
        return
    if _absent(old) and _absent(new):
        return
    name = ".".join(str(p) for p in parts)
    if _absent(old):
        out.append(Change(name, None, new, ADDED, parts))
    elif _absent(new):
        out.append(Change(name, old, None, REMOVED, parts))
    elif not values_equal(old, new):
        out.append(Change(name, old, new, CHANGED, parts))


def _empty_as_missing(value: Any) -> Any:
    return _MISSING if isinstance(value, dict | list | tuple) and not value else value


def diff_states(old: dict | None, new: dict) -> list[Change]:
    """Changes that turn state ``old`` into state ``new`` (``old=None``: everything is added).

    Empty maps and lists count as absent at the top level, so ``{}`` → ``{"a": 1}`` is reported
    as the added key ``a``, not as a changed map.
    """
    old = old or {}
    out: list[Change] = []
    for name in sorted(set(old) | set(new)):
        before = _empty_as_missing(old.get(name, _MISSING))
        after = _empty_as_missing(new.get(name, _MISSING))
        if isinstance(before, dict) and isinstance(after, dict):
            _diff_value((name,), before, after, out)
        elif isinstance(before, dict) and _absent(after):
            _diff_value((name,), before, {}, out)
        elif isinstance(after, dict) and _absent(before):
            _diff_value((name,), {}, after, out)
        else:
            _diff_value((name,), before, after, out)
    return sorted(out, key=lambda change: change.field)


def changed_fields(changes: list[Change]) -> set[str]:
    """Top-level field names touched by ``changes``."""
    return {change.top for change in changes}


# --------------------------------------------------------------------------------------------
# Applying changes
# --------------------------------------------------------------------------------------------


def _empty_like(value: Any) -> Any:
    """What an absent top-level value is in a state: ``[]`` for lists, ``{}`` for maps, else None."""
    if isinstance(value, list | tuple):
        return []
    if isinstance(value, dict):
        return {}
    return None


def apply_changes(state: dict, changes: list[Change]) -> dict:
    """A copy of ``state`` with ``changes`` applied: ``apply_changes(a, diff_states(a, b))`` is
    ``b`` (up to what the diff treats as equal: ``None`` and a missing map key)."""
    out = copy.deepcopy(state)
    for change in changes:
        parts = change.parts
        if len(parts) == 1:
            out[parts[0]] = _empty_like(change.old) if change.kind == REMOVED else copy.deepcopy(change.new)
            continue
        target = out
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        if change.kind == REMOVED:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = copy.deepcopy(change.new)
    return out


def invert(changes: list[Change]) -> list[Change]:
    """The changes that undo ``changes`` (``added`` ↔ ``removed``, old ↔ new), in reverse order."""
    swap = {ADDED: REMOVED, REMOVED: ADDED, CHANGED: CHANGED}
    return [Change(c.field, c.new, c.old, swap[c.kind], c.path) for c in reversed(changes)]


def revert_changes(state: dict, changes: list[Change]) -> dict:
    """The state before ``changes`` were applied: ``revert_changes(b, diff_states(a, b))`` is ``a``."""
    return apply_changes(state, invert(changes))


# --------------------------------------------------------------------------------------------
# What a change means
# --------------------------------------------------------------------------------------------

# Presentation and provenance: nothing a caller of the model relies on.
COSMETIC_FIELDS = frozenset(
    {"display_name", "description", "tags", "metadata", "source", "source_id", "documentation_url", "aliases"}
)
LIMIT_FIELDS = frozenset({"context_window", "max_output_tokens"})
PRICE_FIELDS = frozenset({"input_cost_per_1m", "output_cost_per_1m"})
FLAG_FIELDS = frozenset({"supports_streaming", "supports_function_calling", "supports_vision"})
IDENTITY_FIELDS = frozenset({"provider", "name"})


def as_number(value: Any) -> Decimal | None:
    """``value`` as a Decimal when it is a number or a decimal string, else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _lost_true(change: Change) -> bool:
    return change.old is True and change.new is not True


def change_category(change: Change) -> str:
    """``breaking``, ``non_breaking`` or ``cosmetic``.

    Breaking: a context window or output limit decreased or no longer known; a ``supports_*``
    flag or a capability going from true to false or unknown; the mode changed (from a known
    mode); a price (the two columns or any ``pricing`` entry) increased; a deprecation date set
    or moved earlier; marked deprecated; deactivated; the successor changed (set, removed or
    replaced); the identity changed.
    Cosmetic: display name, description, tags, metadata, source, source id, documentation URL,
    aliases. Everything else is non-breaking: a capability added, a price decreased (or newly
    known, or dropped), a limit increased, a deprecation postponed or withdrawn, reactivation,
    alternatives.
    """
    top = change.top
    if top in COSMETIC_FIELDS:
        return COSMETIC
    if top in IDENTITY_FIELDS or top == "successor":
        return BREAKING
    if top in LIMIT_FIELDS:
        if change.kind == REMOVED:
            return BREAKING
        old, new = as_number(change.old), as_number(change.new)
        return BREAKING if old is not None and new is not None and new < old else NON_BREAKING
    if top in FLAG_FIELDS or top == "capabilities":
        return BREAKING if _lost_true(change) else NON_BREAKING
    if top == "mode":
        return BREAKING if change.old not in (None, "") else NON_BREAKING
    if top in PRICE_FIELDS or top == "pricing":
        old, new = as_number(change.old), as_number(change.new)
        return BREAKING if old is not None and new is not None and new > old else NON_BREAKING
    if top == "deprecation_date":
        if change.kind == ADDED:
            return BREAKING
        if change.kind == CHANGED and change.old is not None and change.new < change.old:
            return BREAKING
        return NON_BREAKING
    if top == "is_deprecated":
        return BREAKING if change.old is False and change.new is True else NON_BREAKING
    if top == "is_active":
        return BREAKING if _lost_true(change) else NON_BREAKING
    return NON_BREAKING

"""Impact of a version: level, summary and the next version label (pure functions).

``assess(changes)`` classifies each change (``diff.change_category``) and derives:

- ``critical`` — a breaking change of a field in ``critical_fields`` (by default the mode and
  ``is_active``: the model changed kind or was deactivated), a limit cut by at least
  ``critical_limit_decrease_pct`` %, a price raised by at least ``critical_price_increase_pct``
  % (from 0 counts as infinite), or at least ``critical_breaking_count`` breaking changes at once;
- ``high`` — any other breaking change;
- ``medium`` — non-breaking changes (capabilities, limits, prices, lifecycle, relations);
- ``low`` — cosmetic changes only, and the creation of a model (version 1).

``next_label("1.4.2", changes)`` bumps a semver-like label: breaking → ``2.0.0``, non-breaking →
``1.5.0``, cosmetic only → ``1.4.3``. The thresholds come from ``MODEL_REGISTRY`` (see
``versioning.services.recording.impact_thresholds``); this module never reads settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from .diff import (
    ADDED,
    BREAKING,
    COSMETIC,
    LIMIT_FIELDS,
    NON_BREAKING,
    PRICE_FIELDS,
    REMOVED,
    Change,
    as_number,
    change_category,
)

LOW = "low"
MEDIUM = "medium"
HIGH = "high"
CRITICAL = "critical"
LEVELS = (LOW, MEDIUM, HIGH, CRITICAL)

FIRST_LABEL = "1.0.0"
_LABEL_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Thresholds:
    """Where a breaking change becomes critical (``MODEL_REGISTRY["IMPACT_*"]``)."""

    critical_price_increase_pct: Decimal = Decimal(100)
    critical_limit_decrease_pct: Decimal = Decimal(50)
    critical_breaking_count: int = 3
    critical_fields: frozenset[str] = frozenset({"mode", "is_active"})


@dataclass(frozen=True)
class Impact:
    level: str
    breaking: bool
    categories: list[str]  # one per change, in order (empty for a creation)
    summary: dict = field(default_factory=dict)


def _pct_increase(old: Decimal, new: Decimal) -> Decimal:
    if old == 0:
        return Decimal("Infinity") if new > 0 else Decimal(0)
    return (new - old) / old * 100


def _is_critical(change: Change, thresholds: Thresholds) -> bool:
    top = change.top
    if top in thresholds.critical_fields:
        return True
    old, new = as_number(change.old), as_number(change.new)
    if top in LIMIT_FIELDS:
        if change.kind == REMOVED or old is None or new is None or old == 0:
            return False
        return (old - new) / old * 100 >= thresholds.critical_limit_decrease_pct
    if top in PRICE_FIELDS or top == "pricing":
        return (
            old is not None
            and new is not None
            and _pct_increase(old, new) >= (thresholds.critical_price_increase_pct)
        )
    return False


def _summary(changes: list[Change], categories: list[str], level: str) -> dict:
    counts = {cat: categories.count(cat) for cat in (BREAKING, NON_BREAKING, COSMETIC)}
    added = [c.field for c in changes if c.kind == ADDED]
    removed = [c.field for c in changes if c.kind == REMOVED]
    modified = [c.field for c in changes if c.kind not in (ADDED, REMOVED)]
    breaking_fields = [c.field for c, cat in zip(changes, categories, strict=True) if cat == BREAKING]
    parts = [f"{counts[cat]} {cat.replace('_', '-')}" for cat in counts if counts[cat]]
    text = f"{level}: {len(changes)} change(s) ({', '.join(parts)})"
    for title, names in (("added", added), ("removed", removed), ("modified", modified)):
        if names:
            text += f"; {title}: {', '.join(names)}"
    return {
        "total": len(changes),
        **counts,
        "added": added,
        "removed": removed,
        "modified": modified,
        "breaking_fields": breaking_fields,
        "text": text + ".",
    }


def created_summary(field_count: int) -> dict:
    """The summary of a creation (version 1): every field is new, nothing is compared."""
    return {"total": field_count, "created": True, "text": f"Created with {field_count} field(s) set."}


def assess(changes: list[Change], *, created: bool = False, thresholds: Thresholds | None = None) -> Impact:
    """The impact of ``changes`` (``created``: the changes create the model — impact ``low``;
    the categories are then not computed)."""
    if created:
        return Impact(LOW, False, [], created_summary(len(changes)))
    thresholds = thresholds or Thresholds()
    categories = [change_category(c) for c in changes]
    breaking = [c for c, cat in zip(changes, categories, strict=True) if cat == BREAKING]
    if breaking and (
        len(breaking) >= thresholds.critical_breaking_count
        or any(_is_critical(c, thresholds) for c in breaking)
    ):
        level = CRITICAL
    elif breaking:
        level = HIGH
    elif NON_BREAKING in categories:
        level = MEDIUM
    else:
        level = LOW
    return Impact(level, bool(breaking), categories, _summary(changes, categories, level))


def parse_label(label: str) -> tuple[int, int, int]:
    """``"1.4.2"`` → ``(1, 4, 2)``; anything else counts as ``1.0.0``."""
    match = _LABEL_RE.match(label or "")
    if match is None:
        return (1, 0, 0)
    major, minor, patch = (int(g) for g in match.groups())
    return (major, minor, patch)


def bump_label(label: str, categories: list[str]) -> str:
    """The label after changes of these categories."""
    major, minor, patch = parse_label(label)
    if BREAKING in categories:
        return f"{major + 1}.0.0"
    if NON_BREAKING in categories:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def next_label(label: str, changes: list[Change]) -> str:
    """The label of the version that ``changes`` make, after the version labelled ``label``."""
    return bump_label(label, [change_category(c) for c in changes])

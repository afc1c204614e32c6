"""Evaluating one rule: strategy → candidate entries → conditions → actions.

``run_rule`` never raises: a rule that cannot be evaluated (a strategy error, Redis gone) returns a
result with ``error`` set, so one broken rule does not stop the others. Each rule gets its own
``CacheView``, so it sees the cache as the rules before it left it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .actions import ActionResult, Firing, run_action
from .conditions import RuleValueError, compile_condition, conditions_hold, plain
from .entries import CacheView, Entry
from .strategies import get_strategy

logger = logging.getLogger("caching.rules")

MAX_LISTED_ENTRIES = 500


@dataclass
class RuleResult:
    """What one rule did (or, in a dry run, would do) for one event."""

    rule_id: int | None
    rule: str
    event: str
    strategy: str
    candidates: int = 0
    entries: list[Entry] = field(default_factory=list)
    actions: list[ActionResult] = field(default_factory=list)
    duration_ms: float = 0.0
    dry_run: bool = False
    degraded: bool = False
    notes: dict = field(default_factory=dict)
    error: str = ""

    @property
    def hit(self) -> bool:
        return bool(self.entries)

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.entries]

    @property
    def outcome(self) -> str:
        if self.error or any(a.error and not a.degraded for a in self.actions):
            return "failed"
        if self.degraded or any(a.degraded for a in self.actions):
            return "degraded"
        return "ok"

    def as_dict(self, *, max_entries: int = MAX_LISTED_ENTRIES) -> dict:
        return {
            "rule": self.rule_id,
            "rule_name": self.rule,
            "event": self.event,
            "strategy": self.strategy,
            "dry_run": self.dry_run,
            "candidates": self.candidates,
            "matched": len(self.entries),
            "entries": [e.as_dict() for e in self.entries[:max_entries]],
            "truncated": len(self.entries) > max_entries,
            "actions": [a.as_dict() for a in self.actions],
            "outcome": self.outcome,
            "error": self.error,
            "notes": self.notes,
            "duration_ms": self.duration_ms,
        }


def jsonable(value: Any) -> Any:
    """``value`` as JSON-able data (decimals, dates and other objects as text)."""
    value = plain(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _entries(view: CacheView, selected: Iterable[Entry | str]) -> list[Entry]:
    """Entries in selection order, once each; keys are looked up (cache, then database)."""
    items = list(selected)
    keys = [item for item in items if isinstance(item, str)]
    by_key = view.for_keys(keys, load_missing=True) if keys else {}
    out: dict[str, Entry] = {}
    for item in items:
        entry = by_key.get(item) if isinstance(item, str) else item
        if isinstance(entry, Entry) and entry.key not in out:
            out[entry.key] = entry
        if len(out) >= view.limit:
            break
    return list(out.values())


def evaluate(rule, *, event: str, context: Mapping, view: CacheView) -> tuple[int, list[Entry]]:
    """(number of candidates, entries matching the conditions) — changes nothing."""
    strategy = get_strategy(rule.strategy)
    params, errors = strategy.clean_params(rule.strategy_params)
    if errors:
        raise RuleValueError("; ".join(errors))
    candidates = _entries(view, strategy.select(view, event=event, context=context, params=params))
    conditions = [compile_condition(data) for data in rule.conditions or []]
    needed = {c.cache_field for c in conditions}
    if "ttl" in needed:
        view.fill_ttl(candidates)
    if "idle" in needed:
        view.fill_idle(candidates)
    matched = [e for e in candidates if conditions_hold(conditions, rule.match, e, context)]
    return len(candidates), matched


def run_rule(
    rule, *, event: str, context: Mapping, dry_run: bool = False, view: CacheView | None = None
) -> RuleResult:
    """Evaluate ``rule`` for ``event`` and run its actions on what it hits (not in a dry run)."""
    started = time.perf_counter()
    view = view or CacheView()
    result = RuleResult(rule_id=rule.pk, rule=rule.name, event=event, strategy=rule.strategy, dry_run=dry_run)
    try:
        result.candidates, result.entries = evaluate(rule, event=event, context=context, view=view)
    except Exception as exc:  # noqa: BLE001 - a broken rule is reported, the others still run
        logger.exception("invalidation rule %r could not be evaluated", rule.name)
        result.error = f"{type(exc).__name__}: {exc}"
    if result.entries:
        firing = Firing(rule_id=rule.pk, rule_name=rule.name, event=event, context=context, view=view)
        for action in rule.actions or []:
            result.actions.append(run_action(firing, action, result.entries, dry_run=dry_run))
    result.degraded = view.degraded
    result.notes = jsonable(view.notes)
    result.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return result

"""Rule services: fire rules on an event, evaluate the scheduled ones, dry-run, run, and edit rules.

Entry points for the rest of the project:

- ``rules_fire(event=..., context=...)`` — the write path (``model_changed``, wired in
  ``caching.rules.receivers``), provider updates (``provider_updated``), a catalogue sync
  (``sync_applied``, context e.g. ``{"keys": [...], "providers": [...], "expected": {key: revision}}``);
- ``rules_evaluate_scheduled()`` — the periodic task (event ``schedule``); its results are
  ``RuleResult`` objects: ``rule_results_summary(results)`` gives JSON-able figures to record;
- ``rule_dry_run(rule=...)`` — what a rule would hit now; changes nothing, records nothing;
- ``rule_execute(rule=...)`` — run one rule now (event ``manual``), recorded;
- ``rule_create`` / ``rule_update`` / ``rule_delete`` / ``rule_save`` — edit rules; each takes
  ``actor`` and ``reason``, which name the simple-history row the edit leaves (deletion included).

Enabled rules listening to the event run in priority order (higher first, then by name); a rule
with ``stop_processing`` that hits something ends the round. Each firing that hits entries (or
fails) is recorded as an ``InvalidationEvent`` (scope ``rule``, reason ``rule:<name>``). Rules act
on the cache, so nothing fires while ``CACHE_ENABLED`` or ``RULES_ENABLED`` is off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from models_registry.conf import registry_settings
from models_registry.exceptions import ConflictError, RegistryValidationError
from models_registry.services.errors import as_registry_error

from .. import metrics
from ..models import InvalidationEvent, InvalidationRule
from ..service import model_cache
from .engine import RuleResult, jsonable, run_rule
from .validation import EVENTS

logger = logging.getLogger("caching.rules")

MAX_TARGETS = 1000  # model keys stored on one event row
MAX_CONTEXT_BYTES = 16 * 1024
RULE_FIELDS = (
    "name",
    "description",
    "enabled",
    "priority",
    "events",
    "strategy",
    "strategy_params",
    "match",
    "conditions",
    "actions",
    "stop_processing",
)


def _check_event(event: str) -> None:
    if event not in EVENTS:
        raise RegistryValidationError(
            f"Unknown event {event!r}.", field_errors={"event": [f"Expected one of {', '.join(EVENTS)}."]}
        )


def rules_for_event(event: str) -> list[InvalidationRule]:
    """Enabled rules listening to ``event``, in firing order."""
    rules = InvalidationRule.objects.filter(enabled=True).order_by("-priority", "name", "pk")
    return [rule for rule in rules if isinstance(rule.events, list) and event in rule.events]


def _active() -> bool:
    return bool(registry_settings.RULES_ENABLED) and model_cache().enabled


def rules_fire(*, event: str, context: Mapping | None = None, actor=None) -> list[RuleResult]:
    """Run every enabled rule listening to ``event`` with ``context``; returns what each did."""
    return rules_fire_many(event=event, contexts=[context or {}], actor=actor)


def rules_fire_many(*, event: str, contexts: Iterable[Mapping], actor=None) -> list[RuleResult]:
    """``rules_fire`` for several occurrences of one event (the rules are loaded once)."""
    _check_event(event)
    contexts = list(contexts)
    if not contexts or not _active():
        return []
    rules = rules_for_event(event)
    if not rules:
        return []
    results: list[RuleResult] = []
    for context in contexts:
        context = jsonable(dict(context))
        for rule in rules:
            result = run_rule(rule, event=event, context=context)
            results.append(result)
            if result.hit or result.error:
                _record(rule, result, context, actor)
            if result.hit and rule.stop_processing:
                break
    return results


def rules_evaluate_scheduled() -> list[RuleResult]:
    """What the periodic task calls: fire the ``schedule`` rules once."""
    return rules_fire(event="schedule", context={"now": timezone.now().isoformat()})


def rule_dry_run(
    *, rule: InvalidationRule, event: str | None = None, context: Mapping | None = None
) -> RuleResult:
    """Which cached entries ``rule`` would hit now and what its actions would affect; changes
    nothing and records nothing. Works for disabled and unsaved rules (validated first)."""
    event = event or (rule.events[0] if isinstance(rule.events, list) and rule.events else "manual")
    _check_event(event)
    _validated(rule)
    return run_rule(rule, event=event, context=jsonable(dict(context or {})), dry_run=True)


def rule_execute(*, rule: InvalidationRule, context: Mapping | None = None, actor=None) -> RuleResult:
    """Run one enabled rule now (event ``manual``, whatever events it listens to); recorded."""
    if not rule.enabled:
        raise ConflictError(f"Rule {rule.name!r} is disabled; enable it first (a dry run works).")
    _validated(rule)
    context = jsonable(dict(context or {}))
    result = run_rule(rule, event="manual", context=context)
    if result.hit or result.error:
        _record(rule, result, context, actor)
    return result


def _validated(rule: InvalidationRule) -> None:
    try:
        rule.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise as_registry_error(exc) from exc


def _trimmed(context: dict) -> dict:
    if len(orjson.dumps(context)) <= MAX_CONTEXT_BYTES:
        return context
    slim = {key: value for key, value in context.items() if key not in ("changes", "expected", "keys")}
    for key in ("changes", "expected", "keys"):
        if key in context:
            slim[f"{key}_count"] = len(context[key]) if hasattr(context[key], "__len__") else None
    if len(orjson.dumps(slim)) > MAX_CONTEXT_BYTES:
        slim = {"truncated": True}
    return slim


def _record(rule: InvalidationRule, result: RuleResult, context: dict, actor) -> InvalidationEvent:
    keys = result.keys
    outcome = result.outcome
    metrics.RULE_FIRINGS.labels(outcome=outcome).inc()
    errors = [result.error] + [f"{a.type}: {a.error}" for a in result.actions if a.error]
    return InvalidationEvent.objects.create(
        scope=InvalidationEvent.Scope.RULE,
        targets=keys[:MAX_TARGETS],
        providers=sorted({e.provider for e in result.entries}),
        reason=f"rule:{rule.name}",
        context={
            "event": result.event,
            "context": _trimmed(context),
            "strategy": rule.strategy,
            "candidates": result.candidates,
            "matched": len(keys),
            "actions": [a.as_dict() for a in result.actions],
            "notes": result.notes,
            **({"targets_truncated": True} if len(keys) > MAX_TARGETS else {}),
        },
        rule=rule if rule.pk else None,
        trigger=result.event,
        count=len(keys),
        duration_ms=result.duration_ms,
        outcome=outcome,
        error="; ".join(e for e in errors if e),
        actor=actor if getattr(actor, "pk", None) else None,
    )


# -- editing -------------------------------------------------------------------------------------


def _attribute(rule: InvalidationRule, *, actor, reason: str, default: str) -> None:
    """Name the actor and the reason on the history row the next save or delete writes."""
    rule._change_reason = reason.strip() or default
    if getattr(actor, "pk", None):
        rule._history_user = actor


def _apply(rule: InvalidationRule, data: Mapping[str, Any]) -> InvalidationRule:
    unknown = sorted(set(data) - set(RULE_FIELDS))
    if unknown:
        raise RegistryValidationError(field_errors={name: ["Unknown field."] for name in unknown})
    for name, value in data.items():
        setattr(rule, name, value)
    try:
        rule.full_clean()
    except ValidationError as exc:
        raise as_registry_error(exc) from exc
    rule.save()
    return rule


@transaction.atomic
def rule_create(*, data: Mapping[str, Any], actor=None, reason: str = "") -> InvalidationRule:
    rule = InvalidationRule(created_by=actor if getattr(actor, "pk", None) else None)
    _attribute(rule, actor=actor, reason=reason, default="Rule created.")
    return _apply(rule, data)


@transaction.atomic
def rule_update(
    *, rule: InvalidationRule, data: Mapping[str, Any], actor=None, reason: str = ""
) -> InvalidationRule:
    rule = InvalidationRule.objects.select_for_update().get(pk=rule.pk)
    _attribute(rule, actor=actor, reason=reason, default="Rule changed.")
    return _apply(rule, data)


@transaction.atomic
def rule_delete(*, rule: InvalidationRule, actor=None, reason: str = "") -> None:
    """Delete the rule; its history keeps a deletion row (actor, reason); past firings stay,
    detached from it."""
    _attribute(rule, actor=actor, reason=reason, default="Rule deleted.")
    rule.delete()


@transaction.atomic
def rule_save(*, rule: InvalidationRule, actor=None, reason: str = "") -> InvalidationRule:
    """Validate and save a rule edited in place (the admin form)."""
    adding = rule.pk is None
    if adding and rule.created_by_id is None and getattr(actor, "pk", None):
        rule.created_by = actor
    _attribute(rule, actor=actor, reason=reason, default="Rule created." if adding else "Rule changed.")
    return _apply(rule, {})


def rule_results_summary(results: Iterable[RuleResult]) -> dict:
    """JSON-able figures of a round of firings (what a periodic task records as its result)."""
    results = list(results)
    return {
        "evaluated": len(results),
        "hit": sum(1 for r in results if r.hit),
        "entries": sum(len(r.entries) for r in results),
        "failed": [r.rule for r in results if r.outcome == "failed"],
        "degraded": [r.rule for r in results if r.outcome == "degraded"],
    }

"""Celery tasks of the cache (thin: each imports and calls one service; see
``models_registry.jobs`` for locking, retries, time limits and the recorded outcome, and
``models_registry.schedules`` for when they run)."""

from models_registry.jobs.base import maintenance_task


@maintenance_task("caching.tasks.evaluate_invalidation_rules")
def evaluate_invalidation_rules():
    """Run the scheduled invalidation rules; the result is a JSON-able summary."""
    from caching.rules.services import rule_results_summary, rules_evaluate_scheduled

    return rule_results_summary(rules_evaluate_scheduled())


@maintenance_task("caching.tasks.prune_invalidation_events")
def prune_invalidation_events():
    """Delete old invalidation events (by age or count)."""
    from caching.events import invalidation_events_prune

    return {"deleted": invalidation_events_prune()}


@maintenance_task("caching.tasks.cache_hygiene")
def cache_hygiene():
    """Sweep L1, drop dangling index members, warm the listed models, snapshot the stats."""
    from caching.hygiene import cache_hygiene_run

    return cache_hygiene_run()

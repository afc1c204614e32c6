"""Celery tasks of the registry (thin: each imports and calls one service; see
``models_registry.jobs`` for locking, retries, time limits and the recorded outcome, and
``models_registry.schedules`` for when they run)."""

from models_registry.jobs.base import maintenance_task


@maintenance_task("models_registry.tasks.purge_deactivated_models")
def purge_deactivated_models(*, older_than_days: int | None = None):
    """Hard-delete models deactivated longer than ``PURGE_DEACTIVATED_AFTER_DAYS`` (history kept)."""
    from models_registry.services import ai_model_purge_deactivated

    return ai_model_purge_deactivated(older_than_days=older_than_days)


@maintenance_task("models_registry.tasks.check_alerts")
def check_alerts():
    """Evaluate the alert thresholds (``models_registry.alerts``)."""
    from models_registry.alerts import alerts_check

    return alerts_check()


@maintenance_task("models_registry.tasks.prune_task_runs")
def prune_task_runs():
    """Delete old ``TaskRun`` rows; mark runs lost by a killed worker as failed."""
    from models_registry.jobs.services import task_runs_prune

    return task_runs_prune()


@maintenance_task("models_registry.tasks.sync_catalogues")
def sync_catalogues():
    """Sync every enabled ``CatalogSource`` (``models_registry.sync``); ``{source: status}``."""
    from models_registry.sync.services import sync_runs_all

    return sync_runs_all()

"""Celery tasks of versioning (thin: each imports and calls one service; see
``models_registry.jobs`` for locking, retries, time limits and the recorded outcome, and
``models_registry.schedules`` for when they run)."""

from models_registry.jobs.base import maintenance_task


@maintenance_task("versioning.tasks.prune_versions")
def prune_versions():
    """Version retention (``MAX_VERSIONS_PER_MODEL``, ``VERSION_RETENTION_DAYS``)."""
    from versioning.services import versions_prune

    return {"pruned": versions_prune()}


@maintenance_task("versioning.tasks.expire_rollback_requests")
def expire_rollback_requests():
    """Expire pending rollback requests older than ``ROLLBACK_REQUEST_EXPIRY_DAYS``."""
    from versioning.services import rollback_requests_expire

    return {"expired": rollback_requests_expire()}

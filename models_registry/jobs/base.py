"""The Celery side of maintenance tasks: a base class with the policy, and the decorator.

Every task module (``models_registry/tasks.py``, ``caching/tasks.py``, ``versioning/tasks.py``)
declares its tasks like this — the body imports and calls one service::

    @maintenance_task("versioning.tasks.prune_versions")
    def prune_versions() -> dict:
        from versioning.services import versions_prune

        return {"pruned": versions_prune()}

The decorator registers a Celery task (``shared_task``, so it works with any Celery app) of
class ``MaintenanceTask``: ``autoretry_for`` the transient errors of ``policy`` with
``retry_backoff`` (exponential, capped at ``TASK_RETRY_BACKOFF_MAX``), ``retry_jitter``,
``max_retries``, ``soft_time_limit`` / ``time_limit``, ``acks_late`` with
``reject_on_worker_lost`` (a killed worker's task is redelivered) and no result backend; its
run goes through ``runner.run_task`` (single flight, ``TaskRun`` outcome). Task arguments are
keyword-only and JSON-serialisable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from django.db import transaction

from . import policy
from .runner import run_task


class MaintenanceTask(Task):
    """Celery task class of the maintenance tasks (the policy as class attributes)."""

    autoretry_for = policy.TRANSIENT_ERRORS
    retry_backoff = True
    retry_jitter = True
    acks_late = True
    # A worker child killed mid-task (SIGKILL, OOM): requeue the message instead of acking it,
    # so the task runs again. Safe because every task is idempotent and single-flight.
    reject_on_worker_lost = True
    ignore_result = True


def _options() -> dict[str, Any]:
    return {
        "max_retries": policy.max_retries(),
        "retry_backoff_max": policy.retry_backoff_max(),
        "soft_time_limit": policy.soft_time_limit(),
        "time_limit": policy.time_limit(),
    }


def maintenance_task(name: str, **options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Declare ``fn`` (keyword arguments only) as the maintenance task ``name``."""

    def decorator(fn: Callable[..., Any]) -> Task:
        def run(self, **kwargs):
            return run_task(name=name, fn=fn, kwargs=kwargs, task=self)

        if fn.__name__.isidentifier():
            run.__name__ = fn.__name__
            run.__qualname__ = fn.__qualname__
        run.__module__ = fn.__module__
        run.__doc__ = fn.__doc__
        return shared_task(bind=True, base=MaintenanceTask, name=name, **{**_options(), **options})(run)

    return decorator


def dispatch_on_commit(task: Task, /, **kwargs: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside a transaction), so a
    worker never runs it against data it cannot see yet, nor for a write that was rolled back."""
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs))

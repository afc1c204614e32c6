"""Housekeeping of the maintenance rows themselves."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from ..conf import registry_settings
from . import policy
from .models import TaskRun


def task_runs_prune(*, older_than_days: int | None = None, now: dt.datetime | None = None) -> dict:
    """Delete ``TaskRun`` rows older than ``TASK_RUN_RETENTION_DAYS`` (0 = keep), and mark runs
    still ``running`` long after the hard time limit as ``failed`` (their worker was killed or
    lost before it could record an outcome). Idempotent."""
    now = now or timezone.now()
    days = int(registry_settings.TASK_RUN_RETENTION_DAYS if older_than_days is None else older_than_days)
    lost_before = now - dt.timedelta(seconds=2 * policy.lock_ttl())
    lost = TaskRun.objects.filter(outcome=TaskRun.Outcome.RUNNING, started_at__lt=lost_before).update(
        outcome=TaskRun.Outcome.FAILED,
        finished_at=now,
        error="Lost: still running long after the time limit (the worker was killed or lost).",
    )
    deleted = 0
    if days > 0:
        deleted, _ = TaskRun.objects.filter(started_at__lt=now - dt.timedelta(days=days)).delete()
    return {"deleted": deleted, "marked_lost": lost}

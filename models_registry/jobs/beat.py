"""django-celery-beat rows from ``models_registry.schedules`` (idempotent).

For each declared schedule: create its ``PeriodicTask`` (with a UTC ``CrontabSchedule``) if it
is missing; if it exists, update what the code owns (task name, description) and keep what
operators own and may have edited in the admin (crontab, enabled, kwargs) unless
``reset=True``. Rows named with ``schedules.NAME_PREFIX`` that are no longer declared are
reported as stale, and deleted with ``prune=True``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from ..schedules import NAME_PREFIX, SCHEDULES, Schedule

logger = logging.getLogger("models_registry.jobs")


@dataclass(frozen=True)
class SetupLine:
    name: str
    action: str  # created, updated, unchanged, kept, reset, stale, deleted
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.action:<9} {self.name}" + (f"  ({self.detail})" if self.detail else "")


def _timezone() -> str:
    return getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE or "UTC"


def _crontab(schedule: Schedule):
    from django_celery_beat.models import CrontabSchedule

    fields = {**schedule.crontab, "timezone": _timezone()}
    found = CrontabSchedule.objects.filter(**fields).order_by("pk").first()
    return found or CrontabSchedule.objects.create(**fields)


def _cron_of(crontab) -> str:
    if crontab is None:
        return "(not a crontab)"
    return " ".join(
        str(getattr(crontab, f)) for f in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    )


@transaction.atomic
def periodic_tasks_setup(*, reset: bool = False, prune: bool = False) -> list[SetupLine]:
    from django_celery_beat.models import PeriodicTask

    lines: list[SetupLine] = []
    declared = set()
    for schedule in SCHEDULES:
        name = schedule.periodic_task_name
        declared.add(name)
        kwargs = json.dumps(schedule.kwargs, sort_keys=True)
        row = PeriodicTask.objects.select_for_update().filter(name=name).first()
        if row is None:
            PeriodicTask.objects.create(
                name=name,
                task=schedule.task,
                crontab=_crontab(schedule),
                kwargs=kwargs,
                description=schedule.description,
                enabled=True,
            )
            lines.append(SetupLine(name, "created", f"{schedule.cron} UTC"))
            continue
        changed = [f for f in ("task", "description") if getattr(row, f) != getattr(schedule, f)]
        row.task, row.description = schedule.task, schedule.description
        operator_edits = []
        if _cron_of(row.crontab) != schedule.cron or row.interval_id or row.solar_id or row.clocked_id:
            operator_edits.append(f"schedule {_cron_of(row.crontab)}, declared {schedule.cron}")
        if not row.enabled:
            operator_edits.append("disabled")
        if json.loads(row.kwargs or "{}") != schedule.kwargs:
            operator_edits.append(f"kwargs {row.kwargs}")
        if reset and operator_edits:
            row.crontab = _crontab(schedule)
            row.interval = row.solar = row.clocked = None
            row.enabled = True
            row.kwargs = kwargs
            changed.append("reset")
        if changed:
            row.save()
        if reset and operator_edits:
            lines.append(SetupLine(name, "reset", "; ".join(operator_edits)))
        elif operator_edits:
            lines.append(SetupLine(name, "kept", "edited in the admin: " + "; ".join(operator_edits)))
        else:
            lines.append(SetupLine(name, "updated" if changed else "unchanged", ", ".join(changed)))
    for row in PeriodicTask.objects.filter(name__startswith=NAME_PREFIX).exclude(name__in=declared):
        if prune:
            row.delete()
            lines.append(SetupLine(row.name, "deleted", "no longer declared"))
        else:
            lines.append(SetupLine(row.name, "stale", "no longer declared; --prune deletes it"))
    return lines


def ensure_on_beat_start(**kwargs) -> None:
    """``beat_init`` receiver: create missing schedules when the scheduler starts (never raises)."""
    try:
        for line in periodic_tasks_setup():
            if line.action != "unchanged":
                logger.info("periodic task %s", line)
    except Exception:  # noqa: BLE001 - beat must start even if this fails; the command can be rerun
        logger.exception("could not set up the periodic tasks (run manage.py setup_periodic_tasks)")

"""Every periodic schedule of the registry, in one place.

``manage.py setup_periodic_tasks`` (and the beat process, on start) turns these into
django-celery-beat ``PeriodicTask`` rows with ``CrontabSchedule`` entries in UTC
(``CELERY_TIMEZONE``); from then on operators edit them in the admin ("Periodic tasks"), and
``setup_periodic_tasks`` keeps their edits (``--reset`` puts the schedules below back).
``manage.py run_maintenance`` runs every task listed here once, synchronously.

Cron fields: minute hour day-of-month month day-of-week.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# PeriodicTask rows created from this module carry this prefix in their name.
NAME_PREFIX = "model-registry: "


@dataclass(frozen=True)
class Schedule:
    name: str  # PeriodicTask name (without NAME_PREFIX)
    task: str  # Celery task name = import path of the task object
    cron: str  # "minute hour day-of-month month day-of-week", UTC
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def periodic_task_name(self) -> str:
        return NAME_PREFIX + self.name

    @property
    def crontab(self) -> dict[str, str]:
        minute, hour, day_of_month, month_of_year, day_of_week = self.cron.split()
        return {
            "minute": minute,
            "hour": hour,
            "day_of_month": day_of_month,
            "month_of_year": month_of_year,
            "day_of_week": day_of_week,
        }


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="evaluate invalidation rules",
        task="caching.tasks.evaluate_invalidation_rules",
        cron="*/5 * * * *",  # every 5 minutes
        description="Run the scheduled invalidation rules (caching.rules) against the cache.",
    ),
    Schedule(
        name="cache hygiene",
        task="caching.tasks.cache_hygiene",
        cron="7,22,37,52 * * * *",  # every 15 minutes, off the quarter hours
        description="Sweep expired L1 entries, drop dangling index members, warm models, record stats.",
    ),
    Schedule(
        name="alerts",
        task="models_registry.tasks.check_alerts",
        cron="*/5 * * * *",  # every 5 minutes
        description="Check the alert thresholds (miss rate, Redis breaker, L1 memory, failed rollbacks).",
    ),
    Schedule(
        name="sync catalogues",
        task="models_registry.tasks.sync_catalogues",
        cron="41 * * * *",  # hourly, at minute 41
        description="Sync every enabled upstream catalogue source (models_registry.sync): apply or hold "
        "the change-set per the source's policy; deprecate models missing past the grace period.",
    ),
    Schedule(
        name="expire rollback requests",
        task="versioning.tasks.expire_rollback_requests",
        cron="17 * * * *",  # hourly, at minute 17
        description="Mark pending rollback requests older than ROLLBACK_REQUEST_EXPIRY_DAYS as expired.",
    ),
    Schedule(
        name="prune versions",
        task="versioning.tasks.prune_versions",
        cron="30 2 * * *",  # daily at 02:30 UTC
        description="Version retention: MAX_VERSIONS_PER_MODEL and VERSION_RETENTION_DAYS.",
    ),
    Schedule(
        name="prune invalidation events",
        task="caching.tasks.prune_invalidation_events",
        cron="45 2 * * *",  # daily at 02:45 UTC
        description="Delete old InvalidationEvent rows (by age or count).",
    ),
    Schedule(
        name="purge deactivated models",
        task="models_registry.tasks.purge_deactivated_models",
        cron="0 3 * * *",  # daily at 03:00 UTC
        description="Hard-delete models deactivated longer than PURGE_DEACTIVATED_AFTER_DAYS (history kept).",
    ),
    Schedule(
        name="prune task runs",
        task="models_registry.tasks.prune_task_runs",
        cron="15 3 * * *",  # daily at 03:15 UTC
        description="Delete TaskRun rows older than TASK_RUN_RETENTION_DAYS; mark lost runs failed.",
    ),
)


def schedule_get(name_or_task: str) -> Schedule:
    """A schedule by its name or its task name."""
    for schedule in SCHEDULES:
        if name_or_task in (schedule.name, schedule.task, schedule.periodic_task_name):
            return schedule
    raise KeyError(name_or_task)

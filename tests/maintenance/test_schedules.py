"""The schedules: declared once, turned into django-celery-beat rows idempotently, editable in
the admin (and those edits kept), created when beat starts."""

import pytest
from celery.schedules import crontab
from celery.signals import beat_init
from django.contrib import admin
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from models_registry.jobs.base import MaintenanceTask
from models_registry.jobs.beat import ensure_on_beat_start, periodic_tasks_setup
from models_registry.schedules import NAME_PREFIX, SCHEDULES, schedule_get


def _setup(*args) -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command("setup_periodic_tasks", *args, stdout=out)
    return out.getvalue().splitlines()


def _actions(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines]


def test_the_declarations_are_complete_and_consistent():
    assert len({s.name for s in SCHEDULES}) == len({s.task for s in SCHEDULES}) == len(SCHEDULES)
    for schedule in SCHEDULES:
        assert isinstance(import_string(schedule.task), MaintenanceTask)
        crontab(**schedule.crontab)  # a valid cron expression
    tasks = {s.task for s in SCHEDULES}
    assert {
        "caching.tasks.evaluate_invalidation_rules",
        "caching.tasks.cache_hygiene",
        "caching.tasks.prune_invalidation_events",
        "versioning.tasks.prune_versions",
        "versioning.tasks.expire_rollback_requests",
        "models_registry.tasks.purge_deactivated_models",
        "models_registry.tasks.check_alerts",
    } <= tasks
    assert schedule_get("alerts") is schedule_get("models_registry.tasks.check_alerts")
    with pytest.raises(KeyError):
        schedule_get("nope")


def test_setup_creates_every_periodic_task_once(db):
    assert _actions(_setup()) == ["created"] * len(SCHEDULES)
    assert _actions(_setup()) == ["unchanged"] * len(SCHEDULES)
    assert PeriodicTask.objects.filter(name__startswith=NAME_PREFIX).count() == len(SCHEDULES)
    for schedule in SCHEDULES:
        row = PeriodicTask.objects.get(name=schedule.periodic_task_name)
        assert row.task == schedule.task and row.enabled and row.description == schedule.description
        cron = row.crontab
        assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == tuple(
            schedule.cron.split()
        )
        assert str(cron.timezone) == "UTC"
    assert CrontabSchedule.objects.count() == len({s.cron for s in SCHEDULES})


def test_edits_made_in_the_admin_are_kept_unless_reset(db):
    periodic_tasks_setup()
    hygiene = schedule_get("cache hygiene")
    row = PeriodicTask.objects.get(name=hygiene.periodic_task_name)
    row.crontab = CrontabSchedule.objects.create(minute="0", hour="*/2", timezone="UTC")
    row.enabled = False
    row.description = "stale text"
    row.save()

    lines = _setup()
    line = next(line for line in lines if hygiene.name in line)
    assert line.startswith("kept") and "disabled" in line and "0 */2 * * *" in line
    row.refresh_from_db()
    assert (row.crontab.hour, row.enabled) == ("*/2", False)  # the operator's choice stands
    assert row.description == hygiene.description  # what the code owns is updated

    lines = _setup("--reset")
    assert next(line for line in lines if hygiene.name in line).startswith("reset")
    row.refresh_from_db()
    assert (row.crontab.minute, row.crontab.hour, row.enabled) == ("7,22,37,52", "*", True)


def test_schedules_no_longer_declared_are_reported_then_pruned(db):
    periodic_tasks_setup()
    cron = CrontabSchedule.objects.first()
    PeriodicTask.objects.create(name=NAME_PREFIX + "retired job", task="old.task", crontab=cron)
    PeriodicTask.objects.create(name="someone else's", task="other.task", crontab=cron)
    assert "stale" in _actions(_setup())
    assert "deleted" in _actions(_setup("--prune"))
    assert not PeriodicTask.objects.filter(name=NAME_PREFIX + "retired job").exists()
    assert PeriodicTask.objects.filter(name="someone else's").exists()


def test_beat_creates_missing_schedules_when_it_starts(db):
    receivers = [r[1]() for r in beat_init.receivers]
    assert any(getattr(r, "__name__", "") == "_ensure_periodic_tasks" for r in receivers)
    ensure_on_beat_start()
    assert PeriodicTask.objects.filter(name__startswith=NAME_PREFIX).count() == len(SCHEDULES)


def test_the_beat_hook_never_raises(monkeypatch, caplog):
    import models_registry.jobs.beat as beat

    monkeypatch.setattr(beat, "periodic_tasks_setup", lambda **kw: 1 / 0)
    ensure_on_beat_start()
    assert "setup_periodic_tasks" in caplog.text


def test_the_schedules_are_editable_in_the_admin():
    assert PeriodicTask in admin.site._registry and CrontabSchedule in admin.site._registry

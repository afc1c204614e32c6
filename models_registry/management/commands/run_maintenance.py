"""``manage.py run_maintenance`` — run every periodic task once, now, in this process.

For embedded mode (no broker, no beat) and for operations. Each task runs synchronously
through Celery's ``apply()`` — the same code path as on a worker: single flight (a task that a
worker is running right now is ``skipped``), transient errors retried (at once, without the
backoff), the outcome recorded as ``TaskRun`` rows. One line per task:
``<task> <outcome> <duration> <result or error>``. Exit status 1 if any task failed.
"""

from __future__ import annotations

import json
import logging

from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from models_registry.jobs.models import TaskRun
from models_registry.schedules import SCHEDULES, schedule_get

SUMMARY_CHARS = 160


def apply_once(task, *, kwargs: dict | None = None):
    """Run ``task`` here and now (Celery ``apply``), its eager retries included, and return the
    ``EagerResult`` without raising: eager propagation is off for the call, since with it on a
    retry escapes ``apply`` as a ``Retry`` exception instead of running the next attempt."""
    conf = task.app.conf
    previous = conf.task_eager_propagates
    conf.task_eager_propagates = False
    try:
        return task.apply(kwargs=kwargs or {}, throw=False)
    finally:
        conf.task_eager_propagates = previous


class Command(BaseCommand):
    help = "Run every periodic maintenance task once, synchronously, and report each outcome."

    def add_arguments(self, parser):
        parser.add_argument(
            "--task",
            action="append",
            dest="tasks",
            metavar="NAME",
            help="Run only this task (schedule name or task name; repeatable).",
        )
        parser.add_argument("--list", action="store_true", help="List the periodic tasks and exit.")

    def handle(self, *args, **options):
        if options["list"]:
            for schedule in SCHEDULES:
                self.stdout.write(f"{schedule.task:<48} {schedule.cron:<20} {schedule.name}")
            return
        try:
            schedules = [schedule_get(name) for name in options["tasks"]] if options["tasks"] else SCHEDULES
        except KeyError as exc:
            raise CommandError(f"Unknown task {exc.args[0]!r} (see --list).") from exc
        failed = []
        width = max(len(s.task) for s in schedules)
        trace_logger = logging.getLogger("celery.app.trace")  # one "succeeded in" line per task
        level = trace_logger.level
        if options["verbosity"] < 2:
            trace_logger.setLevel(logging.WARNING)
        try:
            for schedule in schedules:
                outcome, duration, summary = self._run(schedule)
                if outcome == TaskRun.Outcome.FAILED:
                    failed.append(schedule.task)
                line = f"{schedule.task:<{width}}  {outcome:<8} {duration:>9}  {summary}"
                self.stdout.write(self.style.ERROR(line) if outcome == TaskRun.Outcome.FAILED else line)
        finally:
            trace_logger.setLevel(level)
        if failed:
            raise CommandError(f"{len(failed)} task(s) failed: {', '.join(failed)}")

    def _run(self, schedule) -> tuple[str, str, str]:
        try:
            task = import_string(schedule.task)
        except ImportError as exc:
            return TaskRun.Outcome.FAILED, "-", f"cannot import the task: {exc}"
        result = apply_once(task, kwargs=schedule.kwargs)
        runs = list(TaskRun.objects.filter(task_id=result.id).order_by("-attempt", "-pk")[:1])
        if runs:
            run = runs[0]
            duration = f"{run.duration_ms / 1000:.3f}s" if run.duration_ms is not None else "-"
            summary = run.error or json.dumps(run.result, default=str, sort_keys=True)
            return run.outcome, duration, summary[:SUMMARY_CHARS]
        # Nothing recorded (the database itself failed): report Celery's view.
        ok = result.successful()
        return (
            TaskRun.Outcome.OK if ok else TaskRun.Outcome.FAILED,
            "-",
            str(result.result)[:SUMMARY_CHARS],
        )

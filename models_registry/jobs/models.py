"""Rows of scheduled maintenance: ``TaskRun`` (what ran, how it ended) and ``TaskLock``.

``TaskRun`` gets one row per attempt of a task: ``running`` while it works, then ``ok``,
``failed`` or ``retrying`` (a transient error; Celery runs it again after a backoff), or
``skipped`` when another run of the same task held the lock (it did no work). ``result`` is what
the service returned (JSON), ``error`` the exception. Rows are written only by
``jobs.runner`` and pruned by ``jobs.services.task_runs_prune``.

``TaskLock`` is the portable lock (one row per held lock, with an expiry), used by
``jobs.lock`` only when the database is not PostgreSQL and no Redis is configured.
"""

from django.db import models


class TaskRun(models.Model):
    class Outcome(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        SKIPPED = "skipped"  # another run held the lock: no work done
        RETRYING = "retrying"  # transient error; retried after a backoff
        FAILED = "failed"

    name = models.CharField(max_length=200, db_index=True, help_text="The Celery task name.")
    task_id = models.CharField(max_length=255, blank=True, db_index=True, help_text="Celery task id.")
    attempt = models.PositiveIntegerField(default=1, help_text="1 for the first try, 2 for the first retry…")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    hostname = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["name", "outcome", "-started_at"], name="taskrun_name_outcome")]

    def __str__(self) -> str:
        return f"{self.name} {self.outcome} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class TaskLock(models.Model):
    name = models.CharField(max_length=200, primary_key=True)
    token = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"lock {self.name} until {self.expires_at:%Y-%m-%d %H:%M:%S}"

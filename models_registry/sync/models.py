"""Rows of the catalogue sync (registered with the ``models_registry`` app).

A ``CatalogSource`` names an upstream catalogue and its policy; every sync of it is a ``SyncRun``;
each model a run touches (or would touch, for a dry run) is a ``SyncChange`` with its field-level
changes, impact and state. Held changes keep the proposed values (``proposed``, JSON-encoded
top-level fields) so an approval can apply them later through the write path. Source edits leave
simple-history rows (``CatalogSource.history``) with their actor and reason.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from ..fields import EncryptedChangesField, EncryptedStateField


class CatalogSource(models.Model):
    class Format(models.TextChoices):
        LITELLM = "litellm", "LiteLLM"
        OPENROUTER = "openrouter", "OpenRouter"

    class Policy(models.TextChoices):
        APPLY_ALL = "apply_all", "Apply every change"
        HOLD_BREAKING = "hold_breaking", "Apply non-breaking changes, hold breaking ones for review"

    name = models.CharField(max_length=100, unique=True)
    format = models.CharField(max_length=20, choices=Format.choices, default=Format.LITELLM)
    location = models.CharField(max_length=2000, help_text="A local path or an http(s) URL.")
    enabled = models.BooleanField(default=True, help_text="Synced by the periodic task.")
    policy = models.CharField(max_length=20, choices=Policy.choices, default=Policy.HOLD_BREAKING)
    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text="A note or cron string; the periodic task sync_catalogues syncs every enabled source.",
    )
    missing_grace_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days a model may be missing upstream before it is deprecated "
        "(empty: MODEL_REGISTRY['SYNC_MISSING_GRACE_DAYS']).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        app_label = "models_registry"
        ordering = ["name"]
        permissions = [("run_catalogsource", "Can run a catalogue sync")]

    def __str__(self) -> str:
        return self.name


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        REFUSED = "refused", "Refused by the integrity guard"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(CatalogSource, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    policy = models.CharField(max_length=20, choices=CatalogSource.Policy.choices)
    fetched = models.PositiveIntegerField(default=0, help_text="Models in the upstream catalogue.")
    guard = models.TextField(blank=True, help_text="The integrity guard's outcome.")
    created = models.PositiveIntegerField(default=0)
    applied = models.PositiveIntegerField(default=0, help_text="Models written (created included).")
    held = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deprecated = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="Entries not imported: [ref, reason].")
    error = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        app_label = "models_registry"
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["source", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.source} #{self.pk} ({self.status}{', dry run' if self.dry_run else ''})"


class SyncChange(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DEPRECATE = "deprecate", "Deprecate (missing upstream)"

    class State(models.TextChoices):
        PREVIEW = "preview", "Preview (dry run)"
        APPLIED = "applied", "Applied"
        HELD = "held", "Held for review"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a later run"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="changes")
    model_key = models.CharField(max_length=400, db_index=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    changes = EncryptedChangesField(default=list, help_text="[{field, path, old, new, kind, category}]")
    impact = models.CharField(max_length=10)
    breaking = models.BooleanField(default=False)
    would_hold = models.BooleanField(default=False, help_text="Held (or, in a dry run, would be).")
    state = models.CharField(max_length=10, choices=State.choices, db_index=True)
    proposed = EncryptedStateField(
        default=dict, blank=True, help_text="Top-level field values to write (JSON-encoded)."
    )
    summary = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    result_version = models.CharField(max_length=32, blank=True)

    class Meta:
        app_label = "models_registry"
        ordering = ["run_id", "model_key"]
        permissions = [("approve_syncchange", "Can approve or reject held sync changes")]

    def __str__(self) -> str:
        return f"{self.model_key} ({self.state}, run #{self.run_id})"


class SyncMissing(models.Model):
    """A model of a source's catalogue that the last syncs did not find upstream, since when."""

    source = models.ForeignKey(CatalogSource, on_delete=models.CASCADE, related_name="missing")
    model_key = models.CharField(max_length=400)
    first_missing_at = models.DateTimeField()

    class Meta:
        app_label = "models_registry"
        constraints = [
            models.UniqueConstraint(fields=["source", "model_key"], name="sync_missing_unique_source_key")
        ]

    def __str__(self) -> str:
        return f"{self.model_key} missing since {self.first_missing_at:%Y-%m-%d}"

"""ModelVersion (one per real change of an AIModel) and RollbackRequest (the four-eyes workflow).

Invariants as database constraints:

- version numbers are unique per model (``UniqueConstraint(ai_model, number)``); that they are
  gap-free comes from allocating them under the model's row lock (``services.recording``);
- whoever decides a rollback request is not who requested it (``CheckConstraint``);
- at most one open (pending or approved) request per model (partial ``UniqueConstraint``).

Both are audited with django-simple-history. Versions are written only by
``versioning.services.recording`` (from the write path), requests only by
``versioning.services.rollbacks``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from models_registry.fields import EncryptedChangesField, EncryptedStateField
from models_registry.models import AIModel

from .db import CurrentTransactionId
from .impact import LEVELS


class Impact(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


assert tuple(Impact.values) == LEVELS


class ModelVersion(models.Model):
    """The state of a model after one change: full snapshot, diff from the previous version,
    impact. Version 1 is the creation; history is never rewritten (a rollback is a new version)."""

    ai_model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3 … per model, without gaps.")
    label = models.CharField(max_length=32, help_text="Semver-like: major = breaking, minor = additions.")
    revision = models.PositiveIntegerField(help_text="The model's revision after this version.")
    snapshot = EncryptedStateField(
        null=True, blank=True, help_text="Full state (versioning.snapshots); null once pruned."
    )
    changes = EncryptedChangesField(
        default=list,
        blank=True,
        help_text="[{field, path, old, new, kind, category}] from the previous version.",
    )
    # Space-delimited (" pricing tags "), for portable filters of the change feed.
    changed_fields = models.TextField(blank=True, default="")
    change_kinds = models.CharField(max_length=32, blank=True, default="")
    impact = models.CharField(max_length=10, choices=Impact.choices, db_index=True)
    breaking = models.BooleanField(default=False, db_index=True)
    summary = models.JSONField(default=dict, blank=True)
    source = models.CharField(
        max_length=32, db_index=True, help_text="admin, api, import, sync, rollback, system…"
    )
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    rollback_available = models.BooleanField(default=True)
    pruned_at = models.DateTimeField(null=True, blank=True)
    restored_from = models.PositiveIntegerField(
        null=True, blank=True, help_text="For a rollback: the number of the version restored."
    )
    txid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)

    history = HistoricalRecords(
        excluded_fields=["snapshot", "changes", "changed_fields", "change_kinds", "summary", "txid"]
    )

    class Meta:
        ordering = ["ai_model_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["ai_model", "number"], name="modelversion_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="modelversion_number_gte_1"),
            models.CheckConstraint(
                condition=Q(rollback_available=False) | Q(snapshot__isnull=False),
                name="modelversion_rollback_needs_snapshot",
            ),
        ]
        indexes = [models.Index(fields=["txid", "id"], name="modelversion_feed")]

    def __str__(self) -> str:
        return f"{self.ai_model_id} v{self.number} ({self.label})"


class RollbackRequest(models.Model):
    """A request to restore a model to one of its versions, decided by someone else."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    OPEN_STATUSES = (Status.PENDING, Status.APPROVED)

    ai_model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="rollback_requests")
    # RESTRICT: a targeted version cannot be deleted on its own, but goes with its model (CASCADE).
    target_version = models.ForeignKey(
        ModelVersion, on_delete=models.RESTRICT, related_name="rollback_requests"
    )
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    base_revision = models.PositiveIntegerField(help_text="The model's revision when requested.")
    requested_changes = EncryptedChangesField(
        default=list, blank=True, help_text="Diff current → target when requested."
    )
    approved_changes = EncryptedChangesField(
        null=True, blank=True, help_text="Diff current → target when approved (what the approver saw)."
    )
    result_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    executed_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["requested_changes", "approved_changes"])

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="rollbackrequest_decider_not_requester",
            ),
            models.UniqueConstraint(
                fields=["ai_model"],
                condition=Q(status__in=["pending", "approved"]),
                name="rollbackrequest_one_open_per_model",
            ),
        ]
        permissions = [("approve_rollbackrequest", "Can approve or reject rollback requests")]

    def __str__(self) -> str:
        return f"Rollback #{self.pk} of {self.ai_model_id} to v{self.target_version.number} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

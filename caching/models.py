"""History of explicit cache invalidations (API, admin, maintenance): what, why, how long, outcome.

Invalidations caused by model writes are not recorded here (one per write would double the
write load); they are counted in the ``model_registry_cache_invalidations_total`` metric.
"""

from django.conf import settings
from django.db import models


class InvalidationEvent(models.Model):
    class Scope(models.TextChoices):
        MODEL = "model"
        PROVIDER = "provider"
        TAGS = "tags"
        ALL = "all"

    class Outcome(models.TextChoices):
        OK = "ok"
        DEGRADED = "degraded"  # Redis unreachable: L1 dropped, L2 fenced by a generation bump later

    scope = models.CharField(max_length=16, choices=Scope.choices)
    targets = models.JSONField(default=list, blank=True, help_text="Model keys, providers or tags.")
    reason = models.TextField(blank=True)
    count = models.PositiveIntegerField(default=0, help_text="Cached entries invalidated in Redis.")
    duration_ms = models.FloatField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.OK)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("invalidate_cache", "Can invalidate the model cache")]

    def __str__(self) -> str:
        return f"{self.scope} invalidation ({self.count}) at {self.created_at:%Y-%m-%d %H:%M:%S}"

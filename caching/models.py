"""Invalidation rules (editable in the admin and the API) and the history of invalidations.

``InvalidationRule``: when an event happens (a model changed, a provider was updated, a sync was
applied, the schedule ticked, an operator asked), a *strategy* picks candidate cache entries, the
rule's *conditions* filter them, and its *actions* run on what is left (``caching/rules/``).

Every rule change (created, changed, deleted) leaves a simple-history row with its actor and reason
(``InvalidationRule.history``; written by ``caching.rules.services``).

``InvalidationEvent``: explicit invalidations (API, admin, maintenance) and rule firings that hit
something: what, why, in which context, how long, outcome. Invalidations caused by model writes
themselves are not recorded here (one per write would double the write load); they are counted in
the ``model_registry_cache_invalidations_total`` metric. Rows are pruned by age and count
(``caching.events.invalidation_events_prune``).
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class InvalidationRule(models.Model):
    class Event(models.TextChoices):
        MODEL_CHANGED = "model_changed"
        PROVIDER_UPDATED = "provider_updated"
        SYNC_APPLIED = "sync_applied"
        SCHEDULE = "schedule"
        MANUAL = "manual"

    class Match(models.TextChoices):
        ALL = "all", "All conditions hold"
        ANY = "any", "Any condition holds"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    priority = models.IntegerField(default=0, help_text="Rules run in priority order, higher first.")
    events = models.JSONField(
        default=list,
        blank=True,  # emptiness is reported by clean() with the list of events
        help_text="Events it fires on: model_changed, provider_updated, sync_applied, schedule, manual.",
    )
    strategy = models.CharField(
        max_length=64, default="manual", help_text="How candidate cache entries are chosen."
    )
    strategy_params = models.JSONField(default=dict, blank=True, help_text="Parameters of the strategy.")
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text='List of {"field", "operator", "value", "source": "entry"|"metadata"|"context"}.',
    )
    actions = models.JSONField(
        default=list,
        blank=True,  # emptiness is reported by clean()
        help_text='List of {"type": "invalidate"|"refresh"|"extend_ttl"|"tag"|"notify", ...parameters}.',
    )
    stop_processing = models.BooleanField(
        default=False,
        help_text="When this rule hits something, lower-priority rules do not run for the event.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Validate events, strategy, conditions and actions (field errors name the offending part)."""
        from django.core.exceptions import ValidationError

        from .rules.validation import rule_errors

        errors = rule_errors(
            events=self.events,
            strategy=self.strategy,
            strategy_params=self.strategy_params,
            conditions=self.conditions,
            actions=self.actions,
        )
        if errors:
            raise ValidationError(errors)


class InvalidationEvent(models.Model):
    class Scope(models.TextChoices):
        MODEL = "model"
        PROVIDER = "provider"
        TAGS = "tags"
        ALL = "all"
        RULE = "rule"  # a rule firing: targets are the model keys it hit

    class Outcome(models.TextChoices):
        OK = "ok"
        DEGRADED = "degraded"  # Redis unreachable: L1 dropped, L2 fenced by a generation bump later
        FAILED = "failed"  # an error stopped part of the work (see ``error``)

    SUCCESSFUL = (Outcome.OK, Outcome.DEGRADED)  # the invalidation took (or is guaranteed to take) effect

    scope = models.CharField(max_length=16, choices=Scope.choices)
    targets = models.JSONField(default=list, blank=True, help_text="Model keys, providers or tags.")
    providers = models.JSONField(
        default=list, blank=True, help_text="Providers of the entries concerned (for filters and stats)."
    )
    reason = models.TextField(blank=True, help_text='Free text; rule firings: "rule:<name>".')
    context = models.JSONField(
        default=dict, blank=True, help_text="What triggered it: event, its context, actions and their counts."
    )
    rule = models.ForeignKey(
        InvalidationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="firings"
    )
    trigger = models.CharField(
        max_length=32, blank=True, help_text="The event a rule fired on (empty for explicit invalidations)."
    )
    count = models.PositiveIntegerField(default=0, help_text="Cached entries invalidated or acted on.")
    duration_ms = models.FloatField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.OK, db_index=True)
    error = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("invalidate_cache", "Can invalidate the model cache")]

    def __str__(self) -> str:
        return f"{self.scope} invalidation ({self.count}) at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def success(self) -> bool:
        return self.outcome in self.SUCCESSFUL

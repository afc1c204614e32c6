"""Provider and AIModel: the catalogue's tables.

Invariants live here as database constraints (unique key, unique provider/name, non-negative
prices, positive token limits) and in ``clean()``; every write goes through
``models_registry.services`` which calls ``full_clean()`` before saving.
"""

import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from .fields import EncryptedMetadataField

PRICE_MAX_DIGITS = 24
PRICE_DECIMAL_PLACES = 12

MODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class Mode(models.TextChoices):
    """The model modes seen in real catalogues. Others are accepted if they look like a mode."""

    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    IMAGE_GENERATION = "image_generation"
    AUDIO_TRANSCRIPTION = "audio_transcription"
    AUDIO_SPEECH = "audio_speech"
    RERANK = "rerank"
    MODERATION = "moderation"
    RESPONSES = "responses"
    VIDEO_GENERATION = "video_generation"


validate_mode = RegexValidator(MODE_RE, "A mode is lower-case letters, digits and underscores, e.g. 'chat'.")
validate_provider_slug = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "A provider slug is letters, digits, '_', '-' and '.'."
)


class Provider(models.Model):
    """A company or platform serving models (LiteLLM's ``litellm_provider``)."""

    slug = models.CharField(max_length=100, unique=True, validators=[validate_provider_slug])
    name = models.CharField(max_length=200)
    website = models.URLField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


def _non_negative(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0})


def _positive(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": 0})


class AIModel(models.Model):
    """One model of one provider, with limits, prices, capabilities and lifecycle."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=255, help_text="The provider's model id (case-sensitive).")
    key = models.CharField(max_length=400, unique=True, editable=False, help_text='"{provider}/{name}"')
    display_name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    mode = models.CharField(max_length=64, blank=True, validators=[validate_mode], db_index=True)

    context_window = models.PositiveBigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Max input tokens."
    )
    max_output_tokens = models.PositiveBigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    input_cost_per_1m = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="USD per 1M input tokens.",
    )
    output_cost_per_1m = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="USD per 1M output tokens.",
    )
    pricing = models.JSONField(
        default=dict, blank=True, help_text="Other prices: key (unit in it) → decimal string."
    )

    supports_streaming = models.BooleanField(null=True, blank=True)
    supports_function_calling = models.BooleanField(null=True, blank=True)
    supports_vision = models.BooleanField(null=True, blank=True)
    capabilities = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = EncryptedMetadataField(default=dict, blank=True)  # sensitive values encrypted at rest

    is_active = models.BooleanField(default=True)
    is_deprecated = models.BooleanField(default=False)
    deprecation_date = models.DateField(null=True, blank=True)
    successor = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="predecessors"
    )
    alternatives = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="alternative_for"
    )

    source = models.CharField(
        max_length=32, blank=True, default="manual", help_text="litellm, openrouter, manual…"
    )
    source_id = models.CharField(max_length=400, blank=True, help_text="The id in the source catalogue.")
    documentation_url = models.CharField(max_length=1000, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    revision = models.PositiveIntegerField(default=1, editable=False)
    version = models.CharField(max_length=32, default="1.0.0", editable=False)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["key"]
        verbose_name = "AI model"
        verbose_name_plural = "AI models"
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="aimodel_unique_provider_name"),
            models.CheckConstraint(
                condition=_non_negative("input_cost_per_1m"), name="aimodel_input_cost_gte_0"
            ),
            models.CheckConstraint(
                condition=_non_negative("output_cost_per_1m"), name="aimodel_output_cost_gte_0"
            ),
            models.CheckConstraint(condition=_positive("context_window"), name="aimodel_context_window_gt_0"),
            models.CheckConstraint(condition=_positive("max_output_tokens"), name="aimodel_max_output_gt_0"),
            models.CheckConstraint(condition=Q(revision__gte=1), name="aimodel_revision_gte_1"),
            models.CheckConstraint(condition=~Q(name=""), name="aimodel_name_not_empty"),
        ]
        indexes = [
            models.Index(fields=["provider", "is_active"], name="aimodel_provider_active"),
            models.Index(fields=["is_active", "is_deprecated"], name="aimodel_active_deprecated"),
            models.Index(fields=["context_window"], name="aimodel_context_window"),
            models.Index(fields=["input_cost_per_1m"], name="aimodel_input_cost"),
            models.Index(fields=["output_cost_per_1m"], name="aimodel_output_cost"),
            models.Index(fields=["deprecation_date"], name="aimodel_deprecation_date"),
            models.Index(fields=["source", "source_id"], name="aimodel_source"),
        ]
        permissions = [("view_sensitive_metadata", "Can view sensitive model metadata")]

    def __str__(self) -> str:
        return self.key

    @staticmethod
    def make_key(provider_slug: str, name: str) -> str:
        return f"{provider_slug}/{name}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.provider_id and self.name:
            self.key = self.make_key(self.provider.slug, self.name)
        from .validation import pricing_errors, string_list_errors, string_map_errors

        for field, problems in (
            ("pricing", pricing_errors(self.pricing)),
            ("capabilities", string_map_errors(self.capabilities, "capabilities")),
            ("metadata", string_map_errors(self.metadata, "metadata")),
            ("tags", string_list_errors(self.tags)),
        ):
            if problems:
                errors[field] = problems
        if self.successor_id and self.pk and self.successor_id == self.pk:
            errors["successor"] = ["A model cannot be its own successor."]
        if errors:
            raise ValidationError(errors)


class ModelAlias(models.Model):
    """Another id under which a model is known (e.g. LiteLLM's ``deepseek-chat`` for
    ``deepseek/deepseek-chat``). Lookups by key also resolve aliases."""

    alias = models.CharField(max_length=400, unique=True)
    ai_model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="aliases")
    source = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return f"{self.alias} → {self.ai_model_id}"


# Scheduled maintenance rows (defined in their own module, registered with this app).
from .jobs.models import TaskLock, TaskRun  # noqa: E402, F401

# Upstream catalogue sync rows (defined in their own module, registered with this app).
from .sync.models import CatalogSource, SyncChange, SyncMissing, SyncRun  # noqa: E402, F401

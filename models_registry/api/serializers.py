"""Input and output serializers of the registry API (separate classes, separate schema components).

Output: ``AIModelSerializer`` renders an immutable ``AIModelRecord`` through
``records.record_to_dict`` — the one JSON shape a model has, whether it comes from the database,
a list page or (later) the cache. Its declared fields only document that shape.

Input: ``AIModelCreateSerializer`` (POST: ``provider`` and ``name`` required) and
``AIModelUpdateSerializer`` (PUT / PATCH: writable fields only). Both check JSON types and refuse
server-owned, identity and unknown fields by name instead of ignoring them
(``strict.StrictInputMixin``); the services do the rest of the validation (``full_clean``,
references, constraints).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import AIModel
from ..records import AIModelRecord, record_from_instance, record_to_dict
from ..services.models import SERVER_OWNED_FIELDS, WRITABLE_FIELDS
from .fields import PriceField, StrictBooleanField, StrictCharField, StrictIntegerField
from .sensitive import has_sensitive, masked
from .strict import StrictInputMixin

# In the output but never settable.
READ_ONLY_FIELDS: tuple[str, ...] = (*SERVER_OWNED_FIELDS, "aliases")
# Set on create only: they make up the key.
IDENTITY_FIELDS: tuple[str, ...] = ("provider", "name")


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _decimal_out(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=24, decimal_places=12, allow_null=True, read_only=True, help_text=help_text
    )


class AIModelSerializer(serializers.Serializer):
    """One model, as every read endpoint returns it. Decimals are strings; dates ISO 8601.
    Sensitive metadata values are masked unless the context says ``can_view_sensitive``."""

    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True, help_text='"{provider}/{name}", unique.')
    provider = serializers.CharField(read_only=True, help_text="Provider slug.")
    name = serializers.CharField(read_only=True, help_text="The provider's model id (case-sensitive).")
    display_name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    mode = serializers.CharField(read_only=True, help_text="chat, embedding, completion, …")
    context_window = serializers.IntegerField(read_only=True, allow_null=True, help_text="Max input tokens.")
    max_output_tokens = serializers.IntegerField(read_only=True, allow_null=True)
    input_cost_per_1m = _decimal_out("USD per 1M input tokens (decimal string).")
    output_cost_per_1m = _decimal_out("USD per 1M output tokens (decimal string).")
    pricing = serializers.DictField(
        read_only=True, help_text="Other prices: key (unit in the key) → decimal string."
    )
    supports_streaming = serializers.BooleanField(read_only=True, allow_null=True, help_text="null: unknown.")
    supports_function_calling = serializers.BooleanField(
        read_only=True, allow_null=True, help_text="null: unknown."
    )
    supports_vision = serializers.BooleanField(read_only=True, allow_null=True, help_text="null: unknown.")
    capabilities = serializers.DictField(read_only=True, help_text='e.g. {"reasoning": true}')
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    metadata = serializers.DictField(
        read_only=True,
        help_text="Sensitive values (api_key, …) are masked without the permission to see them.",
    )
    is_active = serializers.BooleanField(read_only=True, help_text="false: soft-deleted.")
    is_deprecated = serializers.BooleanField(read_only=True)
    deprecation_date = serializers.DateField(read_only=True, allow_null=True)
    successor = serializers.CharField(read_only=True, allow_null=True, help_text="Key of the successor.")
    alternatives = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Keys of alternative models."
    )
    aliases = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Other ids the model is found by."
    )
    source = serializers.CharField(read_only=True, help_text="litellm, openrouter, manual, …")
    source_id = serializers.CharField(read_only=True, help_text="The id in the source catalogue.")
    documentation_url = serializers.CharField(read_only=True)
    version = serializers.CharField(read_only=True, help_text="Label of the current version.")
    revision = serializers.IntegerField(read_only=True, help_text="+1 per change; the ETag derives from it.")
    discovered_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: AIModelRecord | AIModel) -> dict:
        record = instance if isinstance(instance, AIModelRecord) else record_from_instance(instance)
        data = record_to_dict(record)
        if not self.context.get("can_view_sensitive", False) and has_sensitive(data["metadata"]):
            data["metadata"] = masked(data["metadata"])
        return data


class ModelStatsSerializer(serializers.Serializer):
    """Catalogue figures (``selectors.ai_model_stats``)."""

    total = serializers.IntegerField(help_text="All models, active or not.")
    active = serializers.IntegerField()
    inactive = serializers.IntegerField()
    deprecated = serializers.IntegerField(help_text="Active models marked deprecated.")
    providers = serializers.IntegerField(help_text="Providers with at least one active model.")
    by_provider = serializers.DictField(child=serializers.IntegerField(), help_text="Active models.")
    by_mode = serializers.DictField(child=serializers.IntegerField(), help_text="Active models.")
    by_capability = serializers.DictField(child=serializers.IntegerField(), help_text="Active models.")
    added_last_7_days = serializers.IntegerField()


class IsoDateTimeField(serializers.DateTimeField):
    """``datetime.isoformat()`` — the same text as model records carry."""

    def to_representation(self, value):
        return None if value is None else value.isoformat()


class ProviderSerializer(serializers.Serializer):
    """A provider with its model counts (annotated by ``selectors.provider_list``)."""

    id = serializers.IntegerField(read_only=True)
    slug = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    website = serializers.CharField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    model_count = serializers.IntegerField(read_only=True, help_text="All models, active or not.")
    active_model_count = serializers.IntegerField(read_only=True)
    created_at = IsoDateTimeField(read_only=True)
    updated_at = IsoDateTimeField(read_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text='Send as "Authorization: Token <token>".')


class ErrorSerializer(serializers.Serializer):
    """Every error response (see ``exception_handler``)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="400 only: field (or query parameter) → a list of messages; for a list or object field "
        "(e.g. a rule's conditions) the messages are nested by item or key.",
    )
    current_revision = serializers.IntegerField(required=False, help_text="412 only.")


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


def _text(max_length: int | None = None, **kwargs) -> StrictCharField:
    return StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=max_length, **kwargs)


def _object(**kwargs) -> serializers.DictField:
    return serializers.DictField(required=False, allow_null=True, **kwargs)


class _WritableFieldsSerializer(StrictInputMixin, serializers.Serializer):
    """The ``WRITABLE_FIELDS`` of a model, type-checked; unknown and read-only names refused."""

    display_name = _text(255)
    description = _text()
    mode = _text(64, help_text="Lower-case letters, digits and '_', e.g. chat, embedding.")
    context_window = StrictIntegerField(required=False, allow_null=True, min_value=1)
    max_output_tokens = StrictIntegerField(required=False, allow_null=True, min_value=1)
    input_cost_per_1m = PriceField(required=False, allow_null=True)
    output_cost_per_1m = PriceField(required=False, allow_null=True)
    pricing = _object(help_text="Other prices: key (unit in the key) → decimal string or number (≥ 0).")
    supports_streaming = StrictBooleanField(required=False, allow_null=True)
    supports_function_calling = StrictBooleanField(required=False, allow_null=True)
    supports_vision = StrictBooleanField(required=False, allow_null=True)
    capabilities = _object(help_text='e.g. {"reasoning": true}')
    tags = serializers.ListField(child=StrictCharField(max_length=64), required=False, allow_null=True)
    metadata = _object()
    is_active = StrictBooleanField(required=False)
    is_deprecated = StrictBooleanField(required=False)
    deprecation_date = serializers.DateField(required=False, allow_null=True)
    successor = StrictCharField(required=False, allow_null=True, help_text="Key of an existing model.")
    alternatives = serializers.ListField(
        child=StrictCharField(), required=False, allow_null=True, help_text="Keys of existing models."
    )
    source = _text(32)
    source_id = _text(400)
    documentation_url = _text(1000)
    discovered_at = serializers.DateTimeField(required=False, allow_null=True)

    #: server-owned names, refused as read-only (``strict.StrictInputMixin``); subclasses add
    #: the identity fields with their own message
    read_only_fields = READ_ONLY_FIELDS


class AIModelCreateSerializer(_WritableFieldsSerializer):
    """POST body: ``provider`` (slug of an existing provider) and ``name`` are required."""

    provider = StrictCharField(max_length=100, help_text="Slug of an existing provider.")
    name = StrictCharField(max_length=255, help_text="The provider's model id; may contain / : @ . *")


class AIModelUpdateSerializer(_WritableFieldsSerializer):
    """PUT body (every writable field; omitted ones reset to defaults) or PATCH body (only the
    given fields). ``provider`` and ``name`` make up the key and cannot change."""

    refused_fields = {
        name: "This field cannot be changed (it is part of the key)." for name in IDENTITY_FIELDS
    }


def writable_defaults() -> dict[str, Any]:
    """The value every writable field has on a new model (what PUT resets omitted fields to)."""
    defaults: dict[str, Any] = {}
    for name in WRITABLE_FIELDS:
        field = AIModel._meta.get_field(name)
        defaults[name] = [] if field.many_to_many else field.get_default()
    return defaults

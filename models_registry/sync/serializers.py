"""Input and output serializers of the sync API (input: strict JSON types; server-owned and
unknown fields refused by name, ``models_registry.api.strict``)."""

from __future__ import annotations

from rest_framework import serializers

from versioning.masking import can_view_sensitive, mask_changes, mask_state

from ..api.fields import StrictBooleanField, StrictCharField
from ..api.strict import StrictSerializer
from .models import SyncChange, SyncRun

# Server-owned fields of runs and changes: named in a request body, refused as read-only.
RUN_FIELDS = (
    "id",
    "source",
    "source_id",
    "status",
    "dry_run",
    "policy",
    "started_at",
    "finished_at",
    "fetched",
    "guard",
    "created",
    "applied",
    "held",
    "unchanged",
    "deprecated",
    "errors",
    "error",
    "actor",
)
RUN_READ_ONLY_FIELDS = (*(f for f in RUN_FIELDS if f != "dry_run"), "changes")  # dry_run is an input
CHANGE_READ_ONLY_FIELDS = (
    "id",
    "run",
    "source",
    "model_key",
    "action",
    "impact",
    "breaking",
    "would_hold",
    "state",
    "summary",
    "changes",
    "proposed",
    "decided_by",
    "decided_at",
    "decision_comment",
    "result_version",
)


class SyncRunInputSerializer(StrictSerializer):
    read_only_fields = RUN_READ_ONLY_FIELDS

    dry_run = StrictBooleanField(default=False)


class SyncDecisionSerializer(StrictSerializer):
    read_only_fields = CHANGE_READ_ONLY_FIELDS

    comment = StrictCharField(required=False, allow_blank=True, default="", max_length=2000)


class SyncRejectSerializer(StrictSerializer):
    read_only_fields = CHANGE_READ_ONLY_FIELDS

    comment = StrictCharField(max_length=2000)


class ChangeEntrySerializer(serializers.Serializer):
    field = serializers.CharField()
    kind = serializers.CharField()
    category = serializers.CharField(allow_null=True, required=False)
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class SyncChangeSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="run_id", read_only=True)
    source = serializers.CharField(source="run.source.name", read_only=True)
    changes = ChangeEntrySerializer(many=True, read_only=True)
    proposed = serializers.JSONField(read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SyncChange
        fields = list(CHANGE_READ_ONLY_FIELDS)
        read_only_fields = fields

    def to_representation(self, instance):
        """Sensitive metadata values (``api_key``, …) masked for users without the permission."""
        data = super().to_representation(instance)
        request = self.context.get("request")
        can_view = can_view_sensitive(getattr(request, "user", None))
        data["changes"] = mask_changes(data["changes"], can_view=can_view)
        data["proposed"] = mask_state(data["proposed"], can_view=can_view)
        return data


class SyncRunSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name", read_only=True)
    source_id = serializers.IntegerField(read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    errors = serializers.JSONField(read_only=True)

    class Meta:
        model = SyncRun
        fields = list(RUN_FIELDS)
        read_only_fields = fields


class SyncRunDetailSerializer(SyncRunSerializer):
    changes = SyncChangeSerializer(many=True, read_only=True)

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "changes"]
        read_only_fields = fields

"""Input and output serializers of the sync API."""

from __future__ import annotations

from rest_framework import serializers

from .models import SyncChange, SyncRun


class SyncRunInputSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)


class SyncDecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SyncRejectSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000)


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
        fields = [
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
        ]
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name", read_only=True)
    source_id = serializers.IntegerField(read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    errors = serializers.JSONField(read_only=True)

    class Meta:
        model = SyncRun
        fields = [
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
        ]
        read_only_fields = fields


class SyncRunDetailSerializer(SyncRunSerializer):
    changes = SyncChangeSerializer(many=True, read_only=True)

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "changes"]
        read_only_fields = fields

"""Input and output serializers of the versioning API (separate classes, as in the registry API).

Output serializers render model rows and selector results; changes and snapshots are the stored
JSON (decimals as strings, dates ISO 8601) with sensitive metadata masked unless the context says
``can_view_sensitive``. Input serializers check JSON types strictly (``models_registry.api.fields``)
and leave the rules (versions exist, reasons, four eyes) to the services.
"""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from models_registry.api.fields import StrictCharField, StrictIntegerField
from models_registry.api.serializers import IsoDateTimeField
from models_registry.api.strict import StrictSerializer
from models_registry.conf import registry_settings

from ..diff import CATEGORIES, KINDS
from ..impact import LEVELS
from ..masking import mask_changes, mask_state
from ..models import ModelVersion, RollbackRequest
from ..selectors import version_changes
from ..snapshots import encode_changes, encode_state

# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


class ChangeSerializer(serializers.Serializer):
    """One field-level change."""

    field = serializers.CharField(help_text='Dotted for keys of maps: "pricing.input_cost_per_image".')
    path = serializers.ListField(child=serializers.CharField(), help_text="The same keys, unjoined.")
    old = serializers.JSONField(allow_null=True, help_text="Decimals as strings, dates ISO 8601.")
    new = serializers.JSONField(allow_null=True)
    kind = serializers.ChoiceField(choices=KINDS)
    category = serializers.ChoiceField(choices=CATEGORIES, help_text="breaking, non_breaking or cosmetic.")


class SummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    breaking = serializers.IntegerField(required=False)
    non_breaking = serializers.IntegerField(required=False)
    cosmetic = serializers.IntegerField(required=False)
    added = serializers.ListField(child=serializers.CharField(), required=False)
    removed = serializers.ListField(child=serializers.CharField(), required=False)
    modified = serializers.ListField(child=serializers.CharField(), required=False)
    breaking_fields = serializers.ListField(child=serializers.CharField(), required=False)
    text = serializers.CharField()


def _username(user) -> str | None:
    return None if user is None else user.get_username()


def _can_view(context) -> bool:
    return bool(context.get("can_view_sensitive", False))


class ModelVersionSerializer(serializers.Serializer):
    """A version: number, label, impact and the changes from the previous version."""

    id = serializers.IntegerField()
    model = serializers.IntegerField(source="ai_model_id")
    model_key = serializers.CharField(source="ai_model.key")
    number = serializers.IntegerField(help_text="1, 2, 3 … per model, without gaps.")
    label = serializers.CharField(
        help_text="Semver-like: major = breaking, minor = non-breaking, patch = cosmetic."
    )
    revision = serializers.IntegerField(help_text="The model's revision after this version.")
    impact = serializers.ChoiceField(choices=LEVELS)
    breaking = serializers.BooleanField()
    summary = SummarySerializer()
    changes = ChangeSerializer(many=True)
    source = serializers.CharField(help_text="admin, api, import, sync, rollback, system…")
    reason = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = IsoDateTimeField()
    rollback_available = serializers.BooleanField(help_text="false once pruned by the retention policy.")
    pruned_at = IsoDateTimeField(allow_null=True)
    restored_from = serializers.IntegerField(
        allow_null=True, help_text="For a rollback: the version restored."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, version) -> str | None:
        return _username(version.created_by)

    def to_representation(self, version: ModelVersion) -> dict:
        return {
            "id": version.pk,
            "model": version.ai_model_id,
            "model_key": version.ai_model.key,
            "number": version.number,
            "label": version.label,
            "revision": version.revision,
            "impact": version.impact,
            "breaking": version.breaking,
            "summary": version.summary,
            "changes": mask_changes(version_changes(version), can_view=_can_view(self.context)),
            "source": version.source,
            "reason": version.reason,
            "created_by": _username(version.created_by),
            "created_at": version.created_at.isoformat(),
            "rollback_available": version.rollback_available,
            "pruned_at": None if version.pruned_at is None else version.pruned_at.isoformat(),
            "restored_from": version.restored_from,
        }


class ModelVersionDetailSerializer(ModelVersionSerializer):
    """A version with the model's full state after it (``snapshot``; rebuilt from later versions'
    diffs once pruned — then ``rollback_available`` is false)."""

    snapshot = serializers.DictField(help_text="Every field of the model after this version.")

    def to_representation(self, version: ModelVersion) -> dict:
        data = super().to_representation(version)
        state = self.context["state"]
        data["snapshot"] = mask_state(encode_state(state), can_view=_can_view(self.context))
        return data


class VersionRefSerializer(serializers.Serializer):
    number = serializers.IntegerField(allow_null=True, required=False, help_text="null: before creation.")
    label = serializers.CharField(allow_null=True, required=False)
    current = serializers.BooleanField(required=False, help_text="true: the model's current state.")
    revision = serializers.IntegerField(required=False)


class VersionDiffSerializer(serializers.Serializer):
    """The changes that turn ``from`` into ``to``, with their impact."""

    model = serializers.IntegerField()
    model_key = serializers.CharField()
    from_ = VersionRefSerializer()
    to = VersionRefSerializer()
    changes = ChangeSerializer(many=True)
    impact = serializers.ChoiceField(choices=LEVELS)
    breaking = serializers.BooleanField()
    summary = SummarySerializer()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = self.fields.pop("from_")

    def to_representation(self, diff) -> dict:
        impact = diff.impact(self.context.get("thresholds"))
        return {
            "model": diff.ai_model.pk,
            "model_key": diff.ai_model.key,
            "from": diff.from_ref,
            "to": diff.to_ref,
            "changes": mask_changes(
                encode_changes(diff.changes, impact.categories), can_view=_can_view(self.context)
            ),
            "impact": impact.level,
            "breaking": impact.breaking,
            "summary": impact.summary,
        }


class PreviewSerializer(serializers.Serializer):
    """What executing the request now would change (current state → target)."""

    current_revision = serializers.IntegerField()
    changes = ChangeSerializer(many=True)
    impact = serializers.ChoiceField(choices=LEVELS)
    breaking = serializers.BooleanField()
    summary = SummarySerializer()


class RollbackRequestSerializer(serializers.Serializer):
    """A rollback request and its decision."""

    id = serializers.IntegerField()
    model = serializers.IntegerField()
    model_key = serializers.CharField()
    target_version = serializers.IntegerField(help_text="Number of the version to restore.")
    target_label = serializers.CharField()
    reason = serializers.CharField()
    status = serializers.ChoiceField(choices=RollbackRequest.Status.choices)
    requested_by = serializers.CharField(allow_null=True)
    created_at = IsoDateTimeField()
    expires_at = IsoDateTimeField(allow_null=True, help_text="When a pending request expires (null: never).")
    base_revision = serializers.IntegerField(help_text="The model's revision when requested.")
    requested_changes = ChangeSerializer(many=True, help_text="Current → target when requested.")
    decided_by = serializers.CharField(allow_null=True)
    decided_at = IsoDateTimeField(allow_null=True)
    decision_comment = serializers.CharField()
    approved_changes = ChangeSerializer(
        many=True, allow_null=True, help_text="Current → target when approved."
    )
    result_version = serializers.IntegerField(allow_null=True, help_text="The version the rollback created.")
    executed_at = IsoDateTimeField(allow_null=True)
    error = serializers.CharField(help_text="Why execution failed (status failed).")

    def to_representation(self, request: RollbackRequest) -> dict:
        can_view = _can_view(self.context)
        days = int(registry_settings.ROLLBACK_REQUEST_EXPIRY_DAYS or 0)
        expires = (
            request.created_at + dt.timedelta(days=days)
            if request.status == RollbackRequest.Status.PENDING and days > 0
            else None
        )
        return {
            "id": request.pk,
            "model": request.ai_model_id,
            "model_key": request.ai_model.key,
            "target_version": request.target_version.number,
            "target_label": request.target_version.label,
            "reason": request.reason,
            "status": request.status,
            "requested_by": _username(request.requested_by),
            "created_at": request.created_at.isoformat(),
            "expires_at": None if expires is None else expires.isoformat(),
            "base_revision": request.base_revision,
            "requested_changes": mask_changes(request.requested_changes, can_view=can_view),
            "decided_by": _username(request.decided_by),
            "decided_at": None if request.decided_at is None else request.decided_at.isoformat(),
            "decision_comment": request.decision_comment,
            "approved_changes": None
            if request.approved_changes is None
            else mask_changes(request.approved_changes, can_view=can_view),
            "result_version": None if request.result_version is None else request.result_version.number,
            "executed_at": None if request.executed_at is None else request.executed_at.isoformat(),
            "error": request.error,
        }


class RollbackRequestDetailSerializer(RollbackRequestSerializer):
    """A request with, while it is open, the preview an approver decides on."""

    preview = PreviewSerializer(allow_null=True)

    def to_representation(self, request: RollbackRequest) -> dict:
        data = super().to_representation(request)
        diff = self.context.get("preview")
        if diff is None:
            data["preview"] = None
        else:
            impact = diff.impact()
            data["preview"] = {
                "current_revision": diff.from_ref.get("revision"),
                "changes": mask_changes(
                    encode_changes(diff.changes, impact.categories), can_view=_can_view(self.context)
                ),
                "impact": impact.level,
                "breaking": impact.breaking,
                "summary": impact.summary,
            }
        return data


class FeedEntrySerializer(ModelVersionSerializer):
    """A version in the change feed."""


class ChangeFeedSerializer(serializers.Serializer):
    """A page of the change feed: pass ``cursor`` as ``since`` to get what changed next."""

    cursor = serializers.CharField(allow_null=True, help_text="Opaque; the `since` of the next request.")
    has_more = serializers.BooleanField(help_text="true: ask again at once with the cursor.")
    next = serializers.URLField(allow_null=True)
    results = FeedEntrySerializer(many=True)


class MostVersionedSerializer(serializers.Serializer):
    model = serializers.IntegerField()
    key = serializers.CharField()
    versions = serializers.IntegerField()
    latest = serializers.IntegerField()


class VersionStatsSerializer(serializers.Serializer):
    """Figures of ``selectors.version_stats``."""

    total_versions = serializers.IntegerField()
    models_with_versions = serializers.IntegerField()
    average_versions_per_model = serializers.FloatField()
    max_versions_per_model = serializers.IntegerField()
    most_versioned = MostVersionedSerializer(many=True)
    by_impact = serializers.DictField(child=serializers.IntegerField())
    by_source = serializers.DictField(child=serializers.IntegerField())
    breaking_versions = serializers.IntegerField()
    rollback_versions = serializers.IntegerField(help_text="Versions made by rollbacks.")
    rollback_requests = serializers.DictField(child=serializers.IntegerField(), help_text="By status.")
    recent_versions = ModelVersionSerializer(many=True)
    field_change_frequency = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Changes after creation per top-level field, in the window.",
    )
    window_days = serializers.IntegerField()

    def to_representation(self, stats: dict) -> dict:
        versions = ModelVersionSerializer(stats["recent_versions"], many=True, context=self.context).data
        return {**stats, "recent_versions": versions}


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


# Server-owned fields of a rollback request: named in a body, they are refused as read-only.
ROLLBACK_READ_ONLY_FIELDS = (
    "id",
    "model_key",
    "target_label",
    "status",
    "requested_by",
    "created_at",
    "expires_at",
    "base_revision",
    "requested_changes",
    "decided_by",
    "decided_at",
    "decision_comment",
    "approved_changes",
    "result_version",
    "executed_at",
    "error",
    "preview",
)


class _StrictSerializer(StrictSerializer):
    """Refuses server-owned fields (read-only) and unknown fields by name instead of ignoring them."""

    read_only_fields = ROLLBACK_READ_ONLY_FIELDS


class RollbackRequestCreateSerializer(_StrictSerializer):
    """POST /rollbacks/: which model, which version, why."""

    model = StrictIntegerField(min_value=1, help_text="Id of the model.")
    target_version = StrictIntegerField(min_value=1, help_text="Number of the version to restore.")
    reason = StrictCharField(max_length=4000, help_text="Why (required).")


class RollbackApproveSerializer(_StrictSerializer):
    """POST /rollbacks/{id}/approve/."""

    comment = StrictCharField(required=False, allow_blank=True, max_length=4000)
    expected_revision = StrictIntegerField(
        required=False,
        min_value=1,
        help_text="The model revision the approver reviewed (the preview's current_revision); "
        "412 if the model moved since.",
    )


class RollbackRejectSerializer(_StrictSerializer):
    """POST /rollbacks/{id}/reject/: the comment is required."""

    comment = StrictCharField(max_length=4000, help_text="Why the rollback is rejected.")


class RollbackCancelSerializer(_StrictSerializer):
    """POST /rollbacks/{id}/cancel/ (the requester only)."""

    comment = StrictCharField(required=False, allow_blank=True, max_length=4000)

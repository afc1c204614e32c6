"""Invalidation rule endpoints: CRUD, dry run, run now.

- ``GET/POST invalidation-rules/``, ``GET/PUT/PATCH/DELETE invalidation-rules/{id}/``
- ``POST invalidation-rules/{id}/dry-run/`` body ``{"event"?, "context"?}``: which cached entries the
  rule would hit and what each action would affect; changes nothing
- ``POST invalidation-rules/{id}/run/`` body ``{"context"?}``: run it now (event ``manual``), recorded

Writes take the reason for their history row from the ``X-Change-Reason`` header (as the model
endpoints do). Staff only; writes need the ``caching`` model permission (add / change / delete
``invalidationrule``), running a rule needs ``caching.invalidate_cache``. The serializers check
shapes and JSON types; the meaning (operators, fields, value types, regexes, strategy and action
parameters) is checked by the model on save, so the API and the admin refuse the same rules,
with a 400 naming the field (``conditions``, ``actions``, ``strategy_params`` …).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from models_registry.api import schema
from models_registry.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from models_registry.api.pagination import RegistryPagination
from models_registry.api.strict import StrictInputMixin
from models_registry.api.views import change_reason

from . import keys as k
from .api import CanInvalidateCache, _JSONView
from .models import InvalidationRule
from .rules import services
from .rules.conditions import OPERATORS, SOURCES
from .rules.services import RULE_FIELDS
from .rules.validation import EVENTS

# -- serializers -------------------------------------------------------------------------------


class ConditionSerializer(serializers.Serializer):
    """One condition (documentation of the shape)."""

    field = serializers.CharField(help_text="Record field, dotted map key (capabilities.vision), ttl, idle …")
    operator = serializers.ChoiceField(choices=OPERATORS)
    value = serializers.JSONField(help_text="Text, number, boolean, null, list (in/not_in), regex text.")
    source = serializers.ChoiceField(choices=SOURCES, required=False, default="entry")


class ActionSerializer(serializers.Serializer):
    """One action (documentation of the shape); parameters depend on the type."""

    type = serializers.ChoiceField(choices=("invalidate", "refresh", "extend_ttl", "tag", "notify"))
    seconds = serializers.IntegerField(required=False, help_text="extend_ttl: seconds to add.")
    max_ttl = serializers.IntegerField(required=False, help_text="extend_ttl: cap on the new lifetime.")
    tag = serializers.CharField(required=False, help_text="tag: the index set to add the entries to.")
    message = serializers.CharField(required=False, help_text="notify: text for the signal and the log.")


@extend_schema_field(ConditionSerializer(many=True))
class ConditionListField(serializers.ListField):
    child = serializers.DictField()


@extend_schema_field(ActionSerializer(many=True))
class ActionListField(serializers.ListField):
    child = serializers.DictField()


class InvalidationRuleInputSerializer(StrictInputMixin, serializers.Serializer):
    read_only_fields = ("id", "created_by", "created_at", "updated_at")

    name = StrictCharField(max_length=100)
    description = StrictCharField(required=False, allow_blank=True, max_length=5000)
    enabled = StrictBooleanField(required=False)
    priority = StrictIntegerField(required=False, min_value=-1_000_000, max_value=1_000_000)
    events = serializers.ListField(
        child=StrictCharField(max_length=32), allow_empty=False, max_length=10, help_text=", ".join(EVENTS)
    )
    strategy = StrictCharField(
        required=False,
        max_length=64,
        help_text="manual, expired, memory_pressure, provider_update, tags, version_change, "
        "capability_change, configuration_change, or a custom one.",
    )
    strategy_params = serializers.DictField(required=False)
    match = serializers.ChoiceField(choices=InvalidationRule.Match.choices, required=False)
    conditions = ConditionListField(required=False, max_length=50)
    actions = ActionListField(allow_empty=False, max_length=20)
    stop_processing = StrictBooleanField(required=False)


class InvalidationRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    events = serializers.ListField(child=serializers.CharField(), read_only=True, help_text=", ".join(EVENTS))
    strategy_params = serializers.DictField(read_only=True)
    conditions = ConditionListField(read_only=True)
    actions = ActionListField(read_only=True)

    class Meta:
        model = InvalidationRule
        fields = [
            "id",
            *RULE_FIELDS,
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class _HandGivenContext:
    def validate_context(self, value):  # names that become cache keys: checked before any lookup
        try:
            return k.validate_context_names(value)
        except k.InvalidCacheKey as exc:
            raise serializers.ValidationError(str(exc)) from exc


# What a firing reports or records: named in a dry-run / run body, refused as read-only.
RESULT_READ_ONLY_FIELDS = (
    "rule",
    "rule_name",
    "strategy",
    "dry_run",
    "candidates",
    "matched",
    "entries",
    "truncated",
    "actions",
    "outcome",
    "error",
    "notes",
    "duration_ms",
    "actor",
)


class DryRunInputSerializer(_HandGivenContext, StrictInputMixin, serializers.Serializer):
    read_only_fields = RESULT_READ_ONLY_FIELDS

    event = serializers.ChoiceField(
        choices=EVENTS, required=False, help_text="Default: the rule's first event."
    )
    context = serializers.DictField(required=False, help_text="The event context to evaluate with.")


class RunInputSerializer(_HandGivenContext, StrictInputMixin, serializers.Serializer):
    read_only_fields = (*RESULT_READ_ONLY_FIELDS, "event")  # a run now is always event "manual"

    context = serializers.DictField(required=False, help_text="The event context to evaluate with.")


class RuleEntrySerializer(serializers.Serializer):
    key = serializers.CharField()
    provider = serializers.CharField()
    revision = serializers.IntegerField()
    version = serializers.CharField()
    cached_l1 = serializers.BooleanField(help_text="In this process's L1.")
    cached_l2 = serializers.BooleanField(help_text="In Redis.")
    ttl = serializers.IntegerField(allow_null=True, help_text="Seconds left in Redis, when measured.")
    idle = serializers.IntegerField(
        allow_null=True, help_text="Seconds since Redis served it, when measured."
    )


class RuleActionResultSerializer(serializers.Serializer):
    type = serializers.CharField()
    count = serializers.IntegerField(help_text="Entries affected (a dry run: would be affected).")
    degraded = serializers.BooleanField(required=False)
    error = serializers.CharField(required=False)
    detail = serializers.DictField(required=False)


class RuleResultSerializer(serializers.Serializer):
    rule = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField()
    event = serializers.CharField()
    strategy = serializers.CharField()
    dry_run = serializers.BooleanField()
    candidates = serializers.IntegerField(help_text="Entries the strategy chose.")
    matched = serializers.IntegerField(
        help_text="Entries that also met the conditions (the rule hits these)."
    )
    entries = RuleEntrySerializer(many=True, help_text="The first 500 entries hit.")
    truncated = serializers.BooleanField()
    actions = RuleActionResultSerializer(many=True)
    outcome = serializers.ChoiceField(choices=("ok", "degraded", "failed"))
    error = serializers.CharField(allow_blank=True)
    notes = serializers.DictField(help_text="What the strategy measured (e.g. memory usage).")
    duration_ms = serializers.FloatField()


# -- views -------------------------------------------------------------------------------------


class RulePermission(IsAdminUser):
    """Staff; writes also need the model permission of the method."""

    perms = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        action = self.perms.get(request.method)
        return action is None or request.user.has_perm(f"caching.{action}_invalidationrule")


class InvalidationRuleListCreateView(_JSONView):
    """Invalidation rules in firing order (priority, then name), or create one."""

    permission_classes = [RulePermission]
    serializer_class = InvalidationRuleSerializer
    pagination_class = RegistryPagination
    queryset = InvalidationRule.objects.select_related("created_by")

    @extend_schema(
        operation_id="invalidation_rules_list",
        responses={200: InvalidationRuleSerializer(many=True), **schema.BAD_REQUEST, **schema.AUTH},
        tags=["invalidation rules"],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(InvalidationRuleSerializer(page, many=True).data)

    @extend_schema(
        operation_id="invalidation_rules_create",
        parameters=[schema.CHANGE_REASON],
        request=InvalidationRuleInputSerializer,
        responses={201: InvalidationRuleSerializer, **schema.BAD_REQUEST, **schema.AUTH},
        tags=["invalidation rules"],
    )
    def post(self, request):
        serializer = InvalidationRuleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = services.rule_create(
            data=serializer.validated_data, actor=request.user, reason=change_reason(request)
        )
        return Response(InvalidationRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class _RuleView(_JSONView):
    queryset = InvalidationRule.objects.select_related("created_by")
    lookup_url_kwarg = "id"

    def rule(self, id: int) -> InvalidationRule:  # noqa: A002
        return get_object_or_404(self.get_queryset(), pk=id)


# PUT replaces the whole rule: what the body leaves out is reset to these.
PUT_DEFAULTS = {
    "description": "",
    "enabled": True,
    "priority": 0,
    "strategy": "manual",
    "strategy_params": {},
    "match": "all",
    "conditions": [],
    "stop_processing": False,
}
RULE_NOT_FOUND = {404: schema.error_response("No such rule.")}


class InvalidationRuleDetailView(_RuleView):
    """One rule: read, replace (PUT), change (PATCH) or delete it."""

    permission_classes = [RulePermission]
    serializer_class = InvalidationRuleSerializer

    @extend_schema(
        operation_id="invalidation_rules_retrieve",
        responses={200: InvalidationRuleSerializer, **schema.AUTH, **RULE_NOT_FOUND},
        tags=["invalidation rules"],
    )
    def get(self, request, id: int):  # noqa: A002
        return Response(InvalidationRuleSerializer(self.rule(id)).data)

    def _write(self, request, id: int, *, partial: bool):  # noqa: A002
        rule = self.rule(id)
        serializer = InvalidationRuleInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data if partial else {**PUT_DEFAULTS, **serializer.validated_data}
        rule = services.rule_update(rule=rule, data=data, actor=request.user, reason=change_reason(request))
        return Response(InvalidationRuleSerializer(rule).data)

    @extend_schema(
        operation_id="invalidation_rules_update",
        parameters=[schema.CHANGE_REASON],
        request=InvalidationRuleInputSerializer,
        responses={200: InvalidationRuleSerializer, **schema.BAD_REQUEST, **schema.AUTH, **RULE_NOT_FOUND},
        tags=["invalidation rules"],
    )
    def put(self, request, id: int):  # noqa: A002
        return self._write(request, id, partial=False)

    @extend_schema(
        operation_id="invalidation_rules_partial_update",
        parameters=[schema.CHANGE_REASON],
        request=InvalidationRuleInputSerializer(partial=True),
        responses={200: InvalidationRuleSerializer, **schema.BAD_REQUEST, **schema.AUTH, **RULE_NOT_FOUND},
        tags=["invalidation rules"],
    )
    def patch(self, request, id: int):  # noqa: A002
        return self._write(request, id, partial=True)

    @extend_schema(
        operation_id="invalidation_rules_destroy",
        parameters=[schema.CHANGE_REASON],
        responses={204: None, **schema.AUTH, **RULE_NOT_FOUND},
        tags=["invalidation rules"],
    )
    def delete(self, request, id: int):  # noqa: A002
        services.rule_delete(rule=self.rule(id), actor=request.user, reason=change_reason(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvalidationRuleDryRunView(_RuleView):
    """Which cached entries the rule would hit now, and what its actions would affect. Changes
    nothing (works for disabled rules too)."""

    permission_classes = [IsAdminUser]
    serializer_class = DryRunInputSerializer

    @extend_schema(
        operation_id="invalidation_rules_dry_run",
        request=DryRunInputSerializer,
        responses={200: RuleResultSerializer, **schema.BAD_REQUEST, **schema.AUTH, **RULE_NOT_FOUND},
        tags=["invalidation rules"],
    )
    def post(self, request, id: int):  # noqa: A002
        rule = self.rule(id)
        serializer = DryRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.rule_dry_run(rule=rule, event=data.get("event"), context=data.get("context"))
        return Response(RuleResultSerializer(result.as_dict()).data)


class InvalidationRuleRunView(_RuleView):
    """Run the rule now (event ``manual``); the firing is recorded as an invalidation event."""

    permission_classes = [CanInvalidateCache]
    serializer_class = RunInputSerializer

    @extend_schema(
        operation_id="invalidation_rules_run",
        request=RunInputSerializer,
        responses={
            200: RuleResultSerializer,
            **schema.BAD_REQUEST,
            **schema.AUTH,
            **RULE_NOT_FOUND,
            409: schema.error_response("The rule is disabled."),
        },
        tags=["invalidation rules"],
    )
    def post(self, request, id: int):  # noqa: A002
        rule = self.rule(id)
        serializer = RunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.rule_execute(
            rule=rule, context=serializer.validated_data.get("context"), actor=request.user
        )
        return Response(RuleResultSerializer(result.as_dict()).data)

"""Cache endpoints: ``GET cache/stats/``, ``POST cache/invalidate/``, ``GET invalidation-events/``
(filtered) and ``GET invalidation-events/stats/``. The rule endpoints are in ``api_rules.py``.

Staff only: the figures describe the deployment, and invalidation needs the
``caching.invalidate_cache`` permission.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django_filters import filters
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission, IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from models_registry.api import schema
from models_registry.api.pagination import RegistryPagination
from models_registry.api.strict import StrictInputMixin

from .events import invalidation_event_stats, invalidation_events_filter_provider
from .models import InvalidationEvent
from .services import cache_invalidate, cache_stats


class CanInvalidateCache(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff and user.has_perm("caching.invalidate_cache")
        )


# What an invalidation records (the event). All but the request's own inputs (``providers``,
# ``reason``) are server-owned: named in a request body, refused as read-only.
EVENT_FIELDS = (
    "id",
    "scope",
    "targets",
    "providers",
    "reason",
    "context",
    "rule",
    "rule_name",
    "trigger",
    "count",
    "duration_ms",
    "outcome",
    "success",
    "error",
    "actor",
    "created_at",
)
EVENT_READ_ONLY_FIELDS = tuple(f for f in EVENT_FIELDS if f not in ("providers", "reason"))


class InvalidateSerializer(StrictInputMixin, serializers.Serializer):
    read_only_fields = EVENT_READ_ONLY_FIELDS

    models = serializers.ListField(
        child=serializers.CharField(max_length=512), required=False, max_length=10_000
    )
    providers = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=100
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    all = serializers.BooleanField(required=False, default=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")

    def validate(self, attrs):
        chosen = [name for name in ("models", "providers", "tags") if attrs.get(name)] + (
            ["all"] if attrs.get("all") else []
        )
        if len(chosen) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give exactly one of models, providers, tags or all=true."]}
            )
        return attrs


class InvalidationEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True, allow_null=True, default=None)
    success = serializers.BooleanField(read_only=True, help_text="Outcome ok or degraded.")

    class Meta:
        model = InvalidationEvent
        fields = list(EVENT_FIELDS)


class InvalidationEventStatsSerializer(serializers.Serializer):
    last_24h = serializers.IntegerField(help_text="Events in the last 24 hours.")
    last_7d = serializers.IntegerField(
        help_text="Events in the last 7 days (the window of the figures below)."
    )
    window_days = serializers.IntegerField()
    average_duration_ms = serializers.FloatField(allow_null=True)
    success_rate = serializers.FloatField(allow_null=True, help_text="Share with outcome ok or degraded.")
    by_reason = serializers.DictField(child=serializers.IntegerField(), help_text="Top 20 reasons.")
    by_provider = serializers.DictField(child=serializers.IntegerField(), help_text="Top 20 providers.")
    by_outcome = serializers.DictField(child=serializers.IntegerField())
    by_scope = serializers.DictField(child=serializers.IntegerField())
    most_common_reason = serializers.CharField(allow_null=True)
    most_active_provider = serializers.CharField(allow_null=True)


class _UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time as UTC: PostgreSQL refuses the UTC offsets beyond ±15:59 that the ISO
    syntax allows (a 400, not a database error)."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField


class InvalidationEventFilterSet(FilterSet):
    scope = filters.ChoiceFilter(choices=InvalidationEvent.Scope.choices)
    outcome = filters.ChoiceFilter(choices=InvalidationEvent.Outcome.choices)
    reason = filters.CharFilter(help_text='Exact reason, e.g. "rule:drop-stale".')
    reason_contains = filters.CharFilter(field_name="reason", lookup_expr="icontains")
    provider = filters.CharFilter(method="filter_provider", help_text="Events concerning this provider.")
    rule = filters.NumberFilter(field_name="rule_id", help_text="Firings of this rule (id).")
    trigger = filters.CharFilter(help_text="The event a rule fired on, e.g. model_changed.")
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="ISO 8601, inclusive.")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="ISO 8601, exclusive.")

    class Meta:
        model = InvalidationEvent
        fields = []

    def filter_provider(self, queryset, name, value):
        return invalidation_events_filter_provider(queryset, value.strip()) if value.strip() else queryset


StatsSerializer = inline_serializer(
    "CacheStats",
    fields={
        "enabled": serializers.BooleanField(),
        "namespace": serializers.CharField(),
        "l1": serializers.DictField(),
        "l2": serializers.DictField(),
        "evictions": serializers.DictField(child=serializers.FloatField()),
        "breaker": serializers.CharField(),
        "db_loads": serializers.FloatField(),
    },
)


class _JSONView(GenericAPIView):
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]


class CacheStatsView(_JSONView):
    """Hit rate per tier, L1 entries and bytes, L2 keys, entries by provider and tag, breaker state."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="cache_stats", responses={200: StatsSerializer, **schema.AUTH}, tags=["cache"]
    )
    def get(self, request):
        return Response(cache_stats())


class CacheInvalidateView(_JSONView):
    """Invalidate by model keys, providers, tags, or everything; the operation is recorded."""

    permission_classes = [CanInvalidateCache]
    serializer_class = InvalidateSerializer

    @extend_schema(
        operation_id="cache_invalidate",
        request=InvalidateSerializer,
        responses={200: InvalidationEventSerializer, **schema.BAD_REQUEST, **schema.AUTH},
        tags=["cache"],
    )
    def post(self, request):
        serializer = InvalidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event = cache_invalidate(
            models=data.get("models") or (),
            providers=data.get("providers") or (),
            tags=data.get("tags") or (),
            everything=data.get("all", False),
            reason=data.get("reason", ""),
            actor=request.user,
        )
        return Response(InvalidationEventSerializer(event).data, status=status.HTTP_200_OK)


class InvalidationEventListView(_JSONView):
    """Recorded invalidations and rule firings, newest first, with filters."""

    permission_classes = [IsAdminUser]
    serializer_class = InvalidationEventSerializer
    pagination_class = RegistryPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = InvalidationEventFilterSet
    queryset = InvalidationEvent.objects.select_related("actor", "rule")

    @extend_schema(
        operation_id="invalidation_events_list",
        responses={200: InvalidationEventSerializer(many=True), **schema.BAD_REQUEST, **schema.AUTH},
        tags=["cache"],
    )
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(InvalidationEventSerializer(page, many=True).data)


class InvalidationEventStatsView(_JSONView):
    """Counts (24 h, 7 d), average duration, success rate, by reason / provider / outcome / scope."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="invalidation_events_stats",
        responses={200: InvalidationEventStatsSerializer, **schema.AUTH},
        tags=["cache"],
    )
    def get(self, request):
        return Response(InvalidationEventStatsSerializer(invalidation_event_stats()).data)

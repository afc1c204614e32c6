"""Cache endpoints: ``GET cache/stats/``, ``POST cache/invalidate/``, ``GET invalidation-events/``.

Staff only: the figures describe the deployment, and invalidation needs the
``caching.invalidate_cache`` permission.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission, IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from models_registry.api.pagination import RegistryPagination

from .models import InvalidationEvent
from .services import cache_invalidate, cache_stats


class CanInvalidateCache(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff and user.has_perm("caching.invalidate_cache")
        )


class InvalidateSerializer(serializers.Serializer):
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
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
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

    class Meta:
        model = InvalidationEvent
        fields = [
            "id",
            "scope",
            "targets",
            "reason",
            "count",
            "duration_ms",
            "outcome",
            "actor",
            "created_at",
        ]


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

    @extend_schema(operation_id="cache_stats", responses={200: StatsSerializer}, tags=["cache"])
    def get(self, request):
        return Response(cache_stats())


class CacheInvalidateView(_JSONView):
    """Invalidate by model keys, providers, tags, or everything; the operation is recorded."""

    permission_classes = [CanInvalidateCache]
    serializer_class = InvalidateSerializer

    @extend_schema(
        operation_id="cache_invalidate",
        request=InvalidateSerializer,
        responses={200: InvalidationEventSerializer},
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
    """Recorded invalidations, newest first (filter ``scope``, ``outcome``)."""

    permission_classes = [IsAdminUser]
    serializer_class = InvalidationEventSerializer
    pagination_class = RegistryPagination

    def get_queryset(self):
        queryset = InvalidationEvent.objects.select_related("actor")
        for name in ("scope", "outcome"):
            value = self.request.query_params.get(name)
            if value:
                queryset = queryset.filter(**{name: value})
        return queryset

    @extend_schema(operation_id="invalidation_events_list", tags=["cache"])
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(InvalidationEventSerializer(page, many=True).data)

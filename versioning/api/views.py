"""Thin API views of versioning: parse, call one selector or service, shape the response.

Errors are raised (``models_registry.exceptions`` and ``versioning.exceptions``) and mapped to
HTTP by the registry's one exception handler: 400 invalid input or unknown version, 403 missing
permission / self-approval / rollbacks disabled, 404 unknown model, version or request, 409 a
second open request or a request no longer pending, 412 the model moved since the approver's
review.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from models_registry.api import schema
from models_registry.api.pagination import RegistryPagination

from .. import selectors, services
from ..diff import KINDS
from ..impact import LEVELS
from ..masking import can_view_sensitive
from ..models import ModelVersion, RollbackRequest
from .permissions import CanDecideRollbacks, IsAuthenticatedUser
from .serializers import (
    ChangeFeedSerializer,
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    RollbackApproveSerializer,
    RollbackCancelSerializer,
    RollbackRejectSerializer,
    RollbackRequestCreateSerializer,
    RollbackRequestDetailSerializer,
    RollbackRequestSerializer,
    VersionDiffSerializer,
    VersionStatsSerializer,
)

TAGS = ["versions"]
ROLLBACK_TAGS = ["rollbacks"]
NOT_FOUND_VERSION = {404: schema.error_response("No such model or version.")}
NOT_FOUND_REQUEST = {404: schema.error_response("No such rollback request.")}
CONFLICT_REQUEST = {
    409: schema.error_response("The request is not pending (or the model has an open request).")
}
FORBIDDEN_DECISION = {
    403: schema.error_response("Without the approval permission, or deciding one's own request (four eyes).")
}


def _context(request) -> dict:
    return {"can_view_sensitive": can_view_sensitive(request.user)}


def _param(request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _choice(request, name: str, choices) -> str | None:
    value = _param(request, name)
    if value is not None and value not in choices:
        raise ValidationError({name: [f"One of: {', '.join(choices)}."]})
    return value


class VersioningAPIView(GenericAPIView):
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    queryset = ModelVersion.objects.none()  # read-only views: the registry permission needs a queryset


class ModelVersionListView(VersioningAPIView):
    """A model's versions, newest first."""

    pagination_class = RegistryPagination

    @extend_schema(
        operation_id="model_versions_list",
        summary="List a model's versions",
        parameters=[
            OpenApiParameter("impact", OpenApiTypes.STR, enum=list(LEVELS), description="Only this impact."),
            OpenApiParameter("source", OpenApiTypes.STR, description="Only versions from this source."),
        ],
        responses={
            200: ModelVersionSerializer(many=True),
            **schema.BAD_REQUEST,
            **schema.AUTH,
            **schema.NOT_FOUND,
        },
        tags=TAGS,
    )
    def get(self, request, pk: int):
        queryset = selectors.version_list(
            ai_model_id=pk, impact=_choice(request, "impact", LEVELS), source=_param(request, "source")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(
            ModelVersionSerializer(page, many=True, context=_context(request)).data
        )


class ModelVersionDetailView(VersioningAPIView):
    """One version with the model's full state after it."""

    @extend_schema(
        operation_id="model_versions_retrieve",
        summary="Get one version of a model",
        responses={200: ModelVersionDetailSerializer, **schema.AUTH, **NOT_FOUND_VERSION},
        tags=TAGS,
    )
    def get(self, request, pk: int, number: int):
        version = selectors.version_get(ai_model_id=pk, number=number)
        context = {**_context(request), "state": selectors.version_state(version)}
        return Response(ModelVersionDetailSerializer(version, context=context).data)


class ModelVersionDiffView(VersioningAPIView):
    """The changes from another version (or the current state) to this one."""

    @extend_schema(
        operation_id="model_versions_diff",
        summary="Diff a version against another version or the current state",
        description="`against` = a version number (changes from it to this version), `current` (changes "
        "from the model's current state to this version: what a rollback to it would change) or absent "
        "(the previous version: this version's own changes).",
        parameters=[
            OpenApiParameter(
                "against",
                OpenApiTypes.STR,
                description="A version number, or `current`; default: the previous.",
            )
        ],
        responses={200: VersionDiffSerializer, **schema.BAD_REQUEST, **schema.AUTH, **NOT_FOUND_VERSION},
        tags=TAGS,
    )
    def get(self, request, pk: int, number: int):
        diff = selectors.version_diff(ai_model_id=pk, number=number, against=_param(request, "against"))
        return Response(VersionDiffSerializer(diff, context=_context(request)).data)


class ChangeFeedView(VersioningAPIView):
    """Every version of every model, oldest first, from a cursor or a timestamp."""

    @extend_schema(
        operation_id="changes_list",
        summary="What changed since a cursor or a timestamp",
        description="Versions in commit-safe order. Start with `since=<ISO timestamp>` (or nothing: from the "
        "beginning), then pass the returned `cursor` as `since`; a change committed late is never skipped. "
        "`has_more` says whether to ask again at once.",
        parameters=[
            OpenApiParameter(
                "since", OpenApiTypes.STR, description="A cursor from a previous page, or ISO 8601."
            ),
            OpenApiParameter(
                "until", OpenApiTypes.DATETIME, description="Only versions recorded before this."
            ),
            OpenApiParameter("model", OpenApiTypes.STR, description="A model id or key."),
            OpenApiParameter(
                "field", OpenApiTypes.STR, description="Only versions changing this top-level field."
            ),
            OpenApiParameter(
                "kind", OpenApiTypes.STR, enum=list(KINDS), description="Only versions with such a change."
            ),
            OpenApiParameter("impact", OpenApiTypes.STR, enum=list(LEVELS)),
            OpenApiParameter(
                "source", OpenApiTypes.STR, description="admin, api, import, sync, rollback, system…"
            ),
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description="Page size (default and maximum as for lists)."
            ),
        ],
        responses={200: ChangeFeedSerializer, **schema.BAD_REQUEST, **schema.AUTH},
        tags=TAGS,
    )
    def get(self, request):
        limit = RegistryPagination().get_limit(request)
        page = selectors.change_feed(
            since=_param(request, "since"),
            until=_param(request, "until"),
            model=_param(request, "model"),
            field=_param(request, "field"),
            kind=_param(request, "kind"),
            impact=_param(request, "impact"),
            source=_param(request, "source"),
            limit=limit,
        )
        next_url = None
        if page.has_more:
            params = request.query_params.copy()
            params["since"] = page.cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        results = ModelVersionSerializer(page.versions, many=True, context=_context(request)).data
        return Response(
            {"cursor": page.cursor, "has_more": page.has_more, "next": next_url, "results": results}
        )


MAX_STATS_DAYS = 36_500


class VersionStatsView(VersioningAPIView):
    """Version statistics across the catalogue."""

    @extend_schema(
        operation_id="versions_stats",
        summary="Version statistics",
        parameters=[
            OpenApiParameter(
                "days",
                OpenApiTypes.INT,
                description="Window of the field change frequency (default 30; 0 = all).",
            )
        ],
        responses={200: VersionStatsSerializer, **schema.BAD_REQUEST, **schema.AUTH},
        tags=TAGS,
    )
    def get(self, request):
        days = _param(request, "days")
        # ASCII digits only ("²" is a digit to str.isdigit), and a range timedelta can hold
        if days is not None and not (days.isascii() and days.isdigit() and int(days) <= MAX_STATS_DAYS):
            raise ValidationError(
                {"days": [f"A whole number of days (at most {MAX_STATS_DAYS}) is required."]}
            )
        stats = selectors.version_stats(days=30 if days is None else int(days))
        return Response(VersionStatsSerializer(stats, context=_context(request)).data)


# --------------------------------------------------------------------------------------------
# Rollbacks
# --------------------------------------------------------------------------------------------


def _detail(request, rollback_request: RollbackRequest, *, status_code=status.HTTP_200_OK) -> Response:
    rollback_request = selectors.rollback_request_get(pk=rollback_request.pk)
    preview = None
    if (
        rollback_request.is_open
        and rollback_request.target_version.rollback_available
        and services.rollbacks_enabled()
    ):
        preview = selectors.rollback_request_preview(rollback_request)
    context = {**_context(request), "preview": preview}
    return Response(
        RollbackRequestDetailSerializer(rollback_request, context=context).data, status=status_code
    )


class RollbackRequestListCreateView(GenericAPIView):
    """List rollback requests or request one."""

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    queryset = RollbackRequest.objects.all()  # POST needs versioning.add_rollbackrequest
    pagination_class = RegistryPagination

    def get_serializer_class(self):
        return RollbackRequestCreateSerializer if self.request.method == "POST" else RollbackRequestSerializer

    @extend_schema(
        operation_id="rollbacks_list",
        summary="List rollback requests",
        parameters=[
            OpenApiParameter("model", OpenApiTypes.STR, description="A model id or key."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(RollbackRequest.Status.values)),
            OpenApiParameter("requested_by", OpenApiTypes.STR, description="A user id or username."),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
        ],
        responses={200: RollbackRequestSerializer(many=True), **schema.BAD_REQUEST, **schema.AUTH},
        tags=ROLLBACK_TAGS,
    )
    def get(self, request):
        after, before = _param(request, "created_after"), _param(request, "created_before")
        queryset = selectors.rollback_request_list(
            model=_param(request, "model"),
            status=_choice(request, "status", RollbackRequest.Status.values),
            requested_by=_param(request, "requested_by"),
            created_after=selectors.parse_moment(after, "created_after") if after else None,
            created_before=selectors.parse_moment(before, "created_before") if before else None,
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(
            RollbackRequestSerializer(page, many=True, context=_context(request)).data
        )

    @extend_schema(
        operation_id="rollbacks_create",
        summary="Request a rollback",
        description="Pending until someone else with the approval permission approves it (then it is "
        "executed) — or executed at once when approval is switched off. One open request per model.",
        request=RollbackRequestCreateSerializer,
        responses={
            201: RollbackRequestDetailSerializer,
            **schema.BAD_REQUEST,
            **schema.AUTH,
            **schema.NOT_FOUND,
            409: schema.error_response("The model already has an open rollback request."),
        },
        tags=ROLLBACK_TAGS,
    )
    def post(self, request):
        serializer = RollbackRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        created = services.rollback_request_create(
            ai_model=data["model"],
            target_version=data["target_version"],
            reason=data["reason"],
            actor=request.user,
        )
        return _detail(request, created, status_code=status.HTTP_201_CREATED)


class RollbackRequestDetailView(VersioningAPIView):
    """One request; while open, with the preview of what executing it now would change."""

    @extend_schema(
        operation_id="rollbacks_retrieve",
        summary="Get a rollback request",
        responses={200: RollbackRequestDetailSerializer, **schema.AUTH, **NOT_FOUND_REQUEST},
        tags=ROLLBACK_TAGS,
    )
    def get(self, request, pk: int):
        return _detail(request, selectors.rollback_request_get(pk=pk))


class RollbackApproveView(VersioningAPIView):
    permission_classes = [CanDecideRollbacks]

    @extend_schema(
        operation_id="rollbacks_approve",
        summary="Approve a rollback request (and execute it)",
        description="Needs `versioning.approve_rollbackrequest`; the requester cannot approve their own "
        "request. Answers 200 with the request: `completed` (with `result_version`) or `failed` (with "
        "`error`; nothing was changed).",
        request=RollbackApproveSerializer,
        responses={
            200: RollbackRequestDetailSerializer,
            **schema.BAD_REQUEST,
            **FORBIDDEN_DECISION,
            **NOT_FOUND_REQUEST,
            **CONFLICT_REQUEST,
            **schema.PRECONDITION,
        },
        tags=ROLLBACK_TAGS,
    )
    def post(self, request, pk: int):
        serializer = RollbackApproveSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        decided = services.rollback_request_approve(
            rollback_request=pk,
            actor=request.user,
            comment=serializer.validated_data.get("comment", ""),
            expected_revision=serializer.validated_data.get("expected_revision"),
        )
        return _detail(request, decided)


class RollbackRejectView(VersioningAPIView):
    permission_classes = [CanDecideRollbacks]

    @extend_schema(
        operation_id="rollbacks_reject",
        summary="Reject a rollback request",
        request=RollbackRejectSerializer,
        responses={
            200: RollbackRequestDetailSerializer,
            **schema.BAD_REQUEST,
            **FORBIDDEN_DECISION,
            **NOT_FOUND_REQUEST,
            **CONFLICT_REQUEST,
        },
        tags=ROLLBACK_TAGS,
    )
    def post(self, request, pk: int):
        serializer = RollbackRejectSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        decided = services.rollback_request_reject(
            rollback_request=pk, actor=request.user, comment=serializer.validated_data["comment"]
        )
        return _detail(request, decided)


class RollbackCancelView(VersioningAPIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        operation_id="rollbacks_cancel",
        summary="Cancel one's own pending rollback request",
        request=RollbackCancelSerializer,
        responses={
            200: RollbackRequestDetailSerializer,
            **schema.BAD_REQUEST,
            403: schema.error_response("Not the requester."),
            **NOT_FOUND_REQUEST,
            **CONFLICT_REQUEST,
        },
        tags=ROLLBACK_TAGS,
    )
    def post(self, request, pk: int):
        serializer = RollbackCancelSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        cancelled = services.rollback_request_cancel(
            rollback_request=pk, actor=request.user, comment=serializer.validated_data.get("comment", "")
        )
        return _detail(request, cancelled)

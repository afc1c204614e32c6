"""Thin API views of the catalogue sync (mounted under ``/api/v1/sync/``).

Errors go through the registry's one exception handler: 400 invalid input, 403 missing
permission or deciding a change of one's own run (four eyes), 404 unknown source or change,
409 a change that is no longer held.

Permissions: reading runs and changes needs a staff user; running a sync needs a staff user
with ``models_registry.run_catalogsource``; approving or rejecting needs a staff user with
``models_registry.approve_syncchange`` (and the service's four-eyes check). Without the staff
flag every sync URL answers 403 whether the object exists or not (no existence oracle).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ..api import schema
from ..api.pagination import RegistryPagination
from ..exceptions import SyncNotFound
from . import services
from .models import CatalogSource, SyncChange, SyncRun
from .serializers import (
    SyncChangeSerializer,
    SyncDecisionSerializer,
    SyncRejectSerializer,
    SyncRunDetailSerializer,
    SyncRunInputSerializer,
    SyncRunSerializer,
)

TAGS = ["sync"]
FORBIDDEN = {403: schema.error_response("Missing permission, or deciding a change of one's own run.")}
NOT_FOUND = {404: schema.error_response("No such source, run or change.")}
CONFLICT = {409: schema.error_response("The change is not held (already decided or superseded).")}


class IsStaff(BasePermission):
    message = "The sync API is for staff users."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


class CanRunSync(IsStaff):
    message = f"Running a sync needs a staff user with {services.RUN_PERMISSION}."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.has_perm(services.RUN_PERMISSION)


class CanDecideSync(IsStaff):
    """Staff (who may read the change-sets they decide on) with the approval permission."""

    message = f"Approving or rejecting sync changes needs a staff user with {services.APPROVE_PERMISSION}."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.has_perm(services.APPROVE_PERMISSION)


class SyncAPIView(GenericAPIView):
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    permission_classes = [IsStaff]
    queryset = SyncRun.objects.none()


def _get(model, pk: int):
    try:
        return model.objects.get(pk=pk)
    except model.DoesNotExist as exc:
        raise SyncNotFound(f"{model._meta.verbose_name.capitalize()} {pk} does not exist.") from exc


class SyncSourceRunView(SyncAPIView):
    permission_classes = [CanRunSync]
    serializer_class = SyncRunInputSerializer

    @extend_schema(
        operation_id="sync_sources_run",
        summary="Sync a catalogue source now (or dry-run it)",
        description="Runs synchronously and answers with the recorded run and its change-set. A refused "
        "(integrity guard) or failed run is still 200, with `status` and `guard` / `error`.",
        request=SyncRunInputSerializer,
        responses={
            200: SyncRunDetailSerializer,
            **schema.BAD_REQUEST,
            **schema.AUTH,
            **FORBIDDEN,
            **NOT_FOUND,
        },
        tags=TAGS,
    )
    def post(self, request, pk: int):
        serializer = SyncRunInputSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        source = _get(CatalogSource, pk)
        run = services.sync_run(
            source=source, dry_run=serializer.validated_data["dry_run"], actor=request.user
        )
        return Response(
            SyncRunDetailSerializer(run, context={"request": request}).data, status=status.HTTP_200_OK
        )


class SyncRunListView(SyncAPIView):
    pagination_class = RegistryPagination
    serializer_class = SyncRunSerializer

    @extend_schema(
        operation_id="sync_runs_list",
        summary="List sync runs, newest first",
        parameters=[
            OpenApiParameter("source", OpenApiTypes.STR, description="A source id or name."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(SyncRun.Status.values)),
        ],
        responses={200: SyncRunSerializer(many=True), **schema.BAD_REQUEST, **schema.AUTH, **FORBIDDEN},
        tags=TAGS,
    )
    def get(self, request):
        queryset = SyncRun.objects.select_related("source", "actor").order_by("-started_at", "-pk")
        source = request.query_params.get("source")
        if source:
            queryset = queryset.filter(
                **(
                    {"source_id": source}
                    if source.isascii() and source.isdigit()
                    else {"source__name": source}
                )
            )
        run_status = request.query_params.get("status")
        if run_status:
            if run_status not in SyncRun.Status.values:
                raise ValidationError({"status": [f"One of: {', '.join(SyncRun.Status.values)}."]})
            queryset = queryset.filter(status=run_status)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(SyncRunSerializer(page, many=True).data)


class SyncRunDetailView(SyncAPIView):
    @extend_schema(
        operation_id="sync_runs_retrieve",
        summary="Get a sync run with its change-set",
        responses={200: SyncRunDetailSerializer, **schema.AUTH, **FORBIDDEN, **NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request, pk: int):
        return Response(SyncRunDetailSerializer(_get(SyncRun, pk), context={"request": request}).data)


class SyncChangeListView(SyncAPIView):
    pagination_class = RegistryPagination
    serializer_class = SyncChangeSerializer

    @extend_schema(
        operation_id="sync_changes_list",
        summary="List sync changes (e.g. `?state=held`: those waiting for a decision)",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(SyncChange.State.values)),
            OpenApiParameter("run", OpenApiTypes.INT),
            OpenApiParameter("model", OpenApiTypes.STR, description="A model key."),
        ],
        responses={200: SyncChangeSerializer(many=True), **schema.BAD_REQUEST, **schema.AUTH, **FORBIDDEN},
        tags=TAGS,
    )
    def get(self, request):
        queryset = SyncChange.objects.select_related("run__source", "decided_by").order_by(
            "-run_id", "model_key"
        )
        state = request.query_params.get("state")
        if state:
            if state not in SyncChange.State.values:
                raise ValidationError({"state": [f"One of: {', '.join(SyncChange.State.values)}."]})
            queryset = queryset.filter(state=state)
        run = request.query_params.get("run")
        if run:
            if not (run.isascii() and run.isdigit()):
                raise ValidationError({"run": ["A run id."]})
            queryset = queryset.filter(run_id=int(run))
        if request.query_params.get("model"):
            queryset = queryset.filter(model_key=request.query_params["model"])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(
            SyncChangeSerializer(page, many=True, context={"request": request}).data
        )


class SyncChangeApproveView(SyncAPIView):
    permission_classes = [CanDecideSync]
    serializer_class = SyncDecisionSerializer

    @extend_schema(
        operation_id="sync_changes_approve",
        summary="Approve a held change (applied as a new version)",
        request=SyncDecisionSerializer,
        responses={200: SyncChangeSerializer, **schema.BAD_REQUEST, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
        tags=TAGS,
    )
    def post(self, request, pk: int):
        serializer = SyncDecisionSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        change = services.sync_change_approve(
            change=pk, actor=request.user, comment=serializer.validated_data["comment"]
        )
        return Response(SyncChangeSerializer(change, context={"request": request}).data)


class SyncChangeRejectView(SyncAPIView):
    permission_classes = [CanDecideSync]
    serializer_class = SyncRejectSerializer

    @extend_schema(
        operation_id="sync_changes_reject",
        summary="Reject a held change (the model stays as it is)",
        request=SyncRejectSerializer,
        responses={200: SyncChangeSerializer, **schema.BAD_REQUEST, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
        tags=TAGS,
    )
    def post(self, request, pk: int):
        serializer = SyncRejectSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        change = services.sync_change_reject(
            change=pk, actor=request.user, comment=serializer.validated_data["comment"]
        )
        return Response(SyncChangeSerializer(change, context={"request": request}).data)

"""Thin API views: parse the request, call one selector or service, shape the response.

Reads go through ``models_registry.selectors`` (records, so a cache can serve them), writes
through ``models_registry.services`` (actor = the user, reason = ``X-Change-Reason``, source =
``"api"``). Errors are raised, never answered here: ``exception_handler`` maps them.
"""

from __future__ import annotations

from django.urls import reverse
from django_filters import utils as filter_utils
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..exceptions import ModelNotFound
from ..models import AIModel, Provider
from ..records import AIModelRecord, record_from_instance
from . import degraded, schema
from .conditional import if_match_revision, model_etag, not_modified
from .filters import AIModelFilterSet
from .limits import model_key_param
from .pagination import RegistryPagination
from .sensitive import can_view_sensitive, keep_sensitive
from .serializers import (
    AIModelCreateSerializer,
    AIModelSerializer,
    AIModelUpdateSerializer,
    ModelStatsSerializer,
    ProviderSerializer,
    TokenSerializer,
    writable_defaults,
)

API_SOURCE = "api"


def change_reason(request) -> str:
    """The ``X-Change-Reason`` header (UTF-8 sent raw is decoded; WSGI hands it over as Latin-1);
    without one, the request itself (``API PATCH /api/v1/models/42/``), so no history row and no
    version is left without a reason."""
    value = request.headers.get("X-Change-Reason", "")
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return value.strip() or f"API {request.method} {request.path}"


def _model_response(request, record: AIModelRecord, *, status_code: int = status.HTTP_200_OK, headers=None):
    """The model with its ETag; 304 without a body when a GET's If-None-Match matches."""
    etag = model_etag(id=record.id, revision=record.revision)
    headers = {"ETag": etag, **(headers or {})}
    if request.method in ("GET", "HEAD") and not_modified(request, etag):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    serializer = AIModelSerializer(record, context=_output_context(request))
    return Response(serializer.data, status=status_code, headers=headers)


def _read_model(request, *, id: int):  # noqa: A002
    """The model by id; while the database is unreachable, its cached copy (``degraded.py``)."""
    if not degraded.db_down(request):
        try:
            return _model_response(request, selectors.ai_model_get(id=id))
        except degraded.DB_ERRORS:
            degraded.mark_db_down(request)
    return _stale_model_response(request, selectors.ai_model_get_cached(id=id))


def _stale_model_response(request, found):
    """A cached ``(record, fill time)`` served while the database is down, with ``X-Registry-Stale``
    and ``Age``; 503 when it is not cached or older than ``STALE_MAX_AGE``."""
    if found is None:
        raise degraded.unavailable(request)
    record, filled_at = found
    return _model_response(request, record, headers=degraded.stale_headers(filled_at, request))


def _output_context(request) -> dict:
    return {"can_view_sensitive": can_view_sensitive(request.user)}


def _plain(value):
    """A cleaned filter value as JSON-able data (the cache key of a list page is built from it)."""
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# -- ?as_of= (versioning): the model as it was at a past moment, read from its versions --------

AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.DATETIME,
    OpenApiParameter.QUERY,
    description="ISO 8601 date-time (naive = UTC) or date: the model as it was then.",
)


def _record_as_of(id: int, value: str) -> AIModelRecord:  # noqa: A002
    from versioning.selectors import ai_model_record_as_of

    return ai_model_record_as_of(id=id, when=value)


class RegistryAPIView(GenericAPIView):
    # JSON in, JSON out; ``queryset`` on subclasses names the model whose permissions guard writes.

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]


class AIModelListCreateView(RegistryAPIView):
    """List models (filtered, ordered, paginated) or create one."""

    queryset = AIModel.objects.all()
    filter_backends = [DjangoFilterBackend]
    filterset_class = AIModelFilterSet
    pagination_class = RegistryPagination

    def get_queryset(self):
        return selectors.ai_model_list(include_deprecated=True, is_active=None)

    def get_serializer_class(self):  # what OPTIONS describes; the handlers name theirs explicitly
        return AIModelCreateSerializer if self.request.method == "POST" else AIModelSerializer

    @extend_schema(
        operation_id="models_list",
        summary="List models",
        description="Active, non-deprecated models by default; every filter must hold.",
        responses={200: AIModelSerializer(many=True), **schema.BAD_REQUEST, **schema.AUTH},
        tags=["models"],
    )
    def get(self, request):
        # Filters are validated and applied by the FilterSet (a bad value is a 400); the page of
        # keys is cached under the cleaned parameters and the records come from the model cache.
        paginator = self.paginator
        limit, offset = paginator.get_limit(request), paginator.get_offset(request)
        filterset = self.filterset_class(request.query_params, queryset=self.get_queryset(), request=request)
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        queryset = filterset.qs  # lazy: evaluated only when the page is not cached
        params = {name: _plain(value) for name, value in sorted(filterset.form.cleaned_data.items())}
        headers = {}
        if not degraded.db_down(request):
            try:
                count, records = selectors.ai_model_page(
                    params=params, queryset=queryset, offset=offset, limit=limit
                )
            except degraded.DB_ERRORS:
                degraded.mark_db_down(request)
        if degraded.db_down(request):  # the database is unreachable: the cached page, if any
            found = selectors.ai_model_page_cached(params=params, offset=offset, limit=limit)
            if found is None:
                raise degraded.unavailable(request)
            count, records, filled_at = found
            headers = degraded.stale_headers(filled_at, request)
        paginator.count, paginator.limit, paginator.offset, paginator.request = count, limit, offset, request
        serializer = AIModelSerializer(records, many=True, context=_output_context(request))
        response = paginator.get_paginated_response(serializer.data)
        for name, value in headers.items():
            response[name] = value
        return response

    @extend_schema(
        operation_id="models_create",
        summary="Create a model",
        description="`provider` (an existing provider's slug) and `name` are required; every other "
        "writable field is optional. Server-owned and unknown fields are refused (400), not ignored.",
        request=AIModelCreateSerializer,
        parameters=[schema.CHANGE_REASON, schema.ETAG, schema.LOCATION],
        responses={201: AIModelSerializer, **schema.BAD_REQUEST, **schema.AUTH, **schema.CONFLICT},
        tags=["models"],
    )
    def post(self, request):
        serializer = AIModelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "metadata" in data and not can_view_sensitive(request.user):
            data["metadata"] = keep_sensitive(data["metadata"], stored={})
        with degraded.tracked_write(request):
            instance = services.ai_model_create(
                provider=data.pop("provider"),
                name=data.pop("name"),
                data=data,
                actor=request.user,
                reason=change_reason(request),
                source=API_SOURCE,
            )
        location = request.build_absolute_uri(reverse("models_registry_api:model-detail", args=[instance.pk]))
        return _model_response(
            request,
            record_from_instance(instance),
            status_code=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class AIModelDetailView(RegistryAPIView):
    """One model by id: read it (ETag, If-None-Match → 304), replace or change it, or
    deactivate it (If-Match → 412 when stale)."""

    queryset = AIModel.objects.all()
    lookup_url_kwarg = "id"

    def get_serializer_class(self):  # what OPTIONS describes; the handlers name theirs explicitly
        return AIModelUpdateSerializer if self.request.method in ("PUT", "PATCH") else AIModelSerializer

    @extend_schema(
        operation_id="models_retrieve",
        summary="Get a model by id",
        description="Inactive (soft-deleted) models are returned too, with `is_active: false`. "
        "With `as_of`, the model as it was at that moment (from its versions; 404 if it did not exist yet).",
        parameters=[schema.IF_NONE_MATCH, schema.ETAG, AS_OF],
        responses={
            200: AIModelSerializer,
            **schema.NOT_MODIFIED,
            **schema.BAD_REQUEST,
            **schema.AUTH,
            **schema.NOT_FOUND,
        },
        tags=["models"],
    )
    def get(self, request, id: int):  # noqa: A002
        if "as_of" in request.query_params:
            return _model_response(request, _record_as_of(id, request.query_params["as_of"]))
        return _read_model(request, id=id)

    @extend_schema(
        operation_id="models_update",
        summary="Replace a model's writable fields",
        description="Every writable field is set; omitted ones go back to their defaults (so an "
        "omitted `is_active` reactivates the model). `provider` and `name` (the key) cannot change.",
        request=AIModelUpdateSerializer,
        parameters=[schema.IF_MATCH, schema.CHANGE_REASON, schema.ETAG],
        responses={
            200: AIModelSerializer,
            **schema.BAD_REQUEST,
            **schema.AUTH,
            **schema.NOT_FOUND,
            **schema.CONFLICT,
            **schema.PRECONDITION,
        },
        tags=["models"],
    )
    def put(self, request, id: int):  # noqa: A002
        return self._update(request, id, partial=False)

    @extend_schema(
        operation_id="models_partial_update",
        summary="Change some of a model's fields",
        description="Only the given fields change; a request that changes nothing creates no revision.",
        request=AIModelUpdateSerializer(partial=True),
        parameters=[schema.IF_MATCH, schema.CHANGE_REASON, schema.ETAG],
        responses={
            200: AIModelSerializer,
            **schema.BAD_REQUEST,
            **schema.AUTH,
            **schema.NOT_FOUND,
            **schema.CONFLICT,
            **schema.PRECONDITION,
        },
        tags=["models"],
    )
    def patch(self, request, id: int):  # noqa: A002
        return self._update(request, id, partial=True)

    @extend_schema(
        operation_id="models_destroy",
        summary="Deactivate a model (soft delete)",
        description="The model stays, with its history, but `is_active` becomes false.",
        parameters=[schema.IF_MATCH, schema.CHANGE_REASON],
        responses={
            204: OpenApiResponse(description="Deactivated."),
            **schema.AUTH,
            **schema.NOT_FOUND,
            **schema.PRECONDITION,
        },
        tags=["models"],
    )
    def delete(self, request, id: int):  # noqa: A002
        expected_revision = self._expected_revision(request, id)
        with degraded.tracked_write(request):
            services.ai_model_deactivate(
                ai_model=id,
                actor=request.user,
                reason=change_reason(request),
                source=API_SOURCE,
                expected_revision=expected_revision,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _expected_revision(self, request, id: int) -> int | None:  # noqa: A002
        return if_match_revision(
            request, model_id=id, current_revision=lambda: selectors.ai_model_get(id=id).revision
        )

    def _update(self, request, id: int, *, partial: bool):  # noqa: A002
        expected_revision = self._expected_revision(request, id)
        serializer = AIModelUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data if partial else {**writable_defaults(), **serializer.validated_data}
        if "metadata" in data and not can_view_sensitive(request.user):
            # keep the secrets this user cannot see, as they were when read (sensitive.py)
            current = selectors.ai_model_get(id=id)
            data = {**data, "metadata": keep_sensitive(data["metadata"], stored=current.metadata)}
            if expected_revision is None:
                expected_revision = current.revision
        with degraded.tracked_write(request):
            instance = services.ai_model_update(
                ai_model=id,
                data=data,
                actor=request.user,
                reason=change_reason(request),
                source=API_SOURCE,
                expected_revision=expected_revision,
            )
        return _model_response(request, record_from_instance(instance))


class AIModelByKeyView(RegistryAPIView):
    """One model by key (``{provider}/{name}``, slashes included) or by alias."""

    queryset = AIModel.objects.all()

    @extend_schema(
        operation_id="models_by_key",
        summary="Get a model by key or alias",
        description="`key` is `{provider}/{name}` and may contain `/ : @ . *` "
        "(e.g. `bedrock/*/1-month-commitment/cohere.command-text-v14`); aliases resolve to their model.",
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH, description="Key or alias."),
            schema.IF_NONE_MATCH,
            schema.ETAG,
        ],
        responses={200: AIModelSerializer, **schema.NOT_MODIFIED, **schema.AUTH, **schema.NOT_FOUND},
        tags=["models"],
    )
    def get(self, request, key: str):
        key = model_key_param(key)  # 400 for a key no model can have (long, control characters)
        if not degraded.db_down(request):
            try:
                try:
                    record = selectors.ai_model_get(key=key)
                except ModelNotFound:
                    if not (key.endswith("/") and key.rstrip("/")):
                        raise
                    record = selectors.ai_model_get(key=key.rstrip("/"))  # tolerate a trailing slash
                return _model_response(request, record)
            except degraded.DB_ERRORS:
                degraded.mark_db_down(request)
        if key.endswith("/") and key.rstrip("/") and selectors.ai_model_get_cached(key=key) is None:
            key = key.rstrip("/")
        return _stale_model_response(request, selectors.ai_model_get_cached(key=key))


class ModelStatsView(APIView):
    """Totals, counts by provider, mode and capability, and models added in the last 7 days."""

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="models_stats",
        summary="Catalogue figures",
        responses={200: ModelStatsSerializer, **schema.AUTH},
        tags=["models"],
    )
    def get(self, request):
        return Response(ModelStatsSerializer(selectors.ai_model_stats()).data)


class ProviderListView(RegistryAPIView):
    """Providers with their model counts (read-only)."""

    queryset = Provider.objects.all()
    pagination_class = RegistryPagination

    def get_queryset(self):
        return selectors.provider_list()

    @extend_schema(
        operation_id="providers_list",
        summary="List providers with model counts",
        responses={200: ProviderSerializer(many=True), **schema.BAD_REQUEST, **schema.AUTH},
        tags=["providers"],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProviderSerializer(page, many=True).data)


class ProviderDetailView(RegistryAPIView):
    """One provider by slug or id, with its model counts (read-only)."""

    queryset = Provider.objects.all()

    @extend_schema(
        operation_id="providers_retrieve",
        summary="Get a provider by slug or id",
        parameters=[
            OpenApiParameter("ref", OpenApiTypes.STR, OpenApiParameter.PATH, description="Slug or id.")
        ],
        responses={
            200: ProviderSerializer,
            **schema.AUTH,
            404: schema.error_response("No such provider."),
        },
        tags=["providers"],
    )
    def get(self, request, ref: str):
        provider = selectors.provider_get(ref=ref)
        if provider is None:
            raise NotFound(f"Provider {ref!r} does not exist.")
        return Response(ProviderSerializer(provider).data)


class AuthTokenView(ObtainAuthToken):
    """``username`` + ``password`` → the user's API token (created on first request)."""

    authentication_classes = []  # credentials are in the body; no CSRF trap for logged-in browsers
    throttle_classes = APIView.throttle_classes  # ObtainAuthToken has none: password guessing is limited

    @extend_schema(
        operation_id="auth_token_create",
        summary="Obtain an API token",
        request=AuthTokenSerializer,
        responses={200: TokenSerializer, **schema.BAD_REQUEST},
        auth=[],
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

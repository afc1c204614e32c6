"""Request-size limits of the API, and the check of model keys that arrive in URLs.

``RequestBodyLimitMiddleware`` refuses a body over ``MODEL_REGISTRY["MAX_REQUEST_BODY_BYTES"]``
sent to any DRF view, before the view (or a parser) reads it:

- with ``Content-Length``: by the header, nothing read (413; a malformed header is a 400);
- without it (``Transfer-Encoding: chunked``): under a WSGI server that ends ``wsgi.input`` at
  the end of the body (``wsgi.input_terminated``: gunicorn) and under ASGI, at most limit + 1
  bytes are read; over the limit is a 413, otherwise the body is handed on with its length, so
  chunked requests work. A WSGI server that cannot say where such a body ends gets a 411.

DRF's parsers read the raw stream, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (which the base
settings set to the same figure, for forms) does not limit JSON bodies: this middleware does.
Other views (admin, health) are left to Django's own limits.

Responses use the API's error shape: ``{"detail": "...", "code": "...", "max_bytes": N}``.
"""

from __future__ import annotations

import io

from django.core.handlers.wsgi import LimitedStream
from django.http import JsonResponse
from rest_framework.views import APIView

from caching.keys import InvalidCacheKey, validate_model_key

from ..conf import registry_settings
from ..exceptions import RegistryValidationError


def _error(status: int, code: str, detail: str, **extra) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, **extra}, status=status)


def _too_large(limit: int) -> JsonResponse:
    return _error(
        413,
        "request_too_large",
        f"The request body is larger than the limit of {limit} bytes.",
        max_bytes=limit,
    )


def _is_api_view(view_func) -> bool:
    cls = getattr(view_func, "cls", None)
    return isinstance(cls, type) and issubclass(cls, APIView)


class RequestBodyLimitMiddleware:
    """413 for API request bodies over ``MAX_REQUEST_BODY_BYTES`` (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not _is_api_view(view_func):
            return None
        limit = int(registry_settings.MAX_REQUEST_BODY_BYTES)
        raw_length = request.META.get("CONTENT_LENGTH", "")
        if raw_length not in ("", None):
            try:
                length = int(raw_length)
            except ValueError:
                length = -1
            if length < 0:
                return _error(
                    400, "invalid_content_length", "The Content-Length header is not a valid length."
                )
            return _too_large(limit) if length > limit else None
        is_wsgi = "wsgi.input" in request.META
        if is_wsgi and "HTTP_TRANSFER_ENCODING" not in request.META:
            return None  # no body (Django reads nothing without a length)
        if is_wsgi and not request.META.get("wsgi.input_terminated"):
            return _error(
                411,
                "length_required",
                "Send the request body with a Content-Length header (this server does not read "
                "bodies of unknown length).",
            )
        source = request.META["wsgi.input"] if is_wsgi else request._stream
        body = source.read(limit + 1)
        if len(body) > limit:
            return _too_large(limit)
        # Hand the (bounded) body on as if it had come with its length, for Django and DRF alike.
        request._stream = LimitedStream(io.BytesIO(body), len(body))
        request.META["CONTENT_LENGTH"] = str(len(body))
        return None


def model_key_param(key: str) -> str:
    """A model key taken from a URL, checked before any lookup: 400 (never a cache or database
    call) for an empty, over-long or control-character key (``caching.keys.validate_model_key``)."""
    try:
        return validate_model_key(key)
    except InvalidCacheKey as exc:
        raise RegistryValidationError(f"Invalid model key: {exc}", field_errors={"key": [str(exc)]}) from exc

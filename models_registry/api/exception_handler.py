"""The one DRF exception handler: every error becomes JSON with a clear message.

- ``ApplicationError`` subclasses → their ``status_code``; validation errors carry
  ``{"errors": {field: [messages]}}``.
- Django ``ValidationError`` → 400 with field errors; ``Http404``/``PermissionDenied`` as DRF does.
- Database unreachable (``OperationalError`` / ``InterfaceError``) → 503 with ``Retry-After``
  and a message saying the change was not saved (``degraded.py``); never a 500.
- Anything else is left to DRF (and, for unexpected exceptions, logged and answered 500).

Response body: ``{"detail": "...", "code": "...", "errors": {...}}`` (``errors`` only for 400s).
"""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ..exceptions import ApplicationError, RegistryValidationError
from ..services.errors import as_registry_error
from .degraded import DB_ERRORS, DatabaseUnavailable, mark_db_down, retry_after, unavailable

logger = logging.getLogger("models_registry.api")


def _validation_body(detail) -> dict:
    if isinstance(detail, dict):
        errors = {
            ("non_field_errors" if k in ("__all__",) else k): v if isinstance(v, list | dict) else [v]
            for k, v in detail.items()
        }
    else:
        errors = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
    first_field = next(iter(errors), "non_field_errors")
    return {
        "detail": f"Invalid input ({', '.join(errors) or first_field}).",
        "code": "invalid",
        "errors": errors,
    }


def registry_exception_handler(exc, context):
    if isinstance(exc, DB_ERRORS):
        request = context.get("request")
        logger.warning("database unavailable: %s: %s", type(exc).__name__, (str(exc).splitlines() or [""])[0])
        mark_db_down(request)
        exc = unavailable(request)
    if isinstance(exc, DjangoValidationError):
        exc = as_registry_error(exc)
    if isinstance(exc, RegistryValidationError):
        body = {"detail": exc.message, "code": exc.default_code, "errors": exc.field_errors}
        return Response(body, status=exc.status_code)
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "code": exc.default_code, **exc.extra}
        headers = {"Retry-After": retry_after()} if isinstance(exc, DatabaseUnavailable) else None
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        return Response(_validation_body(exc.detail), status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(getattr(exc, "detail", None), "code", None) or getattr(exc, "default_code", "error")
        response.data["code"] = code
    return response

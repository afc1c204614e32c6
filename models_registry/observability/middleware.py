"""Request middleware: request id, log context, latency and query metrics, one log line per write.

Put it first in ``MIDDLEWARE`` (it times and labels everything after it)::

    "models_registry.observability.middleware.RequestObservabilityMiddleware",

For every request:

- request id: the incoming ``X-Request-ID`` when it is a sane token (at most 64 characters of
  ``[A-Za-z0-9._-]``), else a new one; returned in the ``X-Request-ID`` response header and set,
  with the user once authentication has run, in the log context (``context.py``) so every log
  record made while serving the request carries them;
- ``model_registry_http_request_duration_seconds{route, method, status}`` and
  ``model_registry_http_request_db_queries{route, method}`` (queries counted with
  ``connection.execute_wrapper``), ``route`` being the URL pattern, never the raw path;
- a log line on ``models_registry.requests`` (operation ``http.request``: method, route, path
  without the query string, status, duration_ms, db_queries, user, request_id): INFO for writes
  (POST, PUT, PATCH, DELETE), ERROR with the exception for 5xx, DEBUG for reads (a gateway
  makes thousands per second). Bodies, query strings and headers are never logged.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time

from django.db import connections

from . import context, metrics

logger = logging.getLogger("models_registry.requests")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KNOWN_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", *WRITE_METHODS})
UNMATCHED = "unmatched"


def route_of(request) -> str:
    """The URL pattern that served ``request`` (bounded label), or ``unmatched``."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    route = getattr(match, "route", None) or match.view_name or UNMATCHED
    return str(route)[:200]


class _QueryCounter:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, ctx):
        self.count += 1
        return execute(sql, params, many, ctx)


_children: dict[tuple[str, str, str], tuple] = {}


def _series(route: str, method: str, status: str) -> tuple:
    """The labelled histogram children of one (route, method, status), made once per process
    (``labels()`` costs more than the observation itself)."""
    key = (route, method, status)
    series = _children.get(key)
    if series is None:
        series = (
            metrics.HTTP_DURATION.labels(route=route, method=method, status=status),
            metrics.HTTP_DB_QUERIES.labels(route=route, method=method),
        )
        _children[key] = series
    return series


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = context.request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        ctx = context.RequestContext(request_id=request_id, request=request)
        token = context.activate(ctx)
        counter = _QueryCounter()
        started = time.perf_counter()
        response = None
        try:
            aliases = connections.settings
            if len(aliases) == 1:
                with connections[next(iter(aliases))].execute_wrapper(counter):
                    response = self.get_response(request)
            else:
                with contextlib.ExitStack() as stack:
                    for connection in connections.all():
                        stack.enter_context(connection.execute_wrapper(counter))
                    response = self.get_response(request)
            return response
        finally:
            duration = time.perf_counter() - started
            try:
                self._record(request, response, duration, counter.count, request_id)
            finally:
                context.deactivate(token)

    def process_exception(self, request, exception):
        request._observability_exc_info = sys.exc_info()
        return None

    def _record(self, request, response, duration: float, queries: int, request_id: str) -> None:
        status = response.status_code if response is not None else 500
        if response is not None:
            response[context.REQUEST_ID_HEADER] = request_id
        method = request.method if request.method in KNOWN_METHODS else "other"
        route = route_of(request)
        try:
            duration_series, queries_series = _series(route, method, f"{status // 100}xx")
            duration_series.observe(duration)
            queries_series.observe(queries)
            if queries:
                metrics.DB_QUERIES.inc(queries)
        except Exception:  # noqa: BLE001 - metrics must never fail a request
            logger.exception("could not record request metrics")
        if status >= 500:
            level = logging.ERROR
        elif method in WRITE_METHODS:
            level = logging.INFO
        else:
            level = logging.DEBUG
        if not logger.isEnabledFor(level):
            return
        duration_ms = round(duration * 1000, 2)
        exc_info = getattr(request, "_observability_exc_info", None) if status >= 500 else None
        logger.log(
            level,
            "%s %s %s %.1f ms",
            request.method,
            route,
            status,
            duration_ms,
            exc_info=exc_info,
            extra={
                "operation": "http.request",
                "method": request.method[:16],
                "route": route,
                "path": request.path[:500],
                "status": status,
                "duration_ms": duration_ms,
                "db_queries": queries,
                "user": context.user_label(request),
            },
        )

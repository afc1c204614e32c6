"""Plain Django views (no DRF: no authentication, throttling or content negotiation on the way)
for ``health/live/``, ``health/`` and ``metrics``.

- ``health_live``: 200 ``{"status": "ok"}``; no I/O.
- ``health_ready``: 200 when the database answers, 503 when not (``health.readiness``).
- ``metrics_view``: Prometheus text format (``metrics.exposition``), for callers that
  ``metrics_allowed`` lets in, else 403.

Access to ``/metrics`` (``MODEL_REGISTRY`` settings):

- ``METRICS_TOKEN`` (default ``None``): when set, ``Authorization: Bearer <token>`` is accepted
  from anywhere (compared in constant time);
- ``METRICS_ALLOWED_IPS`` (default: loopback and private networks — ``127.0.0.0/8``, ``::1``,
  ``10.0.0.0/8``, ``172.16.0.0/12``, ``192.168.0.0/16``, ``fc00::/7``): networks whose
  *direct* requests are allowed. A request carrying ``X-Forwarded-For`` or ``Forwarded`` came
  through a proxy, and ``REMOTE_ADDR`` is then the proxy's address, which says nothing about the
  client: such requests need the token. ``None`` or an empty list: no address is allowed by
  network (token only); ``["0.0.0.0/0", "::/0"]``: open.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from ..conf import registry_settings
from . import health, metrics


def _register_metrics() -> None:
    """Import the modules that define metrics, so a fresh process exposes them all."""
    from caching import metrics as _cache_metrics  # noqa: F401

    from .. import alerts as _alerts  # noqa: F401
    from ..jobs import runner as _runner  # noqa: F401


@csrf_exempt
@never_cache
@require_GET
def health_live(request: HttpRequest) -> JsonResponse:
    return JsonResponse(health.liveness())


@csrf_exempt
@never_cache
@require_GET
def health_ready(request: HttpRequest) -> JsonResponse:
    ready, body = health.readiness()
    return JsonResponse(body, status=200 if ready else 503)


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(net, strict=False) for net in spec)


def metrics_allowed(request: HttpRequest) -> bool:
    token = registry_settings.METRICS_TOKEN
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), str(token).encode()):
            return True
    allowed = registry_settings.METRICS_ALLOWED_IPS
    if not allowed:
        return False
    if request.META.get("HTTP_X_FORWARDED_FOR") or request.META.get("HTTP_FORWARDED"):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(allowed)))


@csrf_exempt
@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    _register_metrics()
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)

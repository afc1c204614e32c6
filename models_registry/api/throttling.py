"""API rate limits: DRF throttles whose counters live in their own cache alias.

Scopes (rates in ``MODEL_REGISTRY["THROTTLE_RATES"]``, e.g. ``"120/min"``; ``None``: unlimited):

- ``anon``       anonymous requests, per client IP (``REMOTE_ADDR``; behind proxies set DRF's
                 ``NUM_PROXIES`` so the address is taken from ``X-Forwarded-For``);
- ``user``       authenticated requests, per user id;
- ``sensitive``  the token endpoint (password guessing) and the approval endpoints
                 (``THROTTLE_SENSITIVE_VIEWS``, chosen here from the URL name, so views need no
                 attribute), per user id or IP, counted on top of ``anon``/``user``.

Counting: a sliding-window counter (the current fixed window's count plus the previous window's,
weighted by how much of it still overlaps the last ``period``): one atomic INCR and one GET per
request and scope, constant memory per client, no lost updates between processes (DRF's own
``SimpleRateThrottle`` keeps a list of timestamps per client, rewritten on every request).
Refused requests are not counted. A refusal is DRF's 429 with ``Retry-After``.

When the store (``CACHES[THROTTLE_CACHE_ALIAS]``, Redis) cannot be reached:

- ``anon``/``user`` fail open: the request goes through (the cache is an accelerator, never a
  dependency);
- ``sensitive`` fails closed: 503 ``{"code": "throttle_unavailable"}`` with ``Retry-After``, as
  an unlimited password-guessing or approval endpoint is worse than a short outage of it.

Either way the error is counted in ``model_registry_throttle_errors_total`` and logged at most
once per ``THROTTLE_LOG_INTERVAL``; for ``THROTTLE_RETRY_AFTER`` seconds after an error this
process does not try the store again, so an outage costs at most one socket timeout of the alias
per process and interval, not one per request.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time

from django.conf import settings
from django.core.cache import caches
from prometheus_client import Counter
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.throttling import SimpleRateThrottle

from ..conf import DEFAULTS, registry_settings

logger = logging.getLogger("models_registry.throttling")

THROTTLE_ERRORS = Counter(
    "model_registry_throttle_errors_total",
    "Requests whose rate limit could not be checked (throttle store unavailable), by scope and outcome "
    "(allowed: failed open; refused: failed closed with a 503).",
    ["scope", "outcome"],
)

try:  # the errors a Redis-backed alias raises (django-redis wraps some, redis-py raises the rest)
    from django_redis.exceptions import ConnectionInterrupted
    from redis.exceptions import RedisError

    STORE_ERRORS: tuple[type[BaseException], ...] = (ConnectionInterrupted, RedisError, OSError)
except ImportError:  # pragma: no cover - django-redis is a dependency; kept for host projects
    STORE_ERRORS = (OSError,)


class ThrottleUnavailable(APIException):
    """A sensitive endpoint refused because its rate limit cannot be checked (503, fail closed)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "throttle_unavailable"
    default_detail = (
        "This endpoint is rate limited and the rate limit store is unreachable, so it is refused "
        "for now. Retry later."
    )

    def __init__(self, wait: float):
        super().__init__()
        self.wait = max(1, math.ceil(wait))


class _StoreHealth:
    """This process's view of the throttle store: when it failed last, when that was logged."""

    def __init__(self, timer=time.monotonic):
        self._timer = timer
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._logged_at: float | None = None

    def down_for(self) -> float:
        """Seconds the store is still left alone (0: try it)."""
        with self._lock:
            if self._failed_at is None:
                return 0.0
            left = registry_settings.THROTTLE_RETRY_AFTER - (self._timer() - self._failed_at)
            if left <= 0:
                self._failed_at = None
                return 0.0
            return left

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            now = self._timer()
            self._failed_at = now
            log = self._logged_at is None or now - self._logged_at >= registry_settings.THROTTLE_LOG_INTERVAL
            if log:
                self._logged_at = now
        if log:
            logger.warning(
                "Throttle store unavailable (%s: %s): rate limits fail open, token and approval "
                "endpoints answer 503 for %ss",
                type(exc).__name__,
                exc,
                registry_settings.THROTTLE_RETRY_AFTER,
            )

    def reset(self) -> None:
        with self._lock:
            self._failed_at = self._logged_at = None


store_health = _StoreHealth()


def throttle_cache():
    alias = registry_settings.THROTTLE_CACHE_ALIAS
    return caches[alias if alias in settings.CACHES else "default"]


def retry_after(*, previous: int, current: int, limit: int, period: int, elapsed: float) -> float:
    """Seconds until one more request fits: ``previous``/``current`` are the counts of the previous
    and current windows (without the refused request), ``elapsed`` the time into the current one."""
    if current + 1 <= limit:  # the previous window's weight has to decay enough
        weight_needed = (limit - current - 1) / previous if previous else 1.0
        return max(period * (1 - weight_needed) - elapsed, 0.0)
    # the current window alone is full: wait for it to become the (decaying) previous one
    fits_at = period * (1 - (limit - 1) / current) if current else 0.0
    return period - elapsed + fits_at


class RegistryRateThrottle(SimpleRateThrottle):
    """Base of the three scopes: rate from ``MODEL_REGISTRY``, sliding-window counter, outage policy."""

    scope = "user"
    fail_closed = False
    cache_format = "throttle:%(scope)s:%(ident)s"

    def __init__(self):  # the rate is read per request, so settings overrides apply at once
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.wait_seconds: float | None = None

    def get_rate(self) -> str | None:
        # A scope the configured dict leaves out keeps its default; ``None`` there means unlimited.
        rates = {**DEFAULTS["THROTTLE_RATES"], **(registry_settings.THROTTLE_RATES or {})}
        return rates.get(self.scope)

    def parse_rate(self, rate):
        if rate is None:
            return (None, None)
        num, period = str(rate).split("/")
        return int(num), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[0]]

    def ident_key(self, ident) -> str:
        # Hashed: what a client sends (an address from X-Forwarded-For) never becomes a raw cache key.
        digest = hashlib.blake2b(str(ident).encode("utf-8", "replace"), digest_size=12).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}

    def allow_request(self, request, view) -> bool:
        if not registry_settings.THROTTLE_ENABLED or self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        down_for = store_health.down_for()
        if down_for:
            return self._unavailable(down_for)
        try:
            return self._count(key)
        except STORE_ERRORS as exc:
            store_health.failed(exc)
            return self._unavailable(registry_settings.THROTTLE_RETRY_AFTER)

    def _count(self, key: str) -> bool:
        cache = throttle_cache()
        now = self.timer()
        window = int(now // self.duration)
        elapsed = now - window * self.duration
        current_key, previous_key = f"{key}:{window}", f"{key}:{window - 1}"
        try:
            current = cache.incr(current_key)
        except ValueError:  # first request of the window (the counter outlives the next one)
            cache.add(current_key, 0, timeout=2 * self.duration + 1)
            current = cache.incr(current_key)
        previous = int(cache.get(previous_key) or 0)
        estimate = previous * (1 - elapsed / self.duration) + current
        if estimate <= self.num_requests:
            return True
        try:
            cache.decr(current_key)  # a refused request does not use up the allowance
            current -= 1
        except (ValueError, *STORE_ERRORS):
            pass
        self.wait_seconds = retry_after(
            previous=previous,
            current=current,
            limit=self.num_requests,
            period=self.duration,
            elapsed=elapsed,
        )
        return False

    def _unavailable(self, wait: float) -> bool:
        if self.fail_closed:
            THROTTLE_ERRORS.labels(scope=self.scope, outcome="refused").inc()
            raise ThrottleUnavailable(wait)
        THROTTLE_ERRORS.labels(scope=self.scope, outcome="allowed").inc()
        return True

    def wait(self) -> float | None:
        return None if self.wait_seconds is None else max(1, math.ceil(self.wait_seconds))


class AnonThrottle(RegistryRateThrottle):
    """Anonymous requests, per client IP."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.ident_key(self.get_ident(request))


class UserThrottle(RegistryRateThrottle):
    """Authenticated requests, per user id."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return self.ident_key(f"user:{request.user.pk}")


def is_sensitive(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name in registry_settings.THROTTLE_SENSITIVE_VIEWS


class SensitiveThrottle(RegistryRateThrottle):
    """Token and approval endpoints (``THROTTLE_SENSITIVE_VIEWS``), per user id or IP; fails closed."""

    scope = "sensitive"
    fail_closed = True

    def get_cache_key(self, request, view):
        if not is_sensitive(request):
            return None
        if request.user and request.user.is_authenticated:
            return self.ident_key(f"user:{request.user.pk}")
        return self.ident_key(f"ip:{self.get_ident(request)}")

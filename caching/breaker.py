"""Circuit breaker for Redis calls.

Closed: calls go through; ``BREAKER_FAILURES`` consecutive failures open it. Open: calls are
refused at once (no timeout paid) for ``BREAKER_COOLDOWN`` seconds, then one trial call is let
through (half-open); its success closes the breaker, its failure re-opens it. A dead Redis
therefore costs each process a few timeouts per cool-down, not one per request.

While open, one warning per ``BREAKER_LOG_INTERVAL`` is logged and, for the model cache's
breaker (``gauge=True``, the default), the ``model_registry_cache_breaker_open`` gauge is 1.
Other users of Redis (the remembered token checks) pass their own ``name`` and
``fallback`` for the log lines and ``gauge=False``: their state is not the model cache's.
``on_recover`` callbacks run when the breaker closes after having been open (the cache bumps its
namespace generation there, so nothing written before or during the outage is served afterwards).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from models_registry.conf import registry_settings

from . import metrics

logger = logging.getLogger("caching.breaker")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitOpen(Exception):
    """Raised instead of calling Redis while the breaker is open."""


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int | None = None,
        cooldown: float | None = None,
        timer=time.monotonic,
        name: str = "cache",
        fallback: str = "reading from the database",
        gauge: bool = True,
    ):
        self._failures_to_open = failures
        self.name = name
        self._fallback = fallback
        self._gauge = gauge
        self._cooldown = cooldown
        self._timer = timer
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._last_log = -1e18
        self.was_open = False
        self.on_recover: list[Callable[[], None]] = []

    @property
    def failures_to_open(self) -> int:
        return self._failures_to_open or registry_settings.BREAKER_FAILURES

    @property
    def cooldown(self) -> float:
        return self._cooldown if self._cooldown is not None else registry_settings.BREAKER_COOLDOWN

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and self._timer() - self._opened_at >= self.cooldown:
                return HALF_OPEN
            return self._state

    def before_call(self) -> bool:
        """Raise ``CircuitOpen`` if the call must not be made now; True if it is the half-open trial."""
        with self._lock:
            if self._state == CLOSED:
                return False
            if self._timer() - self._opened_at < self.cooldown or self._trial_in_flight:
                raise CircuitOpen("Redis circuit breaker is open")
            self._trial_in_flight = True  # half-open: this call is the trial
            return True

    def success(self) -> None:
        recovered = False
        with self._lock:
            self._consecutive = 0
            self._trial_in_flight = False
            if self._state != CLOSED:
                self._state = CLOSED
                recovered = True
                self._set_gauge(0)
        if recovered:
            logger.warning("Redis is reachable again: %s circuit breaker closed", self.name)
            for callback in list(self.on_recover):
                try:
                    callback()
                except Exception:  # noqa: BLE001 - a failing recovery hook must not break reads
                    logger.exception("cache recovery hook failed")

    def failure(self, exc: BaseException, operation: str) -> None:
        metrics.ERRORS.labels(operation=operation).inc()
        with self._lock:
            self._consecutive += 1
            self._trial_in_flight = False
            if self._state == CLOSED and self._consecutive < self.failures_to_open:
                return
            opened = self._state == CLOSED
            self._state = OPEN
            self.was_open = True
            self._opened_at = self._timer()
            self._set_gauge(1)
            now = self._timer()
            log = opened or now - self._last_log >= registry_settings.BREAKER_LOG_INTERVAL
            if log:
                self._last_log = now
        if log:
            logger.warning(
                "Redis unavailable (%s: %s): %s circuit breaker open, %s",
                type(exc).__name__,
                exc,
                self.name,
                self._fallback,
            )

    def reset(self) -> None:
        with self._lock:
            self._state = CLOSED
            self._consecutive = 0
            self._trial_in_flight = False
            self._set_gauge(0)

    def _set_gauge(self, value: int) -> None:
        if self._gauge:
            metrics.BREAKER_OPEN.set(value)

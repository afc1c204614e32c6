"""Health checks: liveness (no I/O) and readiness (the database; Redis and Celery reported only).

``readiness()`` → ``(ready, body)``. ``ready`` is the database alone: ``SELECT 1`` under a
short ``statement_timeout`` (PostgreSQL; ``HEALTH_DB_TIMEOUT`` seconds). The cache is an
accelerator, never a dependency, so a Redis outage must not take the service out of a load
balancer: ``redis`` is reported (``up`` / ``down`` / ``disabled``, with the circuit breaker's
state) through the model cache's own connection and its short socket timeouts. ``celery`` is
reported too: ``eager`` (no broker), or ``up`` / ``down`` for the broker (one connection with a
``HEALTH_BROKER_TIMEOUT`` timeout, the answer kept ``HEALTH_BROKER_CACHE_SECONDS`` in the
process so that frequent probes do not open a broker connection each), and the last
maintenance task run recorded in ``TaskRun`` (name, outcome, started_at) — a sign that beat and
a worker are alive; reported, never failing.

Body::

    {"status": "ok" | "unavailable", "version": "0.1.0",
     "checks": {"database": {"status": "up", "duration_ms": 0.4},
                "redis": {"status": "down", "breaker": "open", "duration_ms": 250.3, "error": "..."},
                "celery": {"status": "eager" | "up" | "down", "duration_ms": ..., "last_task_run": {...}}},
     "duration_ms": 1.2}

Errors are reported by exception class and message; connection strings are never included.
"""

from __future__ import annotations

import threading
import time
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from ..conf import registry_settings


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _error(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


@cache
def app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("django-model-registry")
    except PackageNotFoundError:
        return "unknown"


def check_database(alias: str = "default") -> dict[str, Any]:
    started = time.perf_counter()
    connection = connections[alias]
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                timeout_ms = max(1, int(float(registry_settings.HEALTH_DB_TIMEOUT) * 1000))
                cursor.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return {"status": "down", "duration_ms": _ms(started), "error": _error(exc)}
    return {"status": "up", "duration_ms": _ms(started)}


def check_redis() -> dict[str, Any]:
    from caching.remote import redis_client
    from caching.service import model_cache

    started = time.perf_counter()
    try:
        cache = model_cache()
        client = cache.remote.client if cache.remote is not None else redis_client()
        breaker = cache.breaker.state
    except Exception as exc:  # noqa: BLE001 - misconfiguration is reported, not raised
        return {"status": "down", "duration_ms": _ms(started), "error": _error(exc)}
    if client is None:
        return {"status": "disabled", "duration_ms": _ms(started)}
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return {"status": "down", "breaker": breaker, "duration_ms": _ms(started), "error": _error(exc)}
    return {"status": "up", "breaker": breaker, "duration_ms": _ms(started)}


_broker_lock = threading.Lock()
_broker_answer: tuple[float, str, dict[str, Any]] | None = None  # (checked at, broker url, answer)


def _check_broker(url: str) -> dict[str, Any]:
    from kombu import Connection

    started = time.perf_counter()
    timeout = float(registry_settings.HEALTH_BROKER_TIMEOUT)
    try:
        with Connection(url, connect_timeout=timeout, transport_options={"socket_timeout": timeout}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return {"status": "down", "duration_ms": _ms(started), "error": _error(exc)}
    return {"status": "up", "duration_ms": _ms(started)}


def _last_task_run() -> dict[str, Any] | None:
    from ..jobs.models import TaskRun

    row = TaskRun.objects.order_by("-started_at").values("name", "outcome", "started_at").first()
    if row is None:
        return None
    return {"name": row["name"], "outcome": row["outcome"], "started_at": row["started_at"].isoformat()}


def check_celery(*, database_up: bool = True) -> dict[str, Any]:
    global _broker_answer
    started = time.perf_counter()
    url = getattr(settings, "CELERY_BROKER_URL", None)
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False) or not url:
        out: dict[str, Any] = {"status": "eager"}
    else:
        ttl = float(registry_settings.HEALTH_BROKER_CACHE_SECONDS)
        with _broker_lock:
            cached = _broker_answer
            if cached is None or cached[1] != url or time.monotonic() - cached[0] > ttl:
                cached = (time.monotonic(), url, _check_broker(url))
                _broker_answer = cached
        out = dict(cached[2])
    if database_up:
        try:
            out["last_task_run"] = _last_task_run()
        except Exception as exc:  # noqa: BLE001
            out["last_task_run_error"] = _error(exc)
    out["duration_ms"] = _ms(started)
    return out


def liveness() -> dict[str, Any]:
    return {"status": "ok"}


def readiness() -> tuple[bool, dict[str, Any]]:
    """``(ready, body)``: ready when the database answers (see the module docstring)."""
    started = time.perf_counter()
    database = check_database()
    ready = database["status"] == "up"
    checks = {"database": database, "redis": check_redis(), "celery": check_celery(database_up=ready)}
    body = {
        "status": "ok" if ready else "unavailable",
        "version": app_version(),
        "checks": checks,
        "duration_ms": _ms(started),
    }
    return ready, body


def reset() -> None:
    """Forget the cached broker answer (tests)."""
    global _broker_answer
    with _broker_lock:
        _broker_answer = None

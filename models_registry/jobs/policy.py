"""What a maintenance task retries, how often, how long it may run.

Transient errors are the ones a later attempt can get past: the database or Redis unreachable,
timing out, a connection dropped (``django.db.OperationalError`` / ``InterfaceError``, redis-py's
``ConnectionError`` / ``TimeoutError``, the cache's ``RemoteUnavailable``). Everything else is
a bug or bad data and fails at once. Retries back off exponentially (1, 2, 4 … seconds, capped at
``TASK_RETRY_BACKOFF_MAX``) with full jitter, at most ``TASK_MAX_RETRIES`` times.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..conf import registry_settings


def _remote_unavailable() -> tuple[type[BaseException], ...]:
    try:
        from caching.remote import RemoteUnavailable
    except ImportError:  # the cache app is not installed
        return ()
    return (RemoteUnavailable,)


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    *_remote_unavailable(),
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


def time_limit() -> int:
    return int(registry_settings.TASK_TIME_LIMIT)


def soft_time_limit() -> int:
    return int(registry_settings.TASK_SOFT_TIME_LIMIT)


def max_retries() -> int:
    return int(registry_settings.TASK_MAX_RETRIES)


def retry_backoff_max() -> int:
    return int(registry_settings.TASK_RETRY_BACKOFF_MAX)


def lock_ttl() -> float:
    """Seconds a Redis or database lock lives at most: beyond the hard time limit, so a run that
    was killed (its ``finally`` never ran) frees the lock soon after the limit."""
    ttl = registry_settings.TASK_LOCK_TTL
    return float(ttl) if ttl else float(time_limit() + 60)

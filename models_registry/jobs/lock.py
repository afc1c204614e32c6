"""Single flight for maintenance tasks: at most one run of a task at a time, across every worker.

``with task_lock(name) as acquired:`` never waits — ``acquired`` is False when another run
holds the lock, and that run does no work. Backends (``MODEL_REGISTRY["TASK_LOCK_BACKEND"]``):

- ``postgres`` — ``pg_try_advisory_lock`` on this thread's database session (a 64-bit key
  hashed from the task name). Released by ``pg_advisory_unlock``, or by PostgreSQL itself when
  the session ends, so a killed worker never leaves it behind. (Session locks need a real
  session: behind PgBouncer in transaction mode, use ``redis``.)
- ``redis`` — redis-py's ``Lock`` (``SET NX PX`` with a random token, released by a
  compare-and-delete script) on ``settings.REDIS_URL``, expiring after ``policy.lock_ttl()``.
- ``db`` — a ``TaskLock`` row (primary key = task name) with an expiry; portable (SQLite).
- ``auto`` (default) — ``postgres`` on PostgreSQL, else ``redis`` when ``REDIS_URL`` is set,
  else ``db``.

Advisory locks are re-entrant within one session; a per-thread set of held names keeps a
second acquisition from the same thread (same connection) a refusal, like in the other
backends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from ..conf import registry_settings
from . import policy

logger = logging.getLogger("models_registry.jobs")

BACKENDS = ("postgres", "redis", "db")
_held = threading.local()


def advisory_key(name: str) -> int:
    """The signed 64-bit PostgreSQL advisory lock key of a task name."""
    digest = hashlib.blake2b(f"model_registry.task:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def redis_lock_name(name: str) -> str:
    return f"mr:tasks:{registry_settings.CACHE_NAMESPACE}:lock:{name}"


def backend(using: str = DEFAULT_DB_ALIAS) -> str:
    """The backend in use (``TASK_LOCK_BACKEND`` resolved)."""
    chosen = str(registry_settings.TASK_LOCK_BACKEND or "auto")
    if chosen in BACKENDS:
        return chosen
    if chosen != "auto":
        raise ValueError(f"TASK_LOCK_BACKEND must be auto, {', '.join(BACKENDS)}; not {chosen!r}")
    if connections[using].vendor == "postgresql":
        return "postgres"
    if getattr(settings, "REDIS_URL", None):
        return "redis"
    return "db"


_clients: dict[tuple[int, str], object] = {}


def _redis():
    import redis

    url = settings.REDIS_URL
    if not url:
        raise RuntimeError("TASK_LOCK_BACKEND is redis but settings.REDIS_URL is not set")
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _clients[key] = client
    return client


def _held_names() -> set[str]:
    names = getattr(_held, "names", None)
    if names is None:
        names = _held.names = set()
    return names


@contextlib.contextmanager
def task_lock(name: str, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[bool]:
    """Try to take the lock of ``name`` without waiting; yields whether it was taken."""
    held = _held_names()
    if name in held:
        yield False
        return
    kind = backend(using)
    release = _ACQUIRE[kind](name, using)
    if release is None:
        yield False
        return
    held.add(name)
    try:
        yield True
    finally:
        held.discard(name)
        try:
            release()
        except Exception:  # noqa: BLE001 - the lock expires (redis/db) or dies with the session
            logger.warning("could not release the %s lock of task %s", kind, name, exc_info=True)


def _postgres(name: str, using: str):
    key = advisory_key(name)
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            return None

    def release() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])

    return release


def _redis_backend(name: str, using: str):
    lock = _redis().lock(redis_lock_name(name), timeout=policy.lock_ttl(), blocking=False)
    if not lock.acquire(blocking=False):
        return None

    def release() -> None:
        from redis.exceptions import LockError

        try:
            lock.release()
        except LockError:  # expired meanwhile (the run outlived the TTL)
            logger.warning("the redis lock of task %s had expired before its release", name)

    return release


def _db(name: str, using: str):
    from .models import TaskLock

    now = timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic(using=using):
        TaskLock.objects.using(using).filter(name=name, expires_at__lte=now).delete()
    try:
        with transaction.atomic(using=using):
            TaskLock.objects.using(using).create(
                name=name, token=token, expires_at=now + dt.timedelta(seconds=policy.lock_ttl())
            )
    except IntegrityError:
        return None

    def release() -> None:
        TaskLock.objects.using(using).filter(name=name, token=token).delete()

    return release


_ACQUIRE = {"postgres": _postgres, "redis": _redis_backend, "db": _db}


def task_lock_held(name: str, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether some run holds the lock of ``name`` now (for operators and tests; racy by nature)."""
    with task_lock(name, using=using) as acquired:
        return not acquired

"""Degraded mode: what the API does while the database is unreachable.

- Database errors (``django.db.OperationalError`` / ``InterfaceError``) become
  ``DatabaseUnavailable`` (503 with ``Retry-After``) in the one exception handler — never a 500.
  Each write is one transaction (``models_registry.services``), so a failed write leaves
  nothing behind, and the answer says ``"saved": false`` — or, if the error came after the
  commit (``tracked_write``), ``"saved": true`` with a message saying so.
- Reads of a model (by id, by key) and of a cached list page are answered from the cache when
  the database is known to be down for this request, with ``X-Registry-Stale: true`` and
  ``Age: <seconds since the value was read from the database>``, if that value is at most
  ``MODEL_REGISTRY["STALE_MAX_AGE"]`` seconds old (0: never); otherwise 503.
- How a request learns the database is down: the token authentication fell back to its
  remembered entry (``authentication.py`` flags the request), or a database error was seen by
  this process within the last ``HINT_SECONDS`` (a per-process hint only: it decides whether to
  try the database, never what is served; a cache hit does not touch the database at all).
"""

from __future__ import annotations

import contextlib
import threading
import time

from django.db import InterfaceError, OperationalError

from ..conf import registry_settings
from ..exceptions import ApplicationError

DB_ERRORS = (OperationalError, InterfaceError)
STALE_HEADER = "X-Registry-Stale"
HINT_SECONDS = 1.0  # after a database error, this process tries the database again this much later
_FLAG = "_registry_db_unavailable"
_COMMITTED = "_registry_write_committed"

WRITE_MESSAGE = "The database is unavailable; the change was not saved. Retry later."
COMMITTED_MESSAGE = (
    "The change was saved, but the database became unavailable before the answer was complete; "
    "read the model again to see it."
)
READ_MESSAGE = "The database is unavailable and no cached copy young enough to serve was found. Retry later."


class DatabaseUnavailable(ApplicationError):
    """The database cannot be reached (503; the response carries ``Retry-After``)."""

    status_code = 503
    default_code = "database_unavailable"


class _Hint:
    """Per-process "the database failed at" time (a hint, not shared state)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.failed_at: float | None = None

    def failed(self) -> None:
        with self._lock:
            self.failed_at = time.monotonic()

    def succeeded(self) -> None:
        if self.failed_at is not None:
            with self._lock:
                self.failed_at = None

    def down(self) -> bool:
        failed_at = self.failed_at
        return failed_at is not None and time.monotonic() - failed_at < HINT_SECONDS


hint = _Hint()


def _django_request(request):
    return getattr(request, "_request", request)


def mark_db_down(request=None) -> None:
    """The database just failed (for ``request``, if given, and as this process's hint)."""
    hint.failed()
    if request is not None:
        setattr(_django_request(request), _FLAG, True)


def mark_db_up() -> None:
    hint.succeeded()


def db_down(request) -> bool:
    """Should this request be served without the database?"""
    return bool(getattr(_django_request(request), _FLAG, False)) or hint.down()


def unavailable(request=None) -> DatabaseUnavailable:
    """The 503 error for ``request`` (the message says whether the change was saved)."""
    method = getattr(request, "method", "GET")
    if method in ("GET", "HEAD", "OPTIONS"):
        return DatabaseUnavailable(READ_MESSAGE)
    if getattr(_django_request(request), _COMMITTED, False):
        return DatabaseUnavailable(COMMITTED_MESSAGE, extra={"saved": True})
    return DatabaseUnavailable(WRITE_MESSAGE, extra={"saved": False})


@contextlib.contextmanager
def tracked_write(request):
    """Around a write-path service call: note on ``request`` when the write has committed (the
    call returned, or a database error came from an on-commit hook, which Django runs only
    after a commit), so that a database error after the commit (in such a hook, or while
    building the answer) is not reported as "not saved"."""
    try:
        yield
    except DB_ERRORS as exc:
        if _raised_after_commit(exc):
            setattr(_django_request(request), _COMMITTED, True)
        raise
    setattr(_django_request(request), _COMMITTED, True)


def _raised_after_commit(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_name == "run_and_clear_commit_hooks":
            return True
        traceback = traceback.tb_next
    return False


def retry_after() -> str:
    return str(int(registry_settings.DB_RETRY_AFTER))


def stale_headers(filled_at: float | None, request=None) -> dict[str, str]:
    """Headers for a value read from the database at ``filled_at`` (epoch seconds), served while
    the database is down; raises ``DatabaseUnavailable`` if it is too old to serve."""
    max_age = float(registry_settings.STALE_MAX_AGE)
    age = None if filled_at is None else max(0.0, time.time() - filled_at)
    if max_age <= 0 or age is None or age > max_age:
        raise unavailable(request)
    return {STALE_HEADER: "true", "Age": str(int(age))}

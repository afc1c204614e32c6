"""Token authentication that keeps reads working while the database is unreachable.

``RegistryTokenAuthentication`` is DRF's ``TokenAuthentication`` (``Authorization: Token <key>``;
the database is authoritative: a deleted token or a deactivated user is refused at once) that
also *remembers* each successful check in the ``default`` cache (Redis in production) for
``MODEL_REGISTRY["AUTH_CACHE_TTL"]`` seconds: under ``sha256(token)`` (never the token itself)
the user's id, username, ``is_active`` / ``is_staff`` / ``is_superuser`` and permission names.

Only when the database cannot be reached (``OperationalError`` / ``InterfaceError``) does it
authenticate from that entry, as a ``RememberedUser`` whose ``has_perm`` answers from the stored
set, and it flags the request as degraded (``degraded.py``): reads are then served from the
cache, and writes are refused with 503 at once (nothing can be saved without the database).

Degraded-mode window: a token deleted or a permission removed while the database was reachable
is forgotten at once (the refusal deletes the entry); but changes made *by another process*
while this one cannot reach the database are not seen, so such a token keeps read access for
at most ``AUTH_CACHE_TTL`` seconds after this process last checked it. 0 turns the fallback off.

The entry is rewritten at most every ``AUTH_CACHE_TTL / 3`` seconds per token and process (a
local note of when), so normal requests do not pay a cache write, and cache calls go through a
circuit breaker so a hanging Redis costs a few timeouts, not one per request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field

from django.core.cache import caches
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS

from caching.breaker import CircuitBreaker, CircuitOpen

from ..conf import registry_settings
from . import degraded

logger = logging.getLogger("models_registry.api")

CACHE_ALIAS = "default"
_KEY_PREFIX = "mr:auth:v1:"
_breaker = CircuitBreaker(
    failures=3,
    cooldown=5.0,
    name="remembered-token",
    fallback="token checks go to the database only",
    gauge=False,  # the gauge is the model cache's breaker
)
_written: dict[str, float] = {}  # token digest -> monotonic time this process last wrote its entry
_written_lock = threading.Lock()


@dataclass(frozen=True)
class RememberedUser:
    """The user of a remembered token check (read-only; no database behind it)."""

    id: int
    username: str
    is_active: bool
    is_staff: bool
    is_superuser: bool
    permissions: frozenset[str] = field(default_factory=frozenset)
    is_authenticated = True
    is_anonymous = False
    remembered = True

    @property
    def pk(self) -> int:
        return self.id

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.is_active and (self.is_superuser or perm in self.permissions)

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_active and (
            self.is_superuser or any(p.startswith(f"{app_label}.") for p in self.permissions)
        )

    def get_all_permissions(self, obj=None) -> set[str]:
        return set(self.permissions)

    def __str__(self) -> str:
        return self.username


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _cache_call(fn, default=None):
    """A call to the default cache through the breaker; ``default`` if refused or failed."""
    try:
        _breaker.before_call()
    except CircuitOpen:
        return default
    try:
        result = fn(caches[CACHE_ALIAS])
    except Exception as exc:  # noqa: BLE001 - the cache is an accelerator here, never a dependency
        _breaker.failure(exc, "auth_cache")
        return default
    _breaker.success()
    return result


def remember(key: str, user) -> None:
    """Store the check of ``key`` (unless this process did so less than TTL/3 ago)."""
    ttl = int(registry_settings.AUTH_CACHE_TTL)
    if ttl <= 0:
        return
    digest = token_digest(key)
    now = time.monotonic()
    with _written_lock:
        if now - _written.get(digest, -1e18) < ttl / 3:
            return
        _written[digest] = now
    entry = {
        "id": user.pk,
        "username": user.get_username(),
        "is_active": bool(user.is_active),
        "is_staff": bool(user.is_staff),
        "is_superuser": bool(user.is_superuser),
        "permissions": sorted(user.get_all_permissions()),
    }
    _cache_call(lambda cache: cache.set(_KEY_PREFIX + digest, entry, ttl))


def forget(key: str) -> None:
    """Drop the remembered check of ``key`` (refused by the database)."""
    digest = token_digest(key)
    with _written_lock:
        _written.pop(digest, None)
    _cache_call(lambda cache: cache.delete(_KEY_PREFIX + digest))


def recall(key: str) -> RememberedUser | None:
    """The remembered user of ``key``, or None."""
    if int(registry_settings.AUTH_CACHE_TTL) <= 0:
        return None
    entry = _cache_call(lambda cache: cache.get(_KEY_PREFIX + token_digest(key)))
    if not isinstance(entry, dict):
        return None
    try:
        return RememberedUser(
            id=int(entry["id"]),
            username=str(entry["username"]),
            is_active=bool(entry["is_active"]),
            is_staff=bool(entry["is_staff"]),
            is_superuser=bool(entry["is_superuser"]),
            permissions=frozenset(str(p) for p in entry.get("permissions", ())),
        )
    except (KeyError, TypeError, ValueError):
        return None


def forget_all_local() -> None:
    """Forget when this process last wrote each entry (tests; the entries themselves stay)."""
    with _written_lock:
        _written.clear()
    _breaker.reset()


class RegistryTokenAuthentication(TokenAuthentication):
    """DRF token authentication, with a remembered fallback while the database is unreachable."""

    def authenticate(self, request):
        try:
            result = super().authenticate(request)
        except exceptions.AuthenticationFailed:
            key = self._key(request)
            if key:
                forget(key)
            raise
        except degraded.DB_ERRORS as exc:
            return self._fallback(request, exc)
        if result is not None:
            degraded.mark_db_up()
            remember(result[1].key, result[0])
        return result

    def _key(self, request) -> str | None:
        auth = get_authorization_header(request).split()
        if len(auth) != 2 or auth[0].lower() != self.keyword.lower().encode():
            return None
        try:
            return auth[1].decode()
        except UnicodeError:
            return None

    def _fallback(self, request, exc):
        degraded.mark_db_down(request)
        if request.method not in SAFE_METHODS:
            raise degraded.unavailable(request) from exc
        key = self._key(request)
        user = recall(key) if key else None
        if user is None or not user.is_active:
            raise degraded.unavailable(request) from exc
        logger.info("database unreachable: token of %s authenticated from the cache", user.username)
        return user, None

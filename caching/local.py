"""L1: the in-process tier.

An LRU with a TTL (cachetools ``TTLCache``) bounded by the real byte size of what it holds
(``caching.sizing.deep_sizeof``, measured once at fill), guarded by one lock. Values are deeply
immutable records, so a hit hands out the stored object itself without copying and a caller
cannot corrupt it.

Fill guard: ``token()`` returns the current invalidation sequence number; ``set(..., token=t)``
refuses to store a value for a key invalidated after ``t`` was taken, so a reader that loaded a
value before a concurrent invalidation cannot put it back. ``L1_TTL`` caps how long an entry
lives even if an invalidation message is lost.

Each entry also keeps its *fill time* (epoch seconds when the value was read from the database,
``filled_at``; default: now), which ``get_entry`` returns: degraded reads (database unreachable)
report the age of what they serve and refuse values older than ``STALE_MAX_AGE``.

Evictions are reported with a reason (``expired``, ``memory``, ``invalidated``) to the
``cache_evicted`` signal and the evictions counter, after the lock is released.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable
from typing import Any

from cachetools import TTLCache

from . import metrics
from .signals import CACHE_SENDER, cache_evicted
from .sizing import deep_sizeof


class _SizedTTLCache(TTLCache):
    """TTLCache whose memory and expiry evictions are reported to the owner."""

    def __init__(self, owner: LocalCache, maxsize: int, ttl: float, timer=time.monotonic):
        super().__init__(maxsize=maxsize, ttl=ttl, timer=timer, getsizeof=lambda entry: entry[1])
        self._owner = owner

    def popitem(self):
        key, value = super().popitem()
        self._owner._pending.append((key, "memory"))
        return key, value

    def expire(self, time=None):
        expired = super().expire(time)
        self._owner._pending.extend((key, "expired") for key, _ in expired)
        return expired


class LocalCache:
    """Thread-safe, byte-bounded LRU+TTL cache of immutable values."""

    def __init__(self, *, max_bytes: int, ttl: float, timer=time.monotonic):
        self._lock = threading.Lock()
        self._cache = _SizedTTLCache(self, maxsize=max(1, max_bytes), ttl=ttl, timer=timer)
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._seq = 0
        self._invalidated_at: dict[Hashable, int] = {}
        self._flushed_at = 0
        self._pending: list[tuple[Hashable, str]] = []  # evictions to report once the lock is released

    # -- reads ---------------------------------------------------------------------------------
    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            entry = self._cache.get(key)
        return default if entry is None else entry[0]

    def get_entry(self, key: Hashable) -> tuple[Any, float] | None:
        """``(value, fill time)`` or ``None``."""
        with self._lock:
            entry = self._cache.get(key)
        return None if entry is None else (entry[0], entry[2])

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        out = {}
        with self._lock:
            for key in keys:
                entry = self._cache.get(key)
                if entry is not None:
                    out[key] = entry[0]
        return out

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._cache

    # -- writes --------------------------------------------------------------------------------
    def token(self) -> int:
        """The invalidation sequence number now; pass it to ``set`` after loading the value."""
        with self._lock:
            return self._seq

    def _stale(self, key: Hashable, token: int | None) -> bool:
        if token is None:
            return False
        return self._flushed_at > token or self._invalidated_at.get(key, -1) > token

    def set(
        self, key: Hashable, value: Any, *, token: int | None = None, filled_at: float | None = None
    ) -> bool:
        """Store ``value`` unless ``key`` was invalidated after ``token``; False if refused
        (stale or larger than the whole budget). ``filled_at``: when it was read from the
        database (epoch seconds; default now)."""
        size = deep_sizeof(value) + deep_sizeof(key)
        if size > self.max_bytes:
            return False
        filled_at = time.time() if filled_at is None else filled_at
        with self._lock:
            if self._stale(key, token):
                return False
            self._cache[key] = (value, size, filled_at)
        self._report()
        return True

    def set_many(
        self,
        items: dict[Hashable, Any],
        *,
        token: int | None = None,
        filled_at: dict[Hashable, float | None] | None = None,
    ) -> int:
        """``set`` for many; ``filled_at`` maps keys to fill times (missing or None: now)."""
        sized = [(key, value, deep_sizeof(value) + deep_sizeof(key)) for key, value in items.items()]
        now = time.time()
        times = filled_at or {}
        stored = 0
        with self._lock:
            for key, value, size in sized:
                if size <= self.max_bytes and not self._stale(key, token):
                    self._cache[key] = (value, size, times.get(key) or now)
                    stored += 1
        self._report()
        return stored

    def invalidate(self, keys: Iterable[Hashable]) -> int:
        """Drop ``keys`` and fence in-flight fills of them. Returns how many were present."""
        dropped = []
        with self._lock:
            self._seq += 1
            for key in keys:
                self._invalidated_at[key] = self._seq
                if self._cache.pop(key, None) is not None:
                    dropped.append(key)
        self._pending.extend((key, "invalidated") for key in dropped)
        self._report()
        return len(dropped)

    def invalidate_where(self, predicate) -> int:
        """Drop every entry whose ``(key, value)`` satisfies ``predicate`` (O(entries))."""
        with self._lock:
            keys = [key for key, (value, *_) in self._cache.items() if predicate(key, value)]
        return self.invalidate(keys)

    def clear(self) -> int:
        """Drop everything and fence every in-flight fill."""
        with self._lock:
            self._seq += 1
            self._flushed_at = self._seq
            self._invalidated_at.clear()
            count = len(self._cache)
            self._cache.clear()
        if count:
            metrics.EVICTIONS.labels(reason="invalidated").inc(count)
        return count

    def sweep(self) -> int:
        """Remove expired entries now (they are otherwise removed lazily). Returns the count."""
        with self._lock:
            count = len(self._cache.expire())
        self._report()
        return count

    # -- figures -------------------------------------------------------------------------------
    @property
    def currsize(self) -> int:
        with self._lock:
            return int(self._cache.currsize)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._cache.keys())

    def _report(self) -> None:
        """Send the evictions collected under the lock (receivers never run under it)."""
        while self._pending:
            try:
                key, reason = self._pending.pop()
            except IndexError:  # another thread reported it
                return
            metrics.EVICTIONS.labels(reason=reason).inc()
            cache_evicted.send(sender=CACHE_SENDER, key=key, tier="l1", reason=reason)

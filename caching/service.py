"""The two-tier model cache: read-through gets, guarded fills, invalidation, figures.

One ``ModelCache`` per process (``model_cache()``), combining L1 (``local.LocalCache``), L2
(``remote.RemoteCache``, absent without Redis), the circuit breaker, single flight and the
pub/sub subscriber. The module-level ``cache_*`` functions are the service API; the read path
(``models_registry.selectors``) passes *loaders* that read the database, so this package never
decides what a model is, only where a copy of it lives.

Protocol (see README "Cache coherence"): a miss reads the namespace generation and the model's
fence from Redis *before* loading from the database and fills with a compare-and-set on both;
invalidation (after commit) deletes L2, bumps fences and publishes in one Lua call; every
process drops its L1 copy on the message, its whole L1 on reconnect, and each L1 entry lives at
most ``L1_TTL`` seconds. If Redis fails, reads come from the database and the namespace
generation is bumped when Redis is reachable again (nothing written before or during the outage
is served afterwards).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence

import orjson

from models_registry.conf import registry_settings
from models_registry.records import AIModelRecord

from . import coherence, metrics
from . import keys as k
from .breaker import CircuitBreaker
from .local import LocalCache
from .peek import NEGATIVE as _NEGATIVE
from .peek import CachePeek
from .peek import model_slot as _m
from .remote import RemoteCache, RemoteUnavailable, decode_entry, redis_client
from .signals import CACHE_SENDER, cache_hit, cache_invalidated, cache_miss
from .singleflight import SingleFlight

logger = logging.getLogger("caching")

LoadMany = Callable[[Sequence[str]], dict[str, AIModelRecord]]
"""Loads records by key or alias from the database: ``{requested key: record}`` (found only)."""

# Labelled counters bound once: ``labels()`` costs a dict lookup under a lock on every call.
_HITS_L1, _HITS_L2 = metrics.HITS.labels(tier="l1"), metrics.HITS.labels(tier="l2")
_HITS_L1_LIST, _HITS_L2_LIST = metrics.HITS.labels(tier="l1_list"), metrics.HITS.labels(tier="l2_list")
_MISSES_L1, _MISSES_L2 = metrics.MISSES.labels(tier="l1"), metrics.MISSES.labels(tier="l2")
_MISSES_LIST = metrics.MISSES.labels(tier="list")

_LOCK_WAIT = 0.005
# L1 is served only while invalidations can reach it: the subscriber is connected and has looped
# (it ticks about once a second) within this many seconds, and the circuit breaker is closed.
_TICK_GAP = 2.5
_L1_RECHECK = 0.05  # seconds a positive decision is reused


class ModelCache(CachePeek):
    """Everything one process needs to serve model records from cache (``CachePeek``: the
    cache-only reads of degraded mode)."""

    def __init__(self):
        settings = registry_settings
        self.enabled = bool(settings.CACHE_ENABLED)
        self.l2_ttl = int(settings.L2_TTL)
        self.list_ttl = int(settings.LIST_TTL)
        self.local = LocalCache(max_bytes=int(settings.L1_MAX_BYTES * 0.75), ttl=float(settings.L1_TTL))
        self.lists = LocalCache(
            max_bytes=int(settings.L1_MAX_BYTES * 0.25), ttl=float(min(settings.L1_TTL, settings.LIST_TTL))
        )
        self.breaker = CircuitBreaker()
        self.breaker.on_recover.append(self._recover)
        client = redis_client() if self.enabled else None
        self.remote = RemoteCache(client, self.breaker) if client is not None else None
        self.flight = SingleFlight()
        self.gen = 0
        self._gen_known = False
        self._lost_invalidation = False
        self._started = False
        self._last_tick = 0.0  # when the subscriber last looped (``_on_tick``) or resubscribed
        self._l1_ok_until = 0.0
        self._lock = threading.Lock()
        self.pid = os.getpid()
        self.subscriber = (
            coherence.Subscriber(
                on_message=self._on_message, on_resync=self._on_resync, on_tick=self._on_tick
            )
            if self.remote
            else None
        )

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self.subscriber is not None and not self.subscriber.alive:
            first = not self._started
            self._started = True
            self.subscriber.start()
            if first:  # let the first subscription land, so its resync does not void our first fills
                self.subscriber.wait_ready(timeout=1.0)
        if self.remote is not None and (not self._gen_known or self._lost_invalidation):
            self._sync_generation()

    def _sync_generation(self) -> None:
        try:
            if self._lost_invalidation:
                self._recover()
            else:
                self._set_gen(self.remote.generation())
        except RemoteUnavailable:
            pass

    def _set_gen(self, gen: int) -> None:
        with self._lock:
            changed = self._gen_known and gen != self.gen
            self.gen = gen
            self._gen_known = True
        if changed:
            self.local.clear()
            self.lists.clear()

    def _recover(self) -> None:
        """Redis is reachable again after failures: orphan everything written before or during the
        outage (one generation bump, allowed under OOM) and tell every process to drop its L1."""
        if self.remote is None:
            return
        try:
            gen = self.remote.bump_generation()
            self._lost_invalidation = False
            self._set_gen(gen)
            self.local.clear()
            self.lists.clear()
            self.remote.publish(coherence.message(flush=True, gen=gen))
            logger.warning("cache namespace generation bumped to %s after a Redis outage", gen)
        except RemoteUnavailable:
            self._lost_invalidation = True

    def _owe_invalidation(self) -> None:
        """An invalidation did not reach Redis: recover (bump the generation) as soon as Redis
        answers, from the subscriber thread (``_on_tick``), since other processes read L2 meanwhile
        and this one may make no cache call for a long time (or never: a write-only process)."""
        self._lost_invalidation = True
        if self.subscriber is not None:
            self.subscriber.start()

    def _l2_usable(self) -> bool:
        """L2 is configured and trustworthy (not while an invalidation is still owed to it)."""
        return self.remote is not None and not self._lost_invalidation

    def _on_tick(self) -> None:
        self._last_tick = time.monotonic()
        if self._lost_invalidation:
            self._recover()

    def _on_message(self, data: dict) -> None:
        if data.get("all"):
            if data.get("gen") is not None:
                self._set_gen(int(data["gen"]))
            self.local.clear()
            self.lists.clear()
            return
        keys = [key for key in data.get("k", []) if isinstance(key, str)]
        providers = set(data.get("p") or [])
        tags = set(data.get("t") or [])
        if keys:
            self.local.invalidate([_m(key) for key in keys])
        if providers or tags:
            self.local.invalidate_where(
                lambda key, value: (
                    key[0] == "m"
                    and isinstance(value, AIModelRecord)
                    and (value.provider in providers or bool(tags.intersection(value.tags)))
                )
            )
        self.lists.clear()

    def _on_resync(self) -> None:
        self._last_tick = time.monotonic()
        self.local.clear()
        self.lists.clear()
        self._gen_known = False

    def close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.stop()

    # -- reads ---------------------------------------------------------------------------------
    def _l1_ok(self) -> bool:
        """May L1 answer now? Only while other processes' invalidations can reach this one (the
        subscriber is connected and looping, the breaker closed); otherwise reads go to L2 or
        the database. (What L1 holds is dropped when the subscriber reconnects and when the
        breaker closes again, so nothing that missed an invalidation is served afterwards.)"""
        if self.subscriber is None:  # no L2 (one process), or a test without a subscriber
            return True
        now = time.monotonic()
        if now < self._l1_ok_until:  # decided less than _L1_RECHECK ago (keeps L1 hits cheap)
            return True
        ok = self.subscriber.alive and now - self._last_tick < _TICK_GAP and self.breaker.state == "closed"
        if ok:
            self._l1_ok_until = now + _L1_RECHECK
        return ok

    def _l1_lookup(self, key: str):
        value = self.local.get(_m(key))
        if value is None:
            target = self.local.get(("a", key))
            if target is not None:
                value = self.local.get(_m(target))
        return value

    def get(self, key: str, load_many: LoadMany) -> AIModelRecord | None:
        """The record of ``key`` (or alias), or ``None`` if there is no such model."""
        k.validate_model_key(key)
        if not self.enabled:
            return load_many([key]).get(key)
        value = self._l1_lookup(key) if self._l1_ok() else None
        if value is not None:
            _HITS_L1.inc()
            cache_hit.send(sender=CACHE_SENDER, key=key, tier="l1")
            return None if value == _NEGATIVE else value
        _MISSES_L1.inc()
        self._ensure_started()
        token = self.local.token()
        return self.flight.do(key, lambda: self._load_one(key, load_many, token))

    def _load_one(self, key: str, load_many: LoadMany, token: int) -> AIModelRecord | None:
        fence = None
        remote_ok = self._l2_usable()
        locked = False
        if remote_ok:
            try:
                gen = self.gen
                current, values, fences = self.remote.get_many([key], gen)
                if current != gen:
                    self._set_gen(current)
                    token = self.local.token()
                    current, values, fences = self.remote.get_many([key], current)
                record, filled_at = decode_entry(values[0])
                if record is not None and record.key == key:
                    return self._l2_hit(key, record, token, filled_at)
                fence = fences[0]
                locked = self._lock_or_wait(key)
                if not locked:
                    current, values, fences = self.remote.get_many([key], self.gen)
                    record, filled_at = decode_entry(values[0])
                    if record is not None and record.key == key:
                        return self._l2_hit(key, record, token, filled_at)
                    fence = fences[0]
            except RemoteUnavailable:
                remote_ok = False
        _MISSES_L2.inc()
        try:
            record = self._load_from_db([key], load_many).get(key)
            if record is None:
                self.local.set(_m(key), _NEGATIVE, token=token)
                return None
            cache_miss.send(sender=CACHE_SENDER, key=key)
            if record.key != key:  # an alias: remember where it points, cache the record by its key
                self.local.set(("a", key), record.key)
                self.local.set(_m(record.key), record, token=token)
                if remote_ok:
                    self._try(
                        lambda: self.remote.set_refs({k.alias_key(self.gen, key): record.key}, self.l2_ttl)
                    )
                return record
            self.local.set(_m(key), record, token=token)
            if remote_ok:
                self._try(lambda: self.remote.fill_many([(record, fence)], self.gen, self.l2_ttl))
            return record
        finally:
            if locked:
                self._try(lambda: self.remote.release_lock(key))

    def _lock_or_wait(self, key: str) -> bool:
        """Take the cross-process fill lock, or wait (bounded) for its holder's fill."""
        ttl = float(registry_settings.FILL_LOCK_TTL)
        if self.remote.acquire_lock(key, uuid.uuid4().hex, int(ttl * 1000)):
            return True
        deadline = time.monotonic() + min(ttl, 0.25)
        while time.monotonic() < deadline:
            time.sleep(_LOCK_WAIT)
            if not self.remote.exists(key, self.gen):
                continue
            return False
        return False

    def _l2_hit(self, key: str, record: AIModelRecord, token: int, filled_at: float | None) -> AIModelRecord:
        _HITS_L2.inc()
        cache_hit.send(sender=CACHE_SENDER, key=key, tier="l2")
        self.local.set(_m(key), record, token=token, filled_at=filled_at)
        return record

    def _load_from_db(self, keys: Sequence[str], load_many: LoadMany) -> dict[str, AIModelRecord]:
        started = time.perf_counter()
        records = load_many(keys)
        metrics.DB_LOADS.inc(len(records))
        metrics.LATENCY.labels(operation="db_load").observe(time.perf_counter() - started)
        return records

    def get_many(self, keys: Iterable[str], load_many: LoadMany) -> dict[str, AIModelRecord | None]:
        """``{key: record or None}``: one L1 pass, one MGET, one database query, one fill pipeline."""
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            k.validate_model_key(key)
        if not self.enabled:
            found = load_many(wanted)
            return {key: found.get(key) for key in wanted}
        out: dict[str, AIModelRecord | None] = {}
        missing: list[str] = []
        l1_ok = self._l1_ok()
        hits_l1 = self.local.get_many([_m(key) for key in wanted]) if l1_ok else {}
        for key in wanted:
            value = hits_l1.get(_m(key))
            if value is None and l1_ok:
                value = self._l1_lookup(key)
            if value is None:
                missing.append(key)
            else:
                out[key] = None if value == _NEGATIVE else value
        if hits_l1:
            _HITS_L1.inc(len(wanted) - len(missing))
        if not missing:
            return out
        _MISSES_L1.inc(len(missing))
        self._ensure_started()
        token = self.local.token()
        fences: dict[str, bytes | None] = {}
        remote_ok = self._l2_usable()
        if remote_ok:
            try:
                gen = self.gen
                current, values, fence_values = self.remote.get_many(missing, gen)
                if current != gen:
                    self._set_gen(current)
                    token = self.local.token()
                    current, values, fence_values = self.remote.get_many(missing, current)
                l2_hits = {}
                l2_filled = {}
                still = []
                for key, raw, fence in zip(missing, values, fence_values, strict=True):
                    record, l2_filled[_m(key)] = decode_entry(raw)
                    if record is not None and record.key == key:
                        l2_hits[key] = record
                    else:
                        still.append(key)
                        fences[key] = fence
                if l2_hits:
                    _HITS_L2.inc(len(l2_hits))
                    self.local.set_many(
                        {_m(key): rec for key, rec in l2_hits.items()}, token=token, filled_at=l2_filled
                    )
                    out.update(l2_hits)
                missing = still
            except RemoteUnavailable:
                remote_ok = False
        if not missing:
            return out
        _MISSES_L2.inc(len(missing))
        loaded = self._load_from_db(missing, load_many)
        fills = []
        local_items = {}
        for key in missing:
            record = loaded.get(key)
            out[key] = record
            if record is None:
                local_items[_m(key)] = _NEGATIVE
            elif record.key != key:
                self.local.set(("a", key), record.key)
                local_items[_m(record.key)] = record
            else:
                local_items[_m(key)] = record
                fills.append((record, fences.get(key)))
        self.local.set_many(local_items, token=token)
        if remote_ok and fills:
            self._try(lambda: self.remote.fill_many(fills, self.gen, self.l2_ttl))
        return out

    def get_by_id(self, model_id: int, key_for_id: Callable[[int], str | None], load_many: LoadMany):
        """The record with primary key ``model_id`` (id → key is immutable, cached in both tiers)."""
        if not self.enabled:
            key = key_for_id(model_id)
            return None if key is None else load_many([key]).get(key)
        key = self.local.get(("i", model_id))
        if key is not None:  # the hot path: no re-store, no size measurement
            return self.get(key, load_many)
        if self.remote is not None:
            self._ensure_started()
            try:
                raw = self.remote.get_refs([k.id_key(self.gen, model_id)])[0]
                key = raw.decode() if raw else None
            except RemoteUnavailable:
                key = None
        if key is None:
            key = key_for_id(model_id)
            if key is None:
                return None
        self.local.set(("i", model_id), key)
        return self.get(key, load_many)

    def get_list(self, params: dict, load_page: Callable[[], dict]) -> dict:
        """A cached list page (``{"count": n, "keys": [...]}``) for normalised ``params``."""
        if not self.enabled:
            return load_page()
        digest = k.list_digest(params)
        page = self.lists.get(digest) if self._l1_ok() else None
        if page is not None:
            _HITS_L1_LIST.inc()
            return page
        self._ensure_started()
        token = self.lists.token()
        list_gen = None
        if self._l2_usable():
            try:
                list_gen, raw = self.remote.list_get(k.list_key(self.gen, digest))
                if raw is not None:
                    data = orjson.loads(raw)
                    if data.get("lg") == list_gen:
                        page = {"count": data["count"], "keys": data["keys"]}
                        _HITS_L2_LIST.inc()
                        filled_at = data.get("t") if isinstance(data.get("t"), int | float) else None
                        self.lists.set(digest, page, token=token, filled_at=filled_at)
                        return page
            except (RemoteUnavailable, orjson.JSONDecodeError, KeyError, TypeError):
                list_gen = None
        _MISSES_LIST.inc()
        page = load_page()
        self.lists.set(digest, page, token=token)
        if list_gen is not None:
            self._try(
                lambda: self.remote.list_set(k.list_key(self.gen, digest), page, list_gen, self.list_ttl)
            )
        return page

    # -- invalidation --------------------------------------------------------------------------
    def invalidate(self, model_keys: Sequence[str], *, reason: str = "", scope: str = "model") -> int:
        """Drop ``model_keys`` everywhere: this L1 now, L2 and every other L1 via Redis."""
        model_keys = list(dict.fromkeys(model_keys))
        if not model_keys:
            return 0
        self.local.invalidate([_m(key) for key in model_keys])
        self.lists.clear()
        if self.remote is not None:
            try:
                self.remote.invalidate(model_keys, coherence.message(keys=model_keys))
            except RemoteUnavailable:
                self._owe_invalidation()
        metrics.INVALIDATIONS.labels(scope=scope).inc(len(model_keys))
        cache_invalidated.send(sender=CACHE_SENDER, keys=model_keys, scope=scope, reason=reason)
        return len(model_keys)

    def invalidate_indexes(
        self, *, providers: Sequence[str] = (), tags: Sequence[str] = (), reason: str = ""
    ) -> list[str]:
        """Invalidate every cached model of ``providers`` / carrying any of ``tags``."""
        providers, tags = list(providers), list(tags)
        scope = "provider" if providers else "tags"
        self.local.invalidate_where(
            lambda key, value: (
                key[0] == "m"
                and isinstance(value, AIModelRecord)
                and (value.provider in providers or bool(set(tags).intersection(value.tags)))
            )
        )
        self.lists.clear()
        members: list[str] = []
        if self.remote is not None:
            names = [f"ip:{p}" for p in providers] + [f"it:{t}" for t in tags]
            try:
                members = self.remote.invalidate_indexes(names)
                self.local.invalidate([_m(key) for key in members])  # e.g. members a rule's tag action added
                self.remote.publish(orjson.dumps({"k": members, "p": providers, "t": tags, "all": False}))
            except RemoteUnavailable:
                self._owe_invalidation()
        metrics.INVALIDATIONS.labels(scope=scope).inc(len(members))
        cache_invalidated.send(sender=CACHE_SENDER, keys=members, scope=scope, reason=reason)
        return members

    def invalidate_all(self, *, reason: str = "") -> int:
        """Drop the whole namespace: bump the generation (O(1)), then delete the old generation's
        keys with SCAN (never KEYS or FLUSHDB). Returns the number of L2 keys removed."""
        self.local.clear()
        self.lists.clear()
        removed = 0
        if self.remote is not None:
            try:
                old = self.remote.generation()
                gen = self.remote.bump_generation()
                self._set_gen(gen)
                self.remote.publish(coherence.message(flush=True, gen=gen))
                removed = self.remote.delete_pattern(k.generation_pattern(old))
            except RemoteUnavailable:
                self._owe_invalidation()
        metrics.INVALIDATIONS.labels(scope="all").inc()
        cache_invalidated.send(sender=CACHE_SENDER, keys=[], scope="all", reason=reason)
        return removed

    def _try(self, fn) -> None:
        try:
            fn()
        except RemoteUnavailable:
            pass

    # -- figures -------------------------------------------------------------------------------
    def stats(self) -> dict:
        def rate(tier: str) -> float | None:
            hits = metrics.counter_value(metrics.HITS, tier=tier)
            misses = metrics.counter_value(metrics.MISSES, tier=tier)
            return None if hits + misses == 0 else round(hits / (hits + misses), 4)

        out = {
            "enabled": self.enabled,
            "namespace": registry_settings.CACHE_NAMESPACE,
            "l1": {
                "entries": len(self.local),
                "bytes": self.local.currsize,
                "max_bytes": self.local.max_bytes,
                "ttl": self.local.ttl,
                "hits": metrics.counter_value(metrics.HITS, tier="l1"),
                "misses": metrics.counter_value(metrics.MISSES, tier="l1"),
                "hit_rate": rate("l1"),
                "list_entries": len(self.lists),
            },
            "l2": {
                "configured": self.remote is not None,
                "hits": metrics.counter_value(metrics.HITS, tier="l2"),
                "misses": metrics.counter_value(metrics.MISSES, tier="l2"),
                "hit_rate": rate("l2"),
                "keys": None,
                "by_provider": {},
                "by_tag": {},
                "generation": self.gen,
                "subscriber_alive": bool(self.subscriber and self.subscriber.alive),
            },
            "evictions": {
                reason: metrics.counter_value(metrics.EVICTIONS, reason=reason)
                for reason in ("expired", "memory", "invalidated")
            },
            "breaker": self.breaker.state,
            "db_loads": metrics.counter_value(metrics.DB_LOADS),
        }
        if self.remote is not None:
            try:
                gen = self.remote.generation()
                out["l2"]["generation"] = gen
                out["l2"]["keys"] = self.remote.count_pattern(f"{k._glob_escape(k.prefix())}:{gen}:m:*")
                out["l2"]["by_provider"] = self.remote.index_sizes(gen, "ip")
                out["l2"]["by_tag"] = self.remote.index_sizes(gen, "it")
            except RemoteUnavailable:
                pass
        return out


_instance: ModelCache | None = None
_instance_lock = threading.Lock()


def model_cache() -> ModelCache:
    """This process's cache (rebuilt after a fork and by ``reset_model_cache``)."""
    global _instance
    cache = _instance
    if cache is not None and cache.pid == os.getpid():
        return cache
    with _instance_lock:
        if _instance is None or _instance.pid != os.getpid():
            _instance = ModelCache()
        return _instance


def reset_model_cache() -> None:
    """Drop this process's cache object (tests, settings changes)."""
    global _instance
    with _instance_lock:
        if _instance is not None and _instance.pid == os.getpid():
            _instance.close()
        _instance = None

"""L2: the Redis tier (connection from django-redis, our own JSON encoding, Lua for atomicity).

Values are JSON (orjson) — never pickle: whatever is found in a shared Redis is parsed as data
and validated as a record, so an injected payload cannot run code; anything that does not decode
to a record is treated as a miss and deleted. Every call goes through the circuit breaker
(``caching.breaker``): a Redis error or timeout counts as a failure and surfaces as
``RemoteUnavailable``, which the service turns into "read from the database".

One round trip per operation: single reads are one MGET (namespace generation, value, fence),
batch reads one MGET, fills and batch fills one pipeline of EVALSHA calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson
from django.conf import settings
from redis.exceptions import NoScriptError, RedisError, ResponseError

from models_registry.conf import registry_settings
from models_registry.crypto import protect_state, reveal_state
from models_registry.records import AIModelRecord, record_from_dict, record_to_dict

from . import keys as k
from . import metrics
from .breaker import CircuitBreaker, CircuitOpen

LUA_DIR = Path(__file__).resolve().parent / "lua"


class RemoteUnavailable(Exception):
    """Redis could not be used for this call (breaker open, error or timeout)."""


def encode(record: AIModelRecord, filled_at: float | None = None) -> bytes:
    # Sensitive metadata values are stored encrypted (models_registry.crypto); L1 holds plaintext.
    # "t": when the value was read from the database (epoch seconds; degraded reads report its age).
    filled_at = time.time() if filled_at is None else filled_at
    return orjson.dumps({"r": record.revision, "t": filled_at, "d": protect_state(record_to_dict(record))})


def decode(raw: bytes | None) -> AIModelRecord | None:
    """A record from its JSON form, or ``None`` for anything that is not one."""
    return decode_entry(raw)[0]


def decode_entry(raw: bytes | None) -> tuple[AIModelRecord | None, float | None]:
    """``(record, fill time)`` from the JSON form; ``(None, None)`` for anything that is not one."""
    if raw is None:
        return None, None
    try:
        data = orjson.loads(raw)
        record = record_from_dict(reveal_state(data["d"]))
    except Exception:  # noqa: BLE001 - garbage in a shared Redis is a miss, never an error
        return None, None
    filled_at = data.get("t")
    return record, float(filled_at) if isinstance(filled_at, int | float) else None


def redis_client():
    """The django-redis client of ``MODEL_REGISTRY["CACHE_ALIAS"]``, or ``None`` if no such alias."""
    alias = registry_settings.CACHE_ALIAS
    if alias not in settings.CACHES or "django_redis" not in settings.CACHES[alias]["BACKEND"]:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection(alias)


class Script:
    """A Lua script from ``caching/lua``, loaded once and called by SHA."""

    def __init__(self, name: str):
        self.source = (LUA_DIR / f"{name}.lua").read_text()
        self.sha: str | None = None

    def call(self, client, keys: Sequence[str], args: Sequence) -> object:
        if self.sha is None:
            self.sha = client.script_load(self.source)
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # Redis restarted and lost its script cache
            self.sha = client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe, keys: Sequence[str], args: Sequence) -> None:
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    def ensure_loaded(self, client) -> None:
        if self.sha is None:
            self.sha = client.script_load(self.source)


class RemoteCache:
    """Operations on L2. Every public method raises ``RemoteUnavailable`` instead of Redis errors."""

    def __init__(self, client, breaker: CircuitBreaker):
        self.client = client
        self.breaker = breaker
        self._fill = Script("fill")
        self._invalidate = Script("invalidate")
        self._invalidate_index = Script("invalidate_index")
        self._bump_generation = Script("bump_generation")

    def _run(self, operation: str, fn):
        try:
            trial = self.breaker.before_call()
        except CircuitOpen as exc:
            raise RemoteUnavailable(str(exc)) from exc
        started = time.perf_counter()
        try:
            if trial:
                # After an outage, probe first: closing the breaker runs the recovery hooks (the
                # namespace generation bump) *before* this call reads anything, so it cannot hand
                # out an entry written before the outage.
                self.client.ping()
                self.breaker.success()
            result = fn()
        except ResponseError as exc:
            # Redis answered, refusing this command (e.g. OOM under noeviction): it is reachable, so
            # the breaker stays closed and invalidations (allow-oom scripts) keep working.
            metrics.ERRORS.labels(operation=operation).inc()
            raise RemoteUnavailable(f"{operation}: {exc}") from exc
        except (RedisError, OSError) as exc:
            self.breaker.failure(exc, operation)
            raise RemoteUnavailable(f"{operation}: {exc}") from exc
        self.breaker.success()
        metrics.LATENCY.labels(operation=f"l2_{operation}").observe(time.perf_counter() - started)
        return result

    # -- reads ---------------------------------------------------------------------------------
    def get_many(
        self, model_keys: Sequence[str], gen: int
    ) -> tuple[int, list[bytes | None], list[bytes | None]]:
        """One MGET: (current generation, values under ``gen``, fences). If the generation
        moved, the values are from an orphaned generation and are reported as misses."""
        names = [k.namespace_generation_key()]
        names += [k.value_key(gen, key) for key in model_keys]
        names += [k.fence_key(key) for key in model_keys]
        raw = self._run("mget", lambda: self.client.mget(names))
        current = int(raw[0] or 0)
        n = len(model_keys)
        values = raw[1 : n + 1] if current == gen else [None] * n
        return current, values, raw[n + 1 :]

    def get_refs(self, names: Sequence[str]) -> list[bytes | None]:
        """Plain MGET of id/alias reference keys."""
        return self._run("mget", lambda: self.client.mget(names))

    def generation(self) -> int:
        return int(self._run("get", lambda: self.client.get(k.namespace_generation_key())) or 0)

    def list_get(self, key: str) -> tuple[int, bytes | None]:
        list_gen_key = k.list_generation_key()
        raw = self._run("mget", lambda: self.client.mget([list_gen_key, key]))
        return int(raw[0] or 0), raw[1]

    def list_generation(self) -> int:
        return int(self._run("get", lambda: self.client.get(k.list_generation_key())) or 0)

    # -- fills ---------------------------------------------------------------------------------
    def fill_many(self, entries: Iterable[tuple[AIModelRecord, bytes | None]], gen: int, ttl: int) -> int:
        """Guarded fills in one pipeline; ``entries`` are (record, fence read before the load)."""
        entries = list(entries)
        if not entries:
            return 0

        def work():
            self._fill.ensure_loaded(self.client)
            pipe = self.client.pipeline(transaction=False)
            for record, fence in entries:
                index_keys = [k.provider_index_key(gen, record.provider)]
                index_keys += [k.tag_index_key(gen, tag) for tag in record.tags]
                self._fill.queue(
                    pipe,
                    [
                        k.namespace_generation_key(),
                        k.fence_key(record.key),
                        k.value_key(gen, record.key),
                        k.id_key(gen, record.id),
                        *index_keys,
                    ],
                    [str(gen), (fence or b"").decode(), encode(record), ttl, record.key],
                )
            try:
                return pipe.execute()
            except NoScriptError:
                self._fill.sha = None
                raise

        results = self._run("fill", work)
        return sum(1 for r in results if r == 1)

    def set_refs(self, refs: dict[str, str], ttl: int) -> None:
        """Store id/alias → model key references (immutable facts; no guard needed)."""
        if not refs:
            return

        def work():
            pipe = self.client.pipeline(transaction=False)
            for name, target in refs.items():
                pipe.set(name, target, ex=ttl)
            pipe.execute()

        self._run("set_refs", work)

    def list_set(self, key: str, payload: dict, list_gen: int, ttl: int) -> None:
        body = orjson.dumps({"lg": list_gen, "t": time.time(), **payload})  # t: fill time
        self._run("list_set", lambda: self.client.set(key, body, ex=ttl))

    # -- invalidation --------------------------------------------------------------------------
    def invalidate(self, model_keys: Sequence[str], message: bytes) -> None:
        """Delete, fence and publish ``model_keys`` atomically (works under OOM)."""
        self._run(
            "invalidate",
            lambda: self._invalidate.call(
                self.client,
                [k.namespace_generation_key(), k.list_generation_key()],
                [k.prefix(), k.channel(), message, *model_keys],
            ),
        )

    def invalidate_indexes(self, index_names: Sequence[str]) -> list[str]:
        members = self._run(
            "invalidate_index",
            lambda: self._invalidate_index.call(
                self.client,
                [k.namespace_generation_key(), k.list_generation_key()],
                [k.prefix(), *index_names],
            ),
        )
        return [m.decode() if isinstance(m, bytes) else m for m in members]

    def bump_generation(self) -> int:
        """Orphan every value of the namespace at once (O(1), works under OOM); returns the new
        generation."""
        names = [k.namespace_generation_key(), k.list_generation_key()]
        return int(self._run("bump_generation", lambda: self._bump_generation.call(self.client, names, [])))

    def publish(self, message: bytes) -> None:
        self._run("publish", lambda: self.client.publish(k.channel(), message))

    def delete_pattern(self, pattern: str, *, keep: Sequence[str] = ()) -> int:
        """UNLINK every key matching ``pattern`` (SCAN in batches; never KEYS or FLUSHDB)."""
        keep_set = {name.encode() for name in keep}

        def work():
            removed = 0
            batch = []
            for name in self.client.scan_iter(match=pattern, count=1000):
                if name in keep_set:
                    continue
                batch.append(name)
                if len(batch) >= 1000:
                    removed += self.client.unlink(*batch)
                    batch = []
            if batch:
                removed += self.client.unlink(*batch)
            return removed

        return self._run("delete_pattern", work)

    def count_pattern(self, pattern: str) -> int:
        return self._run("scan", lambda: sum(1 for _ in self.client.scan_iter(match=pattern, count=1000)))

    def index_sizes(self, gen: int, kind: str) -> dict[str, int]:
        """{provider or tag: members} for ``kind`` ``"ip"`` or ``"it"``."""

        def work():
            prefix = f"{k.prefix()}:{gen}:{kind}:"
            names = list(self.client.scan_iter(match=k._glob_escape(prefix) + "*", count=1000))
            if not names:
                return {}
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.scard(name)
            sizes = pipe.execute()
            return {name.decode()[len(prefix) :]: size for name, size in zip(names, sizes, strict=True)}

        return self._run("scan", work)

    def ttl(self, model_key: str, gen: int) -> int | None:
        value = self._run("ttl", lambda: self.client.ttl(k.value_key(gen, model_key)))
        return None if value is None or value < 0 else int(value)

    def expire(self, model_key: str, gen: int, seconds: int) -> bool:
        return bool(self._run("expire", lambda: self.client.expire(k.value_key(gen, model_key), seconds)))

    def exists(self, model_key: str, gen: int) -> bool:
        return bool(self._run("exists", lambda: self.client.exists(k.value_key(gen, model_key))))

    def acquire_lock(self, model_key: str, token: str, ttl_ms: int) -> bool:
        return bool(
            self._run("lock", lambda: self.client.set(k.lock_key(model_key), token, nx=True, px=ttl_ms))
        )

    def release_lock(self, model_key: str) -> None:
        self._run("unlock", lambda: self.client.delete(k.lock_key(model_key)))

    def delete(self, model_keys: Sequence[str], gen: int) -> int:
        if not model_keys:
            return 0
        return int(
            self._run("delete", lambda: self.client.delete(*[k.value_key(gen, key) for key in model_keys]))
        )

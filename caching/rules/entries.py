"""What is cached now, as rules see it: entries (record + cache facts) read without side effects.

The cached entries are those in L2 (Redis, shared by every process) under the current namespace
generation; without Redis (not configured, or unavailable) they are this process's L1 entries.
Reading them changes nothing: values are read with SCAN/MGET (which do not refresh Redis's idle
clock, unlike a read through the cache), L1 membership is tested without touching its LRU order.

This module works on ``model_cache()``'s public parts (``local``, ``remote``, ``gen``) and calls
Redis through ``RemoteCache._run`` so the circuit breaker sees every call; Lua scripts live in
``caching/lua`` like the cache's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from models_registry.conf import registry_settings
from models_registry.records import AIModelRecord, record_from_instance

from .. import keys as k
from ..remote import RemoteUnavailable, Script, decode
from ..service import ModelCache, model_cache

_MGET_CHUNK = 500
_SCRIPTS: dict[str, Script] = {}


def script(name: str) -> Script:
    """A Lua script of ``caching/lua``, loaded once per process."""
    if name not in _SCRIPTS:
        _SCRIPTS[name] = Script(name)
    return _SCRIPTS[name]


@dataclass
class Entry:
    """One model as the cache holds it (or, for keys a rule names explicitly, as the database
    has it when it is not cached: ``cached_l1`` and ``cached_l2`` both false)."""

    key: str
    record: AIModelRecord
    cached_l1: bool = False
    cached_l2: bool = False
    size: int = 0  # bytes of the encoded value in Redis (0 when not there)
    ttl: int | None = None  # seconds left in Redis (filled on demand)
    idle: int | None = None  # seconds since Redis last served it (filled on demand)

    @property
    def provider(self) -> str:
        return self.record.provider

    @property
    def cached(self) -> bool:
        return self.cached_l1 or self.cached_l2

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "provider": self.record.provider,
            "revision": self.record.revision,
            "version": self.record.version,
            "cached_l1": self.cached_l1,
            "cached_l2": self.cached_l2,
            "ttl": self.ttl,
            "idle": self.idle,
        }


@dataclass
class CacheView:
    """Read-only access to the cached entries of one rule evaluation (memoised per evaluation)."""

    cache: ModelCache = field(default_factory=model_cache)
    limit: int = 0
    notes: dict = field(default_factory=dict)  # what strategies measured (shown in dry runs and events)
    degraded: bool = False  # Redis was needed but unavailable: only this process's L1 was seen
    _gen: int | None = None
    _all: dict[str, Entry] | None = None

    def __post_init__(self):
        if not self.limit:
            self.limit = int(registry_settings.RULE_MAX_ENTRIES)

    # -- Redis ---------------------------------------------------------------------------------
    @property
    def remote(self):
        return self.cache.remote if self.cache.enabled else None

    def redis(self, operation: str, fn):
        """Run ``fn`` against Redis through the breaker (raises ``RemoteUnavailable``)."""
        return self.remote._run(f"rules_{operation}", fn)

    @property
    def gen(self) -> int:
        if self._gen is None:
            self._gen = self.cache.gen
            if self.remote is not None:
                try:
                    self._gen = self.remote.generation()
                except RemoteUnavailable:
                    self.degraded = True
        return self._gen

    def _l2_usable(self) -> bool:
        if self.remote is None:
            return False
        _ = self.gen
        return not self.degraded

    # -- entries -------------------------------------------------------------------------------
    def all(self) -> dict[str, Entry]:
        """Every cached entry (at most ``limit``), by model key."""
        if self._all is not None:
            return self._all
        entries: dict[str, Entry] = {}
        if self._l2_usable():
            try:
                entries = self._scan_l2()
            except RemoteUnavailable:
                self.degraded = True
        if not self._l2_usable():
            entries = self._l1_entries()
        self._all = entries
        return entries

    def _scan_l2(self) -> dict[str, Entry]:
        gen = self.gen
        head = k.value_key(gen, "")
        pattern = k._glob_escape(head) + "*"
        client = self.remote.client

        def scan():
            names = []
            for name in client.scan_iter(match=pattern, count=1000):
                names.append(name)
                if len(names) >= self.limit:
                    break
            return names

        names = self.redis("scan", scan)
        if len(names) >= self.limit:
            self.notes["truncated_at"] = self.limit  # RULE_MAX_ENTRIES: the rest was not looked at
        model_keys = [name.decode()[len(head) :] for name in names]
        return self._read_l2(model_keys)

    def _read_l2(self, model_keys: Sequence[str]) -> dict[str, Entry]:
        gen = self.gen
        client = self.remote.client
        out: dict[str, Entry] = {}
        for start in range(0, len(model_keys), _MGET_CHUNK):
            chunk = list(model_keys[start : start + _MGET_CHUNK])
            raws = self.redis(
                "mget", lambda chunk=chunk: client.mget([k.value_key(gen, key) for key in chunk])
            )
            for key, raw in zip(chunk, raws, strict=True):
                record = decode(raw)
                if record is None or record.key != key:
                    continue
                out[key] = Entry(
                    key=key,
                    record=record,
                    cached_l1=("m", key) in self.cache.local,
                    cached_l2=True,
                    size=len(raw),
                )
        return out

    def _l1_entries(self, keys: Iterable[str] | None = None) -> dict[str, Entry]:
        local = self.cache.local
        wanted = [("m", key) for key in keys] if keys is not None else local.keys()
        out: dict[str, Entry] = {}
        for cache_key in wanted:
            if len(out) >= self.limit:
                break
            if not (isinstance(cache_key, tuple) and cache_key[0] == "m" and cache_key in local):
                continue
            value = local.get(cache_key)
            if isinstance(value, AIModelRecord):
                out[cache_key[1]] = Entry(key=cache_key[1], record=value, cached_l1=True)
        return out

    def for_keys(self, keys: Iterable[str], *, load_missing: bool = False) -> dict[str, Entry]:
        """The entries of ``keys`` that are cached; with ``load_missing``, the others too, read from
        the database (keys of models that do not exist are left out)."""
        wanted = [key for key in dict.fromkeys(keys) if isinstance(key, str) and key]
        wanted = wanted[: self.limit]
        out: dict[str, Entry] = {}
        if self._all is not None:
            out = {key: self._all[key] for key in wanted if key in self._all}
        elif self._l2_usable():
            try:
                out = self._read_l2(wanted)
            except RemoteUnavailable:
                self.degraded = True
        if not self._l2_usable():
            out = self._l1_entries(wanted)
        missing = [key for key in wanted if key not in out]
        if load_missing and missing:
            for key, record in load_records(missing).items():
                out[key] = Entry(key=key, record=record, cached_l1=("m", key) in self.cache.local)
        return {key: out[key] for key in wanted if key in out}

    def index_members(self, names: Sequence[str]) -> dict[str, set[str]]:
        """Members of index sets (``"ip:<provider>"``, ``"it:<tag>"``) under the current generation."""
        if not names or not self._l2_usable():
            return {}
        gen = self.gen
        client = self.remote.client

        def work():
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.smembers(f"{k.prefix()}:{gen}:{name}")
            return pipe.execute()

        try:
            results = self.redis("smembers", work)
        except RemoteUnavailable:
            self.degraded = True
            return {}
        return {
            name: {m.decode() if isinstance(m, bytes) else m for m in members}
            for name, members in zip(names, results, strict=True)
        }

    # -- cache facts ---------------------------------------------------------------------------
    def fill_ttl(self, entries: Iterable[Entry]) -> None:
        """Set ``ttl`` (seconds left in Redis; ``None`` if not there or without expiry)."""
        todo = [e for e in entries if e.ttl is None and e.cached_l2]
        if not todo or not self._l2_usable():
            return
        gen = self.gen
        client = self.remote.client

        def work():
            pipe = client.pipeline(transaction=False)
            for entry in todo:
                pipe.ttl(k.value_key(gen, entry.key))
            return pipe.execute()

        try:
            values = self.redis("ttl", work)
        except RemoteUnavailable:
            self.degraded = True
            return
        for entry, value in zip(todo, values, strict=True):
            entry.ttl = int(value) if value is not None and value >= 0 else None

    def fill_idle(self, entries: Iterable[Entry]) -> None:
        """Set ``idle`` (seconds since Redis last served the value: ``OBJECT IDLETIME``; ``None``
        under an LFU eviction policy, where Redis does not track it)."""
        todo = [e for e in entries if e.idle is None and e.cached_l2]
        if not todo or not self._l2_usable():
            return
        gen = self.gen
        client = self.remote.client

        def work():
            pipe = client.pipeline(transaction=False)
            for entry in todo:
                pipe.object("idletime", k.value_key(gen, entry.key))
            return pipe.execute(raise_on_error=False)

        try:
            values = self.redis("idletime", work)
        except RemoteUnavailable:
            self.degraded = True
            return
        for entry, value in zip(todo, values, strict=True):
            entry.idle = int(value) if isinstance(value, int) else None

    def redis_memory(self) -> tuple[int, int] | None:
        """(used_memory, maxmemory) of the Redis server (maxmemory 0 = unlimited), or ``None``."""
        if not self._l2_usable():
            return None
        try:
            info = self.redis("info", lambda: self.remote.client.info("memory"))
        except RemoteUnavailable:
            self.degraded = True
            return None
        return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))


def load_records(keys: Sequence[str]) -> dict[str, AIModelRecord]:
    """Records of ``keys`` straight from the database (the cache is not filled)."""
    from models_registry.models import AIModel

    queryset = (
        AIModel.objects.select_related("provider", "successor")
        .prefetch_related("alternatives", "aliases")
        .filter(key__in=list(keys))
    )
    return {model.key: record_from_instance(model) for model in queryset}

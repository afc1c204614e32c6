"""Benchmark the two-tier model cache on PostgreSQL + Redis and print the figures as JSON.

    .venv/bin/python benchmarks/cache.py [--pg postgres://postgres@127.0.0.1:5432] [--redis URL]

Creates its own database (``bench_cache_<pid>``), migrates it, loads the bundled LiteLLM 1.74.0
catalogue (1,139 models) through ``catalog_import`` and drops the database afterwards. Redis:
``--redis``, else ``REDIS_URL``, else ``redis://127.0.0.1:6379/13``; the cache runs under its own
namespace (``MODEL_REGISTRY["CACHE_NAMESPACE"] = "bench-<pid>"``, every other cache setting at its
default), raw baseline keys live under ``bench-cache-<pid>:``, and every key under both prefixes
is deleted at the end (SCAN + UNLINK, never FLUSHDB).

Latencies (per call, ``perf_counter_ns`` around each call minus the timer's own overhead, µs:
median, p99, mean) are measured in interleaved rounds: every series runs a slice in each of
``--rounds`` rounds, so a raw baseline and the operation it is compared with share the same
machine load. Raw baselines: cachetools ``TTLCache`` get, a ``threading.Lock`` round, redis-py
PING, GET of a payload the size of one encoded model (``caching.remote.encode`` of the
median-size catalogue model), MGET of the three keys an L2 hit reads, MGET of 1,000 encoded
models, orjson decode of one and of 1,000 payloads, Django ORM get by pk. Ours: L1 hit (by key and
by id), L2 hit (L1 cleared before each), miss with database fill (invalidated before each),
``ai_model_get_many`` of 1,000 keys from L2 (L1 cleared before each) and from L1; and, as
components, ``caching.remote.decode`` and ``caching.sizing.deep_sizeof`` of one record.

Then: API retrieve (``GET /api/v1/models/{id}/`` through the in-process DRF ``APIClient`` with
``force_authenticate``: the whole Django/DRF stack, no HTTP server or socket), cache on vs
``CACHE_ENABLED=False``, alternating in three rounds; hit rates of ``ai_model_get`` under a Zipf
(s = 1.1) workload over the catalogue keys, from a cold cache at full speed, and with L1 on a
simulated clock at 100 lookups/s (L2 warm) to show what ``L1_TTL`` costs at a modest request rate;
``model_cache().invalidate_indexes(providers=["bench-x"])`` with 5,000 and with 50,000 models
cached, ``bench-x`` holding 500 of them in both cases, once with only ``bench-x``'s models in L1
and once with L1 full (its byte budget). The 5,000 are created with ``ai_model_bulk_upsert`` and
read through ``ai_model_get_many``; the 45,000 more of the large run are cache-only copies of
them (new keys and ids) put in L2 through ``RemoteCache.fill_many``, the guarded Lua fill a miss
uses (``--db-synthetic`` creates them in the database instead: several minutes more). Runs in
about 2-3 minutes on 2 cores. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import admin_sql, zipf_choices  # benchmarks/ is sys.path[0] as a script

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "models_registry" / "data" / "litellm-1.74.0.json"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
PROVIDER_X = "bench-x"
PROVIDER_OTHER = "bench-other"
# Synthetic models copy these fields from real catalogue models (cycled), so they have real sizes.
COPIED_FIELDS = (
    "display_name",
    "description",
    "mode",
    "context_window",
    "max_output_tokens",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "pricing",
    "supports_streaming",
    "supports_function_calling",
    "supports_vision",
    "capabilities",
    "tags",
    "metadata",
    "documentation_url",
)
TIMER_NS = 0  # the timer's own overhead, measured in main() and subtracted from every sample
BASE_REGISTRY: dict = {}  # the project's MODEL_REGISTRY setting, before the benchmark sets its namespace
PHASES: dict[str, float] = {}


# --- timing ---------------------------------------------------------------------------------------


def _timer_overhead_ns() -> int:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = clock()
        samples.append(clock() - t0)
    return int(statistics.median(samples))


def stats(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]
    return {
        "n": len(ordered),
        "median_us": round(statistics.median(ordered), 3),
        "p99_us": round(p99, 3),
        "mean_us": round(statistics.fmean(ordered), 3),
    }


@dataclass
class Series:
    """One timed operation: ``fn`` per sample, ``before`` untimed before each sample; ``tiers``
    records which cache tiers answered."""

    name: str
    fn: Callable[[], object]
    per_round: int
    before: Callable[[], object] | None = None
    tiers: bool = False
    warmup: int | None = None  # untimed calls per round (default: a tenth of the slice, 2..200)


def run_rounds(series: list[Series], rounds: int) -> dict:
    samples: dict[str, list[float]] = {s.name: [] for s in series}
    tiers: dict[str, dict] = {}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        gc.collect()
        for s in series:
            warmup = max(2, min(s.per_round // 10, 200)) if s.warmup is None else s.warmup
            for _ in range(warmup):
                if s.before is not None:
                    s.before()
                s.fn()
            before_counters = _counters() if s.tiers else None
            out = samples[s.name]
            fn, before = s.fn, s.before
            for _ in range(s.per_round):
                if before is not None:
                    before()
                t0 = clock()
                fn()
                out.append(max(clock() - t0 - TIMER_NS, 0) / 1000)
            if before_counters is not None:
                delta = _delta(before_counters, _counters())
                total = tiers.setdefault(s.name, dict.fromkeys(delta, 0))
                for name, value in delta.items():
                    total[name] += value
    result = {}
    for s in series:
        result[s.name] = stats(samples[s.name])
        if s.name in tiers:
            result[s.name]["tiers"] = tiers[s.name]
    return result


def phase(label: str, fn: Callable, *args, **kwargs):
    """Run one phase, note its wall time (``phase_seconds``) and say so on stderr."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    PHASES[label] = round(time.perf_counter() - started, 2)
    print(f"{label}: {PHASES[label]} s", file=sys.stderr, flush=True)
    return result


# --- setup ----------------------------------------------------------------------------------------


def _setup_django(server: str, name: str, redis_url: str, namespace: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{name}"
    os.environ["REDIS_URL"] = redis_url
    os.environ["CELERY_BROKER_URL"] = ""  # eager: nothing is sent to a broker
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ["DJANGO_DEBUG"] = "false"  # no query log
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from caching.service import reset_model_cache

    # Default cache settings; only the namespace is ours.
    BASE_REGISTRY.update(settings.MODEL_REGISTRY)
    settings.MODEL_REGISTRY = {**BASE_REGISTRY, "CACHE_NAMESPACE": namespace}
    reset_model_cache()
    call_command("migrate", verbosity=0, interactive=False)


def _load_catalogue() -> dict:
    from models_registry.catalog import catalog_import

    started = time.perf_counter()
    report = catalog_import(source=str(BUNDLED), fmt="litellm", reason="cache benchmark")
    return {"summary": report.summary(), "seconds": round(time.perf_counter() - started, 3)}


def _records(providers: list[str] | None = None):
    """Records of the catalogue models (or of ``providers``), by key, straight from the database."""
    from models_registry.models import AIModel, Provider
    from models_registry.records import record_from_instance

    if providers is None:
        synthetic = [PROVIDER_X, PROVIDER_OTHER]
        providers = list(Provider.objects.exclude(slug__in=synthetic).values_list("slug", flat=True))
    rows = (
        AIModel.objects.filter(provider__slug__in=providers)
        .select_related("provider", "successor")
        .prefetch_related("alternatives", "aliases")
        .order_by("key")
    )
    return [record_from_instance(m) for m in rows]


class SubscriberProbe:
    """Counts the invalidation messages this process's subscriber thread has *finished* handling
    (``Subscriber.received`` counts them on arrival) and times the handling."""

    def __init__(self, cache):
        self.handled = 0
        self.durations: list[float] = []
        self.subscriber = cache.subscriber
        self._inner = cache.subscriber.on_message
        cache.subscriber.on_message = self._on_message

    def _on_message(self, data: dict) -> None:
        t0 = time.perf_counter_ns()
        try:
            self._inner(data)
        finally:
            self.durations.append((time.perf_counter_ns() - t0) / 1000)
            self.handled += 1

    def wait(self, seen: int, timeout: float = 5.0) -> int:
        """Wait until a message after the ``seen``-th has been handled; returns the count."""
        from caching.coherence import wait_until

        if not wait_until(lambda: self.handled > seen, timeout, interval=0.0002):
            raise RuntimeError("this process's subscriber did not handle the invalidation message")
        return self.handled

    def close(self) -> None:
        self.subscriber.on_message = self._inner


def _counters() -> dict:
    from caching import metrics

    return {
        "l1_hits": metrics.counter_value(metrics.HITS, tier="l1"),
        "l1_misses": metrics.counter_value(metrics.MISSES, tier="l1"),
        "l2_hits": metrics.counter_value(metrics.HITS, tier="l2"),
        "l2_misses": metrics.counter_value(metrics.MISSES, tier="l2"),
        "db_loads": metrics.counter_value(metrics.DB_LOADS),
    }


def _delta(before: dict, after: dict) -> dict:
    return {name: int(after[name] - before[name]) for name in before}


# --- latencies: raw baselines and ours, interleaved -----------------------------------------------


def latencies(client, prefix: str, median_record, records_1000: list, rounds: int, sizes: dict) -> dict:
    import orjson
    from cachetools import TTLCache

    from caching import keys as k
    from caching.remote import decode, encode
    from caching.service import model_cache
    from caching.sizing import deep_sizeof
    from models_registry.models import AIModel
    from models_registry.selectors import ai_model_get, ai_model_get_many

    cache = model_cache()
    key, pk = median_record.key, median_record.id
    payload = encode(median_record)
    payloads = [encode(r) for r in records_1000]
    keys_1000 = [r.key for r in records_1000]

    ttl_cache = TTLCache(maxsize=4096, ttl=300)
    ttl_cache["k"] = median_record
    lock = threading.Lock()

    def lock_round():
        with lock:
            pass

    one = f"{prefix}raw:one"
    client.set(one, payload)
    names = [f"{prefix}raw:{i}" for i in range(len(payloads))]
    pipe = client.pipeline(transaction=False)
    for name, body in zip(names, payloads, strict=True):
        pipe.set(name, body)
    pipe.execute()
    assert client.mget(names) == payloads
    ai_model_get(key=key)  # subscriber running, generation known, key in both tiers
    l2_names = [k.namespace_generation_key(), k.value_key(cache.gen, key), k.fence_key(key)]
    probe = SubscriberProbe(cache)
    seen = probe.handled

    def invalidate():
        nonlocal seen
        cache.invalidate([key], reason="benchmark")
        seen = probe.wait(seen)  # our own subscriber has handled it: nothing runs meanwhile

    fast, redis_n, batch, db = sizes["fast"], sizes["redis"], sizes["batch"], sizes["db"]
    series = [
        Series("ttlcache_get", lambda: ttl_cache.get("k"), fast),
        Series("lock_round", lock_round, fast),
        Series("redis_ping", client.ping, redis_n),
        Series("redis_get", lambda: client.get(one), redis_n),
        Series("redis_mget_3", lambda: client.mget(l2_names), redis_n),
        Series("orjson_decode", lambda: orjson.loads(payload), redis_n),
        Series("record_decode", lambda: decode(payload), redis_n),
        Series("deep_sizeof", lambda: deep_sizeof(median_record), redis_n),
        Series("l1_hit", lambda: ai_model_get(key=key), fast, tiers=True),
        Series("l1_hit_by_id", lambda: ai_model_get(id=pk), fast),
        Series("l2_hit", lambda: ai_model_get(key=key), redis_n, before=cache.local.clear, tiers=True),
        Series("redis_mget_1000", lambda: client.mget(names), batch),
        Series("orjson_decode_1000", lambda: [orjson.loads(p) for p in payloads], batch),
        Series(
            "get_many_1000_l2",
            lambda: ai_model_get_many(keys=keys_1000),
            batch,
            before=cache.local.clear,
            tiers=True,
            warmup=1,
        ),
        Series("get_many_1000_l1", lambda: ai_model_get_many(keys=keys_1000), batch, tiers=True, warmup=1),
        Series("orm_get_pk", lambda: AIModel.objects.get(pk=pk), db),
        Series("miss_db_fill", lambda: ai_model_get(key=key), db, before=invalidate, tiers=True),
    ]
    try:
        figures = run_rounds(series, rounds)
    finally:
        probe.close()
    baselines = {
        name: figures.pop(name)
        for name in [
            "ttlcache_get",
            "lock_round",
            "redis_ping",
            "redis_get",
            "redis_mget_3",
            "redis_mget_1000",
            "orjson_decode",
            "orjson_decode_1000",
            "orm_get_pk",
        ]
    }
    components = {name: figures.pop(name) for name in ["record_decode", "deep_sizeof"]}
    return {
        "payload_bytes": len(payload),
        "mget_1000_bytes": sum(len(p) for p in payloads),
        "baselines": baselines,
        "ours": figures,
        "components": components,
    }


# --- API ------------------------------------------------------------------------------------------


def api_throughput(ids: list[int], requests: dict, rounds: int) -> dict:
    """``GET /api/v1/models/{id}/`` in process, one thread; cache on and off alternate per round."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import override_settings
    from rest_framework.test import APIClient

    from caching.service import model_cache

    user, _ = get_user_model().objects.get_or_create(username="bench-reader")
    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(user=user)
    figures = {"cached": {"lat": [], "seconds": 0.0, "n": 0, "queries": 0, "tiers": None, "warm": []}}
    figures["uncached"] = {"lat": [], "seconds": 0.0, "n": 0, "queries": 0, "tiers": None, "warm": []}

    def run(mode: str, n: int, offset: int) -> None:
        acc = figures[mode]
        warm_ids = ids if model_cache().enabled else ids[:10]
        started = time.perf_counter()
        for model_id in warm_ids:  # a fresh cache object per settings change: fill its L1 (from L2)
            assert client.get(f"/api/v1/models/{model_id}/").status_code == 200
        acc["warm"].append(round(time.perf_counter() - started, 2))
        urls = [f"/api/v1/models/{ids[(offset + i) % len(ids)]}/" for i in range(n)]
        queries = 0

        def count(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        before = _counters()
        clock = time.perf_counter_ns
        gc.collect()
        with connection.execute_wrapper(count):
            started = time.perf_counter()
            for url in urls:
                t0 = clock()
                response = client.get(url)
                acc["lat"].append(max(clock() - t0 - TIMER_NS, 0) / 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code}")
            acc["seconds"] += time.perf_counter() - started
        acc["n"] += n
        acc["queries"] += queries
        delta = _delta(before, _counters())
        acc["tiers"] = delta if acc["tiers"] is None else {x: acc["tiers"][x] + delta[x] for x in delta}

    for r in range(rounds):
        with override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "CACHE_ENABLED": False}):
            assert not model_cache().enabled
            run("uncached", requests["uncached"], r * 131)
        assert model_cache().enabled
        run("cached", requests["cached"], r * 131)

    out = {
        "client": "in-process rest_framework.test.APIClient (Django test handler: full middleware and "
        "DRF stack, no HTTP server, no socket), force_authenticate, one thread",
        "ids": len(ids),
        "rounds": rounds,
    }
    for mode, acc in figures.items():
        out[mode] = {
            **stats(acc["lat"]),
            "requests_per_s": round(acc["n"] / acc["seconds"], 1),
            "queries_per_request": round(acc["queries"] / acc["n"], 2),
            "tiers": acc["tiers"],
            "warm_up_seconds": acc["warm"],
        }
    out["ratio_throughput"] = round(out["cached"]["requests_per_s"] / out["uncached"]["requests_per_s"], 2)
    return out


# --- hit rate under Zipf --------------------------------------------------------------------------


def zipf_workload(keys: list[str], lookups: int, s: float, seed: int) -> list[str]:
    return zipf_choices(keys, lookups, s, random.Random(seed))


def hit_rate(workload: list[str], *, simulated_rate: float | None = None) -> dict:
    """Hit rates of ``ai_model_get`` over ``workload``.

    Default: from a cold cache (both tiers empty), at full speed. ``simulated_rate``: from a cold
    L1 but L2 as the previous run left it, with L1 on a simulated clock advancing 1/rate s per
    lookup, so the L1 TTL plays the part it has at that request rate (L2 TTLs stay in Redis time)."""
    from caching.local import LocalCache
    from caching.service import model_cache
    from models_registry.selectors import ai_model_get

    cache = model_cache()
    if not simulated_rate:
        cache.invalidate_all(reason="benchmark: cold start")
    now = [0.0]
    real = cache.local
    if simulated_rate:
        cache.local = LocalCache(max_bytes=real.max_bytes, ttl=real.ttl, timer=lambda: now[0])
    step = 1.0 / simulated_rate if simulated_rate else 0.0
    before = _counters()
    started = time.perf_counter()
    try:
        for key in workload:
            ai_model_get(key=key)
            now[0] += step
    finally:
        cache.local = real
    seconds = time.perf_counter() - started
    d = _delta(before, _counters())
    n = len(workload)
    distinct = len(set(workload))
    out = {
        "lookups": n,
        "distinct_keys": distinct,
        "seconds": round(seconds, 2),
        **d,
        "l1_hit_rate": round(d["l1_hits"] / n, 4),
        "l2_hit_rate_of_l1_misses": round(d["l2_hits"] / max(d["l1_misses"], 1), 4),
        "hit_rate": round((d["l1_hits"] + d["l2_hits"]) / n, 4),  # either tier
    }
    if not simulated_rate:
        out["best_possible_hit_rate"] = round(1 - distinct / n, 4)  # every key's first lookup misses
    else:
        out["simulated_lookups_per_s"] = simulated_rate
        out["simulated_seconds"] = round(n / simulated_rate, 1)
    return out


# --- invalidate a provider with 5k vs 50k models cached -------------------------------------------


def create_synthetic(provider: str, start: int, count: int, templates: list[dict]) -> float:
    from models_registry.services import ai_model_bulk_upsert
    from models_registry.services.bulk import BulkItem

    started = time.perf_counter()
    for chunk in range(start, start + count, 5000):
        items = [
            BulkItem(
                provider=provider,
                name=f"synthetic-{i:06d}",
                fields={**templates[i % len(templates)], "source_id": f"{provider}/synthetic-{i:06d}"},
            )
            for i in range(chunk, min(chunk + 5000, start + count))
        ]
        result = ai_model_bulk_upsert(items=items, reason="cache benchmark", source="system", batch_size=1000)
        assert len(result.created) == len(items), result.errors[:3]
    return time.perf_counter() - started


def _synthetic_keys(provider: str) -> list[str]:
    from models_registry.models import AIModel

    return list(AIModel.objects.filter(provider__slug=provider).order_by("key").values_list("key", flat=True))


def clone_records(templates: list, count: int) -> list:
    """``count`` records of provider ``bench-other`` that exist only in the cache: copies of
    ``templates`` (real records, so real sizes) under new keys and ids."""
    import dataclasses

    out = []
    for i in range(count):
        name = f"clone-{i:06d}"
        out.append(
            dataclasses.replace(
                templates[i % len(templates)],
                id=50_000_000 + i,
                key=f"{PROVIDER_OTHER}/{name}",
                name=name,
                provider=PROVIDER_OTHER,
                source_id=f"{PROVIDER_OTHER}/{name}",
            )
        )
    return out


def _fill_l2(cache, records: list) -> None:
    """Put ``records`` in L2 through the cache's own guarded fill (the Lua call a miss uses)."""
    for i in range(0, len(records), 1000):
        chunk = records[i : i + 1000]
        _, _, fences = cache.remote.get_many([r.key for r in chunk], cache.gen)
        stored = cache.remote.fill_many(zip(chunk, fences, strict=True), cache.gen, cache.l2_ttl)
        assert stored == len(chunk), (stored, len(chunk))


def _use_namespace(namespace: str, **extra) -> None:
    """Point the key builders (``caching.keys`` reads the setting on every call) at ``namespace``
    without resetting the process's cache object; ``extra``: other settings, until the next call."""
    from django.conf import settings

    settings.MODEL_REGISTRY = {**BASE_REGISTRY, "CACHE_NAMESPACE": namespace, **extra}


class CachedSet:
    """One of the two cache states compared: its own namespace and its own ``ModelCache`` (so its
    own L1 and subscriber thread), holding exactly ``db_keys`` (read from the database through the
    cache) + ``clones`` (filled into L2). Its L1 is built with ``L1_TTL`` = 1 hour, so the L1 state
    set up for a measurement does not expire while the other set is measured (the TTL plays no
    part in what an invalidation costs); every other setting is the default."""

    def __init__(self, label: str, namespace: str, db_keys: list[str], clones: list):
        from caching import keys as k
        from caching.service import ModelCache
        from caching.sizing import deep_sizeof
        from models_registry.selectors import _load_records

        self.label, self.namespace = label, namespace
        _use_namespace(namespace, L1_TTL=3600.0)
        self.cache = cache = ModelCache()
        _use_namespace(namespace)
        started = time.perf_counter()
        records = []
        for i in range(0, len(db_keys), 1000):
            records.extend(cache.get_many(db_keys[i : i + 1000], _load_records).values())
        _fill_l2(cache, clones)
        self.fill_seconds = time.perf_counter() - started
        self.l2_values = cache.remote.count_pattern(f"{k._glob_escape(k.prefix())}:{cache.gen}:m:*")
        self.models = len(records) + len(clones)
        self.in_database = len(records)
        self.x_records = [r for r in records if r.provider == PROVIDER_X]
        self.x_index = k.provider_index_key(cache.gen, PROVIDER_X)
        others = [r for r in records if r.provider != PROVIDER_X] + clones
        # L1 top-up pool: other cached models, as many as fit next to X's in the L1 byte budget.
        entry = statistics.median(deep_sizeof(r) + deep_sizeof(("m", r.key)) for r in others[:200])
        room = min(int(0.95 * cache.local.max_bytes / entry) - len(self.x_records), len(others))
        self.pool = {("m", r.key): r for r in others[:room]}
        self.probe = SubscriberProbe(cache)
        self.seen = self.probe.handled
        # The two halves inside the call: the L1 scan and the Lua call on Redis.
        self.parts: dict[str, list[float]] = {"l1_scan": [], "l2_lua": []}
        cache.local.invalidate_where = self._timed("l1_scan", cache.local.invalidate_where)
        cache.remote.invalidate_indexes = self._timed("l2_lua", cache.remote.invalidate_indexes)
        self.figures = {
            v: {"total": [], "l1_scan": [], "l2_lua": [], "subscriber": [], "handling": [], "l1_entries": []}
            for v in ("l1_provider_only", "l1_full")
        }

    def _timed(self, name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.parts[name].append((time.perf_counter_ns() - t0) / 1000)

        return wrapper

    def measure(self, variant: str, keep: bool) -> None:
        """Put X's models back in both tiers, set up L1 for ``variant``, time the invalidation."""
        _use_namespace(self.namespace)
        cache = self.cache
        if variant == "l1_full":
            cache.local.set_many({key: r for key, r in self.pool.items() if key not in cache.local})
        else:
            cache.local.clear()
        _fill_l2(cache, self.x_records)
        cache.local.set_many({("m", r.key): r for r in self.x_records})
        assert cache.remote.client.scard(self.x_index) == len(self.x_records)
        entries = len(cache.local)
        self.parts["l1_scan"].clear()
        self.parts["l2_lua"].clear()
        gc.collect()
        t0 = time.perf_counter_ns()
        members = cache.invalidate_indexes(providers=[PROVIDER_X], reason="benchmark")
        total = max(time.perf_counter_ns() - t0 - TIMER_NS, 0) / 1000
        assert len(members) == len(self.x_records)
        t1 = time.perf_counter()
        self.seen = self.probe.wait(self.seen)  # this cache's subscriber drops them too (its own scan)
        if keep:
            acc = self.figures[variant]
            acc["subscriber"].append((time.perf_counter() - t1) * 1e6)
            acc["handling"].append(self.probe.durations[-1])
            acc["total"].append(total)
            acc["l1_scan"].append(self.parts["l1_scan"][0])
            acc["l2_lua"].append(self.parts["l2_lua"][0])
            acc["l1_entries"].append(entries)

    def close(self) -> dict:
        cache = self.cache
        del cache.local.invalidate_where, cache.remote.invalidate_indexes
        self.probe.close()
        cache.close()
        out = {
            "namespace": self.namespace,
            "models_cached": self.models,
            "of_which_in_database": self.in_database,
            "l2_model_values": self.l2_values,
            "provider_models": len(self.x_records),
            "fill_seconds": round(self.fill_seconds, 2),
        }
        for variant, acc in self.figures.items():
            entries = int(statistics.median(acc["l1_entries"]))
            out[variant] = {
                "l1_entries_at_call": entries,
                "total": stats(acc["total"]),
                "l1_scan": stats(acc["l1_scan"]),
                "l1_scan_us_per_entry": round(statistics.median(acc["l1_scan"]) / entries, 2),
                "l2_lua": stats(acc["l2_lua"]),
                "own_subscriber_done_after": stats(acc["subscriber"]),
                "subscriber_handling": stats(acc["handling"]),  # what every process pays per message
            }
        return out


def invalidate_provider(
    namespace: str, small_keys: list[str], large_keys: list[str], clones: list, reps: int
):
    """``ModelCache.invalidate_indexes(providers=["bench-x"])`` with the small and the large set
    cached side by side (two namespaces), repetitions alternating between them so both see the
    same machine load; in each, ``l1_provider_only`` (L1 holds X's models only) and ``l1_full``
    (L1 also topped up with other cached models up to its byte budget, as a busy process's L1)."""
    sets = {}
    try:
        sets["small"] = CachedSet("small", f"{namespace}.small", small_keys, [])
        sets["large"] = CachedSet("large", f"{namespace}.large", large_keys, clones)
        gc.collect()
        gc.freeze()  # the ~100k objects set up above are not rescanned by every collection
        for rep in range(reps + 1):  # the first is a warm-up
            for variant in ("l1_provider_only", "l1_full"):
                for cached in sets.values():
                    cached.measure(variant, keep=rep > 0)
    finally:
        gc.unfreeze()
        out = {label: cached.close() for label, cached in sets.items()}
        _use_namespace(namespace)
    for variant in ("l1_provider_only", "l1_full"):
        # rep by rep, large / small measured back to back: robust to load that drifts over the run
        pairs = zip(
            sets["large"].figures[variant]["total"], sets["small"].figures[variant]["total"], strict=True
        )
        out[f"growth_{variant}"] = {
            "total_paired": round(statistics.median(a / b for a, b in pairs), 3),
            **{
                part: round(
                    out["large"][variant][part]["median_us"] / out["small"][variant][part]["median_us"], 3
                )
                for part in ("total", "l1_scan", "l2_lua")
            },
        }
    return out


# --- cleanup --------------------------------------------------------------------------------------


def _delete_keys(client, patterns: list[str]) -> int:
    removed = 0
    for pattern in patterns:
        batch = []
        for name in client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                removed += client.unlink(*batch)
                batch = []
        if batch:
            removed += client.unlink(*batch)
    return removed


# --- main -----------------------------------------------------------------------------------------


def _target(name: str, measured: float, limit: float, op: str, detail: str) -> dict:
    ok = measured <= limit if op == "<=" else measured >= limit
    return {
        "target": name,
        "measured": round(measured, 4),
        "limit": f"{op} {limit:g}",
        "pass": ok,
        "detail": detail,
    }


def targets(lat: dict, api: dict, zipf: dict, inval: dict) -> list[dict]:
    base, ours = lat["baselines"], lat["ours"]
    ping = base["redis_ping"]["median_us"]
    mget, decode = base["redis_mget_1000"]["median_us"], base["orjson_decode_1000"]["median_us"]
    small, large = inval["small"]["l1_full"]["total"], inval["large"]["l1_full"]["total"]
    growth = inval["growth_l1_full"]["total_paired"]
    full = zipf["full_speed"]
    return [
        _target(
            "L1 hit <= 1/20 of a Redis PING",
            ours["l1_hit"]["median_us"] / ping,
            1 / 20,
            "<=",
            f"l1_hit {ours['l1_hit']['median_us']} us / PING {ping} us",
        ),
        _target(
            "L2 hit <= 1.3 x PING",
            ours["l2_hit"]["median_us"] / ping,
            1.3,
            "<=",
            f"l2_hit {ours['l2_hit']['median_us']} us / PING {ping} us",
        ),
        _target(
            "get_many(1000) from L2 <= 2 x (raw MGET(1000) + decoding)",
            ours["get_many_1000_l2"]["median_us"] / (mget + decode),
            2.0,
            "<=",
            f"get_many {ours['get_many_1000_l2']['median_us']} us / (MGET {mget} + orjson {decode}) us",
        ),
        _target(
            "cached API retrieve >= 3 x uncached throughput",
            api["ratio_throughput"],
            3.0,
            ">=",
            f"{api['cached']['requests_per_s']} req/s vs {api['uncached']['requests_per_s']} req/s",
        ),
        _target(
            "invalidate-provider time grows <= 1.5 x from 5k to 50k cached (L1 full)",
            growth,
            1.5,
            "<=",
            f"median of paired ratios; medians {large['median_us']} us vs {small['median_us']} us "
            f"(L1 entries {inval['large']['l1_full']['l1_entries_at_call']} vs "
            f"{inval['small']['l1_full']['l1_entries_at_call']}), {inval['small']['provider_models']} "
            f"models of the provider in both; with only its models in L1: "
            f"{inval['growth_l1_provider_only']['total_paired']}",
        ),
        _target(
            "hit rate >= 95 % (Zipf s=1.1, default settings)",
            full["hit_rate"],
            0.95,
            ">=",
            f"L1 {full['l1_hit_rate']}, L2 {full['l2_hit_rate_of_l1_misses']} of L1 misses, "
            f"{full['lookups']} lookups",
        ),
    ]


def main() -> None:
    global TIMER_NS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL.")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS, help="Redis URL.")
    parser.add_argument("--rounds", type=int, default=10, help="Interleaved rounds of the latency series.")
    parser.add_argument("--lookups", type=int, default=100_000, help="Zipf workload length.")
    parser.add_argument("--small", type=int, default=5_000, help="Models cached in the small run.")
    parser.add_argument("--large", type=int, default=50_000, help="Models cached in the large run.")
    parser.add_argument("--provider-models", type=int, default=500, help="Models of provider X.")
    parser.add_argument("--reps", type=int, default=20, help="Invalidations per size and L1 state.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--db-synthetic",
        action="store_true",
        help="Create all synthetic models of the large run in the database (slow: minutes).",
    )
    args = parser.parse_args()

    rounds = max(1, args.rounds)
    sizes = {  # samples per round
        "fast": 20_000 // rounds,
        "redis": 3_000 // rounds,
        "batch": max(1, 40 // rounds),
        "db": 300 // rounds,
    }
    started = time.perf_counter()
    TIMER_NS = _timer_overhead_ns()
    pid = os.getpid()
    name = f"bench_cache_{pid}"
    namespace = f"bench-{pid}"
    raw_prefix = f"bench-cache-{pid}:"
    admin_sql(args.pg, f'CREATE DATABASE "{name}"')
    client = None
    removed = 0
    try:
        _setup_django(args.pg, name, args.redis, namespace)
        from django.db import connection

        from caching import keys as k
        from caching.remote import encode
        from caching.service import model_cache
        from models_registry.records import record_to_dict

        loaded = phase("load catalogue", _load_catalogue)
        cache = model_cache()
        assert cache.remote is not None, "no L2: REDIS_URL / CACHES['model_registry'] missing"
        client = cache.remote.client
        records = _records()
        by_size = sorted(records, key=lambda r: (len(encode(r)), r.key))
        median_record = by_size[len(by_size) // 2]

        lat = phase("latencies", latencies, client, raw_prefix, median_record, records[:1000], rounds, sizes)
        api_ids = [r.id for r in random.Random(args.seed).sample(records, 500)]
        api = phase("api", api_throughput, api_ids, {"cached": 800, "uncached": 150}, 3)

        catalogue_keys = [r.key for r in records]
        workload = zipf_workload(catalogue_keys, args.lookups, 1.1, args.seed)
        zipf = {
            "s": 1.1,
            "keys": len(catalogue_keys),
            "full_speed": phase("zipf", hit_rate, workload),
            "simulated_100_per_s_l2_warm": phase(
                "zipf simulated", hit_rate, workload[: args.lookups // 4], simulated_rate=100.0
            ),
        }

        templates = [{f: record_to_dict(r)[f] for f in COPIED_FIELDS} for r in records]
        x_n, other_small = args.provider_models, args.small - args.provider_models
        other_large = args.large - args.provider_models
        seconds = phase("create small", create_synthetic, PROVIDER_X, 0, x_n, templates)
        seconds += create_synthetic(PROVIDER_OTHER, 0, other_small, templates)
        small_keys = _synthetic_keys(PROVIDER_X) + _synthetic_keys(PROVIDER_OTHER)
        large_keys, clones = small_keys, []
        if args.db_synthetic:
            extra = other_large - other_small
            seconds += phase("create large", create_synthetic, PROVIDER_OTHER, other_small, extra, templates)
            large_keys = _synthetic_keys(PROVIDER_X) + _synthetic_keys(PROVIDER_OTHER)
        else:
            clones = clone_records(_records([PROVIDER_OTHER]), other_large - other_small)
        inval = phase("invalidate", invalidate_provider, namespace, small_keys, large_keys, clones, args.reps)
        inval["synthetic_models"] = (
            "all created with ai_model_bulk_upsert"
            if args.db_synthetic
            else f"{x_n + other_small} created with ai_model_bulk_upsert; the large set adds "
            f"{len(clones)} cache-only copies of them (new keys and ids) filled into L2 with "
            "RemoteCache.fill_many (--db-synthetic: create them in the database instead)"
        )
        inval["create_synthetic_seconds"] = round(seconds, 1)

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
        import django

        checks = targets(lat, api, zipf, inval)
        document = {
            "environment": {
                "python": sys.version.split()[0],
                "django": django.get_version(),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                "postgresql": pg_version,
                "redis": client.info("server")["redis_version"],
                "redis_url": args.redis,
                "namespace": namespace,
                "settings": "config.settings.dev, DEBUG off, default MODEL_REGISTRY cache settings",
                "timer_overhead_ns_subtracted": TIMER_NS,
                "rounds": rounds,
            },
            "catalogue": {**loaded, "models": len(records), "median_model_key": median_record.key},
            **lat,
            "api_retrieve": api,
            "hit_rate": zipf,
            "invalidate_provider": inval,
            "targets": checks,
            "passed": f"{sum(t['pass'] for t in checks)}/{len(checks)}",
        }
    finally:
        try:
            from caching.service import reset_model_cache

            reset_model_cache()  # stops the subscriber thread
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        if client is not None:
            ours = k._glob_escape(f"mr:{k.VERSION}:{namespace}")  # and its ".small" / ".large" siblings
            removed = _delete_keys(client, [f"{ours}:*", f"{ours}.*", f"{k._glob_escape(raw_prefix)}*"])
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001
            pass
        admin_sql(args.pg, f'DROP DATABASE IF EXISTS "{name}"')
    document["redis_keys_deleted"] = removed
    document["phase_seconds"] = PHASES
    document["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()

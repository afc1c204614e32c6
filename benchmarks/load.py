"""Load figures of the HTTP API: gunicorn on loopback, the real catalogue, cache on vs off, a write storm.

    .venv/bin/python benchmarks/load.py [--duration 6] [--concurrency 16] [--workers 2]  # make bench-load

Creates its own PostgreSQL database (``mr_bench_load_<pid>``; ``--pg`` server URL), migrates it,
imports the bundled LiteLLM 1.74.0 catalogue (1,139 models) with ``catalog_import`` and creates two
staff users with API tokens (a writer and an approver: rollbacks need four eyes). Redis: ``--redis``
(default ``redis://127.0.0.1:6379/12``), everything under the namespace and key prefixes
``bench-load-<pid>``; those keys are deleted at the end (SCAN + UNLINK) and the database dropped.

It starts two ``gunicorn -c config/gunicorn.conf.py`` servers (``load_server.py``; ``--workers``
processes × ``--threads`` threads, 127.0.0.1, spare ports, settings ``load_settings.py``: no rate
limits): one with ``MODEL_REGISTRY_CACHE_ENABLED=False``, one with the cache on (L1 + Redis L2, L2
filled with the catalogue first). The client is asyncio + httpx with ``--concurrency``
connections; keys are drawn Zipf-like (s = 1.1) over the catalogue, as in ``benchmarks/cache.py``.
Read phases: ``retrieve`` (``GET /api/v1/models/{id}/``), ``by_key`` (``/models/by-key/{key}``),
``list`` (provider and mode filters, ordering, ``limit=20`` pages), after a warm-up, in
``--rounds`` interleaved rounds (each round a slice of every server × phase, so cached and
uncached share the machine load), each slice first with one connection (latency with no queue),
then with all; bounded by ``--probe`` / ``--duration`` seconds and ``--max-requests`` requests
per phase. Then, on the cached server: a write storm
(``--writers`` connections PATCH hot models with ``If-Match`` and ``X-Change-Reason`` as fast as
they can while the other connections read them; every read is checked against the writes that had
completed before it was sent: a read older than those is ``stale``), and ``--rollbacks`` rollbacks
(requested by the writer, approved by the approver, checked against the target version).

Figures: req/s and latency (p50 / p90 / p99 / mean, ms) per phase, cache hit rate per phase from the
servers' Prometheus counters (multiprocess directory, summed over the workers), SQL queries per
request, raw baselines measured in the same run in this process (ORM get by pk, the list query,
Redis GET), cached / uncached ratios; last, a consistency check: every model's API value (through
the cached server) equals the database, versions are gap-free per model, every version has an
actor and a reason. Prints one JSON document with ``targets`` (the seed figures) pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import admin_sql, zipf_choices  # benchmarks/ is sys.path[0] as a script
from load_server import Server, cache_delta, cache_summary

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "models_registry" / "data" / "litellm-1.74.0.json"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
REASON = "load benchmark"
PHASES = ("retrieve", "by_key", "list")


# --- statistics -----------------------------------------------------------------------------------


def pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def latency(samples_ms: list[float]) -> dict:
    if not samples_ms:
        return {"n": 0}
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(pct(ordered, 0.90), 3),
        "p99_ms": round(pct(ordered, 0.99), 3),
        "avg_ms": round(statistics.fmean(ordered), 3),
    }


# --- setup ----------------------------------------------------------------------------------------


def server_env(database_url: str, redis_url: str, namespace: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": "",
        "DJANGO_SETTINGS_MODULE": "load_settings",
        "DJANGO_DEBUG": "false",
        "MR_BENCH_NAMESPACE": namespace,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)]),
    }


def setup_django(env: dict) -> None:
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def seed() -> dict:
    """The catalogue, two staff users with tokens; returns what the client needs."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from models_registry.catalog import catalog_import
    from models_registry.models import AIModel

    started = time.perf_counter()
    report = catalog_import(source=str(BUNDLED), fmt="litellm", reason=REASON)
    seconds = round(time.perf_counter() - started, 2)
    users = get_user_model().objects
    tokens = {}
    for name in ("bench-writer", "bench-approver"):
        user = users.create_superuser(name, f"{name}@example.invalid", None)
        tokens[name] = Token.objects.create(user=user).key
    models = list(AIModel.objects.filter(is_active=True).values_list("id", "key", "provider__slug", "mode"))
    return {"import": {"summary": report.summary(), "seconds": seconds}, "tokens": tokens, "models": models}


def baselines(models: list, redis_url: str, rng: random.Random) -> dict:
    """Raw figures in this process: ORM get by pk, the list page query, a Redis GET (ms)."""
    import redis
    from django.db import connections

    from models_registry.models import AIModel

    ids = [m[0] for m in rng.sample(models, 300)]
    providers = sorted({m[2] for m in models})
    out: dict[str, list[float]] = {"orm_get_by_pk": [], "orm_list_page": [], "redis_get": []}
    for pk in ids:
        t0 = time.perf_counter()
        AIModel.objects.select_related("provider", "successor").get(pk=pk)
        out["orm_get_by_pk"].append((time.perf_counter() - t0) * 1000)
    for i in range(150):
        t0 = time.perf_counter()
        qs = AIModel.objects.filter(provider__slug=providers[i % len(providers)], is_active=True)
        list(qs.select_related("provider").prefetch_related("alternatives").order_by("key")[:20])
        qs.count()
        out["orm_list_page"].append((time.perf_counter() - t0) * 1000)
    client = redis.Redis.from_url(redis_url)
    client.set("bench-load-baseline", b"x" * 863, ex=60)
    for _ in range(1000):
        t0 = time.perf_counter()
        client.get("bench-load-baseline")
        out["redis_get"].append((time.perf_counter() - t0) * 1000)
    client.delete("bench-load-baseline")
    client.close()
    connections.close_all()
    return {name: latency(values) for name, values in out.items()}


# --- the client -----------------------------------------------------------------------------------


async def run_phase(
    base_url: str,
    token: str,
    requests: list[str],
    *,
    concurrency: int,
    duration: float,
    max_requests: int,
    on_response: Callable | None = None,
) -> dict:
    """GET ``requests`` (cycled) with ``concurrency`` connections until ``duration`` or ``max_requests``."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Token {token}"}
    samples: list[float] = []
    errors: dict[str, int] = {}
    state = {"next": 0}
    deadline = time.perf_counter() + duration
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:

        async def connection() -> None:
            while time.perf_counter() < deadline and state["next"] < max_requests:
                path = requests[state["next"] % len(requests)]
                state["next"] += 1
                t0 = time.perf_counter()
                try:
                    response = await client.get(path)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
                    continue
                samples.append(elapsed)
                if on_response is not None:
                    on_response(path, t0, response)

        started = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(connection() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return summary(samples, errors, wall, cpu)


def summary(samples: list[float], errors: dict, wall: float, cpu: float) -> dict:
    return {
        "requests": len(samples),
        "errors": errors,
        "seconds": round(wall, 2),
        "throughput_rps": round(len(samples) / wall, 1) if wall else None,
        **latency(samples),
        "client_cpu_share": round(cpu / wall, 2) if wall else None,
        "_raw": (samples, errors, wall, cpu),
    }


class Merged:
    """Slices of one (server, phase) series run in several rounds, summed."""

    def __init__(self):
        self.samples: list[float] = []
        self.errors: dict[str, int] = {}
        self.wall = self.cpu = 0.0

    def add(self, figures: dict) -> None:
        samples, errors, wall, cpu = figures["_raw"]
        self.samples += samples
        for k, v in errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.wall += wall
        self.cpu += cpu

    def figures(self) -> dict:
        out = summary(self.samples, self.errors, self.wall, self.cpu)
        del out["_raw"]
        return out


def workloads(models: list, n: int, rng: random.Random) -> dict[str, list[str]]:
    from urllib.parse import quote

    picks = zipf_choices(models, n, 1.1, rng)
    providers = zipf_choices(sorted({m[2] for m in models}), n // 10 + 1, 1.1, rng)
    orderings = ["key", "-updated_at", "context_window", "-input_cost_per_1m"]
    lists = []
    for i, provider in enumerate(providers):
        mode = "&mode=chat" if i % 2 else ""
        lists.append(f"/api/v1/models/?provider={provider}{mode}&ordering={orderings[i % 4]}&limit=20")
    return {
        "retrieve": [f"/api/v1/models/{m[0]}/" for m in picks],
        "by_key": [f"/api/v1/models/by-key/{quote(m[1], safe='/:@')}" for m in picks],
        "list": lists,
    }


def warm_l2(models: list) -> dict:
    """Fill L2 with every catalogue model, as a deployment that has been serving for a while has
    it (``ai_model_get_many``: one MGET, one query, one pipelined fill); each worker's L1 starts cold."""
    from models_registry.selectors import ai_model_get_many

    started = time.perf_counter()
    found = ai_model_get_many(keys=[m[1] for m in models])
    return {
        "models": sum(1 for r in found.values() if r is not None),
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_interleaved(servers: dict[str, Server], token: str, work: dict, args) -> dict:
    """The read phases on every server, in ``--rounds`` rounds: each round runs a slice of each
    (server, phase), the servers' order alternating, so cached and uncached share the machine load."""
    mixed = [p for trio in zip(work["retrieve"], work["by_key"], work["list"], strict=False) for p in trio]
    for server in servers.values():
        asyncio.run(
            run_phase(
                server.url,
                token,
                mixed,
                concurrency=args.concurrency,
                duration=args.warmup,
                max_requests=10**9,
            )
        )
    labels = list(servers)
    rounds = max(1, args.rounds)
    loaded = {(label, name): Merged() for label in labels for name in PHASES}
    probes = {(label, name): Merged() for label in labels for name in PHASES}
    caches: dict[tuple, list[dict]] = {key: [] for key in loaded}
    for r in range(rounds):
        for name in PHASES:
            for label in labels if r % 2 == 0 else labels[::-1]:
                server = servers[label]
                paths = work[name][r::rounds]
                probes[label, name].add(  # one connection: the latency of a request nobody queues behind
                    asyncio.run(
                        run_phase(
                            server.url, token, paths[::-1], concurrency=1, duration=args.probe / rounds,
                            max_requests=2000,
                        )
                    )
                )  # fmt: skip
                before = server.counters()
                loaded[label, name].add(
                    asyncio.run(
                        run_phase(
                            server.url, token, paths, concurrency=args.concurrency,
                            duration=args.duration / rounds, max_requests=args.max_requests // rounds,
                        )
                    )
                )  # fmt: skip
                caches[label, name].append(cache_delta(before, server.counters(), raw=True))
    out: dict[str, dict] = {label: {} for label in labels}
    for (label, name), merged in loaded.items():
        figures = merged.figures()
        figures["cache"] = cache_summary(caches[label, name])
        figures["sql_per_request"] = round(figures["cache"]["sql_queries"] / max(1, figures["requests"]), 2)
        probe = probes[label, name].figures()
        figures["one_connection"] = {
            k: probe[k] for k in ("requests", "throughput_rps", "p50_ms", "p99_ms", "avg_ms")
        }
        out[label][name] = figures
        print(
            f"  {label} {name}: {figures['throughput_rps']} req/s p50 {figures.get('p50_ms')} ms",
            file=sys.stderr,
        )
    return out


# --- main -----------------------------------------------------------------------------------------


def _delete_keys(redis_url: str, patterns: list[str]) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    removed = 0
    try:
        for pattern in patterns:
            batch = list(client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(batch), 1000):
                removed += client.unlink(*batch[i : i + 1000])
    finally:
        client.close()
    return removed


def _ratio(a, b) -> float | None:
    return round(a / b, 2) if a and b else None


def _target(name: str, measured, limit, ok: bool, detail: str) -> dict:
    return {"target": name, "measured": measured, "limit": limit, "pass": bool(ok), "detail": detail}


def targets(base: dict, cached: dict, storm: dict, rolls: dict, check: dict) -> list[dict]:
    hit = min(cached[p]["cache"]["hit_rate"] or 0 for p in ("retrieve", "by_key"))
    avg = max(cached[p]["one_connection"]["avg_ms"] for p in ("retrieve", "by_key"))
    db = max(base["orm_get_by_pk"]["avg_ms"], base["orm_list_page"]["avg_ms"])
    versions = storm["versions"]["creation_success_rate"] or 0
    corrupt = check["mismatches"] + storm["stale_reads"]
    audit = check["models_with_version_gaps"] + check["versions_without_actor_or_reason"]
    return [
        _target("cache hit rate > 80 %", hit, 0.80, hit > 0.80, "lower of retrieve / by-key, steady state"),
        _target(
            "average cached response < 10 ms",
            avg,
            10,
            avg < 10,
            "HTTP, one connection, higher of retrieve / by-key",
        ),
        _target("database query < 100 ms", db, 100, db < 100, "ORM get by pk / list page, mean, in-process"),
        _target("version creation success > 99 %", versions, 0.99, versions > 0.99, "write storm PATCHes"),
        _target(
            "rollback success > 95 %", rolls["success_rate"], 0.95, (rolls["success_rate"] or 0) > 0.95, "API"
        ),
        _target("zero data corruption", corrupt, 0, corrupt == 0, "API ≠ DB after all writes + stale reads"),
        _target("complete audit trail", audit, 0, audit == 0, "version gaps + versions without actor/reason"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL.")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL (its own database number).")
    parser.add_argument("--duration", type=float, default=6.0, help="Seconds per read phase.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds of mixed reads before the phases.")
    parser.add_argument("--probe", type=float, default=2.0, help="Seconds of one-connection reads per phase.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds of the read phases.")
    parser.add_argument("--storm", type=float, default=10.0, help="Seconds of the write storm.")
    parser.add_argument("--max-requests", type=int, default=50_000, help="Requests per phase at most.")
    parser.add_argument("--concurrency", type=int, default=16, help="Client connections.")
    parser.add_argument("--writers", type=int, default=2, help="Connections writing during the storm.")
    parser.add_argument("--rollbacks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, default=4, help="Threads per gunicorn worker.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    pid = os.getpid()
    name, namespace = f"mr_bench_load_{pid}", f"bench-load-{pid}"
    env = server_env(f"{args.pg}/{name}", args.redis, namespace)
    log = Path(tempfile.gettempdir()) / f"{name}.log"
    rng = random.Random(args.seed)
    admin_sql(args.pg, f'CREATE DATABASE "{name}"')
    document: dict = {}
    servers: list[Server] = []
    removed = 0
    try:
        setup_django(env)
        data = seed()
        print(f"seeded in {round(time.perf_counter() - started, 1)} s", file=sys.stderr)
        base = baselines(data["models"], args.redis, rng)
        work = workloads(data["models"], 20_000, rng)
        token = data["tokens"]["bench-writer"]
        first = data["models"][0][0]
        for cache in (False, True):
            servers.append(Server(env, workers=args.workers, threads=args.threads, cache=cache, log=log))
        uncached, cached = servers
        for server in servers:
            server.wait_ready(token, first)
        prefill = warm_l2(data["models"])
        print("read phases", file=sys.stderr)
        runs = run_interleaved({"uncached": uncached, "cached": cached}, token, work, args)
        runs["cached"]["l2_prefill"] = prefill
        uncached.stop()  # the write phases and the check go through the cached server
        servers.remove(uncached)

        import load_storm

        print("write storm", file=sys.stderr)
        hot = load_storm.hot_models(work["retrieve"], 40)
        before = cached.counters()
        storm = load_storm.write_storm(
            cached.url,
            data["tokens"],
            work["retrieve"],
            hot,
            concurrency=args.concurrency,
            writers=args.writers,
            duration=args.storm,
        )
        storm["readers"]["cache"] = cache_delta(before, cached.counters())
        print("rollbacks", file=sys.stderr)
        rolls = load_storm.rollbacks(cached.url, data["tokens"], args.rollbacks)
        print("consistency", file=sys.stderr)
        check = load_storm.consistency(cached.url, token, args.concurrency)

        ratios = {
            phase: {
                "throughput": _ratio(
                    runs["cached"][phase]["throughput_rps"], runs["uncached"][phase]["throughput_rps"]
                ),
                "p50": _ratio(runs["uncached"][phase]["p50_ms"], runs["cached"][phase]["p50_ms"]),
            }
            for phase in ("retrieve", "by_key", "list")
        }
        checks = targets(base, runs["cached"], storm, rolls, check)
        import django
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
        document = {
            "environment": {
                "python": sys.version.split()[0],
                "django": django.get_version(),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                "postgresql": pg_version,
                "redis_url": args.redis,
                "namespace": namespace,
                "server": f"gunicorn gthread, {args.workers} workers x {args.threads} threads, 127.0.0.1",
                "client": f"asyncio + httpx, {args.concurrency} connections, one process",
                "phase_seconds": args.duration,
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            },
            "catalogue": {**data["import"], "models": len(data["models"])},
            "baselines_in_process": base,
            "uncached": runs["uncached"],
            "cached": runs["cached"],
            "ratios_cached_vs_uncached": ratios,
            "write_storm": storm,
            "rollbacks": rolls,
            "consistency": check,
            "targets": checks,
            "passed": f"{sum(t['pass'] for t in checks)}/{len(checks)}",
        }
    finally:
        for server in servers:
            server.stop()
        try:
            from django.db import connections

            from caching.service import reset_model_cache

            reset_model_cache()
            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        ours = [f"mr:*:{namespace}:*", f"{namespace}-default:*", f"{namespace}-throttle:*"]
        removed = _delete_keys(args.redis, ours)
        admin_sql(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not document:
            print(f"failed; the servers' log: {log}", file=sys.stderr)
    log.unlink(missing_ok=True)  # the servers' log is kept (and named on stderr) only when a run fails
    document["redis_keys_deleted"] = removed
    document["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()

"""Redis faults under load: gunicorn (2 workers) serving reads and writes while the private Redis
behind it is stopped, blackholed, or out of memory.

Every read answers 200 with a value the database held while the request ran (checked against
the writer's revision timeline), no request fails, p99 latency stays bounded once the circuit
breaker is open, and after recovery every model reads as the database has it. Figures are
printed as one JSON line per test (``pytest -s``).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis

from models_registry.models import AIModel

from .harness import LoadGenerator, wait_for

pytestmark = [pytest.mark.system, pytest.mark.redis, pytest.mark.postgres]

STEADY, FAULT, RECOVERED = 2.0, 5.0, 3.0
BREAKER_GRACE = 1.5  # seconds after the fault starts before the breaker must be open in every worker
# Once the breaker is open, read p99 may exceed the steady state's by at most this much: a breaker
# trial (0.25 s socket timeout) and a throttle-store timeout per cool-down and process, plus the
# noise of a shared 2-core machine. The point is "no Redis timeout paid on every request".
P99_EXTRA_MS = 1000.0
P99_CAP_MS = 2000.0
FAULT_STALENESS = (
    5.0  # seconds: L1 is trusted until the subscriber misses a tick (2.5 s) after a health check
)
REGISTRY = {"BREAKER_FAILURES": 3, "BREAKER_COOLDOWN": 1.0, "L1_TTL": 5.0}


def run_under_load(stack, name: str, *, inject, heal) -> LoadGenerator:
    server = stack.server(registry=REGISTRY)
    models = stack.data.models[:12]
    load = LoadGenerator(
        server.url, token=stack.data.tokens["editor"], models=models, readers=4, writers=1,
        write_models=models[:3],
    ).start()  # fmt: skip
    try:
        load.mark("warmup")  # first requests of fresh workers: imports, empty caches (not judged)
        load.run_for(1.0)
        load.mark("steady")
        load.run_for(STEADY)
        load.mark("fault_start")
        inject()
        load.run_for(BREAKER_GRACE)
        load.mark("breaker_open")
        load.run_for(FAULT - BREAKER_GRACE)
        heal()
        load.mark("recovering")
        load.run_for(2.0)
        load.mark("recovered")
        load.run_for(RECOVERED)
    finally:
        load.stop()
    strict = load.check_reads()  # reported: reads older than the last answered write, any phase
    print(
        "\n"
        + json.dumps(
            {
                "test": name,
                "phases": load.summary(),
                "writes": len(load.writes),
                "stale_reads": len(strict),
                "stale_examples": strict[:5],
            }
        )
    )
    assert_outcomes(load, server, stack)
    return load


def assert_outcomes(load: LoadGenerator, server, stack) -> None:
    failed = [s for s in load.samples if s.status != 200]
    assert not failed, [(s.op, s.status, s.error or s.detail) for s in failed[:10]]
    # Outside the fault: every read is a value the database held during the request. During it,
    # too (measured), but the guarantee is weaker: a worker whose invalidation channel hangs
    # (blackhole) stops trusting its L1 only when its subscriber misses a tick or its breaker
    # opens, so a value up to FAULT_STALENESS old is allowed there.
    problems = load.check_reads(phases=("start", "warmup", "steady", "recovered"))
    assert problems == [], problems[:20]
    problems = load.check_reads(phases=("fault_start", "breaker_open", "recovering"), grace=FAULT_STALENESS)
    assert problems == [], problems[:20]
    summary = load.summary()
    for phase in ("steady", "fault_start", "breaker_open", "recovering", "recovered"):
        assert summary[phase]["requests"] > 0, phase
    steady, degraded = summary["steady"]["reads_p99_ms"], summary["breaker_open"]["reads_p99_ms"]
    assert degraded < min(steady + P99_EXTRA_MS, P99_CAP_MS), (steady, summary["breaker_open"])
    assert len(load.writes) > 0 and summary["breaker_open"]["writes_ok"] > 0  # writes commit meanwhile
    assert_reads_equal_database(server, stack)


def assert_reads_equal_database(server, stack) -> None:
    """After recovery: every model (by id and by key, whichever worker answers) as in the DB."""
    headers = {"Authorization": f"Token {stack.data.tokens['reader']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        for model in stack.data.models[:12]:
            row = AIModel.objects.get(pk=model["id"])
            for _ in range(3):  # several requests: both workers answer some
                for url in (f"/api/v1/models/{model['id']}/", f"/api/v1/models/by-key/{model['key']}"):
                    body = client.get(url).json()
                    assert (body["revision"], body["description"]) == (row.revision, row.description), url


def test_redis_stopped_under_load(stack):
    def heal():
        stack.redis.start()  # same port, empty: the generation starts again from nothing

    run_under_load(stack, "redis_stopped", inject=stack.redis.kill, heal=heal)


def test_redis_blackholed_under_load(stack):
    run_under_load(
        stack, "redis_blackholed", inject=stack.redis_proxy.blackhole, heal=stack.redis_proxy.restore
    )


def test_redis_out_of_memory_under_load(stack):
    client = stack.redis.client()
    junk = []

    def fill():
        client.config_set("maxmemory-policy", "noeviction")
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", used + 256 * 1024)
        blob = b"x" * 16 * 1024
        for n in range(10_000):
            try:
                client.set(f"junk:{n}", blob)
            except redis.exceptions.OutOfMemoryError:
                break
            junk.append(f"junk:{n}")
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            client.set("junk:probe", blob)

    def heal():
        client.config_set("maxmemory", 0)
        for start in range(0, len(junk), 500):
            client.delete(*junk[start : start + 500])

    try:
        run_under_load(stack, "redis_oom", inject=fill, heal=heal)
    finally:
        client.close()


def test_workers_notice_the_outage_quickly(stack):
    """With Redis stopped, the first reads in each worker pay at most a few failed calls: a
    request after the breaker opened costs about as much as a database read."""
    server = stack.server(registry=REGISTRY)
    model = stack.data.models[0]
    headers = {"Authorization": f"Token {stack.data.tokens['reader']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        assert client.get(f"/api/v1/models/{model['id']}/").status_code == 200
        stack.redis.kill()
        started = time.monotonic()
        statuses = [client.get(f"/api/v1/models/{model['id']}/").status_code for _ in range(40)]
        elapsed = time.monotonic() - started
        print(
            "\n"
            + json.dumps({"test": "redis_killed_sequential_reads", "reads": 40, "seconds": round(elapsed, 2)})
        )
        assert set(statuses) == {200}
        assert elapsed < 20  # generous: 40 reads, none waiting for a dead Redis
        stack.redis.start()
        assert wait_for(lambda: client.get(f"/api/v1/models/{model['id']}/").status_code == 200, 10)

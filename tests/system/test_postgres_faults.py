"""PostgreSQL unreachable, for real: gunicorn (2 workers) reaches the database through a proxy that
the test switches to "reset" (every connection cut, new ones refused). The shared PostgreSQL
server itself is never touched.

Cached reads answer 200 with ``X-Registry-Stale: true`` and ``Age``, uncached reads 503, writes
503 with a clear message and nothing half-written; when the proxy forwards again, writes succeed
without restarting gunicorn (same worker processes). Figures: one JSON line (``pytest -s``).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from models_registry.models import AIModel
from versioning.models import ModelVersion

from .harness import LoadGenerator, wait_for

pytestmark = [pytest.mark.system, pytest.mark.redis, pytest.mark.postgres]

WRITE_MESSAGE = "The database is unavailable; the change was not saved. Retry later."
REGISTRY = {"STALE_MAX_AGE": 300, "L1_TTL": 5.0}


def _state(model_id: int) -> tuple:
    row = AIModel.objects.get(pk=model_id)
    return (
        row.revision,
        row.description,
        ModelVersion.objects.filter(ai_model_id=model_id).count(),
        row.history.count(),
    )


def test_database_unreachable_cached_reads_stale_writes_503_and_recovery(stack):
    server = stack.server(registry=REGISTRY)
    workers = sorted(server.worker_pids())
    assert len(workers) == 2
    tokens = stack.data.tokens
    cached, uncached = stack.data.models[:8], stack.data.models[8:12]
    headers = {"Authorization": f"Token {tokens['editor']}"}
    client = httpx.Client(base_url=server.url, headers=headers, timeout=15)
    reader = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Token {tokens['reader']}"}, timeout=15
    )
    try:
        fresh = {}
        for model in cached:  # fill the cache (L2 is shared by both workers) and remember the tokens
            for c in (client, reader):
                response = c.get(f"/api/v1/models/{model['id']}/")
                assert response.status_code == 200 and "X-Registry-Stale" not in response.headers
            assert c.get(f"/api/v1/models/by-key/{model['key']}").status_code == 200
            fresh[model["id"]] = response.json()
        target = cached[0]["id"]
        etag = client.get(f"/api/v1/models/{target}/").headers["ETag"]
        before = {m["id"]: _state(m["id"]) for m in cached}

        stack.pg_proxy.reset()

        # cached reads: 200, marked stale, with their age, equal to what was served before
        for model in cached:
            for c in (client, reader):
                for url in (f"/api/v1/models/{model['id']}/", f"/api/v1/models/by-key/{model['key']}"):
                    response = c.get(url)
                    assert response.status_code == 200, (url, response.status_code, response.text)
                    assert response.headers["X-Registry-Stale"] == "true"
                    assert 0 <= int(response.headers["Age"]) <= 300
                    assert response.json() == fresh[model["id"]]
        # uncached reads: 503 with Retry-After
        for model in uncached:
            response = client.get(f"/api/v1/models/{model['id']}/")
            assert response.status_code == 503 and response.headers["Retry-After"].isdigit()
            assert response.json()["code"] == "database_unavailable"
        # writes: 503 with the message
        patch = client.patch(
            f"/api/v1/models/{target}/", json={"description": "while down"}, headers={"If-Match": etag}
        )
        create = client.post("/api/v1/models/", json={"provider": "openai", "name": "made-while-down"})
        delete = client.delete(f"/api/v1/models/{cached[1]['id']}/")
        for response in (patch, create, delete):
            assert response.status_code == 503, response.text
            assert response.json()["detail"] == WRITE_MESSAGE
            assert response.headers["Retry-After"].isdigit()

        # under load: reads of cached models all 200 and stale, writes all 503, nothing else
        load = LoadGenerator(
            server.url, token=tokens["editor"], models=cached, readers=4, writers=1,
            write_models=cached[:2], list_every=0,
        ).start()  # fmt: skip
        load.mark("db_down")
        load.run_for(4.0)
        load.stop()
        reads = [s for s in load.samples if s.op != "patch" and s.model_id is not None]
        writes = [s for s in load.samples if s.op == "patch"]
        assert reads and all(s.status == 200 and s.stale for s in reads), {s.status for s in reads}
        assert all(s.status == 503 and s.detail == WRITE_MESSAGE for s in writes)
        down_summary = load.summary()["db_down"]

        stack.pg_proxy.restore()
        restored_at, recovered_at = time.monotonic(), None

        def writes_again() -> bool:
            nonlocal recovered_at
            current = client.get(f"/api/v1/models/{target}/")
            if current.status_code != 200 or "X-Registry-Stale" in current.headers:
                return False
            response = client.patch(
                f"/api/v1/models/{target}/",
                json={"description": "after recovery"},
                headers={"If-Match": current.headers["ETag"]},
            )
            recovered_at = time.monotonic()
            return response.status_code == 200

        # nothing half-written: the failed writes left every model as it was
        assert {m["id"]: _state(m["id"]) for m in cached} == before
        assert not AIModel.objects.filter(name="made-while-down").exists()
        assert wait_for(writes_again, timeout=30, interval=0.5)
        assert sorted(server.worker_pids()) == workers  # recovered without a restart
        assert _state(target)[:3] == (before[target][0] + 1, "after recovery", before[target][2] + 1)
        for model in cached + uncached:  # both workers read fresh values again, not marked stale
            for _ in range(2):
                response = reader.get(f"/api/v1/models/{model['id']}/")
                assert response.status_code == 200 and "X-Registry-Stale" not in response.headers
                assert response.json()["revision"] == AIModel.objects.get(pk=model["id"]).revision
        print(
            "\n"
            + json.dumps(
                {
                    "test": "postgres_unreachable",
                    "db_down": down_summary,
                    "stale_reads": len(reads),
                    "writes_refused": len(writes),
                    "seconds_to_first_write_after_restore": round(recovered_at - restored_at, 2)
                    if recovered_at
                    else None,
                }
            )
        )
    finally:
        client.close()
        reader.close()


def test_stale_reads_are_refused_when_stale_max_age_is_zero(stack):
    server = stack.server(registry={**REGISTRY, "STALE_MAX_AGE": 0})
    model = stack.data.models[0]
    headers = {"Authorization": f"Token {stack.data.tokens['reader']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=15) as client:
        assert client.get(f"/api/v1/models/{model['id']}/").status_code == 200
        stack.pg_proxy.reset()
        response = client.get(f"/api/v1/models/{model['id']}/")
        assert response.status_code == 503 and "X-Registry-Stale" not in response.headers
        stack.pg_proxy.restore()
        assert wait_for(lambda: client.get(f"/api/v1/models/{model['id']}/").status_code == 200, 30, 0.5)

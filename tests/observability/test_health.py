"""``/health/live/`` and ``/health/``: the database decides readiness; Redis and Celery are
reported and never take the service out of the load balancer."""

from __future__ import annotations

import pytest
from django.db import connections

from models_registry.jobs.models import TaskRun
from models_registry.observability import health
from tests.caching.helpers import RedisServer, cache_at, spare_port


def test_live_is_ok_without_io(client):
    """No database fixture: any query would raise."""
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.postgres
@pytest.mark.redis
def test_ready_reports_database_redis_celery(client, db):
    from django.utils import timezone

    now = timezone.now()
    TaskRun.objects.create(name="cache_hygiene", started_at=now, outcome=TaskRun.Outcome.OK)
    response = client.get("/health/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]
    checks = body["checks"]
    assert checks["database"]["status"] == "up"
    assert checks["redis"]["status"] == "up"
    assert checks["redis"]["breaker"] == "closed"
    assert checks["celery"]["status"] == "eager"  # the test settings run tasks eagerly
    assert checks["celery"]["last_task_run"]["name"] == "cache_hygiene"
    assert checks["celery"]["last_task_run"]["outcome"] == "ok"
    for check in checks.values():
        assert check["duration_ms"] >= 0
    assert body["duration_ms"] >= checks["database"]["duration_ms"]


def test_ready_is_anonymous_and_not_a_drf_view(client, db):
    """No authentication is needed, and no API throttling/permission applies."""
    response = client.get("/health/", HTTP_AUTHORIZATION="Token not-a-valid-token")
    assert response.status_code == 200
    assert client.post("/health/").status_code == 405


@pytest.mark.redis
def test_redis_down_is_reported_but_still_ready(client, db, settings):
    server = RedisServer().start()
    try:
        with cache_at(server.url, f"{settings.TEST_KEY_PREFIX}-health") as cache:
            response = client.get("/health/")
            assert response.json()["checks"]["redis"]["status"] == "up"
            assert cache.remote is not None

            server.kill()
            response = client.get("/health/")
            assert response.status_code == 200, response.content
            body = response.json()
            assert body["status"] == "ok"
            assert body["checks"]["database"]["status"] == "up"
            assert body["checks"]["redis"]["status"] == "down"
            assert "ConnectionError" in body["checks"]["redis"]["error"]
            assert "redis://" not in response.content.decode()  # no connection strings
    finally:
        server.close()


@pytest.mark.postgres
def test_database_down_is_not_ready(client, transactional_db, monkeypatch):
    connection = connections["default"]
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", spare_port())  # nothing listens there
    try:
        response = client.get("/health/")
        assert response.status_code == 503, response.content
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"]["status"] == "down"
        assert "OperationalError" in body["checks"]["database"]["error"]
        assert body["checks"]["redis"]["status"] in ("up", "disabled")  # still reported
        assert "last_task_run" not in body["checks"]["celery"]  # no query against a dead database
        # Liveness does not depend on the database.
        assert client.get("/health/live/").status_code == 200
    finally:
        connection.close()
        monkeypatch.undo()
    assert client.get("/health/").status_code == 200  # back when the database is


def test_broker_unreachable_is_reported_not_failing(db, settings):
    """A configured broker that does not answer: celery "down", readiness still decided by the DB."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{spare_port()}/0"
    health.reset()
    try:
        ready, body = health.readiness()
    finally:
        health.reset()
    assert ready is True
    assert body["checks"]["celery"]["status"] == "down"
    assert body["checks"]["celery"]["error"]


@pytest.mark.redis
def test_reachable_broker_is_up_and_the_answer_is_reused(db, settings, monkeypatch):
    """A real broker (the test Redis, database 11: only connected to, nothing written)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(settings.REDIS_URL)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = urlunsplit((parts.scheme, parts.netloc, "/11", "", ""))
    health.reset()
    calls = []
    real = health._check_broker
    monkeypatch.setattr(health, "_check_broker", lambda url: calls.append(url) or real(url))
    try:
        first = health.check_celery()
        second = health.check_celery()
    finally:
        health.reset()
    assert first["status"] == second["status"] == "up"
    assert len(calls) == 1  # HEALTH_BROKER_CACHE_SECONDS: one broker connection per interval

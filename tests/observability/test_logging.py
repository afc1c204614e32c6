"""Structured logs: JSON lines with request id, user, operation and duration; the request id
travels in ``X-Request-ID``; writes and errors are logged, reads only at DEBUG; no secret ever
reaches a log line."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from models_registry.observability import receivers
from models_registry.observability.logging import JsonFormatter, PlainFormatter
from tests.caching.conftest import cache_on, namespace  # noqa: F401 - fixtures
from tests.factories import ProviderFactory, UserFactory, grant

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("versioning.versions", logging.INFO, __file__, 1, "version %s", (3,), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_formatter_fields_and_redaction():
    record = _record(
        operation="version.recorded",
        duration_ms=1.5,
        key="openai/gpt-4o",
        context={"headers": {"Authorization": "Token abc"}, "rows": [{"api_key": "k"}]},
        api_secret="v",
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert list(data)[:8] == [
        "timestamp",
        "level",
        "logger",
        "message",
        "request_id",
        "user",
        "operation",
        "duration_ms",
    ]
    assert data["message"] == "version 3"
    assert data["level"] == "INFO"
    assert data["logger"] == "versioning.versions"
    assert data["operation"] == "version.recorded"
    assert data["duration_ms"] == 1.5
    assert data["key"] == "openai/gpt-4o"
    assert data["timestamp"].endswith("+00:00")
    assert data["context"] == {
        "headers": {"Authorization": "[redacted]"},
        "rows": [{"api_key": "[redacted]"}],
    }
    assert data["api_secret"] == "[redacted]"
    assert "Token abc" not in line


def test_json_formatter_exception_and_plain_formatter():
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = _record(exc_info=sys.exc_info(), operation="x", request_id="req-1")
    data = json.loads(JsonFormatter().format(record))
    assert "ValueError: bad" in data["exception"]
    plain = PlainFormatter().format(_record(operation="version.recorded", request_id="req-1"))
    assert "[req-1] version 3" in plain
    assert "operation=version.recorded" in plain


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health/live/", HTTP_X_REQUEST_ID="edge-4f2a.17_x")["X-Request-ID"] == "edge-4f2a.17_x"
    for bad in ("a" * 65, "has space", "new\nline", "semi;colon", ""):
        generated = client.get("/health/live/", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert GENERATED_ID.fullmatch(generated), bad
    first = client.get("/health/live/")["X-Request-ID"]
    second = client.get("/health/live/")["X-Request-ID"]
    assert GENERATED_ID.fullmatch(first) and first != second


@pytest.mark.postgres
def test_write_request_and_model_lines_carry_the_context(transactional_db, editor, logs):
    ProviderFactory(slug="openai")
    response = api_client(editor).post(
        "/api/v1/models/",
        {"provider": "openai", "name": "gpt-4o", "context_window": 1000},
        format="json",
        HTTP_X_REQUEST_ID="req-write-1",
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "req-write-1"
    [request_line] = logs.operation("http.request")
    assert request_line["level"] == "INFO"
    assert request_line["request_id"] == "req-write-1"
    assert request_line["user"] == "editor"
    assert request_line["method"] == "POST"
    assert request_line["route"] == "api/v1/models/"
    assert request_line["status"] == 201
    assert request_line["duration_ms"] > 0
    assert request_line["db_queries"] > 0
    [created] = logs.operation("model.created")
    assert created["request_id"] == "req-write-1"
    assert created["user"] == "editor"
    assert created["key"] == "openai/gpt-4o"
    assert created["revision"] == 1
    assert "context_window" in created["fields"]
    [version] = logs.operation("version.recorded")
    assert (version["key"], version["number"], version["request_id"]) == ("openai/gpt-4o", 1, "req-write-1")


def test_reads_are_logged_at_debug_only(client, db, logs):
    client.get("/health/", HTTP_X_REQUEST_ID="req-read")
    [line] = logs.operation("http.request")
    assert line["level"] == "DEBUG"
    assert line["request_id"] == "req-read"
    assert line["user"] is None  # the session user was never needed, so never loaded
    assert line["route"] == "health/"


@pytest.mark.urls("tests.observability.error_urls")
def test_server_error_is_logged_with_the_exception(db, logs):
    client = Client(raise_request_exception=False)
    response = client.get("/boom/7/", HTTP_X_REQUEST_ID="req-boom")
    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-boom"
    [line] = logs.operation("http.request")
    assert line["level"] == "ERROR"
    assert line["status"] == 500
    assert line["route"] == "boom/<int:n>/"
    assert "RuntimeError: the view failed on purpose" in line["exception"]


@pytest.mark.postgres
@pytest.mark.redis
def test_no_secret_reaches_the_logs(cache_on, logs, settings):  # noqa: F811
    """A model whose metadata holds a secret is created, updated, read and rolled back through
    the API with every app logger at DEBUG (cache operations included): the secret never appears
    in the formatted output."""
    secret, new_secret = f"sk-live-{uuid.uuid4().hex}", f"sk-rotated-{uuid.uuid4().hex}"
    keeper = grant(
        UserFactory(username="keeper"),
        "view_sensitive_metadata",
        "add_aimodel",
        "change_aimodel",
        "add_rollbackrequest",
        "view_rollbackrequest",
        "view_modelversion",
    )
    approver = grant(
        UserFactory(username="approver"),
        "approve_rollbackrequest",
        "view_rollbackrequest",
        "view_modelversion",
    )
    ProviderFactory(slug="azure")
    receivers.operations_logger.setLevel(logging.DEBUG)
    receivers.connect()  # the DEBUG cache-operation receivers too
    try:
        client = api_client(keeper)
        created = client.post(
            "/api/v1/models/",
            {"provider": "azure", "name": "gpt-4o", "metadata": {"api_key": secret, "family": "gpt"}},
            format="json",
        )
        assert created.status_code == 201, created.content
        pk = created.json()["id"]
        assert client.get(f"/api/v1/models/{pk}/").status_code == 200
        assert client.get(f"/api/v1/models/{pk}/").status_code == 200  # an L1 hit
        updated = client.patch(
            f"/api/v1/models/{pk}/",
            {"metadata": {"api_key": new_secret, "family": "gpt"}, "context_window": 4096},
            format="json",
        )
        assert updated.status_code == 200, updated.content
        assert client.get(f"/api/v1/models/{pk}/").status_code == 200
        requested = client.post(
            "/api/v1/rollbacks/", {"model": pk, "target_version": 1, "reason": "rotate back"}, format="json"
        )
        assert requested.status_code == 201, requested.content
        approved = api_client(approver).post(
            f"/api/v1/rollbacks/{requested.json()['id']}/approve/", {}, format="json"
        )
        assert approved.status_code == 200, approved.content
        assert approved.json()["status"] == "completed"
        assert client.get(f"/api/v1/models/{pk}/").json()["metadata"]["api_key"] == secret  # really restored
    finally:
        from caching import signals as cache_signals

        for signal, uid in (
            (cache_signals.cache_hit, "observability.cache_hit"),
            (cache_signals.cache_miss, "observability.cache_miss"),
            (cache_signals.cache_evicted, "observability.cache_evicted"),
        ):
            signal.disconnect(dispatch_uid=uid)
        receivers.operations_logger.setLevel(logging.NOTSET)

    text = logs.text
    operations = {record["operation"] for record in logs.records()}
    # The flows were logged (so the absence of the secret means something) ...
    for expected in (
        "http.request",
        "model.created",
        "model.updated",
        "model.restored",
        "version.recorded",
        "rollback.requested",
        "rollback.approved",
        "rollback.completed",
        "cache.invalidated",
        "cache.hit",
    ):
        assert expected in operations, (expected, sorted(filter(None, operations)))
    [update] = logs.operation("model.updated")
    assert set(update["fields"]) == {"metadata.api_key", "context_window"}  # names, not values
    # ... and no secret is in any of it.
    assert secret not in text
    assert new_secret not in text


def test_query_strings_are_not_logged(client, db, logs):
    """django.request passes the request object; only its method and path are written."""
    response = client.get("/no/such/page", {"access_token": "qs-secret-value"}, HTTP_X_REQUEST_ID="req-404")
    assert response.status_code == 404
    [warning] = [r for r in logs.records() if r["logger"] == "django.request"]
    assert warning["request"] == {"method": "GET", "path": "/no/such/page"}
    assert warning["request_id"] == "req-404"
    [line] = logs.operation("http.request")
    assert line["path"] == "/no/such/page"
    assert "qs-secret-value" not in logs.text


def test_task_lines_carry_the_task_id(db, logs):
    from models_registry.tasks import prune_task_runs

    result = prune_task_runs.apply()
    [line] = logs.operation("task.finished")
    assert line["task"] == "models_registry.tasks.prune_task_runs"
    assert line["outcome"] == "ok"
    assert line["request_id"] == result.id
    assert line["duration_ms"] >= 0


def test_catalogue_urls_are_logged_without_credentials():
    from models_registry.observability.events import safe_location

    assert (
        safe_location("https://user:pw@cdn.example.com:8443/c/litellm.json?token=abc#x")
        == "https://cdn.example.com:8443/c/litellm.json"
    )
    assert safe_location("/srv/catalogues/litellm.json") == "/srv/catalogues/litellm.json"

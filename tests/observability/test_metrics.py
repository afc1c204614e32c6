"""``/metrics``: Prometheus text, bounded route labels, query counts, domain counters, access."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client import REGISTRY, Gauge
from rest_framework.test import APIClient

from models_registry import services
from models_registry.models import AIModel
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant
from versioning.services import rollbacks

from .conftest import parse_metrics, sample, scrape

DURATION = "model_registry_http_request_duration_seconds"


@pytest.fixture
def editor_api(editor) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=editor)
    return client


def test_metrics_is_prometheus_text_with_every_family(client, db):
    client.get("/health/live/")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {family for family, _ in parse_metrics(response.content.decode())}
    for name in (
        f"{DURATION}_bucket",
        "model_registry_http_request_db_queries_bucket",
        "model_registry_cache_breaker_open",
    ):
        assert name in families, name
    text = response.content.decode()
    for declared in (
        "model_registry_cache_hits",  # caching/metrics.py
        "model_registry_task_runs",  # jobs/runner.py
        "model_registry_alerts",  # alerts.py
        "model_registry_versions_created",
        "model_registry_rollbacks",
        "model_registry_sync_runs",
        "model_registry_db_queries",
    ):
        assert f"# TYPE {declared}" in text, declared


def test_route_label_is_the_url_pattern_not_the_path(editor_api, client, db):
    model = AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-4o")
    before = scrape(client)
    assert editor_api.get(f"/api/v1/models/{model.pk}/").status_code == 200
    assert editor_api.get("/api/v1/models/by-key/openai/gpt-4o").status_code == 200
    assert editor_api.get("/api/v1/models/999999/").status_code == 404
    assert editor_api.get("/no/such/path/42").status_code == 404
    after = scrape(client)

    def count(route, status):
        name = f"{DURATION}_count"
        return sample(after, name, route=route, method="GET", status=status) - sample(
            before, name, route=route, method="GET", status=status
        )

    assert count("api/v1/models/<int:id>/", "2xx") == 1
    assert count("api/v1/models/<int:id>/", "4xx") == 1
    assert count("api/v1/models/by-key/<path:key>", "2xx") == 1
    assert count("unmatched", "4xx") == 1
    routes = {dict(labels).get("route") for (name, labels) in after if name.startswith(DURATION)}
    assert not any("999999" in route or "gpt-4o" in route or "such" in route for route in routes), routes


def test_db_queries_per_request_are_counted(editor_api, client, db):
    model = AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-4o")
    route = {"route": "api/v1/models/<int:id>/", "method": "GET"}
    before = scrape(client)
    seen = []

    def count(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    # (CaptureQueriesContext would miss them: a request start resets connection.queries.)
    with connection.execute_wrapper(count):
        assert editor_api.get(f"/api/v1/models/{model.pk}/").status_code == 200
    after = scrape(client)
    made = len(seen)
    assert made > 0
    name = "model_registry_http_request_db_queries"
    assert sample(after, f"{name}_count", **route) - sample(before, f"{name}_count", **route) == 1
    assert sample(after, f"{name}_sum", **route) - sample(before, f"{name}_sum", **route) == made
    total = "model_registry_db_queries_total"
    # The scrape itself runs no query; the difference is this request's queries.
    assert sample(after, total) - sample(before, total) == made


def test_versions_and_rollbacks_are_counted(client, db, django_capture_on_commit_callbacks):
    requester = grant(UserFactory(username="requester"), "add_rollbackrequest")
    approver = grant(UserFactory(username="approver"), "approve_rollbackrequest")
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        model = AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-4o", source="api")
        services.ai_model_update(
            ai_model=model, data={"input_cost_per_1m": Decimal("20")}, source="api", actor=requester
        )
    with django_capture_on_commit_callbacks(execute=True):
        request = rollbacks.rollback_request_create(
            ai_model=model, target_version=1, reason="price typo", actor=requester
        )
    with django_capture_on_commit_callbacks(execute=True):
        request = rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
    assert request.status == "completed"
    with django_capture_on_commit_callbacks(execute=True):
        services.ai_model_update(ai_model=model.pk, data={"context_window": 1000}, source="api")
        second = rollbacks.rollback_request_create(
            ai_model=model, target_version=1, reason="again", actor=requester
        )
        rollbacks.rollback_request_reject(rollback_request=second, actor=approver, comment="no")
    after = scrape(client)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    versions = "model_registry_versions_created_total"
    assert delta(versions, source="api") == 3  # create, price raise, context cut
    assert delta(versions, source="rollback") == 1
    assert delta(versions) == AIModel.objects.get(pk=model.pk).versions.count()
    outcome = "model_registry_rollbacks_total"
    assert delta(outcome, outcome="requested") == 2
    assert delta(outcome, outcome="approved") == 1
    assert delta(outcome, outcome="completed") == 1
    assert delta(outcome, outcome="rejected") == 1
    assert delta(outcome, outcome="failed") == 0


def test_rolled_back_write_counts_nothing(client, db, django_capture_on_commit_callbacks):
    from django.db import transaction

    model = AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-4o")
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                services.ai_model_update(ai_model=model, data={"context_window": 5}, source="api")
                raise RuntimeError("abort")
        except RuntimeError:
            pass
    after = scrape(client)
    name = "model_registry_versions_created_total"
    assert sample(after, name) == sample(before, name)


def test_every_gauge_aggregates_in_multiprocess_mode(client, db):
    scrape(client)  # imports every module that defines metrics
    gauges = [
        collector
        for collector in list(REGISTRY._collector_to_names)
        if isinstance(collector, Gauge) and collector._name.startswith("model_registry_")
    ]
    assert gauges, "no model_registry gauge registered"
    for gauge in gauges:
        assert gauge._multiprocess_mode != "all", gauge._name


# --- access --------------------------------------------------------------------------------


def _merged(settings, **extra) -> dict:
    return {**settings.MODEL_REGISTRY, **extra}


def test_default_access_is_direct_private_networks(client, db):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="8.8.8.8").status_code == 403
    # Through a proxy, REMOTE_ADDR is the proxy's: not trusted.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="8.8.8.8").status_code == 403
    assert client.get("/metrics", HTTP_FORWARDED="for=8.8.8.8").status_code == 403


def test_token_grants_access_from_anywhere(client, db, settings):
    settings.MODEL_REGISTRY = _merged(settings, METRICS_TOKEN="s3cr3t-scrape", METRICS_ALLOWED_IPS=None)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get(
        "/metrics",
        REMOTE_ADDR="8.8.8.8",
        HTTP_X_FORWARDED_FOR="8.8.8.8",
        HTTP_AUTHORIZATION="Bearer s3cr3t-scrape",
    )
    assert ok.status_code == 200


def test_open_access_setting(client, db, settings):
    settings.MODEL_REGISTRY = _merged(settings, METRICS_ALLOWED_IPS=["0.0.0.0/0", "::/0"])
    assert client.get("/metrics", REMOTE_ADDR="8.8.8.8").status_code == 200


def test_sync_and_import_runs_are_counted_and_logged(
    client, db, tmp_path, logs, django_capture_on_commit_callbacks
):
    from models_registry.catalog.importer import catalog_import
    from models_registry.sync.models import CatalogSource
    from models_registry.sync.services import sync_run

    source = CatalogSource.objects.create(
        name="upstream", format="litellm", location=str(tmp_path / "missing.json")
    )
    catalogue = Path(__file__).resolve().parents[1] / "fixtures" / "catalogs" / "litellm_oddities.json"
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run(source=source)
    assert run.status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        report = catalog_import(source=str(catalogue), fmt="litellm", force=True)
    after = scrape(client)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("model_registry_sync_runs_total", status="failed") == 1
    assert delta("model_registry_sync_runs_total", status="ok") == 0
    assert delta("model_registry_imports_total", outcome="ok") == 1
    assert delta("model_registry_imported_models_total", action="created") == len(report.created) > 0
    [synced] = logs.operation("sync.finished")
    assert (synced["level"], synced["source"], synced["status"]) == ("WARNING", "upstream", "failed")
    [imported] = logs.operation("import.finished")
    assert imported["counts"] == report.counts()
    assert imported["format"] == "litellm"


def test_production_does_not_redirect_probes_and_scrapes(client, db, settings):
    """SECURE_SSL_REDIRECT is on in production: plain-HTTP probes and scrapes are exempt."""
    import ast

    source = (Path(__file__).resolve().parents[2] / "config" / "settings" / "production.py").read_text()
    [exempt] = [
        ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SECURE_REDIRECT_EXEMPT"
    ]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = exempt
    assert client.get("/api/v1/providers/").status_code == 301  # everything else is redirected
    assert client.get("/health/").status_code == 200
    assert client.get("/health/live/").status_code == 200
    assert client.get("/metrics").status_code == 200

"""Alerts: one log line, the ``alert_raised`` signal and the Prometheus counter per alert; the
thresholds of each check."""

import logging

import pytest
from django.test import override_settings
from django.utils import timezone

from caching.service import model_cache, reset_model_cache
from models_registry import alerts
from models_registry.alerts import ALERTS, alert_raise, alert_raised, alerts_check
from models_registry.tasks import check_alerts
from tests.caching.conftest import cache_settings
from tests.caching.helpers import cache_at, spare_port
from tests.factories import AIModelFactory, ProviderFactory, UserFactory
from versioning.models import RollbackRequest


@pytest.fixture
def heard():
    received = []

    def receiver(sender, **kwargs):
        received.append({"sender": sender, **kwargs})

    alert_raised.connect(receiver, dispatch_uid="tests.maintenance.heard")
    yield received
    alert_raised.disconnect(dispatch_uid="tests.maintenance.heard")


def _count(kind: str) -> float:
    return ALERTS.labels(kind=kind)._value.get()


def test_an_alert_logs_signals_and_counts(heard, caplog):
    before = _count("sync_failed")
    with caplog.at_level(logging.WARNING, logger="models_registry.alerts"):
        alert = alert_raise("sync_failed", "litellm sync refused: shrink", severity="error", source="litellm")
    assert _count("sync_failed") == before + 1
    (record,) = [r for r in caplog.records if r.name == "models_registry.alerts"]
    assert (
        record.levelno == logging.ERROR and "ALERT sync_failed: litellm sync refused" in record.getMessage()
    )
    assert record.alert["context"] == {"source": "litellm"}
    (signal,) = heard
    assert signal["sender"] == alerts.ALERT_SENDER
    assert signal["alert"] is alert
    assert (signal["kind"], signal["severity"], signal["message"], signal["context"]) == (
        "sync_failed",
        "error",
        "litellm sync refused: shrink",
        {"source": "litellm"},
    )


def test_a_failing_receiver_does_not_stop_an_alert(heard, caplog):
    def broken(**kwargs):
        raise RuntimeError("pager down")

    alert_raised.connect(broken, dispatch_uid="tests.maintenance.broken")
    try:
        alert_raise("cache_miss_rate", "many misses")
    finally:
        alert_raised.disconnect(dispatch_uid="tests.maintenance.broken")
    assert [a["kind"] for a in heard] == ["cache_miss_rate"]
    assert any("pager down" in r.getMessage() for r in caplog.records)


def test_an_unknown_severity_is_refused():
    with pytest.raises(ValueError, match="severity"):
        alert_raise("x", "y", severity="panic")


@pytest.fixture
def cache_without_redis(settings):
    """The model cache on, L1 only, with a small L1 budget."""
    with override_settings(
        MODEL_REGISTRY=cache_settings("alerts-local", CACHE_ALIAS="no-such-alias", L1_MAX_BYTES=200_000)
    ):
        reset_model_cache()
        yield model_cache()
        reset_model_cache()


@pytest.mark.parametrize(
    ("lookups", "database", "fires"),
    [(2000, 1500, True), (2000, 900, False), (500, 500, False)],  # above; below; too few lookups
)
def test_the_miss_rate_threshold(cache_without_redis, heard, monkeypatch, lookups, database, fires):
    monkeypatch.setattr(alerts, "cache_lookup_counts", lambda: {"lookups": lookups, "database": database})
    raised = alerts.check_miss_rate()
    assert bool(raised) == fires
    if fires:
        assert raised[0].kind == "cache_miss_rate" and raised[0].context["miss_rate"] == 0.75


def test_lookup_counts_follow_the_cache_counters(db, cache_without_redis):
    model = AIModelFactory(provider=ProviderFactory(slug="acme"), name="counted")
    before = alerts.cache_lookup_counts()
    from models_registry.selectors import ai_model_get

    ai_model_get(key=model.key)  # miss: reaches the database
    ai_model_get(key=model.key)  # L1 hit
    after = alerts.cache_lookup_counts()
    assert after["lookups"] - before["lookups"] == 2
    assert after["database"] - before["database"] == 1


def test_lookup_counts_in_prometheus_multiprocess_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert alerts.cache_lookup_counts() == {"lookups": 0, "database": 0}


def test_l1_memory_pressure(cache_without_redis, heard):
    assert alerts.check_l1_memory() == []
    local = cache_without_redis.local
    for i in range(400):
        local.set(("m", f"filler/{i}"), "x" * 400)
        if local.currsize / local.max_bytes >= 0.9:
            break
    (alert,) = alerts.check_l1_memory()
    assert alert.kind == "l1_memory_pressure" and alert.context["used_ratio"] >= 0.9
    assert alert.severity == "warning"


def test_an_open_breaker_raises_an_error_alert(db, heard):
    dead = f"redis://127.0.0.1:{spare_port()}/0"
    with cache_at(dead, "alerts-dead", BREAKER_FAILURES=1, BREAKER_COOLDOWN=60):
        (alert,) = alerts.check_breaker()
    assert alert.kind == "cache_breaker_open" and alert.severity == "error"
    assert alert.context["state"] == "open"


@pytest.mark.redis
def test_a_reachable_redis_raises_no_breaker_alert(db, settings):
    with cache_at(settings.REDIS_URL, f"{settings.TEST_KEY_PREFIX}-alerts"):
        assert alerts.check_breaker() == []


def test_nothing_is_checked_with_the_cache_off(db):
    assert alerts.check_breaker() == alerts.check_miss_rate() == alerts.check_l1_memory() == []


def _failed_rollback(error: str = "IntegrityError: boom") -> RollbackRequest:
    model = AIModelFactory(provider=ProviderFactory(slug="acme"), name=f"rb-{error[-4:]}")
    version = model.versions.get(number=1)
    return RollbackRequest.objects.create(
        ai_model=model,
        target_version=version,
        reason="undo",
        requested_by=UserFactory(),
        base_revision=model.revision,
        status=RollbackRequest.Status.FAILED,
        executed_at=timezone.now(),
        error=error,
    )


def test_a_failed_rollback_is_alerted_once(db, heard):
    request = _failed_rollback()
    first = check_alerts.apply().result
    assert [a["kind"] for a in first["alerts"]] == ["rollback_failed"]
    assert first["alerts"][0]["context"]["rollback_request"] == request.pk
    assert heard[0]["severity"] == "error" and "acme/rb-boom" in heard[0]["message"]

    second = check_alerts.apply().result  # the next check starts where the first ended
    assert second["alerts"] == [] and second["since"] == first["until"]

    later = _failed_rollback("DataError: late")
    third = check_alerts.apply().result
    assert [a["context"]["rollback_request"] for a in third["alerts"]] == [later.pk]


def test_failed_rollback_alerts_can_be_switched_off(db, settings):
    _failed_rollback()
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "ALERT_FAILED_ROLLBACKS": False}
    assert alerts_check()["alerts"] == []


def test_the_example_prometheus_rules_use_metrics_that_exist():
    import re
    from pathlib import Path

    from prometheus_client import REGISTRY

    yaml = pytest.importorskip("yaml")
    import caching.metrics  # noqa: F401 - registers the cache metrics
    import models_registry.jobs.runner  # noqa: F401 - registers the task metrics

    text = (Path(__file__).resolve().parents[2] / "docs" / "prometheus-alerts.yml").read_text()
    rules = [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]
    assert rules and all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    known = {sample.name for metric in REGISTRY.collect() for sample in metric.samples}
    known |= {metric.name for metric in REGISTRY.collect()}
    used = set(re.findall(r"model_registry_[a-z0-9_]+", " ".join(rule["expr"] for rule in rules)))
    missing = {name for name in used if name not in known and name.removesuffix("_total") not in known}
    assert not missing, missing

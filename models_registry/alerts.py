"""Alerts: thresholds from settings, one way to raise them, three ways to hear them.

``alert_raise(kind, message, severity="warning", **context)`` is the one entry point — the
checks below call it, the task runner calls it when a maintenance task fails for good, and
other parts of the registry (the catalogue sync: ``alert_raise("sync_failed", ...)``) call it
for their own failures. Each alert

- logs one line on the ``models_registry.alerts`` logger (``WARNING`` or ``ERROR``);
- sends the ``alert_raised`` signal (``send_robust``: a failing receiver cannot stop it);
- increments the Prometheus counter ``model_registry_alerts_total{kind}``.

Signal ``alert_raised`` — ``sender`` is ``ALERT_SENDER`` (``"model_registry.alerts"``);
keyword arguments: ``alert`` (the ``Alert``), ``kind`` (str), ``severity`` (``"warning"`` or
``"error"``), ``message`` (str), ``context`` (dict, JSON-safe). Connect a receiver in your
``AppConfig.ready()`` to page someone, post to chat, open a ticket.

Kinds raised here: ``cache_miss_rate``, ``cache_breaker_open``, ``l1_memory_pressure``,
``rollback_failed``, ``task_failed``; reserved for the catalogue sync: ``sync_failed``.

``alerts_check()`` (the ``check_alerts`` task, every 5 minutes) evaluates:

- **Redis breaker open** (``ALERT_BREAKER_OPEN``): probes Redis once through the cache's
  circuit breaker, alerts (error) if the breaker is not closed;
- **high miss rate** (``ALERT_MISS_RATE``, over at least ``ALERT_MISS_RATE_MIN_LOOKUPS``
  lookups): the share of lookups that reached the database — cache counters of this process,
  or of every process on the host when ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus-client's
  multiprocess mode). Counters are cumulative; for a windowed rate across hosts use the
  Prometheus rules in ``docs/prometheus-alerts.yml``;
- **L1 memory pressure** (``ALERT_L1_MEMORY_RATIO``): bytes held by this process's L1 over its
  budget (meaningful where the check runs in a serving process; fleet-wide, alert on the
  ``model_registry_cache_evictions_total{reason="memory"}`` rate);
- **failed rollbacks** (``ALERT_FAILED_ROLLBACKS``): rollback requests that failed since the
  previous successful check ended (first check: the last ``ALERT_LOOKBACK_MINUTES``), one
  alert each.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.dispatch import Signal
from django.utils import timezone
from prometheus_client import Counter

from .conf import registry_settings

logger = logging.getLogger("models_registry.alerts")

ALERT_SENDER = "model_registry.alerts"
CHECK_TASK = "models_registry.tasks.check_alerts"
SEVERITIES = {"warning": logging.WARNING, "error": logging.ERROR}

alert_raised = Signal()
ALERTS = Counter("model_registry_alerts_total", "Alerts raised, by kind.", ["kind"])


@dataclass(frozen=True)
class Alert:
    kind: str
    severity: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "context": self.context,
        }


def alert_raise(kind: str, message: str, *, severity: str = "warning", **context: Any) -> Alert:
    """Raise one alert: log line, ``alert_raised`` signal, ``model_registry_alerts_total``."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    from .jobs.runner import jsonable

    alert = Alert(kind=kind, severity=severity, message=message, context=jsonable(context))
    logger.log(SEVERITIES[severity], "ALERT %s: %s", kind, message, extra={"alert": alert.as_dict()})
    ALERTS.labels(kind=kind).inc()
    for receiver, response in alert_raised.send_robust(
        sender=ALERT_SENDER, alert=alert, kind=kind, severity=severity, message=message, context=alert.context
    ):
        if isinstance(response, Exception):
            logger.error("alert receiver %r failed: %s", receiver, response)
    return alert


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _cache():
    if not apps.is_installed("caching"):
        return None
    from caching.service import model_cache

    cache = model_cache()
    return cache if cache.enabled else None


def check_breaker() -> list[Alert]:
    if not registry_settings.ALERT_BREAKER_OPEN:
        return []
    cache = _cache()
    if cache is None or cache.remote is None:
        return []
    from caching.remote import RemoteUnavailable

    try:
        cache.remote.generation()  # one probe through the breaker (counts as a failure if down)
    except RemoteUnavailable:
        pass
    state = cache.breaker.state
    if state == "closed":
        return []
    return [
        alert_raise(
            "cache_breaker_open",
            f"The Redis circuit breaker is {state}: the model cache is serving from the database.",
            severity="error",
            state=state,
        )
    ]


def _multiprocess_totals(names: set[str]) -> dict[tuple[str, str], float]:
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    totals: dict[tuple[str, str], float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name in names:
                key = (sample.name, sample.labels.get("tier", ""))
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def cache_lookup_counts() -> dict[str, float]:
    """``{"lookups", "database"}``: model lookups (L1 hits + L1 misses) and those that reached
    the database (L2 misses) — this process, or the host in multiprocess mode."""
    from caching import metrics

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        hits, misses = "model_registry_cache_hits_total", "model_registry_cache_misses_total"
        totals = _multiprocess_totals({hits, misses})
        l1_hits, l1_misses = totals.get((hits, "l1"), 0.0), totals.get((misses, "l1"), 0.0)
        database = totals.get((misses, "l2"), 0.0)
    else:
        l1_hits = metrics.counter_value(metrics.HITS, tier="l1")
        l1_misses = metrics.counter_value(metrics.MISSES, tier="l1")
        database = metrics.counter_value(metrics.MISSES, tier="l2")
    return {"lookups": l1_hits + l1_misses, "database": database}


def check_miss_rate() -> list[Alert]:
    threshold = registry_settings.ALERT_MISS_RATE
    if threshold is None or _cache() is None:
        return []
    counts = cache_lookup_counts()
    lookups = counts["lookups"]
    if lookups < max(1, int(registry_settings.ALERT_MISS_RATE_MIN_LOOKUPS)):
        return []
    rate = counts["database"] / lookups
    if rate <= float(threshold):
        return []
    return [
        alert_raise(
            "cache_miss_rate",
            f"{rate:.1%} of {int(lookups)} model lookups reached the database "
            f"(threshold {float(threshold):.0%}).",
            miss_rate=round(rate, 4),
            lookups=int(lookups),
            threshold=float(threshold),
        )
    ]


def check_l1_memory() -> list[Alert]:
    ratio = registry_settings.ALERT_L1_MEMORY_RATIO
    cache = _cache()
    if ratio is None or cache is None or not cache.local.max_bytes:
        return []
    used = cache.local.currsize / cache.local.max_bytes
    if used < float(ratio):
        return []
    return [
        alert_raise(
            "l1_memory_pressure",
            f"The in-process cache holds {used:.0%} of its {cache.local.max_bytes} byte budget.",
            used_ratio=round(used, 4),
            bytes=cache.local.currsize,
            max_bytes=cache.local.max_bytes,
            pid=os.getpid(),
        )
    ]


def _previous_check_until() -> dt.datetime | None:
    """Where the previous successful check's window ended (its ``until``)."""
    from .jobs.models import TaskRun

    run = (
        TaskRun.objects.filter(name=CHECK_TASK, outcome=TaskRun.Outcome.OK)
        .order_by("-started_at")
        .only("started_at", "result")
        .first()
    )
    if run is None:
        return None
    until = (run.result or {}).get("until") if isinstance(run.result, dict) else None
    try:
        return dt.datetime.fromisoformat(until) if until else run.started_at
    except (TypeError, ValueError):
        return run.started_at


def check_failed_rollbacks(*, since: dt.datetime, until: dt.datetime) -> list[Alert]:
    if not registry_settings.ALERT_FAILED_ROLLBACKS or not apps.is_installed("versioning"):
        return []
    from versioning.models import RollbackRequest

    failed = (
        RollbackRequest.objects.filter(
            status=RollbackRequest.Status.FAILED, executed_at__gte=since, executed_at__lt=until
        )
        .select_related("ai_model")
        .order_by("executed_at", "pk")
    )
    return [
        alert_raise(
            "rollback_failed",
            f"Rollback request #{request.pk} of {request.ai_model.key} failed: {request.error}",
            severity="error",
            rollback_request=request.pk,
            model=request.ai_model.key,
            error=request.error,
        )
        for request in failed
    ]


def alerts_check(*, since: dt.datetime | None = None) -> dict[str, Any]:
    """Evaluate every threshold once; returns ``{"alerts": [...], "since", "until"}``. Event-like
    alerts (failed rollbacks) cover ``[since, until)``: ``since`` defaults to where the previous
    successful check ended, so consecutive checks neither repeat nor skip an event."""
    until = timezone.now()
    if since is None:
        since = _previous_check_until() or until - dt.timedelta(
            minutes=int(registry_settings.ALERT_LOOKBACK_MINUTES)
        )
    raised: list[Alert] = []
    raised += check_breaker()
    raised += check_miss_rate()
    raised += check_l1_memory()
    raised += check_failed_rollbacks(since=since, until=until)
    return {"alerts": [a.as_dict() for a in raised], "since": since.isoformat(), "until": until.isoformat()}

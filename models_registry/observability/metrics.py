"""Prometheus metrics of requests and domain events, and the ``/metrics`` exposition.

Metrics defined here (all prometheus-client, names ``model_registry_*``):

- ``http_request_duration_seconds{route, method, status}`` histogram — ``route`` is the URL
  pattern that matched (``api/v1/models/<int:pk>/``; ``unmatched`` for a 404 without a route),
  ``status`` the class (``2xx`` … ``5xx``): bounded cardinality whatever the paths requested;
- ``http_request_db_queries{route, method}`` histogram — database queries per request;
- ``db_queries_total`` — every query made while serving a request;
- ``versions_created_total{source, impact}``;
- ``rollbacks_total{outcome}`` — requested, approved, rejected, cancelled, expired, completed, failed;
- ``sync_runs_total{status}`` — ok, failed, refused (dry runs included);
- ``imports_total{outcome}`` and ``imported_models_total{action}`` (created, updated, unchanged,
  deactivated, skipped).

Defined elsewhere and exposed here too: the cache (``caching/metrics.py``: hits and misses by
tier, evictions, invalidations, Redis errors, breaker, operation latency), the maintenance
tasks (``models_registry/jobs/runner.py``: ``task_runs_total{task, outcome}``,
``task_last_success_timestamp_seconds``) and ``alerts_total`` (``models_registry/alerts.py``).

Multiprocess mode (gunicorn with several workers): set the environment variable
``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory *before* the server starts (the
same value in the master and every worker), and call
``prometheus_client.multiprocess.mark_process_dead(worker.pid)`` from gunicorn's ``child_exit``
hook (``config/gunicorn.conf.py`` does both). Each process then writes its values to files
there and ``/metrics`` — served by any worker — aggregates every process's files with a
``MultiProcessCollector`` on a fresh ``CollectorRegistry``: counters and histograms are summed;
gauges follow their ``multiprocess_mode`` (``max`` for the breaker and last-success gauges).
Empty the directory at every deployment/restart (stale files of an old master would be
summed). Without the variable, ``/metrics`` serves the process's default registry (with the
process and platform collectors).

Access: ``MODEL_REGISTRY["METRICS_ALLOWED_IPS"]`` (networks allowed to scrape; default: loopback
and private networks, for requests that did not come through a proxy) and
``MODEL_REGISTRY["METRICS_TOKEN"]`` (a bearer token that is accepted from anywhere; default
unset). See ``views.metrics_allowed``.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_DURATION = Histogram(
    "model_registry_http_request_duration_seconds",
    "HTTP request latency by URL pattern, method and status class.",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_DB_QUERIES = Histogram(
    "model_registry_http_request_db_queries",
    "Database queries per HTTP request, by URL pattern and method.",
    ["route", "method"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 100, 250),
)
DB_QUERIES = Counter("model_registry_db_queries_total", "Database queries made while serving HTTP requests.")
VERSIONS_CREATED = Counter(
    "model_registry_versions_created_total",
    "Model versions recorded, by source and impact.",
    ["source", "impact"],
)
ROLLBACKS = Counter("model_registry_rollbacks_total", "Rollback request events, by outcome.", ["outcome"])
SYNC_RUNS = Counter("model_registry_sync_runs_total", "Catalogue sync runs, by status.", ["status"])
IMPORTS = Counter("model_registry_imports_total", "Catalogue imports finished, by outcome.", ["outcome"])
IMPORTED_MODELS = Counter(
    "model_registry_imported_models_total", "Models handled by catalogue imports, by action.", ["action"]
)


def multiprocess_dir() -> str | None:
    """The multiprocess directory when multiprocess mode is on (``PROMETHEUS_MULTIPROC_DIR``)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


def exposition() -> tuple[bytes, str]:
    """``(body, content type)`` of every metric in Prometheus text format: all processes of the
    host in multiprocess mode, else this process's default registry."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

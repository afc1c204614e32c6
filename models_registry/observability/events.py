"""Domain outcomes → one metric and one operation log line each, after the transaction commits.

Services call one function where an outcome is decided; nothing here changes data, and a
failure here is logged and swallowed (observability must never break a write). Work inside a
transaction is deferred with ``transaction.on_commit``: a rolled-back write counts and logs
nothing.

Log lines are INFO on the loggers named below with ``extra={"operation": ...}``; they carry
identifiers, numbers, counts and *names* of changed fields — never field values (metadata can
hold secrets).

=====================  =======================  ==========================================
operation              logger                   fields
=====================  =======================  ==========================================
model.created …        models_registry.writes   key, revision, fields, source, user
version.recorded       versioning.versions      key, number, impact, source
versions.recorded      versioning.versions      count, by_impact, source (a bulk write)
rollback.<outcome>     versioning.rollbacks     rollback_request, key, target_version, …
sync.finished          models_registry.sync     source, status, dry_run, counts, duration_ms
import.finished        models_registry.imports  source, format, dry_run, counts
task.finished          models_registry.jobs     task, outcome, attempt, duration_ms
cache.invalidated      caching.invalidation     scope, count, reason
=====================  =======================  ==========================================
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

from django.db import transaction

from . import metrics

logger = logging.getLogger(__name__)
versions_logger = logging.getLogger("versioning.versions")
rollbacks_logger = logging.getLogger("versioning.rollbacks")
sync_logger = logging.getLogger("models_registry.sync")
imports_logger = logging.getLogger("models_registry.imports")
tasks_logger = logging.getLogger("models_registry.jobs")

# A bulk write logs one line per version up to this many, else one summary line.
VERSION_LINES_MAX = 20
ROLLBACK_OUTCOMES = {
    "pending": "requested",
    "approved": "approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "expired": "expired",
    "completed": "completed",
    "failed": "failed",
}


def _safely(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - never let observability break the caller
            logger.exception("could not record an observability event")

    return run


def after_commit(fn: Callable[[], None]) -> None:
    """Run ``fn`` after the current transaction commits (at once outside one); errors are logged."""
    transaction.on_commit(_safely(fn))


def _username(user) -> str | None:
    if user is None or getattr(user, "pk", None) is None:
        return None
    getter = getattr(user, "get_username", None)
    return str(getter()) if callable(getter) else str(user.pk)


def _cached(instance, name: str):
    """The related object ``instance.<name>`` if already loaded, else ``None`` (never a query)."""
    field = instance._meta.get_field(name)
    return field.get_cached_value(instance) if field.is_cached(instance) else None


def versions_recorded(*, versions: Iterable, keys: Iterable[str]) -> None:
    """Versions written (``versioning.services.recording.versions_write``; ``keys``: the model key
    of each version, in order): counts by source and impact; one line per version for small
    writes, one summary line for a bulk import."""
    rows = [(key, v.number, v.impact, v.source) for v, key in zip(versions, keys, strict=False)]
    if not rows:
        return

    def emit() -> None:
        for (source, impact), n in Counter((source, impact) for _, _, impact, source in rows).items():
            metrics.VERSIONS_CREATED.labels(source=source or "unknown", impact=impact or "unknown").inc(n)
        if len(rows) <= VERSION_LINES_MAX:
            for key, number, impact, source in rows:
                versions_logger.info(
                    "version %s of %s recorded (%s impact)",
                    number,
                    key,
                    impact,
                    extra={
                        "operation": "version.recorded",
                        "key": key,
                        "number": number,
                        "impact": impact,
                        "source": source,
                    },
                )
        else:
            by_impact = dict(Counter(impact for _, _, impact, _ in rows))
            sources = sorted({source for *_, source in rows})
            versions_logger.info(
                "%d versions recorded",
                len(rows),
                extra={
                    "operation": "versions.recorded",
                    "count": len(rows),
                    "by_impact": by_impact,
                    "source": ",".join(sources),
                },
            )

    after_commit(emit)


def rollback_recorded(*, rollback_request, actor=None) -> None:
    """A rollback request was saved in its new status (requested … completed/failed)."""
    outcome = ROLLBACK_OUTCOMES.get(str(rollback_request.status), str(rollback_request.status))
    model = _cached(rollback_request, "ai_model")
    fields = {
        "operation": f"rollback.{outcome}",
        "rollback_request": rollback_request.pk,
        "model_id": rollback_request.ai_model_id,
        "key": getattr(model, "key", None),
        "target_version": getattr(_cached(rollback_request, "target_version"), "number", None),
        "result_version": getattr(_cached(rollback_request, "result_version"), "number", None),
    }
    user = _username(actor)
    if user:
        fields["user"] = user
    level = logging.WARNING if outcome == "failed" else logging.INFO

    def emit() -> None:
        metrics.ROLLBACKS.labels(outcome=outcome).inc()
        rollbacks_logger.log(
            level, "rollback request #%s %s", fields["rollback_request"], outcome, extra=fields
        )

    after_commit(emit)


def sync_run_finished(*, run) -> None:
    """A catalogue sync run ended (``models_registry.sync.services``)."""
    duration_ms = None
    if run.finished_at and run.started_at:
        duration_ms = round((run.finished_at - run.started_at).total_seconds() * 1000, 1)
    counts = {
        name: getattr(run, name, 0)
        for name in ("fetched", "created", "applied", "held", "unchanged", "deprecated")
    }
    fields = {
        "operation": "sync.finished",
        "source": run.source.name,
        "status": run.status,
        "dry_run": run.dry_run,
        "counts": counts,
        "errors": len(run.errors or []),
        "duration_ms": duration_ms,
    }
    level = logging.INFO if run.status == "ok" else logging.WARNING

    def emit() -> None:
        metrics.SYNC_RUNS.labels(status=run.status).inc()
        sync_logger.log(level, "sync of %s finished: %s", fields["source"], run.status, extra=fields)

    after_commit(emit)


def safe_location(location: str) -> str:
    """A catalogue path or URL without what may be a credential (user info, query, fragment)."""
    parts = urlsplit(str(location))
    if not parts.scheme or not parts.netloc:
        return str(location)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def import_finished(*, report) -> None:
    """A catalogue import ended (``models_registry.catalog.importer.catalog_import``)."""
    counts = report.counts()
    location = safe_location(report.source)
    outcome = "dry_run" if report.dry_run else "ok"

    def emit() -> None:
        metrics.IMPORTS.labels(outcome=outcome).inc()
        if not report.dry_run:
            for action, n in counts.items():
                if n:
                    metrics.IMPORTED_MODELS.labels(action=action).inc(n)
        imports_logger.info(
            "import of %s finished: %s",
            location,
            report.summary(),
            extra={
                "operation": "import.finished",
                "source": location,
                "format": report.fmt,
                "dry_run": report.dry_run,
                "counts": counts,
            },
        )

    after_commit(emit)


def task_finished(
    *, name: str, outcome: str, attempt: int | None = None, duration_ms: float | None = None
) -> None:
    """A maintenance task attempt ended (the ``task_runs_total`` counter is ``jobs/runner.py``'s)."""
    level = logging.INFO if outcome in ("ok", "skipped") else logging.WARNING
    tasks_logger.log(
        level,
        "task %s: %s",
        name,
        outcome,
        extra={
            "operation": "task.finished",
            "task": name,
            "outcome": outcome,
            "attempt": attempt,
            "duration_ms": duration_ms,
        },
    )

"""Run one attempt of a maintenance task: take the lock, call the service, record the outcome.

``run_task(name=..., fn=..., kwargs=..., task=...)`` is what every task body is (the
``maintenance_task`` decorator calls it). One ``TaskRun`` row per attempt:

- lock held by another run → a ``skipped`` row, nothing called, returns ``{"skipped": True}``;
- otherwise ``running`` rows of earlier attempts (their process was killed: the lock is free,
  so none of them is still working) become ``failed`` (``ABANDONED``), then a ``running`` row,
  then the service; its return value (made JSON-safe) is the
  row's ``result`` and the outcome is ``ok``;
- an exception: ``retrying`` if it is transient (``policy.is_transient``) and retries are left
  (Celery's ``autoretry_for`` then schedules the next attempt), else ``failed`` — and a final
  failure raises a ``task_failed`` alert. The exception is re-raised either way.

Metrics: ``model_registry_task_runs_total{task, outcome}``, and
``model_registry_task_last_success_timestamp_seconds{task}`` (alert when it gets old).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.utils import timezone
from prometheus_client import Counter, Gauge

from ..observability import events as observability
from . import policy
from .lock import task_lock
from .models import TaskRun

logger = logging.getLogger("models_registry.jobs")

TASK_RUNS = Counter(
    "model_registry_task_runs_total", "Maintenance task attempts by outcome.", ["task", "outcome"]
)
LAST_SUCCESS = Gauge(
    "model_registry_task_last_success_timestamp_seconds",
    "Unix time of the last successful run of a maintenance task.",
    ["task"],
    multiprocess_mode="max",
)

Outcome = TaskRun.Outcome
MAX_ERROR_CHARS = 4000
ABANDONED = "Abandoned: the process running this attempt ended before it recorded an outcome."


def jsonable(value: Any) -> Any:
    """``value`` as JSON-safe data (dicts, lists, str, numbers, None): objects with an
    ``as_dict()`` and dataclasses as dicts, anything else as ``str``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if callable(getattr(value, "as_dict", None)):
        return jsonable(value.as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return str(value)


def _retries_left(task) -> bool:
    if task is None or task.request.called_directly:
        return False
    max_retries = task.max_retries
    return max_retries is None or task.request.retries < max_retries


def _request_info(task) -> tuple[str, int, str]:
    if task is None or task.request.called_directly:
        return f"direct-{uuid.uuid4().hex}", 1, socket.gethostname()
    request = task.request
    return str(request.id or ""), int(request.retries or 0) + 1, str(request.hostname or socket.gethostname())


def _finish(run: TaskRun, outcome: str, started: float, *, result=None, error: str = "") -> None:
    run.outcome = outcome
    run.finished_at = timezone.now()
    run.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    run.result = jsonable(result) if result is not None else {}
    run.error = error[:MAX_ERROR_CHARS]
    try:
        run.save(update_fields=["outcome", "finished_at", "duration_ms", "result", "error"])
    except Exception:  # noqa: BLE001 - the database may be what failed; the log keeps the outcome
        logger.exception("could not record the outcome %s of task %s", outcome, run.name)
    observability.task_finished(
        name=run.name, outcome=outcome, attempt=run.attempt, duration_ms=run.duration_ms
    )


def _close_abandoned(name: str) -> int:
    """Mark ``failed`` the ``running`` rows of ``name`` left by an attempt whose process died
    (SIGKILL, OOM, lost host) before it could record an outcome. Called with the task's lock held,
    so no other attempt of ``name`` is running: every such row is abandoned."""
    abandoned = TaskRun.objects.filter(name=name, outcome=Outcome.RUNNING).update(
        outcome=Outcome.FAILED, finished_at=timezone.now(), error=ABANDONED
    )
    if abandoned:
        TASK_RUNS.labels(task=name, outcome=Outcome.FAILED).inc(abandoned)
        logger.warning("task %s: %d earlier attempt(s) died while running; marked failed", name, abandoned)
    return abandoned


def run_task(*, name: str, fn: Callable[..., Any], kwargs: Mapping[str, Any] | None = None, task=None) -> Any:
    """Run ``fn(**kwargs)`` as one single-flight attempt of task ``name`` and record it."""
    kwargs = dict(kwargs or {})
    task_id, attempt, hostname = _request_info(task)
    with task_lock(name) as acquired:
        if not acquired:
            now = timezone.now()
            TaskRun.objects.create(
                name=name,
                task_id=task_id,
                attempt=attempt,
                outcome=Outcome.SKIPPED,
                started_at=now,
                finished_at=now,
                duration_ms=0,
                result={"skipped": "another run of this task holds the lock"},
                hostname=hostname,
            )
            TASK_RUNS.labels(task=name, outcome=Outcome.SKIPPED).inc()
            logger.info("task %s skipped: another run holds its lock", name)
            return {"skipped": True}
        _close_abandoned(name)
        run = TaskRun.objects.create(
            name=name, task_id=task_id, attempt=attempt, started_at=timezone.now(), hostname=hostname
        )
        started = time.perf_counter()
        try:
            result = fn(**kwargs)
        except Exception as exc:
            retrying = policy.is_transient(exc) and _retries_left(task)
            outcome = Outcome.RETRYING if retrying else Outcome.FAILED
            _finish(run, outcome, started, error=f"{type(exc).__name__}: {exc}")
            TASK_RUNS.labels(task=name, outcome=outcome).inc()
            if retrying:
                logger.warning("task %s attempt %s failed (%s); retrying", name, attempt, exc)
            else:
                logger.error("task %s failed (attempt %s): %s", name, attempt, exc, exc_info=True)
                _alert_failure(name, attempt, exc, run)
            raise
        result = jsonable(result)
        _finish(run, Outcome.OK, started, result=result)
        TASK_RUNS.labels(task=name, outcome=Outcome.OK).inc()
        LAST_SUCCESS.labels(task=name).set(time.time())
        return result


def _alert_failure(name: str, attempt: int, exc: Exception, run: TaskRun) -> None:
    from ..alerts import alert_raise

    try:
        alert_raise(
            "task_failed",
            f"Maintenance task {name} failed: {type(exc).__name__}: {exc}",
            severity="error",
            task=name,
            attempt=attempt,
            task_run=run.pk,
        )
    except Exception:  # noqa: BLE001 - an alert receiver must not hide the task's own error
        logger.exception("could not raise the task_failed alert of %s", name)

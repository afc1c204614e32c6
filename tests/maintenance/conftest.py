"""Fixtures of the maintenance tests: aged models, lock backends, threads with their own
database connections, task-run lookups."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from models_registry.jobs.models import TaskRun
from models_registry.models import AIModel


def registry(**overrides) -> dict:
    """``MODEL_REGISTRY`` of the test settings with ``overrides``."""
    from django.conf import settings

    return {**settings.MODEL_REGISTRY, **overrides}


def age(model: AIModel, days: float) -> AIModel:
    """Test setup only: pretend ``model`` was last written ``days`` ago (``updated_at`` is
    ``auto_now``, so only a queryset update can move it back)."""
    AIModel.objects.filter(pk=model.pk).update(updated_at=timezone.now() - dt.timedelta(days=days))
    model.refresh_from_db()
    return model


def runs(name: str) -> list[TaskRun]:
    return list(TaskRun.objects.filter(name=name).order_by("pk"))


def outcomes(name: str) -> list[str]:
    return [run.outcome for run in runs(name)]


class Worker(threading.Thread):
    """A thread that runs ``fn`` with its own database connection and keeps its result/error."""

    def __init__(self, fn: Callable[[], object]):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            connections.close_all()


@pytest.fixture(params=["postgres", "redis", "db"])
def lock_backend(request, settings):
    """Each single-flight backend in turn (skipped where its service is missing)."""
    backend = request.param
    if backend == "postgres" and not settings.TEST_SERVICES["postgres"]:
        pytest.skip("postgres not available on this machine")
    if backend == "redis" and not settings.TEST_SERVICES["redis"]:
        pytest.skip("redis not available on this machine")
    with override_settings(MODEL_REGISTRY=registry(TASK_LOCK_BACKEND=backend)):
        yield backend


__all__ = ["Worker", "age", "outcomes", "registry", "runs"]

"""A real Celery worker (a subprocess, Redis broker, this run's PostgreSQL test database) runs
maintenance tasks end to end — not eager — and honours the single-flight lock held by another
process.

The worker gets its own Redis database (``MR_TEST_CELERY_DB``, default 14) and a queue named
after this run, and ``CELERY_TEST_BROKER_URL`` (the one switch ``config.settings.test`` has for a
real broker). The test process sends with an explicit broker connection and eager mode off for
the duration of the test. At the end the worker is stopped and the Redis database emptied.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings

from config.celery import app
from models_registry.jobs.lock import task_lock
from models_registry.jobs.models import TaskRun
from models_registry.models import AIModel
from models_registry.tasks import purge_deactivated_models
from tests.caching.helpers import database_url, wait_for
from tests.maintenance.conftest import age

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

BASE_DIR = Path(__file__).resolve().parents[2]
CELERY_DB = int(os.environ.get("MR_TEST_CELERY_DB", "14"))


def _broker_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{CELERY_DB}", "", ""))


def _celery() -> list[str]:
    script = Path(sys.executable).parent / "celery"
    return [str(script)] if script.exists() else [sys.executable, "-m", "celery"]


class CeleryWorker:
    def __init__(self, broker_url: str, log: Path):
        self.broker_url = broker_url
        self.queue = f"mrtest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_TEST_BROKER_URL": broker_url,
            "PYTHONPATH": str(BASE_DIR),
        }
        env.pop("REQUIRE_SERVICES", None)
        command = [
            *_celery(), "-A", "config", "worker",
            "--queues", self.queue, "--hostname", f"{self.queue}@%h",
            "--pool", "prefork", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 40) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.output()}")
            return " ready." in self.log.read_text(errors="replace")

        assert wait_for(ready, timeout, interval=0.1), f"the worker did not start:\n{self.output()}"

    def send(self, task, **kwargs):
        with app.connection_for_write(self.broker_url) as connection:
            return task.apply_async(kwargs=kwargs, queue=self.queue, connection=connection)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the prefork children too
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self._log_file.close()

    def clean_broker(self) -> None:
        """Drop this run's queue; empty the database unless another run's queue is bound there."""
        client = redis.Redis.from_url(self.broker_url)
        try:
            for name in client.scan_iter(match=f"*{self.queue}*", count=1000):
                client.delete(name)
            others = [n for n in client.scan_iter(match="_kombu.binding.*", count=1000) if b"mrtest-" in n]
            if not others:
                client.flushdb()
        finally:
            client.close()


@pytest.fixture
def worker(transactional_db, tmp_path):
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    celery_worker = CeleryWorker(_broker_url(), tmp_path / "worker.log")
    try:
        celery_worker.wait_ready()
        yield celery_worker
    finally:
        app.conf.task_always_eager = previous
        celery_worker.stop()
        celery_worker.clean_broker()


def _wait_run(task_id: str, worker: CeleryWorker, timeout: float = 30) -> TaskRun:
    def finished():
        return (
            TaskRun.objects.filter(task_id=task_id)
            .exclude(outcome=TaskRun.Outcome.RUNNING)
            .order_by("-pk")
            .first()
        )

    assert wait_for(finished, timeout, interval=0.1), f"no outcome for task {task_id}:\n{worker.output()}"
    return finished()


def test_a_real_worker_runs_a_task_end_to_end_and_respects_the_lock(worker):
    from models_registry import services
    from tests.factories import AIModelFactory, ProviderFactory

    model = AIModelFactory(provider=ProviderFactory(slug="acme"), name="worker-old")
    services.ai_model_deactivate(ai_model=model, reason="retired")
    age(model, 365)

    # Another process (this one) is running the purge: the worker's run must do nothing.
    with task_lock(purge_deactivated_models.name) as held:
        assert held
        sent = worker.send(purge_deactivated_models)
        skipped = _wait_run(sent.id, worker)
    assert skipped.outcome == TaskRun.Outcome.SKIPPED, worker.output()
    assert skipped.hostname.startswith(worker.queue + "@")  # recorded by the worker, not here
    assert AIModel.objects.filter(pk=model.pk).exists()

    # Lock free: the worker does the work and records it.
    started = time.monotonic()
    sent = worker.send(purge_deactivated_models)
    run = _wait_run(sent.id, worker)
    assert run.outcome == TaskRun.Outcome.OK, f"{run.error}\n{worker.output()}"
    assert run.hostname.startswith(worker.queue + "@") and run.attempt == 1
    assert run.result["keys"] == ["acme/worker-old"] and run.result["purged"] == 1
    assert not AIModel.objects.filter(pk=model.pk).exists()
    assert time.monotonic() - started < 30

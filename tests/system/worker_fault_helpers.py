"""A real Celery worker that can be killed in the middle of a task, for the worker-fault tests.

The worker runs ``celery -A tests.system.worker_fault_helpers worker``: this module's ``app`` is
the project's Celery app with two test-only additions, both driven by environment variables so
the project code carries no test hook:

- a short Redis ``visibility_timeout`` (``MR_FAULT_VISIBILITY``, seconds) and a restore sweep
  every second, so a message left unacknowledged by a worker killed as a whole is handed out again
  within seconds (production keeps kombu's default of one hour);
- a pause point (``MR_FAULT_HOOK`` = ``sync`` or ``purge``): in the worker's pool process, once,
  the task stops at a chosen point — writes done but not committed — writes the pid of the
  process into ``MR_FAULT_MARKER`` and sleeps there until the test kills it. The marker file is
  created exclusively, so a redelivered attempt (marker present) runs straight through.

  ``sync``: after the real (not dry-run) ``ai_model_bulk_upsert`` of a sync run, inside the
  run's transaction. ``purge``: inside the transaction of the ``MR_FAULT_AFTER``-th model the
  purge deletes (the earlier ones are committed, one transaction each).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from celery.signals import worker_process_init

from config.celery import app

BASE_DIR = Path(__file__).resolve().parents[2]
PAUSE_SECONDS = 120

_visibility = os.environ.get("MR_FAULT_VISIBILITY")
if _visibility:
    app.conf.broker_transport_options = {
        "visibility_timeout": int(_visibility),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }


def _pause() -> None:
    """Once per test (the marker file): record this process's pid, then wait to be killed."""
    marker = os.environ["MR_FAULT_MARKER"]
    try:
        os.close(os.open(marker + ".claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # the redelivered attempt: run through
    Path(marker + ".tmp").write_text(str(os.getpid()))
    os.rename(marker + ".tmp", marker)  # the test sees the pid complete or not at all
    time.sleep(PAUSE_SECONDS)


def _hook_sync() -> None:
    from models_registry import services

    real = services.ai_model_bulk_upsert

    def bulk_upsert(*args, **kwargs):
        result = real(*args, **kwargs)
        if not kwargs.get("dry_run") and kwargs.get("source") == "sync":
            _pause()
        return result

    services.ai_model_bulk_upsert = bulk_upsert


def _hook_purge() -> None:
    from django.db import transaction

    from models_registry.services import purge

    real = purge._purge_one
    after = int(os.environ.get("MR_FAULT_AFTER", "1"))
    calls = {"n": 0}

    def purge_one(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] != after:
            return real(*args, **kwargs)
        with transaction.atomic():
            result = real(*args, **kwargs)
            _pause()
            return result

    purge._purge_one = purge_one


@worker_process_init.connect
def _install_hook(**kwargs) -> None:
    hook = os.environ.get("MR_FAULT_HOOK")
    if hook:
        {"sync": _hook_sync, "purge": _hook_purge}[hook]()


# --------------------------------------------------------------------------------------------
# The test side
# --------------------------------------------------------------------------------------------


def _celery() -> list[str]:
    script = Path(sys.executable).parent / "celery"
    return [str(script)] if script.exists() else [sys.executable, "-m", "celery"]


class FaultyWorker:
    """``celery worker`` (prefork, one pool process) in its own session, on ``queue``."""

    def __init__(self, *, broker_url: str, database_url: str, redis_url: str, queue: str, log: Path, **env):
        self.broker_url = broker_url
        self.queue = queue
        self.log = log
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_TEST_BROKER_URL": broker_url,
            "PYTHONPATH": str(BASE_DIR),
            **{k: str(v) for k, v in env.items()},
        }
        environment.pop("REQUIRE_SERVICES", None)
        command = [
            *_celery(), "-A", "tests.system.worker_fault_helpers", "worker",
            "--queues", queue, "--hostname", f"{queue}-{uuid.uuid4().hex[:4]}@%h",
            "--pool", "prefork", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=environment,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.output()}")
        return " ready." in self.log.read_text(errors="replace")

    def kill_all(self) -> None:
        """SIGKILL the worker and its pool processes at once (a host or container lost)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.kill_all()
        self._log_file.close()


def clean_broker(broker_url: str, queue: str) -> None:
    """Drop ``queue``'s keys; empty the database unless another run's queue is bound there."""
    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        for name in client.scan_iter(match=f"*{queue}*", count=1000):
            client.delete(name)
        others = [n for n in client.scan_iter(match="_kombu.binding.*", count=1000) if b"mrtest-" in n]
        if not others:
            client.flushdb()
    finally:
        client.close()

"""System-test harness: real gunicorn workers, real PostgreSQL and Redis, faults in between.

Building blocks (each usable on its own; ``tests/system/conftest.py`` wires them into fixtures):

- ``FaultProxy(target_port)`` (from ``tests/caching/helpers.py``): a TCP proxy on a spare port in
  front of PostgreSQL or Redis.
  ``blackhole()`` holds every byte (connections stay open and hang), ``reset()`` closes every
  connection and refuses new ones at once (the service looks unreachable), ``restore()``
  forwards again. Never stop the shared PostgreSQL server: put this proxy in front of it.
- ``RedisServer`` (from ``tests/caching/helpers.py``): a private ``redis-server`` the test owns
  (kill it, restart it, ``CONFIG SET maxmemory`` on it).
- ``Gunicorn(database_url=..., redis_url=...)``: ``gunicorn config.wsgi`` (2 workers by default)
  on a spare port, with ``tests/system/server_settings.py`` (the test settings, cache on, one
  namespace and key prefix shared by the workers); ``start()`` waits until it answers,
  ``stop()`` kills the whole process group (no orphans). Also a context manager.
- ``LoadGenerator(base_url, ...)`` (``load.py``, re-exported here): threads that read (retrieve,
  by-key, list) and write (PATCH with If-Match) for a bounded time, recording every response as
  a ``Sample``; ``mark(name)`` starts a named phase, ``summary()`` gives counts and p50/p99
  latency per phase, ``check_reads()`` checks every read against the writers' revision timeline.
- ``SystemData``: what the ``system_data`` fixture committed (tokens, models).

Typical use (see ``test_redis_faults.py``)::

    with Gunicorn(database_url=stack.database_url, redis_url=proxy.url) as server:
        load = LoadGenerator(server.url, token=data.tokens["editor"], models=data.models[:10])
        load.start(); load.mark("steady"); time.sleep(3); load.mark("fault"); ...; load.stop()
        assert load.check_reads() == []
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.caching.helpers import FaultProxy, RedisServer, spare_port, wait_for, with_port

from .load import LoadGenerator, Sample, percentile

__all__ = [
    "FaultProxy",
    "Gunicorn",
    "LoadGenerator",
    "RedisServer",
    "Sample",
    "SystemData",
    "percentile",
    "spare_port",
    "wait_for",
    "with_port",
]

BASE_DIR = Path(__file__).resolve().parents[2]
MODELS_URL = "/api/v1/models/"


# -- gunicorn --------------------------------------------------------------------------------------


class Gunicorn:
    """``gunicorn config.wsgi`` against the given database and Redis, on a spare port.

    ``registry`` is merged into ``MODEL_REGISTRY`` of the workers (the cache is on); ``namespace``
    is the cache namespace and default-cache key prefix all workers share. The output of the
    server goes to ``log_path`` (printed by ``log_tail()`` when a test fails)."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str | None,
        workers: int = 2,
        threads: int = 4,
        registry: dict | None = None,
        namespace: str | None = None,
        env: dict | None = None,
        timeout: int = 30,
        ready_token: str | None = None,
    ):
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.redis_url = redis_url
        self.workers = workers
        self.threads = threads
        self.registry = registry or {}
        self.namespace = namespace or f"mrsys-{os.getpid()}-{self.port}"
        self.extra_env = env or {}
        self.timeout = timeout
        self.ready_token = ready_token
        fd, self.log_path = tempfile.mkstemp(prefix="mr-gunicorn-", suffix=".log")
        os.close(fd)
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.system.server_settings",
            "DATABASE_URL": self.database_url,
            "MR_SYSTEM_NAMESPACE": self.namespace,
            "MR_SYSTEM_REGISTRY": json.dumps(self.registry),
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        else:
            env.pop("REDIS_URL", None)
            env["MR_SYSTEM_NO_REDIS"] = "1"
        env.pop("REQUIRE_SERVICES", None)
        return env

    def start(self, *, wait: float = 60) -> Gunicorn:
        assert self.process is None, "already started"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        args = [
            str(gunicorn),
            "config.wsgi:application",
            "--workers", str(self.workers),
            "--threads", str(self.threads),
            "--bind", f"127.0.0.1:{self.port}",
            "--timeout", str(self.timeout),
            "--graceful-timeout", "3",
            "--log-level", "warning",
            "--config", "/dev/null",  # plain arguments: the deployment config is not under test here
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills master and workers together
        )
        try:
            if not wait_for(self._answers, timeout=wait, interval=0.1):
                raise RuntimeError(f"gunicorn did not answer on {self.url}:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            response = httpx.get(f"{self.url}/health/live/", timeout=2)
            if response.status_code == 200:
                return True
            headers = {"Authorization": f"Token {self.ready_token}"} if self.ready_token else {}
            response = httpx.get(f"{self.url}{MODELS_URL}?limit=1", headers=headers, timeout=5)
            return response.status_code in ((200,) if self.ready_token else (200, 401, 403))
        except httpx.HTTPError:
            return False

    def worker_pids(self) -> list[int]:
        """The pids of the worker processes (children of the master)."""
        try:
            out = subprocess.run(
                ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
            ).stdout
        except OSError:
            return []
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # workers left behind, if any
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        finally:
            with contextlib.suppress(OSError, AttributeError):
                self._log.close()

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        return ""

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# -- data ------------------------------------------------------------------------------------------


@dataclass
class SystemData:
    """What ``system_data`` committed: ``tokens`` by username (``reader``: no permissions,
    ``editor``: add/change/delete models, ``staff``: superuser), ``models`` as
    ``[{"id", "key", "revision"}]`` (active, imported from real catalogue files), and the
    direct ``database_url`` of the (test) database holding them."""

    database_url: str
    tokens: dict[str, str]
    models: list[dict]

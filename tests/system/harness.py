"""System-test harness: real gunicorn workers, real PostgreSQL and Redis, faults in between.

Building blocks (each usable on its own; ``tests/system/conftest.py`` wires them into fixtures):

- ``FaultProxy(target_port)``: a TCP proxy on a spare port in front of PostgreSQL or Redis.
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
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.caching.helpers import RedisServer, spare_port, wait_for

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


def with_port(url: str, port: int, *, host: str = "127.0.0.1") -> str:
    """``url`` (postgres://, redis://) pointed at ``host:port`` instead (credentials and path kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# -- the fault proxy -------------------------------------------------------------------------------

FORWARD, BLACKHOLE, RESET = "forward", "blackhole", "reset"


class FaultProxy:
    """TCP proxy 127.0.0.1:``port`` → 127.0.0.1:``target_port`` with three modes:
    ``restore()`` (forward), ``blackhole()`` (hold everything: peers hang) and ``reset()``
    (close every connection with RST and refuse new ones: the service is unreachable)."""

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.mode = FORWARD
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self._start(self._accept_loop)

    def url(self, scheme_url: str) -> str:
        """``scheme_url`` (the real service's URL) pointed at this proxy."""
        return with_port(scheme_url, self.port)

    def blackhole(self) -> None:
        self.mode = BLACKHOLE

    def reset(self) -> None:
        self.mode = RESET
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _abort(sock)

    def restore(self) -> None:
        self.mode = FORWARD

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="fault-proxy")
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == RESET:
                _abort(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                _abort(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
                self.connections += 1
            self._start(self._pump, client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ)
        sel.register(upstream, selectors.EVENT_READ)
        try:
            while not self._closed.is_set():
                if self.mode == BLACKHOLE:
                    time.sleep(0.02)  # hold everything: the peers hang
                    continue
                if self.mode == RESET:
                    return
                for key, _ in sel.select(timeout=0.05):
                    if self.mode != FORWARD:
                        break
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    peer[key.fileobj].sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            with self._lock:
                with contextlib.suppress(ValueError):
                    self._pairs.remove((client, upstream))
            for sock in (client, upstream):
                _abort(sock) if self.mode == RESET else _close(sock)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _abort(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees "connection reset" at once."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _close(sock)


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

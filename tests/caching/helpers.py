"""Fault-injection helpers for the cache system tests.

- ``RedisServer``: a throw-away ``redis-server`` on a spare port (no RDB, no AOF), that a test
  can SIGKILL and restart on the same port.
- ``FaultProxy``: a TCP proxy a test controls: ``blackhole()`` (connections stay open but hang:
  requests are accepted, answers never come), ``reset()`` (every connection cut with RST, new
  ones refused: the service is unreachable), ``restore()`` (forwarding again delivers what was
  held, as a healed network would). ``BlackholeProxy``: the same in front of a Redis, with its URL.
- ``ChildReader``: a second OS process (``tests/caching/child_reader.py``) reading one model
  through the cache in a loop and reporting, as JSON lines, each new value it sees.
- ``cache_at(url, namespace)``: the model cache switched on against a given Redis URL.
- ``FailureLog``: records every Redis failure the circuit breaker is told about.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from django.conf import settings
from django.test import override_settings

from caching.service import ModelCache, model_cache, reset_model_cache
from tests.caching.conftest import cache_settings

BASE_DIR = Path(__file__).resolve().parents[2]


def spare_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class RedisServer:
    """``redis-server`` on 127.0.0.1:``port`` with persistence off, owned by the test."""

    def __init__(self, port: int | None = None):
        self.port = port or spare_port()
        self.dir = tempfile.mkdtemp(prefix="mr-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> RedisServer:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.dir,
                "--protected-mode", "no",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        probe = self.client()
        try:

            def answers() -> bool:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}")
                try:
                    return bool(probe.ping())
                except redis.RedisError:
                    return False

            if not wait_for(answers, timeout=10):
                raise RuntimeError(f"redis-server on port {self.port} did not answer")
        finally:
            probe.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; its data is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def with_port(url: str, port: int, *, host: str = "127.0.0.1") -> str:
    """``url`` (postgres://, redis://) pointed at ``host:port`` instead (credentials and path kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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


class BlackholeProxy(FaultProxy):
    """A ``FaultProxy`` in front of a Redis on 127.0.0.1:``target_port``; ``url`` is its
    ``redis://`` URL. ``blackhole()`` stops forwarding in both directions (connections stay open
    and hang); ``restore()`` resumes and delivers what was held, as a healed network would."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def caches_for(url: str) -> dict:
    """``settings.CACHES`` with the model cache's alias pointed at ``url`` (0.25 s timeouts)."""
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    caches["model_registry"] = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
    }
    return caches


@contextlib.contextmanager
def cache_at(url: str, namespace: str, **registry) -> Iterator[ModelCache]:
    """The model cache on, against the Redis at ``url``, in ``namespace``; yields this process's cache."""
    with override_settings(CACHES=caches_for(url), MODEL_REGISTRY=cache_settings(namespace, **registry)):
        reset_model_cache()
        try:
            yield model_cache()
        finally:
            reset_model_cache()


class FailureLog:
    """Every ``breaker.failure`` call (= one Redis call that errored or timed out)."""

    def __init__(self, breaker):
        self.calls: list[tuple[float, str, str]] = []
        original = breaker.failure

        def failure(exc, operation):
            self.calls.append((time.monotonic(), type(exc).__name__, operation))
            return original(exc, operation)

        breaker.failure = failure

    def __len__(self) -> int:
        return len(self.calls)


def database_url() -> str:
    """A URL for the database the tests run against (pytest-django's test database)."""
    db = settings.DATABASES["default"]
    auth = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{quote(db['NAME'])}"


class ChildReader:
    """``child_reader.py`` in its own process, reading ``key`` through the cache in a loop."""

    def __init__(
        self, *, key: str, namespace: str, l1_ttl: float, deaf: bool = False, max_seconds: float = 60
    ):
        config = {
            "key": key,
            "namespace": namespace,
            "l1_ttl": l1_ttl,
            "deaf": deaf,
            "max_seconds": max_seconds,
        }
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "MR_CHILD": json.dumps(config),
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("REQUIRE_SERVICES", None)
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("child_reader.py"))],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.events: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self._queue.put(json.loads(line))

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self._stderr.append(line)

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float) -> dict | None:
        """The first event (new ones first consumed in order) matching ``predicate``, or None."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                event = self._queue.get(timeout=remaining)
            except queue.Empty:
                return None
            self.events.append(event)
            if event.get("event") == "error":
                raise AssertionError(f"child reader failed: {event}")
            if predicate(event):
                return event

    @property
    def stderr(self) -> str:
        return "".join(self._stderr[-40:])

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()  # the child exits when its stdin closes
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=2)

"""gunicorn configuration for the web processes: ``gunicorn -c config/gunicorn.conf.py config.wsgi``.

Everything can be tuned from the environment (systemd ``EnvironmentFile``, compose ``environment``):

- ``GUNICORN_BIND`` (else ``0.0.0.0:$PORT``, else ``127.0.0.1:8000``) — where to listen;
- ``GUNICORN_WORKERS`` (default ``2 * cores + 1``), ``GUNICORN_THREADS`` (default 4);
- ``GUNICORN_TIMEOUT`` (30 s), ``GUNICORN_GRACEFUL_TIMEOUT`` (30 s), ``GUNICORN_KEEPALIVE`` (5 s);
- ``GUNICORN_MAX_REQUESTS`` (2000, 0 = never recycle) and ``GUNICORN_MAX_REQUESTS_JITTER`` (200);
- ``GUNICORN_FORWARDED_ALLOW_IPS`` (``127.0.0.1,::1``): the proxies whose ``X-Forwarded-*`` headers
  are believed (Django itself reads ``X-Forwarded-Proto`` through ``SECURE_PROXY_SSL_HEADER``);
- ``GUNICORN_LOG_LEVEL`` (info), ``GUNICORN_ACCESS_LOG`` (``-`` = stdout; empty = off);
- ``GUNICORN_CONTROL_SOCKET`` — a path turns on gunicorn's control socket (off by default);
- ``PROMETHEUS_MULTIPROC_DIR`` — prometheus-client's multiprocess mode (see the hooks below).

Worker class: ``gthread``. The API is read-heavy JSON whose requests mostly wait on Redis or
PostgreSQL round trips; threads overlap those waits inside one process, and every process has
its own L1 cache and pub/sub subscriber thread, so fewer processes with several threads each
get a higher L1 hit rate, hold fewer copies of the cache and fewer Redis subscriptions than as
many single-threaded ``sync`` processes (the cache is thread-safe: one lock, single-flight
fills). gthread also keeps idle keep-alive connections from the proxy off the worker's hands.
Each thread has its own database connection: budget ``workers × threads`` connections per
machine (see docs/deployment.md).
"""

import json
import multiprocessing
import os
import shutil
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _bind() -> str:
    if os.environ.get("GUNICORN_BIND"):
        return os.environ["GUNICORN_BIND"]
    if os.environ.get("PORT"):
        return f"0.0.0.0:{os.environ['PORT']}"
    return "127.0.0.1:8000"


wsgi_app = "config.wsgi:application"
bind = [address.strip() for address in _bind().split(",") if address.strip()]

worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1)
threads = _int("GUNICORN_THREADS", 4)

timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle workers now and then (bounds slow leaks); the jitter keeps them from restarting together.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)

# Each worker imports the app itself (no preload): a HUP then reloads new code, and nothing
# that the master imported (database connections, the cache's subscriber thread) is shared
# across a fork.
preload_app = False

forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Heartbeat files in memory, not on a disk that may be slow or read-only.
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"

# gunicorn ≥ 24's control socket lives under $HOME by default, which a hardened service user does
# not have: off unless GUNICORN_CONTROL_SOCKET names a path (older gunicorns ignore both names).
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
errorlog = "-"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# One JSON object per request. gunicorn escapes double quotes inside values; D is microseconds.
# request_id is the response's X-Request-ID: the proxy's (nginx: proxy_set_header X-Request-ID
# $request_id) when it sent a sane one, else the one the app made up — the id in the app's log lines.
access_log_format = json.dumps(
    {
        "time": "%(t)s",
        "remote": "%(h)s",
        "method": "%(m)s",
        "path": "%(U)s",
        "query": "%(q)s",
        "status": "%(s)s",
        "bytes": "%(B)s",
        "duration_us": "%(D)s",
        "request_id": "%({x-request-id}o)s",
        "user_agent": "%(a)s",
        "pid": "%(p)s",
    }
)


# prometheus-client multiprocess mode: every worker writes its metrics to files in
# PROMETHEUS_MULTIPROC_DIR and /metrics aggregates them. The directory must start empty (files of
# a previous run would be summed in), and a dead worker's live gauges must be dropped.
def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    if path.is_dir():
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    else:
        path.mkdir(parents=True, exist_ok=True)
    server.log.info("prometheus multiprocess directory %s emptied", path)


def child_exit(server, worker):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

"""The gunicorn server of ``benchmarks/load.py``: start, wait until it answers, read its counters, stop.

``Server`` runs ``gunicorn -c config/gunicorn.conf.py`` (plain arguments if that file is absent) in
its own session on a spare loopback port, with prometheus-client's multiprocess directory set to a
fresh temporary directory, so ``counters()`` can sum the cache and request counters over the
workers (``cache_delta`` / ``cache_summary`` turn two readings into the figures of a phase).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with ``config/gunicorn.conf.py`` (plain arguments if it is absent) in its own session."""

    def __init__(self, env: dict, *, workers: int, threads: int, cache: bool, log: Path):
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="mr-bench-prom-"))
        env = {
            **env,
            "MODEL_REGISTRY_CACHE_ENABLED": "true" if cache else "false",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_ACCESS_LOG": "",
            "GUNICORN_LOG_LEVEL": "warning",
            "GUNICORN_MAX_REQUESTS": "0",
        }
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        conf = ROOT / "config" / "gunicorn.conf.py"
        if conf.exists():
            command = [gunicorn, "-c", str(conf), "config.wsgi:application"]
        else:
            command = [
                gunicorn, "config.wsgi:application", "--bind", env["GUNICORN_BIND"],
                "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
            ]  # fmt: skip
        self.log = log
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, token: str, model_id: int, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        answered = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:  # a few answers in a row: the workers have loaded the app
                response = httpx.get(
                    f"{self.url}/api/v1/models/{model_id}/",
                    headers={"Authorization": f"Token {token}"},
                    timeout=5,
                )
                answered = answered + 1 if response.status_code == 200 else 0
                if answered >= 5:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer:\n{self.log.read_text(errors='replace')[-3000:]}")

    def counters(self) -> dict[str, float]:
        """Cache and query counters summed over the workers (prometheus multiprocess files)."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.metrics_dir))
        out: dict[str, float] = {}
        for metric in registry.collect():
            for sample in metric.samples:
                name = sample.name
                if name in ("model_registry_cache_hits_total", "model_registry_cache_misses_total"):
                    out[f"{name.split('_')[3]}_{sample.labels['tier']}"] = sample.value
                elif name in ("model_registry_cache_db_loads_total", "model_registry_db_queries_total"):
                    out[name] = sample.value
                elif name.startswith("model_registry_http_request_duration_seconds_") and (
                    name.endswith("_sum") or name.endswith("_count")
                ):
                    key = f"http_{name.rsplit('_', 1)[1]}"
                    out[key] = out.get(key, 0) + sample.value
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self._log.close()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def cache_delta(before: dict, after: dict, raw: bool = False) -> dict:
    d = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    return d if raw else cache_summary([d])


def cache_summary(deltas: list[dict]) -> dict:
    d: dict[str, float] = {}
    for delta in deltas:
        for k, v in delta.items():
            d[k] = d.get(k, 0) + v
    lookups = d.get("hits_l1", 0) + d.get("misses_l1", 0)
    hits = d.get("hits_l1", 0) + d.get("hits_l2", 0)
    return {
        "lookups": int(lookups),
        "l1_hits": int(d.get("hits_l1", 0)),
        "l2_hits": int(d.get("hits_l2", 0)),
        "db_loads": int(d.get("model_registry_cache_db_loads_total", 0)),
        "hit_rate": round(hits / lookups, 4) if lookups else None,
        "sql_queries": int(d.get("model_registry_db_queries_total", 0)),
        "server_avg_ms": round(d["http_sum"] / d["http_count"] * 1000, 3) if d.get("http_count") else None,
    }

"""``/metrics`` under gunicorn with two workers (prometheus-client's multiprocess mode): counts
are aggregated across the workers, and survive a worker's death.

gunicorn runs with the deployment's ``config/gunicorn.conf.py`` (its ``on_starting`` empties
``PROMETHEUS_MULTIPROC_DIR``, its ``child_exit`` marks dead workers) against this run's test
database (committed data: ``transactional_db``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client.mmap_dict import MmapedDict

from tests.caching.helpers import database_url, spare_port, wait_for

from .conftest import parse_metrics, sample

pytestmark = [pytest.mark.postgres]

BASE_DIR = Path(__file__).resolve().parents[2]
DURATION = "model_registry_http_request_duration_seconds"


class Gunicorn:
    def __init__(self, metrics_dir: str, log: Path):
        self.port = spare_port()
        self.metrics_dir = metrics_dir
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": "2",
            # One thread each: while one worker handles a request the other accepts the next, so
            # concurrent requests spread over both (gthread workers with spare threads may take all).
            "GUNICORN_THREADS": "1",
            "GUNICORN_ACCESS_LOG": "",
            "GUNICORN_MAX_REQUESTS": "0",
            "PYTHONPATH": str(BASE_DIR),
        }
        if settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
        env.pop("REQUIRE_SERVICES", None)
        script = Path(sys.executable).parent / "gunicorn"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
        self._log = log.open("wb")
        self.log_path = log
        self.process = subprocess.Popen(
            [*command, "-c", str(BASE_DIR / "config" / "gunicorn.conf.py"), "config.wsgi"],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url(path), headers={"Connection": "close"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {self.log_path.read_text(errors='replace')[-3000:]}")
        try:
            return self.get("/metrics")[0] == 200
        except OSError:
            return False

    def worker_counts(self, route: str) -> dict[int, float]:
        """Requests to ``route`` served by each worker, read from its own histogram file."""
        counts: dict[int, float] = {}
        for path in Path(self.metrics_dir).glob("histogram_*.db"):
            pid = int(path.stem.rsplit("_", 1)[1])
            for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
                _, name, labels, _ = json.loads(key)
                # Stored per bucket, not cumulative: a worker's count is the sum of its buckets.
                if name == f"{DURATION}_bucket" and labels.get("route") == route:
                    counts[pid] = counts.get(pid, 0.0) + value
        return counts

    def metrics(self) -> dict:
        status, body = self.get("/metrics")
        assert status == 200, body
        return parse_metrics(body.decode())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # gunicorn: quick shutdown (no graceful wait)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    metrics_dir = tempfile.mkdtemp(prefix="mr-prom-")
    server = Gunicorn(metrics_dir, tmp_path / "gunicorn.log")
    try:
        assert wait_for(server.answers, timeout=90, interval=0.2), server.log_path.read_text(errors="replace")
        yield server
    finally:
        server.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def test_metrics_aggregate_every_worker(gunicorn):
    live, ready = "health/live/", "health/"
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(30):  # until both workers have served some (bounded)
            statuses = list(pool.map(lambda _: gunicorn.get("/health/live/")[0], range(16)))
            assert statuses == [200] * 16
            sent += 16
            served = [pid for pid, n in gunicorn.worker_counts(live).items() if n > 0]
            if len(served) >= 2:
                break
            if len(served) == 1 and sent >= 160:
                # Still one worker only: kill it; the other (or its replacement) serves the rest,
                # and the dead worker's counts must stay in the total all the same.
                os.kill(served[0], signal.SIGKILL)
                assert wait_for(lambda: gunicorn.get("/health/live/")[0] == 200, timeout=60, interval=0.2)
                sent += 1
        ready_statuses = list(pool.map(lambda _: gunicorn.get("/health/")[0], range(6)))
    assert ready_statuses == [200] * 6

    per_worker = gunicorn.worker_counts(live)
    assert len([n for n in per_worker.values() if n > 0]) == 2, per_worker
    assert sum(per_worker.values()) == sent

    samples = gunicorn.metrics()
    labels = {"method": "GET", "status": "2xx"}
    assert sample(samples, f"{DURATION}_count", route=live, **labels) == sent
    assert sample(samples, f"{DURATION}_count", route=ready, **labels) == 6
    # Aggregated, not one series per process; gauges too (multiprocess_mode="max").
    assert not any("pid" in dict(items) for name, items in samples if name.startswith("model_registry_"))
    assert ("model_registry_cache_breaker_open", ()) in samples
    # Each readiness request queried the database (SELECT 1 and the last task run, at least).
    queries = "model_registry_http_request_db_queries"
    assert sample(samples, f"{queries}_count", route=ready) == 6
    assert sample(samples, f"{queries}_sum", route=ready) >= 12

    # A worker dies: its counts stay in the total (gunicorn replaces it; child_exit marks it dead).
    victim = max((pid for pid in per_worker if _alive(pid)), key=per_worker.get)
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: gunicorn.get("/health/live/")[0] == 200, timeout=60, interval=0.2)
    after = gunicorn.metrics()
    assert sample(after, f"{DURATION}_count", route=live, **labels) == sent + 1

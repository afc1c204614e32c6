"""A second OS process that reads models through the cache on request (``OtherProcess`` drives it).

Started with ``DJANGO_SETTINGS_MODULE=config.settings.test``, ``DATABASE_URL`` / ``REDIS_URL``
pointing at the parent's test database and Redis, and ``MR_READER`` (JSON: ``namespace``,
``l1_ttl``): the model cache is on in that namespace, so this process has its own L1, shares L2
with the parent and gets the parent's invalidations over pub/sub.

Protocol: one JSON object per line on stdin, ``{"key": ...}``; one answer per line on stdout,
``{"key", "revision", "description", "context_window", "is_active"}`` as
``selectors.ai_model_get`` returns it, or ``{"key", "missing": true}``. The first line written is
``{"ready": true}`` once the subscriber listens. The process exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue

BASE_DIR = Path(__file__).resolve().parents[2]


def main() -> None:
    config = json.loads(os.environ["MR_READER"])
    import django

    django.setup()
    from django.conf import settings

    settings.MODEL_REGISTRY = {
        "CACHE_ENABLED": True,
        "CACHE_NAMESPACE": config["namespace"],
        "L1_TTL": float(config["l1_ttl"]),
    }
    from caching.service import model_cache
    from models_registry import selectors
    from models_registry.exceptions import ModelNotFound

    cache = model_cache()
    try:  # the first read starts the subscriber
        selectors.ai_model_get(key="-/-")
    except ModelNotFound:
        pass
    if cache.subscriber is not None and not cache.subscriber.wait_ready(10):
        print(json.dumps({"error": "subscriber not ready"}), flush=True)
        return
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        key = json.loads(line)["key"]
        try:
            record = selectors.ai_model_get(key=key)
        except ModelNotFound:
            answer = {"key": key, "missing": True}
        else:
            answer = {
                "key": key,
                "revision": record.revision,
                "description": record.description,
                "context_window": record.context_window,
                "is_active": record.is_active,
            }
        print(json.dumps(answer), flush=True)


class OtherProcess:
    """``concurrency_reader.py`` in its own process; ``read(key)`` asks it for one model."""

    def __init__(self, *, database_url: str, redis_url: str, namespace: str, l1_ttl: float):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "MR_READER": json.dumps({"namespace": namespace, "l1_ttl": l1_ttl}),
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("REQUIRE_SERVICES", None)
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__))],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._answers: Queue = Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        first = self._next(timeout=60)
        if not first.get("ready"):
            self.stop()
            raise RuntimeError(f"reader process did not start: {first}\n{self.stderr}")

    def _pump(self) -> None:
        for line in self.process.stdout:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                self._stderr.append(line)

    def _pump_stderr(self) -> None:
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr[-40:])

    def _next(self, timeout: float) -> dict:
        try:
            return self._answers.get(timeout=timeout)
        except Empty:
            return {"error": f"no answer within {timeout} s", "stderr": self.stderr}

    def read(self, key: str, timeout: float = 10) -> dict:
        self.process.stdin.write(json.dumps({"key": key}) + "\n")
        self.process.stdin.flush()
        return self._next(timeout)

    def stop(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


if __name__ == "__main__":
    main()

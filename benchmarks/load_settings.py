"""Settings of the servers ``benchmarks/load.py`` starts (and of its own process).

``config.settings.dev`` (``DATABASE_URL`` / ``REDIS_URL`` from the environment, ``DJANGO_DEBUG``
off) with the benchmark's own cache namespace and key prefixes (``MR_BENCH_NAMESPACE``), no API
rate limits (the load client is one user sending thousands of requests a second, which the
default ``user`` rate of 6,000/min would cap), and eager Celery. ``MODEL_REGISTRY_CACHE_ENABLED``
(read by the base settings) turns the model cache off for the uncached run.
"""

import os

from config.settings.dev import *  # noqa: F403
from config.settings.dev import CACHES, MODEL_REGISTRY

_namespace = os.environ.get("MR_BENCH_NAMESPACE", "bench-load")

CACHES = {alias: dict(config) for alias, config in CACHES.items()}
for _alias in ("default", "throttle"):
    if "KEY_PREFIX" in CACHES.get(_alias, {}):
        CACHES[_alias]["KEY_PREFIX"] = f"{_namespace}-{_alias}"

MODEL_REGISTRY = {**MODEL_REGISTRY, "CACHE_NAMESPACE": _namespace, "THROTTLE_ENABLED": False}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CELERY_BROKER_URL = None
CELERY_TASK_ALWAYS_EAGER = True
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}

"""Settings of the gunicorn workers the system tests start (``tests/system/harness.py``).

The test settings (``DATABASE_URL`` / ``REDIS_URL`` from the environment the harness sets), with
the model cache on and one cache namespace and key prefix shared by every worker
(``MR_SYSTEM_NAMESPACE``); ``MR_SYSTEM_REGISTRY`` (JSON) is merged into ``MODEL_REGISTRY``.
"""

import json
import os

from config.settings.test import *  # noqa: F403
from config.settings.test import CACHES, MODEL_REGISTRY

_namespace = os.environ.get("MR_SYSTEM_NAMESPACE", "mrsys")

if os.environ.get("MR_SYSTEM_NO_REDIS") == "1":
    REDIS_URL = None
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {alias: dict(config) for alias, config in CACHES.items()}
    if "KEY_PREFIX" in CACHES.get("default", {}):
        CACHES["default"]["KEY_PREFIX"] = _namespace

MODEL_REGISTRY = {
    **MODEL_REGISTRY,
    "CACHE_ENABLED": True,
    "CACHE_NAMESPACE": _namespace,
    **json.loads(os.environ.get("MR_SYSTEM_REGISTRY") or "{}"),
}
ALLOWED_HOSTS = ["*"]
CELERY_BROKER_URL = None
CELERY_TASK_ALWAYS_EAGER = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("MR_SYSTEM_LOG_LEVEL", "ERROR")},
}

"""Settings for ``make test``.

Service discovery, in order: ``DATABASE_URL`` / ``REDIS_URL`` when set; otherwise PostgreSQL and
Redis on localhost when they answer; otherwise SQLite and no Redis (Redis-only tests are skipped,
and the test run says so in one summary line). ``REQUIRE_SERVICES=1`` turns a missing service
into a failure (see ``tests/conftest.py``).

Each run gets its own test database name and Redis key prefix, so concurrent runs on one machine
do not collide, and the suite removes what it created.
"""

import os
import socket

import environ

from .base import *  # noqa: F403
from .base import BASE_DIR, env

LOCAL_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/model_registry"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_database_url = os.environ.get("DATABASE_URL")
if not _database_url and _answers("127.0.0.1", 5432):
    _database_url = LOCAL_POSTGRES_URL
if not _database_url:
    _database_url = f"sqlite:///{BASE_DIR / 'test.sqlite3'}"

DATABASES = {"default": environ.Env.db_url_config(_database_url)}
DATABASES["default"]["TEST"] = {"NAME": f"test_model_registry_{os.getpid()}"}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": None}  # in memory

REDIS_URL = os.environ.get("REDIS_URL") or (LOCAL_REDIS_URL if _answers("127.0.0.1", 6379) else None)
TEST_KEY_PREFIX = f"mrtest-{os.getpid()}"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": TEST_KEY_PREFIX,
            "OPTIONS": {
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        },
        "model_registry": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        },
        "throttle": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{TEST_KEY_PREFIX}-throttle",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": False},
        },
    }
else:
    CACHES["throttle"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}

# The model cache is off by default in tests: most tests write and read inside one rolled-back
# transaction, where on-commit invalidation never runs. The cache tests (tests/caching) turn it
# on with real commits (``transactional_db``) and their own namespace.
# API rate limits are off too (tests/security/test_throttling.py turns them on).
MODEL_REGISTRY = {"CACHE_ENABLED": False, "CACHE_NAMESPACE": TEST_KEY_PREFIX, "THROTTLE_ENABLED": False}

TEST_SERVICES = {
    "postgres": DATABASES["default"]["ENGINE"].endswith("postgresql"),
    "redis": bool(REDIS_URL),
}

# Eager by default; ``CELERY_TEST_BROKER_URL`` (set only for the real-worker test's worker
# process, tests/maintenance/test_worker.py) gives a real broker and turns eager mode off.
CELERY_BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-secret-key-not-for-production")
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

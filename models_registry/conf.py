"""The app's settings: one dict, ``settings.MODEL_REGISTRY``, read here with defaults.

Usage: ``from models_registry.conf import registry_settings``; ``registry_settings.MAX_PAGE_SIZE``.
Values are read on every access, so ``override_settings(MODEL_REGISTRY=...)`` works in tests.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # API
    "ALLOW_ANONYMOUS_READS": False,
    "DEFAULT_PAGE_SIZE": 50,
    "MAX_PAGE_SIZE": 500,
    # Cache (caching/): L1 in process, L2 in Redis
    "CACHE_ENABLED": True,
    "CACHE_ALIAS": "model_registry",  # the CACHES alias holding the Redis connection (absent: no L2)
    "CACHE_NAMESPACE": "default",  # per-deployment prefix, so deployments can share one Redis
    "L1_MAX_BYTES": 32 * 1024 * 1024,  # real bytes of the cached objects, measured at fill time
    "L1_TTL": 5.0,  # seconds; the staleness cap if an invalidation message is lost
    "L2_TTL": 3600,
    "LIST_TTL": 60,  # cached list/search pages (also dropped on every model write)
    "FILL_LOCK_TTL": 2.0,  # seconds a cross-process fill lock is held at most (stampede guard)
    "BREAKER_FAILURES": 3,  # consecutive Redis failures that open the circuit breaker
    "BREAKER_COOLDOWN": 5.0,  # seconds before a trial call is let through again
    "BREAKER_LOG_INTERVAL": 30.0,  # at most one "Redis unavailable" log line per interval
    # Versioning
    "ROLLBACK_REQUIRES_APPROVAL": True,
    "MAX_VERSIONS_PER_MODEL": 0,
    # Security
    "SENSITIVE_METADATA_KEYS": ("api_key", "api_secret", "access_token", "endpoint_secret"),
    # Catalogue import
    "IMPORT_BATCH_SIZE": 500,
    "IMPORT_MIN_MODELS": 50,
    "IMPORT_MAX_SHRINK_RATIO": 0.5,
    "IMPORT_FETCH_TIMEOUT": 30,
    "IMPORT_MAX_BYTES": 64 * 1024 * 1024,
    # Username that importer and task writes are attributed to in the history (created on demand).
    "SYSTEM_USERNAME": "model-registry-system",
}


class RegistrySettings:
    """Attribute access to ``settings.MODEL_REGISTRY`` with the defaults above."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown MODEL_REGISTRY setting: {name}")
        user = getattr(settings, "MODEL_REGISTRY", {}) or {}
        return user.get(name, DEFAULTS[name])


registry_settings = RegistrySettings()

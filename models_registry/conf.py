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
    # Cache (the two-tier cache reads these)
    "CACHE_ENABLED": True,
    "L1_MAX_BYTES": 32 * 1024 * 1024,
    "L1_TTL": 5.0,
    "L2_TTL": 3600,
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

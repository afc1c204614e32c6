"""Sensitive metadata: which keys are secret, masking them, and who may see them.

Values of the metadata keys named in ``MODEL_REGISTRY["SENSITIVE_METADATA_KEYS"]`` (``api_key``,
…; top level, case-insensitive) are shown as ``MASK`` to users without the
``models_registry.view_sensitive_metadata`` permission. The admin (``admin/sensitive.py``) and
the API (``api/sensitive.py``) both apply this rule.
"""

from __future__ import annotations

from typing import Any

from .conf import registry_settings

MASK = "••••••••"
PERMISSION = "models_registry.view_sensitive_metadata"


def is_sensitive_key(key: Any) -> bool:
    return isinstance(key, str) and key.lower() in {
        n.lower() for n in registry_settings.SENSITIVE_METADATA_KEYS
    }


def sensitive_keys(metadata: Any) -> set[str]:
    """The top-level keys of ``metadata`` that are sensitive."""
    if not isinstance(metadata, dict):
        return set()
    return {key for key in metadata if is_sensitive_key(key)}


def has_sensitive(metadata: Any) -> bool:
    return bool(sensitive_keys(metadata))


def masked(metadata: Any) -> Any:
    """``metadata`` with the values of sensitive keys replaced by ``MASK`` (other values as is)."""
    hidden = sensitive_keys(metadata)
    if not hidden:
        return metadata
    return {key: (MASK if key in hidden else value) for key, value in metadata.items()}


def can_view_sensitive(user) -> bool:
    return bool(user is not None and user.has_perm(PERMISSION))

"""Sensitive metadata in the API — the same rule as the admin (``admin/sensitive.py``).

Values of the metadata keys named in ``MODEL_REGISTRY["SENSITIVE_METADATA_KEYS"]`` (``api_key``,
…; case-insensitive, top level) are shown as ``MASK`` to users without the
``models_registry.view_sensitive_metadata`` permission. Such users cannot change them either:
on a write, the stored sensitive values are kept whether the client sends the mask or leaves
the key out (so a GET → PUT round trip is safe), and any other value for a sensitive key is
refused with 403. The write is pinned to the revision the stored values were read at, so a
concurrent change of a secret is never overwritten with an older one (412 instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import PermissionDenied

from ..conf import registry_settings

MASK = "••••••••"
PERMISSION = "models_registry.view_sensitive_metadata"


def _is_sensitive(key: Any) -> bool:
    return isinstance(key, str) and key.lower() in {
        n.lower() for n in registry_settings.SENSITIVE_METADATA_KEYS
    }


def can_view_sensitive(user) -> bool:
    return bool(user is not None and user.has_perm(PERMISSION))


def masked(metadata: Mapping) -> dict:
    """``metadata`` with the values of sensitive keys replaced by ``MASK``."""
    return {key: (MASK if _is_sensitive(key) else value) for key, value in metadata.items()}


def has_sensitive(metadata: Mapping | None) -> bool:
    return any(_is_sensitive(key) for key in (metadata or {}))


def keep_sensitive(metadata: Mapping | None, *, stored: Mapping) -> dict:
    """The metadata to write for a user who cannot see sensitive values: ``metadata`` with the
    ``stored`` sensitive values kept. Raises ``PermissionDenied`` if it sets one."""
    sent = dict(metadata or {})
    for key, value in sent.items():
        if _is_sensitive(key) and value != MASK:
            raise PermissionDenied(
                f"Setting the sensitive metadata key {key!r} needs the {PERMISSION} permission."
            )
    kept = {key: value for key, value in sent.items() if not _is_sensitive(key)}
    kept.update({key: value for key, value in stored.items() if _is_sensitive(key)})
    return kept

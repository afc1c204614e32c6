"""Sensitive metadata in the admin.

Metadata keys named in ``MODEL_REGISTRY["SENSITIVE_METADATA_KEYS"]`` (``api_key``, …) are shown
masked to users without the ``models_registry.view_sensitive_metadata`` permission: on the change
page and the historical record page the metadata becomes a read-only, masked display (so a save
cannot overwrite the hidden values with the mask), and in the history list the metadata deltas
are masked. Such users cannot add sensitive keys either (``AIModelAdmin._refuse_new_secrets``).
The rule is the API's too (``api/sensitive.py``).
"""

from __future__ import annotations

from typing import Any

from simple_history.template_utils import HistoricalRecordContextHelper

from ..conf import registry_settings

MASK = "••••••••"
PERMISSION = "models_registry.view_sensitive_metadata"


def sensitive_keys(metadata: Any) -> set[str]:
    """The top-level keys of ``metadata`` that are sensitive (case-insensitive)."""
    if not isinstance(metadata, dict):
        return set()
    names = {name.lower() for name in registry_settings.SENSITIVE_METADATA_KEYS}
    return {key for key in metadata if isinstance(key, str) and key.lower() in names}


def masked(metadata: Any) -> Any:
    """``metadata`` with the values of sensitive keys replaced by ``MASK``."""
    hidden = sensitive_keys(metadata)
    if not hidden:
        return metadata
    return {key: (MASK if key in hidden else value) for key, value in metadata.items()}


def can_view_sensitive(user) -> bool:
    return user.has_perm(PERMISSION)


class MaskingContextHelper(HistoricalRecordContextHelper):
    """Formats history deltas with sensitive metadata values masked."""

    def prepare_delta_change_value(self, change, value):
        if change.field == "metadata":
            value = masked(value)
        return super().prepare_delta_change_value(change, value)

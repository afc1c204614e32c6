"""Sensitive metadata in the admin.

Metadata keys named in ``MODEL_REGISTRY["SENSITIVE_METADATA_KEYS"]`` (``api_key``, …) are shown
masked to users without the ``models_registry.view_sensitive_metadata`` permission: on the change
page and the historical record page the metadata becomes a read-only, masked display (so a save
cannot overwrite the hidden values with the mask), and in the history list the metadata deltas
are masked. Such users cannot add sensitive keys either (``AIModelAdmin._refuse_new_secrets``).
The rule itself is ``models_registry/sensitive.py``, shared with the API.
"""

from __future__ import annotations

from simple_history.template_utils import HistoricalRecordContextHelper

from ..sensitive import MASK, PERMISSION, can_view_sensitive, masked, sensitive_keys

__all__ = ["MASK", "PERMISSION", "MaskingContextHelper", "can_view_sensitive", "masked", "sensitive_keys"]


class MaskingContextHelper(HistoricalRecordContextHelper):
    """Formats history deltas with sensitive metadata values masked."""

    def prepare_delta_change_value(self, change, value):
        if change.field == "metadata":
            value = masked(value)
        return super().prepare_delta_change_value(change, value)

"""Sensitive metadata in the API (the rule itself is ``models_registry/sensitive.py``).

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

from rest_framework.exceptions import PermissionDenied

from ..sensitive import MASK, PERMISSION, can_view_sensitive, has_sensitive, masked
from ..sensitive import is_sensitive_key as _is_sensitive

__all__ = ["MASK", "can_view_sensitive", "has_sensitive", "keep_sensitive", "masked"]


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

"""Sensitive metadata in snapshots and diffs — the registry's rule (``models_registry.api.sensitive``)
applied to versions: users without ``models_registry.view_sensitive_metadata`` see the values of
sensitive metadata keys (``api_key``, …) masked, in the API and in the admin alike."""

from __future__ import annotations

from models_registry.api.sensitive import MASK, can_view_sensitive, has_sensitive, masked

__all__ = ["MASK", "can_view_sensitive", "mask_changes", "mask_state"]


def _sensitive_change(change: dict) -> bool:
    path = change.get("path") or str(change.get("field", "")).split(".")
    return len(path) >= 2 and path[0] == "metadata" and has_sensitive({path[1]: None})


def mask_changes(changes: list[dict], *, can_view: bool) -> list[dict]:
    """Encoded changes with sensitive metadata values masked (unless ``can_view``)."""
    if can_view:
        return changes
    return [
        {
            **c,
            "old": None if c.get("old") is None else MASK,
            "new": None if c.get("new") is None else MASK,
        }
        if _sensitive_change(c)
        else c
        for c in changes
    ]


def mask_state(state: dict | None, *, can_view: bool) -> dict | None:
    """An encoded snapshot with sensitive metadata values masked (unless ``can_view``)."""
    if state is None or can_view or not has_sensitive(state.get("metadata")):
        return state
    return {**state, "metadata": masked(state["metadata"])}

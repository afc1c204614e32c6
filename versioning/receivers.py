"""Versioning's side of the write-path hook (``models_registry.signals.ai_model_written``).

The signal is sent inside the write transaction, once per real change, while the model's row
is locked: the version is recorded right there (or collected by a bulk import's
``version_batch`` and written at its end, still inside the transaction). A failure raises and
rolls the whole write back: there is never a change without its version.
"""

from __future__ import annotations


def on_model_written(
    sender, instance, action, before, after, changes, actor=None, reason="", source="", **kwargs
):
    from .services.recording import version_record

    version_record(
        instance=instance,
        action=action,
        before=before,
        after=after,
        changes=changes,
        actor=actor,
        reason=reason,
        source=source,
    )

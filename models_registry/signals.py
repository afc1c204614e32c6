"""The write-path hook.

``ai_model_written`` is sent by ``models_registry.services`` *inside* the write transaction,
once per model that really changed, after the row (and its history row) is saved. Versioning
records the version here and the cache schedules its invalidation with
``transaction.on_commit``. A receiver that raises rolls the whole write back.

Arguments (all keyword):
    sender   -- ``AIModel``
    instance -- the saved ``AIModel``
    action   -- ``"create"``, ``"update"``, ``"deactivate"`` or ``"restore"``
    before   -- state dict before the write (``None`` on create), see ``records.ai_model_state``
    after    -- state dict after the write
    changes  -- ``list[versioning.diff.Change]``
    actor    -- the user responsible, or ``None``
    reason   -- free-text reason (may be empty)
    source   -- ``"admin"``, ``"api"``, ``"import"``, ``"sync"``, ``"rollback"`` or ``"system"``
"""

from django.dispatch import Signal

ai_model_written = Signal()

"""The cache's side of the write-path hook (``models_registry.signals.ai_model_written``).

Each written model's key is added to a batch that belongs to the current transaction; the batch
is flushed once, by ``transaction.on_commit``, in one Redis call. A rolled-back transaction
drops its callbacks, so it invalidates nothing. (If a savepoint rolls back after adding keys to
a batch registered outside it, those keys are still invalidated: harmless over-invalidation,
never a missed one.)
"""

from __future__ import annotations

import threading

from django.db import DEFAULT_DB_ALIAS, connections, transaction

_state = threading.local()


class _Batch:
    def __init__(self, using: str):
        self.using = using
        self.keys: dict[str, None] = {}
        self.reasons: set[str] = set()

    def flush(self) -> None:
        from .service import model_cache

        if getattr(_state, "batch", None) is self:
            _state.batch = None
        if self.keys:
            model_cache().invalidate(list(self.keys), reason=", ".join(sorted(self.reasons)))


def _registered(batch: _Batch) -> bool:
    connection = connections[batch.using]
    return any(entry[1] == batch.flush for entry in connection.run_on_commit)


def on_model_written(sender, instance, action, source, **kwargs) -> None:
    """Schedule invalidation of ``instance.key`` for after the commit."""
    using = instance._state.db or DEFAULT_DB_ALIAS
    connection = connections[using]
    batch = getattr(_state, "batch", None)
    if not connection.in_atomic_block:
        from .service import model_cache

        model_cache().invalidate([instance.key], reason=f"{action} via {source}")
        return
    if batch is None or batch.using != using or not _registered(batch):
        batch = _Batch(using)
        _state.batch = batch
        # robust: the change is committed; a failing receiver of ``cache_invalidated`` (rules and
        # events query the database, which may just have gone away) is logged by Django and must
        # neither fail the request that committed nor skip the other on-commit callbacks.
        transaction.on_commit(batch.flush, using=using, robust=True)
    batch.keys[instance.key] = None
    batch.reasons.add(f"{action} via {source}")

"""Rules fire after commit: on the write-path hook (``model_changed``) and on provider updates
(``provider_updated``).

``ai_model_written`` is sent inside the write transaction; each written model's context is added
to a batch of the transaction, fired once by ``transaction.on_commit`` (after the cache's own
invalidation, which is registered first, so a ``refresh`` action reads the committed row). A
rolled-back transaction drops its callbacks: no rule fires. Errors are logged, never raised into
the code that committed.

Context of ``model_changed``: ``key``, ``keys`` (``[key]``), ``model_id``, ``provider``,
``providers``, ``action`` (create/update/deactivate/restore), ``source`` (admin/api/import/sync/
rollback/system), ``reason``, ``actor`` (username or null), ``revision``, ``version``,
``changed_fields`` (top-level field names) and ``changes`` (``[{field, old, new, kind}]``; the
values of sensitive metadata keys masked, since contexts are stored in invalidation events).

Context of ``provider_updated``: ``provider``, ``providers``, ``name``, ``is_active``.
"""

from __future__ import annotations

import logging
import threading

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from models_registry.conf import registry_settings
from models_registry.sensitive import MASK, is_sensitive_key, masked

logger = logging.getLogger("caching.rules")
_state = threading.local()


def _enabled() -> bool:
    return bool(registry_settings.RULES_ENABLED and registry_settings.CACHE_ENABLED)


def _fire(event: str, contexts: list[dict]) -> None:
    from .services import rules_fire_many

    try:
        rules_fire_many(event=event, contexts=contexts)
    except Exception:  # noqa: BLE001 - the write is committed; a rule failure must not surface
        logger.exception("invalidation rules for %s failed", event)


def _listening(event: str) -> bool:
    from .services import rules_for_event

    try:
        return bool(rules_for_event(event))
    except Exception:  # noqa: BLE001
        logger.exception("invalidation rules for %s could not be loaded", event)
        return False


class _Batch:
    """The writes of one transaction; their contexts are built at flush, and only if a rule
    listens to ``model_changed`` (a bulk import with no such rule costs one query)."""

    def __init__(self, using: str):
        self.using = using
        self.writes: dict[str, list[dict]] = {}

    def add(self, write: dict) -> None:
        self.writes.setdefault(write["key"], []).append(write)

    def flush(self) -> None:
        if getattr(_state, "batch", None) is self:
            _state.batch = None
        if self.writes and _listening("model_changed"):
            _fire("model_changed", [model_context(writes) for writes in self.writes.values()])


def _registered(batch: _Batch) -> bool:
    return any(entry[1] == batch.flush for entry in connections[batch.using].run_on_commit)


def model_context(writes: list[dict]) -> dict:
    """The ``model_changed`` context of one model written once or more in a transaction (one
    firing with every change; the last write's action, revision and version)."""
    from .engine import jsonable

    last = writes[-1]
    changes = [change for write in writes for change in write["changes"]]
    return {
        "key": last["key"],
        "keys": [last["key"]],
        "model_id": last["model_id"],
        "provider": last["provider"],
        "providers": [last["provider"]],
        "action": last["action"],
        "source": last["source"],
        "reason": last["reason"],
        "actor": last["actor"],
        "revision": last["revision"],
        "version": last["version"],
        "changed_fields": sorted({change.top for change in changes}),
        "changes": jsonable([_redacted(change) for change in changes]),
    }


def _redacted(change) -> dict:
    """``change.as_dict()`` with sensitive metadata values masked (never stored or passed on)."""
    data = change.as_dict()
    parts = change.parts
    if parts[0] != "metadata":
        return data
    if len(parts) == 1:
        return {**data, "old": masked(data["old"]), "new": masked(data["new"])}
    if is_sensitive_key(parts[1]):
        return {
            **data,
            "old": None if data["old"] is None else MASK,
            "new": None if data["new"] is None else MASK,
        }
    return data


def on_model_written(
    sender, instance, action, after=None, changes=None, actor=None, reason="", source="", **kwargs
):
    """Schedule ``model_changed`` rules for ``instance`` after the commit."""
    if not _enabled():
        return
    write = {
        "key": instance.key,
        "model_id": instance.pk,
        "provider": (after or {}).get("provider") or instance.provider.slug,
        "action": action,
        "source": source,
        "reason": reason or "",
        "actor": getattr(actor, "username", None),
        "revision": instance.revision,
        "version": instance.version,
        "changes": list(changes or []),
    }
    using = instance._state.db or DEFAULT_DB_ALIAS
    if not connections[using].in_atomic_block:
        if _listening("model_changed"):
            _fire("model_changed", [model_context([write])])
        return
    batch = getattr(_state, "batch", None)
    if batch is None or batch.using != using or not _registered(batch):
        batch = _Batch(using)
        _state.batch = batch
        transaction.on_commit(batch.flush, using=using)
    batch.add(write)


def on_provider_saved(sender, instance, created=False, raw=False, **kwargs):
    """Schedule ``provider_updated`` rules after the commit of a provider change (not a create)."""
    if raw or created or not _enabled():
        return
    context = {
        "provider": instance.slug,
        "providers": [instance.slug],
        "name": instance.name,
        "is_active": instance.is_active,
    }
    using = kwargs.get("using") or DEFAULT_DB_ALIAS
    transaction.on_commit(lambda: _fire("provider_updated", [context]), using=using)

"""Signal receivers that turn existing extension points into operation log lines.

- ``models_registry.signals.ai_model_written`` → ``model.created`` / ``model.updated`` /
  ``model.deactivated`` / ``model.restored`` on the ``models_registry.writes`` logger after the
  commit: key, revision, source, the user and the *names* of the changed fields (never their
  values). INFO for single writes; DEBUG for writes of an import or a sync (which log one
  ``import.finished`` / ``sync.finished`` line with the counts instead).
- ``caching.signals.cache_invalidated`` → ``cache.invalidated`` (INFO, ``caching.invalidation``):
  scope, count, reason.
- ``cache_hit`` / ``cache_miss`` / ``cache_evicted`` → DEBUG lines on ``caching.operations``,
  connected only when that logger is enabled for DEBUG when the app starts (a receiver on the
  hit path costs every lookup).

- Celery ``task_prerun`` / ``task_postrun``: a task run outside a request gets its task id as the
  ``request_id`` of its log lines.

``connect()`` is called from ``ModelsRegistryConfig.ready``.
"""

from __future__ import annotations

import logging

from . import context, events

writes_logger = logging.getLogger("models_registry.writes")
invalidation_logger = logging.getLogger("caching.invalidation")
operations_logger = logging.getLogger("caching.operations")

BULK_SOURCES = frozenset({"import", "sync"})
ACTIONS = {"create": "created", "update": "updated", "deactivate": "deactivated", "restore": "restored"}


def on_model_written(sender, instance, action, changes=(), actor=None, source="", **kwargs) -> None:
    level = logging.DEBUG if source in BULK_SOURCES else logging.INFO
    if not writes_logger.isEnabledFor(level):
        return
    verb = ACTIONS.get(action, action)
    fields = {
        "operation": f"model.{verb}",
        "key": instance.key,
        "revision": instance.revision,
        "source": source,
        "fields": sorted({getattr(c, "field", str(c)) for c in changes}),
    }
    user = events._username(actor)
    if user:
        fields["user"] = user
    events.after_commit(lambda: writes_logger.log(level, "model %s %s", fields["key"], verb, extra=fields))


def on_cache_invalidated(sender, keys=(), scope="", reason="", **kwargs) -> None:
    count = len(keys or ())
    invalidation_logger.info(
        "cache invalidated: %s (%s)",
        scope,
        count if count else "namespace",
        extra={"operation": "cache.invalidated", "scope": scope, "count": count, "reason": reason},
    )


def on_cache_hit(sender, key="", tier="", **kwargs) -> None:
    operations_logger.debug(
        "cache hit %s %s", tier, key, extra={"operation": "cache.hit", "tier": tier, "key": key}
    )


def on_cache_miss(sender, key="", **kwargs) -> None:
    operations_logger.debug("cache miss %s", key, extra={"operation": "cache.miss", "key": key})


def on_cache_evicted(sender, key="", tier="", reason="", **kwargs) -> None:
    operations_logger.debug(
        "cache evicted %s %s (%s)",
        tier,
        key,
        reason,
        extra={"operation": "cache.evicted", "tier": tier, "key": key, "reason": reason},
    )


_task_tokens: dict[str, object] = {}


def on_task_prerun(sender=None, task_id=None, **kwargs) -> None:
    """A Celery task outside a request: its lines carry the task id as ``request_id``."""
    if task_id and context.current() is None:
        _task_tokens[task_id] = context.activate(context.RequestContext(request_id=str(task_id)))


def on_task_postrun(sender=None, task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        context.deactivate(token)


def connect() -> None:
    from celery import signals as celery_signals

    from caching import signals as cache_signals
    from models_registry.signals import ai_model_written

    celery_signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="observability.task_prerun")
    celery_signals.task_postrun.connect(
        on_task_postrun, weak=False, dispatch_uid="observability.task_postrun"
    )

    ai_model_written.connect(on_model_written, dispatch_uid="observability.model_written")
    cache_signals.cache_invalidated.connect(
        on_cache_invalidated, dispatch_uid="observability.cache_invalidated"
    )
    if operations_logger.isEnabledFor(logging.DEBUG):
        cache_signals.cache_hit.connect(on_cache_hit, dispatch_uid="observability.cache_hit")
        cache_signals.cache_miss.connect(on_cache_miss, dispatch_uid="observability.cache_miss")
        cache_signals.cache_evicted.connect(on_cache_evicted, dispatch_uid="observability.cache_evicted")

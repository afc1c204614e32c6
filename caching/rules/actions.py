"""Actions of invalidation rules: what happens to the entries a rule hits.

``invalidate``  drop them everywhere (every process's L1, Redis), as a write would
``refresh``     drop them, then read them through from the database into both tiers
``extend_ttl``  add ``seconds`` to their remaining Redis lifetime (at most ``max_ttl`` when > 0);
                the index sets listing them are kept alive as long. L1 lifetimes are never
                extended: ``L1_TTL`` is the staleness bound when an invalidation message is lost.
``tag``         add them to the Redis index set of tag ``tag`` (the one ``invalidate_indexes(tags=)``
                and ``POST /api/v1/cache/invalidate/ {"tags": [...]}`` use), so they can be
                invalidated together later, and found by the ``tags`` strategy. Records are not
                changed (they mirror the database); the set lives as long as its longest-lived
                member and goes with the namespace generation.
``notify``      send the ``rule_notified`` signal and log a WARNING line

Each action returns an ``ActionResult`` (how many entries it affected). In a dry run nothing
runs; ``preview`` says what would be affected.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import keys as k
from .. import metrics
from ..remote import RemoteUnavailable
from ..signals import CACHE_SENDER, rule_notified
from .entries import CacheView, Entry, script
from .params import Param, clean_params

logger = logging.getLogger("caching.rules")

MAX_TTL = 30 * 86400


@dataclass
class ActionResult:
    type: str
    count: int = 0
    degraded: bool = False
    error: str = ""
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {"type": self.type, "count": self.count}
        if self.degraded:
            out["degraded"] = True
        if self.error:
            out["error"] = self.error
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class Firing:
    """What an action needs to know about the rule firing it."""

    rule_id: int | None
    rule_name: str
    event: str
    context: Mapping
    view: CacheView

    @property
    def reason(self) -> str:
        return f"rule:{self.rule_name}"


class Action:
    type: str = ""
    params: dict[str, Param] = {}

    def clean_params(self, data: Mapping) -> tuple[dict, list[str]]:
        return clean_params(self.params, data)

    def preview(self, firing: Firing, entries: list[Entry], params: dict) -> int:
        return len(entries)

    def run(self, firing: Firing, entries: list[Entry], params: dict) -> ActionResult:
        raise NotImplementedError


def _owed(cache) -> bool:
    return bool(getattr(cache, "_lost_invalidation", False))


class InvalidateAction(Action):
    type = "invalidate"

    def run(self, firing, entries, params):
        cache = firing.view.cache
        was_owed = _owed(cache)
        count = cache.invalidate([e.key for e in entries], reason=firing.reason, scope="model")
        return ActionResult(
            self.type, count, degraded=cache.remote is not None and _owed(cache) and not was_owed
        )


class RefreshAction(Action):
    type = "refresh"

    def run(self, firing, entries, params):
        from models_registry.selectors import ai_model_get_many

        cache = firing.view.cache
        was_owed = _owed(cache)
        keys = [e.key for e in entries]
        cache.invalidate(keys, reason=firing.reason, scope="model")
        loaded = sum(1 for record in ai_model_get_many(keys=keys).values() if record is not None)
        degraded = cache.remote is not None and _owed(cache) and not was_owed
        return ActionResult(self.type, loaded, degraded=degraded)


class ExtendTTLAction(Action):
    type = "extend_ttl"
    params = {
        "seconds": Param("int", required=True, minimum=1, maximum=MAX_TTL),
        "max_ttl": Param("int", default=0, minimum=0, maximum=MAX_TTL, help="0: no cap"),
    }

    def preview(self, firing, entries, params):
        return sum(1 for e in entries if e.cached_l2)

    def run(self, firing, entries, params):
        view = firing.view
        targets = [e for e in entries if e.cached_l2]
        if not targets or view.remote is None:
            return ActionResult(self.type, 0)
        args: list[Any] = [k.prefix(), params["seconds"], params["max_ttl"]]
        for entry in targets:
            names = [f"ip:{entry.record.provider}", *(f"it:{tag}" for tag in entry.record.tags)]
            args += [entry.key, len(names), *names]
        client = view.remote.client
        try:
            count = view.redis(
                "extend_ttl",
                lambda: script("extend_ttl").call(client, [k.namespace_generation_key()], args),
            )
        except RemoteUnavailable as exc:
            return ActionResult(self.type, 0, degraded=True, error=str(exc))
        return ActionResult(self.type, int(count))


class TagAction(Action):
    type = "tag"
    params = {"tag": Param("str", required=True, max_length=64)}

    def clean_params(self, data):
        cleaned, errors = super().clean_params(data)
        if not errors and not cleaned["tag"].strip():
            errors.append("tag must not be blank")
        return cleaned, errors

    def run(self, firing, entries, params):
        view = firing.view
        if view.remote is None:
            return ActionResult(self.type, 0, detail={"tag": params["tag"], "reason": "no Redis"})
        args = [k.prefix(), f"it:{params['tag']}", view.cache.l2_ttl, *(e.key for e in entries)]
        client = view.remote.client
        try:
            view.redis(
                "tag", lambda: script("tag_entries").call(client, [k.namespace_generation_key()], args)
            )
        except RemoteUnavailable as exc:
            return ActionResult(self.type, 0, degraded=True, error=str(exc))
        return ActionResult(self.type, len(entries), detail={"tag": params["tag"]})


class NotifyAction(Action):
    type = "notify"
    params = {"message": Param("str", default="", max_length=500)}

    def run(self, firing, entries, params):
        keys = [e.key for e in entries]
        shown = ", ".join(keys[:10]) + (f" … (+{len(keys) - 10})" if len(keys) > 10 else "")
        logger.warning(
            "invalidation rule %r fired on %s and hit %d cached entries: %s%s",
            firing.rule_name,
            firing.event,
            len(keys),
            shown,
            f" — {params['message']}" if params["message"] else "",
        )
        responses = rule_notified.send_robust(
            sender=CACHE_SENDER,
            rule=firing.rule_name,
            rule_id=firing.rule_id,
            event=firing.event,
            keys=keys,
            context=dict(firing.context),
            message=params["message"],
        )
        for receiver, response in responses:
            if isinstance(response, Exception):
                logger.error("rule_notified receiver %r raised %r", receiver, response)
        return ActionResult(self.type, len(keys))


ACTIONS: dict[str, Action] = {
    action.type: action
    for action in (InvalidateAction(), RefreshAction(), ExtendTTLAction(), TagAction(), NotifyAction())
}


def action_errors(data: Any) -> list[str]:
    """Problems with one action ``{"type": ..., **params}`` (empty: valid)."""
    if not isinstance(data, Mapping):
        return ['must be an object {"type": ..., ...parameters}']
    kind = data.get("type")
    if kind not in ACTIONS:
        return [f"unknown action type {kind!r} (expected one of {', '.join(ACTIONS)})"]
    _, errors = ACTIONS[kind].clean_params({name: v for name, v in data.items() if name != "type"})
    return errors


def run_action(firing: Firing, data: Mapping, entries: list[Entry], *, dry_run: bool) -> ActionResult:
    action = ACTIONS[data["type"]]
    params, _ = action.clean_params({name: v for name, v in data.items() if name != "type"})
    if dry_run:
        return ActionResult(action.type, action.preview(firing, entries, params), detail={"dry_run": True})
    try:
        result = action.run(firing, entries, params)
    except Exception as exc:  # noqa: BLE001 - one failed action must not stop the others
        logger.exception("invalidation rule %r: action %s failed", firing.rule_name, action.type)
        result = ActionResult(action.type, 0, error=f"{type(exc).__name__}: {exc}")
    metrics.RULE_ACTIONS.labels(action=action.type).inc(result.count)
    return result

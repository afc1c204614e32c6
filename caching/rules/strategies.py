"""Invalidation strategies: how a rule picks its candidate cache entries.

A strategy turns (event, context, parameters) into candidate entries; the rule's conditions then
filter them and its actions run on the rest. Built-ins:

``manual``                the keys in ``params.keys`` or the context's ``keys``; without any, every
                          cached entry (conditions do the choosing)
``expired``               cached entries with at most ``ttl_below`` seconds left in Redis (refresh
                          them ahead of expiry, or drop them early)
``memory_pressure``       when Redis (``used_memory``/``maxmemory``, or this namespace's values against
                          ``limit_bytes``) or this process's L1 is above ``threshold``: the lowest
                          priority (``metadata[priority_field]``, default 0), least recently used
                          (Redis idle time) entries, enough to get back to ``target``
``provider_update``       cached entries of ``params.providers`` or the context's ``provider`` /
                          ``providers``
``tags``                  cached entries carrying any (``match: all``: every) tag of ``params.tags``
                          or the context's ``tags``, including entries a rule tagged
``version_change``        cached entries whose ``revision`` (or ``version``) differs from the expected
                          one: the context's ``expected`` map ``{key: value}``, else the database's
``capability_change``     on an event with ``changes``: the changed model when a capability changed
                          (``supports_*``, ``capabilities``; ``fields`` narrows it,
                          ``scope: provider`` widens to the provider's cached entries); without
                          changes (schedule): cached entries whose capabilities differ from the database
``configuration_change``  the same for limits, mode and prices (``mode``, ``context_window``,
                          ``max_output_tokens``, ``input_cost_per_1m``, ``output_cost_per_1m``,
                          ``pricing``)

Custom strategies: subclass ``Strategy`` (set ``name``, ``description``, ``params``; implement
``select``) and list it in ``MODEL_REGISTRY["CUSTOM_INVALIDATION_STRATEGIES"]`` as
``{"name": "dotted.path.Class"}`` or ``["dotted.path.Class", ...]``. ``select`` may return entries
or model keys (keys are looked up in the cache, then in the database).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from models_registry.conf import registry_settings
from models_registry.records import RECORD_FIELDS

from ..sizing import deep_sizeof
from .conditions import RuleValueError, plain, values_equal
from .entries import CacheView, Entry, load_records
from .params import Param, clean_params


class Strategy:
    """Base class. ``params`` declares the parameters (see ``params.Param``)."""

    name: str = ""
    description: str = ""
    params: dict[str, Param] = {}

    def clean_params(self, data: Any) -> tuple[dict, list[str]]:
        """(cleaned parameters, errors). Override to add checks across parameters."""
        return clean_params(self.params, data)

    def select(self, view: CacheView, *, event: str, context: Mapping, params: dict) -> Iterable[Entry | str]:
        raise NotImplementedError


def _context_list(context: Mapping, plural: str, singular: str | None = None) -> list[str]:
    values: list[str] = []
    many = context.get(plural)
    if isinstance(many, list | tuple):
        values += [value for value in many if isinstance(value, str) and value]
    if singular and isinstance(context.get(singular), str) and context[singular]:
        values.append(context[singular])
    return list(dict.fromkeys(values))


class ManualStrategy(Strategy):
    name = "manual"
    description = "The keys named in the parameters or the event context; without any, every cached entry."
    params = {"keys": Param("str_list", default=[], max_length=512, max_items=10_000)}

    def select(self, view, *, event, context, params):
        keys = list(dict.fromkeys([*params["keys"], *_context_list(context, "keys")]))
        if keys:
            return keys
        return view.all().values()


class ExpiredStrategy(Strategy):
    name = "expired"
    description = "Cached entries with at most ttl_below seconds left in Redis."
    params = {"ttl_below": Param("int", default=60, minimum=0, maximum=365 * 86400)}

    def select(self, view, *, event, context, params):
        entries = list(view.all().values())
        view.fill_ttl(entries)
        return [e for e in entries if e.ttl is not None and e.ttl <= params["ttl_below"]]


class MemoryPressureStrategy(Strategy):
    name = "memory_pressure"
    description = (
        "Above threshold (Redis memory, the namespace against limit_bytes, or this process's L1): "
        "the lowest-priority, least recently used entries, until usage is back to target."
    )
    params = {
        "threshold": Param("number", default=0.9, minimum=0.01, maximum=1.0),
        "target": Param("number", default=0.75, minimum=0.0, maximum=1.0),
        "limit_bytes": Param("int", default=0, minimum=0, help="0: use Redis maxmemory"),
        "max_entries": Param("int", default=100, minimum=1, maximum=100_000),
        "priority_field": Param("str", default="cache_priority", max_length=100),
    }

    def clean_params(self, data):
        cleaned, errors = super().clean_params(data)
        if not errors and cleaned["target"] >= cleaned["threshold"]:
            errors.append("target must be below threshold")
        return cleaned, errors

    def select(self, view, *, event, context, params):
        entries = list(view.all().values())
        threshold, target = params["threshold"], params["target"]
        to_free, sizes = 0.0, {}
        if params["limit_bytes"]:
            used, limit = sum(e.size for e in entries), params["limit_bytes"]
        else:
            used, limit = view.redis_memory() or (0, 0)
        if limit and used / limit >= threshold:
            to_free = used - target * limit
            sizes = {e.key: e.size for e in entries}
            view.notes["memory"] = {
                "tier": "l2",
                "used": used,
                "limit": limit,
                "ratio": round(used / limit, 4),
            }
        local = view.cache.local
        l1_ratio = local.currsize / local.max_bytes if local.max_bytes else 0
        if not to_free and l1_ratio >= threshold:
            entries = [e for e in entries if e.cached_l1]
            to_free = local.currsize - target * local.max_bytes
            sizes = {e.key: deep_sizeof(e.record) for e in entries}
            view.notes["memory"] = {"tier": "l1", "used": local.currsize, "limit": local.max_bytes}
        if to_free <= 0:
            return []
        view.fill_idle(entries)

        def priority(entry: Entry) -> float:
            value = entry.record.metadata.get(params["priority_field"], 0)
            return value if isinstance(value, int | float) and not isinstance(value, bool) else 0

        ranked = sorted(entries, key=lambda e: (priority(e), -(e.idle or 0), e.key))
        chosen, freed = [], 0
        for entry in ranked:
            if freed >= to_free or len(chosen) >= params["max_entries"]:
                break
            chosen.append(entry)
            freed += sizes.get(entry.key, 0)
        view.notes["memory"]["to_free"] = int(to_free)
        return chosen


class ProviderUpdateStrategy(Strategy):
    name = "provider_update"
    description = "Cached entries of the providers in the parameters or the context (provider/providers)."
    params = {"providers": Param("str_list", default=[], max_length=100, max_items=1000)}

    def select(self, view, *, event, context, params):
        providers = set(params["providers"]) | set(_context_list(context, "providers", "provider"))
        if not providers:
            return []
        members = view.index_members([f"ip:{p}" for p in sorted(providers)])
        if members:
            keys = set().union(*members.values())
            candidates = view.for_keys(sorted(keys)).values()
        else:
            candidates = view.all().values()
        return [e for e in candidates if e.record.provider in providers]


class TagsStrategy(Strategy):
    name = "tags"
    description = (
        "Cached entries carrying any (match: all = every) of the tags in the parameters or the context, "
        "including entries a rule's tag action added to that tag."
    )
    params = {
        "tags": Param("str_list", default=[], max_length=64, max_items=100),
        "match": Param("choice", default="any", choices=("any", "all")),
    }

    def select(self, view, *, event, context, params):
        tags = list(dict.fromkeys([*params["tags"], *_context_list(context, "tags", "tag")]))
        if not tags:
            return []
        members = view.index_members([f"it:{tag}" for tag in tags])
        if view.remote is not None and not view.degraded:
            by_tag = {tag: members.get(f"it:{tag}", set()) for tag in tags}
            entries = view.for_keys(sorted(set().union(*by_tag.values()))).values()
        else:
            entries = view.all().values()
            by_tag = {tag: {e.key for e in entries if tag in e.record.tags} for tag in tags}
        if params["match"] == "all":
            return [e for e in entries if all(e.key in keys for keys in by_tag.values())]
        return [e for e in entries if any(e.key in keys for keys in by_tag.values())]


class VersionChangeStrategy(Strategy):
    name = "version_change"
    description = (
        "Cached entries whose revision (or version) differs from the expected one: "
        "the context's expected {key: value}, else the database."
    )
    params = {"field": Param("choice", default="revision", choices=("revision", "version"))}

    def select(self, view, *, event, context, params):
        from models_registry.models import AIModel

        field = params["field"]
        expected = context.get("expected")
        if isinstance(expected, Mapping):  # e.g. a sync: {key: the revision it just wrote}
            entries = view.for_keys([key for key in expected if isinstance(key, str)]).values()
            return [e for e in entries if not values_equal(getattr(e.record, field), expected[e.key])]
        keys = _context_list(context, "keys")
        entries = list((view.for_keys(keys) if keys else view.all()).values())
        current: dict[str, Any] = {}
        wanted = [e.key for e in entries]
        for start in range(0, len(wanted), 1000):
            rows = AIModel.objects.filter(key__in=wanted[start : start + 1000]).values_list("key", field)
            current.update(rows)
        # A model that is gone from the database (or was renamed) differs too.
        return [e for e in entries if e.key not in current or getattr(e.record, field) != current[e.key]]


class FieldChangeStrategy(Strategy):
    """Base of the capability and configuration strategies: a group of record fields changed."""

    default_fields: tuple[str, ...] = ()
    params = {
        "fields": Param("str_list", default=[], max_length=100, max_items=50),
        "scope": Param("choice", default="model", choices=("model", "provider")),
    }

    def clean_params(self, data):
        cleaned, errors = super().clean_params(data)
        for name in cleaned.get("fields") or []:
            head = name.split(".")[0]
            if head not in RECORD_FIELDS:
                errors.append(f"fields: unknown record field {head!r}")
        if not errors and not cleaned["fields"]:
            cleaned["fields"] = list(self.default_fields)
        return cleaned, errors

    @staticmethod
    def _touches(changed: str, fields: list[str]) -> bool:
        return any(
            changed == name or changed.startswith(name + ".") or name.startswith(changed + ".")
            for name in fields
        )

    @staticmethod
    def _dig(record, path: str) -> Any:
        head, *rest = path.split(".")
        value = plain(getattr(record, head, None))
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def select(self, view, *, event, context, params):
        fields = params["fields"]
        changes = context.get("changes")
        if isinstance(changes, list):  # an event: did this change touch the group?
            touched = [
                c["field"] for c in changes if isinstance(c, Mapping) and isinstance(c.get("field"), str)
            ]
            if not any(self._touches(name, fields) for name in touched):
                return []
            keys = _context_list(context, "keys", "key")
            if params["scope"] == "provider":
                providers = set(_context_list(context, "providers", "provider"))
                cached = [e for e in view.all().values() if e.record.provider in providers]
                return [*keys, *cached]
            return keys
        keys = _context_list(context, "keys")  # no changes (schedule): compare with the database
        entries = list((view.for_keys(keys) if keys else view.all()).values())
        stored = load_records([e.key for e in entries])
        return [
            e
            for e in entries
            if e.key in stored
            and any(self._dig(e.record, name) != self._dig(stored[e.key], name) for name in fields)
        ]


class CapabilityChangeStrategy(FieldChangeStrategy):
    name = "capability_change"
    description = "A model's capabilities (supports_*, capabilities) changed."
    default_fields = ("supports_streaming", "supports_function_calling", "supports_vision", "capabilities")


class ConfigurationChangeStrategy(FieldChangeStrategy):
    name = "configuration_change"
    description = "A model's configuration (mode, limits, prices) changed."
    default_fields = (
        "mode",
        "context_window",
        "max_output_tokens",
        "input_cost_per_1m",
        "output_cost_per_1m",
        "pricing",
    )


BUILTIN_STRATEGIES: tuple[type[Strategy], ...] = (
    ManualStrategy,
    ExpiredStrategy,
    MemoryPressureStrategy,
    ProviderUpdateStrategy,
    TagsStrategy,
    VersionChangeStrategy,
    CapabilityChangeStrategy,
    ConfigurationChangeStrategy,
)


@functools.lru_cache(maxsize=8)
def _registry(custom: tuple[tuple[str | None, str], ...]) -> dict[str, Strategy]:
    registry = {cls.name: cls() for cls in BUILTIN_STRATEGIES}
    for name, path in custom:
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"CUSTOM_INVALIDATION_STRATEGIES: cannot import {path!r}: {exc}"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise ImproperlyConfigured(
                f"CUSTOM_INVALIDATION_STRATEGIES: {path!r} is not a Strategy subclass."
            )
        name = name or cls.name
        if not name:
            raise ImproperlyConfigured(f"CUSTOM_INVALIDATION_STRATEGIES: {path!r} has no name.")
        if name in registry and not isinstance(registry[name], cls):
            raise ImproperlyConfigured(f"CUSTOM_INVALIDATION_STRATEGIES: the name {name!r} is taken.")
        registry[name] = cls()
    return registry


def strategies() -> dict[str, Strategy]:
    """Every strategy by name: the built-ins and ``CUSTOM_INVALIDATION_STRATEGIES``."""
    custom = registry_settings.CUSTOM_INVALIDATION_STRATEGIES or {}
    if isinstance(custom, Mapping):
        pairs = tuple((str(name), str(path)) for name, path in custom.items())
    else:
        pairs = tuple((None, str(path)) for path in custom)
    return _registry(pairs)


def get_strategy(name: str) -> Strategy:
    registry = strategies()
    if name not in registry:
        raise RuleValueError(f"unknown strategy {name!r} (expected one of {', '.join(sorted(registry))})")
    return registry[name]


def check_custom_strategies(app_configs=None, **kwargs) -> list:
    """System check (``manage.py check``, server start): ``CUSTOM_INVALIDATION_STRATEGIES`` loads."""
    from django.core import checks

    try:
        strategies()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="model_registry.E101", obj="MODEL_REGISTRY")]
    return []

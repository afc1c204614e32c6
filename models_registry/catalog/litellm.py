"""Map LiteLLM's ``model_prices_and_context_window.json`` (``{ID: {...}}``) to bulk items.

One entry ``ID: {...}`` becomes one model:

- provider = ``litellm_provider`` (never derived from the id); name = ID without a leading
  ``"{provider}/"``; key = ``"{provider}/{name}"``; source = ``litellm``; source_id = ID;
- context_window = ``max_input_tokens`` if present, else ``max_tokens``; max_output_tokens =
  ``max_output_tokens`` (positive ints; ``0`` → null with a warning; see ``mapping.py``);
- input/output_cost_per_1m = ``input/output_cost_per_token`` × 1,000,000, exact;
- supports_streaming / supports_function_calling / supports_vision from the same keys (absent =
  null, never false); every other ``supports_X`` → ``capabilities["X"]``;
- every other price key (name contains ``cost`` or ``price``, or is ``tiered_pricing``; nested
  maps and lists allowed) → ``pricing`` under its own name, numbers as decimal strings; a
  price-named key whose value is not made of numbers stays in the metadata, with a warning;
- ``mode`` normalised (``moderations`` → ``moderation``); no mode → ``""`` (unknown) and the tag
  ``pricing-bucket`` (LiteLLM's ``together-ai-up-to-3b``-style size buckets);
- ``deprecation_date`` → date; ``successor_model`` (a LiteLLM id) → successor, by key;
  ``source`` → documentation_url;
- every other key (rpm, tpm, supported_endpoints, LiteLLM's own ``metadata``, …) →
  ``metadata["litellm"]``, unchanged. The legacy, ambiguous ``max_tokens`` is only a fallback
  for the context window and is not kept.

Non-model entries are skipped and counted: records without ``litellm_provider`` (the
``fallback_generalizations`` rules block) and records whose provider is not a slug (the
``sample_spec`` documentation record). ``{"alias_of": ID}`` entries become aliases of their target.
Two ids for one key (``deepseek-chat`` and ``deepseek/deepseek-chat``): the id carrying the
``"{provider}/"`` prefix wins, the other becomes an alias, and differing values are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..decimals import normalize_price_map
from ..exceptions import CatalogError
from ..services.bulk import BulkItem
from .mapping import (
    CONFLICT,
    DUPLICATE,
    ERROR,
    PROVIDER_SLUG_RE,
    SKIPPED,
    WARNING,
    EntryError,
    MappedCatalog,
    check_identity,
    date_value,
    is_price_tree,
    mode_value,
    negative_leaf,
    optional_bool,
    positive_int,
    price,
    url_value,
)

SOURCE = "litellm"
METADATA_KEY = "litellm"
PRICING_BUCKET_TAG = "pricing-bucket"
COLUMN_FLAGS = ("supports_streaming", "supports_function_calling", "supports_vision")
MODE_ALIASES = {"moderations": "moderation"}
# Keys with a column of their own (everything else goes to capabilities, pricing or metadata).
MAPPED_KEYS = frozenset(
    {
        "litellm_provider",
        "mode",
        "max_input_tokens",
        "max_tokens",
        "max_output_tokens",
        "input_cost_per_token",
        "output_cost_per_token",
        "deprecation_date",
        "successor_model",
        "source",
        *COLUMN_FLAGS,
    }
)
PROGRESS_EVERY = 200

Progress = Callable[[str, int, int], None]


def is_price_key(key: str) -> bool:
    return "cost" in key or "price" in key or key == "tiered_pricing"


def split_id(entry_id: str, provider: str) -> str:
    """The model name: the id without a leading ``"{provider}/"``."""
    prefix = f"{provider}/"
    return entry_id[len(prefix) :] if entry_id.startswith(prefix) else entry_id


def check_format(data: Any) -> None:
    """Refuse data that is not a LiteLLM catalogue (``CatalogError``)."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        raise CatalogError(
            'This looks like an OpenRouter catalogue ({"data": [...]}), not LiteLLM; '
            "use --format openrouter. Nothing was imported."
        )
    if not isinstance(data, dict):
        raise CatalogError(
            f"Not a LiteLLM catalogue: the top level is a JSON {type(data).__name__}, "
            "not an object of {model id: {...}}. Nothing was imported."
        )
    if not any(isinstance(v, dict) and ("litellm_provider" in v or "alias_of" in v) for v in data.values()):
        raise CatalogError(
            "Not a LiteLLM catalogue: no entry has a 'litellm_provider'. Nothing was imported."
        )


def _map_entry(entry_id: str, entry: dict, warn: Callable[[str], None]) -> tuple[str, str, dict, Any]:
    """``(provider, name, fields, successor_id)`` of one model entry; raises ``EntryError``."""
    provider = entry["litellm_provider"]
    name = split_id(entry_id, provider)
    check_identity(provider, name, entry_id)

    if entry.get("max_input_tokens") is not None:
        context_window = positive_int(entry["max_input_tokens"], "max_input_tokens", warn)
    else:
        context_window = positive_int(entry.get("max_tokens"), "max_tokens", warn)

    capabilities: dict[str, Any] = {}
    pricing: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in entry.items():
        if key in MAPPED_KEYS:
            continue
        if key.startswith("supports_"):
            if value is not None:
                capabilities[key[len("supports_") :]] = value
        elif is_price_key(key):
            if value is None:
                continue
            if is_price_tree(value):
                if negative_leaf(value):
                    raise EntryError(f"{key} holds a negative price ({value!r})")
                pricing[key] = normalize_price_map(value)
            else:
                warn(f"{key} is not a price (or a map of prices); kept in metadata.{METADATA_KEY}")
                rest[key] = value
        else:
            rest[key] = value

    has_mode = entry.get("mode") is not None
    fields = {
        "mode": mode_value(entry.get("mode"), MODE_ALIASES),
        "context_window": context_window,
        "max_output_tokens": positive_int(entry.get("max_output_tokens"), "max_output_tokens", warn),
        "input_cost_per_1m": price(
            entry.get("input_cost_per_token"), "input_cost_per_token", per_million=True
        ),
        "output_cost_per_1m": price(
            entry.get("output_cost_per_token"), "output_cost_per_token", per_million=True
        ),
        "pricing": pricing,
        "capabilities": capabilities,
        "deprecation_date": date_value(entry.get("deprecation_date"), "deprecation_date", warn),
        "documentation_url": url_value(entry.get("source"), "source", warn),
        "source": SOURCE,
        "source_id": entry_id,
        "successor": None,
        "metadata": {METADATA_KEY: rest} if rest else {},
        "tags": [] if has_mode else [PRICING_BUCKET_TAG],
    }
    for flag in COLUMN_FLAGS:
        fields[flag] = optional_bool(entry.get(flag), flag)
    return provider, name, fields, entry.get("successor_model")


def _differences(a: dict, b: dict) -> list[str]:
    ignore = {"source_id"}
    return sorted(k for k in set(a) | set(b) if k not in ignore and a.get(k) != b.get(k))


def map_catalog(
    data: Any, *, duplicates: list | None = None, progress: Progress | None = None
) -> MappedCatalog:
    """Map a parsed LiteLLM catalogue. Raises ``CatalogError`` when it is not one."""
    check_format(data)
    out = MappedCatalog(
        source=SOURCE, metadata_key=METADATA_KEY, managed_tags=frozenset({PRICING_BUCKET_TAG})
    )
    for path, key, copies in duplicates or []:
        if not path:
            out.report(DUPLICATE, key, f"the id appears {copies} times in the file; the last copy is used")
        else:
            where = ".".join(str(p) for p in path[1:])
            inside = f" in {where}" if where else ""
            out.report(
                DUPLICATE, str(path[0]), f"key {key!r} appears {copies} times{inside}; the last copy is used"
            )

    total = len(data)
    # key → (entry_id, provider, name, fields, successor_id), in file order
    by_key: dict[str, list[tuple[str, str, str, dict, Any]]] = {}
    alias_entries: list[tuple[str, Any]] = []
    for index, (entry_id, entry) in enumerate(data.items(), start=1):
        if progress is not None and (index % PROGRESS_EVERY == 0 or index == total):
            progress("map", index, total)
        if not isinstance(entry, dict):
            out.report(SKIPPED, entry_id, f"not a model entry (a JSON {type(entry).__name__})")
            continue
        if "litellm_provider" not in entry:
            if "alias_of" in entry:
                alias_entries.append((entry_id, entry["alias_of"]))
            elif entry_id == "fallback_generalizations" or "rules" in entry:
                out.report(SKIPPED, entry_id, "a rules block, not a model entry")
            else:
                out.report(SKIPPED, entry_id, "no litellm_provider: not a model entry")
            continue
        provider = entry["litellm_provider"]
        if not isinstance(provider, str) or not PROVIDER_SLUG_RE.match(provider):
            out.report(
                SKIPPED,
                entry_id,
                f"litellm_provider {str(provider)[:60]!r} is not a provider slug: not a model entry "
                "(e.g. the sample_spec documentation record)",
            )
            continue

        def warn(message: str, _ref: str = entry_id) -> None:
            out.report(WARNING, _ref, message)

        try:
            provider, name, fields, successor_id = _map_entry(entry_id, entry, warn)
        except EntryError as exc:
            out.report(ERROR, entry_id, str(exc))
            continue
        by_key.setdefault(f"{provider}/{name}", []).append((entry_id, provider, name, fields, successor_id))

    # One item per key; extra ids for the same key become aliases of the prefixed one.
    id_to_key: dict[str, str] = {}
    items: dict[str, BulkItem] = {}
    successors: dict[str, Any] = {}
    for key, candidates in by_key.items():
        provider = candidates[0][1]
        ordered = sorted(candidates, key=lambda c: not c[0].startswith(f"{provider}/"))
        winner_id, provider, name, fields, successor_id = ordered[0]
        item = BulkItem(provider=provider, name=name, fields=fields, ref=winner_id)
        for other_id, _, _, other_fields, _ in ordered[1:]:
            item.aliases.append(other_id)
            differing = _differences(fields, other_fields)
            if differing:
                out.report(
                    CONFLICT,
                    other_id,
                    f"same model as {winner_id!r} (key {key!r}) but differs in {', '.join(differing)}; "
                    f"imported the values of {winner_id!r}, {other_id!r} is an alias",
                )
        for entry_id, *_ in candidates:
            id_to_key[entry_id] = key
        items[key] = item
        successors[key] = successor_id

    for alias_id, named in alias_entries:
        target, seen = named, {alias_id}
        while isinstance(target, str) and target not in id_to_key and target not in seen:
            seen.add(target)
            nxt = data.get(target)
            target = nxt.get("alias_of") if isinstance(nxt, dict) and "litellm_provider" not in nxt else None
        if not isinstance(target, str) or target not in id_to_key:
            out.report(SKIPPED, alias_id, f"alias of {named!r}, which is not a model in this catalogue")
            continue
        target_key = id_to_key[target]
        if alias_id == target_key:
            continue
        items[target_key].aliases.append(alias_id)
        id_to_key[alias_id] = target_key

    for key, item in items.items():
        kept = []
        for alias in item.aliases:
            if alias in items:
                out.report(CONFLICT, alias, f"alias of {key!r} is also the key of a model; alias dropped")
            else:
                kept.append(alias)
        item.aliases = kept

    for key, successor_id in successors.items():
        if successor_id is None or successor_id == "":
            continue
        item = items[key]
        if not isinstance(successor_id, str):
            out.report(WARNING, item.ref, f"successor_model {successor_id!r} is not an id; ignored")
        elif successor_id in id_to_key:
            if id_to_key[successor_id] != key:
                item.successor_key = id_to_key[successor_id]
        else:
            out.unresolved_successors[key] = successor_id

    out.items = list(items.values())
    return out

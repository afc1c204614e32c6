"""Map OpenRouter's ``GET /api/v1/models`` answer (``{"data": [...]}``) to bulk items.

One object of ``data`` becomes one model of provider ``openrouter``:

- name = ``id`` as is (``anthropic/claude-sonnet-4.5``; ``:free``/``:thinking`` suffixes kept);
  key = ``openrouter/{id}``; source = ``openrouter``; source_id = ``id``;
- display_name = ``name``; description = ``description``;
- prices are strings in USD per token (or per unit): ``pricing.prompt`` / ``pricing.completion``
  → input/output_cost_per_1m (× 1,000,000, exact); ``"0"`` is free (0); ``"-1"`` means variable
  or unknown and is stored as null (never a negative price), its key listed in
  ``metadata["openrouter"]["variable_pricing"]``; every other pricing key (``request``,
  ``image``, ``web_search``, ``internal_reasoning``, ``input_cache_read``,
  ``input_cache_write``, …) → ``pricing`` under OpenRouter's own name and unit, unconverted;
- context_window = ``context_length``; max_output_tokens = ``top_provider.max_completion_tokens``;
- ``supported_parameters``: ``tools`` → supports_function_calling = true; every parameter
  (``reasoning``, ``tool_choice``, ``response_format``, …) → ``capabilities[name] = true``;
- ``architecture.input_modalities`` containing ``image`` → supports_vision = true (otherwise
  unknown, as is supports_streaming);
- ``expiration_date`` → deprecation_date; ``created`` (unix seconds) → discovered_at (new models
  only);
- everything else (canonical_slug, architecture, top_provider, per_request_limits,
  default_parameters, knowledge_cutoff, hugging_face_id, links, …) → ``metadata["openrouter"]``.

``mode`` is not in OpenRouter's data and is left alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from ..decimals import NotADecimal, decimal_to_str, to_decimal
from ..exceptions import CatalogError
from ..services.bulk import BulkItem
from .mapping import (
    DUPLICATE,
    ERROR,
    SKIPPED,
    WARNING,
    EntryError,
    MappedCatalog,
    check_identity,
    date_value,
    positive_int,
    price,
)

SOURCE = "openrouter"
PROVIDER = "openrouter"
METADATA_KEY = "openrouter"
MAPPED_KEYS = frozenset(
    {
        "id",
        "name",
        "description",
        "pricing",
        "context_length",
        "supported_parameters",
        "expiration_date",
        "created",
    }
)
COLUMN_PRICES = {"prompt": "input_cost_per_1m", "completion": "output_cost_per_1m"}
PROGRESS_EVERY = 200

Progress = Callable[[str, int, int], None]


def check_format(data: Any) -> None:
    """Refuse data that is not an OpenRouter model list (``CatalogError``)."""
    if (
        isinstance(data, dict)
        and "data" not in data
        and any(isinstance(v, dict) and "litellm_provider" in v for v in data.values())
    ):
        raise CatalogError(
            "This looks like a LiteLLM catalogue ({model id: {...}}), not OpenRouter; "
            "use --format litellm. Nothing was imported."
        )
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise CatalogError(
            'Not an OpenRouter catalogue: expected {"data": [ {...model...}, ... ]}. Nothing was imported.'
        )


def _is_variable(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and value is not None and to_decimal(value) == -1
    except NotADecimal:
        return False


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryError(f"{name} must be a string, not {value!r}")
    return value


def _map_entry(entry: dict, warn: Callable[[str], None]) -> tuple[str, dict, dt.datetime | None]:
    model_id = entry["id"]
    check_identity(PROVIDER, model_id, model_id)
    display_name = _text(entry.get("name"), "name").strip()
    if len(display_name) > 255:
        warn("name is longer than 255 characters; truncated")
        display_name = display_name[:255]

    raw_pricing = entry.get("pricing") or {}
    if not isinstance(raw_pricing, dict):
        raise EntryError(f"pricing must be an object, not {raw_pricing!r}")
    columns: dict[str, Any] = {"input_cost_per_1m": None, "output_cost_per_1m": None}
    pricing: dict[str, str] = {}
    variable: list[str] = []
    for key, value in raw_pricing.items():
        if value is None or value == "":
            continue
        if _is_variable(value):
            variable.append(key)
            continue
        if key in COLUMN_PRICES:
            columns[COLUMN_PRICES[key]] = price(value, f"pricing.{key}", per_million=True)
        else:
            pricing[key] = decimal_to_str(price(value, f"pricing.{key}", per_million=False))

    top = entry.get("top_provider") or {}
    if not isinstance(top, dict):
        raise EntryError(f"top_provider must be an object, not {top!r}")
    architecture = entry.get("architecture") or {}
    if not isinstance(architecture, dict):
        raise EntryError(f"architecture must be an object, not {architecture!r}")
    modalities = architecture.get("input_modalities") or []
    params = entry.get("supported_parameters") or []
    if not isinstance(params, list) or not all(isinstance(p, str) and p for p in params):
        raise EntryError(f"supported_parameters must be a list of names, not {params!r}")

    rest = {k: v for k, v in entry.items() if k not in MAPPED_KEYS}
    if variable:
        rest["variable_pricing"] = sorted(variable)

    fields = {
        "display_name": display_name,
        "description": _text(entry.get("description"), "description"),
        "context_window": positive_int(entry.get("context_length"), "context_length", warn),
        "max_output_tokens": positive_int(
            top.get("max_completion_tokens"), "top_provider.max_completion_tokens", warn
        ),
        **columns,
        "pricing": pricing,
        "supports_streaming": None,
        "supports_function_calling": True if "tools" in params else None,
        "supports_vision": True if isinstance(modalities, list) and "image" in modalities else None,
        "capabilities": {param: True for param in params},
        "deprecation_date": date_value(entry.get("expiration_date"), "expiration_date", warn),
        "source": SOURCE,
        "source_id": model_id,
        "metadata": {METADATA_KEY: rest} if rest else {},
    }
    return model_id, fields, _created(entry.get("created"), warn)


def _created(value: Any, warn: Callable[[str], None]) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 32503680000:
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    warn(f"created {value!r} is not a unix timestamp; ignored")
    return None


def map_catalog(
    data: Any, *, duplicates: list | None = None, progress: Progress | None = None
) -> MappedCatalog:
    """Map a parsed OpenRouter model list. Raises ``CatalogError`` when it is not one."""
    check_format(data)
    entries = data["data"]
    out = MappedCatalog(source=SOURCE, metadata_key=METADATA_KEY, managed_tags=frozenset())

    def ref_of(index: Any) -> str:
        entry = entries[index] if isinstance(index, int) and index < len(entries) else None
        return str(entry.get("id")) if isinstance(entry, dict) else f"data[{index}]"

    for path, key, copies in duplicates or []:
        if len(path) >= 2 and path[0] == "data":
            where = ".".join(str(p) for p in path[2:])
            inside = f" in {where}" if where else ""
            message = f"key {key!r} appears {copies} times{inside}; the last copy is used"
            out.report(DUPLICATE, ref_of(path[1]), message)
        else:
            out.report(DUPLICATE, key, f"top-level key appears {copies} times; the last copy is used")

    items: dict[str, BulkItem] = {}
    total = len(entries)
    for index, entry in enumerate(entries, start=1):
        if progress is not None and (index % PROGRESS_EVERY == 0 or index == total):
            progress("map", index, total)
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
            out.report(SKIPPED, f"data[{index - 1}]", "not a model object (no string 'id')")
            continue
        model_id = entry["id"]

        def warn(message: str, _ref: str = model_id) -> None:
            out.report(WARNING, _ref, message)

        try:
            name, fields, created = _map_entry(entry, warn)
        except EntryError as exc:
            out.report(ERROR, model_id, str(exc))
            continue
        if name in items:
            out.report(DUPLICATE, model_id, "the id appears more than once in data; the last copy is used")
        item = BulkItem(provider=PROVIDER, name=name, fields=fields, ref=model_id)
        if created is not None:
            item.fields["discovered_at"] = created
        items[name] = item
    out.items = list(items.values())
    return out

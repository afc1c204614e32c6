"""Redis key names, all built here, all under one versioned, per-deployment prefix.

Layout (``P`` = ``mr:v1:{namespace}``, ``G`` = the namespace generation):

- ``P:gen``                  namespace generation; bumping it orphans every value key at once
                             (invalidate-all, recovery after a Redis outage)
- ``P:g:{model key}``        per-model fence, INCRed by every invalidation (never reset)
- ``P:{G}:m:{model key}``    the cached record (JSON ``{"r": revision, "d": record}``)
- ``P:{G}:i:{id}``           id → model key (identity is immutable, so this never goes stale)
- ``P:{G}:a:{alias}``        alias → model key
- ``P:{G}:ip:{provider}``    set of model keys of a provider cached now
- ``P:{G}:it:{tag}``         set of model keys carrying a tag cached now
- ``P:{G}:l:{digest}``       a cached list page (JSON with the list generation it was built
                             under; a page whose generation is not the current one is a miss)
- ``P:lg``                   list generation, INCRed by every model invalidation
- ``P:lock:{model key}``     short fill lock (stampede guard)
- ``P:inval``                pub/sub channel for L1 invalidation messages

Model keys may contain any character (``/ : @ . *``); Redis keys are binary-safe, so they are
used verbatim, but ``validate_model_key`` refuses empty, over-long or control-character keys.
Provider and tag names of the index sets are checked the same way (``validate_provider_name``:
a provider slug; ``validate_tag_name``). Every entry point that turns input into a key calls
these first (the read API, the by-key URL, cache invalidation, rule parameters), so a bad key is
an error before any Redis call. Names are only ever used as literal keys: glob characters in them
(``*`` in ``bedrock/*/...``) match nothing else; SCAN patterns are built from the configured
prefix alone, escaped with ``_glob_escape``.
"""

import hashlib
import json
import re

from models_registry.conf import registry_settings
from models_registry.validation import MAX_TAG_LENGTH

VERSION = "v1"
MAX_MODEL_KEY_LENGTH = 512
MAX_PROVIDER_LENGTH = 100  # Provider.slug


class InvalidCacheKey(ValueError):
    """A model key that must not be used to build a cache key."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # as models_registry.models.validate_provider_slug


def validate_model_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidCacheKey("A model key must be a non-empty string.")
    if len(key) > MAX_MODEL_KEY_LENGTH:
        raise InvalidCacheKey(f"A model key is at most {MAX_MODEL_KEY_LENGTH} characters.")
    if _CONTROL.search(key):
        raise InvalidCacheKey("A model key must not contain control characters.")
    return key


def validate_provider_name(provider: str) -> str:
    """A provider slug for an index key: letters, digits, ``_ - .`` (no glob or control characters)."""
    if not isinstance(provider, str) or not provider:
        raise InvalidCacheKey("A provider must be a non-empty string.")
    if len(provider) > MAX_PROVIDER_LENGTH:
        raise InvalidCacheKey(f"A provider is at most {MAX_PROVIDER_LENGTH} characters.")
    if not _PROVIDER.fullmatch(provider):
        raise InvalidCacheKey("A provider slug is letters, digits, '_', '-' and '.'.")
    return provider


def validate_tag_name(tag: str) -> str:
    """A tag for an index key: non-empty, at most ``MAX_TAG_LENGTH`` characters, no control characters."""
    if not isinstance(tag, str) or not tag.strip():
        raise InvalidCacheKey("A tag must be a non-empty string.")
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidCacheKey(f"A tag is at most {MAX_TAG_LENGTH} characters.")
    if _CONTROL.search(tag):
        raise InvalidCacheKey("A tag must not contain control characters.")
    return tag


def validate_context_names(context):
    """An invalidation rule's event context given by hand (dry run, run now): the model keys,
    providers and tags in it (``key(s)``, ``provider(s)``, ``tag(s)``) checked as above."""
    checks = {
        "key": validate_model_key,
        "keys": validate_model_key,
        "provider": validate_provider_name,
        "providers": validate_provider_name,
        "tag": validate_tag_name,
        "tags": validate_tag_name,
    }
    for name, check in checks.items():
        value = context.get(name) if hasattr(context, "get") else None
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, str) and item:  # other values are ignored by the strategies
                try:
                    check(item)
                except InvalidCacheKey as exc:
                    raise InvalidCacheKey(f"{name}: {exc}") from exc
    return context


def prefix() -> str:
    return f"mr:{VERSION}:{registry_settings.CACHE_NAMESPACE}"


def namespace_generation_key() -> str:
    return f"{prefix()}:gen"


def list_generation_key() -> str:
    return f"{prefix()}:lg"


def fence_key(model_key: str) -> str:
    return f"{prefix()}:g:{model_key}"


def lock_key(model_key: str) -> str:
    return f"{prefix()}:lock:{model_key}"


def channel() -> str:
    return f"{prefix()}:inval"


def value_key(gen: int, model_key: str) -> str:
    return f"{prefix()}:{gen}:m:{model_key}"


def id_key(gen: int, model_id: int) -> str:
    return f"{prefix()}:{gen}:i:{model_id}"


def alias_key(gen: int, alias: str) -> str:
    return f"{prefix()}:{gen}:a:{alias}"


def provider_index_key(gen: int, provider: str) -> str:
    return f"{prefix()}:{gen}:ip:{provider}"


def tag_index_key(gen: int, tag: str) -> str:
    return f"{prefix()}:{gen}:it:{tag}"


def generation_pattern(gen: int) -> str:
    """SCAN pattern for every value/index key of one namespace generation."""
    return f"{_glob_escape(prefix())}:{gen}:*"


def namespace_pattern() -> str:
    """SCAN pattern for every key of this deployment's namespace."""
    return f"{_glob_escape(prefix())}:*"


def list_digest(params: dict) -> str:
    """Digest of normalised list parameters (key order does not matter)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def list_key(gen: int, digest: str) -> str:
    return f"{prefix()}:{gen}:l:{digest}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)

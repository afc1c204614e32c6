"""Read a catalogue: a local path or an http(s) URL → parsed JSON plus its duplicate keys.

- URLs are fetched with ``urllib`` (timeout ``IMPORT_FETCH_TIMEOUT``); files and responses larger
  than ``IMPORT_MAX_BYTES`` are refused.
- The bytes must be UTF-8 (a leading BOM is tolerated) and valid JSON (``NaN``/``Infinity`` are
  refused: they are not JSON and PostgreSQL cannot store them).
- Duplicate keys inside one JSON object are found with ``object_pairs_hook``; as with
  ``json.load``, the last copy wins. Each is returned with its path so the importer can report
  it under the entry's id.

Every failure raises ``CatalogError`` with a message fit for the command line.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..conf import registry_settings
from ..exceptions import CatalogError

USER_AGENT = "django-model-registry catalogue importer"


@dataclass
class LoadedCatalog:
    """Parsed JSON of one source. ``duplicates`` holds ``(path, key, copies)``: ``path`` is the
    list of keys/indexes leading to the object that repeats ``key`` (``[]`` = top level)."""

    source: str
    is_url: bool
    data: Any
    size: int
    duplicates: list[tuple[list, str, int]] = field(default_factory=list)


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _fetch(url: str, limit: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=registry_settings.IMPORT_FETCH_TIMEOUT) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise CatalogError(
                    f"{url}: the response is {int(length)} bytes, over the {limit}-byte limit."
                )
            raw = response.read(limit + 1)
    except CatalogError:
        raise
    except urllib.error.HTTPError as exc:
        raise CatalogError(f"{url}: HTTP {exc.code} {exc.reason}.") from exc
    except urllib.error.URLError as exc:
        raise CatalogError(f"{url}: cannot fetch ({exc.reason}).") from exc
    except (TimeoutError, OSError) as exc:
        raise CatalogError(f"{url}: cannot fetch ({exc}).") from exc
    if len(raw) > limit:
        raise CatalogError(f"{url}: the response is over the {limit}-byte limit.")
    return raw


def _read_file(path: str, limit: int) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise CatalogError(f"{path}: the file is {size} bytes, over the {limit}-byte limit.")
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except CatalogError:
        raise
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the file ({exc.strerror or exc}).") from exc
    if len(raw) > limit:
        raise CatalogError(f"{path}: the file is over the {limit}-byte limit.")
    return raw


def read_bytes(source: str) -> bytes:
    """The raw bytes of a path or URL, within ``IMPORT_MAX_BYTES``."""
    limit = int(registry_settings.IMPORT_MAX_BYTES)
    return _fetch(source, limit) if is_url(source) else _read_file(source, limit)


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise CatalogError(
            f"{source}: not UTF-8 text (byte 0x{bad} at offset {exc.start} is invalid); nothing was imported."
        ) from exc


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str, source: str) -> tuple[Any, list[tuple[list, str, int]]]:
    """Parse ``text``; return the data and the duplicate keys found (with their paths)."""
    # id(object) → (the repeated keys with their counts, all pairs incl. the discarded copies)
    repeated: dict[int, tuple[dict[str, int], list]] = {}
    keep: list[dict] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            counts = Counter(key for key, _ in pairs)
            repeated[id(obj)] = ({key: n for key, n in counts.items() if n > 1}, pairs)
            keep.append(obj)  # alive until the walk below, so its id is not reused
        return obj

    try:
        data = json.loads(text, object_pairs_hook=hook, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        hint = " (the file looks truncated)" if truncated else ""
        raise CatalogError(
            f"{source}: not valid JSON{hint}: {exc.msg} (line {exc.lineno}, column {exc.colno}); "
            "nothing was imported."
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise CatalogError(f"{source}: not valid JSON: {exc}; nothing was imported.") from exc

    duplicates: list[tuple[list, str, int]] = []
    if repeated:
        _collect(data, [], repeated, duplicates)
    return data, duplicates


def _collect(value: Any, path: list, repeated: dict, out: list) -> None:
    """Find the objects with repeated keys, discarded copies included, with their paths."""
    if isinstance(value, dict):
        children = value.items()
        if id(value) in repeated:
            counts, children = repeated[id(value)]
            for key, copies in counts.items():
                out.append((path, key, copies))
        for key, item in children:
            if isinstance(item, dict | list):
                _collect(item, [*path, key], repeated, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                _collect(item, [*path, index], repeated, out)


def load_catalog(source: str) -> LoadedCatalog:
    """Read, decode and parse ``source`` (path or URL). Raises ``CatalogError``."""
    if not source or not str(source).strip():
        raise CatalogError("No catalogue source given.")
    source = str(source).strip()
    raw = read_bytes(source)
    text = _decode(raw, source)
    if not text.strip():
        raise CatalogError(f"{source}: the file is empty; nothing was imported.")
    data, duplicates = parse_json(text, source)
    return LoadedCatalog(
        source=source, is_url=is_url(source), data=data, size=len(raw), duplicates=duplicates
    )

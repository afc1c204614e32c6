"""``catalog_import``: read a catalogue, map it, guard it, and write it through the bulk service.

The steps, each with a constant number of queries per batch (none per model):

1. load (``loader.py``) and map (``litellm.py`` / ``openrouter.py``); a file that cannot be read
   or is not the named format raises ``CatalogError`` before anything is written;
2. read the stored rows of the file's keys (source, tags, metadata, is_active) and the aliases
   the file names, to merge what the importer does not own:
   - ``metadata``: only the source's own key (``metadata["litellm"]`` / ``["openrouter"]``) is
     replaced; other keys staff added stay;
   - ``tags``: only the mapper's managed tags (``pricing-bucket``) are added or removed;
   - display_name, description, alternatives, is_deprecated and (for LiteLLM) every field the
     mapper does not map are not sent at all, so they keep their stored values;
   - ``is_active`` is never switched back on: a model present upstream but inactive here (staff
     or ``--deactivate-missing`` turned it off) stays inactive, with a warning;
   - a stored model that came from the *other* importer (``openrouter/…`` exists in both
     catalogues) is not overwritten: skipped and reported, so two sources cannot flip it back and
     forth; a model created by hand (``source`` manual/api/…) is adopted, with a warning;
   - an alias already held by another model is not moved (reported as a conflict);
3. the integrity guard (unless ``force``): a catalogue fetched from a URL with fewer than
   ``IMPORT_MIN_MODELS`` models is refused; with ``deactivate_missing``, an import that would
   leave fewer than ``IMPORT_MAX_SHRINK_RATIO`` of the source's currently active models active
   (models new in the file do not count) is refused. A refusal raises ``CatalogIntegrityError``
   and writes nothing;
4. ``services.ai_model_bulk_upsert`` (one transaction; ``dry_run`` rolls it back).

The result is an ``ImportReport``; ``report.summary()`` is the command's last line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction

from .. import services
from ..conf import registry_settings
from ..exceptions import CatalogError, CatalogIntegrityError
from ..models import AIModel, ModelAlias
from ..observability import events as observability
from . import litellm, openrouter
from .loader import load_catalog
from .mapping import CONFLICT, ERROR, SKIP_KINDS, SKIPPED, WARNING, MappedCatalog, Problem

MAPPERS = {"litellm": litellm.map_catalog, "openrouter": openrouter.map_catalog}
FORMATS = tuple(MAPPERS)
IMPORT_SOURCES = frozenset({litellm.SOURCE, openrouter.SOURCE})

Progress = Callable[[str, int, int], None]


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do). Lists hold model keys."""

    source: str
    fmt: str
    dry_run: bool = False
    models_in_file: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    changes: dict[str, list] = field(default_factory=dict)

    @property
    def skipped(self) -> list[Problem]:
        """Entries not imported: non-model records and bad entries."""
        return [p for p in self.problems if p.kind in SKIP_KINDS]

    def problems_of(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "deactivated": len(self.deactivated),
            "skipped": len(self.skipped),
        }

    def summary(self) -> str:
        return " ".join(f"{name}={count}" for name, count in self.counts().items())


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _stored_rows(keys: list[str], batch: int) -> dict[str, tuple]:
    rows: dict[str, tuple] = {}
    for chunk in _chunks(keys, batch):
        for key, source, tags, metadata, is_active in AIModel.objects.filter(key__in=chunk).values_list(
            "key", "source", "tags", "metadata", "is_active"
        ):
            rows[key] = (source, tags, metadata, is_active)
    return rows


def _merge_stored(mapped: MappedCatalog, stored: dict[str, tuple]) -> list[services.BulkItem]:
    """Drop items owned by the other importer; merge metadata and tags with the stored row."""
    items = []
    for item in mapped.items:
        row = stored.get(item.key)
        fields = item.fields
        new_section = fields["metadata"].get(mapped.metadata_key)
        new_tags = fields.get("tags", [])
        if row is None:
            items.append(item)
            continue
        source, tags, metadata, is_active = row
        if source in IMPORT_SOURCES and source != mapped.source:
            mapped.report(
                SKIPPED, item.ref, f"{item.key} is already imported from {source!r}; not overwritten"
            )
            continue
        if source != mapped.source:
            mapped.report(
                WARNING, item.ref, f"{item.key} was created with source {source!r}; now {mapped.source}"
            )
        if not is_active:
            mapped.report(WARNING, item.ref, f"{item.key} is inactive in the registry; left inactive")
        merged = {k: v for k, v in (metadata or {}).items() if k != mapped.metadata_key}
        if new_section:
            merged[mapped.metadata_key] = new_section
        fields["metadata"] = merged
        if "tags" in fields:
            kept = [t for t in (tags or []) if t not in mapped.managed_tags]
            fields["tags"] = kept + [t for t in new_tags if t not in kept]
        fields.pop("discovered_at", None)  # first seen stays first seen
        items.append(item)
    return items


def _drop_foreign_aliases(mapped: MappedCatalog, items: list[services.BulkItem], batch: int) -> None:
    """Aliases are never moved from one model to another: drop (and report) those held elsewhere."""
    wanted = [alias for item in items for alias in item.aliases]
    if not wanted:
        return
    holders: dict[str, str] = {}
    for chunk in _chunks(wanted, batch):
        holders.update(ModelAlias.objects.filter(alias__in=chunk).values_list("alias", "ai_model__key"))
    for item in items:
        kept = []
        for alias in item.aliases:
            holder = holders.get(alias)
            if holder is not None and holder != item.key:
                mapped.report(
                    CONFLICT, alias, f"alias of {item.key} is already an alias of {holder}; not moved"
                )
            else:
                kept.append(alias)
        item.aliases = kept


def _resolve_stored_successors(mapped: MappedCatalog, items: list[services.BulkItem], batch: int) -> None:
    """Successor ids not in the file: look them up among stored keys and aliases (batched)."""
    pending = {
        item.key: mapped.unresolved_successors[item.key]
        for item in items
        if item.key in mapped.unresolved_successors
    }
    if not pending:
        return
    names = sorted(set(pending.values()))
    found: dict[str, str] = {}
    for chunk in _chunks(names, batch):
        found.update({k: k for k in AIModel.objects.filter(key__in=chunk).values_list("key", flat=True)})
        for alias, key in ModelAlias.objects.filter(alias__in=chunk).values_list("alias", "ai_model__key"):
            found.setdefault(alias, key)
    for item in items:
        successor_id = pending.get(item.key)
        if successor_id is None:
            continue
        if successor_id in found and found[successor_id] != item.key:
            item.successor_key = found[successor_id]
        else:
            mapped.report(
                WARNING, item.ref, f"successor_model {successor_id!r} is not a known model; ignored"
            )


def _guard(
    *, mapped: MappedCatalog, items: list, stored: dict[str, tuple], from_url: bool, deactivate_missing: bool
) -> None:
    minimum = int(registry_settings.IMPORT_MIN_MODELS)
    if from_url and len(mapped.items) < minimum:
        raise CatalogIntegrityError(
            f"Refused: the catalogue fetched from the URL has {len(mapped.items)} models, fewer than "
            f"IMPORT_MIN_MODELS={minimum}; it may be truncated or an error page. Nothing was imported "
            "(use --force to import it anyway).",
            extra={"models": len(mapped.items), "minimum": minimum},
        )
    if not deactivate_missing:
        return
    active = AIModel.objects.filter(source=mapped.source, is_active=True).count()
    if not active:
        return
    keys = {item.key for item in items}
    remaining = sum(
        1
        for key, (source, _, _, is_active) in stored.items()
        if key in keys and source == mapped.source and is_active
    )
    ratio = float(registry_settings.IMPORT_MAX_SHRINK_RATIO)
    if remaining < ratio * active:
        raise CatalogIntegrityError(
            f"Refused: --deactivate-missing would deactivate {active - remaining} of the {active} active "
            f"{mapped.source} models, leaving {remaining} (below IMPORT_MAX_SHRINK_RATIO={ratio:g}). "
            "Nothing was imported (use --force to import it anyway).",
            extra={"active": active, "remaining": remaining, "ratio": ratio},
        )


def _default_actor(dry_run: bool):
    if not dry_run:
        return services.system_user_get()
    user_model = get_user_model()
    return user_model.objects.filter(**{user_model.USERNAME_FIELD: registry_settings.SYSTEM_USERNAME}).first()


def catalog_import(
    *,
    source: str,
    fmt: str,
    dry_run: bool = False,
    deactivate_missing: bool = False,
    force: bool = False,
    actor=None,
    reason: str = "",
    progress: Progress | None = None,
    write_source: str = "import",
) -> ImportReport:
    """Import the catalogue at ``source`` (path or http(s) URL) in format ``fmt``.

    Raises ``CatalogError`` (unreadable, not JSON, not UTF-8, wrong format) or
    ``CatalogIntegrityError`` (refused by the guard); in both cases nothing is written. Bad
    entries are reported in the returned ``ImportReport`` and the rest is imported.
    ``write_source`` is the history/signal source (``import``; a scheduled sync passes ``sync``).
    """
    if fmt not in MAPPERS:
        raise CatalogError(f"Unknown catalogue format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    if progress is not None:
        progress("read", 0, 1)
    loaded = load_catalog(source)
    if progress is not None:
        progress("read", 1, 1)
    mapped = MAPPERS[fmt](loaded.data, duplicates=loaded.duplicates, progress=progress)
    report = ImportReport(source=loaded.source, fmt=fmt, dry_run=dry_run, models_in_file=len(mapped.items))
    batch = int(registry_settings.IMPORT_BATCH_SIZE)

    with transaction.atomic():
        stored = _stored_rows([item.key for item in mapped.items], batch)
        items = _merge_stored(mapped, stored)
        if not force:
            _guard(
                mapped=mapped,
                items=items,
                stored=stored,
                from_url=loaded.is_url,
                deactivate_missing=deactivate_missing,
            )
        _drop_foreign_aliases(mapped, items, batch)
        _resolve_stored_successors(mapped, items, batch)
        if actor is None:
            actor = _default_actor(dry_run)
        if progress is not None:
            progress("write", 0, len(items))
        result = services.ai_model_bulk_upsert(
            items=items,
            actor=actor,
            reason=reason or f"import {fmt} from {loaded.source}",
            source=write_source,
            batch_size=batch,
            deactivate_missing_source=mapped.source if deactivate_missing else None,
            dry_run=dry_run,
        )
        if progress is not None:
            progress("write", len(items), len(items))

    for ref, message in result.errors:
        mapped.report(ERROR, ref, message)
    report.problems = mapped.problems
    report.created = result.created
    report.updated = result.updated
    report.unchanged = result.unchanged
    report.deactivated = result.deactivated
    report.changes = result.changes
    observability.import_finished(report=report)
    return report

"""Re-encrypting the stored sensitive values under the newest key (key rotation, first encryption).

Every table holding sensitive metadata values is listed in ``TARGETS`` with the shape of each
column (``metadata`` map, ``state`` map, ``changes`` list). ``reencrypt_table`` walks a table in
primary-key order, in batches of its own transaction each (rows locked ``FOR UPDATE``, so a
concurrent write of the same row waits instead of being overwritten), and rewrites a column value
only if something in it is not yet a token of the newest key: a token of an older key is rotated
(``MultiFernet.rotate``), a plaintext sensitive value is encrypted. So a run interrupted after any
batch is completed by the next run, and a second run changes nothing.

This is a storage re-encoding, not a change of the models: it reads and writes the raw column
(never through the encrypting field), bumps no revision, records no version, and sends no
signal. The caller drops the cache afterwards (its L2 holds tokens of the old keys).

Used by ``manage.py rotate_encryption_keys`` and by the migrations that switched the columns to
the encrypted fields (``models_registry`` 0005, ``versioning`` 0002) to encrypt existing rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models import Case, ExpressionWrapper, F, Value, When

from . import crypto
from .sensitive import is_sensitive_key

# (app_label.Model, {column: shape}) of every table with sensitive values.
TARGETS: tuple[tuple[str, dict[str, str]], ...] = (
    ("models_registry.AIModel", {"metadata": "metadata"}),
    ("models_registry.HistoricalAIModel", {"metadata": "metadata"}),
    ("models_registry.SyncChange", {"changes": "changes", "proposed": "state"}),
    ("versioning.ModelVersion", {"snapshot": "state", "changes": "changes"}),
    ("versioning.RollbackRequest", {"requested_changes": "changes", "approved_changes": "changes"}),
)


# -- one stored value ----------------------------------------------------------------------------


def _slot(value: Any, sensitive: bool) -> tuple[Any, bool]:
    if crypto.is_token(value):
        if crypto.is_current(value):
            return value, False
        return crypto.rotate_value(value), True
    if sensitive and value is not None:
        return crypto.encrypt_value(value), True
    return value, False


def rotate_metadata(raw: Any) -> tuple[Any, bool]:
    """(new raw metadata, changed?): every top-level token under the newest key, every sensitive
    plaintext value encrypted."""
    if not isinstance(raw, dict):
        return raw, False
    out, changed = {}, False
    for key, value in raw.items():
        out[key], moved = _slot(value, is_sensitive_key(key))
        changed |= moved
    return (out, True) if changed else (raw, False)


def rotate_state(raw: Any) -> tuple[Any, bool]:
    if not isinstance(raw, dict):
        return raw, False
    metadata, changed = rotate_metadata(raw.get("metadata"))
    return ({**raw, "metadata": metadata}, True) if changed else (raw, False)


def rotate_changes(raw: Any) -> tuple[Any, bool]:
    if not isinstance(raw, list):
        return raw, False
    out, changed = [], False
    for change in raw:
        slot = crypto.change_slot(change)
        if slot is not None:
            sensitive = slot == "part" or (
                slot == "value" and is_sensitive_key(crypto.change_path(change)[1])
            )
            change = dict(change)
            for side in ("old", "new"):
                if side not in change:
                    continue
                if slot == "map":
                    change[side], moved = rotate_metadata(change[side])
                else:
                    change[side], moved = _slot(change[side], sensitive)
                changed |= moved
        out.append(change)
    return (out, True) if changed else (raw, False)


SHAPES: dict[str, Callable[[Any], tuple[Any, bool]]] = {
    "metadata": rotate_metadata,
    "state": rotate_state,
    "changes": rotate_changes,
}


def _plain(reveal: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, bool]]:
    def undo(raw: Any) -> tuple[Any, bool]:
        value = reveal(raw)
        return value, value is not raw

    return undo


# Back to plaintext (reverting the migrations that introduced encryption).
PLAIN_SHAPES: dict[str, Callable[[Any], tuple[Any, bool]]] = {
    "metadata": _plain(crypto.decrypt_metadata),
    "state": _plain(crypto.reveal_state),
    "changes": _plain(crypto.reveal_changes),
}


# -- one table -----------------------------------------------------------------------------------


@dataclass
class TableResult:
    label: str
    scanned: int = 0
    changed: int = 0  # rows rewritten (or, in a dry run, that would be)
    batches: int = 0


def _write(model, using: str, updates: dict[Any, dict[str, Any]]) -> None:
    """Write raw column values ({pk: {column: value}}) with one UPDATE per column (``CASE WHEN``,
    as ``bulk_update`` does), as plain ``JSONField`` values: no second encryption, no ``save()``,
    no signals, no other column touched."""
    columns = sorted({name for values in updates.values() for name in values})
    for name in columns:
        rows = {pk: values[name] for pk, values in updates.items() if name in values}
        json_field = models.JSONField()
        case = Case(
            *[When(pk=pk, then=Value(value, output_field=json_field)) for pk, value in rows.items()],
            default=F(name),
            output_field=json_field,
        )
        model._base_manager.using(using).filter(pk__in=list(rows)).update(**{name: case})


def reencrypt_table(
    model,
    columns: dict[str, str],
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    using: str = DEFAULT_DB_ALIAS,
    on_batch: Callable[[TableResult], None] | None = None,
    decrypt: bool = False,
) -> TableResult:
    """Re-encrypt ``columns`` ({name: shape}) of every row of ``model``; one transaction per batch.
    ``decrypt``: write plaintext instead (only to revert the encryption migrations)."""
    shapes = PLAIN_SHAPES if decrypt else SHAPES
    result = TableResult(label=model._meta.label)
    raw = {f"_raw_{name}": ExpressionWrapper(F(name), output_field=models.JSONField()) for name in columns}
    last_pk = None
    while True:
        with transaction.atomic(using=using):
            queryset = model._base_manager.using(using).order_by("pk")
            if last_pk is not None:
                queryset = queryset.filter(pk__gt=last_pk)
            if not dry_run:
                queryset = queryset.select_for_update()
            rows = list(queryset.annotate(**raw).values_list("pk", *raw)[:batch_size])
            if not rows:
                break
            updates: dict[Any, dict[str, Any]] = {}
            for pk, *values in rows:
                for (name, shape), value in zip(columns.items(), values, strict=True):
                    new, changed = shapes[shape](value)
                    if changed:
                        updates.setdefault(pk, {})[name] = new
            result.changed += len(updates)
            if updates and not dry_run:
                _write(model, using, updates)
            result.scanned += len(rows)
            result.batches += 1
            last_pk = rows[-1][0]
        if on_batch is not None:
            on_batch(result)
    return result


def reencrypt_all(
    *,
    app_labels: tuple[str, ...] | None = None,
    apps=global_apps,
    batch_size: int = 500,
    dry_run: bool = False,
    using: str = DEFAULT_DB_ALIAS,
    on_batch: Callable[[TableResult], None] | None = None,
    decrypt: bool = False,
) -> list[TableResult]:
    """``reencrypt_table`` over ``TARGETS`` (of ``app_labels`` only, if given)."""
    results = []
    for label, columns in TARGETS:
        app_label = label.split(".", 1)[0]
        if app_labels is not None and app_label not in app_labels:
            continue
        model = apps.get_model(label)
        results.append(
            reencrypt_table(
                model,
                columns,
                batch_size=batch_size,
                dry_run=dry_run,
                using=using,
                on_batch=on_batch,
                decrypt=decrypt,
            )
        )
    return results

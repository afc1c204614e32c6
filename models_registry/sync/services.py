"""The catalogue sync: ``sync_run``, ``sync_runs_all``, ``sync_change_approve``, ``sync_change_reject``.

A run of a ``CatalogSource``:

1. reads and maps the catalogue (``catalog.loader`` and the format's mapper); unreadable → ``failed``;
2. the integrity guard: fewer than ``IMPORT_MIN_MODELS`` models, or fewer than
   ``IMPORT_MAX_SHRINK_RATIO`` (½) of the source format's currently active models still present
   upstream → ``refused`` with the reason in ``SyncRun.guard``; nothing else is written;
3. merges with the stored rows exactly as ``catalog_import`` does (staff metadata and tags kept,
   the other importer's models skipped, aliases never moved, successors resolved);
4. computes the change-set with ``ai_model_bulk_upsert(dry_run=True)`` and classifies each model's
   changes with ``versioning.impact.assess`` (breaking / non-breaking / cosmetic, impact level);
5. policy ``apply_all``: writes every change through the bulk path (source ``sync``);
   ``hold_breaking``: writes the models without a breaking change and stores the others as
   ``held`` ``SyncChange`` rows with the proposed values — nothing of them is written. Held
   changes of earlier runs of the source are ``superseded``: every run re-derives the held set;
6. models of the source's format that are active, not deprecated and missing upstream are
   tracked in ``SyncMissing`` and deprecated (``is_deprecated=True`` through
   ``ai_model_update``; never deleted or deactivated) once missing for ``missing_grace_days``;
   a model that comes back is no longer tracked;
7. after commit, ``rules_fire(event="sync_applied", context={"keys", "source"})``. A failed
   or refused run raises the alert ``sync_failed``.

Steps 1–6 are one transaction: a run whose process dies (a worker killed mid-sync) leaves nothing
of its writes behind, and its ``SyncRun`` row, left ``running``, is marked ``failed``
(``ABANDONED``) by the next run of the source. A run holds a lock named after it
(``jobs.lock.task_lock``: a PostgreSQL session advisory lock, released when the process dies)
for as long as it lives, so the next run can tell a dead run from one still working.

A dry run does 1–4 and records the run with its change-set (state ``preview``; ``would_hold``
tells what the policy would hold) and writes nothing else.

Approval (four eyes, as for rollbacks): ``sync_change_approve`` / ``sync_change_reject`` need
``models_registry.approve_syncchange`` and an actor who is not the actor of the run that held the
change; automatic runs are attributed to the system user, so any other approver may decide
them, and the system user never can. An approval writes the proposed values with
``services.ai_model_update`` (source ``sync``): a new version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from versioning.diff import Change, change_category, diff_states
from versioning.impact import assess
from versioning.services.recording import impact_thresholds
from versioning.snapshots import decode_value, encode_changes, encode_value

from .. import services
from ..alerts import alert_raise
from ..catalog.importer import (
    MAPPERS,
    _drop_foreign_aliases,
    _merge_stored,
    _resolve_stored_successors,
    _stored_rows,
)
from ..catalog.loader import load_catalog
from ..conf import registry_settings
from ..exceptions import CatalogError, CatalogIntegrityError, SyncForbidden, SyncNotFound, SyncStateError
from ..jobs.lock import task_lock, task_lock_held
from ..models import AIModel
from ..observability import events as observability
from .models import CatalogSource, SyncChange, SyncMissing, SyncRun

logger = logging.getLogger(__name__)

APPROVE_PERMISSION = "models_registry.approve_syncchange"
RUN_PERMISSION = "models_registry.run_catalogsource"
WRITE_SOURCE = "sync"
EVENT = "sync_applied"
ABANDONED = "Abandoned: the process running this sync ended before it finished; nothing of it was written."


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _source(source: CatalogSource | int) -> CatalogSource:
    return source if isinstance(source, CatalogSource) else CatalogSource.objects.get(pk=source)


def grace_days(source: CatalogSource) -> int:
    if source.missing_grace_days is not None:
        return int(source.missing_grace_days)
    return int(registry_settings.SYNC_MISSING_GRACE_DAYS)


def _fire(keys: list[str], source_name: str, actor=None) -> None:
    """``rules_fire(sync_applied)`` after commit; a failing rule engine never fails the sync."""
    if not keys or not apps.is_installed("caching"):
        return

    def fire():
        from caching.rules.services import rules_fire

        try:
            rules_fire(event=EVENT, context={"keys": keys, "source": source_name}, actor=actor)
        except Exception:  # noqa: BLE001 - the sync is committed; report, do not raise
            logger.exception("sync %s: the %s rules failed", source_name, EVENT)

    transaction.on_commit(fire)


def _guard(*, mapped, stored: dict[str, tuple]) -> str:
    """The integrity guard; returns its outcome text or raises ``CatalogIntegrityError``."""
    minimum = int(registry_settings.IMPORT_MIN_MODELS)
    count = len(mapped.items)
    if count < minimum:
        raise CatalogIntegrityError(
            f"Refused: the catalogue has {count} models, fewer than IMPORT_MIN_MODELS={minimum}; "
            "it may be truncated or an error page. Nothing was changed.",
            extra={"models": count, "minimum": minimum},
        )
    active = AIModel.objects.filter(source=mapped.source, is_active=True).count()
    remaining = sum(1 for src, _, _, is_active in stored.values() if src == mapped.source and is_active)
    ratio = float(registry_settings.IMPORT_MAX_SHRINK_RATIO)
    if active and remaining < ratio * active:
        raise CatalogIntegrityError(
            f"Refused: only {remaining} of the {active} active {mapped.source} models are in the "
            f"catalogue (below IMPORT_MAX_SHRINK_RATIO={ratio:g}); it may be truncated. Nothing was changed.",
            extra={"active": active, "remaining": remaining, "ratio": ratio},
        )
    return (
        f"passed: {count} models (minimum {minimum}); "
        f"{remaining} of {active} active {mapped.source} models present"
    )


def _proposed(item, changes: list[Change]) -> dict[str, Any]:
    """The JSON-encoded top-level values an approval writes (aliases are rows, not fields)."""
    out: dict[str, Any] = {}
    for top in sorted({c.top for c in changes}):
        if top == "successor":
            out["successor"] = item.successor_key
        elif top in item.fields:
            out[top] = encode_value(item.fields[top])
    return out


def _change_row(run, key: str, action: str, changes: list[Change], **extra) -> SyncChange:
    if action == SyncChange.Action.CREATE:
        impact = assess(changes, created=True)
        encoded = encode_changes(changes)
    else:
        impact = assess(changes, thresholds=impact_thresholds())
        encoded = encode_changes(changes, [change_category(c) for c in changes])
    return SyncChange(
        run=run,
        model_key=key,
        action=action,
        changes=encoded,
        impact=impact.level,
        breaking=impact.breaking,
        summary=impact.summary.get("text", ""),
        **extra,
    )


# --------------------------------------------------------------------------------------------
# A run
# --------------------------------------------------------------------------------------------


def _missing(*, source: CatalogSource, mapped, dry_run: bool, now: dt.datetime) -> list[AIModel]:
    """Track models missing upstream; return those past the grace period (to deprecate)."""
    keys = {item.key for item in mapped.items}
    candidates = list(
        AIModel.objects.filter(source=mapped.source, is_active=True, is_deprecated=False).exclude(
            key__in=keys
        )
    )
    tracked = dict(
        SyncMissing.objects.filter(source=source, model_key__in=[m.key for m in candidates]).values_list(
            "model_key", "first_missing_at"
        )
    )
    if not dry_run:
        SyncMissing.objects.filter(source=source, model_key__in=keys).delete()  # back upstream
        SyncMissing.objects.bulk_create(
            [
                SyncMissing(source=source, model_key=m.key, first_missing_at=now)
                for m in candidates
                if m.key not in tracked
            ],
            ignore_conflicts=True,
        )
    grace = dt.timedelta(days=grace_days(source))
    return [m for m in candidates if now - tracked.get(m.key, now) >= grace]


def _execute(run: SyncRun, source: CatalogSource, actor) -> list[str]:
    """Steps 1–6 in one transaction; returns the keys written. Raises on refusal or failure."""
    loaded = load_catalog(source.location)
    mapped = MAPPERS[source.format](loaded.data, duplicates=loaded.duplicates)
    run.fetched = len(mapped.items)
    batch = int(registry_settings.IMPORT_BATCH_SIZE)
    reason = f"sync {source.name} (run #{run.pk})"
    hold = source.policy == CatalogSource.Policy.HOLD_BREAKING
    now = timezone.now()

    with transaction.atomic():
        CatalogSource.objects.select_for_update().get(pk=source.pk)  # one run of a source at a time
        stored = _stored_rows([item.key for item in mapped.items], batch)
        run.guard = _guard(mapped=mapped, stored=stored)
        items = _merge_stored(mapped, stored)
        _drop_foreign_aliases(mapped, items, batch)
        _resolve_stored_successors(mapped, items, batch)
        preview = services.ai_model_bulk_upsert(
            items=items, actor=actor, reason=reason, source=WRITE_SOURCE, batch_size=batch, dry_run=True
        )
        run.errors = [list(e) for e in preview.errors]
        run.unchanged = len(preview.unchanged)
        by_key = {item.key: item for item in items}
        rows: dict[str, SyncChange] = {}
        for key in preview.created:
            rows[key] = _change_row(run, key, SyncChange.Action.CREATE, preview.changes[key])
        for key in preview.updated:
            row = _change_row(run, key, SyncChange.Action.UPDATE, preview.changes[key])
            row.would_hold = hold and row.breaking
            if row.would_hold:
                row.proposed = _proposed(by_key[key], preview.changes[key])
            rows[key] = row
        held = {key for key, row in rows.items() if row.would_hold}
        stale = _missing(source=source, mapped=mapped, dry_run=run.dry_run, now=now)

        if run.dry_run:
            for row in rows.values():
                row.state = SyncChange.State.PREVIEW
            for model in stale:
                change = Change("is_deprecated", False, True, "changed")
                rows[model.key] = _change_row(
                    run, model.key, SyncChange.Action.DEPRECATE, [change], state=SyncChange.State.PREVIEW
                )
            run.created = len(preview.created)
            run.applied = len(preview.created) + len(preview.updated) - len(held)
            run.held, run.deprecated = len(held), len(stale)
            SyncChange.objects.bulk_create(rows.values(), batch_size=batch)
            return []

        SyncChange.objects.filter(run__source=source, state=SyncChange.State.HELD).update(
            state=SyncChange.State.SUPERSEDED, decided_at=now, decision_comment=f"superseded by run #{run.pk}"
        )
        result = services.ai_model_bulk_upsert(
            items=[item for item in items if item.key not in held],
            actor=actor,
            reason=reason,
            source=WRITE_SOURCE,
            batch_size=batch,
        )
        written = [*result.created, *result.updated]
        for key in written:  # the changes actually written (normally the same as previewed)
            action = SyncChange.Action.CREATE if key in result.created else SyncChange.Action.UPDATE
            rows[key] = _change_row(run, key, action, result.changes[key], state=SyncChange.State.APPLIED)
        for key in held:
            rows[key].state = SyncChange.State.HELD
        for key in set(rows) - set(written) - held:  # previewed but unchanged on write
            del rows[key]
        deprecated = []
        for model in stale:
            before = {"is_deprecated": model.is_deprecated}
            updated = services.ai_model_update(
                ai_model=model,
                data={"is_deprecated": True},
                actor=actor,
                reason=f"{reason}: missing upstream for {grace_days(source)}+ day(s)",
                source=WRITE_SOURCE,
            )
            changes = diff_states(before, {"is_deprecated": updated.is_deprecated})
            rows[model.key] = _change_row(
                run,
                model.key,
                SyncChange.Action.DEPRECATE,
                changes,
                state=SyncChange.State.APPLIED,
                result_version=updated.version,
            )
            deprecated.append(model.key)
        SyncChange.objects.bulk_create(rows.values(), batch_size=batch)
        run.created = len(result.created)
        run.applied = len(written)
        run.unchanged = len(result.unchanged)
        run.held, run.deprecated = len(held), len(deprecated)
        keys = [*written, *deprecated]
        _fire(keys, source.name, actor)
        return keys


def _run_lock_name(pk: int) -> str:
    return f"models_registry.sync.run:{pk}"


def _close_abandoned(source: CatalogSource) -> int:
    """Mark ``failed`` the ``running`` runs of ``source`` whose process is gone (their lock is free)."""
    closed = 0
    running = SyncRun.objects.filter(source=source, status=SyncRun.Status.RUNNING)
    for pk in running.values_list("pk", flat=True):
        if task_lock_held(_run_lock_name(pk)):
            continue  # still working
        closed += SyncRun.objects.filter(pk=pk, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED, finished_at=timezone.now(), error=ABANDONED
        )
    if closed:
        logger.warning("sync %s: %d earlier run(s) died while running; marked failed", source.name, closed)
    return closed


def sync_run(*, source: CatalogSource | int, dry_run: bool = False, actor=None) -> SyncRun:
    """Sync ``source`` (see the module docstring); returns the recorded ``SyncRun``.

    A catalogue that cannot be read, or that the guard refuses, gives a ``failed`` / ``refused``
    run (and the alert ``sync_failed``) and changes nothing; unexpected errors are recorded the
    same way and re-raised (the task's retry policy decides what is transient).
    """
    source = _source(source)
    actor = actor if actor is not None else services.system_user_get()
    _close_abandoned(source)
    with contextlib.ExitStack() as alive:
        with transaction.atomic():  # the run's lock is held before its row is visible
            run = SyncRun.objects.create(source=source, dry_run=dry_run, policy=source.policy, actor=actor)
            alive.enter_context(task_lock(_run_lock_name(run.pk)))
        return _run(run, source, actor)


def _run(run: SyncRun, source: CatalogSource, actor) -> SyncRun:
    error: Exception | None = None
    try:
        _execute(run, source, actor)
        run.status = SyncRun.Status.OK
    except CatalogIntegrityError as exc:
        run.status, run.guard, error = SyncRun.Status.REFUSED, exc.message, exc
    except CatalogError as exc:
        run.status, run.error, error = SyncRun.Status.FAILED, exc.message, exc
    except Exception as exc:
        run.status, run.error, error = SyncRun.Status.FAILED, f"{type(exc).__name__}: {exc}", exc
    run.finished_at = timezone.now()
    if run.status != SyncRun.Status.OK:
        run.created = run.applied = run.held = run.unchanged = run.deprecated = 0
    run.save()
    observability.sync_run_finished(run=run)
    if error is not None:
        alert_raise(
            "sync_failed",
            f"Catalogue sync of {source.name!r} {run.status}: {run.guard or run.error}",
            severity="warning" if run.status == SyncRun.Status.REFUSED else "error",
            source=source.name,
            run=run.pk,
            status=run.status,
        )
        if not isinstance(error, CatalogError):
            raise error
    return run


def sync_runs_all(*, dry_run: bool = False, actor=None) -> dict[str, str]:
    """Sync every enabled source; ``{source name: status}``. One failing source does not stop the others."""
    outcome: dict[str, str] = {}
    for source in CatalogSource.objects.filter(enabled=True).order_by("name"):
        try:
            outcome[source.name] = sync_run(source=source, dry_run=dry_run, actor=actor).status
        except Exception:  # noqa: BLE001 - recorded on the run and alerted by sync_run
            outcome[source.name] = SyncRun.Status.FAILED
    return outcome


# --------------------------------------------------------------------------------------------
# Decisions on held changes
# --------------------------------------------------------------------------------------------


def _check_decider(change: SyncChange, actor, verb: str) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise SyncForbidden(f"Only an authenticated user with the approval permission can {verb} a change.")
    if actor.get_username() == registry_settings.SYSTEM_USERNAME:
        raise SyncForbidden(f"The system user cannot {verb} sync changes.")
    if not actor.has_perm(APPROVE_PERMISSION):
        raise SyncForbidden(f"You need the permission {APPROVE_PERMISSION} to {verb} sync changes.")
    if change.run.actor_id is not None and actor.pk == change.run.actor_id:
        raise SyncForbidden(
            f"You ran the sync that held this change, so you cannot {verb} it: someone else must "
            "(four-eyes rule)."
        )


def _lock_held(change: SyncChange | int, actor, verb: str) -> SyncChange:
    pk = change.pk if isinstance(change, SyncChange) else change
    try:
        locked = SyncChange.objects.select_for_update(of=("self",)).select_related("run__source").get(pk=pk)
    except SyncChange.DoesNotExist as exc:
        raise SyncNotFound(f"Sync change {pk!r} does not exist.") from exc
    _check_decider(locked, actor, verb)
    if locked.state != SyncChange.State.HELD:
        raise SyncStateError(
            f"Sync change #{locked.pk} is {locked.state}; only a held change can be {verb}d.",
            extra={"state": locked.state},
        )
    return locked


def proposed_data(change: SyncChange) -> dict[str, Any]:
    """The held values in the form ``ai_model_update`` takes."""
    return {field: decode_value((field,), value) for field, value in change.proposed.items()}


@transaction.atomic
def sync_change_approve(*, change: SyncChange | int, actor, comment: str = "") -> SyncChange:
    """Apply a held change (its proposed values) as a new version of the model."""
    change = _lock_held(change, actor, "approve")
    model = AIModel.objects.filter(key=change.model_key).first()
    if model is None:
        raise SyncStateError(f"Model {change.model_key!r} no longer exists; reject the change instead.")
    updated = services.ai_model_update(
        ai_model=model,
        data=proposed_data(change),
        actor=actor,
        reason=f"sync {change.run.source.name}: held change #{change.pk} (run #{change.run_id}) approved"
        + (f": {comment}" if comment else ""),
        source=WRITE_SOURCE,
    )
    change.state = SyncChange.State.APPROVED
    change.decided_by = actor
    change.decided_at = timezone.now()
    change.decision_comment = comment
    change.result_version = updated.version
    change.save()
    _fire([change.model_key], change.run.source.name, actor)
    return change


@transaction.atomic
def sync_change_reject(*, change: SyncChange | int, actor, comment: str = "") -> SyncChange:
    """Reject a held change: the model stays as it is (a later run may hold it again)."""
    change = _lock_held(change, actor, "reject")
    change.state = SyncChange.State.REJECTED
    change.decided_by = actor
    change.decided_at = timezone.now()
    change.decision_comment = comment
    change.save()
    return change


__all__ = [
    "APPROVE_PERMISSION",
    "RUN_PERMISSION",
    "grace_days",
    "proposed_data",
    "sync_change_approve",
    "sync_change_reject",
    "sync_run",
    "sync_runs_all",
]

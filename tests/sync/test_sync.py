"""The catalogue sync against the real LiteLLM snapshots: 1.53.1 imported, then 1.74.0 synced."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from models_registry.catalog import catalog_import
from models_registry.exceptions import SyncForbidden, SyncStateError
from models_registry.models import AIModel
from models_registry.services import system_user_get
from models_registry.sync.models import CatalogSource, SyncChange, SyncMissing, SyncRun
from models_registry.sync.services import sync_change_approve, sync_change_reject, sync_run
from tests.factories import AIModelFactory, UserFactory
from versioning.models import ModelVersion

from .conftest import snapshot, source_for, truncated

pytestmark = [pytest.mark.django_db]

O1_MINI = "openai/o1-mini"


@pytest.fixture
def base():
    """LiteLLM 1.53.1 imported; the source points at 1.74.0."""
    catalog_import(source=str(snapshot("1.53.1")), fmt="litellm")
    return source_for(snapshot("1.74.0"))


def _state():
    return {key: (rev, ver) for key, rev, ver in AIModel.objects.values_list("key", "revision", "version")}


def test_dry_run_then_hold_breaking_applies_non_breaking_and_holds_breaking(base, operator):
    before, versions_before = _state(), ModelVersion.objects.count()
    o1 = AIModel.objects.get(key=O1_MINI)
    assert o1.supports_function_calling is True

    preview = sync_run(source=base, dry_run=True, actor=operator)  # writes nothing, shows the change-set
    assert preview.status == SyncRun.Status.OK and preview.dry_run
    assert _state() == before and ModelVersion.objects.count() == versions_before
    assert set(preview.changes.values_list("state", flat=True)) == {SyncChange.State.PREVIEW}
    assert preview.changes.get(model_key=O1_MINI).would_hold
    would_hold = set(preview.changes.filter(would_hold=True).values_list("model_key", flat=True))
    assert len(would_hold) == preview.held > 0

    run = sync_run(source=base, actor=operator)

    assert run.status == SyncRun.Status.OK and run.fetched > 1000
    assert run.guard.startswith("passed") and run.finished_at
    assert run.applied > 0 and run.held > 0 and run.unchanged > 0
    assert (run.applied, run.held, run.created) == (preview.applied, preview.held, preview.created)
    held = run.changes.filter(state=SyncChange.State.HELD)
    applied = run.changes.filter(state=SyncChange.State.APPLIED)
    assert set(held.values_list("model_key", flat=True)) == would_hold
    assert applied.count() == run.applied
    assert all(c.breaking for c in held) and not any(c.breaking for c in applied)
    # held models untouched
    after = _state()
    for change in held:
        assert after[change.model_key] == before[change.model_key]
    o1.refresh_from_db()
    assert o1.supports_function_calling is True
    o1_change = held.get(model_key=O1_MINI)
    assert "supports_function_calling" in {c["field"] for c in o1_change.changes}
    assert o1_change.impact in ("high", "critical") and o1_change.proposed
    # non-breaking updates applied as versions with source "sync"
    updated = applied.filter(action=SyncChange.Action.UPDATE)
    assert updated.exists()
    for change in updated[:20]:
        assert after[change.model_key] != before[change.model_key]
        assert ModelVersion.objects.filter(ai_model__key=change.model_key, source="sync").exists()
    assert ModelVersion.objects.count() > versions_before
    created = applied.filter(action=SyncChange.Action.CREATE)
    assert created.count() == run.created > 0
    assert set(created.values_list("model_key", flat=True)) <= set(after) - set(before)


def test_apply_all_applies_breaking_changes_too(base, operator):
    base.policy = CatalogSource.Policy.APPLY_ALL
    base.save()
    run = sync_run(source=base, actor=operator)
    assert run.status == SyncRun.Status.OK and run.held == 0
    assert run.changes.filter(breaking=True, state=SyncChange.State.APPLIED).exists()
    assert AIModel.objects.get(key=O1_MINI).supports_function_calling is None


def test_held_changes_four_eyes_approve_reject_and_next_run(base, operator, approver):
    run = sync_run(source=base, actor=operator)
    change = run.changes.get(model_key=O1_MINI, state=SyncChange.State.HELD)
    other = run.changes.filter(state=SyncChange.State.HELD).exclude(pk=change.pk).first()
    model = AIModel.objects.get(key=O1_MINI)
    revision, versions = model.revision, model.versions.count()
    other_before = AIModel.objects.values_list("revision", "version").get(key=other.model_key)

    with pytest.raises(SyncForbidden):
        sync_change_approve(change=change, actor=operator)  # four eyes: not the one who ran it
    with pytest.raises(SyncForbidden):
        sync_change_approve(change=change, actor=UserFactory())  # no permission
    with pytest.raises(SyncForbidden):
        sync_change_approve(change=change, actor=system_user_get())
    change.refresh_from_db()
    assert change.state == SyncChange.State.HELD

    decided = sync_change_approve(change=change, actor=approver, comment="checked upstream")
    model.refresh_from_db()
    assert decided.state == SyncChange.State.APPROVED and decided.decided_by == approver
    assert model.supports_function_calling is None
    assert model.revision == revision + 1 and model.versions.count() == versions + 1
    version = model.versions.order_by("-number").first()
    assert version.source == "sync" and version.created_by == approver
    assert decided.result_version == model.version
    with pytest.raises(SyncStateError):
        sync_change_approve(change=change, actor=approver)

    with pytest.raises(SyncForbidden):
        sync_change_reject(change=other, actor=operator, comment="mine")
    rejected = sync_change_reject(change=other, actor=approver, comment="upstream is wrong")
    assert rejected.state == SyncChange.State.REJECTED and rejected.decision_comment == "upstream is wrong"
    assert AIModel.objects.values_list("revision", "version").get(key=other.model_key) == other_before

    # the next run re-derives the held set: o1-mini now matches upstream, the rejected one is held again
    second = sync_run(source=base, actor=operator)
    assert second.applied == 0 and second.held == run.held - 1
    assert not second.changes.filter(model_key=O1_MINI).exists()
    assert second.changes.get(model_key=other.model_key).state == SyncChange.State.HELD
    assert not run.changes.filter(state=SyncChange.State.HELD).exists()
    assert run.changes.filter(state=SyncChange.State.SUPERSEDED).count() == run.held - 2


def test_automatic_run_may_be_approved_by_any_other_approver(operator):
    """A run without an actor is the system user's: every approver except the system user may decide."""
    model = AIModelFactory(supports_vision=False)
    source = source_for(snapshot("1.74.0"))
    run = SyncRun.objects.create(source=source, policy=source.policy, actor=system_user_get())
    change = SyncChange.objects.create(
        run=run,
        model_key=model.key,
        action=SyncChange.Action.UPDATE,
        impact="high",
        breaking=True,
        would_hold=True,
        state=SyncChange.State.HELD,
        proposed={"supports_vision": True, "input_cost_per_1m": "3.75"},
    )
    with pytest.raises(SyncForbidden):
        sync_change_approve(change=change, actor=system_user_get())
    assert sync_change_approve(change=change, actor=operator).state == SyncChange.State.APPROVED
    model.refresh_from_db()
    assert model.supports_vision is True and model.input_cost_per_1m == Decimal("3.75")


def test_shrink_guard_refuses_truncated_catalogue_and_changes_nothing(base, operator, tmp_path):
    base.location = str(truncated(snapshot("1.74.0"), tmp_path / "short.json", 100))
    base.save()
    before, versions = _state(), ModelVersion.objects.count()
    run = sync_run(source=base, actor=operator)
    assert run.status == SyncRun.Status.REFUSED
    assert "IMPORT_MAX_SHRINK_RATIO" in run.guard and run.fetched < 100
    assert (run.applied, run.held) == (0, 0) and not run.changes.exists()
    assert _state() == before and ModelVersion.objects.count() == versions
    assert not SyncMissing.objects.exists()


def test_too_few_models_refused_and_unreadable_fails(operator, tmp_path):
    source = source_for(truncated(snapshot("1.74.0"), tmp_path / "tiny.json", 10))
    run = sync_run(source=source, actor=operator)
    assert run.status == SyncRun.Status.REFUSED and "IMPORT_MIN_MODELS" in run.guard
    assert not AIModel.objects.exists()
    source.location = str(tmp_path / "absent.json")
    source.save()
    run = sync_run(source=source, actor=operator)
    assert run.status == SyncRun.Status.FAILED and "cannot read" in run.error


def _small_catalogue(path, count: int, skip: set[int] = frozenset()):
    entries = {
        f"model-{i}": {
            "litellm_provider": "openai",
            "mode": "chat",
            "max_input_tokens": 1000 + i,
            "input_cost_per_token": 1e-06,
        }
        for i in range(count)
        if i not in skip
    }
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_missing_models_deprecated_only_after_grace_period(operator, tmp_path, settings):
    settings.MODEL_REGISTRY = {
        **settings.MODEL_REGISTRY,
        "IMPORT_MIN_MODELS": 5,
        "SYNC_MISSING_GRACE_DAYS": 3,
    }
    source = source_for(_small_catalogue(tmp_path / "full.json", 10), policy=CatalogSource.Policy.APPLY_ALL)
    assert sync_run(source=source, actor=operator).created == 10
    source.location = str(_small_catalogue(tmp_path / "less.json", 10, skip={3}))
    source.save()

    run = sync_run(source=source, actor=operator)
    assert run.deprecated == 0
    missing = SyncMissing.objects.get(source=source)
    assert missing.model_key == "openai/model-3"
    assert not AIModel.objects.get(key="openai/model-3").is_deprecated

    SyncMissing.objects.filter(pk=missing.pk).update(first_missing_at=timezone.now() - dt.timedelta(days=2))
    assert sync_run(source=source, actor=operator).deprecated == 0

    SyncMissing.objects.filter(pk=missing.pk).update(first_missing_at=timezone.now() - dt.timedelta(days=4))
    assert sync_run(source=source, dry_run=True, actor=operator).deprecated == 1
    assert not AIModel.objects.get(key="openai/model-3").is_deprecated
    run = sync_run(source=source, actor=operator)
    model = AIModel.objects.get(key="openai/model-3")
    assert run.deprecated == 1 and model.is_deprecated and model.is_active
    assert run.changes.get(model_key=model.key).action == SyncChange.Action.DEPRECATE
    assert model.versions.order_by("-number").first().source == "sync"

    source.location = str(tmp_path / "full.json")  # back upstream: no longer tracked
    source.save()
    sync_run(source=source, actor=operator)
    assert not SyncMissing.objects.exists()

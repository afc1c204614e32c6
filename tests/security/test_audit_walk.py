"""Audit completeness: walk every mutation path — admin, API, importer, sync, rollback (API and
admin), Celery tasks — and check that each change left a ``ModelVersion`` and a simple-history
row naming an actor and a reason (the system user for the importer and the tasks).

Then the workflow objects: rollback requests (history rows with actors at every step), sync runs
and decisions (actor / ``decided_by``), invalidation rules and events (``created_by`` / ``actor``).
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from caching.models import InvalidationEvent, InvalidationRule
from models_registry import services
from models_registry.models import AIModel
from models_registry.sync.models import CatalogSource, SyncChange
from models_registry.tasks import purge_deactivated_models, sync_catalogues
from tests.admin.conftest import change_data
from tests.factories import AIModelFactory, ProviderFactory
from versioning.models import ModelVersion, RollbackRequest
from versioning.tasks import expire_rollback_requests

from .conftest import api_client_for, role_user

pytestmark = pytest.mark.django_db

SYSTEM = settings.MODEL_REGISTRY.get("SYSTEM_USERNAME", "model-registry-system")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "catalogs"


class Step:
    """What one mutation path wrote: the new versions and AIModel history rows."""

    def __init__(self):
        self.versions: list[ModelVersion] = []
        self.history: list = []


@contextmanager
def audited(*, actor: str, source: str | None, expect_versions: bool = True):
    """Run a mutation path; then every version and AIModel history row it wrote must name
    ``actor`` and a non-empty reason (and ``source`` for versions); each changed model has both."""
    last_version = ModelVersion.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    last_history = AIModel.history.order_by("-history_id").values_list("history_id", flat=True).first() or 0
    step = Step()
    yield step
    step.versions = list(ModelVersion.objects.filter(pk__gt=last_version).select_related("created_by"))
    step.history = list(AIModel.history.filter(history_id__gt=last_history).select_related("history_user"))
    assert step.history, "the path wrote no history row"
    if expect_versions:
        assert step.versions, "the path wrote no version"
        assert {v.ai_model_id for v in step.versions} == {h.id for h in step.history}
    for version in step.versions:
        assert version.created_by is not None and version.created_by.get_username() == actor, version
        assert version.reason.strip(), f"version {version} has no reason"
        if source is not None:
            assert version.source == source
        version_history = ModelVersion.history.filter(id=version.pk).latest("history_id")
        assert version_history.history_user is not None
        assert version_history.history_user.get_username() == actor
    for row in step.history:
        assert row.history_user is not None and row.history_user.get_username() == actor, row
        assert (row.history_change_reason or "").strip(), f"history row {row.history_id} has no reason"


@pytest.fixture
def catalogue(db):
    openai = ProviderFactory(slug="openai", name="OpenAI")
    model = AIModelFactory(provider=openai, name="gpt-4o", display_name="GPT-4o")
    return {"provider": openai, "model": model}


# --------------------------------------------------------------------------------------------
# Admin
# --------------------------------------------------------------------------------------------


def test_admin_add_change_delete_and_actions_are_audited(client, catalogue):
    editor = role_user("editor")
    client.force_login(editor)
    model = catalogue["model"]

    with audited(actor="editor", source="admin"):  # add, without typing a reason
        response = client.post(
            reverse("admin:models_registry_aimodel_add"),
            {"provider": catalogue["provider"].pk, "name": "o3", "mode": "chat", "is_active": "on"},
        )
        assert response.status_code == 302, response.content[:500]

    with audited(actor="editor", source="admin"):  # change, without typing a reason
        data = change_data(model, display_name="GPT 4o")
        response = client.post(reverse("admin:models_registry_aimodel_change", args=[model.pk]), data)
        assert response.status_code == 302

    with audited(actor="editor", source="admin"):  # action
        changelist = reverse("admin:models_registry_aimodel_changelist")
        client.post(changelist, {"action": "mark_deprecated", "_selected_action": [model.pk], "index": 0})
        assert AIModel.objects.get(pk=model.pk).is_deprecated

    with audited(actor="editor", source="admin"):  # delete = deactivate
        response = client.post(
            reverse("admin:models_registry_aimodel_delete", args=[model.pk]), {"post": "yes"}
        )
        assert response.status_code == 302
        assert not AIModel.objects.get(pk=model.pk).is_active

    with audited(actor="editor", source="admin"):  # reactivate action
        changelist = reverse("admin:models_registry_aimodel_changelist")
        client.post(changelist, {"action": "reactivate_selected", "_selected_action": [model.pk], "index": 0})
        assert AIModel.objects.get(pk=model.pk).is_active


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------


def test_api_writes_are_audited_with_or_without_a_reason_header(catalogue):
    api = api_client_for(role_user("editor"))
    model = catalogue["model"]
    url = f"/api/v1/models/{model.pk}/"
    with audited(actor="editor", source="api"):
        assert (
            api.post("/api/v1/models/", {"provider": "openai", "name": "o3"}, format="json").status_code
            == 201
        )
    with audited(actor="editor", source="api"):
        assert api.patch(url, {"display_name": "GPT 4o"}, format="json").status_code == 200
    with audited(actor="editor", source="api") as step:
        response = api.put(url, {"display_name": "Put"}, format="json", HTTP_X_CHANGE_REASON="replace it")
        assert response.status_code == 200
    assert step.history[0].history_change_reason == "replace it"  # a given reason is kept as given
    with audited(actor="editor", source="api"):
        assert api.delete(url).status_code == 204


# --------------------------------------------------------------------------------------------
# Importer, sync, tasks
# --------------------------------------------------------------------------------------------


def test_importer_writes_are_attributed_to_the_system_user(db):
    with audited(actor=SYSTEM, source="import") as step:
        call_command(
            "import_catalog", str(FIXTURES / "litellm_oddities.json"), "--format", "litellm", verbosity=0
        )
    assert len(step.versions) == AIModel.objects.count() > 0


def _litellm(path: Path, entries: dict) -> Path:
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


@override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "IMPORT_MIN_MODELS": 2})
def test_scheduled_sync_and_grace_deprecation_are_attributed_to_the_system_user(tmp_path):
    entry = {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 1000}
    first = {f"m-{i}": entry for i in range(4)}
    source = CatalogSource.objects.create(
        name="upstream",
        location=str(_litellm(tmp_path / "v1.json", first)),
        policy=CatalogSource.Policy.APPLY_ALL,
        missing_grace_days=0,
    )
    with audited(actor=SYSTEM, source="sync"):  # the periodic task: creations
        assert sync_catalogues.apply().result == {"upstream": "ok"}
    second = {**{f"m-{i}": {**entry, "max_input_tokens": 2000} for i in range(3)}}  # m-3 went missing
    source.location = str(_litellm(tmp_path / "v2.json", second))
    source.save()
    with audited(actor=SYSTEM, source="sync") as step:  # updates and the missing model's deprecation
        sync_catalogues.apply()
    keys = {AIModel.objects.get(pk=v.ai_model_id).key for v in step.versions}
    assert "openai/m-0" in keys
    sync_catalogues.apply()  # the grace period (0 days) is over at the next run
    assert AIModel.objects.get(key="openai/m-3").is_deprecated
    deprecation = ModelVersion.objects.filter(ai_model__key="openai/m-3").order_by("-number").first()
    assert deprecation.created_by.get_username() == SYSTEM and "missing upstream" in deprecation.reason


def test_held_change_approval_is_audited_with_the_approver(tmp_path, settings):
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "IMPORT_MIN_MODELS": 2}
    entry = {"litellm_provider": "openai", "mode": "chat", "supports_function_calling": True}
    source = CatalogSource.objects.create(
        name="held", location=str(_litellm(tmp_path / "a.json", {"a": entry, "b": entry})), policy="apply_all"
    )
    from models_registry.sync.services import sync_run

    sync_run(source=source)
    source.location = str(
        _litellm(tmp_path / "b.json", {"a": {**entry, "supports_function_calling": False}, "b": entry})
    )
    source.policy = CatalogSource.Policy.HOLD_BREAKING
    source.save()
    run = sync_run(source=source)
    assert run.actor.get_username() == SYSTEM
    change = SyncChange.objects.get(run=run, state=SyncChange.State.HELD)
    with audited(actor="approver", source="sync"):
        response = api_client_for(role_user("approver")).post(
            f"/api/v1/sync/changes/{change.pk}/approve/", {"comment": "fine"}, format="json"
        )
        assert response.status_code == 200
    change.refresh_from_db()
    assert change.decided_by.get_username() == "approver" and change.decided_at is not None


def test_purge_task_leaves_a_deletion_row_with_the_system_user_and_a_reason(catalogue):
    model = catalogue["model"]
    services.ai_model_deactivate(ai_model=model, actor=role_user("editor"), reason="retired", source="api")
    AIModel.objects.filter(pk=model.pk).update(updated_at=timezone.now() - dt.timedelta(days=400))
    with audited(actor=SYSTEM, source=None, expect_versions=False) as step:
        purge_deactivated_models.apply(kwargs={"older_than_days": 90})
    assert [row.history_type for row in step.history] == ["-"]
    assert not AIModel.objects.filter(pk=model.pk).exists()


# --------------------------------------------------------------------------------------------
# Rollbacks (API and admin) and the rollback request's own audit trail
# --------------------------------------------------------------------------------------------


def _changed_twice(model):
    services.ai_model_update(
        ai_model=model, data={"display_name": "v2"}, actor=role_user("editor"), reason="x"
    )


def test_rollback_through_the_api_is_audited_at_every_step(catalogue):
    model = catalogue["model"]
    _changed_twice(model)
    editor, approver = api_client_for(role_user("editor")), api_client_for(role_user("approver"))
    created = editor.post("/api/v1/rollbacks/", {"model": model.pk, "target_version": 1, "reason": "bad"})
    assert created.status_code == 201
    request_id = created.json()["id"]
    with audited(actor="approver", source="rollback") as step:
        assert approver.post(f"/api/v1/rollbacks/{request_id}/approve/", {}).status_code == 200
    assert f"#{request_id}" in step.versions[0].reason
    rows = list(RollbackRequest.history.filter(id=request_id).order_by("history_id"))
    assert [r.history_user.get_username() for r in rows][:1] == ["editor"]
    assert {r.history_user.get_username() for r in rows[1:]} == {"approver"}
    assert all((r.history_change_reason or "").strip() for r in rows)
    assert rows[-1].status == RollbackRequest.Status.COMPLETED


def test_rollback_through_the_admin_is_audited(client, catalogue):
    model = catalogue["model"]
    _changed_twice(model)
    client.force_login(role_user("editor"))
    response = client.post(
        reverse("admin:versioning_rollbackrequest_request", args=[model.pk, 1]), {"reason": "undo"}
    )
    assert response.status_code == 302
    rollback = RollbackRequest.objects.get(ai_model=model)
    client.force_login(role_user("approver"))
    with audited(actor="approver", source="rollback"):
        url = reverse("admin:versioning_rollbackrequest_approve", args=[rollback.pk])
        assert client.post(url, {"comment": "ok"}).status_code == 302
    rollback.refresh_from_db()
    assert rollback.status == RollbackRequest.Status.COMPLETED and rollback.decided_by.username == "approver"


def test_reject_cancel_and_expiry_leave_history_rows_with_actors(catalogue):
    model = catalogue["model"]
    _changed_twice(model)
    editor, approver = api_client_for(role_user("editor")), api_client_for(role_user("approver"))

    def request() -> int:
        response = editor.post("/api/v1/rollbacks/", {"model": model.pk, "target_version": 1, "reason": "r"})
        assert response.status_code == 201
        return response.json()["id"]

    rejected = request()
    assert approver.post(f"/api/v1/rollbacks/{rejected}/reject/", {"comment": "no"}).status_code == 200
    cancelled = request()
    assert editor.post(f"/api/v1/rollbacks/{cancelled}/cancel/", {}).status_code == 200
    expired = request()
    RollbackRequest.objects.filter(pk=expired).update(created_at=timezone.now() - dt.timedelta(days=400))
    assert expire_rollback_requests.apply().result == {"expired": 1}

    expected = {rejected: "approver", cancelled: "editor", expired: SYSTEM}
    for pk, actor in expected.items():
        last = RollbackRequest.history.filter(id=pk).latest("history_id")
        assert last.history_user.get_username() == actor, pk
        assert (last.history_change_reason or "").strip(), pk
    assert ModelVersion.objects.filter(ai_model=model, source="rollback").count() == 0  # nothing restored


# --------------------------------------------------------------------------------------------
# Invalidation rules and events
# --------------------------------------------------------------------------------------------


def test_rules_and_invalidations_name_their_actor(client, db):
    api = api_client_for(role_user("operator"))
    rule = {"name": "api-rule", "events": ["manual"], "actions": [{"type": "invalidate"}]}
    assert api.post("/api/v1/invalidation-rules/", rule, format="json").status_code == 201
    assert InvalidationRule.objects.get(name="api-rule").created_by.username == "operator"

    client.force_login(role_user("superuser"))
    response = client.post(
        reverse("admin:caching_invalidationrule_add"),
        {
            "name": "admin-rule",
            "description": "",
            "enabled": "on",
            "priority": "0",
            "events": ["manual"],
            "strategy": "manual",
            "strategy_params": "{}",
            "match": "all",
            "conditions": "[]",
            "actions": '[{"type": "invalidate"}]',
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert InvalidationRule.objects.get(name="admin-rule").created_by.username == "superuser"

    response = api.post("/api/v1/cache/invalidate/", {"all": True, "reason": "walk"}, format="json")
    assert response.status_code == 200
    event = InvalidationEvent.objects.latest("pk")
    assert (event.actor.username, event.reason) == ("operator", "walk")


def test_a_write_without_an_actor_is_never_made_by_the_paths(db):
    """Sanity of the walk's own check: a service call without actor or reason is what the walk
    would catch (the paths above always pass both)."""
    model = AIModelFactory(provider=ProviderFactory(slug="acme"), name="bare")
    with pytest.raises(AssertionError):
        with audited(actor=SYSTEM, source="api"):
            services.ai_model_update(ai_model=model, data={"display_name": "no actor"})

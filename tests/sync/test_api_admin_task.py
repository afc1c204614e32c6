"""The sync from the API, the admin and the periodic task (small synthetic catalogues: fast)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from models_registry.models import AIModel
from models_registry.sync.models import CatalogSource, SyncChange, SyncRun
from models_registry.tasks import sync_catalogues
from tests.factories import UserFactory, grant

from .conftest import source_for

pytestmark = [pytest.mark.django_db]


def _catalogue(path, count: int, *, function_calling: bool = True):
    entries = {
        f"model-{i}": {
            "litellm_provider": "openai",
            "mode": "chat",
            "max_input_tokens": 1000,
            "input_cost_per_token": 1e-06,
            **({"supports_function_calling": True} if function_calling or i else {}),
        }
        for i in range(count)
    }
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _few_models(settings):
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "IMPORT_MIN_MODELS": 5}


@pytest.fixture
def held_source(tmp_path, operator):
    """model-0 exists with function calling; upstream drops it (breaking) → held after a sync."""
    source = source_for(_catalogue(tmp_path / "v1.json", 8), policy=CatalogSource.Policy.APPLY_ALL)
    from models_registry.sync.services import sync_run

    sync_run(source=source, actor=operator)
    source.location = str(_catalogue(tmp_path / "v2.json", 8, function_calling=False))
    source.policy = CatalogSource.Policy.HOLD_BREAKING
    source.save()
    return source


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _staff(*perms, username=None):
    user = UserFactory(is_staff=True, **({"username": username} if username else {}))
    return grant(user, *perms)


def test_api_run_list_and_decide(held_source):
    runner = _staff("run_catalogsource", username="runner")
    url = reverse("models_registry_api:sync-source-run", args=[held_source.pk])
    assert _client(_staff()).post(url, {"dry_run": True}, format="json").status_code == 403

    dry = _client(runner).post(url, {"dry_run": True}, format="json")
    assert dry.status_code == 200, dry.content
    assert dry.json()["dry_run"] and dry.json()["held"] == 1
    assert {c["state"] for c in dry.json()["changes"]} == {"preview"}
    assert AIModel.objects.get(key="openai/model-0").supports_function_calling is True

    response = _client(runner).post(url, {"dry_run": False}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert (
        _client(runner)
        .post(reverse("models_registry_api:sync-source-run", args=[9999]), {}, format="json")
        .status_code
        == 404
    )

    runs = _client(runner).get(reverse("models_registry_api:sync-run-list"), {"status": "ok"})
    assert runs.status_code == 200 and runs.json()["count"] == 3
    assert _client(UserFactory()).get(reverse("models_registry_api:sync-run-list")).status_code == 403

    held = _client(runner).get(reverse("models_registry_api:sync-change-list"), {"state": "held"}).json()
    assert held["count"] == 1
    change = held["results"][0]
    assert change["model_key"] == "openai/model-0" and change["breaking"]
    assert any(c["field"] == "supports_function_calling" for c in change["changes"])

    approve = reverse("models_registry_api:sync-change-approve", args=[change["id"]])
    reject = reverse("models_registry_api:sync-change-reject", args=[change["id"]])
    assert _client(runner).post(approve, {}, format="json").status_code == 403  # no approve permission
    grant(runner, "approve_syncchange")
    self_approval = _client(runner).post(approve, {}, format="json")
    assert self_approval.status_code == 403 and "four-eyes" in json.dumps(self_approval.json())
    approver = _staff("approve_syncchange")
    assert _client(approver).post(reject, {}, format="json").status_code == 400  # comment required
    decided = _client(approver).post(approve, {"comment": "ok"}, format="json")
    assert decided.status_code == 200 and decided.json()["state"] == "approved"
    assert AIModel.objects.get(key="openai/model-0").supports_function_calling is None
    assert _client(approver).post(reject, {"comment": "late"}, format="json").status_code == 409


def test_admin_sync_now_and_approve_with_confirmation(held_source, client):
    admin_user = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    changelist = reverse("admin:models_registry_catalogsource_changelist")
    response = client.post(
        changelist, {"action": "sync_now", "_selected_action": [held_source.pk]}, follow=True
    )
    assert response.status_code == 200
    run = SyncRun.objects.filter(source=held_source).first()
    assert run.actor == admin_user and run.held == 1
    assert client.get(reverse("admin:models_registry_syncrun_change", args=[run.pk])).status_code == 200

    change = SyncChange.objects.get(state=SyncChange.State.HELD)
    changes_url = reverse("admin:models_registry_syncchange_changelist")
    data = {"action": "approve_selected", "_selected_action": [change.pk]}
    confirm = client.post(changes_url, data)
    assert confirm.status_code == 200 and b"supports_function_calling" in confirm.content
    client.post(changes_url, {**data, "confirm": "yes", "comment": "ok"}, follow=True)
    change.refresh_from_db()
    assert change.state == SyncChange.State.HELD  # the admin ran the sync: four eyes

    other = UserFactory(username="admin2", is_staff=True, is_superuser=True)
    client.force_login(other)
    client.post(changes_url, {**data, "confirm": "yes", "comment": "ok"}, follow=True)
    change.refresh_from_db()
    assert change.state == SyncChange.State.APPROVED and change.decided_by == other
    assert client.get(reverse("admin:models_registry_syncchange_change", args=[change.pk])).status_code == 200


def test_periodic_task_syncs_every_enabled_source(tmp_path):
    source_for(_catalogue(tmp_path / "a.json", 6), name="a")
    source_for(tmp_path / "absent.json", name="broken")
    source_for(_catalogue(tmp_path / "c.json", 6), name="disabled", enabled=False)
    result = sync_catalogues.apply().result
    assert result == {"a": "ok", "broken": "failed"}
    assert AIModel.objects.count() == 6
    assert not SyncRun.objects.filter(source__name="disabled").exists()

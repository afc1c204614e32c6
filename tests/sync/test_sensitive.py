"""Sensitive metadata in sync change-sets: masked in the API and the admin for users without
``models_registry.view_sensitive_metadata``, shown to users with it (the rule of
``models_registry/sensitive.py``, as for models and versions)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from models_registry.sensitive import MASK
from models_registry.sync.models import CatalogSource, SyncChange, SyncRun
from tests.factories import UserFactory, grant

pytestmark = pytest.mark.django_db

SECRET = "sk-sync-secret-7f3a9c"


@pytest.fixture
def change() -> SyncChange:
    source = CatalogSource.objects.create(name="private", format="litellm", location="/nowhere.json")
    run = SyncRun.objects.create(source=source, policy=source.policy, status=SyncRun.Status.OK)
    return SyncChange.objects.create(
        run=run,
        model_key="acme/model-x",
        action=SyncChange.Action.UPDATE,
        impact="high",
        breaking=True,
        would_hold=True,
        state=SyncChange.State.HELD,
        summary="1 modified.",
        changes=[
            {
                "field": "metadata.api_key",
                "path": ["metadata", "api_key"],
                "old": "old-" + SECRET,
                "new": SECRET,
                "kind": "modified",
                "category": "cosmetic",
            },
            {
                "field": "context_window",
                "path": ["context_window"],
                "old": 8192,
                "new": 4096,
                "kind": "modified",
                "category": "breaking",
            },
        ],
        proposed={"context_window": 4096, "metadata": {"api_key": SECRET, "region": "eu"}},
    )


def _staff(username: str, *perms: str):
    user = UserFactory(username=username, is_staff=True)
    user.set_password("pw")
    user.save()
    return grant(user, "view_syncchange", "approve_syncchange", *perms)


def _api(user) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/sync/changes/")
    assert response.status_code == 200, response.content
    [item] = response.json()["results"]
    return item


def test_api_masks_sensitive_values_without_the_permission(change):
    item = _api(_staff("plain-staff"))
    by_field = {c["field"]: c for c in item["changes"]}
    assert by_field["metadata.api_key"]["old"] == MASK
    assert by_field["metadata.api_key"]["new"] == MASK
    assert by_field["context_window"]["new"] == 4096
    assert item["proposed"]["metadata"] == {"api_key": MASK, "region": "eu"}
    assert SECRET not in str(item)


def test_api_shows_sensitive_values_with_the_permission(change):
    item = _api(_staff("trusted-staff", "view_sensitive_metadata"))
    by_field = {c["field"]: c for c in item["changes"]}
    assert by_field["metadata.api_key"]["new"] == SECRET
    assert item["proposed"]["metadata"]["api_key"] == SECRET


@pytest.mark.parametrize("perms, visible", [((), False), (("view_sensitive_metadata",), True)])
def test_admin_change_page_and_confirmation_mask_for_users_without_the_permission(
    change, client, perms, visible
):
    user = _staff("admin-viewer", *perms)
    client.force_login(user)
    page = client.get(f"/admin/models_registry/syncchange/{change.pk}/change/")
    assert page.status_code == 200
    assert (SECRET in page.content.decode()) is visible
    assert (MASK in page.content.decode()) is not visible
    confirm = client.post(
        "/admin/models_registry/syncchange/",
        {"action": "approve_selected", "_selected_action": [change.pk]},
    )
    assert confirm.status_code == 200
    assert (SECRET in confirm.content.decode()) is visible
    change.refresh_from_db()
    assert change.state == SyncChange.State.HELD  # the confirmation page decides nothing
